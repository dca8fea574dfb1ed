import { z } from 'zod'
import { TIERS, deltaEntry, hypothesisBody, resultBody } from '../state/record-kinds.js'
import type { ResearchStatus } from './api-ports.js'
import type { NetworkSnapshot } from '../p2p/swarm-network.js'
import type { RecordCounts } from '../state/swarm-state.js'

/**
 * The local API's contract: every request and reply body as a zod schema, with its type inferred.
 * The server parses requests with these, its views are typed by them, and the CLI client and the
 * test helpers parse replies with them, so a change to one side that the other does not follow
 * fails to compile or fails loudly, never silently. docs/agent-api.md describes the same bodies.
 */

const id = z.string().min(1)
const DEDUP_LAYERS = ['exact', 'structured', 'code', 'semantic'] as const
const CLAIM_STATUSES = ['active', 'expired', 'released', 'finished'] as const
const TRUST_STATUSES = ['self', 'trusted', 'refuted', 'not-reproduced', 'unverified'] as const

// Requests.

/** `POST /api/claims`: an experiment an agent is about to run. */
export const claimRequest = z.strictObject({
  description: z.string().trim().min(1).max(500),
  /** The full train.py; without it the idea is claimed before the code exists. */
  code: z.string().optional(),
  /** Omitted: the tier's best result; null: the harness default train.py; else a result id (or unique prefix). */
  parent: z.string().min(1).nullable().optional(),
  /** A hypothesis id (or unique prefix) the experiment tests. */
  hypothesis: z.string().min(1).optional(),
  ttlMs: z.number().int().positive().max(24 * 3600_000).optional(),
  /**
   * Claims or results (ids, or unique prefixes) the agent judged distinct from this experiment after
   * a CLAIM_UNCERTAIN answer: in the semantic grey band they no longer count against it.
   */
  distinctFrom: z.array(z.string().min(1)).max(64).optional()
})

/** `POST /api/results`: a finished run of a claim this daemon holds. */
export const publishRequest = z.strictObject({
  /** The claim id, or a unique prefix of at least 8 characters. */
  claim: z.string().min(1),
  /** The run's full stdout: the metrics come from its summary block. */
  log: z.string(),
  /** train.py as it ran. */
  code: z.string(),
  /** Default: crash without a summary (or with numbers outside the sanity bounds), else keep when it beats the parent, else discard. */
  status: z.enum(['keep', 'discard', 'crash']).optional()
})

/** `POST /api/hypotheses`: the record's own body. */
export const hypothesisRequest = hypothesisBody

/** `POST /api/connect`. */
export const connectRequest = z.strictObject({ addr: z.string().min(1) })

// Replies.

/** Every error: `{error: {code, message}}`, plus the fields an error carries beside it. */
export const errorReply = z.object({ error: z.object({ code: z.string(), message: z.string() }) })

/** What a refused claim repeats (409 CLAIM_DUPLICATE, beside `error`). */
export const claimDuplicate = z.object({
  layer: z.enum(DEDUP_LAYERS),
  score: z.number().nullable(),
  conflict: z.object({ kind: z.enum(['claim', 'result']), id, author: id, description: z.string() })
})
export const claimDuplicateReply = errorReply.extend({ duplicate: claimDuplicate })
/** What a claim may repeat, in the grey band where the agent judges (409 CLAIM_UNCERTAIN, beside `error`): most similar first. */
export const claimUncertainReply = errorReply.extend({ candidates: z.array(claimDuplicate).min(1) })

/** The hypothesis a refused one repeats (409 HYPOTHESIS_DUPLICATE, beside `error`). */
export const hypothesisDuplicate = z.object({ id, title: z.string(), author: id, score: z.number().nullable() })
export const hypothesisDuplicateReply = errorReply.extend({ duplicate: hypothesisDuplicate })

/** A claim with where it stands now: `expiresAt` moves with each heartbeat. */
export const claimJson = z.object({
  id,
  author: id,
  createdAt: z.number(),
  description: z.string(),
  parent: id.nullable(),
  codeHash: id.nullable(),
  delta: z.array(deltaEntry),
  hypothesis: id.nullable(),
  tier: z.enum(TIERS),
  ttlMs: z.number(),
  expiresAt: z.number(),
  status: z.enum(CLAIM_STATUSES),
  releaseReason: z.enum(['aborted', 'yielded']).nullable(),
  results: z.array(id)
})
export const claimReply = z.object({ claim: claimJson })
export const claimsReply = z.object({ claims: z.array(claimJson) })

