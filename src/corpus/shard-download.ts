import { open, rename, rm, stat } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { SwarmdError } from '../util/errors.js'
import { sha256File } from '../util/hash.js'
import type { HubFile } from './hub-listing.js'

export interface DownloadOptions {
  fetch?: typeof fetch
  signal?: AbortSignal
  /** Bytes of this file so far, after every chunk. */
  onProgress?: (done: number, total: number) => void
  /** Tries per file on a transient failure (HTTP 429, 5xx, a dropped connection). Default 6. */
  attempts?: number
  /** First wait between tries, doubled each time (a `Retry-After` header wins). Default 1 s. */
  backoffMs?: number
}

/** Statuses worth another try: the host is busy or briefly down. */
const TRANSIENT = new Set([408, 425, 429, 500, 502, 503, 504])

/** Longest wait a `Retry-After` header may ask for, ms. */
const MAX_RETRY_AFTER_MS = 5 * 60_000

/**
 * Download `file` from `url` to `target`, resuming a `.part` left by an earlier try (HTTP range
 * requests), and keep it only if its size and sha256 are the ones the host published. Returns the
 * target path. A mismatch deletes the download and throws `CORPUS_CHECKSUM_MISMATCH`; a file
 * already in place is checked, not downloaded again.
 */
export async function downloadVerified (url: string, file: HubFile, target: string, opts: DownloadOptions = {}): Promise<string> {
  if (await sizeOf(target) === file.size) {
    if (await sha256Of(target) === file.sha256) return target
    await rm(target, { force: true })
  }
  const part = `${target}.part`
  const attempts = opts.attempts ?? 6
  let wait = opts.backoffMs ?? 1_000
  for (let attempt = 1; ; attempt++) {
    let retryAfter: number | undefined
    try {
      await fetchInto(url, file, part, opts)
      break
    } catch (err) {
      if (!(err instanceof TransientError) || attempt >= attempts || opts.signal?.aborted === true) {
        if (err instanceof TransientError) throw new SwarmdError('CORPUS_FETCH_FAILED', `downloading ${file.path} failed ${attempt} times (${err.message}); run it again later: what came is kept and resumed`)
        throw err
      }
      retryAfter = err.retryAfterMs
    }
    await sleep(Math.min(retryAfter ?? wait, MAX_RETRY_AFTER_MS), undefined, opts.signal !== undefined ? { signal: opts.signal } : {})
    wait *= 2
  }
  const size = await sizeOf(part)
  const digest = await sha256Of(part)
  if (size !== file.size || digest !== file.sha256) {
    await rm(part, { force: true })
    throw new SwarmdError('CORPUS_CHECKSUM_MISMATCH', `${file.path} does not match what its host publishes (sha256 ${digest}, ${size} bytes; expected ${file.sha256}, ${file.size} bytes): the download was deleted; run it again, and if it repeats, the host or a proxy changes the file`)
  }
  await rename(part, target)
  return target
}

class TransientError extends Error {
  constructor (message: string, readonly retryAfterMs?: number) {
    super(message)
  }
}

/** One try: append to `part` from where it ends; a transient failure throws TransientError. */
async function fetchInto (url: string, file: HubFile, part: string, opts: DownloadOptions): Promise<void> {
  let have = (await sizeOf(part)) ?? 0
  if (have > file.size) {
    await rm(part, { force: true })
    have = 0
  }
  if (have === file.size) return
  let response: Response
  try {
    response = await (opts.fetch ?? fetch)(url, { signal: opts.signal ?? null, redirect: 'follow', headers: have > 0 ? { range: `bytes=${have}-` } : {} })
  } catch (err) {
    if (opts.signal?.aborted === true) throw err
    throw new TransientError(`connection failed: ${(err as Error).message}`)
  }
  if (TRANSIENT.has(response.status)) {
    await response.body?.cancel()
    throw new TransientError(`HTTP ${response.status}`, retryAfterMs(response.headers.get('retry-after')))
  }
  if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel()
    throw new SwarmdError('CORPUS_FETCH_FAILED', `downloading ${file.path} failed: HTTP ${response.status} from ${url}`)
  }
  // 200: the server ignored the range and sends the whole file; start over.
  if (response.status === 200) have = 0
  const handle = await open(part, have === 0 ? 'w' : 'a')
  let done = have
  try {
    if (response.body === null) throw new TransientError('empty response')
    for await (const chunk of response.body) {
      done += chunk.byteLength
      if (done > file.size) throw new SwarmdError('CORPUS_CHECKSUM_MISMATCH', `${file.path}: the host sent more than the ${file.size} bytes it publishes`)
      await handle.write(chunk)
      opts.onProgress?.(done, file.size)
    }
  } catch (err) {
    if (err instanceof SwarmdError || opts.signal?.aborted === true) {
      if (err instanceof SwarmdError) await rm(part, { force: true })
      throw err
    }
    throw new TransientError(`transfer broke off at ${done} of ${file.size} bytes`)
  } finally {
    await handle.close()
  }
  if (done < file.size) throw new TransientError(`transfer ended at ${done} of ${file.size} bytes`)
}

function retryAfterMs (header: string | null): number | undefined {
  if (header === null) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(header)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

async function sizeOf (path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size
  } catch {
    return undefined
  }
}

async function sha256Of (path: string): Promise<string> {
  return (await sha256File(path)).sha256
}
