import type { PeerScoreParams, PeerScoreThresholds } from '@libp2p/gossipsub/score'

export interface GossipScoreInit {
  /** The swarm's state topic: the only topic we score. */
  topic: string
  /** REJECTs from one peer before it is cut off (config `strikeLimit`): graylisting lands with the last strike. */
  strikeLimit: number
  /** Peers from one IP address tolerated before each extra one costs score (config `gossipIpColocationThreshold`). */
  ipColocationThreshold: number
  /**
   * What the application knows about a peer that gossip cannot see (P5), e.g. caught reporting
   * numbers that did not reproduce: its records are valid, its word is not. Default 0 for all.
   */
  appScore?: (peerId: string) => number
}

/**
 * P5 for a peer whose valid records misbehave (caught lying about results, hypothesis spam, claim
 * squatting): below the publish threshold (-50), so nothing is sent to it, above the graylist.
 */
export const MISBEHAVING_PEER_SCORE = -100

/**
 * P5 per strike a peer holds in the penalty box (src/p2p/peer-penalties.ts), whatever the channel:
 * a malformed sync or blob frame or a broken length prefix costs gossip score too, not only the
 * gossip messages gossipsub itself sees REJECTed (those count twice: 3 cost -90 - 30). Strikes
 * last until the peer is blocked at `strikeLimit`.
 */
export const STRIKE_SCORE = -10

/**
 * Score of one invalid (REJECTed) message, squared by gossipsub (P4 = weight x count²): 1 invalid
 * message costs 10, 2 cost 40, 3 cost 90, 5 cost 250.
 */
export const INVALID_MESSAGE_WEIGHT = -10

/** Score of one peer over the colocation threshold, squared (P6): 5 extra peers on one IP cost 25 each. */
export const IP_COLOCATION_WEIGHT = -1

/**
 * Score of one behaviour penalty unit, squared (P7). A gossip message over the per-peer rate budget
 * adds one unit (src/p2p/gossip-rate-limit.ts), as do gossipsub's own broken IWANT promises and
 * GRAFTs during backoff: 10 excess messages cost 1,000, far below the graylist.
 */
export const BEHAVIOUR_PENALTY_WEIGHT = -10

/** Per-second decay giving a half-life of `seconds` (gossipsub decays counters once a second). */
function halfLife (seconds: number): number {
  return Math.pow(0.5, 1 / seconds)
}

/**
 * Peer-score parameters for our state topic. The libp2p defaults score no topic at all (an invalid
 * message cost a peer nothing), and their mesh-delivery terms (P3: at least 20 messages per 10 s
 * from every mesh peer) would punish every honest peer in a swarm that writes a few records a
 * minute. So: P3/P3b off; P4 (invalid messages) heavy and slow to fade; a little credit for time in
 * the mesh and first deliveries so an honest long-time peer sits above zero.
 */
export function gossipScoreParams (init: GossipScoreInit): Partial<PeerScoreParams> {
  return {
    topics: {
      [init.topic]: {
        topicWeight: 1,
        // P1: up to +5 after an hour in the mesh.
        timeInMeshWeight: 5 / 3600,
        timeInMeshQuantum: 1000,
        timeInMeshCap: 3600,
        // P2: +1 per record first delivered to us, capped at +5, fading over a minute.
        firstMessageDeliveriesWeight: 1,
        firstMessageDeliveriesDecay: halfLife(60),
        firstMessageDeliveriesCap: 5,
        // P3/P3b off: our traffic is a few records a minute, nowhere near a delivery quota.
        meshMessageDeliveriesWeight: 0,
        meshMessageDeliveriesDecay: 0.5,
        meshMessageDeliveriesCap: 1,
        meshMessageDeliveriesThreshold: 1,
        meshMessageDeliveriesWindow: 10,
        meshMessageDeliveriesActivation: 5000,
        meshFailurePenaltyWeight: 0,
        meshFailurePenaltyDecay: 0.5,
        // P4: each REJECT counts, squared; half of it is forgiven after 2 minutes.
        invalidMessageDeliveriesWeight: INVALID_MESSAGE_WEIGHT,
        invalidMessageDeliveriesDecay: halfLife(120)
      }
    },
    // Positive topic credit stays small: it must never outweigh a few invalid messages.
    topicScoreCap: 10,
    appSpecificScore: (peerId: string) => init.appScore?.(peerId) ?? 0,
    appSpecificWeight: 1,
    IPColocationFactorWeight: IP_COLOCATION_WEIGHT,
    IPColocationFactorThreshold: init.ipColocationThreshold,
    behaviourPenaltyWeight: BEHAVIOUR_PENALTY_WEIGHT,
    behaviourPenaltyThreshold: 0,
    // A flood's penalty halves every 10 s: a 2,000-message flood keeps its sender graylisted ~2 minutes.
    behaviourPenaltyDecay: halfLife(10),
    decayInterval: 1000,
    decayToZero: 0.01,
    // A peer cannot reset its score by reconnecting within an hour (libp2p default).
    retainScore: 3600 * 1000
  }
}

