import { TokenBuckets } from './gossip-rate-limit.js'
import type { Clock } from '../util/clock.js'

export interface BlobRequestLimitInit {
  /** Blob requests one peer may make per minute, sustained; also its burst (config `blobRequestsPerPeerPerMinute`). */
  perPeerPerMinute: number
}

/**
 * `ok`: serve it. `refused`: over budget, refuse without reading. `strike`: over budget, and this
 * peer has now been refused a whole budget's worth of requests since its last strike: it kept
 * asking after being refused, which no honest daemon does (it gives up on the peer that reset it).
 */
export type BlobRequestVerdict = 'ok' | 'refused' | 'strike'

/**
 * A per-peer budget of inbound `/swarmd/blob/1` requests, decided when the stream opens, before a
 * byte is read or the disk is touched. Every request asks for a hash, found or not, so missing
 * hashes cost the same budget as existing ones.
 */
export class BlobRequestLimit {
  private readonly buckets: TokenBuckets
  private readonly refusedSinceStrike = new Map<string, number>()
  private readonly perPeerPerMinute: number
  readonly stats = { admitted: 0, refused: 0, strikes: 0 }

  constructor (clock: Clock, init: BlobRequestLimitInit) {
    this.perPeerPerMinute = init.perPeerPerMinute
    this.buckets = new TokenBuckets(clock, { perMinute: init.perPeerPerMinute })
  }

  admit (peer: string): BlobRequestVerdict {
    if (this.buckets.take(peer)) {
      this.stats.admitted++
      return 'ok'
    }
    this.stats.refused++
    const refused = (this.refusedSinceStrike.get(peer) ?? 0) + 1
    if (refused < this.perPeerPerMinute) {
      // Bounded: forgetting a peer's count only delays its next strike.
      if (this.refusedSinceStrike.size >= 1_000 && !this.refusedSinceStrike.has(peer)) this.refusedSinceStrike.clear()
      this.refusedSinceStrike.set(peer, refused)
      return 'refused'
    }
    this.refusedSinceStrike.delete(peer)
    this.stats.strikes++
    return 'strike'
  }
}
