import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BuiltinProposer } from '../../src/agent/builtin-proposer.js'
import { fitKnobModel, KnobFit } from '../../src/agent/knob-model.js'
import { seededRng } from '../../src/util/rng.js'
import { HARNESS_DIR } from '../helpers/python.js'
import type { Observation } from '../../src/agent/knob-model.js'
import type { ProposalContext } from '../../src/agent/proposer.js'
import type { DeltaEntry, ResultBody } from '../../src/state/record-kinds.js'

const hash = (n: number): string => n.toString(16).padStart(64, '0')

/** A finished result with a number, as the proposer's context lists it. */
function scored (n: number, delta: DeltaEntry[], valBpb: number, parent: string | null, status: ResultBody['status'] = 'discard'): ProposalContext['results'][number] {
  const metrics = { val_bpb: valBpb, training_seconds: 1, total_seconds: 1, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 1, num_steps: 10, num_params_M: 1, depth: 2 }
  return {
    id: hash(n),
    author: `peer${n % 5}`,
    body: { claimId: hash(1000 + n), parent, codeHash: hash(2000 + n), logHash: hash(3000 + n), description: 'x', delta, status, metrics, crash: null, hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: 'h' }
  }
}

/** A known landscape, unknown to the model: bowls in LEARNING_RATE (best 0.003) and WIDTH (best 192), DEPTH does nothing. */
function truth (c: { LEARNING_RATE: number, WIDTH: number }): number {
  return 1.5 + 0.04 * Math.log2(c.LEARNING_RATE / 0.003) ** 2 + 0.03 * Math.log2(c.WIDTH / 192) ** 2
}

describe('the knob model', () => {
  it('fits a known landscape from parent → child differences anywhere in the lineage, and points at its optimum', () => {
    const rng = seededRng(4)
    const observations: Observation[] = []
    for (let i = 0; i < 60; i++) {
      // Random parents, one or two knobs changed by a random factor each: what a swarm's results look like.
      const parent = { LEARNING_RATE: 0.001 * 2 ** (rng.next() * 4), WIDTH: 32 * 2 ** (rng.next() * 4) }
      const child = { ...parent }
      const delta: DeltaEntry[] = []
      if (rng.next() < 0.7) { child.LEARNING_RATE = parent.LEARNING_RATE * 2 ** (rng.next() * 2 - 1); delta.push({ name: 'LEARNING_RATE', from: parent.LEARNING_RATE, to: child.LEARNING_RATE }) }
      if (delta.length === 0 || rng.next() < 0.5) { child.WIDTH = Math.round(parent.WIDTH * 2 ** (rng.next() * 2 - 1)); delta.push({ name: 'WIDTH', from: parent.WIDTH, to: child.WIDTH }) }
      observations.push({ delta, change: truth(child) - truth(parent) + (rng.next() - 0.5) * 0.002 })
    }
    const model = fitKnobModel(observations)
    assert.ok(model.residual < 0.002, `residual ${model.residual}`)
    // Towards the optimum is better, past it worse, by about what the landscape says.
    const move = (name: string, from: number, to: number): number => model.predict([{ name, from, to }])!
    assert.ok(Math.abs(move('LEARNING_RATE', 0.01, 0.005) - (truth({ LEARNING_RATE: 0.005, WIDTH: 192 }) - truth({ LEARNING_RATE: 0.01, WIDTH: 192 }))) < 0.003)
    assert.ok(move('LEARNING_RATE', 0.003, 0.006) > 0, 'past the optimum is worse')
    const widths = [48, 96, 144, 192, 256, 384, 768]
    const bestWidth = widths.reduce((best, w) => (move('WIDTH', 64, w) < move('WIDTH', 64, best) ? w : best))
    assert.equal(bestWidth, 192)
    assert.equal(model.predict([{ name: 'DEPTH', from: 2, to: 3 }]), undefined, 'a knob never moved: no opinion')
    assert.equal(model.observations('WIDTH') > 0 && model.observations('DEPTH') === 0, true)
  })
})

