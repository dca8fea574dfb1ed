import { SerialQueue } from '../util/serial-queue.js'
import type { BlocklistFile } from './blocklist-file.js'
import type { Clock } from '../util/clock.js'

/** One refused piece of peer input, for the status page and counters. */
export interface Rejection {
  at: number
  peer: string
  /** `libp2p`: libp2p's own protocols (kad-dht, identify), guarded by prefix-guard.ts. */
  channel: 'gossip' | 'sync' | 'blob' | 'libp2p'
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
  /** Where blocks persist across restarts; absent: in memory only. */
  file?: BlocklistFile
  /** Told of each refusal as it is recorded (the daemon's `swarmd_rejections_total`). */
  onRecord?: (rejection: Rejection) => void
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
  private readonly file: BlocklistFile | undefined
  private readonly onRecord: ((rejection: Rejection) => void) | undefined
  private readonly writes = new SerialQueue()
  readonly totals = { reject: 0, ignore: 0 }

  constructor (private readonly clock: Clock, init: PeerPenaltiesInit = {}) {
    this.strikeLimit = init.strikeLimit ?? 5
    this.blockMs = init.blockMs ?? 60 * 60 * 1000
    this.historySize = init.historySize ?? 100
    this.file = init.file
    this.onRecord = init.onRecord
  }

  /** Read the blocks a previous run left (expired ones are dropped). Call before the network starts. */
  async load (): Promise<void> {
    if (this.file === undefined) return
    const now = this.clock.now()
    for (const [peer, until] of await this.file.load()) {
      if (until > now && until > (this.blockedUntil.get(peer) ?? 0)) this.blockedUntil.set(peer, until)
    }
  }

  /** Resolves once every block so far is on disk. */
  async flush (): Promise<void> {
    await this.writes.run(async () => {})
  }

  /** Record a refusal; returns true when the peer just crossed the strike limit. */
  record (rejection: Omit<Rejection, 'at'>): boolean {
    const entry = { ...rejection, at: this.clock.now() }
    this.history.push(entry)
    if (this.history.length > this.historySize) this.history.shift()
    this.totals[rejection.verdict]++
    this.onRecord?.(entry)
    if (rejection.verdict !== 'reject') return false
    const strikes = (this.strikes.get(rejection.peer) ?? 0) + 1
    this.strikes.set(rejection.peer, strikes)
    if (strikes < this.strikeLimit) return false
    this.strikes.delete(rejection.peer)
    this.blockedUntil.set(rejection.peer, this.clock.now() + this.blockMs)
    this.persist()
    return true
  }

  /**
   * Record a refused update from `link`. A conflict between two validly signed records is charged
   * to their signer (`culprit`), not to the link: an honest relay may have seen the other record
   * first. Returns the peers that just crossed the strike limit.
   */
  charge (refusal: { link: string, channel: Rejection['channel'], verdict: 'reject' | 'ignore', fault: string, culprit?: string | undefined }): string[] {
    const { link, channel, fault, culprit } = refusal
    if (culprit === undefined || culprit === link) {
      const verdict = culprit === link ? 'reject' : refusal.verdict
      return this.record({ peer: link, channel, verdict, fault }) ? [link] : []
    }
    this.record({ peer: link, channel, verdict: 'ignore', fault })
    return this.record({ peer: culprit, channel, verdict: 'reject', fault: `${fault} (signer)` }) ? [culprit] : []
  }

  /** Block `peer` at once, whatever its strikes: it was proven to lie (equivocation evidence). */
  ban (peer: string, channel: Rejection['channel'], fault: string): void {
    if (this.isBlocked(peer)) return
    this.record({ peer, channel, verdict: 'ignore', fault })
    this.strikes.delete(peer)
    this.blockedUntil.set(peer, this.clock.now() + this.blockMs)
    this.persist()
  }

  /** REJECTs held against `peer` since it was last blocked. */
  strikesOf (peer: string): number {
    return this.strikes.get(peer) ?? 0
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

  /** Write the current blocks in the background; a failed write only costs persistence. */
  private persist (): void {
    const file = this.file
    if (file === undefined) return
    void this.writes.run(async () => {
      const now = this.clock.now()
      const live = new Map([...this.blockedUntil].filter(([, until]) => until > now))
      await file.save(live)
    }).catch(() => {})
  }

  blocked (): string[] {
    return [...this.blockedUntil.keys()].filter((peer) => this.isBlocked(peer))
  }
}
