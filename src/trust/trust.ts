import type { ResultBody, VerificationBody } from '../state/record-kinds.js'

export interface TrustResult {
  id: string
  author: string
  body: ResultBody
}

export interface TrustVerification {
  id: string
  author: string
  body: VerificationBody
}

export interface TrustPolicy {
  /** This node: its own results and its own re-runs are trusted without anyone else. */
  self: string
  /** Independent reproductions by peers with standing that make a peer's result trusted. */
  quorum: number
  /** Largest |val_bpb difference| that still counts as reproduced. */
  tolerance: number
  /** A peer with this many trusted results needs only one reproduction (adaptive replication). */
  reputationAfter: number
}

export type TrustStatus = 'self' | 'trusted' | 'refuted' | 'unverified'

export interface TrustState {
  status: Map<string, TrustStatus>
  /** Peers whose results were reproduced: their reproductions count towards a quorum. */
  standing: Set<string>
  /** Peers caught reporting numbers that did not reproduce: no standing, ever, on this node. */
  caught: Set<string>
  /** result id → peers with standing whose re-run reproduced it. */
  reproducedBy: Map<string, Set<string>>
}

/** Whether a verification's re-run reproduced the result it names, within the tolerance. */
export function reproduces (result: ResultBody, verification: VerificationBody, tolerance: number): boolean {
  if (result.metrics === null || verification.metrics === null) return false
  return Math.abs(result.metrics.val_bpb - verification.metrics.val_bpb) <= tolerance
}

/**
 * Which results this node trusts (DESIGN §4, volunteer-computing style). Identities are free,
 * so a reproduction only counts from a peer with standing, and standing is earned only by having
 * one's own results reproduced — starting from this node itself:
 * - this node's results are trusted, and so is any result this node re-ran and reproduced;
 * - a peer's result is trusted when `quorum` distinct peers with standing (not its author)
 *   reproduced it, or one when the author already has `reputationAfter` trusted results;
 * - a result whose re-run by this node did not reproduce, or whose re-runs by `quorum` standing
 *   peers, more than reproduced it, did not, is refuted, and its author is caught: it loses
 *   standing, its reproductions stop counting, and its results are never trusted on a peer's
 *   word again. One standing peer alone cannot frame an honest one.
 * A verification counts only for the tier, harness and step count of the result it names.
 * Each pass judges every result with the standing and reputations of the pass before, so the
 * order of the results does not matter and standing that rested on a peer caught since is
 * withdrawn. Passes repeat until nothing changes, so ten fresh identities vouching for each
 * other change nothing; `caught` only grows, and a cap bounds the rare verdicts that would
 * otherwise flip back and forth.
 */
export function computeTrust (results: TrustResult[], verifications: TrustVerification[], policy: TrustPolicy): TrustState {
  const byResult = new Map<string, TrustVerification[]>()
  for (const v of verifications) {
    const list = byResult.get(v.body.result) ?? []
    list.push(v)
    byResult.set(v.body.result, list)
  }
  const caught = new Set<string>()
  let standing = new Set<string>([policy.self])
  let trustedCount = new Map<string, number>()
  let status = new Map<string, TrustStatus>()
  let reproducedBy = new Map<string, Set<string>>()
  // Without flips, every pass but the last trusts a result or catches an author: this many suffice.
  const maxPasses = results.length + new Set(results.map((r) => r.author)).size + 2

  for (let pass = 0; pass < maxPasses; pass++) {
    const next = judge(results, byResult, policy, { standing, trustedCount, caught })
    const nextStanding = new Set<string>([policy.self])
    const nextCount = new Map<string, number>()
    for (const r of results) {
      if (next.status.get(r.id) !== 'trusted') continue
      nextCount.set(r.author, (nextCount.get(r.author) ?? 0) + 1)
      if (!caught.has(r.author)) nextStanding.add(r.author)
    }
    const settled = next.caughtMore === 0 && sameStatus(status, next.status) && sameSet(standing, nextStanding)
    status = next.status
    reproducedBy = next.reproducedBy
    standing = nextStanding
    trustedCount = nextCount
    if (settled) break
  }
  return { status, standing, caught, reproducedBy }
}

/** One pass of `computeTrust`: every result judged by the standing and reputations given; adds to `caught`. */
function judge (results: TrustResult[], byResult: Map<string, TrustVerification[]>, policy: TrustPolicy, before: { standing: Set<string>, trustedCount: Map<string, number>, caught: Set<string> }): { status: Map<string, TrustStatus>, reproducedBy: Map<string, Set<string>>, caughtMore: number } {
  const { standing, trustedCount, caught } = before
  const status = new Map<string, TrustStatus>()
  const reproducedBy = new Map<string, Set<string>>()
  let caughtMore = 0
  for (const r of results) {
    if (r.author === policy.self) {
      status.set(r.id, 'self')
      continue
    }
    if (r.body.metrics === null) {
      status.set(r.id, 'unverified')
      continue
    }
    const ok = new Set<string>()
    const failed = new Set<string>()
    for (const v of byResult.get(r.id) ?? []) {
      if (v.author === r.author || !standing.has(v.author) || caught.has(v.author)) continue
      if (v.body.hardware.tier !== r.body.hardware.tier || v.body.harness !== r.body.harness || v.body.maxSteps !== r.body.metrics.num_steps) continue
      if (reproduces(r.body, v.body, policy.tolerance)) ok.add(v.author)
      else failed.add(v.author)
    }
    reproducedBy.set(r.id, ok)
    const selfSays = ok.has(policy.self) ? 'ok' : failed.has(policy.self) ? 'failed' : undefined
    // Framing an honest peer takes as many standing voices as vouching for a liar: a quorum.
    const refuted = selfSays === 'failed' || (selfSays === undefined && failed.size >= policy.quorum && failed.size > ok.size)
    if (refuted) {
      status.set(r.id, 'refuted')
      if (!caught.has(r.author)) { caught.add(r.author); caughtMore++ }
      continue
    }
    const need = (trustedCount.get(r.author) ?? 0) >= policy.reputationAfter ? 1 : policy.quorum
    const trusted = caught.has(r.author) ? selfSays === 'ok' : (selfSays === 'ok' || ok.size >= need)
    status.set(r.id, trusted ? 'trusted' : 'unverified')
  }
  return { status, reproducedBy, caughtMore }
}

function sameStatus (a: Map<string, TrustStatus>, b: Map<string, TrustStatus>): boolean {
  if (a.size !== b.size) return false
  for (const [id, s] of a) if (b.get(id) !== s) return false
  return true
}

function sameSet (a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x))
}
