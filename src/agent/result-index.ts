import { changeKey, crashEvidence } from './knobs.js'
import { KnobFit } from './knob-model.js'
import type { KnobModel, Observation } from './knob-model.js'
import type { ProposalContext } from './proposer.js'

type ContextResult = ProposalContext['results'][number]

/**
 * What the builtin proposer reads from the swarm's results, kept between proposals: the code
 * hashes run, the changes that crashed, the children of each parent, and the knob model's sums
 * over every y(child) − y(parent) whose parent has a number (the default train.py's: the mean of
 * its runs). Each proposal looks up which results are new and folds in only those, so at 10,000
 * results it costs map lookups, not a refit; when a result left the context (discredited since)
 * it starts over.
 */
export class ResultIndex {
  private ids = new Set<string>()
  private codeHashes = new Set<string>()
  private crashes = new Set<string>()
  private childrenOf = new Map<string, ContextResult[]>()
  private valueOf = new Map<string, number>()
  private fit = new KnobFit()
  /** Observations in the fit, by child id. */
  private rows = new Map<string, Observation>()
  /** Children with a number whose parent's number has not come yet, by parent id. */
  private waiting = new Map<string, ContextResult[]>()
  /** Children of the default train.py (parent null, a change): re-fitted when its mean moves. */
  private defaultChildren: ContextResult[] = []
  private defaultRuns = { sum: 0, n: 0 }

  /** Bring the index to `results`: the new ones folded in, or everything again when one left. */
  sync (results: ProposalContext['results']): void {
    let fresh = 0
    for (const r of results) if (!this.ids.has(r.id)) fresh++
    if (this.ids.size + fresh !== results.length) this.reset()
    else if (fresh === 0) return
    for (const r of results) if (!this.ids.has(r.id)) this.fold(r)
  }

  /** Whether a result ran this train.py (by sha256). */
  ran (codeHash: string): boolean { return this.codeHashes.has(codeHash) }
  /** The changes (`changeKey`) that crashed on some parent for a reason of the code. */
  get crashed (): ReadonlySet<string> { return this.crashes }
  /** The results built on `parent` (null: the default train.py). */
  children (parent: string | null): readonly ContextResult[] { return this.childrenOf.get(parent ?? '') ?? [] }
  /** The knob model over every observation held. */
  model (): KnobModel { return this.fit.model() }

  /** The typical size of a change: the median |y(child) − y(parent)| of the observations held. */
  typicalChange (): number | undefined {
    const changes = [...this.rows.values()].map((o) => Math.abs(o.change)).sort((a, b) => a - b)
    return changes.length > 0 ? changes[Math.floor(changes.length / 2)] : undefined
  }

  private reset (): void {
    this.ids = new Set()
    this.codeHashes = new Set()
    this.crashes = new Set()
    this.childrenOf = new Map()
    this.valueOf = new Map()
    this.fit = new KnobFit()
    this.rows = new Map()
    this.waiting = new Map()
    this.defaultChildren = []
    this.defaultRuns = { sum: 0, n: 0 }
  }

  private fold (r: ContextResult): void {
    this.ids.add(r.id)
    this.codeHashes.add(r.body.codeHash)
    const siblings = this.childrenOf.get(r.body.parent ?? '')
    if (siblings === undefined) this.childrenOf.set(r.body.parent ?? '', [r])
    else siblings.push(r)
    if (crashEvidence(r.body)) this.crashes.add(changeKey(r.body.delta))
    if (r.body.metrics === null) return
    const value = r.body.metrics.val_bpb
    this.valueOf.set(r.id, value)
    if (r.body.parent === null && r.body.delta.length === 0) this.addDefaultRun(value)
    for (const child of this.waiting.get(r.id) ?? []) this.observe(child, value)
    this.waiting.delete(r.id)
    if (r.body.delta.length === 0) return
    if (r.body.parent === null) {
      this.defaultChildren.push(r)
      if (this.defaultRuns.n > 0) this.observe(r, this.defaultRuns.sum / this.defaultRuns.n)
      return
    }
    const parent = this.valueOf.get(r.body.parent)
    if (parent !== undefined) this.observe(r, parent)
    else this.waiting.set(r.body.parent, [...(this.waiting.get(r.body.parent) ?? []), r])
  }

  /** Another run of the default train.py: its children's observations move with the mean. */
  private addDefaultRun (value: number): void {
    this.defaultRuns.sum += value
    this.defaultRuns.n++
    const mean = this.defaultRuns.sum / this.defaultRuns.n
    for (const child of this.defaultChildren) {
      const held = this.rows.get(child.id)
      if (held !== undefined) this.fit.add(held, -1)
      this.rows.delete(child.id)
      this.observe(child, mean)
    }
  }

  private observe (child: ContextResult, parentValue: number): void {
    const observation = { delta: child.body.delta, change: child.body.metrics!.val_bpb - parentValue }
    if (this.fit.add(observation)) this.rows.set(child.id, observation)
  }
}
