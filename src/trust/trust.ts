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
 * - a result whose re-run by this node, or by more standing peers than reproduced it, did not
 *   reproduce is refuted, and its author is caught: it loses standing, its reproductions stop
 *   counting, and its results are never trusted on a peer's word again.
 * Computed to a fixed point, so ten fresh identities vouching for each other change nothing.
 */
export function computeTrust (results: TrustResult[], verifications: TrustVerification[], policy: TrustPolicy): TrustState {
  const byResult = new Map<string, TrustVerification[]>()
  for (const v of verifications) {
    const list = byResult.get(v.body.result) ?? []
    list.push(v)
    byResult.set(v.body.result, list)
  }
  const standing = new Set<string>([policy.self])
  const caught = new Set<string>()
  const status = new Map<string, TrustStatus>()
  const reproducedBy = new Map<string, Set<string>>()
  const trustedCount = new Map<string, number>()

  let changed = true
  while (changed) {
    changed = false
    status.clear()
    reproducedBy.clear()
    trustedCount.clear()
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
        if (v.body.hardware.tier !== r.body.hardware.tier || v.body.harness !== r.body.harness) continue
        if (reproduces(r.body, v.body, policy.tolerance)) ok.add(v.author)
        else failed.add(v.author)
      }
      reproducedBy.set(r.id, ok)
      const selfSays = ok.has(policy.self) ? 'ok' : failed.has(policy.self) ? 'failed' : undefined
      const refuted = selfSays === 'failed' || (selfSays === undefined && failed.size > ok.size)
      if (refuted) {
        status.set(r.id, 'refuted')
        if (!caught.has(r.author)) { caught.add(r.author); standing.delete(r.author); changed = true }
        continue
      }
      const need = (trustedCount.get(r.author) ?? 0) >= policy.reputationAfter ? 1 : policy.quorum
      if (caught.has(r.author) ? selfSays === 'ok' : (selfSays === 'ok' || ok.size >= need)) {
        status.set(r.id, 'trusted')
        trustedCount.set(r.author, (trustedCount.get(r.author) ?? 0) + 1)
        if (!caught.has(r.author) && !standing.has(r.author)) { standing.add(r.author); changed = true }
      } else {
        status.set(r.id, 'unverified')
      }
    }
  }
  return { status, standing, caught, reproducedBy }
}
