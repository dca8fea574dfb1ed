import { open, stat } from 'node:fs/promises'
import { StringDecoder } from 'node:string_decoder'
import { setTimeout as sleep } from 'node:timers/promises'
import { dataPaths } from '../config/data-dir.js'
import { humanLogLine, stripControl } from '../daemon/daemon-log.js'
import { CliError, EXIT } from './exit-codes.js'
import type { FileHandle } from 'node:fs/promises'

export interface LogsOptions {
  /** Keep printing what the daemon writes, across rotations, until stopped. */
  follow: boolean
  /** The file's JSON lines as they are, instead of human lines. */
  json: boolean
  /** Only the last n entries already in the file; undefined: all. */
  lines?: number
  /** Ends `--follow`. */
  signal?: AbortSignal
  /** How often `--follow` looks for new lines, in ms. Default 200. */
  pollMs?: number
}

/**
 * `swarmd logs`: the daemon's log file (`<data dir>/logs/swarmd.log`) as human lines (time,
 * level, message, control characters escaped) or, with `json`, its JSON lines; `follow` tails it
 * like `tail -F`: it reads the rotated file to its end, then the new one from its start, and waits
 * for a file that is not there yet.
 */
export async function logsCommand (dataDir: string, opts: LogsOptions, print: (line: string) => void, note: (line: string) => void = () => {}): Promise<void> {
  const file = dataPaths(dataDir).logFile
  const show = (line: string): void => { print(opts.json ? stripControl(line) : humanLogLine(line)) }
  const log = new FollowedFile(file)
  try {
    if (!await log.open()) {
      if (!opts.follow) throw new CliError(EXIT.NOT_FOUND, 'LOG_NOT_FOUND', `no log file at ${file}: a daemon writes it once started on this data dir (\`swarmd start${dataDirFlag(dataDir)}\`); \`swarmd logs --follow\` waits for it`)
      note(`waiting for ${file} (a daemon writes it once started: \`swarmd start${dataDirFlag(dataDir)}\`)`)
    }
    // What the file holds now, the last `lines` of it if asked; the daemon may be writing the last line: only whole ones.
    const lines = await log.readLines()
    for (const line of opts.lines === undefined ? lines : lines.slice(Math.max(0, lines.length - opts.lines))) show(line)
    if (!opts.follow) return
    const pollMs = opts.pollMs ?? 200
    while (opts.signal?.aborted !== true) {
      const more = await log.readLines()
      for (const line of more) show(line)
      if (more.length > 0) continue
      const tail = await log.reopenIfRotated()
      if (tail !== undefined) {
        for (const line of tail) show(line)
        continue
      }
      await sleep(pollMs, undefined, opts.signal !== undefined ? { signal: opts.signal } : {}).catch(() => {})
    }
  } finally {
    await log.close()
  }
}

function dataDirFlag (dataDir: string): string {
  return ` --data-dir ${JSON.stringify(dataDir)}`
}

/**
 * A log file read in whole lines as it grows, followed across rotation (renamed away, a new one
 * made) like `tail -F`. Like tail, it would miss a file rotated away twice between two looks: 10 MiB
 * of log within one poll (200 ms), far beyond a daemon's few lines a run.
 */
class FollowedFile {
  private handle: FileHandle | undefined
  private inode: number | undefined
  private position = 0
  private decoder = new StringDecoder('utf8')
  private partial = ''
  private readonly buffer = Buffer.alloc(64 * 1024)

  constructor (private readonly path: string) {}

  /** Open the file from its start; false if it is not there (yet). */
  async open (): Promise<boolean> {
    try {
      const handle = await open(this.path, 'r')
      this.handle = handle
      this.inode = (await handle.stat()).ino
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      this.handle = undefined
      return false
    }
    this.position = 0
    this.decoder = new StringDecoder('utf8')
    this.partial = ''
    return true
  }

  /** The whole lines written since the last call (none while the file is missing). */
  async readLines (): Promise<string[]> {
    const handle = this.handle
    if (handle === undefined) return []
    const lines: string[] = []
    for (;;) {
      const { bytesRead } = await handle.read(this.buffer, 0, this.buffer.length, this.position)
      if (bytesRead === 0) return lines
      this.position += bytesRead
      const parts = (this.partial + this.decoder.write(this.buffer.subarray(0, bytesRead))).split('\n')
      this.partial = parts.pop()!
      lines.push(...parts)
    }
  }

  /**
   * When the path names another file now (rotated) or again (it appeared): the old file's last
   * lines (written between the last read and the rotation), and from now on the new file from its
   * start; the same when the file was truncated in place. Undefined when nothing changed.
   */
  async reopenIfRotated (): Promise<string[] | undefined> {
    const now = await stat(this.path).catch(() => undefined)
    if (now === undefined) return undefined
    if (this.handle !== undefined && now.ino === this.inode) {
      if (now.size >= this.position) return undefined
      // Truncated in place (logrotate's copytruncate).
      this.position = 0
      this.partial = ''
      return []
    }
    const tail = await this.readLines()
    await this.handle?.close()
    await this.open()
    return tail
  }

  async close (): Promise<void> {
    await this.handle?.close()
    this.handle = undefined
  }
}
