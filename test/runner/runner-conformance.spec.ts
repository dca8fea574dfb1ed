import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ExecaExperimentRunner } from '../../src/runner/experiment-runner.js'
import { ScriptedExperimentRunner } from '../../src/runner/scripted-runner.js'
import { systemClock } from '../../src/util/clock.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import { CORPUS_DIR, HARNESS_DIR, requirePython } from '../helpers/python.js'
import type { ExperimentRunner } from '../../src/runner/experiment-runner.js'

/** The suite both ExperimentRunners pass: the real (execa + Python) one and the scripted fake. */
function runnerConformance (name: string, make: () => Promise<{ runner: ExperimentRunner, cleanup: () => Promise<void> }>): void {
  describe(`ExperimentRunner conformance: ${name}`, () => {
    let runner: ExperimentRunner
    let cleanup: () => Promise<void>
    let trainPy: string
    let n = 0
    before(async () => {
      ({ runner, cleanup } = await make())
      trainPy = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    })
    after(async () => { await cleanup() })

    it('an ok run reports every metric and progress', async () => {
      let progressed = false
      const outcome = await runner.run({ id: `c${++n}`, source: trainPy, profile: 'cpu', maxSteps: 10 }, { onProgress: () => { progressed = true } })
      assert.equal(outcome.status, 'ok', outcome.logTail)
      assert.equal(outcome.metrics?.num_steps, 10)
      assert.ok(Number.isFinite(outcome.metrics?.val_bpb))
      assert.ok(progressed)
      assert.match(outcome.log, /val_bpb/)
    })

    it('an exception is a crash with the reason and the log tail', async () => {
      const outcome = await runner.run({ id: `c${++n}`, source: '1 / 0\n', profile: 'cpu' })
      assert.equal(outcome.status, 'crash')
      assert.equal(outcome.reason, 'exception')
      assert.match(outcome.logTail, /ZeroDivisionError/)
      assert.equal(outcome.metrics, undefined)
    })

    it('a run without a summary is a crash', async () => {
      const outcome = await runner.run({ id: `c${++n}`, source: 'print("done")\n', profile: 'cpu' })
      assert.equal(outcome.reason, 'no-summary')
    })
  })
}

runnerConformance('execa + Python', async () => {
  const workRoot = await tempDir()
  return {
    runner: new ExecaExperimentRunner({ python: await requirePython(), harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot, clock: systemClock }, { killAfterMs: 120_000 }),
    cleanup: async () => { await rm(workRoot, { recursive: true, force: true }) }
  }
})

runnerConformance('scripted fake', async () => ({ runner: new ScriptedExperimentRunner(), cleanup: async () => {} }))
