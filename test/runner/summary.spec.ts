import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { classifyRun } from '../../src/runner/classify.js'
import { parseProgress, parseSummary } from '../../src/runner/summary.js'

const summary = `progress: step 1 loss 8.0 bpb
---
val_bpb: 2.291234
training_seconds: 20.0
total_seconds: 22.5
peak_vram_mb: 0.0
mfu_percent: 0.00
total_tokens_M: 1.2
num_steps: 1000
num_params_M: 0.131
depth: 2
`

describe('summary parsing and run classification', () => {
  it('reads every metric of the summary block', () => {
    const parsed = parseSummary(summary)
    assert.ok('metrics' in parsed)
    assert.equal(parsed.metrics.val_bpb, 2.291234)
    assert.equal(parsed.metrics.num_steps, 1000)
    assert.equal(parsed.metrics.depth, 2)
  })

  it('reports a missing, incomplete or non-finite summary', () => {
    assert.deepEqual(Object.keys(parseSummary('hello')), ['problem', 'detail'])
    assert.equal((parseSummary('---\nval_bpb: 2.0\n') as { problem: string }).problem, 'incomplete')
    assert.equal((parseSummary(summary.replace('2.291234', 'nan')) as { problem: string }).problem, 'nan')
  })

  it('parses progress lines', () => {
    assert.deepEqual(parseProgress('progress: step 87 loss 3.2750 bpb lr 4.67e-03 87/100 steps'), { step: 87, lossBpb: 3.275 })
    assert.equal(parseProgress('step 87'), undefined)
  })

  it('classifies each way a run ends', () => {
    assert.equal(classifyRun({ exitCode: 0, signal: undefined, timedOut: false, log: summary }).status, 'ok')
    const reason = (end: Parameters<typeof classifyRun>[0]): string | undefined => { const v = classifyRun(end); return v.status === 'crash' ? v.reason : undefined }
    assert.equal(reason({ exitCode: undefined, signal: 'SIGKILL', timedOut: true, log: summary }), 'timeout')
    assert.equal(reason({ exitCode: 1, signal: undefined, timedOut: false, log: 'FAIL: loss is nan at step 3\n' }), 'nan')
    assert.equal(reason({ exitCode: 1, signal: undefined, timedOut: false, log: 'Traceback (most recent call last):\n  File "train.py"\nZeroDivisionError: division by zero\n' }), 'exception')
    assert.equal(reason({ exitCode: 3, signal: undefined, timedOut: false, log: 'bye\n' }), 'exit-code')
    assert.equal(reason({ exitCode: 0, signal: undefined, timedOut: false, log: 'done, forgot the summary\n' }), 'no-summary')
    assert.equal(reason({ exitCode: undefined, signal: 'SIGSEGV', timedOut: false, log: '' }), 'killed')
  })
})
