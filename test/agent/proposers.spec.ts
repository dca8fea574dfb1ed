import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BuiltinProposer, frozenFor } from '../../src/agent/builtin-proposer.js'
import { whyNotRunnable } from '../../src/agent/knobs.js'
import { CommandProposer } from '../../src/agent/command-proposer.js'
import { ProposalError } from '../../src/agent/proposer.js'
import { parseConstants } from '../../src/source/train-constants.js'
import { seededRng } from '../../src/util/rng.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import { HARNESS_DIR } from '../helpers/python.js'
import type { ProposalContext } from '../../src/agent/proposer.js'
import type { ResultBody } from '../../src/state/record-kinds.js'

const hash = (n: number): string => n.toString(16).padStart(64, '0')

function result (n: number, delta: ResultBody['delta'], status: ResultBody['status'], parent: string | null = null): ProposalContext['results'][number] {
  return {
    id: hash(n),
    author: 'peer',
    body: { claimId: hash(1000 + n), parent, codeHash: hash(2000 + n), logHash: hash(3000 + n), description: 'x', delta, status, metrics: null, crash: null, hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: 'h' }
  }
}

describe('BuiltinProposer', () => {
  let source: string
  before(async () => { source = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8') })
  const context = (extra: Partial<ProposalContext> = {}): ProposalContext => ({ baseline: { resultId: null, source, valBpb: 3.7 }, results: [], hypotheses: [], activeClaims: [], ...extra })

  it('changes exactly one hyperparameter of the baseline and says which', async () => {
    const proposal = await new BuiltinProposer({ rng: seededRng(1) }).propose(context())
    assert.equal(proposal.delta.length, 1)
    const [d] = proposal.delta
    assert.notEqual(d!.from, d!.to)
    assert.notEqual(d!.name, 'SEED')
    assert.equal(parseConstants(proposal.source).find((c) => c.name === d!.name)?.value, d!.to)
    assert.match(proposal.description, new RegExp(d!.name))
  })

  it('is repeatable for a seed', async () => {
    const a = await new BuiltinProposer({ rng: seededRng(42) }).propose(context())
    const b = await new BuiltinProposer({ rng: seededRng(42) }).propose(context())
    assert.deepEqual(a.delta, b.delta)
  })

  it('takes an open hypothesis with a suggested delta first', async () => {
    const proposal = await new BuiltinProposer({ rng: seededRng(3) }).propose(context({
      hypotheses: [{ id: hash(77), body: { title: 'wider', text: '', suggestedDelta: [{ name: 'WIDTH', from: 64, to: 96 }] } }]
    }))
    assert.deepEqual(proposal.delta, [{ name: 'WIDTH', from: 64, to: 96 }])
    assert.equal(proposal.hypothesis, hash(77))
  })

  it('proposes only values train.py can run: each knob in its range, heads that split the width evenly', async () => {
    // A baseline at the edges, where a blind step leaves the range: BETA2 0.99 x 1.4, HEADS 4 +- 1.
    for (let seed = 1; seed <= 200; seed++) {
      const proposal = await new BuiltinProposer({ rng: seededRng(seed) }).propose(context())
      const constants = new Map(parseConstants(proposal.source).map((c) => [c.name, c.value]))
      assert.equal(whyNotRunnable(constants), undefined, `seed ${seed}: ${proposal.description}`)
    }
    // A hypothesis that suggests what cannot run is passed over.
    const proposal = await new BuiltinProposer({ rng: seededRng(3) }).propose(context({
      hypotheses: [{ id: hash(78), body: { title: 'no second moment decay', text: '', suggestedDelta: [{ name: 'BETA2', from: 0.99, to: 1.39 }] } }]
    }))
    assert.equal(proposal.hypothesis, undefined)
  })

  it('steps a small count on to the nearest value that runs: HEADS moves although 3 and 5 never split a width of 64', async () => {
    const frozen = parseConstants(source).map((c) => c.name).filter((name) => name !== 'HEADS')
    const seen = new Set<unknown>()
    for (let seed = 1; seed <= 20; seed++) seen.add((await new BuiltinProposer({ rng: seededRng(seed) }, { frozen }).propose(context())).delta[0]!.to)
    assert.deepEqual([...seen].sort(), [2, 8])
  })

  it('knows what cannot run, and why', () => {
    const defaults = new Map<string, unknown>([['WIDTH', 64], ['HEADS', 4], ['BETA2', 0.99], ['GPU_WIDTH', 768], ['GPU_HEADS', 6]])
    assert.equal(whyNotRunnable(defaults), undefined)
    assert.match(whyNotRunnable(new Map([...defaults, ['BETA2', 1.39]])) ?? '', /BETA2 1\.39 is outside \(0, 1\)/)
    assert.match(whyNotRunnable(new Map([...defaults, ['HEADS', 5]])) ?? '', /HEADS 5 does not split WIDTH 64/)
    assert.match(whyNotRunnable(new Map([...defaults, ['HEADS', 64]])) ?? '', /even/, 'a head dimension of 1 has no channel pairs to rotate')
    assert.match(whyNotRunnable(new Map([...defaults, ['DEPTH', 2.5]])) ?? '', /whole numbers/)
    assert.equal(whyNotRunnable(new Map([...defaults, ['MY_OWN_KNOB', -3]])), undefined, 'a knob an agent added is not bounded')
  })

  it('never tries again, on any parent, a change that crashed', async () => {
    // Only WIDTH may change: 64 -> 32, 48, 96 or 128. 96 crashed on another parent.
    const frozen = parseConstants(source).map((c) => c.name).filter((name) => name !== 'WIDTH')
    const crash = { ...result(9, [{ name: 'WIDTH', from: 80, to: 96 }], 'crash', hash(555)) }
    crash.body = { ...crash.body, crash: { reason: 'exception', detail: 'RuntimeError: out of range' } }
    const stopped = { ...result(10, [{ name: 'WIDTH', from: 80, to: 128 }], 'crash', hash(555)) }
    stopped.body = { ...stopped.body, crash: { reason: 'killed', detail: 'aborted' } }
    const proposed = new Set<unknown>()
    for (let seed = 1; seed <= 60; seed++) {
      const proposal = await new BuiltinProposer({ rng: seededRng(seed) }, { frozen }).propose(context({ results: [crash, stopped] }))
      proposed.add(proposal.delta[0]!.to)
    }
    assert.equal(proposed.has(96), false, 'the crashed value is not proposed again')
    assert.equal(proposed.has(128), true, 'a run that was stopped is no evidence against its values')
  })

  it('never proposes a change already tried or running on the same parent', async () => {
    const first = await new BuiltinProposer({ rng: seededRng(5) }).propose(context())
    const again = await new BuiltinProposer({ rng: seededRng(5) }).propose(context({ results: [result(1, first.delta, 'discard')] }))
    assert.notDeepEqual(again.delta, first.delta)
    const running = await new BuiltinProposer({ rng: seededRng(5) }).propose(context({ activeClaims: [{ description: '', delta: first.delta, parent: null }] }))
    assert.notDeepEqual(running.delta, first.delta)
  })

  it('scales sizes by a factor and never collapses one to 1 (WIDTH 64 -> 1 cannot even run)', async () => {
    const widths = new Set<number>()
    for (let seed = 0; seed < 300; seed++) {
      const [d] = (await new BuiltinProposer({ rng: seededRng(seed) }).propose(context())).delta
      if (d!.name === 'WIDTH') widths.add(d!.to as number)
    }
    assert.deepEqual([...widths].sort((x, y) => x - y), [32, 48, 96, 128])
  })

  it('changes only what the profile uses: the gpu sizes on the gpu profile, never the cpu ones it overrides (and the reverse)', async () => {
    const picked = async (profile: 'cpu' | 'gpu'): Promise<Set<string>> => {
      const names = new Set<string>()
      for (let seed = 0; seed < 200; seed++) names.add((await new BuiltinProposer({ rng: seededRng(seed) }, { frozen: frozenFor(profile) }).propose(context())).delta[0]!.name)
      return names
    }
    const gpu = await picked('gpu')
    const cpu = await picked('cpu')
    for (const name of ['DEPTH', 'WIDTH', 'HEADS', 'LEARNING_RATE', 'BATCH_SIZE', 'SEED']) assert.ok(!gpu.has(name), `gpu changed ${name}`)
    assert.ok(['GPU_DEPTH', 'GPU_WIDTH', 'GPU_LEARNING_RATE'].some((n) => gpu.has(n)), [...gpu].join(' '))
    assert.ok([...cpu].every((n) => !n.startsWith('GPU_') && n !== 'SEED'), [...cpu].join(' '))
    assert.ok(['DEPTH', 'WIDTH'].some((n) => cpu.has(n)))
  })
})

