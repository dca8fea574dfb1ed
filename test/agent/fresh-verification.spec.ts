import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BuiltinProposer } from '../../src/agent/builtin-proposer.js'
import { ResultPublisher } from '../../src/claims/publish.js'
import { FRESH_SAMPLE_USES, ResearchLoop } from '../../src/agent/research-loop.js'
import { ScriptedExperimentRunner } from '../../src/runner/scripted-runner.js'
import { ClaimBook } from '../../src/claims/claim-book.js'
import { ResearchLedger } from '../../src/claims/research-ledger.js'
import { HypothesisBook } from '../../src/claims/hypotheses.js'
import { TrustLedger } from '../../src/trust/trust-ledger.js'
import { sha256Hex } from '../../src/util/hash.js'
import { seededRng } from '../../src/util/rng.js'
import { TickingClock } from '../helpers/loop-fixture.js'
import { deliver, makeReplica, publishAs } from '../helpers/replica.js'
import { HARNESS_DIR } from '../helpers/python.js'
import type { ExperimentSpec, RunOutcome } from '../../src/runner/experiment-runner.js'

const WINDOWS = 256
const CONTEXT = 64

/**
 * The scripted runner with the harness's fresh sample: a run given a seed is also scored on
 * WINDOWS windows whose difficulty depends on the seed (the same for every run on that seed) and
 * whose level is the model's true quality. A source marked `# memorised` scores 1.0 on the fixed
 * slice (it carries the text) and its true quality on fresh windows.
 */
function freshRunner (): { runner: ScriptedExperimentRunner, specs: ExperimentSpec[] } {
  const runner = new ScriptedExperimentRunner((c) => 4 - 0.002 * Number(c.get('WIDTH')))
  const specs: ExperimentSpec[] = []
  const scripted = runner.run.bind(runner)
  runner.run = async (spec, options): Promise<RunOutcome> => {
    specs.push(spec)
    const outcome = await scripted(spec, options)
    if (outcome.status !== 'ok') return outcome
    const quality = outcome.metrics!.val_bpb
    const fixed = spec.source.includes('# memorised') ? 1.0 : quality
    outcome.metrics = { ...outcome.metrics!, val_bpb: fixed }
    const rng = seededRng(Number.parseInt(sha256Hex(Buffer.from(spec.freshSeed ?? '')).slice(0, 8), 16))
    const nats = Array.from({ length: WINDOWS }, () => (quality + rng.next() - 0.5) * CONTEXT * Math.LN2)
    outcome.evaluation = { status: 'scored', valBpb: fixed, windows: 1008, causalCheckedWindows: 256, causalMaxChange: 0, seconds: 1, answerers: 2, ...(spec.freshSeed !== undefined ? { fresh: { windows: WINDOWS, bytesPerWindow: CONTEXT, nats } } : {}) }
    return outcome
  }
  return { runner, specs }
}



describe('ResearchLoop: every verification scores the result and the default train.py on a fresh sample (issue 13)', () => {
  it('a result that carries the validation text reproduces exactly yet is refuted as overfit; an honest improvement is trusted', async () => {
    const clock = new TickingClock()
    const a = await makeReplica({ seed: 91, clock })
    const honest = await makeReplica({ seed: 92, clock })
    const cheat = await makeReplica({ seed: 93, clock })
    const blobs = new Map<string, Uint8Array>()
    const { runner, specs } = freshRunner()
    const log: string[] = []
    const ledger = new ResearchLedger(a.state, 'h1')
    const trust = new TrustLedger(ledger, { self: a.state.peerId, quorum: 2, reputationAfter: 3, tolerance: 0.01 })
    const defaultSource = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    let seeds = 0
    const blobAccess = { add: async (bytes: Uint8Array) => { const h = sha256Hex(bytes); blobs.set(h, bytes); return h }, get: async (hash: string) => blobs.get(hash) ?? Promise.reject(new Error('missing')) }
    const loop = new ResearchLoop({
      state: a.state,
      blobs: blobAccess,
      runner,
      proposer: new BuiltinProposer({ rng: seededRng(7) }),
      clock: a.clock,
      log: (l) => log.push(l),
      claims: new ClaimBook({ state: a.state, ledger, clock: a.clock }, { settleMs: 0 }),
      hypotheses: new HypothesisBook({ state: a.state, ledger, clock: a.clock }, { perHour: 20 }),
      trust,
      publisher: new ResultPublisher({ state: a.state, ledger, blobs: blobAccess, clock: a.clock, defaultSource }, { hardware: { gpu: 'cpu', vramGb: 0 }, tier: 'cpu', harness: 'h1', maxSteps: 10 }),
      freshSeed: () => `seed-${++seeds}`
    }, { profile: 'cpu', tier: 'cpu', hardware: { gpu: 'cpu', vramGb: 0 }, harness: 'h1', defaultSource, maxSteps: 10, claimTtlMs: 60_000, maxExperiments: 2, retryMs: 1 })

    const better = defaultSource.replace(/^WIDTH = \d+/m, 'WIDTH = 96')
    const memorised = `${defaultSource}\n# memorised\n`
    const honestId = await publishAs(honest, better, 4 - 0.002 * 96, 'WIDTH 64 -> 96')
    const cheatId = await publishAs(cheat, memorised, 1.0, 'a secret trick')
    for (const source of [better, memorised]) blobs.set(sha256Hex(Buffer.from(source)), Buffer.from(source))
    await deliver(honest, a)
    await deliver(cheat, a)

    loop.start()
    await loop.done
    const published = a.state.list('verification').filter((v) => v.record.author === a.state.peerId).map((v) => v.record.body as { result: string, metrics: unknown, crash?: { reason: string }, freshSample?: { overfit: boolean, fixedAdvantage: number, freshAdvantage: number } })
    const onCheat = published.find((v) => v.result === cheatId)
    const onHonest = published.find((v) => v.result === honestId)
    assert.ok(onCheat !== undefined && onHonest !== undefined, log.join('\n'))
    assert.equal(onCheat.metrics, null)
    assert.equal(onCheat.crash?.reason, 'overfit')
    assert.equal(onCheat.freshSample?.overfit, true)
    assert.ok(onCheat.freshSample.fixedAdvantage > 2.5 && Math.abs(onCheat.freshSample.freshAdvantage) < 0.05, JSON.stringify(onCheat.freshSample))
    assert.equal(trust.status(cheatId), 'refuted')
    assert.ok(trust.state.caught.has(cheat.state.peerId))
    assert.equal(onHonest.freshSample?.overfit, false)
    assert.notEqual(onHonest.metrics, null)
    assert.equal(trust.status(honestId), 'trusted')
    // The re-runs and the default train.py, the same steps, on this node's secret seed: one reference run serves both verifications.
    const references = specs.filter((s) => s.id.endsWith('-ref'))
    assert.equal(references.length, 1)
    assert.ok(references.every((s) => s.source === defaultSource && s.maxSteps === 10 && s.foreign !== true))
    assert.equal(specs.filter((s) => s.freshSeed === references[0]!.freshSeed).length, 3, 'both re-runs and the reference share the seed')
    assert.equal(seeds, 1, 'one seed drawn')
    assert.ok(seeds <= FRESH_SAMPLE_USES)
  })
})
