import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { BlobService } from './blob-service.js'
import { BootstrapDialer } from './bootstrap-dialer.js'
import { BlocklistFile } from './blocklist-file.js'
import { GossipRateLimit } from './gossip-rate-limit.js'
import { GossipReplication } from './gossip-replication.js'
import { colocateConnectedOnly, gossipScoring } from './gossip-score.js'
import { InboundLimiter } from './inbound-limiter.js'
import { GossipWatchdog } from './gossip-watchdog.js'
import { createLibp2pNode, guardLibp2pHandlers, guardLibp2pStreams } from './libp2p-node.js'
import { ConnectionPaths, ownAddresses, reachabilityOf } from './reachability.js'
import { peerList } from './peer-list.js'
import { servesProtocol } from './membership.js'
import { RELAY_RESERVATION_TTL_MS, RELAY_SERVER_DEFAULTS, RELAY_SLOTS_PER_RANGE } from './relay-limits.js'
import { RelayGate } from './relay-gate.js'
import { PeerPenalties } from './peer-penalties.js'
import { SyncServeBudget } from './sync-serve-budget.js'
import { SyncService } from './sync-service.js'
import { SwarmdError } from '../util/errors.js'
import type { BlobStore } from './blob-store.js'
import type { BootstrapStatus } from './bootstrap-dialer.js'
import type { PeerView } from './peer-list.js'
import type { Reachability } from './reachability.js'
import type { GossipStats } from './gossip-replication.js'
import type { Rejection } from './peer-penalties.js'
import type { SyncStats } from './sync-service.js'
import type { Libp2pMetricsFactory, SwarmdLibp2p } from './libp2p-node.js'
import type { ReplicaPort } from './replica-port.js'
import type { Clock } from '../util/clock.js'
import type { Rng } from '../util/rng.js'
import type { Ed25519PrivateKey, PeerId, PeerInfo } from '@libp2p/interface'

export interface SwarmNetworkComponents {
  privateKey: Ed25519PrivateKey
  replica: ReplicaPort
  blobStore: BlobStore
  clock: Clock
  rng: Rng
  /** The application's verdict on a peer for gossip scoring (src/p2p/gossip-score.ts, P5). */
  appScore?: (peerId: string) => number
  /** Where the network says what a user should know (a bootstrap peer out of reach). */
  log?: (line: string) => void
  /** Told of each refused piece of peer input (the daemon counts them in `/metrics`). */
  onRejection?: (rejection: Rejection) => void
  /** libp2p's metrics service (`@libp2p/prometheus-metrics`), passed to libp2p as `metrics`; absent: none. */
  libp2pMetrics?: Libp2pMetricsFactory
}

export interface SwarmNetworkInit {
  /** Swarm name: selects the gossip topic and sync protocol. */
  swarm: string
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  maxConnections: number
  maxIncomingPendingConnections: number
  antiEntropyMs: number
  /** A sync pull without a frame for this long is dropped and struck, ms. */
  syncIdleMs?: number
  /** REJECTs before a peer is disconnected and blocked. */
  strikeLimit: number
  blockMs: number
  /** Where blocked peers persist across restarts (`blocklist.json` in the data dir); absent: memory only. */
  blocklistPath?: string
  /** Gossip budgets: records per author, and messages per neighbour, per minute. */
  gossipRecordsPerPeerPerMinute: number
  gossipRecordsPerLinkPerMinute: number
  gossipBytesPerLinkPerMinute: number
  syncRequestsPerPeerPerMinute: number
  syncBytesPerPeerPerMinute: number
  /** Peers from one IP before gossipsub's colocation penalty starts. */
  gossipIpColocationThreshold: number
  /** Inbound connections from one IP mid-upgrade at once. */
  maxPendingPerIp: number
  maxPendingPerRange: number
  /** An inbound connection must finish noise + yamux within this (ms). */
  inboundUpgradeTimeoutMs: number
  /** Blob requests one peer may make per minute; beyond it streams are reset unread. Default 120. */
  blobRequestsPerPeerPerMinute?: number
  /** A blob fetch whose provider sends nothing for this long is dropped and struck, ms. */
  blobIdleMs?: number
  /** Serve as a circuit relay: `auto` when this node is one of its own bootstrap peers. Default off. */
  relay?: 'auto' | 'on' | 'off'
  relayMaxReservations?: number
  relayMaxBytes?: number
  relayMaxDurationMs?: number
  relayBytesPerRangePerHour?: number
  relayBytesPerHour?: number
  /** Ask the router for a port mapping by UPnP. Default off (the daemon's config turns it on). */
  upnp?: boolean
}

