import type { Clock } from '../util/clock.js'

export interface RateBudget {
  /** Messages a key may send per minute, sustained; also the burst it may send at once. */
  perMinute: number
}

/**
 * A token bucket per key (a peer id): `perMinute` tokens, refilled continuously. Bounded in
 * memory: idle keys (full buckets) are dropped first, then the oldest.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number, at: number }>()

  constructor (private readonly clock: Clock, private readonly budget: RateBudget, private readonly maxKeys = 10_000) {}

  /** Take `count` tokens for `key`; false (taking none) when its budget holds fewer. */
  take (key: string, count = 1): boolean {
    const now = this.clock.now()
    const capacity = this.budget.perMinute
    const bucket = this.buckets.get(key) ?? { tokens: capacity, at: now }
    bucket.tokens = Math.min(capacity, bucket.tokens + (now - bucket.at) * capacity / 60_000)
    bucket.at = now
    this.buckets.delete(key)
    this.buckets.set(key, bucket)
    if (this.buckets.size > this.maxKeys) this.evict(now)
    if (bucket.tokens < count) return false
    bucket.tokens -= count
    return true
  }

  /** Give back `count` tokens taken from `key` (a later check refused the message after all). */
  refund (key: string, count: number): void {
    const bucket = this.buckets.get(key)
    if (bucket !== undefined) bucket.tokens = Math.min(this.budget.perMinute, bucket.tokens + count)
  }

  private evict (now: number): void {
    const capacity = this.budget.perMinute
    for (const [key, b] of this.buckets) {
      if (this.buckets.size <= this.maxKeys) return
      if (b.tokens + (now - b.at) * capacity / 60_000 >= capacity) this.buckets.delete(key)
    }
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) return
      this.buckets.delete(key)
    }
  }
}

export interface GossipRateLimitInit {
  /** Records one author may publish per minute (config `gossipRecordsPerPeerPerMinute`). */
  perAuthorPerMinute: number
  /** Records one neighbour may deliver to us per minute, all authors together (config `gossipRecordsPerLinkPerMinute`). */
  perLinkPerMinute: number
  /** Bytes one neighbour may deliver to us per minute (config `gossipBytesPerLinkPerMinute`); absent: no byte budget. */
  bytesPerLinkPerMinute?: number
}

export type RateVerdict = 'ok' | 'author-over-budget' | 'link-over-budget'

/**
 * Per-peer gossip budgets, checked before a message is decoded or applied. Two keys: the
 * message's signed author (gossipsub's `from`), so that one identity cannot flood through honest
 * relays; and the neighbour that delivered it, so that an attacker signing each message with a
 * fresh key still gets one link's budget. A message over budget is IGNOREd: not applied and not
 * relayed. Nothing honest is lost for good: a record it carried is in its author's state and
 * reaches us by the next sync (anti-entropy, or the pull a later gap triggers).
 */
export class GossipRateLimit {
  private readonly authors: TokenBuckets
  private readonly links: TokenBuckets
  private readonly linkBytes: TokenBuckets | undefined
  readonly stats = { limited: 0 }

  constructor (clock: Clock, init: GossipRateLimitInit) {
    this.authors = new TokenBuckets(clock, { perMinute: init.perAuthorPerMinute })
    this.links = new TokenBuckets(clock, { perMinute: init.perLinkPerMinute })
    this.linkBytes = init.bytesPerLinkPerMinute === undefined ? undefined : new TokenBuckets(clock, { perMinute: init.bytesPerLinkPerMinute })
  }

  /**
   * Charge a message of `records` records and `bytes` bytes (a gossip message may carry thousands:
   * 21,000 in 10 messages passed a budget counted in messages). A message larger than a whole
   * budget never passes.
   */
  check (link: string, author: string | undefined, records = 1, bytes = 0): RateVerdict {
    // The link first: a fresh-key flood must not grow the author table for free.
    if (!this.links.take(link, records)) { this.stats.limited++; return 'link-over-budget' }
    if (this.linkBytes !== undefined && !this.linkBytes.take(link, bytes)) {
      this.links.refund(link, records)
      this.stats.limited++
      return 'link-over-budget'
    }
    if (author !== undefined && !this.authors.take(author, records)) { this.stats.limited++; return 'author-over-budget' }
    return 'ok'
  }
}
