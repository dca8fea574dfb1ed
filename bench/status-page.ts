/**
 * The status page's reads at scale: a daemon's API (the real ledger, trust, blob store and server
 * over HTTP, as test/helpers/api-fixture builds it) holding N results of one author mix, timed per
 * endpoint with the sizes a browser receives (gzip accepted): `/api/status` (the glance),
 * `/api/history` (the first page and one deep in), `/api/chart` (every result of the arena),
 * `/api/results/<id>` (one opened, with its diff), and the first history page read right after a
 * new result arrived (the sorted results grow in place).
 */
import { request } from 'node:http'
import { sha256Hex } from '../src/util/hash.js'
import { startApiFixture, FIXTURE_HARNESS } from '../test/helpers/api-fixture.js'
import { fmtBytes, machineLine, parseFlags, progress, summarize, summaryLine } from './harness.js'
import type { ResultBody } from '../src/state/record-kinds.js'

const flags = parseFlags('bench:page', 'the status page\'s reads (status, history, chart, one result) at N results', {
  results: { default: 100_000, help: 'results the daemon holds' },
  reps: { default: 20, help: 'reads per endpoint' }
})

function body (i: number, parent: string | null): ResultBody {
  const crashed = i % 50 === 49
  return {
    claimId: sha256Hex(`claim ${i}`), parent, codeHash: sha256Hex(`code ${i}`), logHash: sha256Hex(`log ${i}`),
    description: `experiment ${i}: learning rate ${(0.01 + (i % 997) * 1e-5).toFixed(5)}, depth ${4 + (i % 5)}`, delta: [],
    status: crashed ? 'crash' : i % 7 === 0 ? 'keep' : 'discard',
    metrics: crashed ? null : { val_bpb: 2 - i * 1e-6 + (i % 13) * 1e-3, training_seconds: 300, total_seconds: 330, peak_vram_mb: 20_000, mfu_percent: 40, total_tokens_M: 500, num_steps: 900, num_params_M: 85, depth: 8 },
    crash: crashed ? { reason: 'runtime', detail: 'RuntimeError' } : null,
    hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: FIXTURE_HARNESS
  }
}

/** One GET as a browser makes it: gzip accepted; the bytes on the wire and the time to the last byte. */
async function read (url: string): Promise<{ ms: number, bytes: number, status: number }> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    request(url, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      let bytes = 0
      res.on('data', (chunk: Buffer) => { bytes += chunk.byteLength })
      res.on('end', () => { resolve({ ms: performance.now() - started, bytes, status: res.statusCode ?? 0 }) })
    }).on('error', reject).end()
  })
}

const api = await startApiFixture()
try {
  progress(`bench:page: writing ${flags.results} results…`)
  const started = performance.now()
  let parent: string | null = null
  let opened = ''
  for (let i = 0; i < flags.results; i++) {
    const rec: { id: string } = await api.state.append('result', body(i, parent))
    if (i % 7 === 0) parent = rec.id
    if (i === Math.floor(flags.results / 2)) opened = rec.id
    if (i % 10_000 === 9_999) progress(`  ${i + 1} results (${((performance.now() - started) / 1000).toFixed(0)} s)`)
  }
  // The opened result's source and its parent's, so its detail shows a diff.
  await api.services.blobs.add(Buffer.from(api.defaultSource))
  console.log(`bench:page — ${machineLine()}`)
  console.log(`${flags.results} results, ${flags.reps} reads each (first read of each kind included)`)
  const endpoints: Array<[string, string]> = [
    ['GET /api/status', '/api/status'],
    ['GET /api/history (page 1)', '/api/history?limit=25'],
    ['GET /api/history (deep page)', `/api/history?limit=25&offset=${Math.floor(flags.results * 0.9)}`],
    ['GET /api/history (one arena)', '/api/history?limit=25&tier=cpu&budget=time'],
    ['GET /api/chart', '/api/chart?tier=cpu&budget=time'],
    ['GET /api/results/<id>', `/api/results/${opened}`]
  ]
  for (const [label, path] of endpoints) {
    const times: number[] = []
    let bytes = 0
    for (let r = 0; r < flags.reps; r++) {
      const reply = await read(`${api.url}${path}`)
      if (reply.status !== 200) throw new Error(`${path}: HTTP ${reply.status}`)
      times.push(reply.ms)
      bytes = reply.bytes
    }
    console.log(`${summaryLine(label, summarize(times))}  ${fmtBytes(bytes)} on the wire`)
  }
  // A new result, then the first page at once: what the page reads after a `reset`.
  const afterNew: number[] = []
  for (let r = 0; r < flags.reps; r++) {
    await api.state.append('result', body(flags.results + r, parent))
    afterNew.push((await read(`${api.url}/api/history?limit=25`)).ms)
  }
  console.log(summaryLine('history right after a result', summarize(afterNew)))
  console.log(`heap used ${fmtBytes(process.memoryUsage().heapUsed)}, rss ${fmtBytes(process.memoryUsage().rss)}`)
} finally {
  await api.close()
}
