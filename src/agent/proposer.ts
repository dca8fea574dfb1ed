import { SwarmdError } from '../util/errors.js'
import type { DeltaEntry, HypothesisBody, ResultBody } from '../state/record-kinds.js'
import type { SwarmdErrorCode } from '../util/errors.js'

/** A candidate experiment: the full train.py, a one-line description, what changed. */
export interface Proposal {
  source: string
  description: string
  delta: DeltaEntry[]
  /** The hypothesis this tests, if any (its record id). */
  hypothesis?: string
}

export interface BaselineView {
  /** The result this builds on; null for the harness's default train.py. */
  resultId: string | null
  source: string
  valBpb: number | null
}

export interface ProposalContext {
  baseline: BaselineView
  /** Finished results the swarm knows, on this harness. */
  results: Array<{ id: string, author: string, body: ResultBody }>
  hypotheses: Array<{ id: string, body: HypothesisBody }>
  /** Descriptions and deltas of claims running now. */
  activeClaims: Array<{ description: string, delta: DeltaEntry[], parent: string | null, codeHash?: string | null }>
}

/** Where the next experiment comes from: the builtin search, or an external coding agent. */
export interface Proposer {
  propose(context: ProposalContext, options?: { signal?: AbortSignal }): Promise<Proposal>
}

/** A proposer that could not produce a usable candidate (logged; the loop carries on). */
export class ProposalError extends SwarmdError {
  constructor (code: Extract<SwarmdErrorCode, `PROPOSAL_${string}`>, message: string) {
    super(code, message)
    this.name = 'ProposalError'
  }
}
