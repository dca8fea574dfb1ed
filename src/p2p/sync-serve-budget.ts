import { TokenBuckets } from './gossip-rate-limit.js'
import type { Clock } from '../util/clock.js'

export interface SyncServeBudgetInit {
  /** Sync requests one peer may make per minute, also its burst (config `syncRequestsPerPeerPerMinute`). */
  requestsPerPeerPerMinute: number
  /** Bytes this daemon sends one peer in sync answers per minute, also its burst (config `syncBytesPerPeerPerMinute`). */
  bytesPerPeerPerMinute: number
  /** The budgets of one address range (IPv4 /24, IPv6 /48), all its peers together, as a multiple of one peer's. Default 4. */
  rangeFactor?: number
}

/**
 * What answering sync may cost, per peer and per address range (fresh keys from one range share
 * the range's budget): requests, and bytes sent. A 3-byte request asks for everything; without a
 * budget 8 streams pulled 454 MiB in 6 s. A request over budget is answered with nothing; an answer
 * over budget stops early and the puller takes the rest on a later pull (what it got is applied).
 */
export class SyncServeBudget {
  private readonly peerRequests: TokenBuckets
  private readonly rangeRequests: TokenBuckets
  private readonly peerBytes: TokenBuckets
  private readonly rangeBytes: TokenBuckets
  readonly stats = { refused: 0, cutShort: 0 }

  constructor (clock: Clock, init: SyncServeBudgetInit) {
    const factor = init.rangeFactor ?? 4
    this.peerRequests = new TokenBuckets(clock, { perMinute: init.requestsPerPeerPerMinute })
    this.rangeRequests = new TokenBuckets(clock, { perMinute: init.requestsPerPeerPerMinute * factor })
    this.peerBytes = new TokenBuckets(clock, { perMinute: init.bytesPerPeerPerMinute })
    this.rangeBytes = new TokenBuckets(clock, { perMinute: init.bytesPerPeerPerMinute * factor })
  }

  /** Whether to answer a request from `peer` (in `range`); takes one request from both budgets. */
  admit (peer: string, range: string): boolean {
    if (this.rangeRequests.take(range) && this.peerRequests.take(peer)) return true
    this.stats.refused++
    return false
  }

  /** Whether `bytes` more may go to `peer` (in `range`) now; takes them from both budgets. */
  send (peer: string, range: string, bytes: number): boolean {
    if (this.rangeBytes.take(range, bytes) && this.peerBytes.take(peer, bytes)) return true
    this.stats.cutShort++
    return false
  }
}
