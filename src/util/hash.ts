import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'

/** Lowercase hex sha256 of bytes or a UTF-8 string. */
export function sha256Hex (data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex')
}

const SHA256_HEX = /^[0-9a-f]{64}$/

export function isSha256Hex (value: string): boolean {
  return SHA256_HEX.test(value)
}

/** Lowercase hex sha256 and size of a file, read as a stream (files of any size). */
export async function sha256File (path: string): Promise<{ sha256: string, bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).byteLength
  }
  return { sha256: hash.digest('hex'), bytes }
}
