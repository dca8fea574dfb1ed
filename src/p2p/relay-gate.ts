import { rangeOf } from './inbound-limiter.js'
import { servesProtocol } from './membership.js'
import { systemClock } from '../util/clock.js'
import type { Clock } from '../util/clock.js'
import type { Libp2p, PeerId } from '@libp2p/interface'

export interface RelayGateInit {
  /** The protocol only members of this swarm serve (its sync protocol): identify tells who speaks it. */
  memberProtocol: string
  /** Slots one address range (IPv4 /24, IPv6 /48) may hold at once. */
  perRange: number
  /** How long a granted slot counts against its range: the relay's reservation ttl, ms. */
  slotTtlMs: number
  /** Bytes a relayed connection may carry (the relay closes it then): what each one is charged when it opens. */
  bytesPerConnection: number
  /** Bytes of relayed connections that sources in one address range may open per hour. */
  bytesPerRangePerHour: number
  /** Bytes of relayed connections that all sources together may open per hour. */
  bytesPerHour: number
  /** How long to wait for identify to tell whether a peer is a member, ms. Default 3 s. */
  identifyWaitMs?: number
  clock?: Clock
}

/**
 * Who a relay serves. Only members of this swarm, as identify lists their protocols: anyone else
 * used a bootstrap daemon as a free relay (2.8 GiB in 45 s between two strangers, an outside
 * attack on this code). And only `perRange` slots per address range, so throwaway identities from
 * one place cannot take every slot for the reservation's lifetime. Membership is identify's word,
 * which anyone can give: relayed bytes are budgeted per hour, per source address range and in all
 * (each connection charged what it may carry), so fakes that pass for members get a bounded share.
 * Called from the connection gater: a `true` denies.
 */
export class RelayGate {
  private node: Libp2p | undefined
  private readonly granted = new Map<string, { range: string, until: number }>()
  private readonly perRange: HourlyBudgets
  private readonly overall: HourlyBudgets

  constructor (private readonly init: RelayGateInit) {
    this.perRange = new HourlyBudgets(init.bytesPerRangePerHour)
    this.overall = new HourlyBudgets(init.bytesPerHour)
  }

  /**
   * The node whose peer store and connections answer the questions, and the relay's own slots:
   * a slot is freed when its holder's last connection closes (a holder is always connected: the
   * relay reaches it over that connection). Left to the ttl, identities that reserved and hung up
   * held every slot for its whole life (an outside attack: 32 slots from 8 /24s, an honest home
   * daemon refused).
   */
  attach (node: Libp2p, slots: { delete(peer: PeerId): unknown }): void {
    this.node = node
    node.addEventListener('peer:disconnect', (event) => {
      this.granted.delete(event.detail.toString())
      slots.delete(event.detail)
    })
  }

  async denyReservation (peer: PeerId): Promise<boolean> {
    if (!await this.isMember(peer)) return true
    const connection = this.node?.getConnections(peer)[0]
    if (connection === undefined) return true
    const range = rangeOf(connection.remoteAddr)
    const now = (this.init.clock ?? systemClock).now()
    const key = peer.toString()
    let others = 0
    for (const [holder, slot] of this.granted) {
      if (slot.until <= now) this.granted.delete(holder)
      else if (holder !== key && slot.range === range) others++
    }
    if (others >= this.init.perRange) return true
    this.granted.set(key, { range, until: now + this.init.slotTtlMs })
    return false
  }

  async denyRelayedConnection (source: PeerId, destination: PeerId): Promise<boolean> {
    if (!await this.isMember(source) || !await this.isMember(destination)) return true
    const connection = this.node?.getConnections(source)[0]
    if (connection === undefined) return true
    const now = (this.init.clock ?? systemClock).now()
    const range = rangeOf(connection.remoteAddr)
    const cost = this.init.bytesPerConnection
    if (!this.perRange.has(range, cost, now) || !this.overall.has('all', cost, now)) return true
    this.perRange.take(range, cost, now)
    this.overall.take('all', cost, now)
    return false
  }

  /** What relayed connections from `peer`'s address range may still carry this hour, bytes (for status and tests). */
  bytesLeftFor (range: string): number {
    const now = (this.init.clock ?? systemClock).now()
    return Math.min(this.perRange.left(range, now), this.overall.left('all', now))
  }

  /** Whether `peer` serves the member protocol, waiting a little for identify to finish. */
  private async isMember (peer: PeerId): Promise<boolean> {
    return this.node !== undefined && servesProtocol(this.node, peer, this.init.memberProtocol, this.init.identifyWaitMs ?? 3_000)
  }
}

/** A budget per key that refills over an hour, continuously; bounded in memory (full ones are forgotten). */
class HourlyBudgets {
  private readonly spent = new Map<string, { left: number, at: number }>()

  constructor (private readonly perHour: number) {}

  left (key: string, now: number): number {
    const held = this.spent.get(key)
    if (held === undefined) return this.perHour
    return Math.min(this.perHour, held.left + (now - held.at) * this.perHour / 3_600_000)
  }

  has (key: string, amount: number, now: number): boolean {
    return this.left(key, now) >= amount
  }

  take (key: string, amount: number, now: number): void {
    for (const [other, held] of this.spent) if (held.left + (now - held.at) * this.perHour / 3_600_000 >= this.perHour) this.spent.delete(other)
    this.spent.set(key, { left: this.left(key, now) - amount, at: now })
  }
}
