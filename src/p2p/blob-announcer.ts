import { deadline } from '../util/deadline.js'

/**
 * Announces the blobs this node holds in the DHT (kad-dht `provide`), each hash once: one
 * announcement is a closest-peers query plus an ADD_PROVIDER to each of them, and the DHT keeps
 * its own provider records fresh from then on. A daemon stores the same hash several times per
 * experiment (the research loop, then the publisher) and fetches what peers already hold, so
 * without this every store re-ran the whole query. Announcements run one at a time, in order: a
 * burst of results queues its announcements instead of opening a query per blob at once.
 */

/** kad-dht `provide` for one blob hash, bounded by `signal`. */
export interface ProvideFn {
  (hash: string, signal: AbortSignal): Promise<void>
}

/** Hashes remembered as announced; past this, the oldest are forgotten (and announced again if stored again). */
export const ANNOUNCED_MEMORY = 10_000

/** How long one announcement may take before the next one goes. */
const ANNOUNCE_TIMEOUT_MS = 30_000

export class BlobAnnouncer {
  private readonly announced = new Set<string>()
  private readonly queue: string[] = []
  private draining: Promise<void> | undefined
  private readonly stopController = new AbortController()
  /** Announcements made (not skipped as repeats). */
  provided = 0

  constructor (private readonly provide: ProvideFn) {}

  /** Queue `hash` for announcement unless it was announced (or queued) already. */
  announce (hash: string): void {
    if (this.stopController.signal.aborted || this.announced.has(hash)) return
    this.remember(hash)
    this.queue.push(hash)
    this.draining ??= this.drain().finally(() => { this.draining = undefined })
  }

  /** Settles when the queue is empty (tests, shutdown). */
  async idle (): Promise<void> {
    while (this.draining !== undefined) await this.draining
  }

  async stop (): Promise<void> {
    this.stopController.abort()
    this.queue.length = 0
    await this.draining
  }

  private remember (hash: string): void {
    this.announced.add(hash)
    if (this.announced.size > ANNOUNCED_MEMORY) this.announced.delete(this.announced.values().next().value!)
  }

  private async drain (): Promise<void> {
    for (let hash = this.queue.shift(); hash !== undefined; hash = this.queue.shift()) {
      const limit = deadline(ANNOUNCE_TIMEOUT_MS, this.stopController.signal)
      // A lone node has nobody to tell, and a query that fails is retried when the blob is stored again.
      await this.provide(hash, limit.signal).then(() => { this.provided++ }, () => { this.announced.delete(hash) }).finally(() => { limit.clear() })
    }
  }
}
