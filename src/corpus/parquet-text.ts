import { createHash } from 'node:crypto'
import { open, rename } from 'node:fs/promises'
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { SwarmdError } from '../util/errors.js'

/** Between two documents in a flat text file: a paragraph break, text the models see anyway. */
export const DOCUMENT_SEPARATOR = '\n\n'

/** What a flat text file holds. */
export interface FlatText {
  path: string
  bytes: number
  documents: number
  /** sha256 of the file's bytes: the identity of the data a harness trains or evaluates on. */
  sha256: string
}

/**
 * The `column` strings of parquet files, one row group at a time (memory stays at one row group),
 * written as UTF-8 to `target`, documents separated by `DOCUMENT_SEPARATOR`, for the harness to
 * memory-map. Written to a temporary name and renamed, so a crash never leaves half a file.
 */
export async function writeFlatText (parquetPaths: string[], target: string, opts: { column?: string, onDocuments?: (documents: number) => void } = {}): Promise<FlatText> {
  const column = opts.column ?? 'text'
  const temporary = `${target}.tmp`
  const handle = await open(temporary, 'w')
  const hash = createHash('sha256')
  let bytes = 0
  let documents = 0
  try {
    for (const path of parquetPaths) {
      const file = await asyncBufferFromFile(path)
      let metadata
      try {
        metadata = await parquetMetadataAsync(file)
      } catch (err) {
        throw new SwarmdError('CORPUS_UNAVAILABLE', `${path} is not a parquet file: ${(err as Error).message}`)
      }
      if (!metadata.schema.some((s) => s.name === column)) throw new SwarmdError('CORPUS_UNAVAILABLE', `${path} has no "${column}" column`)
      let rowStart = 0
      for (const group of metadata.row_groups) {
        const rowEnd = rowStart + Number(group.num_rows)
        const rows = await parquetReadObjects({ file, metadata, columns: [column], rowStart, rowEnd, compressors })
        const parts: string[] = []
        for (const row of rows) {
          const text: unknown = row[column]
          if (typeof text !== 'string') continue
          parts.push(documents === 0 && parts.length === 0 ? text : DOCUMENT_SEPARATOR + text)
          documents++
        }
        const chunk = Buffer.from(parts.join(''), 'utf8')
        hash.update(chunk)
        bytes += chunk.byteLength
        await handle.write(chunk)
        opts.onDocuments?.(documents)
        rowStart = rowEnd
      }
    }
  } finally {
    await handle.close()
  }
  await rename(temporary, target)
  return { path: target, bytes, documents, sha256: hash.digest('hex') }
}
