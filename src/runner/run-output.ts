import { parseProgress } from './summary.js'
import type { RunProgress } from './summary.js'

/**
 * A run's output as it streams in: the last `maxBytes` of it (the head is cut), and each complete
 * line handed to the progress parser once. Cost is per chunk, not per byte seen so far: a run that
 * prints gigabytes, or one line of gigabytes, costs the daemon no more than reading the pipe.
 */
export class RunOutput {
  private chunks: string[] = []
  private length = 0
  private cut = false
  private pending = ''

  constructor (private readonly maxBytes: number, private readonly onProgress?: (progress: RunProgress) => void) {}

  push (chunk: string): void {
    this.chunks.push(chunk)
    this.length += chunk.length
    // Trim in batches: at most twice the cap is held.
    if (this.length > 2 * this.maxBytes) this.trim()
    this.scanLines(chunk)
  }

  /** The output kept, marked when its head was cut. */
  text (): string {
    this.trim()
    return (this.cut ? '[log head cut]\n' : '') + this.chunks.join('')
  }

  private trim (): void {
    if (this.length <= this.maxBytes) return
    const joined = this.chunks.join('')
    const kept = joined.slice(joined.length - this.maxBytes)
    this.chunks = [kept]
    this.length = kept.length
    this.cut = true
  }

  /** Only the new chunk is searched for line ends; a partial line longer than a progress line is dropped. */
  private scanLines (chunk: string): void {
    let start = 0
    for (let end = chunk.indexOf('\n'); end >= 0; end = chunk.indexOf('\n', start)) {
      const line = this.pending + chunk.slice(start, end)
      this.pending = ''
      start = end + 1
      const progress = parseProgress(line)
      if (progress !== undefined) this.onProgress?.(progress)
    }
    this.pending = (this.pending + chunk.slice(start)).slice(0, MAX_PROGRESS_LINE)
  }
}

/** Longer lines are never progress lines (`step 12 ... loss_bpb ...` is well under 1 KiB). */
const MAX_PROGRESS_LINE = 4096
