import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { gunzipSync } from 'node:zlib'
import { samplePoints } from '../../src/http/page-routes.js'
import { chartReply, errorReply, historyReply, resultDetailReply, statusReply } from '../../src/http/api-contract.js'
import { sha256Hex } from '../../src/util/hash.js'
import { ManualClock } from '../../src/util/clock.js'
import { FIXTURE_HARNESS, startApiFixture } from '../helpers/api-fixture.js'
import { makeReplica } from '../helpers/replica.js'
import type { ApiFixture } from '../helpers/api-fixture.js'
import type { ResultBody } from '../../src/state/record-kinds.js'
import type { z } from 'zod'

interface Run { description: string, parent?: string | null, code?: string, valBpb?: number | null, maxSteps?: number, status?: ResultBody['status'] }

function body (run: Run & { codeHash: string }): ResultBody {
  const valBpb = run.valBpb === undefined ? 2 : run.valBpb
  return {
    claimId: sha256Hex(`claim ${run.description}`), parent: run.parent ?? null, codeHash: run.codeHash, logHash: sha256Hex(`log ${run.description}`), description: run.description, delta: [],
    status: run.status ?? (valBpb === null ? 'crash' : 'keep'),
    metrics: valBpb === null ? null : { val_bpb: valBpb, training_seconds: 20, total_seconds: 22, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 1, num_steps: 100, num_params_M: 1, depth: 2 },
    crash: valBpb === null ? { reason: 'runtime', detail: 'RuntimeError' } : null,
    hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: FIXTURE_HARNESS, ...(run.maxSteps !== undefined ? { maxSteps: run.maxSteps } : {})
  }
}