describe('KnobFit: the same model from sums kept as results come and go', () => {
  it('adding and taking away observations fits what a fresh fit of the rest fits', () => {
    const rng = seededRng(9)
    const observations: Observation[] = Array.from({ length: 80 }, () => {
      const from = { LEARNING_RATE: 0.001 * 2 ** (rng.next() * 4), WIDTH: 32 * 2 ** (rng.next() * 4) }
      const to = { LEARNING_RATE: from.LEARNING_RATE * 2 ** (rng.next() * 2 - 1), WIDTH: Math.round(from.WIDTH * 2 ** (rng.next() * 2 - 1)) }
      const delta = rng.next() < 0.5
        ? [{ name: 'LEARNING_RATE', from: from.LEARNING_RATE, to: to.LEARNING_RATE }]
        : [{ name: 'LEARNING_RATE', from: from.LEARNING_RATE, to: to.LEARNING_RATE }, { name: 'WIDTH', from: from.WIDTH, to: to.WIDTH }]
      return { delta, change: truth({ ...from, ...to }) - truth(from) + (rng.next() - 0.5) * 0.002 }
    })
    const kept = observations.filter((_, i) => i % 3 !== 0)
    const fit = new KnobFit()
    for (const o of observations) fit.add(o)
    for (const [i, o] of observations.entries()) if (i % 3 === 0) fit.add(o, -1)
    const incremental = fit.model()
    const fresh = fitKnobModel(kept)
    assert.ok(Math.abs(incremental.residual - fresh.residual) < 1e-9, `${incremental.residual} vs ${fresh.residual}`)
    for (const delta of [[{ name: 'LEARNING_RATE', from: 0.01, to: 0.005 }], [{ name: 'WIDTH', from: 64, to: 192 }], [{ name: 'LEARNING_RATE', from: 0.002, to: 0.004 }, { name: 'WIDTH', from: 300, to: 150 }]]) {
      assert.ok(Math.abs(incremental.predict(delta)! - fresh.predict(delta)!) < 1e-9, JSON.stringify(delta))
    }
    assert.equal(incremental.observations('LEARNING_RATE'), kept.length)
    assert.equal(incremental.predict([{ name: 'DEPTH', from: 2, to: 3 }]), undefined)
    // Everything taken away: no opinion on any knob again.
    for (const o of kept) fit.add(o, -1)
    assert.equal(fit.model().predict([{ name: 'WIDTH', from: 64, to: 128 }]), undefined)
  })
})

