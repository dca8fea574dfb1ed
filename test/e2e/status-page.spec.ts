import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chromium } from 'playwright-core'
import { randomBytes } from 'node:crypto'
import { parquetWriteBuffer } from 'hyparquet-writer'
import { CLIMBMIX } from '../../src/corpus/web-corpus.js'
import { FakeHub } from '../helpers/fake-hub.js'
import { createInProcessDaemon, startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { requirePython } from '../helpers/python.js'
import { waitFor } from '../helpers/wait.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha256Hex } from '../../src/util/hash.js'
import type { Browser, Page } from 'playwright-core'
import type { ResultBody, RunMetricsBody } from '../../src/state/record-kinds.js'
import type { Daemon } from '../../src/daemon/daemon.js'

/** Where the page test saves its screenshot (docs/status-page.png is refreshed from it). */
const SCREENSHOT = process.env.SWARMD_SCREENSHOT ?? join(tmpdir(), 'swarmd-status-page.png')

function metrics (valBpb: number, throughput = false): RunMetricsBody {
  return throughput
    ? { val_bpb: valBpb, training_seconds: 300, total_seconds: 330, peak_vram_mb: 20480, mfu_percent: 41.2, total_tokens_M: 1000, num_steps: 900, num_params_M: 85, depth: 12 }
    : { val_bpb: valBpb, training_seconds: 30, total_seconds: 33, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 1, num_steps: 1000, num_params_M: 1, depth: 4 }
}

interface Run { description: string, parent: string | null, valBpb: number | null, status: 'keep' | 'discard' | 'crash', maxSteps?: number, throughput?: boolean }

function resultRecord (d: Daemon, run: Run & { codeHash: string }): ResultBody {
  return {
    claimId: sha256Hex(`claim ${run.description}`), parent: run.parent, codeHash: run.codeHash, logHash: sha256Hex(`log ${run.description}`), description: run.description, delta: [], status: run.status,
    metrics: run.valBpb === null ? null : metrics(run.valBpb, run.throughput), crash: run.valBpb === null ? { reason: 'runtime', detail: 'NameError: boom' } : null,
    hardware: { gpu: 'cpu', vramGb: 0, tier: d.research.tier }, harness: d.research.harness, ...(run.maxSteps !== undefined ? { maxSteps: run.maxSteps } : {})
  }
}

/** A result of `d` with its train.py stored: what the page opens. Each a few milliseconds after the last, so their order is their dates'. */
async function publish (d: Daemon, run: Run & { code: string }): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, 3))
  const codeHash = await d.network.blobs.add(Buffer.from(run.code))
  return (await d.state.append('result', resultRecord(d, { ...run, codeHash }))).id
}

/** Console errors and uncaught exceptions of a page. */
function watchErrors (page: Page): { page: Page, list: string[] } {
  const list: string[] = []
  page.on('console', (m) => { if (m.type() === 'error') list.push(m.text()) })
  page.on('pageerror', (e) => { list.push(e.message) })
  return { page, list }
}

