import { deltaKey } from '../claims/dedup.js'
import { sha256Hex } from '../util/hash.js'
import { applyDelta, parseConstants } from '../source/train-constants.js'
import { changeKey, whyNotRunnable } from './knobs.js'
import { ResultIndex } from './result-index.js'
import { coordinate } from './knob-model.js'
import type { KnobModel } from './knob-model.js'
import { ProposalError } from './proposer.js'
import type { ModuleConstant } from '../source/train-constants.js'
import type { DeltaEntry } from '../state/record-kinds.js'
import type { Proposal, ProposalContext, Proposer } from './proposer.js'
import { gaussian } from '../util/rng.js'
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
/** How often the joint step (every knob the model expects to help, at once) is taken when there is one. */
const JOINT_SHARE = 0.5

function roundSignificant (value: number, digits = 3): number {
  return value === 0 ? 0 : Number(value.toPrecision(digits))
}

interface Move {
  delta: DeltaEntry[]
  /** The model's expected improvement (val_bpb, positive is better); undefined when it has no opinion. */
  gain: number | undefined
}

/**
 * The default proposer, no LLM needed: a joint search over train.py's module-level constants,
 * fitted to every result the swarm shares (`knob-model.ts`), in this order:
 *
 * 1. an open hypothesis with a suggested delta that fits the baseline;
 * 2. improvements found in parallel on the baseline, merged: the better children's changes to
 *    different knobs, all at once;
 * 3. half the time, the joint step: every knob the model expects to help, each at its best
 *    nearby value, at once;
 * 4. else one knob's move, by Thompson sampling on the model: each nearby value's expected gain
 *    plus noise as wide as the model is unsure of it (wide for a knob the swarm never moved), the
 *    best draw taken. Agents draw differently, so they spread over the knobs.
 *
 * 5. once every one-knob move of the baseline was tried, two knobs at once, drawn the same way.
 *
 * Never a change already tried or running on the same parent, values outside a knob's range or
 * heads that do not split the width (src/agent/knobs.ts), nor a change that crashed on any
 * parent. Deterministic for a seed and the results it is shown; the model's sums are kept
 * between proposals, so a proposal refits only what changed.
 */
export class BuiltinProposer implements Proposer {
  private readonly frozen: Set<string>
  /** The shared results as the proposals read them, kept between proposals. */
  private readonly index = new ResultIndex()

  constructor (private readonly components: { rng: Rng }, init: BuiltinProposerInit = {}) {
    this.frozen = new Set(init.frozen ?? frozenFor('cpu'))
  }

