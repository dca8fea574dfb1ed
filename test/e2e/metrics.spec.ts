import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { resolveConfig } from '../../src/config/config.js'
import { Daemon } from '../../src/daemon/daemon.js'
import { bestResult } from '../../src/http/views.js'
import { rejectionReason } from '../../src/http/metrics.js'
import { syncProtocol } from '../../src/p2p/swarm-network.js'
import { ScriptedExperimentRunner } from '../../src/runner/scripted-runner.js'
import { startHostileNode } from '../helpers/hostile-node.js'
import { recentLog, startInProcessDaemon, stopAndRemove, tempDir } from '../helpers/in-process-daemon.js'
import { parsePrometheusText, sampleSum, sampleValue } from '../helpers/prometheus-text.js'
import { waitFor } from '../helpers/wait.js'
import type { Family } from '../helpers/prometheus-text.js'

async function scrape (daemon: Daemon): Promise<{ contentType: string, families: Map<string, Family>, text: string }> {
  const res = await fetch(`${daemon.apiUrl}/metrics`)
  assert.equal(res.status, 200)
  const text = await res.text()
  return { contentType: res.headers.get('content-type') ?? '', families: parsePrometheusText(text), text }
}

const STEPS = 50

/** `/metrics` of real daemons: Prometheus text whose values follow what the daemons do. */
describe('GET /metrics', { timeout: 60_000 }, () => {
  let a: Daemon
  let b: Daemon

  before(async () => {
    // A researches with the scripted runner (no Python): two experiments, then it stops proposing.
    const config = resolveConfig({
      file: {},
      env: {},
      flags: { listen: ['/ip4/127.0.0.1/tcp/0'], httpPort: 0, mdns: false, upnp: false, agent: 'builtin', profile: 'cpu', maxSteps: STEPS, maxExperiments: 2 },
      shippedBootstrap: []
    })
    a = new Daemon({ dataDir: await tempDir(), config, log: () => {}, experiments: { runner: new ScriptedExperimentRunner(), environment: { torch: 'scripted' } } })
    await a.start()
    b = await startInProcessDaemon({ bootstrap: [a.listenAddrs()[0]!] })
    await waitFor(() => a.network.snapshot().peers.length === 1 && b.network.snapshot().peers.length === 1, { what: 'the two daemons to connect', timeoutMs: 20_000 })
  })

  after(async () => {
    await stopAndRemove(...[a, b].filter((d) => d !== undefined))
  })

  it('parses as Prometheus text, with swarmd\'s, libp2p\'s and Node\'s series', async () => {
    const { contentType, families } = await scrape(a)
    assert.match(contentType, /^text\/plain; version=0\.0\.4/)
    for (const name of ['swarmd_peers', 'swarmd_records', 'swarmd_rejections_total', 'swarmd_runs_total', 'swarmd_run_seconds', 'swarmd_best_val_bpb']) {
      assert.ok(families.has(name), `${name} is exposed`)
      assert.ok(families.get(name)!.help !== undefined, `${name} has HELP`)
    }
    assert.equal(families.get('swarmd_run_seconds')!.type, 'histogram')
    assert.equal(families.get('swarmd_runs_total')!.type, 'counter')
    assert.ok([...families.keys()].some((n) => n.startsWith('libp2p_')), `libp2p's metrics: ${[...families.keys()].join(' ')}`)
    assert.ok(families.has('process_cpu_user_seconds_total'), 'Node\'s process metrics')
  })

  it('counts connected peers: one each on two connected daemons', async () => {
    for (const d of [a, b]) {
      const { families } = await scrape(d)
      assert.equal(sampleValue(families, 'swarmd_peers'), d.network.snapshot().peers.length)
      assert.equal(sampleValue(families, 'swarmd_peers'), 1)
    }
  })

  it('counts runs by status with their seconds, and shows the tier\'s best trusted val_bpb', async () => {
    await waitFor(() => a.loops[0]!.stats.experiments >= 2, { timeoutMs: 30_000, what: () => `two experiments on A: ${JSON.stringify(a.loops[0]?.stats)}\n${recentLog(a)}` })
    const { families } = await scrape(a)
    const ownResults = a.claims.ledger.allResults().filter((r) => r.author === a.state.peerId)
    assert.equal(sampleSum(families, 'swarmd_runs_total', { kind: 'experiment' }), ownResults.length)
    for (const status of ['keep', 'discard', 'crash']) {
      assert.equal(sampleSum(families, 'swarmd_runs_total', { kind: 'experiment', status }), ownResults.filter((r) => r.body.status === status).length, status)
    }
    assert.equal(sampleValue(families, 'swarmd_run_seconds_count', { kind: 'experiment' }), ownResults.length)
    const best = bestResult({ claims: a.claims, trust: a.trust, defaults: { tier: 'cpu', claimTtlMs: 0, defaultSource: '', maxSteps: STEPS } }, 'cpu')
    assert.ok(best?.body.metrics != null, 'A has a best')
    assert.equal(sampleValue(families, 'swarmd_best_val_bpb', { tier: 'cpu' }), best.body.metrics.val_bpb)
    assert.equal(sampleValue(families, 'swarmd_best_val_bpb', { tier: 'vram24' }), undefined, 'no best on a tier without results')
  })

  it('follows the records: a result appended on A moves the result count on both', async () => {
    const before = { a: sampleValue((await scrape(a)).families, 'swarmd_records', { kind: 'result' })!, b: sampleValue((await scrape(b)).families, 'swarmd_records', { kind: 'result' })! }
    assert.equal(before.a, a.state.counts().result)
    await a.state.append('result', {
      claimId: 'c'.repeat(64), parent: null, codeHash: 'd'.repeat(64), logHash: 'e'.repeat(64), description: 'a gpu run', delta: [], status: 'keep',
      metrics: { val_bpb: 1.234, training_seconds: 300, total_seconds: 330, peak_vram_mb: 20480, mfu_percent: 41.2, total_tokens_M: 1000, num_steps: 900, num_params_M: 85, depth: 12 },
      crash: null, hardware: { gpu: 'NVIDIA H100 80GB HBM3', vramGb: 80, tier: 'vram48plus' }, harness: a.research.harness
    })
    assert.equal(sampleValue((await scrape(a)).families, 'swarmd_records', { kind: 'result' }), before.a + 1)
    await waitFor(async () => sampleValue((await scrape(b)).families, 'swarmd_records', { kind: 'result' }) === before.b + 1, { what: 'the result to reach B and its metrics' })
  })

  it('counts a rejection under its reason, never under the peer', async () => {
    const hostile = await startHostileNode(a.research.swarmKey)
    try {
      await hostile.join([a])
      const labels = { channel: 'sync', verdict: 'reject', reason: 'SYNC_MALFORMED' }
      const before = sampleValue((await scrape(a)).families, 'swarmd_rejections_total', labels) ?? 0
      await hostile.sendEndlessPrefix(a, syncProtocol(a.research.swarmKey), 64 * 1024)
      await waitFor(async () => sampleValue((await scrape(a)).families, 'swarmd_rejections_total', labels) === before + 1, { what: 'SYNC_MALFORMED to be counted' })
      const { text } = await scrape(a)
      assert.ok(!text.includes(hostile.peerId), 'no label names a peer')
    } finally {
      await hostile.stop()
    }
  })
})

describe('rejectionReason', () => {
  it('keeps fault codes, names the sentence faults, and folds anything else into OTHER', () => {
    assert.equal(rejectionReason('SYNC_MALFORMED'), 'SYNC_MALFORMED')
    assert.equal(rejectionReason('RECORD_BAD_SIGNATURE (signer)'), 'RECORD_BAD_SIGNATURE')
    assert.equal(rejectionReason('endless length prefix on /ipfs/id/1.0.0'), 'LENGTH_PREFIX_ENDLESS')
    assert.equal(rejectionReason('/libp2p/dcutr on a direct connection'), 'RELAYED_ONLY_ON_DIRECT')
    assert.equal(rejectionReason('something "a peer" chose\n'), 'OTHER')
  })
})