/**
 * The version of the swarm's topic and sync protocol: it moves with the record format
 * (`RECORD_FORMAT`, src/state/records.ts), so daemons of two formats never strike each other.
 */
export const SWARM_PROTOCOL_VERSION = 2

export function stateTopic (swarm: string): string { return `/swarmd/${swarm}/state/${SWARM_PROTOCOL_VERSION}` }
export function syncProtocol (swarm: string): string { return `/swarmd/${swarm}/sync/${SWARM_PROTOCOL_VERSION}` }

/** A connection as the status shows it. */
/** What the network is doing, as plain data: for the status page and `swarmd status`. */
export interface NetworkSnapshot {
  peerId: string
  listen: string[]
  /** How peers reach this node: a public address, a relay's slot, or neither. */
  reachability: Reachability
  /** Relays this node holds a slot on (behind NAT), and whether it relays for others. */
  relays: { holding: string[], serving: boolean }
  /** Connected peers, one entry each. */
  peers: PeerView[]
  /** Connected peers subscribed to this swarm's topic. */
  topicPeers: number
  sync: SyncStats
  gossip: GossipStats & { repairs: number }
  rejections: { reject: number, ignore: number, recent: Rejection[] }
  blocked: string[]
  /** The bootstrap peers: reached or not, and why not. */
  bootstrap: BootstrapStatus[]
}

/** Everything peer to peer for one swarm: the libp2p node, gossip, sync, blobs, dialling. */
export class SwarmNetwork {
  readonly penalties: PeerPenalties
  readonly inboundLimiter: InboundLimiter
  readonly rateLimit: GossipRateLimit
  readonly syncBudget: SyncServeBudget
  private libp2pNode: SwarmdLibp2p | undefined
  private paths: ConnectionPaths | undefined
  private gossipService: GossipReplication | undefined
  private syncService: SyncService | undefined
  private blobService: BlobService | undefined
  private dialer: BootstrapDialer | undefined
  private watchdog: GossipWatchdog | undefined
  private readonly onDiscovery = (evt: CustomEvent<PeerInfo>): void => { this.dialDiscovered(evt.detail) }

  constructor (private readonly components: SwarmNetworkComponents, private readonly init: SwarmNetworkInit) {
    this.penalties = new PeerPenalties(components.clock, {
      strikeLimit: init.strikeLimit,
      blockMs: init.blockMs,
      ...(init.blocklistPath !== undefined ? { file: new BlocklistFile(init.blocklistPath) } : {}),
      ...(components.onRejection !== undefined ? { onRecord: components.onRejection } : {})
    })
    this.inboundLimiter = new InboundLimiter({ maxPendingPerIp: init.maxPendingPerIp, maxPendingPerRange: init.maxPendingPerRange })
    this.rateLimit = new GossipRateLimit(components.clock, { perAuthorPerMinute: init.gossipRecordsPerPeerPerMinute, perLinkPerMinute: init.gossipRecordsPerLinkPerMinute, bytesPerLinkPerMinute: init.gossipBytesPerLinkPerMinute })
    this.syncBudget = new SyncServeBudget(components.clock, { requestsPerPeerPerMinute: init.syncRequestsPerPeerPerMinute, bytesPerPeerPerMinute: init.syncBytesPerPeerPerMinute })
  }

  /** This node's addresses with `/p2p/<id>`, public ones included before AutoNAT confirms them. */
  listenAddrs (): string[] {
    return ownAddresses(this.libp2p).map((a) => a.multiaddr.toString())
  }

  /** Whether this node relays for peers behind NAT: `on`, or `auto` and this node is one of its own bootstrap peers. */
  servesRelay (): boolean {
    const mode = this.init.relay ?? 'off'
    if (mode !== 'auto') return mode === 'on'
    const self = peerIdFromPrivateKey(this.components.privateKey).toString()
    return this.init.bootstrap.some((addr) => addr.endsWith(`/p2p/${self}`))
  }

