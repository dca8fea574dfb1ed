import '../util/polyfill.js'
import { autoNATv2 } from '@libp2p/autonat-v2'
import { bootstrap } from '@libp2p/bootstrap'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { uPnPNAT } from '@libp2p/upnp-nat'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import type { Libp2pOptions } from 'libp2p'
import { gossipScoreParams, gossipScoreThresholds } from './gossip-score.js'
import { guardOutboundPrefixes, guardProtocolPrefixes, wrapHandler } from './prefix-guard.js'
import { isRelayed } from './reachability.js'
import { relayReservations } from './relay-reservations.js'
import { RELAY_RESERVATION_TTL_MS } from './relay-limits.js'
import type { RelayServerLimits } from './relay-limits.js'
import type { RelayGate } from './relay-gate.js'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { RelayReservations } from './relay-reservations.js'
import type { InboundLimiter } from './inbound-limiter.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ed25519PrivateKey, Libp2p, PeerDiscovery, PeerId } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

export type SwarmdServices = {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  dht: KadDHT
  relayReservations: RelayReservations
  /** Only on a daemon that relays for others (`relay` set). */
  relay?: CircuitRelayService
}

export type SwarmdLibp2p = Libp2p<SwarmdServices>

/** What libp2p takes as `metrics`: e.g. `prometheusMetrics({ registry })` from `@libp2p/prometheus-metrics`. */
export type Libp2pMetricsFactory = NonNullable<Libp2pOptions['metrics']>

export interface Libp2pNodeOptions {
  privateKey: Ed25519PrivateKey
  /** Multiaddrs to listen on, e.g. `/ip4/0.0.0.0/tcp/4001`. */
  listen: string[]
  /** Bootstrap multiaddrs (each ending in `/p2p/<peerId>`). */
  bootstrap: string[]
  mdns: boolean
  /** Connection limits: see config defaults for where the numbers come from. */
  maxConnections: number
  maxIncomingPendingConnections: number
  /** Refuse connections from and to these peers (the penalty box). */
  isBlocked: (peer: PeerId) => boolean
  /** An inbound connection must finish its upgrade (noise + yamux) within this, in ms. */
  inboundUpgradeTimeoutMs: number
  /** Per-IP cap on inbound connections mid-upgrade. */
  inboundLimiter: InboundLimiter
  /** Gossipsub peer scoring of the state topic (src/p2p/gossip-score.ts). */
  score: { topic: string, strikeLimit: number, ipColocationThreshold: number, appScore?: (peerId: string) => number }
  /** Serve as a circuit relay for peers behind NAT, within these bounds, to whom `gate` admits; undefined: no relay service. */
  relay?: RelayServerLimits & { gate: RelayGate }
  /** Ask the router for a port mapping by UPnP (or NAT-PMP). */
  upnp: boolean
  /** libp2p's metrics service; absent: none. */
  metrics?: Libp2pMetricsFactory
}


/** DHT protocol of our own: a swarmd DHT never mixes with the public IPFS one. */
export const DHT_PROTOCOL = '/swarmd/kad/1.0.0'

/**
 * The libp2p node as DESIGN §1 fixes it: TCP + noise + yamux, identify, ping, bootstrap,
 * mDNS, kad-dht in LAN mode and gossipsub; and for volunteers behind NAT (issue 17) the circuit
 * relay transport with a slot on a connected relay (src/p2p/relay-reservations.ts), AutoNAT, DCUtR
 * and, unless turned off, UPnP; a relay service when `relay` is set. Created stopped: register
 * handlers first.
 */
export async function createLibp2pNode (opts: Libp2pNodeOptions): Promise<SwarmdLibp2p> {
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = []
  if (opts.bootstrap.length > 0) peerDiscovery.push(bootstrap({ list: opts.bootstrap, timeout: 100 }))
  if (opts.mdns) peerDiscovery.push(mdns({ serviceTag: 'swarmd.local', interval: 10_000 }))
  return createLibp2p({
    start: false,
    privateKey: opts.privateKey,
    addresses: { listen: opts.listen },
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery,
    ...(opts.metrics !== undefined ? { metrics: opts.metrics } : {}),
    connectionManager: {
      maxConnections: opts.maxConnections,
      maxIncomingPendingConnections: opts.maxIncomingPendingConnections,
      inboundUpgradeTimeout: opts.inboundUpgradeTimeoutMs
    },
    connectionGater: {
      // Loopback and LAN addresses are how volunteers on one network (and the tests) meet.
      denyDialMultiaddr: () => false,
      denyDialPeer: (peer) => opts.isBlocked(peer),
      denyInboundConnection: (maConn) => !opts.inboundLimiter.admit(maConn),
      denyInboundEncryptedConnection: (peer) => opts.isBlocked(peer),
      denyInboundUpgradedConnection: (_peer, maConn) => {
        opts.inboundLimiter.release(maConn)
        return false
      },
      denyOutboundEncryptedConnection: (peer) => opts.isBlocked(peer),
      denyInboundRelayReservation: async (peer) => await opts.relay?.gate.denyReservation(peer) ?? true,
      denyOutboundRelayedConnection: async (source, destination) => await opts.relay?.gate.denyRelayedConnection(source, destination) ?? true
    },
    services: {
      // Run by `guardLibp2pStreams` instead, once its stream is guarded (src/p2p/prefix-guard.ts).
      identify: identify({ runOnConnectionOpen: false }),
      ping: ping(),
      pubsub: gossipsub({
        // A lone daemon must be able to write: its records reach others by sync later.
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        // Frames above ~4 MiB vanish silently (DESIGN §1); records are <= 64 KiB, so
        // anything near this limit is hostile.
        maxInboundDataLength: 1024 * 1024,
        scoreParams: gossipScoreParams(opts.score),
        scoreThresholds: gossipScoreThresholds(opts.score)
      }),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        // The default mapper strips private addresses and every LAN query hangs.
        peerInfoMapper: passthroughMapper
      }),
      autoNAT: autoNATv2(),
      dcutr: dcutr(),
      relayReservations: relayReservations(),
      ...(opts.relay !== undefined ? { relay: relayServer(opts.relay) } : {}),
      // A port the home router says it forwards is taken as reachable at once: AutoNAT confirms an
      // address only on new connections, so a home node with one peer would wait for a second one.
      ...(opts.upnp ? { upnp: uPnPNAT({ portMappingDescription: 'swarmd', autoConfirmAddress: true }) } : {})
    }
  })
}