describe('BuiltinProposer: the joint search', () => {
  let source: string
  before(async () => { source = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8') })
  const base = hash(500)
  const context = (extra: Partial<ProposalContext> = {}): ProposalContext => ({ baseline: { resultId: base, source, valBpb: 2.0 }, results: [], hypotheses: [], activeClaims: [], ...extra })

  it('merges improvements found in parallel on the baseline into one candidate', async () => {
    const results = [
      scored(1, [{ name: 'WIDTH', from: 64, to: 128 }], 1.95, base, 'keep'),
      scored(2, [{ name: 'LEARNING_RATE', from: 0.01, to: 0.005 }], 1.97, base, 'keep'),
      scored(3, [{ name: 'DEPTH', from: 2, to: 3 }], 2.02, base),
      // Another change to a knob already merged, worse than the first: left out.
      scored(4, [{ name: 'WIDTH', from: 64, to: 96 }], 1.98, base, 'keep')
    ]
    for (const seed of [1, 2, 3]) {
      const proposal = await new BuiltinProposer({ rng: seededRng(seed) }).propose(context({ results }))
      assert.deepEqual(proposal.delta, [{ name: 'WIDTH', from: 64, to: 128 }, { name: 'LEARNING_RATE', from: 0.01, to: 0.005 }])
      assert.match(proposal.source, /^WIDTH = 128/m)
      assert.match(proposal.source, /^LEARNING_RATE = 0\.005/m)
    }
    // Once that merge is claimed (or ran), the search moves on.
    const claimed = { description: '', delta: [{ name: 'WIDTH', from: 64, to: 128 }, { name: 'LEARNING_RATE', from: 0.01, to: 0.005 }], parent: base }
    const next = await new BuiltinProposer({ rng: seededRng(1) }).propose(context({ results, activeClaims: [claimed] }))
    assert.notDeepEqual(next.delta, claimed.delta)
  })

  it('uses every shared result, not only the baseline\'s children: moves the knobs the swarm found helpful, in their helpful direction', async () => {
    // On other parents: a higher LEARNING_RATE hurt every time, a wider model helped; DEPTH did nothing.
    const results: ProposalContext['results'] = []
    let n = 10
    for (const parent of [hash(600), hash(601), hash(602)]) {
      results.push(scored(n++, [{ name: 'LEARNING_RATE', from: 0.01, to: 0.02 }], 2.05, parent), scored(n++, [{ name: 'LEARNING_RATE', from: 0.01, to: 0.014 }], 2.02, parent))
      results.push(scored(n++, [{ name: 'WIDTH', from: 64, to: 96 }], 1.96, parent), scored(n++, [{ name: 'WIDTH', from: 64, to: 128 }], 1.93, parent))
      results.push(scored(n++, [{ name: 'DEPTH', from: 2, to: 3 }], 2.0, parent))
    }
    // Their parents' numbers: 2.0 each.
    for (const [i, id] of [hash(600), hash(601), hash(602)].entries()) results.push({ ...scored(700 + i, [], 2.0, null), id })
    const moves = new Map<string, number>()
    for (let seed = 0; seed < 100; seed++) {
      const p = await new BuiltinProposer({ rng: seededRng(seed) }).propose(context({ results }))
      for (const d of p.delta) {
        const key = `${d.name} ${(d.to as number) > (d.from as number) ? 'up' : 'down'}`
        moves.set(key, (moves.get(key) ?? 0) + 1)
      }
    }
    const count = (key: string): number => moves.get(key) ?? 0
    assert.ok(count('WIDTH up') > 30, JSON.stringify([...moves]))
    assert.ok(count('LEARNING_RATE down') > count('LEARNING_RATE up') * 3, JSON.stringify([...moves]))
    assert.ok(count('WIDTH up') > count('WIDTH down') * 3, JSON.stringify([...moves]))
  })

  it('spreads agents over knobs: with nothing known, seeds pick many different knobs; a claimed move is left to its claimant', async () => {
    const empty = { ...context(), baseline: { resultId: null, source, valBpb: null } }
    const knobs = new Set<string>()
    const picks: DeltaEntry[][] = []
    for (let seed = 0; seed < 40; seed++) {
      const p = await new BuiltinProposer({ rng: seededRng(seed) }).propose(empty)
      knobs.add(p.delta[0]!.name)
      picks.push(p.delta)
    }
    assert.ok(knobs.size >= 8, [...knobs].join(' '))
    const claimed = await new BuiltinProposer({ rng: seededRng(0) }).propose({ ...empty, activeClaims: [{ description: '', delta: picks[0]!, parent: null }] })
    assert.notDeepEqual(claimed.delta, picks[0])
  })

  it('leaves a knob a peer is moving the same way now, on any parent, to that peer: its result informs this node within a run', async () => {
    // On other lineages a wider model helped every time: alone, one-knob proposals widen.
    const results: ProposalContext['results'] = []
    let n = 10
    for (const parent of [hash(600), hash(601), hash(602)]) results.push(scored(n++, [{ name: 'WIDTH', from: 32, to: 64 }], 1.9, parent), scored(n++, [{ name: 'WIDTH', from: 48, to: 96 }], 1.88, parent))
    for (const [i, id] of [hash(600), hash(601), hash(602)].entries()) results.push({ ...scored(700 + i, [], 2.0, null), id })
    // A peer widens its own lineage now: another parent, another width.
    const widening = { description: '', delta: [{ name: 'WIDTH', from: 96, to: 192 }], parent: hash(603), codeHash: null }
    const widened = async (activeClaims: ProposalContext['activeClaims']): Promise<number> => {
      let count = 0
      for (let seed = 0; seed < 40; seed++) {
        const p = await new BuiltinProposer({ rng: seededRng(seed) }).propose(context({ results, activeClaims }))
        if (p.delta.length === 1 && p.delta[0]!.name === 'WIDTH' && (p.delta[0]!.to as number) > (p.delta[0]!.from as number)) count++
      }
      return count
    }
    assert.ok(await widened([]) >= 30, 'alone, the helpful knob is moved')
    assert.equal(await widened([widening]), 0)
  })

  it('is deterministic for a seed, with results to fit', async () => {
    const results = [scored(1, [{ name: 'WIDTH', from: 64, to: 128 }], 1.95, base), scored(2, [{ name: 'DEPTH', from: 2, to: 3 }], 2.01, base)]
    const a = await new BuiltinProposer({ rng: seededRng(9) }).propose(context({ results }))
    const b = await new BuiltinProposer({ rng: seededRng(9) }).propose(context({ results }))
    assert.deepEqual(a, b)
  })
  it('once every one-knob move of the baseline is taken, goes on with two knobs instead of giving up', async () => {
    const proposer = new BuiltinProposer({ rng: seededRng(5) })
    const activeClaims: ProposalContext['activeClaims'] = []
    let singles = 0
    for (let i = 0; i < 500; i++) {
      const proposal = await proposer.propose(context({ activeClaims }))
      activeClaims.push({ description: proposal.description, delta: proposal.delta, parent: base, codeHash: null })
      if (proposal.delta.length === 1) { singles++; continue }
      assert.equal(proposal.delta.length, 2, JSON.stringify(proposal.delta))
      assert.notEqual(proposal.delta[0]!.name, proposal.delta[1]!.name)
      assert.ok(singles >= 20, `two knobs only after the one-knob moves (${singles} of them) ran out`)
      return
    }
    assert.fail('never proposed two knobs')
  })
})
