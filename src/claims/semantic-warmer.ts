import type { DedupEntry } from './dedup.js'
import type { ResearchLedger } from './research-ledger.js'
import type { SemanticDedup } from './semantic.js'
import type { Clock } from '../util/clock.js'

export interface SemanticWarmerInit {
  /** Descriptions embedded ahead at start, from the most recently active parents on. Default 8,000 (12 MiB of vectors). */
  startTexts?: number
  /** Descriptions per call to the embedder: a claim check waits for at most one batch. Default 32. */
  batch?: number
  /** How often new claims and results are looked for, in ms. Default 1,000. */
  followEveryMs?: number
}

/**
 * Embeds ahead what claim checks will compare with, so that a check finds its parent's
 * descriptions embedded instead of embedding them first: at start, the live claims and results
 * on the most recently active parents (a first check on a parent of 7,000 experiments embedded
 * 3,400 descriptions, 10.7 s, BENCHMARKS §15), then every claim and result as it arrives. Works
 * in batches, each one awaited before the next, so a check's own embedding waits at most one batch.
 */
export class SemanticWarmer {
  private readonly queue: string[] = []
  private readonly queued = new Set<string>()
  private cursor = 0
  private timer: NodeJS.Timeout | undefined
  private draining: Promise<void> | undefined
  private stopped = false
  /** Descriptions embedded so far (a measure for benchmarks). */
  embedded = 0

  constructor (
    private readonly ledger: ResearchLedger,
    private readonly semantic: SemanticDedup,
    private readonly clock: Clock,
    private readonly init: SemanticWarmerInit = {},
    private readonly onError: (err: unknown) => void = () => {}
  ) {}

  /** Queue the start set and follow arrivals from now on. */
  start (): void {
    if (this.timer !== undefined || this.stopped) return
    this.queueStartSet()
    this.timer = setInterval(() => { this.follow() }, this.init.followEveryMs ?? 1_000)
    this.timer.unref()
    this.drain()
  }

  stop (): void {
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.queue.length = 0
  }

  /** Settles once everything queued so far is embedded (or the warmer stopped). */
  async idle (): Promise<void> {
    while (this.draining !== undefined) await this.draining
  }

  /** The live entries of the most recently active parents, newest parent first, up to `startTexts` descriptions. */
  private queueStartSet (): void {
    const limit = this.init.startTexts ?? 8_000
    const arrivals = this.ledger.arrivalsSince(0)
    this.cursor = arrivals.length
    const now = this.clock.now()
    const parents = new Set<string | null>()
    for (let i = arrivals.length - 1; i >= 0 && this.queue.length < limit; i--) {
      const arrival = arrivals[i]!
      if (arrival.kind === 'verification') continue
      const parent = arrival.entry.body.parent
      if (parents.has(parent)) continue
      parents.add(parent)
      for (const entry of this.ledger.onParent(parent)) {
        if (this.queue.length >= limit) break
        if (this.ledger.live(entry, now)) this.add(entry)
      }
    }
  }

  /** Claims and results that arrived since the last look. */
  private follow (): void {
    const arrivals = this.ledger.arrivalsSince(this.cursor)
    this.cursor += arrivals.length
    for (const arrival of arrivals) {
      if (arrival.kind === 'verification' || (arrival.kind === 'claim' && arrival.entry.body.verifies !== undefined)) continue
      this.add({ description: arrival.entry.body.description })
    }
    this.drain()
  }

  private add (entry: Pick<DedupEntry, 'description'>): void {
    if (this.queued.has(entry.description)) return
    this.queued.add(entry.description)
    this.queue.push(entry.description)
  }

  private drain (): void {
    if (this.draining !== undefined || this.queue.length === 0 || this.stopped) return
    this.draining = (async () => {
      const batch = this.init.batch ?? 32
      while (this.queue.length > 0 && !this.stopped) {
        const texts = this.queue.splice(0, batch)
        try {
          await this.semantic.prepare(texts)
          this.embedded += texts.length
        } catch (err) {
          // The model failed to load, or the daemon is stopping: what is left waits for the checks themselves.
          this.queue.length = 0
          if (!this.stopped) this.onError(err)
        }
        for (const text of texts) this.queued.delete(text)
        // Let a claim check in between batches.
        await new Promise((resolve) => setImmediate(resolve))
      }
    })().finally(() => { this.draining = undefined })
  }
}