/** The status page in a real browser (Debian's Chromium, installed by scripts/install-system-deps.sh --test). */
describe('status page in Chromium', () => {
  let browser: Browser
  let a: Daemon
  let b: Daemon

  before(async () => {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    a = await startInProcessDaemon()
    b = await startInProcessDaemon({ bootstrap: [a.listenAddrs()[0]!] })
    await waitFor(() => a.network.libp2p.getPeers().length === 1, { what: 'peers connected', timeoutMs: 20_000 })
  })

  after(async () => {
    await browser?.close()
    await stopAndRemove(...[a, b].filter((d) => d !== undefined))
  })

  it('shows identity, peers, record counts and hypotheses, escaped, and updates live', async () => {
    await a.state.append('hypothesis', { title: 'Try RoPE', text: 'rotary positions at depth 4' })
    await a.state.append('hypothesis', { title: '<img src=x onerror="document.title=\'pwned\'">', text: 'an attacker-chosen title' })
    const page = await browser.newPage()
    await page.goto(`${a.apiUrl}/`)
    await page.locator('#peer-id', { hasText: a.identity.peerId.toString() }).waitFor({ timeout: 10_000 })
    assert.match(await page.locator('#research').innerText(), /agent none, profile cpu, tier cpu/)
    assert.equal(await page.locator('#peers tr').count(), 1)
    assert.match(await page.locator('#peers').innerText(), new RegExp(b.identity.peerId.toString()))
    assert.equal(await page.locator('b[data-kind="hypothesis"]').innerText(), '2')
    const table = await page.locator('#hypotheses').innerText()
    assert.match(table, /Try RoPE/)
    assert.match(table, /<img src=x/, 'the hostile title is shown as text')
    assert.equal(await page.locator('#hypotheses img').count(), 0, 'and never rendered as markup')
    assert.notEqual(await page.title(), 'pwned')

    // A hypothesis written on the peer reaches this daemon and the open page.
    await b.state.append('hypothesis', { title: 'Halve the LR', text: 'from the other daemon' })
    await page.locator('#hypotheses', { hasText: 'Halve the LR' }).waitFor({ timeout: 15_000 })
    await page.locator('b[data-kind="hypothesis"]', { hasText: '3' }).waitFor({ timeout: 10_000 })
    await page.close()
  })

  it('shows the best, a chart of one budget, dated history and each result\'s diff, lineage and reproductions, live', async () => {
    const errors = watchErrors(await browser.newPage())
    const page = errors.page
    const base = 'import torch\nlr = 0.04\ndepth = 4\nprint("train")\n'
    const root = await publish(a, { description: 'baseline from the default', parent: null, code: base, valBpb: 2.10, status: 'keep' })
    const child = await publish(a, { description: 'raise lr to 0.06', parent: root, code: base.replace('lr = 0.04', 'lr = 0.06'), valBpb: 2.05, status: 'keep', throughput: true })
    await publish(a, { description: 'depth 6 went worse', parent: child, code: base.replace('lr = 0.04', 'lr = 0.06').replace('depth = 4', 'depth = 6'), valBpb: 2.20, status: 'discard' })
    await publish(a, { description: 'a crashed run', parent: child, code: base + 'boom\n', valBpb: null, status: 'crash' })
    // Another budget: never on the same chart or ranking.
    await publish(a, { description: 'a 50-step run', parent: null, code: base + '# short\n', valBpb: 1.90, status: 'keep', maxSteps: 50 })
    await page.goto(`${a.apiUrl}/`)
    await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: 10_000 })

    // At a glance: this node's own work, the swarm's best per tier and budget, who found it.
    await page.locator('b[data-own="runs"]', { hasText: '5' }).waitFor({ timeout: 10_000 })
    assert.equal(await page.locator('b[data-own="keeps"]').innerText(), '3')
    assert.equal(await page.locator('b[data-own="crashes"]').innerText(), '1')
    const bests = await page.locator('#bests tr').allInnerTexts()
    assert.equal(bests.length, 2, bests.join(' | '))
    assert.ok(bests.some((row) => /cpu, time budget/.test(row) && /2\.0500 raise lr to 0\.06/.test(row) && /this node/.test(row)), bests.join(' | '))
    assert.ok(bests.some((row) => /cpu, 50 steps/.test(row) && /1\.9000/.test(row)), bests.join(' | '))
    assert.match(await page.locator('#uptime').innerText(), /\d+ s \(since /)

    // The chart: one point per ranked result of the shown budget (the 50-step run and the crash are not on it).
    await page.waitForFunction(() => (globalThis as unknown as { swarmdChart?: { data: unknown[][] } }).swarmdChart?.data[0]?.length === 3, undefined, { timeout: 10_000 })
    assert.match(await page.locator('#chart-note').innerText(), /3 results, 1 crashes not plotted/)
    await page.selectOption('#arena', 'tier=cpu&budget=50')
    await page.waitForFunction(() => (globalThis as unknown as { swarmdChart: { data: unknown[][] } }).swarmdChart.data[0]!.length === 1, undefined, { timeout: 10_000 })
    await page.selectOption('#arena', 'tier=cpu&budget=time')

    // History: dated, labelled with the budget, newest first.
    const history = await page.locator('#history tr').allInnerTexts()
    assert.equal(history.length, 5)
    assert.match(history[0]!, /1\.9000\tkeep\tcpu, 50 steps\ta 50-step run/)
    assert.match(history[1]!, /crash/)
    assert.match(history[4]!, /^[A-Z][a-z]{2} \d{1,2}, \d{1,2}:\d{2}:\d{2}( [AP]M)?\t2\.1000\tkeep\tcpu, time budget\tbaseline/)

    // A result opens: the diff against its parent shows the changed line, its lineage both ways, its throughput.
    await page.locator('#history tr', { hasText: 'raise lr to 0.06' }).click()
    await page.locator('#detail-diff', { hasText: '+lr = 0.06' }).waitFor({ timeout: 10_000 })
    const diff = await page.locator('#detail-diff').innerText()
    assert.match(diff, /^--- [0-9a-f]{12}\/train\.py\n\+\+\+ [0-9a-f]{12}\/train\.py\n@@ -1,4 \+1,4 @@/)
    assert.deepEqual(diff.split('\n').filter((l) => /^[+-]/.test(l) && !/^(---|\+\+\+) /.test(l)), ['-lr = 0.04', '+lr = 0.06'])
    assert.equal(await page.locator('#detail-diff .add').count(), 1)
    const lineage = await page.locator('#detail-lineage').innerText()
    assert.match(lineage, /parent: baseline from the default 2\.1000/)
    assert.match(lineage, /depth 6 went worse/)
    assert.match(lineage, /a crashed run/)
    assert.match(await page.locator('#detail-summary').innerText(), /3\.33M tok\/s, MFU 41\.2 %, 20\.0 GiB/)
    assert.match(await page.locator('#detail-source').textContent() ?? '', /lr = 0\.06/)

    // A peer reproduces it: its number shows under the result, pushed to the open page.
    await b.state.append('verification', {
      result: child, claimId: sha256Hex('verify child'), metrics: metrics(2.051), logHash: sha256Hex('log'), hardware: { gpu: 'cpu', vramGb: 0, tier: a.research.tier }, harness: a.research.harness, maxSteps: 1000
    })
    await waitFor(() => a.claims.ledger.verificationWork(child).verifications.length === 1, { what: 'the verification to reach a', timeoutMs: 15_000 })
    await page.locator('#history tr', { hasText: 'raise lr to 0.06' }).click()
    await page.locator('#detail-reproductions', { hasText: '2.0510' }).waitFor({ timeout: 10_000 })

    // A result published on the other daemon appears without a reload: history, chart, counts.
    const requests: string[] = []
    page.on('request', (r) => requests.push(new URL(r.url()).pathname))
    await publish(b, { description: 'from the other daemon', parent: child, code: base.replace('lr = 0.04', 'lr = 0.05'), valBpb: 2.01, status: 'keep' })
    await page.locator('#history tr', { hasText: 'from the other daemon' }).first().waitFor({ timeout: 15_000 })
    await page.waitForFunction(() => (globalThis as unknown as { swarmdChart: { data: unknown[][] } }).swarmdChart.data[0]!.length === 4, undefined, { timeout: 10_000 })
    await page.locator('b[data-swarm="results"]', { hasText: '6' }).waitFor({ timeout: 10_000 })
    assert.deepEqual(requests.filter((p) => p === '/api/history' || p === '/api/chart' || p === '/api/status'), [], 'pushed over /api/events, not fetched again')

    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    assert.deepEqual(errors.list, [], 'no console errors')
    await page.close()
  })

  it('with 10,000 results the page stays small and quiet: a page of history, one chart read, then only events', async () => {
    const big = await startInProcessDaemon()
    try {
      const started = Date.now()
      for (let i = 0; i < 10_000; i++) {
        await big.state.append('result', resultRecord(big, { description: `experiment ${i}: lr ${(0.01 + i * 1e-5).toFixed(5)}`, parent: null, codeHash: sha256Hex(`code ${i}`), valBpb: 2 - i * 1e-5 + (i % 7) * 1e-3, status: i % 3 === 0 ? 'keep' : 'discard' }))
      }
      process.stderr.write(`# 10,000 results written in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
      const errors = watchErrors(await browser.newPage())
      const page = errors.page
      const sizes: Array<Promise<number>> = []
      const paths: string[] = []
      page.on('requestfinished', (r) => {
        paths.push(new URL(r.url()).pathname)
        sizes.push(r.sizes().then((s) => s.responseBodySize + s.responseHeadersSize))
      })
      await page.goto(`${big.apiUrl}/`)
      await page.waitForFunction(() => (globalThis as unknown as { swarmdChart?: { data: unknown[][] } }).swarmdChart?.data[0]?.length === 10_000, undefined, { timeout: 20_000 })
      assert.equal(await page.locator('#history tr').count(), 25)
      assert.match(await page.locator('#problems').innerText(), /no peers connected, and no bootstrap peers configured: working solo/, 'a solo daemon says so in words')
      assert.match(await page.locator('#history-range').innerText(), /1–25 of 10000/)
      await page.locator('#history-older').click()
      await page.locator('#history-range', { hasText: '26–50 of 10000' }).waitFor({ timeout: 10_000 })
      const loaded = paths.length
      await new Promise((resolve) => setTimeout(resolve, 10_000))
      const bytes = (await Promise.all(sizes)).reduce((sum, n) => sum + n, 0)
      process.stderr.write(`# page with 10,000 results: ${loaded} requests, ${(bytes / 1024).toFixed(0)} KiB; ${paths.length - loaded} requests in the next 10 s\n`)
      assert.ok(bytes < 600 * 1024, `the page read ${bytes} bytes`)
      assert.equal(paths.length - loaded, 0, `requests while idle: ${paths.slice(loaded).join(', ')}`)
      assert.deepEqual(errors.list, [])
      await page.close()
    } finally {
      await stopAndRemove(big)
    }
  })

  it('while a daemon fetches the gpu corpus, its page shows the fetch\'s progress, then the daemon', async () => {
    // The corpus' own file names, small, from a slow loopback hub standing in for the host.
    const hub = new FakeHub(CLIMBMIX.dataset.repo)
    const names = [...Array.from({ length: CLIMBMIX.trainShards }, (_, i) => `shard_${String(i).padStart(5, '0')}.parquet`), CLIMBMIX.validationShard]
    for (const [n, name] of names.entries()) {
      // Text that does not compress away: the fetch must take a few seconds at this hub's pace.
      const documents = Array.from({ length: 30 }, (_, i) => `shard ${n} document ${i}: ${randomBytes(200).toString('hex')}`)
      hub.files.set(name, Buffer.from(parquetWriteBuffer({ columnData: [{ name: 'text', data: documents, type: 'STRING' }] })))
    }
    hub.throttle = { chunkBytes: 1024, delayMs: 100 }
    await hub.start()
    const { daemon, started } = await createInProcessDaemon({ profile: 'gpu-tiny', corpusHub: hub.endpoint })
    const page = await browser.newPage()
    try {
      await waitFor(() => { try { return daemon.apiUrl !== '' } catch { return false } }, { what: 'the API to listen', timeoutMs: 10_000 })
      await page.goto(`${daemon.apiUrl}/`)
      await page.locator('#research', { hasText: /starting: fetching the corpus: [\d.]+ MB of [\d.]+ MB \(\d+ %/ }).waitFor({ timeout: 15_000 })
      const status = await (await fetch(`${daemon.apiUrl}/api/status`)).json() as { starting?: { phase: string, corpus?: { phase: string } } }
      assert.equal(status.starting?.phase, 'corpus')
      const early = await fetch(`${daemon.apiUrl}/api/results`)
      assert.equal(early.status, 503, 'the rest of the API waits for the daemon')
      assert.equal((await early.json() as { error: { code: string } }).error.code, 'API_STARTING')
      await started
      await page.locator('#research', { hasText: 'profile gpu-tiny' }).waitFor({ timeout: 15_000 })
      assert.match(await page.locator('#data-identity').innerText(), /karpathy\/climbmix-400b-shuffle\S* validation [0-9a-f]{16}/)
    } finally {
      await page.close()
      await started.catch(() => {})
      await stopAndRemove(daemon)
      await hub.stop()
    }
  })

  it('says which sandbox protections hold for peers\' code on this machine', async () => {
    const python = await requirePython()
    const c = await startInProcessDaemon({ agent: 'builtin', python, maxSteps: 5, maxExperiments: 1 })
    try {
      const page = await browser.newPage()
      await page.goto(`${c.apiUrl}/`)
      // This machine (and CI) has bubblewrap and root's cgroups: peers' code runs, confined.
      await page.locator('#foreign-code', { hasText: 'runs in the sandbox, under the kernel\'s limits' }).waitFor({ timeout: 15_000 })
      const rows = await page.locator('#confinement tr').allInnerTexts()
      for (const name of ['environment', 'filesystem', 'network', 'user', 'memory', 'process count', 'gpu']) {
        assert.ok(rows.some((row) => row.startsWith(`${name}\tyes`)), `${name} holds: ${rows.join(' | ')}`)
      }
      assert.match(await page.locator('#sandbox').innerText(), /^on: peers’ code runs confined/)
      // Its real run counts as its own work once it ends, and lands on the chart (step-limited: its own budget).
      await page.locator('b[data-own="runs"]', { hasText: '1' }).waitFor({ timeout: 60_000 })
      assert.match(await page.locator('#arena').inputValue(), /^tier=cpu&budget=5$/)
      await page.waitForFunction(() => (globalThis as unknown as { swarmdChart?: { data: unknown[][] } }).swarmdChart?.data[0]?.length === 1, undefined, { timeout: 10_000 })
      await page.close()
    } finally {
      await stopAndRemove(c)
    }
  })
})
