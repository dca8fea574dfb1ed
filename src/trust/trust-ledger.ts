import { TrustEngine } from './trust.js'
import type { TrustPolicy, TrustState, TrustStatus } from './trust.js'
import type { ResearchLedger, ResultEntry } from '../claims/research-ledger.js'
import type { Tier } from '../state/record-kinds.js'

/**
 * Which results of the swarm this node trusts. Each result and verification the research ledger
 * takes in is fed to a `TrustEngine` once, when trust is next read: the cost is what the new
 * records touch, never a pass over the history. Evidence of equivocation (rare, and each costs its
 * author its identity) starts the engine again without the convicted authors' records.
 */
export class TrustLedger {
  private engine: TrustEngine
  private fed = 0
  private convictions: number

  constructor (private readonly ledger: ResearchLedger, readonly policy: TrustPolicy) {
    this.engine = new TrustEngine(policy)
    this.convictions = ledger.convictions
  }

  /** The engine, with every record the ledger holds fed in. */
  private get current (): TrustEngine {
    if (this.ledger.convictions !== this.convictions) {
      this.convictions = this.ledger.convictions
      this.engine = new TrustEngine(this.policy)
      this.fed = 0
    }
    const arrivals = this.ledger.arrivalsSince(this.fed)
    this.fed += arrivals.length
    for (const a of arrivals) {
      if (a.kind === 'claim' || this.ledger.isConvicted(a.entry.author)) continue
      if (a.kind === 'result') this.engine.addResult(a.entry)
      else this.engine.addVerification(a.entry)
    }
    return this.engine
  }

  get state (): TrustState {
    return this.current.state
  }

  /** Replays since start: each is a peer with standing caught (see `TrustEngine`). */
  get rebuilds (): number {
    return this.current.rebuilds
  }

  status (resultId: string): TrustStatus {
    return this.current.status(resultId)
  }

  isTrusted (resultId: string): boolean {
    const status = this.status(resultId)
    return status === 'self' || status === 'trusted'
  }

  /** Whether `author` has standing on this node in `scope` (`scopeOf`), or in any scope when left out. */
  hasStanding (author: string, scope?: string): boolean {
    return this.current.hasStanding(author, scope)
  }

  /** Whether this node wrote `resultId`, or re-ran it and reproduced it. */
  reproducedHere (resultId: string): boolean {
    return this.status(resultId) === 'self' || (this.state.reproducedBy.get(resultId)?.has(this.policy.self) ?? false)
  }

  /** Reproductions by peers with standing that this result needs to be trusted here (`quorum`, or one for an author with a reputation). */
  reproductionsNeeded (resultId: string): number {
    return this.current.reproductionsNeeded(resultId)
  }

  /** Whether a verification of this result by `author` counts towards its trust here. */
  vouchCounts (resultId: string, author: string): boolean {
    return this.current.vouchCounts(resultId, author)
  }

  /** Whether `author` already published a verification of this result. */
  verifiedBy (resultId: string, author: string): boolean {
    return this.current.verifiedBy(resultId, author)
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