  get libp2p (): SwarmdLibp2p { return this.need(this.libp2pNode) }
  get gossip (): GossipReplication { return this.need(this.gossipService) }
  get sync (): SyncService { return this.need(this.syncService) }
  get blobs (): BlobService { return this.need(this.blobService) }
  /** Gossip links rebuilt because a swarm member was connected but off the topic. */
  get gossipRepairs (): number { return this.watchdog?.stats.repairs ?? 0 }
  /** Peers, topic, sync, gossip and rejections now (the 20 latest rejections). */
  snapshot (): NetworkSnapshot {
    const libp2p = this.libp2p
    return {
      peerId: libp2p.peerId.toString(),
      listen: this.listenAddrs(),
      reachability: reachabilityOf(ownAddresses(libp2p)),
      relays: { holding: libp2p.services.relayReservations.held(), serving: this.servesRelay() },
      peers: peerList(libp2p.getConnections(), (c) => this.need(this.paths).pathOf(c)),
      topicPeers: libp2p.services.pubsub.getSubscribers(stateTopic(this.init.swarm)).length,
      sync: { ...this.sync.stats },
      gossip: { ...this.gossip.stats, repairs: this.gossipRepairs },
      rejections: { ...this.penalties.totals, recent: this.penalties.recent().slice(0, 20) },
      blocked: this.penalties.blocked(),
      bootstrap: this.dialer?.status() ?? []
    }
  }

  /** Gossipsub's score of a connected (or recently seen) peer: negative means penalised. */
  gossipScore (peer: PeerId | string): number {
    return gossipScoring(this.libp2p.services.pubsub).getScore(peer.toString())
  }

  async start (): Promise<void> {
    if (this.libp2pNode !== undefined) return
    // Blocks from the last run hold before the first connection is accepted.
    await this.penalties.load()
    const relayMaxBytes = this.init.relayMaxBytes ?? RELAY_SERVER_DEFAULTS.maxBytes
    const relayGate = this.servesRelay()
      ? new RelayGate({
        memberProtocol: syncProtocol(this.init.swarm),
        perRange: RELAY_SLOTS_PER_RANGE,
        slotTtlMs: RELAY_RESERVATION_TTL_MS,
        bytesPerConnection: relayMaxBytes,
        bytesPerRangePerHour: this.init.relayBytesPerRangePerHour ?? RELAY_SERVER_DEFAULTS.bytesPerRangePerHour,
        bytesPerHour: this.init.relayBytesPerHour ?? RELAY_SERVER_DEFAULTS.bytesPerHour,
        clock: this.components.clock
      })
      : undefined
    const libp2p = await createLibp2pNode({
      privateKey: this.components.privateKey,
      listen: this.init.listen,
      bootstrap: this.init.bootstrap,
      mdns: this.init.mdns,
      maxConnections: this.init.maxConnections,
      maxIncomingPendingConnections: this.init.maxIncomingPendingConnections,
      isBlocked: (peer) => this.penalties.isBlocked(peer.toString()),
      inboundUpgradeTimeoutMs: this.init.inboundUpgradeTimeoutMs,
      inboundLimiter: this.inboundLimiter,
      score: { topic: stateTopic(this.init.swarm), strikeLimit: this.init.strikeLimit, ipColocationThreshold: this.init.gossipIpColocationThreshold, ...(this.components.appScore !== undefined ? { appScore: this.components.appScore } : {}) },
      ...(relayGate !== undefined ? { relay: { maxReservations: this.init.relayMaxReservations ?? RELAY_SERVER_DEFAULTS.maxReservations, maxBytes: relayMaxBytes, maxDurationMs: this.init.relayMaxDurationMs ?? RELAY_SERVER_DEFAULTS.maxDurationMs, gate: relayGate } } : {}),
      upnp: this.init.upnp ?? false,
      ...(this.components.libp2pMetrics !== undefined ? { metrics: this.components.libp2pMetrics } : {})
    })
    this.libp2pNode = libp2p
    if (relayGate !== undefined && libp2p.services.relay !== undefined) relayGate.attach(libp2p, libp2p.services.relay.reservations)
    this.paths = new ConnectionPaths(libp2p)
    const punish = (peer: PeerId): void => { void libp2p.hangUp(peer).catch(() => {}) }
    this.syncService = new SyncService({ libp2p, replica: this.components.replica, penalties: this.penalties, rng: this.components.rng, punish, budget: this.syncBudget, clock: this.components.clock }, {
      protocol: syncProtocol(this.init.swarm),
      antiEntropyMs: this.init.antiEntropyMs,
      ...(this.init.syncIdleMs !== undefined ? { idleMs: this.init.syncIdleMs } : {})
    })
    const sync = this.syncService
    this.gossipService = new GossipReplication({ libp2p, replica: this.components.replica, penalties: this.penalties, rateLimit: this.rateLimit, punish, requestPull: (peer) => { sync.requestPull(peer) } }, {
      topic: stateTopic(this.init.swarm)
    })
    this.blobService = new BlobService({ libp2p, store: this.components.blobStore, penalties: this.penalties, punish, clock: this.components.clock }, {
      ...(this.init.blobRequestsPerPeerPerMinute !== undefined ? { requestsPerPeerPerMinute: this.init.blobRequestsPerPeerPerMinute } : {}),
      ...(this.init.blobIdleMs !== undefined ? { idleMs: this.init.blobIdleMs } : {})
    })
    // Handlers before start(), or the first syncs of early connections are missed (DESIGN §1).
    await this.syncService.start()
    await this.blobService.start()
    libp2p.addEventListener('peer:discovery', this.onDiscovery)
    // kad-dht and identify read with no bound on a length prefix: guard them (src/p2p/prefix-guard.ts),
    // each violation a strike like a malformed sync or blob frame; so is DCUtR off a relayed connection.
    const strike = (protocol: string, peer: string, fault = `endless length prefix on ${protocol}`): void => {
      if (this.penalties.record({ peer, channel: 'libp2p', verdict: 'reject', fault })) punish(peerIdFromString(peer))
    }
    guardLibp2pStreams(libp2p, strike)
    colocateConnectedOnly(libp2p.services.pubsub)
    await libp2p.start()
    await guardLibp2pHandlers(libp2p, strike)
    this.gossipService.start()
    this.dialer = new BootstrapDialer({ libp2p, rng: this.components.rng, ...(this.components.log !== undefined ? { log: this.components.log } : {}) }, this.init.bootstrap)
    this.dialer.start()
    this.watchdog = new GossipWatchdog({ libp2p, clock: this.components.clock }, { topic: stateTopic(this.init.swarm), syncProtocol: syncProtocol(this.init.swarm) })
    this.watchdog.start()
  }