  async propose (context: ProposalContext): Promise<Proposal> {
    const { baseline } = context
    const index = this.index
    index.sync(context.results)
    const tried = new Set<string>()
    for (const r of index.children(baseline.resultId)) tried.add(deltaKey(r.body.delta))
    for (const c of context.activeClaims) if (c.parent === baseline.resultId) tried.add(deltaKey(c.delta))
    // The same train.py reached from another parent is the same experiment.
    const claimedCodes = new Set<string>()
    for (const c of context.activeClaims) if (typeof c.codeHash === 'string') claimedCodes.add(c.codeHash)
    const ranOrClaimed = (codeHash: string): boolean => index.ran(codeHash) || claimedCodes.has(codeHash)
    const crashed = index.crashed
    const all = parseConstants(baseline.source)
    const values = new Map(all.map((c) => [c.name, c.value]))
    // A change worth running: new here and as code, not known to crash anywhere, and within what train.py can run.
    const runnable = (delta: DeltaEntry[]): boolean => !tried.has(deltaKey(delta)) && !crashed.has(changeKey(delta)) &&
      whyNotRunnable(new Map([...values, ...delta.map((d) => [d.name, d.to] as const)])) === undefined &&
      !ranOrClaimed(sha256Hex(Buffer.from(applyDelta(baseline.source, delta))))
    const proposal = (delta: DeltaEntry[], description: string): Proposal => ({ source: applyDelta(baseline.source, delta), description, delta })

    const constants = all.filter((c) => !this.frozen.has(c.name) && c.kind !== 'string' && c.kind !== 'bool')
    const byName = new Map(constants.map((c) => [c.name, c]))

    // 1. An open hypothesis with a suggested delta that fits this baseline.
    for (const h of context.hypotheses) {
      const delta = h.body.suggestedDelta
      if (delta === undefined || delta.length === 0) continue
      if (!delta.every((d) => byName.has(d.name) || values.has(d.name))) continue
      const rebased = delta.map((d) => ({ name: d.name, from: values.get(d.name)!, to: d.to }))
      if (rebased.every((d) => d.from === d.to) || !runnable(rebased)) continue
      return { ...proposal(rebased, `hypothesis: ${h.body.title}`), hypothesis: h.id }
    }

    // 2. Improvements found in parallel on this baseline, merged.
    const merged = mergedImprovements(index.children(baseline.resultId), baseline.valBpb, byName)
    if (merged !== undefined && runnable(merged)) return proposal(merged, describe(merged))

    const model = index.model()
    const spread = this.uncertainty(model)
    const moves: Move[] = []
    for (const knob of constants) {
      for (const to of this.nearby(knob, (value) => runnable([{ name: knob.name, from: knob.value, to: value }]))) {
        const delta = [{ name: knob.name, from: knob.value, to }]
        if (!runnable(delta)) continue
        const predicted = model.predict(delta)
        moves.push({ delta, gain: predicted === undefined ? undefined : -predicted })
      }
    }

    // 3. The joint step: each knob the model expects to help, at its best nearby value, together.
    const joint = jointStep(moves, model, spread)
    if (joint !== undefined && runnable(joint.delta) && this.components.rng.next() < JOINT_SHARE) {
      return proposal(joint.delta, describe(joint.delta))
    }

    // 4. One knob, by Thompson sampling on the model, among knobs no peer is moving the same way now
    // (on any parent: its result informs the model within a run); 5. once every one-knob move was tried, two knobs.
    const moving = movesInFlight(context.activeClaims)
    const elsewhere = moves.filter((m) => !m.delta.some((d) => moving.has(moveKey(d))))
    const pick = this.thompson(elsewhere.length > 0 ? elsewhere : moves.length > 0 ? moves : this.pairMoves(constants, values, runnable, model), model, spread)
    if (pick === undefined) throw new ProposalError('PROPOSAL_EXHAUSTED', 'every nearby change of this baseline, of one knob or two, was already tried')
    return proposal(pick.delta, describe(pick.delta))
  }

  /** The move whose expected gain plus noise as wide as the model is unsure of its knobs draws highest. */
  private thompson (moves: readonly Move[], model: KnobModel, spread: number): Move | undefined {
    let best: { move: Move, draw: number } | undefined
    for (const move of moves) {
      const seen = Math.min(...move.delta.map((d) => model.observations(d.name)))
      const draw = (move.gain ?? 0) + gaussian(this.components.rng) * spread / Math.sqrt(1 + seen)
      if (best === undefined || draw > best.draw) best = { move, draw }
    }
    return best?.move
  }

  /**
   * Every runnable change of two knobs, each to one of its nearby values: where a baseline's
   * one-knob neighbourhood is used up (near an optimum, in a large swarm), the search goes on
   * there instead of waiting for a better baseline.
   */
  private pairMoves (constants: readonly ModuleConstant[], values: ReadonlyMap<string, unknown>, runnable: (delta: DeltaEntry[]) => boolean, model: KnobModel): Move[] {
    const valid = (name: string, to: number): boolean => whyNotRunnable(new Map([...values, [name, to]])) === undefined
    const options = constants.map((knob) => this.nearby(knob, (to) => valid(knob.name, to)).filter((to) => valid(knob.name, to)).map((to) => ({ name: knob.name, from: knob.value, to })))
    const moves: Move[] = []
    for (let i = 0; i < options.length; i++) {
      for (let j = i + 1; j < options.length; j++) {
        for (const a of options[i]!) {
          for (const b of options[j]!) {
            const delta = [a, b]
            if (!runnable(delta)) continue
            const predicted = model.predict(delta)
            moves.push({ delta, gain: predicted === undefined ? undefined : -predicted })
          }
        }
      }
    }
    return moves
  }

