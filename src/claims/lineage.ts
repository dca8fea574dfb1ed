import type { ResultEntry } from './research-ledger.js'
import type { Tier } from '../state/record-kinds.js'

/**
 * Best per tier: the lowest val_bpb among trusted results (src/trust/: this node's own and those
 * reproduced by peers with standing) that ran to the same kind of budget.
 */
export function bestView (results: ResultEntry[], opts: { tier: Tier, trusted: (resultId: string) => boolean, maxSteps?: number }): ResultEntry | undefined {
  let best: ResultEntry | undefined
  for (const r of results) {
    if (r.body.hardware.tier !== opts.tier || r.body.metrics === null || r.body.status === 'crash') continue
    if (!opts.trusted(r.id) || r.body.maxSteps !== opts.maxSteps) continue
    if (best === undefined || r.body.metrics.val_bpb < best.body.metrics!.val_bpb) best = r
  }
  return best
}

/** Lineage: the results built directly on `parent` (null: on the default train.py). */
export function childrenOf (results: ResultEntry[], parent: string | null): ResultEntry[] {
  return results.filter((r) => r.body.parent === parent)
}

/** The frontier: results nobody has built on yet. */
export function frontier (results: ResultEntry[]): ResultEntry[] {
  const parents = new Set(results.map((r) => r.body.parent))
  return results.filter((r) => !parents.has(r.id))
}
