import type { ResultBody, Tier } from './record-kinds.js'
import type { SwarmState } from './swarm-state.js'

export interface ResultView {
  id: string
  author: string
  createdAt: number
  body: ResultBody
}

/** Finished results on one harness, oldest first. */
export function resultsView (state: SwarmState, harness: string): ResultView[] {
  return state.list('result')
    .filter((r) => (r.record.body as ResultBody).harness === harness)
    .map((r) => ({ id: r.id, author: r.record.author, createdAt: r.record.createdAt, body: r.record.body as ResultBody }))
}

/**
 * Best per tier: the lowest val_bpb among trusted results (src/trust/: this node's own and those
 * reproduced by peers with standing) that ran to the same kind of budget.
 */
export function bestView (results: ResultView[], opts: { tier: Tier, trusted: (resultId: string) => boolean, maxSteps?: number }): ResultView | undefined {
  let best: ResultView | undefined
  for (const r of results) {
    if (r.body.hardware.tier !== opts.tier || r.body.metrics === null || r.body.status === 'crash') continue
    if (!opts.trusted(r.id) || r.body.maxSteps !== opts.maxSteps) continue
    if (best === undefined || r.body.metrics.val_bpb < best.body.metrics!.val_bpb) best = r
  }
  return best
}

/** Lineage: the results built directly on `parent` (null: on the default train.py). */
export function childrenOf (results: ResultView[], parent: string | null): ResultView[] {
  return results.filter((r) => r.body.parent === parent)
}

/** The frontier: results nobody has built on yet. */
export function frontier (results: ResultView[]): ResultView[] {
  const parents = new Set(results.map((r) => r.body.parent))
  return results.filter((r) => !parents.has(r.id))
}
