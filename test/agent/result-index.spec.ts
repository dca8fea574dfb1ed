import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ResultIndex } from '../../src/agent/result-index.js'
import { changeKey } from '../../src/agent/knobs.js'
import type { ProposalContext } from '../../src/agent/proposer.js'
import type { DeltaEntry, ResultBody } from '../../src/state/record-kinds.js'

const hash = (n: number): string => n.toString(16).padStart(64, '0')
type Result = ProposalContext['results'][number]

function result (n: number, parent: number | null, delta: DeltaEntry[], valBpb: number | null, crash?: string): Result {
  const metrics = valBpb === null ? null : { val_bpb: valBpb, training_seconds: 1, total_seconds: 1, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 1, num_steps: 10, num_params_M: 1, depth: 2 }
  const body: ResultBody = {
    claimId: hash(1000 + n), parent: parent === null ? null : hash(parent), codeHash: hash(2000 + n), logHash: hash(3000 + n), description: 'x', delta,
    status: crash !== undefined ? 'crash' : 'discard', metrics, crash: crash !== undefined ? { reason: crash, detail: '' } : null,
    hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: 'h'
  }
  return { id: hash(n), author: 'peer', body }
}

const lr = (from: number, to: number): DeltaEntry[] => [{ name: 'LEARNING_RATE', from, to }]

describe('ResultIndex: the shared results as the builtin proposer reads them', () => {
  it('counts a child once its parent has a number, whichever came first', () => {
    const index = new ResultIndex()
    const child = result(2, 1, lr(0.01, 0.02), 1.9)
    index.sync([child])
    assert.equal(index.model().observations('LEARNING_RATE'), 0, 'the parent is not here yet')
    index.sync([child, result(1, null, [], 2.0)])
    assert.equal(index.model().observations('LEARNING_RATE'), 1, 'the parent came: 1.9 against its 2.0')
    index.sync([child, result(1, null, [], 2.0), result(3, 2, lr(0.02, 0.04), 1.85)])
    assert.equal(index.model().observations('LEARNING_RATE'), 2, 'and child 3 of result 2')
    assert.deepEqual(index.children(hash(2)).map((r) => r.id), [hash(3)])
    assert.ok(index.ran(hash(2003)))
  })

  it("children of the default train.py follow the mean of its runs", () => {
    const index = new ResultIndex()
    const child = result(5, null, lr(0.01, 0.02), 1.9)
    index.sync([child])
    assert.equal(index.model().observations('LEARNING_RATE'), 0, 'no default run yet')
    index.sync([child, result(6, null, [], 2.0)])
    assert.equal(index.model().observations('LEARNING_RATE'), 1)
    assert.ok(Math.abs(index.typicalChange()! - 0.1) < 1e-12)
    index.sync([child, result(6, null, [], 2.0), result(7, null, [], 2.2)])
    assert.equal(index.model().observations('LEARNING_RATE'), 1, 'the same child, once')
    assert.ok(Math.abs(index.typicalChange()! - 0.2) < 1e-12, 'measured against the mean of 2.0 and 2.2')
  })

  it('a result that leaves the context (discredited) takes what it said with it', () => {
    const index = new ResultIndex()
    const parent = result(1, null, [], 2.0)
    const crash = result(2, 1, lr(0.01, 5), null, 'nan-loss')
    const machine = result(3, 1, lr(0.01, 0.03), null, 'killed')
    const child = result(4, 1, lr(0.01, 0.02), 1.9)
    index.sync([parent, crash, machine, child])
    assert.deepEqual([...index.crashed], [changeKey(lr(0.01, 5))], 'a crash of the machine is no evidence against the values')
    assert.equal(index.children(hash(1)).length, 3)
    index.sync([parent, machine, child])
    assert.deepEqual([...index.crashed], [])
    assert.ok(!index.ran(hash(2002)))
    assert.equal(index.children(hash(1)).length, 2)
    index.sync([machine, child])
    assert.equal(index.model().observations('LEARNING_RATE'), 0, 'its parent left: no observation')
  })
})
