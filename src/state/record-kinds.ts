import { z } from 'zod'

/** The replicated maps of a swarm's Y.Doc, one per record kind. */
export const MAP_FOR_KIND = {
  binding: 'bindings',
  hypothesis: 'hypotheses',
  claim: 'claims',
  heartbeat: 'heartbeats',
  release: 'releases',
  result: 'results',
  verification: 'verifications',
  best: 'best',
  equivocation: 'equivocations'
} as const

export type RecordKind = keyof typeof MAP_FOR_KIND
export type MapName = typeof MAP_FOR_KIND[RecordKind]

export const RECORD_KINDS = Object.keys(MAP_FOR_KIND) as RecordKind[]
export const MAP_NAMES = Object.values(MAP_FOR_KIND) as MapName[]

export function isMapName (name: string): name is MapName {
  return (MAP_NAMES as string[]).includes(name)
}

/**
 * Ties a Yjs client id to the author whose records that client writes (DESIGN §3). The id is not
 * chosen but derived from the author's key and a random session (src/state/client-id.ts), so
 * nobody can bind another author's client id to itself: a binding is valid on its own.
 */
export const bindingBody = z.strictObject({
  clientId: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  session: z.string().regex(/^[0-9a-f]{32}$/)
})

const scalar = z.union([z.string().max(200), z.number(), z.boolean(), z.null()])

/** One module-level constant of train.py changed from → to. */
export const deltaEntry = z.strictObject({
  name: z.string().min(1).max(100),
  from: scalar,
  to: scalar
})

const sha256 = z.string().regex(/^[0-9a-f]{64}$/)

/**
 * What the edit of train.py does beyond its constants (src/source/code-change.ts): the net tokens
 * it adds and removes against the parent, for the dedup pipeline's code layer.
 */
export const codeChangeBody = z.strictObject({
  added: z.array(z.string().max(100)).max(256),
  removed: z.array(z.string().max(100)).max(256)
})

/** Hardware tiers: results are compared only within one (DESIGN §4). */
export const TIERS = ['cpu', 'vram16', 'vram24', 'vram48', 'vram48plus'] as const
export type Tier = typeof TIERS[number]

/** Hypotheses: ideas for others to pick up (DESIGN §4). */
export const hypothesisBody = z.strictObject({
  title: z.string().trim().min(1).max(200),
  text: z.string().max(10_000),
  suggestedDelta: z.array(deltaEntry).max(32).optional(),
  evidence: z.array(z.string().max(200)).max(64).optional(),
  priority: z.number().int().min(0).max(10).optional()
})

/** A claim: what this node is about to run (DESIGN §4). */
export const claimBody = z.strictObject({
  description: z.string().trim().min(1).max(500),
  /** The result this experiment builds on; null for the harness's default train.py. */
  parent: sha256.nullable(),
  /** sha256 of the candidate train.py (a blob); null when an agent claims an idea before writing the code. */
  codeHash: sha256.nullable(),
  delta: z.array(deltaEntry).max(64),
  /** What the code does beyond the delta; absent when the code is not written yet (or the record predates it). */
  change: codeChangeBody.optional(),
  hypothesis: sha256.optional(),
  /** A verification run: the result whose train.py this claim re-runs (DESIGN §4, `verify <resultId>`). */
  verifies: sha256.optional(),
  tier: z.enum(TIERS),
  ttlMs: z.number().int().positive().max(24 * 3600_000)
})

/**
 * A claim's author is still running it: the claim lives another ttlMs from this record's
 * createdAt. Records are append-only, so liveness is a new record, not an edited claim.
 */
export const heartbeatBody = z.strictObject({
  claim: sha256
})

/** The author gives a claim up: the experiment is claimable again (aborted) or was a duplicate (yielded). */
export const releaseBody = z.strictObject({
  claim: sha256,
  reason: z.enum(['aborted', 'yielded'])
})

/**
 * Sanity bounds: numbers no honest run can report are refused outright (the record is invalid and
 * its sender penalised). Bits per byte of natural text: the best language models reach ~0.6, a
 * model that predicts nothing 8; a tiny model in minutes cannot go below 0.2.
 */
export const VAL_BPB_BOUNDS = { min: 0.2, max: 64 } as const

export const runMetrics = z.strictObject({
  val_bpb: z.number().min(VAL_BPB_BOUNDS.min).max(VAL_BPB_BOUNDS.max),
  training_seconds: z.number(),
  total_seconds: z.number(),
  peak_vram_mb: z.number(),
  mfu_percent: z.number(),
  total_tokens_M: z.number(),
  // What a verification re-runs for (`maxSteps`, a positive integer): a result must report one.
  num_steps: z.number().int().positive(),
  num_params_M: z.number(),
  depth: z.number()
})

