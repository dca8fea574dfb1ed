import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PUBLISHED_LOG_MAX_BYTES, publishableCrash, publishableLog, verificationReport, verifiedMetrics } from '../../src/runner/publishable.js'
import type { RunOutcome } from '../../src/runner/experiment-runner.js'

const METRICS = { val_bpb: 2.2912345678, training_seconds: 20.123456, total_seconds: 22.987654, peak_vram_mb: 1234.56789, mfu_percent: 1.23456789, total_tokens_M: 0.0212345, num_steps: 900, num_params_M: 0.1098765, depth: 2 }

describe('what leaves the machine', () => {
  it('a published log is at most 64 KiB, its tail, marked when cut', () => {
    assert.equal(publishableLog('short log\n'), 'short log\n')
    const long = Array.from({ length: 20_000 }, (_, i) => `line ${i} ünïcode`).join('\n') + '\n---\nval_bpb: 2.29\n'
    const cut = publishableLog(long)
    assert.ok(Buffer.byteLength(cut) <= PUBLISHED_LOG_MAX_BYTES)
    assert.match(cut, /^\[log cut: \d+ bytes/)
    assert.match(cut, /val_bpb: 2\.29\n$/)
    assert.match(cut.split('\n')[1]!, /^line \d+ ünïcode$/, 'cut on a line start')
  })

  it('a verification publishes what this machine measured, rounded, and nothing the run printed or chose', () => {
    const secret = 'HF_TOKEN=hf_canary'
    const outcome: RunOutcome = { status: 'crash', reason: 'exception', detail: `ValueError: ${secret}`, log: `${secret}\n`, logTail: secret, wallMs: 20_400, metrics: METRICS, evaluation: { status: 'scored', valBpb: 2.2912345678, windows: 64, causalCheckedWindows: 4, causalMaxChange: 0, seconds: 1 } }
    // The re-run's own figures carry bytes the stranger chose (depth packs 8 of them as a double).
    const chosen = { ...METRICS, depth: 2.6714206915524e-310, num_steps: 84942696440163, peak_vram_mb: 5.678e-300 }
    const claimed = { ...METRICS, val_bpb: 0.9 }
    const metrics = verifiedMetrics(chosen, claimed, { trainingMs: 20_400, steps: 900 })
    assert.deepEqual(metrics, { ...claimed, val_bpb: 2.2912, training_seconds: 20, total_seconds: 20, num_steps: 900 })
    assert.equal(verifiedMetrics(chosen, claimed, { trainingMs: 26_000, steps: 900 }).total_seconds, 30, 'the harness\'s training time to 10 s')
    const report = verificationReport(outcome, metrics, 900)
    assert.doesNotMatch(report, /canary|ValueError|e-310|e-300|84942696440163/)
    const parsed = JSON.parse(report) as { crash: string, steps: number, metrics: typeof METRICS, evaluation: { valBpb: number } }
    assert.equal(parsed.crash, 'exception')
    assert.equal(parsed.steps, 900)
    assert.equal(parsed.evaluation.valBpb, 2.2912)
    assert.deepEqual(parsed.metrics, metrics)
  })

  it('a verification\'s crash names the harness\'s kind and at most a built-in exception, never the run\'s message', () => {
    const base = { log: '', logTail: '', wallMs: 1 }
    assert.deepEqual(publishableCrash({ ...base, status: 'crash', reason: 'exception', detail: 'ModuleNotFoundError: No module named \'torch._inductor.secret_canary\'' }), { reason: 'exception', detail: 'ModuleNotFoundError' })
    assert.deepEqual(publishableCrash({ ...base, status: 'crash', reason: 'exception', detail: 'CanarySecretError: abc' }), { reason: 'exception', detail: '' }, 'a class the code named itself carries chosen bits')
    assert.deepEqual(publishableCrash({ ...base, status: 'crash', reason: 'exit-code', detail: 'FAIL canary' }), { reason: 'exit-code', detail: '' })
    const timeout = publishableCrash({ ...base, status: 'crash', reason: 'timeout', detail: 'ran past its budget and was killed with its children' })
    assert.deepEqual(timeout, { reason: 'timeout', detail: 'ran past its budget and was killed with its children' }, 'the harness\'s own words')
  })
})
