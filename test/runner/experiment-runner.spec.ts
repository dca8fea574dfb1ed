import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { ExecaExperimentRunner } from '../../src/runner/experiment-runner.js'
import { systemClock } from '../../src/util/clock.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import { waitFor } from '../helpers/wait.js'
import { processesUnder } from '../helpers/processes.js'
import { CORPUS_DIR, HARNESS_DIR, requirePython } from '../helpers/python.js'
import type { ExperimentSpec } from '../../src/runner/experiment-runner.js'
import type { RunProgress } from '../../src/runner/summary.js'

/** Running (a zombie awaiting its reaper counts as dead: it can do nothing). */
function alive (pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

describe('ExecaExperimentRunner (real Python)', () => {
  let runner: ExecaExperimentRunner
  let workRoot: string
  let trainPy: string
  let n = 0
  const spec = (source: string, extra: Partial<ExperimentSpec> = {}): ExperimentSpec => ({ id: `exp-${++n}`, source, profile: 'cpu', ...extra })

  before(async () => {
    workRoot = await tempDir()
    trainPy = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    runner = new ExecaExperimentRunner({ python: await requirePython(), harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot, clock: systemClock }, { killAfterMs: 60_000 })
  })
  after(async () => { await rm(workRoot, { recursive: true, force: true }) })

  it('runs the real train.py and reports its metrics and live progress', async () => {
    const progress: RunProgress[] = []
    const outcome = await runner.run(spec(trainPy, { maxSteps: 30 }), { onProgress: (p) => progress.push(p) })
    assert.equal(outcome.status, 'ok', outcome.logTail)
    assert.equal(outcome.metrics?.num_steps, 30)
    assert.ok(outcome.metrics!.val_bpb > 2 && outcome.metrics!.val_bpb < 8.5, String(outcome.metrics?.val_bpb))
    assert.ok(progress.length > 0 && progress[0]!.step >= 1)
    assert.match(outcome.log, /^---$/m)
  })

  it('classifies a Python exception, with the log tail', async () => {
    const outcome = await runner.run(spec('import prepare\nprint("starting")\n1 / 0\n'))
    assert.equal(outcome.status, 'crash')
    assert.equal(outcome.reason, 'exception')
    assert.match(outcome.logTail, /ZeroDivisionError/)
  })

  it('classifies a NaN loss (a learning rate that diverges) as nan', async () => {
    const diverging = trainPy.replace(/^LEARNING_RATE = .*$/m, 'LEARNING_RATE = 1e9').replace(/^GRAD_CLIP = .*$/m, 'GRAD_CLIP = 0.0')
    const outcome = await runner.run(spec(diverging, { maxSteps: 30 }))
    assert.equal(outcome.status, 'crash', outcome.logTail)
    assert.equal(outcome.reason, 'nan')
  })

  it('kills a run past its budget together with the processes it forked', async () => {
    const short = new ExecaExperimentRunner({ python: await requirePython(), harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot, clock: systemClock }, { killAfterMs: 2_000 })
    const source = 'import subprocess, sys, time\nchild = subprocess.Popen(["sleep", "600"])\nprint("child", child.pid, flush=True)\ntime.sleep(600)\n'
    const outcome = await short.run(spec(source))
    assert.equal(outcome.reason, 'timeout')
    const childPid = Number(/child (\d+)/.exec(outcome.log)?.[1])
    assert.ok(childPid > 0, outcome.log)
    await waitFor(() => !alive(childPid), { what: 'the forked child to die with the run', timeoutMs: 5_000 })
  })

  it('classifies a run that prints no summary', async () => {
    const outcome = await runner.run(spec('print("trained, but forgot to report")\n'))
    assert.equal(outcome.reason, 'no-summary')
  })

  it('a daemon killed mid-run leaves no Python behind: train.py and the evaluator die with it', async () => {
    // A separate Node process plays the daemon: it runs one experiment and is killed with SIGKILL.
    const root = await tempDir()
    const script = join(root, 'daemon.mjs')
    const runnerModule = fileURLToPath(new URL('../../src/runner/experiment-runner.js', import.meta.url))
    const clockModule = fileURLToPath(new URL('../../src/util/clock.js', import.meta.url))
    await writeFile(script, [
      `import { ExecaExperimentRunner } from ${JSON.stringify(runnerModule)}`,
      `import { systemClock } from ${JSON.stringify(clockModule)}`,
      `const runner = new ExecaExperimentRunner({ python: ${JSON.stringify(await requirePython())}, harnessDir: ${JSON.stringify(HARNESS_DIR)}, corpusDir: ${JSON.stringify(CORPUS_DIR)}, workRoot: ${JSON.stringify(join(root, 'work'))}, clock: systemClock }, { killAfterMs: 600000 })`,
      'await runner.run({ id: "orphan", source: "import time\\ntime.sleep(600)\\n", profile: "cpu" })'
    ].join('\n'))
    const daemon = execa(process.execPath, [script], { reject: false })
    try {
      await waitFor(async () => await processesUnder(join(root, 'work')) >= 2, { what: 'train.py and the evaluator to start', timeoutMs: 30_000 })
      daemon.kill('SIGKILL')
      await daemon
      await waitFor(async () => await processesUnder(join(root, 'work')) === 0, { what: 'the run\'s processes to die with their daemon', timeoutMs: 5_000 })
    } finally {
      daemon.kill('SIGKILL')
      await rm(root, { recursive: true, force: true })
    }
  })

  it('refuses to run without the pinned corpus: a typed error that says what to do', async () => {
    const missing = new ExecaExperimentRunner({ python: await requirePython(), harnessDir: HARNESS_DIR, corpusDir: join(workRoot, 'no-corpus-here'), workRoot, clock: systemClock }, { killAfterMs: 60_000 })
    await assert.rejects(missing.run(spec(trainPy, { maxSteps: 5 })), (err) => isSwarmdError(err, 'CORPUS_UNAVAILABLE') && /npm ci/.test(err.message))
  })

  it('refuses a run that modified the harness (prepare.py), even one that reports a score', async () => {
    // The name is split so the static source check lets it through: this tests the hash check after the run.
    const cheat = 'open("prep" + "are.py", "a").write("# tampered")\nprint("---\\nval_bpb: 0.1\\ntraining_seconds: 1\\ntotal_seconds: 1\\npeak_vram_mb: 0\\nmfu_percent: 0\\ntotal_tokens_M: 0\\nnum_steps: 1\\nnum_params_M: 0\\ndepth: 1")\n'
    const outcome = await runner.run(spec(cheat))
    assert.equal(outcome.status, 'crash')
    assert.equal(outcome.reason, 'harness-modified')
    assert.equal(outcome.metrics, undefined)
  })
})