/** The status page's reads: history a page at a time, the chart of one arena, one result opened, the status' glance, the event stream. */
describe('status page reads (history, chart, result detail, events)', () => {
  let api: ApiFixture

  async function get<S extends z.ZodType> (path: string, schema: S): Promise<z.output<S>> {
    const res = await fetch(`${api.url}${path}`)
    assert.equal(res.status, 200, `${path}: ${res.status}`)
    return schema.parse(await res.json())
  }

  async function publish (run: Run): Promise<string> {
    const codeHash = await api.services.blobs.add(Buffer.from(run.code ?? `# ${run.description}\n`))
    return (await api.state.append('result', body({ ...run, codeHash }))).id
  }

  before(async () => { api = await startApiFixture() })
  after(async () => { await api.close() })

  it('pages through the history newest first, filtered by arena or author, with budgets labelled', async () => {
    for (let i = 0; i < 60; i++) await publish({ description: `run ${i}`, valBpb: 2 + i / 1000, ...(i % 10 === 9 ? { maxSteps: 50 } : {}) })
    const peer = await makeReplica({ seed: 7, clock: new ManualClock(Date.now() + 1) })
    await peer.state.append('result', body({ description: 'a peer\'s run', codeHash: sha256Hex('peer code') }))
    for (const update of peer.state.diffsFor(api.state.encodeStateVector())) assert.equal((await api.state.applyRemote(update)).verdict, 'accept')

    // Newest first by precedence (date, then author and id: two runs of one millisecond fall either way).
    const newestFirst = api.services.claims.ledger.allResults().reverse().map((r) => r.body.description)
    const first = await get('/api/history?limit=10', historyReply)
    assert.equal(first.total, 61)
    assert.deepEqual(first.results.map((r) => r.description), newestFirst.slice(0, 10))
    const second = await get('/api/history?limit=10&offset=10', historyReply)
    assert.deepEqual(second.results.map((r) => r.description), newestFirst.slice(10, 20), 'the next page starts where the first ended')
    assert.equal(first.results[0]!.description, 'a peer\'s run', 'the newest (a millisecond after the others) first')
    const dates = [...first.results, ...second.results].map((r) => r.createdAt)
    assert.ok(dates.every((t, i) => i === 0 || dates[i - 1]! >= t), 'dated newest first')
    const past = await get('/api/history?offset=100', historyReply)
    assert.deepEqual(past.results, [])

    const steps = await get('/api/history?tier=cpu&budget=50', historyReply)
    assert.equal(steps.total, 6)
    assert.ok(steps.results.every((r) => r.budget === '50 steps' && r.maxSteps === 50))
    const time = await get('/api/history?tier=cpu&budget=time&limit=1000', historyReply)
    assert.equal(time.total, 55)
    assert.ok(time.results.every((r) => r.budget === 'time budget'))
    const mine = await get('/api/history?author=self', historyReply)
    assert.equal(mine.total, 60)

    for (const [query, named] of [['limit=0', 'limit'], ['offset=-1', 'offset'], ['tier=tpu', 'tier'], ['budget=fast', 'budget']] as const) {
      const res = await fetch(`${api.url}/api/history?${query}`)
      assert.equal(res.status, 400)
      assert.match(errorReply.parse(await res.json()).error.message, new RegExp(named))
    }
  })

  it('draws one arena: every ranked result once, crashes counted apart, the node\'s own marked', async () => {
    await publish({ description: 'a crash', valBpb: null })
    const chart = await get('/api/chart?tier=cpu&budget=time', chartReply)
    assert.equal(chart.budget, 'time budget')
    assert.equal(chart.points.t.length, 55)
    assert.equal(chart.crashes, 1)
    for (const column of [chart.points.v, chart.points.s, chart.points.mine, chart.points.trusted, chart.points.id]) assert.equal(column.length, 55)
    assert.equal([...chart.points.mine].filter((c) => c === '1').length, 54, 'the peer\'s result is not this node\'s')
    assert.ok(chart.points.t.every((t, i) => i === 0 || chart.points.t[i - 1]! <= t), 'oldest first')
    const steps = await get('/api/chart?tier=cpu&budget=50', chartReply)
    assert.equal(steps.points.t.length, 6)

    // Big replies travel gzipped when the browser takes it.
    const raw = await new Promise<{ encoding: string | undefined, body: Buffer }>((resolve, reject) => {
      request(`${api.url}/api/history?limit=200&tier=cpu&budget=time`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => { resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }) })
      }).on('error', reject).end()
    })
    assert.equal(raw.encoding, 'gzip')
    assert.equal(historyReply.parse(JSON.parse(gunzipSync(raw.body).toString())).results.length, 56, 'the history lists the crash too')
  })

  it('samples a chart past its limit: every point marked to keep stays, the others spread evenly, in order', () => {
    const points = Array.from({ length: 100_000 }, (_, i) => ({ i, kept: i % 1000 === 0 }))
    const shown = samplePoints(points, 20_000)
    assert.equal(shown.length, 20_000)
    assert.ok(points.filter((p) => p.kept).every((p) => shown.includes(p)), 'every kept point is shown')
    assert.ok(shown.every((p, k) => k === 0 || shown[k - 1]!.i < p.i), 'in order')
    const gaps = shown.filter((p) => !p.kept).map((p, k, all) => k === 0 ? 0 : p.i - all[k - 1]!.i).slice(1)
    assert.ok(Math.max(...gaps) <= 7, `the others evenly spread (one in 5.02, a kept point between at most) (largest gap ${Math.max(...gaps)})`)
    assert.equal(samplePoints(points.slice(0, 500), 20_000).length, 500, 'under the limit, all of them')
  })

  it('opens a result: its diff against its parent (or the default train.py), source, lineage and log', async () => {
    const root = await publish({ description: 'from the default', code: api.defaultSource.replace(/^/, '# tuned\n') })
    const child = await publish({ description: 'one line changed', parent: root, code: api.defaultSource.replace(/^/, '# tuned twice\n') })
    const detail = await get(`/api/results/${child.slice(0, 12)}`, resultDetailReply)
    assert.equal(detail.result.id, child)
    assert.equal(detail.parent?.id, root)
    assert.deepEqual(detail.diff!.split('\n').filter((l) => /^[+-][^+-]/.test(l)), ['-# tuned', '+# tuned twice'])
    assert.match(detail.source!, /^# tuned twice\n/)
    assert.equal(detail.log, null, 'no log stored for it here')
    const rootDetail = await get(`/api/results/${root}`, resultDetailReply)
    assert.deepEqual(rootDetail.children.map((c) => c.id), [child])
    assert.deepEqual(rootDetail.diff!.split('\n').filter((l) => /^[+-][^+-]/.test(l)), ['+# tuned'], 'parent null: against the default train.py')

    const missing = await fetch(`${api.url}/api/results/${'f'.repeat(64)}`)
    assert.equal(missing.status, 404)
    assert.equal(errorReply.parse(await missing.json()).error.code, 'RESULT_NOT_FOUND')
  })

  it('refuses to diff two hostile sources that differ everywhere, or are too large to show, and says why (what that costs: BENCHMARKS, attacks)', async () => {
    const lines = (tag: string, n: number): string => Array.from({ length: n }, (_, i) => `${tag} ${i}`).join('\n')
    const parent = await publish({ description: 'hostile parent', code: lines('a', 12_000) })
    const child = await publish({ description: 'hostile child', parent, code: lines('b', 12_000) })
    const detail = await get(`/api/results/${child}`, resultDetailReply)
    assert.equal(detail.diff, null)
    assert.match(detail.diffNote!, /differ too much to show a diff/)
    assert.match(detail.source!, /^b 0\n/, 'under 128 KiB the source is shown')

    // 2.6 million lines, one apart: neither diffed nor shown (the diff's own limits held the loop 7.7 s).
    const huge = '\n'.repeat(2_600_000)
    const hugeParent = await publish({ description: 'huge parent', code: huge + 'a' })
    const hugeChild = await publish({ description: 'huge child', parent: hugeParent, code: huge + 'b' })
    const refused = await get(`/api/results/${hugeChild}`, resultDetailReply)
    assert.equal(refused.diff, null)
    assert.match(refused.diffNote!, /a source is over 131072 bytes/)
    assert.equal(refused.source, null)
    assert.match(refused.sourceNote!, /its train\.py is 2600001 bytes, more than the page shows \(131072\): `swarmd blob get [0-9a-f]{64}`/)
  })

  it('states the glance: this node\'s work, the best per arena with its finder, problems in words', async () => {
    const status = await get('/api/status', statusReply)
    assert.equal(status.self.runs, status.results - 1, 'all but the peer\'s result are this node\'s')
    assert.equal(status.self.crashes, 1)
    const arenas = new Map(status.arenas.map((a) => [`${a.tier}/${a.budget}`, a]))
    assert.equal(arenas.get('cpu/time budget')?.best?.description, 'run 0', 'the lowest val_bpb among trusted results')
    assert.equal(arenas.get('cpu/time budget')?.best?.author, api.peerId)
    assert.equal(arenas.get('cpu/50 steps')?.best?.description, 'run 9')
    assert.ok(status.problems.some((p) => /no peers connected/.test(p)), status.problems.join('; '))
  })

  it('pushes new results over server-sent events; past its limit of streams the oldest goes, not the newest', async () => {
    const controller = new AbortController()
    const res = await fetch(`${api.url}/api/events`, { signal: controller.signal })
    assert.equal(res.headers.get('content-type'), 'text/event-stream')
    const reader = res.body!.getReader()
    let text = ''
    const readUntil = async (pattern: RegExp): Promise<string> => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read()
        if (done) throw new Error(`stream ended before ${pattern}: ${text}`)
        text += Buffer.from(value).toString()
      }
      return text
    }
    await readUntil(/event: status\n/)
    await publish({ description: 'pushed to the page' })
    const events = await readUntil(/event: results\ndata: .*\n\n/)
    const data = JSON.parse(/event: results\ndata: (.*)\n/.exec(events)![1]!) as Array<{ description: string, budget: string }>
    assert.deepEqual(data.map((r) => [r.description, r.budget]), [['pushed to the page', 'time budget']])

    // Streams left open and unread (16, the most) cannot shut a new page out: the oldest goes.
    const more = await Promise.all(Array.from({ length: 16 }, async () => fetch(`${api.url}/api/events`, { signal: controller.signal })))
    assert.deepEqual(more.map((r) => r.status), Array(16).fill(200))
    await assert.rejects(readUntil(/never/), /terminated|stream ended/, 'the first stream, the oldest, was closed for the newest')
    controller.abort()
  })
})
