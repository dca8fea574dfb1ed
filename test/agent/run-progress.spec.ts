import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { duration, runEta, runProgressReporter } from '../../src/agent/run-progress.js'
import { ManualClock } from '../../src/util/clock.js'

describe('progress lines for a run', () => {
  it('a 5-minute run: a line every 30 s with step, loss and the time left, counted from the first step', () => {
    const clock = new ManualClock()
    const lines: string[] = []
    const report = runProgressReporter({ label: 'raise the LR', budget: { seconds: 300 }, clock, log: (l) => lines.push(l) })
    clock.advance(8_000) // start-up: imports, data, compile
    for (let step = 1; step <= 600; step++) {
      report({ step, lossBpb: 3 - step / 400 })
      clock.advance(500)
    }
    assert.equal(lines.length, 10, lines.join('\n'))
    assert.equal(lines[0], 'run: raise the LR: step 1 (0s of 5m00s) loss 2.998 bpb, about 5m00s left')
    assert.equal(lines[1], 'run: raise the LR: step 61 (30s of 5m00s) loss 2.848 bpb, about 4m30s left')
    assert.match(lines.at(-1)!, /step 541 \(4m30s of 5m00s\) .* about 30s left$/)
  })

  it('a step limit: steps done of the limit and the time left at the pace so far', () => {
    const clock = new ManualClock()
    const lines: string[] = []
    const report = runProgressReporter({ label: 'verify 1a2b', budget: { steps: 100 }, clock, log: (l) => lines.push(l), everyMs: 5_000 })
    for (let step = 0; step <= 100; step++) {
      report({ step, lossBpb: step === 50 ? Number.NaN : 2 })
      clock.advance(200)
    }
    assert.equal(lines[0], 'run: verify 1a2b: step 0/100 loss 2.000 bpb')
    assert.equal(lines[1], 'run: verify 1a2b: step 25/100 loss 2.000 bpb, about 15s left')
    assert.equal(lines[2], 'run: verify 1a2b: step 50/100 loss NaN bpb, about 10s left')
  })

  it('the status page\'s progress bar: the share of the budget done and the time left', () => {
    assert.deepEqual(runEta({ budget: { seconds: 300 }, firstAt: 10_000, firstStep: 1, step: 200, now: 85_000 }), { fraction: 0.25, leftMs: 225_000 })
    assert.deepEqual(runEta({ budget: { seconds: 300 }, firstAt: 0, firstStep: 1, step: 900, now: 400_000 }), { fraction: 1, leftMs: 0 }, 'past the budget (evaluation): full, nothing left')
    assert.deepEqual(runEta({ budget: { steps: 100 }, firstAt: 0, firstStep: 0, step: 40, now: 8_000 }), { fraction: 0.4, leftMs: 12_000 })
    assert.deepEqual(runEta({ budget: { steps: 100 }, firstAt: 0, firstStep: 5, step: 5, now: 0 }), { fraction: 0.05, leftMs: undefined }, 'no pace before a second step')
  })

  it('durations read as a person would say them', () => {
    assert.equal(duration(9_000), '9s')
    assert.equal(duration(65_000), '1m05s')
    assert.equal(duration(300_000), '5m00s')
  })
})
