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
    const scored = { status: 'scored', valBpb: 2.3, windows: 1008, causalCheckedWindows: 252, causalMaxChange: 0, seconds: 0.2 } as const
    const absent = { status: 'absent' } as const
    assert.equal(classifyRun({ exitCode: 0, signal: undefined, timedOut: false, log: summary, evaluation: scored }).status, 'ok')
    const reason = (end: Parameters<typeof classifyRun>[0]): string | undefined => { const v = classifyRun(end); return v.status === 'crash' ? v.reason : undefined }
    assert.equal(reason({ exitCode: undefined, signal: 'SIGKILL', timedOut: true, log: summary, evaluation: absent }), 'timeout')
    assert.equal(reason({ exitCode: 1, signal: undefined, timedOut: false, log: 'FAIL: loss is nan at step 3\n', evaluation: absent }), 'nan')
    assert.equal(reason({ exitCode: 1, signal: undefined, timedOut: false, log: 'Traceback (most recent call last):\n  File "train.py"\nZeroDivisionError: division by zero\n', evaluation: absent }), 'exception')
    assert.equal(reason({ exitCode: 3, signal: undefined, timedOut: false, log: 'bye\n', evaluation: absent }), 'exit-code')
    assert.equal(reason({ exitCode: 0, signal: undefined, timedOut: false, log: 'done, forgot the summary\n', evaluation: scored }), 'no-summary')
    assert.equal(reason({ exitCode: undefined, signal: 'SIGSEGV', timedOut: false, log: '', evaluation: absent }), 'killed')
  })

  it('reads the exception a run died on even when its stdout lands after the traceback', () => {
    // stdout and stderr are separate pipes: what train.py printed before dying can be read last.
    const traceback = 'Traceback (most recent call last):\n  File "train.py", line 3, in <module>\n    open("/etc/x", "w").write("x")\n    ^^^^^^^^^^^^^^^\nOSError: [Errno 30] Read-only file system: \'/etc/x\'\n'
    const absent = { status: 'absent' } as const
    for (const log of [traceback + '32\n', '32\n' + traceback, traceback + 'step 7 loss 3.1\ndone\n']) {
      const verdict = classifyRun({ exitCode: 1, signal: undefined, timedOut: false, log, evaluation: absent, sandboxed: true })
      assert.deepEqual(verdict, { status: 'crash', reason: 'sandbox-denied', detail: 'the sandbox stopped it: OSError: [Errno 30] Read-only file system: \'/etc/x\'' }, log)
    }
    // Unsandboxed, the same death is an exception, named by its exception line.
    const plain = classifyRun({ exitCode: 1, signal: undefined, timedOut: false, log: traceback.replace(/OSError.*/, 'ZeroDivisionError: division by zero') + 'done\n', evaluation: absent })
    assert.deepEqual(plain, { status: 'crash', reason: 'exception', detail: 'ZeroDivisionError: division by zero' })
  })

  it('takes val_bpb from the harness\'s evaluation only, never from what train.py printed', () => {
    const verdict = classifyRun({ exitCode: 0, signal: undefined, timedOut: false, log: summary.replace('2.291234', '0.5'), evaluation: { status: 'scored', valBpb: 2.3, windows: 1008, causalCheckedWindows: 252, causalMaxChange: 0, seconds: 0.2 } })
    assert.equal(verdict.status === 'ok' && verdict.metrics.val_bpb, 2.3)
    const reason = (end: Parameters<typeof classifyRun>[0]): string | undefined => { const v = classifyRun(end); return v.status === 'crash' ? v.reason : undefined }
    const base = { exitCode: 0, signal: undefined, timedOut: false, log: summary }
    assert.equal(reason({ ...base, evaluation: { status: 'absent' } }), 'no-evaluation')
    assert.equal(reason({ ...base, evaluation: { status: 'refused', reason: 'eval-protocol', detail: 'wrong shape' } }), 'eval-protocol')
    assert.equal(reason({ ...base, evaluation: { status: 'refused', reason: 'eval-data', detail: 'not the pinned slice' } }), 'data-modified')
    // train.py crashed because the harness refused its model: the harness's reason is the one reported.
    assert.equal(reason({ exitCode: 1, signal: undefined, timedOut: false, log: 'Traceback (most recent call last):\nprepare.EvaluationRefused: non-causal\n', evaluation: { status: 'refused', reason: 'non-causal', detail: 'looks ahead' } }), 'non-causal')
  })

  it('a limit counts as the verifier\'s problem only when the harness saw it, never from a line train.py printed', () => {
    const absent = { status: 'absent' } as const
    const verdict = (end: Parameters<typeof classifyRun>[0]): { reason?: string, detail?: string } => { const v = classifyRun(end); return v.status === 'crash' ? v : {} }
    const tb = (line: string): string => `Traceback (most recent call last):\n  File "train.py", line 3, in <module>\n${line}\n`
    for (const line of ['MemoryError', 'MemoryError: CUDA out of memory', 'BlockingIOError: [Errno 11] Resource temporarily unavailable (fork)', 'OSError: [Errno 27] File too large', 'OSError: [Errno 28] No space left on device']) {
      const forged = verdict({ exitCode: 1, signal: undefined, timedOut: false, log: tb(line), evaluation: absent, sandboxed: true })
      assert.equal(forged.reason, 'exception', line)
      assert.match(forged.detail ?? '', /train\.py reports/)
    }
    // The same line with the kernel's evidence: the cgroup's oom_kill, the runner's process watch.
    assert.equal(verdict({ exitCode: 1, signal: undefined, timedOut: false, log: tb('MemoryError'), evaluation: absent, memoryHit: 'used more than its 256 MiB' }).reason, 'resource-limit')
    assert.equal(verdict({ exitCode: 1, signal: undefined, timedOut: false, log: tb('BlockingIOError: [Errno 11] fork'), evaluation: absent, limitHit: 'refused at 512 processes' }).reason, 'resource-limit')
    // A signal the harness did not send is not the machine's doing as far as it can tell.
    assert.equal(verdict({ exitCode: undefined, signal: 'SIGKILL', timedOut: false, log: '', evaluation: absent }).reason, 'killed')
  })

  it('the harness\'s clock and steps replace train.py\'s printed figures; a verdict past the wall limit is void', () => {
    const scored = { status: 'scored', valBpb: 2.3, windows: 1008, causalCheckedWindows: 252, causalMaxChange: 0, seconds: 0.2 } as const
    const printed = summary.replace(/^training_seconds: .*$/m, 'training_seconds: 1.0').replace(/^num_steps: .*$/m, 'num_steps: 5')
    const ok = classifyRun({ exitCode: 0, signal: undefined, timedOut: false, log: printed, evaluation: scored, measured: { trainingSeconds: 23.4, totalSeconds: 24.5, steps: 30 } })
    assert.equal(ok.status, 'ok')
    if (ok.status !== 'ok') return
    assert.deepEqual([ok.metrics.val_bpb, ok.metrics.training_seconds, ok.metrics.total_seconds, ok.metrics.num_steps], [2.3, 23.4, 24.5, 30])
    const late = classifyRun({ exitCode: 0, signal: undefined, timedOut: false, log: printed, evaluation: scored, overBudget: 'past its 30 s' })
    assert.deepEqual(late.status === 'crash' ? [late.reason, late.detail] : [], ['timeout', 'past its 30 s'])
  })
})
