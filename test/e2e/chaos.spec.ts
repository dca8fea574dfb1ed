import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { describeChaos } from '../../bench/chaos.js'
import { runChaos } from '../../bench/chaos/chaos-run.js'
import { DEFAULT_LANDSCAPE } from '../../bench/swarm.js'

/** The fault schedule's seed: fixed here so CI replays the same schedule; SWARMD_CHAOS_SEED tries another. */
const SEED = Number(process.env.SWARMD_CHAOS_SEED ?? 1717)

/**
 * The short chaos run (issue 17; `npm run bench:chaos -- --minutes N` is the long one): five
 * researching daemons in network namespaces, a client writing hypotheses through each, a seeded
 * nemesis partitioning, bridging, dropping, throttling and killing for a minute; then the heal.
 */
describe('e2e: chaos, Jepsen-style', { timeout: 300_000 }, () => {
  it('loses nothing acknowledged and ends with every daemon holding the same records', async () => {
    const report = await runChaos({ seed: SEED, faultMs: 60_000, landscape: DEFAULT_LANDSCAPE, settleMs: 90_000 })
    const summary = describeChaos(report).join('\n')
    console.log(summary.split('\n').map((line) => `# ${line}`).join('\n'))
    assert.ok(report.timeline.length >= 8, `the nemesis acted: ${summary}`)
    assert.ok(report.kills >= 1, `a daemon was killed at least once: ${summary}`)
    assert.ok(report.acknowledged >= 50, `the client wrote through the faults: ${summary}`)
    assert.deepEqual(report.unexpectedExits, [], 'no daemon died unless the nemesis killed it')
    assert.deepEqual(report.missing, [], `every acknowledged record is on every daemon: ${summary}`)
    assert.equal(report.converged, true, `every daemon holds the same records: ${summary}`)
    assert.equal(report.staleClaims, 0, `the claims of killed daemons ended: ${summary}`)
    for (const mb of report.rssMb) assert.ok(mb > 0 && mb < 1024, `resident memory ${mb} MiB per daemon stays under 1 GiB`)
    assert.ok(report.experiments > 0, 'the daemons researched through it')
    // Duplicates a separation does not explain: 5 of 724 experiments in five minutes of seed 4242
    // (BENCHMARKS §14), an open question; this bounds them at 2 % of the experiments.
    assert.ok(report.unexplainedDuplicates <= Math.max(1, 0.02 * report.experiments), `duplicate experiments almost only where a partition made them unavoidable: ${summary}`)
  })
})
