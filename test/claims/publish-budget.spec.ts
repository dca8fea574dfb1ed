import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { budgetMismatch } from '../../src/claims/publish.js'
import type { RunMetrics } from '../../src/runner/summary.js'

const metrics = (steps: number, seconds: number): RunMetrics => ({ val_bpb: 2.3, training_seconds: seconds, total_seconds: seconds + 5, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 1, num_steps: steps, num_params_M: 0.1, depth: 2 })

describe('a run an agent ran itself: trained to the budget this daemon compares runs at?', () => {
  it('a daemon with a step limit takes runs of exactly that many steps', () => {
    assert.equal(budgetMismatch(metrics(150, 4), { maxSteps: 150, timeBudgetS: 20 }), undefined)
    // The case found by hand: a 268-step time-budget run stamped with the daemon's 150 steps.
    assert.match(budgetMismatch(metrics(268, 20.1), { maxSteps: 150, timeBudgetS: 20 })!, /268 steps.*150 steps.*MAX_STEPS=150/)
  })

  it('a daemon on the time budget takes runs that trained the whole budget, not ones a step limit cut short', () => {
    assert.equal(budgetMismatch(metrics(268, 20.1), { timeBudgetS: 20 }), undefined)
    assert.equal(budgetMismatch(metrics(900, 300.4), { timeBudgetS: 300 }), undefined)
    assert.match(budgetMismatch(metrics(150, 11.2), { timeBudgetS: 20 })!, /11\.2 s of the 20 s.*unset MAX_STEPS/)
  })
})
