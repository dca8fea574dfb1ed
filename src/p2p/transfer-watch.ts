import { deadline } from '../util/deadline.js'
import type { Deadline } from '../util/deadline.js'
import type { Stream } from '@libp2p/interface'

export interface TransferLimits {
  /** The whole transfer may take this long, ms. */
  timeoutMs: number
  /** Pace window, ms: each one must bring `minBytesPerWindow` bytes or the transfer is dropped. */
  windowMs: number
  /** Bytes each window must bring. */
  minBytesPerWindow: number
}

/**
 * The slowest pace a transfer keeps, averaged over a window: 4 KiB/s (32 kbit/s), far under any
 * home uplink (the chaos bench throttles links to 64 kbit/s), far over a trickle. Counting silence
 * alone (no byte for a while) let a peer that sends one byte every 5 s hold a pull forever.
 */
export const MIN_TRANSFER_BYTES_PER_S = 4 * 1024

/**
 * The limits one transfer from a peer (a sync pull, a blob fetch) runs under, as one abort signal:
 * a deadline for the whole of it, a pace each window must keep (any byte counts, not only whole
 * frames: a 1 MiB frame over a slow uplink takes a while and brings bytes all along), and the
 * caller's own signals. A transfer ended by the pace or the deadline says nothing sure about its
 * peer (a lossy link is slow too): callers drop it without a strike.
 */
export class TransferWatch {
  private readonly limit: Deadline
  private readonly paceTimer: NodeJS.Timeout
  private received = 0
  /** Time spent in `busy` work this window: the peer is not waited on then. */
  private busyMs = 0
  private stalledValue = false

  constructor (limits: TransferLimits, ...signals: Array<AbortSignal | undefined>) {
    const pace = new AbortController()
    this.limit = deadline(limits.timeoutMs, pace.signal, ...signals)
    this.paceTimer = setInterval(() => {
      const waited = Math.max(0, 1 - this.busyMs / limits.windowMs)
      if (this.received < limits.minBytesPerWindow * waited) {
        this.stalledValue = true
        pace.abort(new DOMException(`fewer than ${limits.minBytesPerWindow} bytes in ${limits.windowMs} ms`, 'TimeoutError'))
      }
      this.received = 0
      this.busyMs = 0
    }, limits.windowMs)
  }

  get signal (): AbortSignal { return this.limit.signal }

  /** Whether the pace or the deadline ended the transfer (not a stop or the caller). */
  get stalled (): boolean { return this.stalledValue || this.limit.expired }

  /**
   * Count `stream`'s incoming bytes toward the pace, consuming nothing: like the prefix guard
   * (src/p2p/prefix-guard.ts) it wraps `dispatchEvent`, because a 'message' listener added before
   * the protocol's reader would take the bytes the reader waits for.
   */
  watch (stream: Stream): void {
    const dispatch = stream.dispatchEvent.bind(stream)
    stream.dispatchEvent = (event: Event): boolean => {
      if (event.type === 'message') this.received += (event as Event & { data?: { byteLength?: number } }).data?.byteLength ?? 1
      return dispatch(event)
    }
  }

  /**
   * Our own work between reads (applying what came): its time is not held against the peer, whose
   * bytes wait in the stream meanwhile. Counted as it runs, so one long apply spans windows.
   */
  async busy<T> (work: () => Promise<T>): Promise<T> {
    let last = performance.now()
    const tick = setInterval(() => {
      const now = performance.now()
      this.busyMs += now - last
      last = now
    }, 250)
    try {
      return await work()
    } finally {
      clearInterval(tick)
      this.busyMs += performance.now() - last
    }
  }

  clear (): void {
    clearInterval(this.paceTimer)
    this.limit.clear()
  }
}