/**
 * A result: the record's body with its id, author and date; `duplicateOf` names the earlier result
 * it repeats (marked after a partition merged); `trust` says whether this node trusts its numbers.
 */
export const resultJson = resultBody.extend({
  id,
  author: id,
  createdAt: z.number(),
  duplicateOf: z.object({ of: id, layer: z.enum(DEDUP_LAYERS), score: z.number().nullable() }).nullable(),
  trust: z.enum(TRUST_STATUSES).nullable()
})
export const resultReply = z.object({ result: resultJson })
export const resultsReply = z.object({ results: z.array(resultJson) })
/**
 * `GET /api/best`: the tier's best trusted result among runs to this daemon's budget (`budget`:
 * "time budget" or "150 steps"), and unverified ones that beat it (never built on until reproduced).
 */
export const bestReply = z.object({ tier: z.enum(TIERS), budget: z.string(), best: resultJson.nullable(), candidates: z.array(resultJson) })

/**
 * `GET /api/default-source`: the harness's default train.py, the source of every result whose
 * parent is null, and its sha256 (hex, as a result's `codeHash`).
 */
export const defaultSourceReply = z.object({ codeHash: id, code: z.string() })

/** A hypothesis with its derived state: the active claims testing it and the results that did. */
export const hypothesisJson = z.object({
  id,
  key: z.string(),
  author: id,
  createdAt: z.number(),
  title: z.string(),
  text: z.string(),
  priority: z.number(),
  suggestedDelta: z.array(deltaEntry),
  evidence: z.array(z.string()),
  state: z.enum(['open', 'claimed', 'tested']),
  claims: z.array(id),
  outcomes: z.array(z.object({ result: id, author: id, status: z.enum(['keep', 'discard', 'crash']), valBpb: z.number().nullable() }))
})
export const hypothesisReply = z.object({ hypothesis: hypothesisJson })
export const hypothesesReply = z.object({ hypotheses: z.array(hypothesisJson) })

/** How many claims stand where, and how many results repeat an earlier one (partition duplicates). */
export const claimCounts = z.object({
  active: z.number(),
  expired: z.number(),
  released: z.number(),
  finished: z.number(),
  duplicateResults: z.number()
})

/** One connected peer, however many connections it holds (src/p2p/peer-list.ts). */
const peerJson = z.object({
  peerId: id,
  addr: z.string(),
  direction: z.enum(['inbound', 'outbound']),
  path: z.enum(['direct', 'relayed', 'hole-punched']),
  openedAt: z.number(),
  connections: z.number(),
  latencyMs: z.number().nullable()
})
export const peersReply = z.object({ peers: z.array(peerJson) })

/**
 * A result as a row of a table, a point of the chart or a link of a lineage: what it changed,
 * what it scored and to which budget (`budget`: "time budget" or "150 steps"; only results of one
 * tier and budget compare).
 */
export const resultSummaryJson = z.object({
  id,
  author: id,
  createdAt: z.number(),
  description: z.string(),
  status: z.enum(['keep', 'discard', 'crash']),
  valBpb: z.number().nullable(),
  tier: z.enum(TIERS),
  maxSteps: z.number().nullable(),
  budget: z.string(),
  parent: id.nullable(),
  trust: z.enum(TRUST_STATUSES).nullable(),
  /** Why it crashed, as the harness classified it. */
  crash: z.string().nullable(),
  duplicateOf: id.nullable()
})

/** `GET /api/history`: results newest first, a page at a time; `total` matches the filter. */
export const historyReply = z.object({ total: z.number(), offset: z.number(), results: z.array(resultSummaryJson) })

/** A re-run of a result by a peer (or this node), and what it measured. */
export const reproductionJson = z.object({
  author: id,
  createdAt: z.number(),
  valBpb: z.number().nullable(),
  crash: z.string().nullable(),
  /** Whether this node counts it towards the result's trust (its author has standing). */
  counts: z.boolean()
})

/**
 * `GET /api/results/<id>`: one result with what the page shows of it: its source, the diff against
 * its parent's (unified; null when either source cannot be had, `diffNote` says why), its log's
 * tail, who reproduced it with what number, and its lineage.
 */
export const resultDetailReply = z.object({
  result: resultJson,
  budget: z.string(),
  parent: resultSummaryJson.nullable(),
  /** The newest 50 children; `childCount` says how many in all. */
  children: z.array(resultSummaryJson),
  childCount: z.number(),
  reproductions: z.array(reproductionJson),
  /** Its train.py, up to 128 KiB; else null, and `sourceNote` says why. */
  source: z.string().nullable(),
  sourceNote: z.string().nullable(),
  diff: z.string().nullable(),
  diffNote: z.string().nullable(),
  log: z.object({ tail: z.string(), bytes: z.number() }).nullable()
})

