import { computeTrust } from './trust.js'
import type { TrustPolicy, TrustState, TrustStatus } from './trust.js'
import type { ClaimLedger, ResultEntry } from '../claims/claim-ledger.js'
import type { Tier } from '../state/record-kinds.js'

/** Which results of the swarm this node trusts; recomputed when results or verifications arrive. */
export class TrustLedger {
  private cached: { revision: number, state: TrustState } | undefined

  constructor (private readonly ledger: ClaimLedger, readonly policy: TrustPolicy) {}

  get state (): TrustState {
    const revision = this.ledger.revision
    if (this.cached?.revision !== revision) {
      this.cached = { revision, state: computeTrust(this.ledger.allResults(), this.ledger.allVerifications(), this.policy) }
    }
    return this.cached.state
  }

  status (resultId: string): TrustStatus {
    return this.state.status.get(resultId) ?? 'unverified'
  }

  isTrusted (resultId: string): boolean {
    const status = this.status(resultId)
    return status === 'self' || status === 'trusted'
  }

  /** Whether this node wrote `resultId`, or re-ran it and reproduced it. */
  reproducedHere (resultId: string): boolean {
    return this.status(resultId) === 'self' || (this.state.reproducedBy.get(resultId)?.has(this.policy.self) ?? false)
  }

  /** Whether `author` already published a verification of this result. */
  verifiedBy (resultId: string, author: string): boolean {
    return this.ledger.allVerifications().some((v) => v.body.result === resultId && v.author === author)
  }

  /**
   * Unverified results of a tier that beat `than` (lowest val_bpb first): what the research loop
   * re-runs before building on it, and what the status page shows as candidates.
   */
  candidates (opts: { tier: Tier, maxSteps: number | undefined, than: number | null }): ResultEntry[] {
    return this.better(opts).filter((r) => this.status(r.id) === 'unverified')
  }

  /**
   * Peers' results of a tier that beat `than` and that this node has not reproduced itself, trusted
   * by a quorum or not (lowest val_bpb first): what the research loop re-runs before it first
   * builds on one (`verifyBeforeAdopt`). Refuted results are left out.
   */
  notReproducedHere (opts: { tier: Tier, maxSteps: number | undefined, than: number | null }): ResultEntry[] {
    return this.better(opts).filter((r) => this.status(r.id) !== 'refuted' && !this.reproducedHere(r.id))
  }

  private better (opts: { tier: Tier, maxSteps: number | undefined, than: number | null }): ResultEntry[] {
    return this.ledger.allResults()
      .filter((r) => r.body.metrics !== null && r.body.status !== 'crash' && r.body.hardware.tier === opts.tier && r.body.maxSteps === opts.maxSteps)
      .filter((r) => opts.than === null || r.body.metrics!.val_bpb < opts.than)
      .sort((a, b) => a.body.metrics!.val_bpb - b.body.metrics!.val_bpb)
  }
}
