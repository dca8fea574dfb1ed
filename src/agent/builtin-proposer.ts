import { deltaKey } from '../claims/dedup.js'
import { applyDelta, parseConstants } from '../source/train-constants.js'
import { changeKey, crashedChanges, whyNotRunnable } from './knobs.js'
import { ProposalError } from './proposer.js'
import type { ModuleConstant } from '../source/train-constants.js'
import type { DeltaEntry } from '../state/record-kinds.js'
import type { Proposal, ProposalContext, Proposer } from './proposer.js'
import type { Rng } from '../util/rng.js'

export interface BuiltinProposerInit {
  /** Constants never mutated. Default: the seed and the sizes the profile does not use (`frozenFor`). */
  frozen?: string[]
}

/** The gpu profiles' own sizes in train.py: they replace the cpu ones there. */
const GPU_SIZES = ['GPU_DEPTH', 'GPU_WIDTH', 'GPU_HEADS', 'GPU_LEARNING_RATE', 'GPU_BATCH_SCALE']
const CPU_SIZES = ['DEPTH', 'WIDTH', 'HEADS', 'LEARNING_RATE', 'BATCH_SIZE']

/** What a proposer must not change under `profile`: the seed, and sizes that profile overrides (a change there is a no-op run). */
export function frozenFor (profile: 'cpu' | 'gpu' | 'gpu-tiny'): string[] {
  return ['SEED', ...(profile === 'cpu' ? GPU_SIZES : CPU_SIZES)]
}

const FLOAT_FACTORS = [0.5, 0.7, 1.4, 2]
const INT_FACTORS = [0.5, 0.75, 1.5, 2]

function roundSignificant (value: number, digits = 3): number {
  return value === 0 ? 0 : Number(value.toPrecision(digits))
}

/**
 * The default proposer, no LLM needed: mutates one module-level constant of the baseline
 * (multiplicative steps for floats and sizes, steps of one for small counts), preferring open
 * hypotheses that carry a suggested delta, and weighting knobs by how often changing them helped
 * in the swarm's results. Never proposes a delta already tried on the same parent, values outside a
 * knob's range or heads that do not split the width (src/agent/knobs.ts), nor a change that
 * crashed on any parent.
 */
export class BuiltinProposer implements Proposer {
  private readonly frozen: Set<string>

  constructor (private readonly components: { rng: Rng }, init: BuiltinProposerInit = {}) {
    this.frozen = new Set(init.frozen ?? frozenFor('cpu'))
  }

  async propose (context: ProposalContext): Promise<Proposal> {
    const { baseline } = context
    const tried = new Set<string>()
    for (const r of context.results) if (r.body.parent === baseline.resultId) tried.add(deltaKey(r.body.delta))
    for (const c of context.activeClaims) if (c.parent === baseline.resultId) tried.add(deltaKey(c.delta))
    const crashed = crashedChanges(context.results)
    const all = parseConstants(baseline.source)
    const values = new Map(all.map((c) => [c.name, c.value]))
    // A change worth running: new here, not known to crash anywhere, and within what train.py can run.
    const runnable = (delta: DeltaEntry[]): boolean => !tried.has(deltaKey(delta)) && !crashed.has(changeKey(delta)) &&
      whyNotRunnable(new Map([...values, ...delta.map((d) => [d.name, d.to] as const)])) === undefined

    const constants = all.filter((c) => !this.frozen.has(c.name) && c.kind !== 'string' && c.kind !== 'bool')
    const byName = new Map(constants.map((c) => [c.name, c]))

    // 1. An open hypothesis with a suggested delta that fits this baseline.
    for (const h of context.hypotheses) {
      const delta = h.body.suggestedDelta
      if (delta === undefined || delta.length === 0) continue
      if (!delta.every((d) => byName.has(d.name) || values.has(d.name))) continue
      const rebased = delta.map((d) => ({ name: d.name, from: values.get(d.name)!, to: d.to }))
      if (rebased.every((d) => d.from === d.to) || !runnable(rebased)) continue
      return { source: applyDelta(baseline.source, rebased), description: `hypothesis: ${h.body.title}`, delta: rebased, hypothesis: h.id }
    }

    // 2. Mutate one knob, weighted by how often changing it helped anywhere in the swarm.
    const stats = new Map<string, { tries: number, keeps: number }>()
    for (const r of context.results) {
      for (const d of r.body.delta) {
        const s = stats.get(d.name) ?? { tries: 0, keeps: 0 }
        s.tries++
        if (r.body.status === 'keep') s.keeps++
        stats.set(d.name, s)
      }
    }
    const weight = (c: ModuleConstant): number => {
      const s = stats.get(c.name)
      return s === undefined ? 1.5 : 0.5 + 2 * (s.keeps + 0.5) / (s.tries + 1)
    }
    for (let attempt = 0; attempt < 64; attempt++) {
      const knob = this.pickWeighted(constants, weight)
      if (knob === undefined) break
      const to = this.mutate(knob, (value) => runnable([{ name: knob.name, from: knob.value, to: value }]))
      if (to === knob.value) continue
      const delta = [{ name: knob.name, from: knob.value, to }]
      if (!runnable(delta)) continue
      return { source: applyDelta(baseline.source, delta), description: `${knob.name} ${String(knob.value)} -> ${String(to)}`, delta }
    }
    throw new ProposalError('PROPOSAL_EXHAUSTED', 'every nearby change of this baseline was already tried')
  }

  private pickWeighted<T> (items: T[], weight: (item: T) => number): T | undefined {
    const total = items.reduce((sum, item) => sum + weight(item), 0)
    let at = this.components.rng.next() * total
    for (const item of items) {
      at -= weight(item)
      if (at <= 0) return item
    }
    return items[items.length - 1]
  }

  /** A new value for the knob; a small count steps on, one at a time, to the nearest value `fits` takes (HEADS 4 -> 8, not 5). */
  private mutate (constant: ModuleConstant, fits: (value: number) => boolean): number {
    const value = constant.value as number
    const rng = this.components.rng
    if (constant.kind === 'float') {
      if (value === 0) return roundSignificant(0.01 * (rng.next() < 0.5 ? 1 : 10))
      return roundSignificant(value * FLOAT_FACTORS[rng.int(FLOAT_FACTORS.length)]!)
    }
    // Sizes of 8 and more scale by a factor (64 -> 32, 48, 96 or 128), smaller counts step by one.
    if (value >= 8) return Math.max(1, Math.round(value * INT_FACTORS[rng.int(INT_FACTORS.length)]!))
    const step = rng.next() < 0.5 ? -1 : 1
    for (let next = value + step; next >= 1 && Math.abs(next - value) <= 8; next += step) if (fits(next)) return next
    return Math.max(1, value + step)
  }
}
