import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { ExecaExperimentRunner } from '../../src/runner/experiment-runner.js'
import { parseEvaluatorOutput } from '../../src/runner/evaluator.js'
import { systemClock } from '../../src/util/clock.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import { CORPUS_DIR, HARNESS_DIR, requirePython } from '../helpers/python.js'
import type { ExperimentSpec } from '../../src/runner/experiment-runner.js'

const SUMMARY = 'print("---\\nval_bpb: 0.100000\\ntraining_seconds: 20.0\\ntotal_seconds: 21.0\\npeak_vram_mb: 0\\nmfu_percent: 0\\ntotal_tokens_M: 1\\nnum_steps: 30\\nnum_params_M: 0.1\\ndepth: 2")\n'

/**
 * val_bpb comes from the harness's own evaluator process, which holds the validation bytes and
 * asks train.py's model for logits: numbers train.py prints itself, and models that look ahead,
 * do not count. Real Python, real train.py.
 */
describe('the harness evaluates every run in its own process', () => {
  let runner: ExecaExperimentRunner
  let python: string
  let workRoot: string
  let trainPy: string
  let n = 0
  const spec = (source: string, extra: Partial<ExperimentSpec> = {}): ExperimentSpec => ({ id: `ev-${++n}`, source, profile: 'cpu', maxSteps: 30, ...extra })

  before(async () => {
    python = await requirePython()
    workRoot = await tempDir()
    trainPy = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    runner = new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot, clock: systemClock }, { killAfterMs: 120_000 })
  })
  after(async () => { await rm(workRoot, { recursive: true, force: true }) })

  it('measures the same val_bpb as running train.py by hand, and checks that the model does not look ahead', async () => {
    const outcome = await runner.run(spec(trainPy))
    assert.equal(outcome.status, 'ok', outcome.logTail)
    assert.equal(outcome.evaluation?.status, 'scored')
    if (outcome.evaluation?.status !== 'scored') return
    assert.equal(outcome.evaluation.causalMaxChange, 0)
    assert.ok(outcome.evaluation.causalCheckedWindows > 0)
    assert.match(outcome.log, /=== harness evaluation/)
    // By hand (no channel): the same windows scored in train.py's own process.
    const byHand = await execa(python, ['train.py'], { cwd: HARNESS_DIR, env: { MAX_STEPS: '30', SWARMD_SOTU_DIR: CORPUS_DIR, OMP_NUM_THREADS: '1' } })
    const printed = Number(/^val_bpb: (\S+)$/m.exec(byHand.stdout)?.[1])
    assert.ok(Math.abs(printed - outcome.metrics!.val_bpb) < 2e-6, `by hand ${printed}, harness ${outcome.metrics!.val_bpb}`)
  })

  it('a train.py that prints a made-up summary without being evaluated: crash no-evaluation', async () => {
    const outcome = await runner.run(spec('import prepare\n' + SUMMARY))
    assert.equal(outcome.status, 'crash')
    assert.equal(outcome.reason, 'no-evaluation', outcome.log)
    assert.equal(outcome.metrics, undefined)
  })

  it('a train.py that is evaluated but prints a better number: the harness\'s number is the result', async () => {
    const liar = trainPy.replace('print(f"val_bpb: {val_bpb:.6f}")', 'print("val_bpb: 0.100000")')
    assert.notEqual(liar, trainPy)
    const outcome = await runner.run(spec(liar))
    assert.equal(outcome.status, 'ok', outcome.logTail)
    assert.ok(outcome.metrics!.val_bpb > 2, String(outcome.metrics!.val_bpb))
    assert.match(outcome.log, /train\.py printed val_bpb 0\.100000; the harness measured/)
  })

  it('a model that looks ahead: caught by the look-ahead check, crash non-causal', async () => {
    // Attention without its causal mask: every position sees the bytes it is asked to predict.
    const unmasked = trainPy.replace('is_causal=True', 'is_causal=False').replace('.tril()', '')
    // A model that copies the next input byte into its prediction at every position.
    const copier = trainPy.replace('        return self.head(self.norm(x))', '        nxt = torch.roll(idx, -1, dims=1)\n        return self.head(self.norm(x)) + 30.0 * (nxt[:, :, None] == torch.arange(VOCAB_SIZE)).float()')
    for (const source of [unmasked, copier]) {
      assert.notEqual(source, trainPy)
      const outcome = await runner.run(spec(source))
      assert.equal(outcome.status, 'crash', outcome.logTail)
      assert.equal(outcome.reason, 'non-causal', outcome.log)
      assert.match(outcome.detail ?? '', /looks ahead/)
      assert.equal(outcome.metrics, undefined)
    }
  })

  it('a train.py that writes garbage into the channel and prints a summary: crash eval-protocol', async () => {
    const source = 'import os, struct\nch = os.environ["SWARMD_EVAL_CHANNEL"]\nw = open(os.path.join(ch, "answer"), "wb")\nw.write(struct.pack("<4sII", b"LOGT", 1, 1) + b"\\0" * 64)\nw.close()\n' + SUMMARY
    const outcome = await runner.run(spec(source))
    assert.equal(outcome.status, 'crash')
    assert.equal(outcome.reason, 'eval-protocol', outcome.log)
  })

  it('a program over the profile\'s size limit is refused at once: the run\'s write breaks off (eval-protocol), it is not left blocked on the channel until the kill', async () => {
    const source = 'import os, struct\nch = os.environ["SWARMD_EVAL_CHANNEL"]\nw = open(os.path.join(ch, "answer"), "wb", buffering=0)\nsize = (1 << 30) + 1\nw.write(struct.pack("<4sII", b"CKPT", size & 0xFFFFFFFF, size >> 32))\nfor _ in range(1025):\n    w.write(bytes(1 << 20))\n' + SUMMARY
    const outcome = await runner.run(spec(source))
    assert.equal(outcome.status, 'crash')
    assert.equal(outcome.reason, 'eval-protocol', outcome.log)
    assert.match(outcome.detail ?? '', /over the cpu profile's/)
    assert.match(outcome.log, /BrokenPipeError/)
  })

  it('evaluates once per run: a second call of evaluate_bpb is refused at once (no number to pick models by), not left hanging', async () => {
    const twice = trainPy.replace('    val_bpb = evaluate_bpb(model, val_data, DEVICE)\n', '    evaluate_bpb(model, val_data, DEVICE)\n    val_bpb = evaluate_bpb(model, val_data, DEVICE)\n')
    assert.notEqual(twice, trainPy)
    const started = Date.now()
    const outcome = await runner.run(spec(twice))
    assert.equal(outcome.reason, 'exception', outcome.log)
    assert.match(outcome.logTail, /already called in this run/)
    assert.ok(Date.now() - started < 60_000)
  })

  it('a train.py that reads the validation split itself is told where it is', async () => {
    const peeking = trainPy.replace('    train_data, val_data = load_data()\n', '    train_data, val_data = load_data()\n    print(val_data[:100])\n')
    assert.notEqual(peeking, trainPy)
    const outcome = await runner.run(spec(peeking))
    assert.equal(outcome.reason, 'exception', outcome.log)
    assert.match(outcome.logTail, /validation split is held by the harness/)
  })

  it('an evaluator that dies before the run reaches it stops the run at once: crash evaluator-failed with its reason, not a run blocked on the channel until the kill deadline', { timeout: 120_000 }, async () => {
    // A harness whose evaluator runs out of memory as it starts: this machine's trouble, not the code's.
    const harnessDir = join(workRoot, 'oom-harness')
    await mkdir(harnessDir)
    const prepare = await readFile(join(HARNESS_DIR, 'prepare.py'), 'utf8')
    const failing = prepare.replace(/^def run_evaluator\(channel, answerers, val_path, val_sha256.*\):\n/m, (line) => `${line}    raise MemoryError("the evaluator ran out of memory")\n`)
    assert.notEqual(failing, prepare)
    await writeFile(join(harnessDir, 'prepare.py'), failing)
    const lost = new ExecaExperimentRunner({ python, harnessDir, corpusDir: CORPUS_DIR, workRoot: join(workRoot, 'oom'), clock: systemClock }, { killAfterMs: 600_000 })
    const outcome = await lost.run(spec(trainPy))
    assert.equal(outcome.reason, 'evaluator-failed', outcome.log)
    assert.match(outcome.detail ?? '', /MemoryError: the evaluator ran out of memory/)
  })

  it('a validation slice changed on disk: the evaluator refuses it before the run reaches it, and the run is stopped at once (data-modified)', { timeout: 120_000 }, async () => {
    const own = new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot: join(workRoot, 'changed'), clock: systemClock }, { killAfterMs: 600_000 })
    assert.equal((await own.run(spec(trainPy))).status, 'ok')
    await appendFile(join(workRoot, 'changed', '.corpus', 'cpu', 'val.bin'), 'x')
    const outcome = await own.run(spec(trainPy))
    assert.equal(outcome.reason, 'data-modified', outcome.log)
    assert.match(outcome.detail ?? '', /not the pinned validation slice/)
  })

  it('reads the evaluator\'s verdicts', () => {
    assert.deepEqual(parseEvaluatorOutput('connected\n{"val_bpb": 2.5, "windows": 3, "bytes": 192, "causal_checked_windows": 1, "causal_max_change": 0.0, "seconds": 0.25}\n'), { status: 'scored', valBpb: 2.5, windows: 3, causalCheckedWindows: 1, causalMaxChange: 0, seconds: 0.25 })
    assert.deepEqual(parseEvaluatorOutput('connected\nFAIL: non-causal: it looks ahead\n'), { status: 'refused', reason: 'non-causal', detail: 'it looks ahead' })
    assert.equal(parseEvaluatorOutput('FAIL: something else entirely').status, 'refused')
    assert.deepEqual(parseEvaluatorOutput('{"val_bpb": NaN}\n'), { status: 'absent' })
    assert.deepEqual(parseEvaluatorOutput(''), { status: 'absent' })
  })
})