/** The machine a run ran on: results are compared within one tier. */
const hardware = z.strictObject({ gpu: z.string().max(200), vramGb: z.number().nonnegative(), tier: z.enum(TIERS) })

/**
 * The software a run ran under, beside `hardware` (whose `gpu` is the GPU model): the PyTorch
 * version the daemon's python probe found (`torch.__version__`). Optional so that records
 * written before it existed still parse; trust keys a peer's standing by tier, GPU model and
 * this, and a re-run under another one that fails to import is inconclusive (src/trust).
 */
const environment = z.strictObject({ torch: z.string().min(1).max(100) })

/** A result: what came out, with the source and log by hash (DESIGN §4). */
export const resultBody = z.strictObject({
  claimId: sha256,
  parent: sha256.nullable(),
  codeHash: sha256,
  logHash: sha256,
  description: z.string().trim().min(1).max(500),
  delta: z.array(deltaEntry).max(64),
  change: codeChangeBody.optional(),
  status: z.enum(['keep', 'discard', 'crash']),
  metrics: runMetrics.nullable(),
  crash: z.strictObject({ reason: z.string().max(50), detail: z.string().max(2000) }).nullable(),
  hardware,
  environment: environment.optional(),
  harness: z.string().min(1).max(100),
  /** Set when the run stopped after a fixed step count instead of the time budget. */
  maxSteps: z.number().int().positive().optional()
})

/**
 * A verification: the author re-ran a result's train.py for the same number of steps on the same
 * tier and reports what it measured (null metrics: the re-run crashed). Each node decides from
 * these numbers, with its own tolerance, whether the result reproduced.
 */
export const verificationBody = z.strictObject({
  result: sha256,
  claimId: sha256,
  metrics: runMetrics.nullable(),
  logHash: sha256,
  hardware,
  environment: environment.optional(),
  /** Why the re-run ended without metrics, as the harness classified it (a result's `crash`); only with null metrics. */
  crash: z.strictObject({ reason: z.string().max(50), detail: z.string().max(2000) }).optional(),
  /**
   * The re-run could not conclude for a reason of the verifier's machine, observed by the harness
   * (killed, over its memory limit or deadline, its evaluator failed): no vote either way. A
   * node's own inconclusive re-run keeps the result at most unverified there (src/trust).
   */
  inconclusive: z.literal(true).optional(),
  /**
   * The fresh-sample comparison (issue 13, src/runner/fresh-sample.ts): the re-run and the default
   * train.py scored on the same fresh validation windows; `overfit` (then metrics are null):
   * the advantage on the fixed slice did not come back there. Bits per byte.
   */
  freshSample: z.strictObject({
    windows: z.number().int().positive().max(1_000_000),
    fixedAdvantage: z.number().finite(),
    freshAdvantage: z.number().finite(),
    standardError: z.number().finite().nonnegative(),
    overfit: z.boolean()
  }).optional(),
  harness: z.string().min(1).max(100),
  maxSteps: z.number().int().positive()
})

/**
 * Evidence that an author signed two different records for one slot (equivocation): both signed
 * records, as JSON objects. Anyone who sees both publishes this; every node that holds it hides
 * all of the author's records and blocks the author (src/state/equivocation.ts checks it).
 */
export const equivocationBody = z.strictObject({
  first: z.record(z.string(), z.unknown()),
  second: z.record(z.string(), z.unknown())
})

/** Best records are not used yet (best is a view over trusted results); any JSON object body. */
const openBody = z.record(z.string(), z.unknown())

export const BODY_SCHEMAS = {
  binding: bindingBody,
  hypothesis: hypothesisBody,
  claim: claimBody,
  heartbeat: heartbeatBody,
  release: releaseBody,
  result: resultBody,
  verification: verificationBody,
  best: openBody,
  equivocation: equivocationBody
} satisfies Record<RecordKind, z.ZodType>

export type BindingBody = z.infer<typeof bindingBody>
export type HypothesisBody = z.infer<typeof hypothesisBody>
export type ClaimBody = z.infer<typeof claimBody>
export type HeartbeatBody = z.infer<typeof heartbeatBody>
export type ReleaseBody = z.infer<typeof releaseBody>
export type ResultBody = z.infer<typeof resultBody>
export type VerificationBody = z.infer<typeof verificationBody>
export type EquivocationBody = z.infer<typeof equivocationBody>
export type EnvironmentBody = z.infer<typeof environment>
export type RunMetricsBody = z.infer<typeof runMetrics>

/** Whether a run's metrics are within the sanity bounds (a result with others cannot be published). */
export function saneMetrics (metrics: unknown): boolean {
  return runMetrics.safeParse(metrics).success
}
export type DeltaEntry = z.infer<typeof deltaEntry>
export type RecordBody<K extends RecordKind> = z.infer<typeof BODY_SCHEMAS[K]>
