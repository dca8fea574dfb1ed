import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { runSwarmBench } from '../../bench/swarm.js'
import type { TestContext } from 'node:test'

const TINY = fileURLToPath(new URL('../../../bench/swarm/landscapes/tiny.json', import.meta.url))

/**
 * bench:swarm's short version: real daemons as child processes (libp2p on loopback, claims, dedup
 * with MiniLM, trust, the builtin agent), the surrogate in place of training. The full figures
 * (8 agents, 4 policies, 10 seeds) are `npm run bench:swarm`, in BENCHMARKS.md.
 */
describe('bench:swarm, short: 3 daemons on the tiny landscape', () => {
  it('agents through swarmd reach the target sooner than as many isolated agents, on the same seeds', { timeout: 300_000 }, async (t: TestContext) => {
    const result = await runSwarmBench({ agents: 3, seeds: [1, 2], runMs: 1000, wallMs: 25_000, landscape: TINY, policies: ['isolated', 'swarmd'] })
    const [isolated, swarmd] = result.policies
    for (const p of result.policies) {
      t.diagnostic(`${p.policy}: target ${p.reached}/${p.trials.length}, ${p.timeToTargetS.mean.toFixed(1)} s, best ${p.bestAtEnd.mean.toFixed(4)}, duplicates ${(100 * p.duplicateShare).toFixed(1)} %, verification ${(100 * p.verificationShare.mean).toFixed(0)} %`)
    }
    assert.ok(swarmd!.trials.every((trial) => trial.experiments > 0), 'every swarmd trial ran experiments')
    assert.ok(swarmd!.timeToTargetS.mean < isolated!.timeToTargetS.mean, `swarmd ${swarmd!.timeToTargetS.mean.toFixed(1)} s vs isolated ${isolated!.timeToTargetS.mean.toFixed(1)} s to ${result.target}`)
    assert.ok(swarmd!.duplicateShare <= isolated!.duplicateShare, 'no more executed duplicates than agents who never talk')
  })
})
