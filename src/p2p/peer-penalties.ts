import type { Clock } from '../util/clock.js'

/** One refused piece of peer input, for the status page and counters. */
export interface Rejection {
  at: number
  peer: string
  channel: 'gossip' | 'sync' | 'blob'
  verdict: 'reject' | 'ignore'
  fault: string
}

export interface PeerPenaltiesInit {
  /** REJECTs from one peer before it is disconnected and blocked. Default 5. */
  strikeLimit?: number
  /** How long a blocked peer stays out, in ms. Default 1 hour. */
  blockMs?: number
  /** Recent rejections kept for the status page. Default 100. */
  historySize?: number
}

/**
 * Counts refused input per peer. Gossipsub's score handles gossip REJECTs on its own;
 * this also covers sync and blob streams, and blocks repeat offenders for a while.
 */
export class PeerPenalties {
  private readonly strikes = new Map<string, number>()
  private readonly blockedUntil = new Map<string, number>()
  private readonly history: Rejection[] = []
  private readonly strikeLimit: number
  private readonly blockMs: number
  private readonly historySize: number
  readonly totals = { reject: 0, ignore: 0 }

  constructor (private readonly clock: Clock, init: PeerPenaltiesInit = {}) {
    this.strikeLimit = init.strikeLimit ?? 5
    this.blockMs = init.blockMs ?? 60 * 60 * 1000
    this.historySize = init.historySize ?? 100
  }

  /** Record a refusal; returns true when the peer just crossed the strike limit. */
  record (rejection: Omit<Rejection, 'at'>): boolean {
    const entry = { ...rejection, at: this.clock.now() }
    this.history.push(entry)
    if (this.history.length > this.historySize) this.history.shift()
    this.totals[rejection.verdict]++
    if (rejection.verdict !== 'reject') return false
    const strikes = (this.strikes.get(rejection.peer) ?? 0) + 1
    this.strikes.set(rejection.peer, strikes)
    if (strikes < this.strikeLimit) return false
    this.strikes.delete(rejection.peer)
    this.blockedUntil.set(rejection.peer, this.clock.now() + this.blockMs)
    return true
  }

  isBlocked (peer: string): boolean {
    const until = this.blockedUntil.get(peer)
    if (until === undefined) return false
    if (until > this.clock.now()) return true
    this.blockedUntil.delete(peer)
    return false
  }

  recent (): Rejection[] {
    return [...this.history].reverse()
  }

  blocked (): string[] {
    return [...this.blockedUntil.keys()].filter((peer) => this.isBlocked(peer))
  }
}