  /** How far the model may be off for a knob it never saw: its residual, else the typical change the swarm's results made. */
  private uncertainty (model: KnobModel): number {
    if (Number.isFinite(model.residual) && model.residual > 0) return model.residual
    const typical = this.index.typicalChange()
    return typical !== undefined ? Math.max(typical, 1e-4) : 0.01
  }

  /** The values near a knob's: multiplicative steps for floats and sizes, the nearest runnable counts either side for small counts. */
  private nearby (constant: ModuleConstant, fits: (value: number) => boolean): number[] {
    const value = constant.value as number
    if (constant.kind === 'float') {
      if (value === 0) return [0.01, 0.1]
      return FLOAT_FACTORS.map((f) => roundSignificant(value * f))
    }
    // Sizes of 8 and more scale by a factor (64 -> 32, 48, 96 or 128), smaller counts step by one.
    if (value >= 8) return [...new Set(INT_FACTORS.map((f) => Math.max(1, Math.round(value * f))))]
    const out: number[] = []
    for (const step of [-1, 1]) {
      for (let next = value + step; next >= 1 && Math.abs(next - value) <= 8; next += step) {
        if (fits(next)) { out.push(next); break }
      }
    }
    return out
  }
}

/** The better children of the baseline, best first, whose changes touch different knobs: merged into one delta when two or more. */
function mergedImprovements (children: Readonly<ProposalContext['results']>, baselineValBpb: number | null, knobs: ReadonlyMap<string, ModuleConstant>): DeltaEntry[] | undefined {
  const better = children
    .filter((r) => r.body.metrics !== null && r.body.delta.length > 0 &&
      (baselineValBpb === null ? r.body.status === 'keep' : r.body.metrics.val_bpb < baselineValBpb) &&
      r.body.delta.every((d) => knobs.get(d.name)?.value === d.from))
    .sort((a, b) => a.body.metrics!.val_bpb - b.body.metrics!.val_bpb)
  const merged: DeltaEntry[] = []
  let parts = 0
  for (const r of better) {
    if (r.body.delta.some((d) => merged.some((m) => m.name === d.name))) continue
    merged.push(...r.body.delta)
    parts++
  }
  return parts >= 2 ? merged : undefined
}

/** For each knob the model saw at least twice, its best nearby move when it expects more than the noise; together, when two or more. */
function jointStep (moves: readonly Move[], model: KnobModel, spread: number): Move | undefined {
  const bestPerKnob = new Map<string, Move>()
  for (const move of moves) {
    const name = move.delta[0]!.name
    if (move.gain === undefined || move.gain <= spread / 2 || model.observations(name) < 2) continue
    const held = bestPerKnob.get(name)
    if (held === undefined || move.gain > held.gain!) bestPerKnob.set(name, move)
  }
  if (bestPerKnob.size < 2) return undefined
  const delta = [...bestPerKnob.values()].flatMap((m) => m.delta)
  return { delta, gain: [...bestPerKnob.values()].reduce((sum, m) => sum + m.gain!, 0) }
}

/** A knob and the way it moves ("DEPTH+"): what two changes on different parents have in common. */
function moveKey (d: DeltaEntry): string {
  const from = coordinate(d.name, d.from)
  const to = coordinate(d.name, d.to)
  return `${d.name}${from === undefined || to === undefined ? '?' : to > from ? '+' : '-'}`
}

/** The knob moves of the claims running now, on any parent. */
function movesInFlight (claims: ProposalContext['activeClaims']): Set<string> {
  const moving = new Set<string>()
  for (const c of claims) for (const d of c.delta) moving.add(moveKey(d))
  return moving
}

function describe (delta: readonly DeltaEntry[]): string {
  return delta.map((d) => `${d.name} ${String(d.from)} -> ${String(d.to)}`).join(', ')
}

