import { TopicValidatorResult } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { gossipScoring } from './gossip-score.js'
import type { GossipRateLimit } from './gossip-rate-limit.js'
import type { SwarmdLibp2p } from './libp2p-node.js'
import type { PeerPenalties } from './peer-penalties.js'
import type { ReplicaPort } from './replica-port.js'
import type { PeerId } from '@libp2p/interface'
import type { Message, SubscriptionChangeData } from '@libp2p/gossipsub'

export interface GossipReplicationComponents {
  libp2p: SwarmdLibp2p
  replica: ReplicaPort
  penalties: PeerPenalties
  /** Per-author and per-link budgets; absent: no limit. */
  rateLimit?: GossipRateLimit
  /** Ask for a sync pull from a peer (a gap or an unknown client binding showed up). */
  requestPull(peer: PeerId): void
  /** Disconnect and block a peer that crossed the strike limit. */
  punish(peer: PeerId): void
}

export interface GossipReplicationInit {
  /** The swarm's state topic, `/swarmd/<swarm>/state/1`. */
  topic: string
}

export interface GossipStats {
  published: number
  publishFailures: number
  accepted: number
  /** Messages IGNOREd unread because their author or link was over its budget. */
  rateLimited: number
}

const RESULT = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject
} as const

/**
 * Live replication: local writes go out on the swarm topic; inbound messages are
 * validated and applied inside gossipsub's validator, so only valid updates are relayed.
 */
export class GossipReplication {
  readonly stats: GossipStats = { published: 0, publishFailures: 0, accepted: 0, rateLimited: 0 }
  // A record published after a connection's sync but before its author knew we are on the
  // topic reaches us by neither path; pulling once the subscription is known closes that gap.
  // Links in an over-budget episode: one rejection entry per episode, not one per flooded message.
  private readonly overBudget = new Set<string>()
  private readonly onSubscriptionChange = (evt: CustomEvent<SubscriptionChangeData>): void => {
    if (evt.detail.subscriptions.some((s) => s.topic === this.init.topic && s.subscribe)) this.components.requestPull(evt.detail.peerId)
  }

  constructor (private readonly components: GossipReplicationComponents, private readonly init: GossipReplicationInit) {}

  start (): void {
    const pubsub = this.components.libp2p.services.pubsub
    pubsub.topicValidators.set(this.init.topic, async (peer, message) => this.validate(peer, message))
    pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    pubsub.subscribe(this.init.topic)
  }

  stop (): void {
    const pubsub = this.components.libp2p.services.pubsub
    pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    pubsub.topicValidators.delete(this.init.topic)
    pubsub.unsubscribe(this.init.topic)
  }

  /** Publish a local update; a lone daemon keeps it until a sync carries it. */
  async publish (update: Uint8Array): Promise<void> {
    try {
      await this.components.libp2p.services.pubsub.publish(this.init.topic, update)
      this.stats.published++
    } catch {
      this.stats.publishFailures++
    }
  }

  private async validate (peer: PeerId, message: Message): Promise<TopicValidatorResult> {
    if (!this.withinBudget(peer, message)) return RESULT.ignore
    let verdict: 'accept' | 'ignore' | 'reject'
    let fault = 'UNKNOWN'
    let culprit: string | undefined
    const link = peer.toString()
    try {
      const outcome = await this.components.replica.applyRemote(message.data)
      culprit = outcome.culprit
      // A conflict whose signer is the link itself is its own fault after all.
      verdict = culprit === link ? 'reject' : outcome.verdict
      fault = outcome.fault ?? fault
    } catch {
      // One bad message never crashes the daemon; an unexpected failure is not the sender's proven fault.
      verdict = 'ignore'
      fault = 'APPLY_FAILED'
    }
    if (verdict === 'accept') {
      this.stats.accepted++
    } else {
      for (const offender of this.components.penalties.charge({ link, channel: 'gossip', verdict, fault, culprit })) this.components.punish(peerIdFromString(offender))
      // The sender holds what we lack (it validated this message against it): pull now
      // rather than wait for anti-entropy.
      if (fault === 'CLIENT_UNBOUND' || fault === 'UPDATE_GAP') this.components.requestPull(peer)
    }
    return RESULT[verdict]
  }

  /**
   * [IGNORE] a message over its author's or its link's budget, before it costs a decode: not
   * applied, not relayed (sync brings any honest record in it later). The link pays one unit of
   * gossipsub behaviour penalty per such message, so a sustained flood graylists it.
   */
  private withinBudget (peer: PeerId, message: Message): boolean {
    const limit = this.components.rateLimit
    if (limit === undefined) return true
    const link = peer.toString()
    const verdict = limit.check(link, message.type === 'signed' ? message.from.toString() : undefined, this.components.replica.recordsIn(message.data), message.data.byteLength)
    if (verdict === 'ok') {
      this.overBudget.delete(link)
      return true
    }
    this.stats.rateLimited++
    gossipScoring(this.components.libp2p.services.pubsub).score.addPenalty(link, 1, 'swarmd-rate-limit')
    if (!this.overBudget.has(link)) {
      // Bounded: links come and go; forgetting one only costs an extra rejection entry.
      if (this.overBudget.size >= 1_000) this.overBudget.clear()
      this.overBudget.add(link)
      this.components.penalties.record({ peer: link, channel: 'gossip', verdict: 'ignore', fault: verdict === 'author-over-budget' ? 'RATE_LIMITED_AUTHOR' : 'RATE_LIMITED_LINK' })
    }
    return false
  }
}

