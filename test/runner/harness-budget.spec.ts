import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ExecaExperimentRunner } from '../../src/runner/experiment-runner.js'
import { PROFILE_EVALUATION_LIMIT_S, wallLimitMs } from '../../src/runner/harness.js'
import { systemClock } from '../../src/util/clock.js'
import { requireConfinement } from '../helpers/confinement.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import { CORPUS_DIR, HARNESS_DIR } from '../helpers/python.js'
import type { ExperimentSpec } from '../../src/runner/experiment-runner.js'

/**
 * The budget is the harness's (issue 13): the runner's clock measures a run's training from
 * train.py's start to the moment its whole model has reached the harness, a run past the
 * profile's budget and allowance is void (the evaluation has its own limit), and the
 * figures the swarm compares (val_bpb, training time, steps asked) are the harness's, not the ones
 * train.py prints. A crash is the verifier's problem only when the harness saw the limit itself.
 * Real train.py files under the real sandbox.
 */
describe('the harness\'s budget and crash kinds, under the sandbox', () => {
  let runner: ExecaExperimentRunner
  let workRoot: string
  let trainPy: string
  let n = 0
  const spec = (source: string, extra: Partial<ExperimentSpec> = {}): ExperimentSpec => ({ id: `budget-${++n}`, source, profile: 'cpu', maxSteps: 5, foreign: true, ...extra })

  before(async () => {
    const { python, sandbox, cgroups } = await requireConfinement()
    workRoot = await tempDir()
    trainPy = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    // The configured hard kill is far off: only the harness's wall limit can stop the cheat in time.
    runner = new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot, clock: systemClock, sandbox, cgroups }, { killAfterMs: 600_000, limits: { maxMemoryMb: 1024 } })
  })
  after(async () => { await rm(workRoot, { recursive: true, force: true }) })

  it('an honest run: scored, its training time by the harness\'s clock, within the wall limit', async () => {
    const outcome = await runner.run(spec(trainPy))
    assert.equal(outcome.status, 'ok', outcome.logTail)
    const timing = outcome.timing!
    assert.equal(timing.limitMs, wallLimitMs('cpu'))
    assert.ok(timing.trainingMs! > 0 && timing.evaluationMs! > 0 && timing.trainingMs! <= timing.limitMs && timing.evaluationMs! <= PROFILE_EVALUATION_LIMIT_S.cpu * 1000, JSON.stringify(timing))
    assert.equal(outcome.metrics!.training_seconds, Math.round(timing.trainingMs! / 100) / 10)
    assert.equal(outcome.metrics!.num_steps, 5)
  })

  it('trains 120 steps when asked for 5 and prints 5 steps in 0.1 s: the metrics are the harness\'s (5 asked, its own clock)', async () => {
    const cheat = trainPy
      .replace('if MAX_STEPS is not None and step >= MAX_STEPS:', 'if step >= 120:')
      .replace('print(f"training_seconds: {training_seconds:.1f}")', 'print("training_seconds: 0.1")')
      .replace('print(f"num_steps: {step}")', 'print(f"num_steps: {MAX_STEPS}")')
    assert.notEqual(cheat, trainPy)
    const outcome = await runner.run(spec(cheat))
    assert.equal(outcome.status, 'ok', outcome.logTail)
    assert.match(outcome.log, /^training_seconds: 0\.1$/m, 'what it printed')
    assert.equal(outcome.metrics!.num_steps, 5, 'the steps the harness asked for')
    assert.ok(outcome.metrics!.training_seconds >= 1, `the harness's clock, not the printed 0.1 s: ${outcome.metrics!.training_seconds}`)
  })

  it('trains past its budget whatever MAX_STEPS says, then reports 5 steps: stopped at the wall limit, void', { timeout: 120_000 }, async () => {
    const cheat = trainPy
      .replace('if MAX_STEPS is not None and step >= MAX_STEPS:', 'if time.time() - t0 >= 60:')
      .replace('if MAX_STEPS is None and training_seconds >= TIME_BUDGET:', 'if False:')
      .replace('print(f"num_steps: {step}")', 'print(f"num_steps: {MAX_STEPS}")')
    assert.notEqual(cheat, trainPy)
    const started = Date.now()
    const outcome = await runner.run(spec(cheat))
    assert.equal(outcome.status, 'crash')
    assert.equal(outcome.reason, 'timeout', outcome.logTail)
    assert.equal(outcome.metrics, undefined)
    const took = Date.now() - started
    assert.ok(took < wallLimitMs('cpu') + 15_000, `stopped at the wall limit (${wallLimitMs('cpu')} ms), not the hard kill: took ${took} ms`)
  })

  it('sends the header of its model at once, goes on training and sends the model past the wall limit: stopped at the limit, void (the clock stops when the whole model has arrived, red team 5)', { timeout: 120_000 }, async () => {
    const split = `import os, sys, time
import torch
import prepare

class Table(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.table = torch.nn.Embedding(256, 256)

    def forward(self, idx):
        return self.table(idx)

program = prepare.export_program(Table(), "cpu")
answer = open(os.path.join(os.environ["SWARMD_EVAL_CHANNEL"], "answer"), "wb", buffering=0)
answer.write(prepare.HEADER.pack(b"CKPT", len(program) & 0xFFFFFFFF, len(program) >> 32))
time.sleep(${(wallLimitMs('cpu') + 10_000) / 1000})
answer.write(program)
`
    const started = Date.now()
    const outcome = await runner.run(spec(split))
    assert.equal(outcome.status, 'crash')
    assert.equal(outcome.reason, 'timeout', outcome.log)
    assert.equal(outcome.timing?.trainingMs, undefined)
    const took = Date.now() - started
    assert.ok(took < wallLimitMs('cpu') + 15_000, `stopped at the wall limit (${wallLimitMs('cpu')} ms): took ${took} ms`)
  })

  it('raises MemoryError itself: the code\'s crash, not the verifier\'s problem; a real overrun of the cgroup is', async () => {
    const forged = await runner.run(spec(`${trainPy.replace('if __name__ == "__main__":\n    main()', '')}\nraise MemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")\n`))
    assert.equal(forged.reason, 'exception', forged.logTail)
    assert.match(forged.detail ?? '', /train\.py reports running out of memory/)
    const real = await runner.run(spec('a = bytearray(2048 * 2**20)\nprint("allocated", len(a))\n'))
    assert.equal(real.reason, 'resource-limit', real.logTail)
    assert.match(real.detail ?? '', /the kernel killed it/)
  })
})