/**
 * Thresholds in the same units. With P4 = -10 x n²: one invalid message (-10) already takes a
 * peer out of our mesh at the next heartbeat (negative score); 2 (-40) stop gossip (IHAVE/IWANT)
 * with it; 3 (-90) stop our publishes to it; at `strikeLimit` (5: -250) it is graylisted (its RPCs
 * are dropped unread) at the moment the strike counter disconnects and blocks it.
 */
export function gossipScoreThresholds (init: Pick<GossipScoreInit, 'strikeLimit'>): Partial<PeerScoreThresholds> {
  const atStrikeLimit = INVALID_MESSAGE_WEIGHT * init.strikeLimit * init.strikeLimit
  const beforeStrikeLimit = INVALID_MESSAGE_WEIGHT * (init.strikeLimit - 1) * (init.strikeLimit - 1)
  const graylistThreshold = Math.min(-80, (atStrikeLimit + beforeStrikeLimit) / 2)
  return {
    gossipThreshold: -20,
    publishThreshold: Math.max(graylistThreshold, -50),
    graylistThreshold,
    acceptPXThreshold: 10,
    opportunisticGraftThreshold: 5
  }
}

/**
 * The scoring side of the gossipsub service. @libp2p/gossipsub 17 has `getScore` and `score` on
 * its class but not on its exported `GossipSub` interface.
 */
export interface GossipScoring {
  getScore(peerId: string): number
  score: { addPenalty(peerId: string, penalty: number, label: string): void }
}

export function gossipScoring (pubsub: object): GossipScoring {
  const scoring = pubsub as Partial<GossipScoring>
  if (typeof scoring.getScore !== 'function' || typeof scoring.score?.addPenalty !== 'function') {
    throw new Error('the gossipsub service exposes no peer score (expected @libp2p/gossipsub 17)')
  }
  return scoring as GossipScoring
}

/** The internals of gossipsub 17's PeerScore that `colocateConnectedOnly` reaches into. */
interface PeerScoreInternals {
  removePeer(id: string): void
  removeIPsForPeer(id: string, ips: Set<string>): void
  peerStats: Map<string, { connected: boolean, knownIPs: Set<string> }>
}

/**
 * Count only connected peers for IP colocation (P6). Gossipsub keeps a departed peer's score for
 * `retainScore` (an hour), its IPs too: twenty identities that connect and leave from an honest
 * peer's address (a shared NAT, a VPN) held that peer's score down for the hour. The departed
 * peer's own score is still kept (it cannot reset it by reconnecting); its addresses no longer
 * count against those still there. A reconnection adds them back.
 */
export function colocateConnectedOnly (pubsub: object): void {
  const score = (pubsub as { score?: Partial<PeerScoreInternals> }).score
  if (typeof score?.removePeer !== 'function' || typeof score.removeIPsForPeer !== 'function' || !(score.peerStats instanceof Map)) {
    throw new Error('the gossipsub service has no peer score internals to patch (expected @libp2p/gossipsub 17)')
  }
  const internals = score as PeerScoreInternals
  const removePeer = internals.removePeer.bind(internals)
  internals.removePeer = (id: string): void => {
    removePeer(id)
    const retained = internals.peerStats.get(id)
    if (retained !== undefined && !retained.connected) internals.removeIPsForPeer(id, retained.knownIPs)
  }
}
