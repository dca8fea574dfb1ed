import { servesProtocol } from './membership.js'
import type { SwarmdLibp2p } from './libp2p-node.js'
import type { Clock } from '../util/clock.js'
import type { PeerId } from '@libp2p/interface'

export interface GossipWatchdogInit {
  topic: string
  /** A peer that speaks this protocol is a swarm member and must be on the topic. */
  syncProtocol: string
  /** Check this often, in ms. Default 5 s. */
  intervalMs?: number
  /** A member connected this long without being on the topic gets its link rebuilt, in ms. Default 10 s. */
  graceMs?: number
}

/**
 * Repairs dead gossip links. Gossipsub drops a peer's stream when one frame is over its
 * inbound limit (a reconnecting daemon's IWANT reply for ~1,500 missed records is one ~3 MB
 * frame), and the TCP connection stays up, so nothing reopens the stream: that peer's gossip
 * is silently gone until a sync. A swarm member that stays connected but off the topic is
 * hung up and redialled; the new connection brings fresh streams and a catch-up sync.
 */
export class GossipWatchdog {
  private timer: NodeJS.Timeout | undefined
  private readonly missingSince = new Map<string, number>()
  private readonly intervalMs: number
  private readonly graceMs: number
  readonly stats = { repairs: 0 }

  constructor (private readonly components: { libp2p: SwarmdLibp2p, clock: Clock, log?: (line: string) => void }, private readonly init: GossipWatchdogInit) {
    this.intervalMs = init.intervalMs ?? 5_000
    this.graceMs = init.graceMs ?? 10_000
  }

  start (): void {
    this.timer = setInterval(() => { void this.check() }, this.intervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  async check (): Promise<void> {
    const { libp2p, clock } = this.components
    const onTopic = new Set(libp2p.services.pubsub.getSubscribers(this.init.topic).map((p) => p.toString()))
    const connected = libp2p.getPeers()
    const now = clock.now()
    for (const key of this.missingSince.keys()) if (!connected.some((p) => p.toString() === key)) this.missingSince.delete(key)
    for (const peer of connected) {
      const key = peer.toString()
      if (onTopic.has(key) || !(await this.isMember(peer))) {
        this.missingSince.delete(key)
        continue
      }
      const since = this.missingSince.get(key)
      if (since === undefined) {
        this.missingSince.set(key, now)
      } else if (now - since >= this.graceMs) {
        this.missingSince.delete(key)
        await this.repair(peer)
      }
    }
  }

  private async isMember (peer: PeerId): Promise<boolean> {
    return servesProtocol(this.components.libp2p, peer, this.init.syncProtocol, 0)
  }

  private async repair (peer: PeerId): Promise<void> {
    this.stats.repairs++
    this.components.log?.(`gossip: ${peer.toString()} is connected but off the swarm topic; rebuilding the link`)
    const { libp2p } = this.components
    await libp2p.hangUp(peer).catch(() => {})
    await libp2p.dial(peer, { signal: AbortSignal.timeout(10_000) }).catch(() => {})
  }
}
