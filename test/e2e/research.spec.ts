import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { DaemonProcess, cleanupDaemons, describeRun, eventually } from '../helpers/daemon-process.js'
import { requirePython } from '../helpers/python.js'
import type { ResultJson } from '../../src/http/api-contract.js'

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const EXPERIMENTS = 3

describe('e2e: daemons doing research together on real CPU training runs', { timeout: 300_000 }, () => {
  after(async () => { await cleanupDaemons() })

  it('shares every result with a fetchable source, improves on the baseline, exports results.tsv', async () => {
    const python = await requirePython()
    const research = ['--agent', 'builtin', '--python', python, '--max-steps', '30', '--max-experiments', String(EXPERIMENTS)]
    const a = await DaemonProcess.start({ name: 'A', args: research })
    // A suggestion for the swarm: at a 30-step budget a wider model wins (3.70 vs 3.75 val_bpb).
    const hyp = await a.post('/api/hypotheses', { title: 'wider model', text: 'WIDTH 64 -> 96', suggestedDelta: [{ name: 'WIDTH', from: 64, to: 96 }] })
    assert.equal(hyp.status, 201)
    const b = await DaemonProcess.start({ name: 'B', bootstrap: [a.addr], args: research })
    const daemons = [a, b]
    const results = async (d: DaemonProcess): Promise<ResultJson[]> => (await d.api<{ results: ResultJson[] }>('/api/results')).results
    const diagnose = async (): Promise<unknown> => Object.fromEntries(await Promise.all(daemons.map(async (d) => [d.name, (await results(d)).map((r) => `${r.author.slice(-6)} ${r.status} ${r.description}`)])))

    await eventually(async () => {
      for (const d of daemons) if ((await results(d)).length < 2 * EXPERIMENTS) return false
      return true
    }, `${2 * EXPERIMENTS} results on both daemons`, { timeoutMs: 240_000, diagnose })

    const onA = await results(a)
    const onB = await results(b)
    assert.deepEqual(onA.map((r) => r.id).sort(), onB.map((r) => r.id).sort(), 'every result on every daemon')
    assert.equal(new Set(onA.map((r) => r.author)).size, 2)

    // Every source and log can be fetched from the other daemon and hashes correctly.
    for (const r of onA) {
      const other = r.author === a.peerId ? b : a
      for (const hash of [r.codeHash, r.logHash]) {
        const res = await fetch(new URL(`/api/blobs/${hash}`, other.info.api))
        assert.equal(res.status, 200, `blob ${hash} of ${r.description}`)
        assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), hash)
      }
    }

    // The best improves on the default baseline. Whichever daemon claims the hypothesis first
    // tests it (the other sees the claim and moves on), so the improvement is the swarm's.
    // The baseline runs once: B joined after A claimed it (it waited for a first sync), and experiments on the default train.py instead.
    const baselines = onA.filter((r) => r.parent === null && r.delta.length === 0)
    assert.equal(baselines.length, 1, 'the default train.py ran once in the swarm')
    assert.equal(baselines[0]!.author, a.peerId)
    const baselineBpb = baselines[0]!.metrics!.val_bpb
    const scored = onA.filter((r) => r.metrics !== null).map((r) => r.metrics!.val_bpb)
    assert.ok(Math.min(...scored) < baselineBpb, `swarm best ${Math.min(...scored)} vs baseline ${baselineBpb}`)
    assert.ok(onA.some((r) => r.status === 'keep' && r.delta.some((d) => d.name === 'WIDTH' && d.to === 96)), 'the hypothesis (WIDTH 96) was tested and kept')
    for (const d of daemons) {
      const { best } = await d.api<{ best: ResultJson }>('/api/best')
      assert.ok(best.metrics!.val_bpb <= baselineBpb, `${d.name}: best ${best.metrics!.val_bpb} vs baseline ${baselineBpb}`)
      const pulled = join(d.dataDir, 'best-train.py')
      const run = await d.cli(['best', '--pull', pulled])
      assert.equal(run.code, 0, describeRun(run))
      assert.equal(sha256(await readFile(pulled)), best.codeHash)
      await rm(pulled)
    }

    // Lineage: the frontier is the results nobody built on yet.
    const front = (await a.api<{ results: ResultJson[] }>('/api/results?frontier=1')).results
    assert.ok(front.length > 0 && front.length < onA.length, `frontier ${front.length} of ${onA.length}`)
    for (const f of front) assert.ok(!onA.some((r) => r.parent === f.id), `${f.id} has children`)
    assert.ok(onA.some((r) => r.parent !== null), 'some result built on an earlier one')

    // export writes autoresearch's results.tsv.
    const run = await a.cli(['export'])
    assert.equal(run.code, 0, describeRun(run))
    const [header, ...rows] = run.stdout.trimEnd().split('\n')
    assert.equal(header, 'commit\tval_bpb\tmemory_gb\tstatus\tdescription\ttier\tbudget', 'autoresearch\'s columns, then the tier and budget each row ranks in')
    assert.equal(rows.length, onA.length)
    for (const row of rows) {
      const [commit, valBpb, memoryGb, status, description, tier, budget] = row.split('\t')
      assert.match(commit!, /^[0-9a-f]{7}$/)
      assert.match(valBpb!, /^\d+\.\d{6}$/)
      assert.match(memoryGb!, /^\d+\.\d$/)
      assert.ok(['keep', 'discard', 'crash'].includes(status!), row)
      assert.ok(description!.length > 0)
      assert.equal(tier, 'cpu')
      assert.match(budget!, /^\d+ steps$/, 'these daemons stop their runs at a step limit')
    }
  })
})