  async stop (): Promise<void> {
    const libp2p = this.libp2pNode
    if (libp2p === undefined) return
    this.dialer?.stop()
    this.watchdog?.stop()
    this.gossipService?.stop()
    await this.blobService?.stop()
    await this.syncService?.stop()
    libp2p.removeEventListener('peer:discovery', this.onDiscovery)
    await libp2p.stop()
    await this.penalties.flush()
    this.libp2pNode = undefined
  }

  /** Block an author proven to lie (equivocation evidence) and drop its connection, if any. */
  banAuthor (author: string): void {
    this.penalties.ban(author, 'gossip', 'EQUIVOCATION')
    const libp2p = this.libp2pNode
    if (libp2p !== undefined) void libp2p.hangUp(peerIdFromString(author)).catch(() => {})
  }

  /** Dial a peer by multiaddr (used by `swarmd connect` and after a partition heals). */
  /**
   * Dial `addr` (an address with /p2p/ is checked against the key the peer proves in the
   * handshake), then wait for identify to tell whether it serves this swarm: a daemon of
   * another swarm, or anything else that speaks libp2p, answers too.
   */
  async connect (addr: string, signal?: AbortSignal): Promise<{ peerId: string, member: boolean }> {
    const connection = await this.libp2p.dial(multiaddr(addr), { signal: signal ?? AbortSignal.timeout(10_000) })
    const member = await servesProtocol(this.libp2p, connection.remotePeer, syncProtocol(this.init.swarm), 5_000)
    return { peerId: connection.remotePeer.toString(), member }
  }

  /** libp2p 3 does not dial discovered peers by itself (DESIGN §1). */
  private dialDiscovered (info: PeerInfo): void {
    const libp2p = this.libp2pNode
    if (libp2p === undefined || info.id.equals(libp2p.peerId)) return
    if (libp2p.getConnections(info.id).length > 0) return
    if (this.penalties.isBlocked(info.id.toString())) return
    void libp2p.dial(info.id, { signal: AbortSignal.timeout(10_000) }).catch(() => {})
  }

  private need<T> (value: T | undefined): T {
    if (value === undefined) throw new SwarmdError('NOT_STARTED', 'the swarm network is not started (call start() first)')
    return value
  }
}
