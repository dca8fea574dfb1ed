import type { ClaimBook } from '../claims/claim-book.js'
import type { SourceBlobs } from '../claims/claim-request.js'
import type { HypothesisBook } from '../claims/hypotheses.js'
import type { ResultPublisher } from '../claims/publish.js'
import type { CorpusProgress } from '../corpus/web-corpus.js'
import type { NetworkSnapshot } from '../p2p/swarm-network.js'
import type { Tier } from '../state/record-kinds.js'
import type { Confinement } from '../runner/confinement.js'
import type { Profile } from '../runner/harness.js'
import type { RecordCounts } from '../state/swarm-state.js'
import type { TrustLedger } from '../trust/trust-ledger.js'

/**
 * The ports the local API is served through: only what it uses, each named (as js-libp2p's
 * components are), so the API depends on no daemon and its tests need no libp2p node.
 */

/** What a starting daemon is doing: `GET /api/status` answers this until it has joined its swarm. */
export type StartupView =
  | { phase: 'starting' }
  | { phase: 'corpus', corpus: Exclude<CorpusProgress, { phase: 'ready' }> }

/** The network as the API sees it: a snapshot to show, and a dial on request. */
export interface NetworkPort {
  snapshot(): NetworkSnapshot
  /** Dial a multiaddr; the remote peer id. */
  /** Dial a peer; `member`: whether it serves this swarm (identify lists its sync protocol). */
  connect(addr: string): Promise<{ peerId: string, member: boolean }>
}

/** The run a research loop has under way, for the status page. */
export interface CurrentRunView {
  claimId: string
  description: string
  startedAt: number
  step: number
  lossBpb: number | null
  /** Its budget: seconds of training, or a step limit. */
  budget: { seconds: number } | { steps: number }
  /** The share of its budget done (0 to 1), and the time it has left; null before its first step. */
  fraction: number
  leftMs: number | null
}

/** What this node researches on and how its research loops are doing (`research` in the status). */
export interface ResearchStatus {
  agent: 'none' | 'builtin' | 'command'
  profile: Profile
  tier: Tier
  harness: string
  /** The web corpus a gpu profile trains and evaluates on (part of its swarm's identity). */
  corpus: { dataset: string, trainBytes: number, valBytes: number, valSha256: string } | null
  hardware: { gpu: string, vramGb: number }
  python: { path: string, torch: string } | null
  /** The step count runs stop at; null: the profile's time budget. Only runs to one budget compare. */
  maxSteps: number | null
  /** What confines peers' code here (src/runner/confinement.ts); null when no agent runs experiments. */
  confinement: Confinement | null
  workers: number
  current: CurrentRunView | null
  running: CurrentRunView[]
  /** The loops' counts together; `verifications` are peers' results re-run here, `verificationsLeft` those left to peers that claimed them first. */
  stats: { experiments: number, crashes: number, failedProposals: number, duplicatesAvoided: number, verifications: number, verificationsLeft: number, lastOverheadMs: number | null } | null
}

/** How the API fills in a claim an agent sends, and which runs count towards the best. */
export interface ResearchDefaults {
  tier: Tier
  /** A claim's ttl when the agent names none. */
  claimTtlMs: number
  /** The harness's default train.py: the source of parent null. */
  defaultSource: string
  /** Set when runs stop after a fixed step count: only runs to that budget compare. */
  maxSteps: number | undefined
}

/** Everything the API serves from once the daemon has joined its swarm. */
export interface ApiServices {
  /** The swarm's name as the user gave it. */
  swarm: string
  /** When this daemon started (its uptime on the page). */
  startedAt: number
  /**
   * What keeps this node from working fully, in words, as the daemon found it at start (no
   * Python, no corpus, no sandbox, no model); the status adds what the network shows now.
   */
  problems: () => string[]
  network: NetworkPort
  research: () => ResearchStatus
  defaults: ResearchDefaults
  /** Records per kind in the replicated state. */
  counts: () => RecordCounts
  /** A digest of the replicated records: equal on two daemons iff they hold the same ones (`SwarmState.contentDigest`). */
  digest: () => string
  /** Claims with dedup, heartbeat and release; its ledger is the read model of claims and results. */
  claims: ClaimBook
  hypotheses: HypothesisBook
  trust: TrustLedger
  /** Content-addressed blobs: stored here, fetched from peers when missing; `get` checks the hash. */
  blobs: SourceBlobs
  publisher: ResultPublisher
}