/**
 * `GET /api/chart?tier=T&budget=B`: the ranked results of one arena, oldest first (crashes have
 * no number and are only counted; past 20,000, every keep and every new best, and an even sample
 * of the discards), as columns of equal length: `t` dates, `v` val_bpb, `s` one letter a result
 * (k keep, d discard), `mine` and `trusted` one digit a result (1: this node's, 1: trusted here),
 * `id` 12-digit id prefixes.
 */
export const chartReply = z.object({
  tier: z.enum(TIERS),
  maxSteps: z.number().nullable(),
  budget: z.string(),
  crashes: z.number(),
  /** Ranked results of the arena in all; more than the points when the discards were sampled. */
  ranked: z.number(),
  points: z.object({ t: z.array(z.number()), v: z.array(z.number()), s: z.string(), mine: z.string(), trusted: z.string(), id: z.array(z.string()) })
})

/** One arena: a tier's results to one budget, with the best trusted one, who found and who reproduced it. */
export const arenaJson = z.object({
  tier: z.enum(TIERS),
  maxSteps: z.number().nullable(),
  budget: z.string(),
  results: z.number(),
  crashes: z.number(),
  best: resultSummaryJson.nullable(),
  reproducedBy: z.array(reproductionJson)
})

/** `GET /api/status` once the daemon has joined its swarm; the research and network parts as their ports give them. */
export const statusReply = z.object({
  peerId: id,
  swarm: z.string(),
  research: z.custom<ResearchStatus>((v) => typeof v === 'object' && v !== null && 'profile' in v),
  listen: z.array(z.string()),
  reachability: z.enum(['public', 'unconfirmed', 'relayed', 'private']),
  relays: z.object({ holding: z.array(z.string()), serving: z.boolean() }),
  peers: z.array(peerJson),
  topicPeers: z.number(),
  sync: z.custom<NetworkSnapshot['sync']>((v) => typeof v === 'object' && v !== null),
  gossip: z.custom<NetworkSnapshot['gossip']>((v) => typeof v === 'object' && v !== null),
  rejections: z.custom<NetworkSnapshot['rejections']>((v) => typeof v === 'object' && v !== null),
  blocked: z.array(z.string()),
  bootstrap: z.array(z.object({ addr: z.string(), connected: z.boolean(), failures: z.number(), lastError: z.string().optional() })),
  counts: z.custom<RecordCounts>((v) => typeof v === 'object' && v !== null),
  claims: claimCounts,
  time: z.number(),
  startedAt: z.number(),
  /** This node's runs by outcome, the peers' results it re-ran, and its GPU hours. */
  self: z.object({ runs: z.number(), keeps: z.number(), discards: z.number(), crashes: z.number(), verifications: z.number(), gpuHours: z.number() }),
  /** Results of this harness, all arenas. */
  results: z.number(),
  arenas: z.array(arenaJson),
  /** What keeps this node from working fully, in words (empty: nothing). */
  problems: z.array(z.string())
})

export const connectReply = z.object({ peerId: id, member: z.boolean() })
export const blobReply = z.object({ hash: id })

export type ClaimRequestBody = z.infer<typeof claimRequest>
export type PublishRequestBody = z.infer<typeof publishRequest>
export type HypothesisRequestBody = z.infer<typeof hypothesisRequest>
export type ErrorReply = z.infer<typeof errorReply>
export type ClaimDuplicate = z.infer<typeof claimDuplicate>
export type ClaimUncertainReply = z.infer<typeof claimUncertainReply>
export type HypothesisDuplicate = z.infer<typeof hypothesisDuplicate>
export type ClaimJson = z.infer<typeof claimJson>
export type ResultJson = z.infer<typeof resultJson>
export type DefaultSourceJson = z.infer<typeof defaultSourceReply>
export type HypothesisJson = z.infer<typeof hypothesisJson>
export type ClaimCounts = z.infer<typeof claimCounts>
export type PeerJson = z.infer<typeof peerJson>
export type StatusJson = z.infer<typeof statusReply>
export type ResultSummaryJson = z.infer<typeof resultSummaryJson>
export type ReproductionJson = z.infer<typeof reproductionJson>
export type ArenaJson = z.infer<typeof arenaJson>
export type ChartJson = z.infer<typeof chartReply>
export type ResultDetailJson = z.infer<typeof resultDetailReply>
