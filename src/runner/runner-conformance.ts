import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isSwarmdError } from '../util/errors.js'
import type { ExperimentRunner } from './experiment-runner.js'

/** A runner to put through the suite, and how to clean up after it. */
export interface RunnerUnderTest {
  runner: ExperimentRunner
  cleanup: () => Promise<void>
}

/**
 * The contract every ExperimentRunner meets, the real one (execa + Python) and the scripted fake
 * alike; any other runner can be put through it the same way (as automerge-repo exports its
 * storage adapters' suite). Registers node:test cases: call it at a test file's top level.
 * `trainPy` gives the harness's default train.py.
 */
export function runExperimentRunnerTests (name: string, make: () => Promise<RunnerUnderTest>, trainPy: () => Promise<string>): void {
  describe(`ExperimentRunner conformance: ${name}`, () => {
    let runner: ExperimentRunner
    let cleanup: () => Promise<void>
    let source: string
    let n = 0
    before(async () => {
      ({ runner, cleanup } = await make())
      source = await trainPy()
    })
    after(async () => { await cleanup() })

    it('an ok run reports every metric and progress', async () => {
      let progressed = false
      const outcome = await runner.run({ id: `c${++n}`, source, profile: 'cpu', maxSteps: 10 }, { onProgress: () => { progressed = true } })
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

    it('an aborted run ends as a crash (killed) without metrics, however long it was to train', async () => {
      const controller = new AbortController()
      const outcome = await runner.run({ id: `c${++n}`, source, profile: 'cpu', maxSteps: 1_000_000 }, { signal: controller.signal, onProgress: () => { controller.abort() } })
      assert.equal(controller.signal.aborted, true)
      assert.equal(outcome.status, 'crash', outcome.logTail)
      assert.equal(outcome.reason, 'killed')
      assert.equal(outcome.metrics, undefined)
    })

    it('a peer\'s code (foreign) runs only where canRunForeignCode() says so; elsewhere it is refused before anything runs', async () => {
      const spec = { id: `c${++n}`, source, profile: 'cpu' as const, maxSteps: 5, foreign: true }
      if (runner.canRunForeignCode()) {
        const outcome = await runner.run(spec)
        assert.equal(outcome.status, 'ok', outcome.logTail)
      } else {
        await assert.rejects(runner.run(spec), (err: unknown) => isSwarmdError(err) && ['SANDBOX_REQUIRED', 'LIMITS_REQUIRED'].includes(err.code))
      }
    })
  })
}
