import { codeChange } from '../source/code-change.js'
import { diffConstants } from '../source/train-constants.js'
import { SwarmdError } from '../util/errors.js'
import { sha256Hex } from '../util/hash.js'
import { findHypothesis, findResult } from './lookup.js'
import type { ClaimRequest } from './claim-book.js'
import type { ResearchLedger } from './research-ledger.js'
import type { HypothesisBook } from './hypotheses.js'
import type { Tier } from '../state/record-kinds.js'

/** The blob store as claims and results use it: hashes are sha256 hex strings. */
export interface SourceBlobs {
  /** Store bytes; `announce: false` keeps them out of the DHT (`BlobService.add`). */
  add(bytes: Uint8Array, options?: { announce?: boolean }): Promise<string>
  get(hash: string, options?: { signal?: AbortSignal }): Promise<Uint8Array>
}

/** An agent's claim, as it arrives over the API (`POST /api/claims`). */
export interface ClaimInput {
  description: string
  /** The full train.py the agent will run; without it the idea is claimed before the code exists. */
  code?: string
  /** Omitted: this tier's best result; null: the harness default train.py; else a result id (or unique prefix). */
  parent?: string | null
  /** A hypothesis id (or unique prefix) the experiment tests. */
  hypothesis?: string
  ttlMs?: number
}

export interface ParentSourceComponents {
  ledger: ResearchLedger
  blobs: SourceBlobs
  /** The harness's default train.py: the source of parent null. */
  defaultSource: string
}

export interface ClaimRequestComponents extends ParentSourceComponents {
  hypotheses: HypothesisBook
  /** The tier's current best result id (what `GET /api/best` returns), null when there is none. */
  currentBest: () => string | null
}

export interface ClaimRequestInit {
  tier: Tier
  /** A claim's ttl when the agent names none. */
  defaultTtlMs: number
}

// A parent's source normally sits in the local blob store; a peer's may need a fetch.
const SOURCE_FETCH_MS = 60_000

/** The train.py a parent stands for: the harness default for null, else the result's code, checked against its hash. */
export async function parentSource (components: ParentSourceComponents, parent: string | null, options: { signal?: AbortSignal } = {}): Promise<string> {
  if (parent === null) return components.defaultSource
  const result = components.ledger.result(parent)
  if (result === undefined) throw new SwarmdError('RESULT_NOT_FOUND', `no result ${parent} is known for this harness`)
  const bytes = await components.blobs.get(result.body.codeHash, { signal: options.signal ?? AbortSignal.timeout(SOURCE_FETCH_MS) })
  // Adoption checks the source against the hash the result names.
  if (sha256Hex(bytes) !== result.body.codeHash) throw new SwarmdError('BLOB_HASH_MISMATCH', `the source of result ${parent} does not match its hash`)
  return Buffer.from(bytes).toString('utf8')
}

/**
 * Turn an agent's claim into a request for the claim book: resolve the parent (default: the
 * tier's best) and the hypothesis, hash the code, and derive the delta from the parent.
 */
export async function buildClaimRequest (components: ClaimRequestComponents, init: ClaimRequestInit, input: ClaimInput, options: { signal?: AbortSignal } = {}): Promise<ClaimRequest> {
  const parent = input.parent === undefined ? components.currentBest() : input.parent === null ? null : findResult(components.ledger, input.parent).id
  const hypothesis = input.hypothesis === undefined ? undefined : findHypothesis(components.hypotheses, input.hypothesis).id
  let codeHash: string | null = null
  let delta: ClaimRequest['delta'] = []
  let change: ClaimRequest['change']
  if (input.code !== undefined) {
    const before = await parentSource(components, parent, options)
    delta = diffConstants(before, input.code)
    change = codeChange(before, input.code)
    // Only its hash: the caller stores the code once the claim stands, so a refused claim leaves nothing behind.
    codeHash = sha256Hex(Buffer.from(input.code))
  }
  return {
    description: input.description,
    parent,
    codeHash,
    delta,
    ...(change !== undefined ? { change } : {}),
    ...(hypothesis !== undefined ? { hypothesis } : {}),
    tier: init.tier,
    ttlMs: input.ttlMs ?? init.defaultTtlMs
  }
}
