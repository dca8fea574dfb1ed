import { mkdirSync, renameSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { pino } from 'pino'
import type { DestinationStream, Logger } from 'pino'

/** A log entry's level, as the file names it. */
export type LogLevel = 'info' | 'warn' | 'error'

export interface DaemonLogInit {
  /** The JSON log: `<data dir>/logs/swarmd.log` (`dataPaths().logFile`). */
  file: string
  /** The operator's copy of each line: stdout for `swarmd start`. */
  echo: (line: string) => void
  /** Echo human lines (time, level, message); false: the message alone, as scripts read it. */
  human: boolean
  /**
   * Rotate when the file reaches this many bytes: it becomes `swarmd.log.1` (replacing the old
   * one) and a new file starts, so logs take at most twice this on a volunteer's disk. Default
   * 10 MiB: a daemon logs a few lines per run (~200 bytes each), so months of research.
   */
  maxBytes?: number
}

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024

/**
 * The daemon's log behind its `log: (line) => void` seam: each line is a JSON entry in the data
 * dir's log file, written through pino (`{"level":"info","time":"…","pid":…,"msg":"…"}`; JSON
 * escapes whatever a peer put in a message, so no entry can forge another), and echoed to the
 * operator: human lines on a TTY, the plain message otherwise. Echoes lose control characters.
 * The level is read from the line: `warning: …` is warn, `error: …` error, the rest info.
 * Writes are synchronous (a few lines per run): nothing is lost when the process exits.
 */
export class DaemonLog {
  private readonly logger: Logger<never, boolean>
  private readonly file: RotatingFile

  constructor (private readonly init: DaemonLogInit) {
    this.file = new RotatingFile(init.file, init.maxBytes ?? DEFAULT_LOG_MAX_BYTES, (err) => {
      init.echo(`warning: cannot write the log file ${init.file} (${err.message}); logging to this terminal only`)
    })
    this.logger = pino({
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) }
    }, this.file)
  }

  /** Write `line` to the file and echo it. */
  readonly log = (line: string): void => {
    const level = levelOf(line)
    this.logger[level](line)
    this.init.echo(this.init.human ? humanLine({ time: new Date().toISOString(), level, msg: line }) : stripControl(line))
  }

  /** Write `line` to the file only (the CLI prints it its own way). */
  record (level: LogLevel, line: string): void {
    this.logger[level](line)
  }

  close (): void {
    this.file.close()
  }
}

function levelOf (line: string): LogLevel {
  if (/^warning\b/i.test(line)) return 'warn'
  if (/^(error\b|stop failed)/i.test(line)) return 'error'
  return 'info'
}

/**
 * A size-capped log file: pino's destination (sonic-boom, synchronous), renamed to `<file>.1`
 * and reopened once it holds `maxBytes`. A failed write (a full disk) turns file logging off
 * rather than taking the daemon down.
 */
class RotatingFile implements DestinationStream {
  private readonly boom: ReturnType<typeof pino.destination> | undefined
  private bytes: number
  private broken = false

  constructor (private readonly path: string, private readonly maxBytes: number, private readonly onError: (err: Error) => void) {
    this.bytes = sizeOf(path)
    try {
      // Private like the data dir: messages name peers, runs and paths.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
      this.boom = pino.destination({ dest: path, sync: true, mode: 0o600 })
      this.boom.on('error', (err: Error) => { this.fail(err) })
    } catch (err) {
      this.fail(err as Error)
    }
  }

  write (chunk: string): void {
    if (this.broken || this.boom === undefined) return
    try {
      this.boom.write(chunk)
    } catch (err) {
      return this.fail(err as Error)
    }
    this.bytes += Buffer.byteLength(chunk)
    if (this.bytes >= this.maxBytes) this.rotate()
  }

  close (): void {
    if (this.broken) return
    this.broken = true
    try { this.boom?.end() } catch {}
  }

  private rotate (): void {
    try {
      renameSync(this.path, `${this.path}.1`)
      this.boom?.reopen()
      this.bytes = 0
    } catch (err) {
      this.fail(err as Error)
    }
  }

  private fail (err: Error): void {
    if (this.broken) return
    this.broken = true
    this.onError(err)
  }
}

function sizeOf (path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

/**
 * `text` with every control character (C0, DEL, C1), line and paragraph separator and bidi
 * override written as a `\uXXXX` escape: a message a peer shaped (a result's description) cannot
 * start a line of its own, move the cursor or recolour the terminal.
 */
export function stripControl (text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** One log entry as a person reads it: `2026-12-07T22:54:01.123Z WARN  message`, control characters escaped. */
export function humanLine (entry: { time: string | number, level: string | number, msg: string }): string {
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString() : entry.time
  return `${stripControl(String(time))} ${levelName(entry.level).toUpperCase().padEnd(5)} ${stripControl(entry.msg)}`
}

/** pino's numeric levels (10 trace … 60 fatal) and its labels alike. */
function levelName (level: string | number): string {
  if (typeof level === 'string') return level.slice(0, 5)
  return ({ 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' } as Record<number, string>)[level] ?? String(level)
}

/**
 * A line of the log file as `swarmd logs` prints it: the entry read as JSON and printed
 * human-readably; a line that is not an entry (cut short by a crash) escaped as it is.
 */
export function humanLogLine (line: string): string {
  let entry: unknown
  try {
    entry = JSON.parse(line)
  } catch {
    return stripControl(line)
  }
  if (typeof entry !== 'object' || entry === null) return stripControl(line)
  const { time, level, msg } = entry as { time?: unknown, level?: unknown, msg?: unknown }
  return humanLine({
    time: typeof time === 'string' || typeof time === 'number' ? time : '-',
    level: typeof level === 'string' || typeof level === 'number' ? level : '-',
    msg: typeof msg === 'string' ? msg : JSON.stringify(msg ?? null)
  })
}