function relayServer (limits: RelayServerLimits): ReturnType<typeof circuitRelayServer> {
  return circuitRelayServer({
    reservations: {
      maxReservations: limits.maxReservations,
      reservationTtl: RELAY_RESERVATION_TTL_MS,
      applyDefaultLimit: true,
      defaultDataLimit: BigInt(limits.maxBytes),
      defaultDurationLimit: limits.maxDurationMs
    }
  })
}

/**
 * Largest frame each of libp2p's own length-prefixed protocols reads: kad-dht uses pbStream's
 * default (4 MiB); identify caps a message at 8 KiB (`MAX_IDENTIFY_MESSAGE_SIZE`), AutoNAT v2 at
 * 8 KiB (`MAX_MESSAGE_SIZE`, dial data comes in 4 KiB chunks) and DCUtR at 4 KiB, each given room
 * here. Unguarded, one AutoNAT stream of 0xFF bytes had the daemon read 8 MiB of prefix, its API
 * stalled 3.5 s and its RSS grew from 121 to 453 MB (an outside attack on this code).
 * Circuit relay's hop and stop streams are not here: after their handshake they carry the relayed
 * connection's own bytes, which no prefix describes.
 */
export const LIBP2P_PROTOCOL_FRAME_LIMITS: Record<string, number> = {
  [DHT_PROTOCOL]: 4 * 1024 * 1024,
  '/ipfs/id/1.0.0': 64 * 1024,
  '/ipfs/id/push/1.0.0': 64 * 1024,
  '/libp2p/autonat/2/dial-request': 16 * 1024,
  '/libp2p/autonat/2/dial-back': 16 * 1024,
  '/libp2p/dcutr': 16 * 1024
}

/**
 * Put the endless-length-prefix guard (src/p2p/prefix-guard.ts) on every stream we open to a peer
 * for kad-dht or identify, and identify each new connection once its streams are guarded;
 * `onViolation` hears of each. Call before `libp2p.start()`, then `guardLibp2pHandlers` after it.
 */
export function guardLibp2pStreams (libp2p: SwarmdLibp2p, onViolation?: (protocol: string, peer: string) => void): void {
  guardOutboundPrefixes(libp2p, LIBP2P_PROTOCOL_FRAME_LIMITS, onViolation, (connection) => {
    void libp2p.services.identify.identify(connection).catch(() => {})
  })
}

/**
 * The same guard in front of kad-dht's and identify's handlers (streams peers open to us), with the
 * same limits. Call right after `libp2p.start()`: services register their handlers on start.
 */
export async function guardLibp2pHandlers (libp2p: SwarmdLibp2p, onViolation?: (protocol: string, peer: string, fault?: string) => void): Promise<void> {
  await guardProtocolPrefixes(libp2p, LIBP2P_PROTOCOL_FRAME_LIMITS, onViolation)
  await guardRelayedOnly(libp2p, RELAYED_ONLY_PROTOCOLS, onViolation)
}

/**
 * Protocols only a relayed connection carries. DCUtR upgrades a relayed connection to a direct
 * one; libp2p's handler never checks that the connection is relayed, so a peer on a direct
 * connection made this node dial whatever public addresses its CONNECT named, 25 per message
 * (an outside attack: 4 identities, 10,000 SYNs to addresses of their choosing in 30 s).
 */
export const RELAYED_ONLY_PROTOCOLS = ['/libp2p/dcutr']

/** Re-register the handlers of `protocols` so a stream on a direct connection is reset unread, and `onViolation` told. */
async function guardRelayedOnly (libp2p: SwarmdLibp2p, protocols: string[], onViolation?: (protocol: string, peer: string, fault: string) => void): Promise<void> {
  for (const protocol of protocols) {
    await wrapHandler(libp2p, protocol, (original) => (stream, connection) => {
      if (isRelayed(connection)) return original(stream, connection)
      onViolation?.(protocol, connection.remotePeer.toString(), `${protocol} on a direct connection`)
      stream.abort(new Error(`${protocol} on a direct connection`))
    })
  }
}
