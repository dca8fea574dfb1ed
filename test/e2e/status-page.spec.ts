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
import type { Browser } from 'playwright-core'
import type { Daemon } from '../../src/daemon/daemon.js'

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
    assert.equal(await page.locator('b[data-kind="hypothesis"]').innerText(), '3')

    // A GPU run's throughput: tokens/s over its training time, MFU and peak VRAM.
    const metrics = { val_bpb: 1.234, training_seconds: 300, total_seconds: 330, peak_vram_mb: 20480, mfu_percent: 41.2, total_tokens_M: 1000, num_steps: 900, num_params_M: 85, depth: 12 }
    await a.state.append('result', {
      claimId: 'c'.repeat(64), parent: null, codeHash: 'd'.repeat(64), logHash: 'e'.repeat(64), description: 'a gpu run', delta: [], status: 'keep',
      metrics, crash: null, hardware: { gpu: 'NVIDIA H100 80GB HBM3', vramGb: 80, tier: a.research.tier }, harness: a.research.harness
    })
    await page.locator('#results', { hasText: 'a gpu run' }).waitFor({ timeout: 15_000 })
    assert.match(await page.locator('#results').innerText(), /3\.33M tok\/s, MFU 41\.2 %, 20\.0 GiB/)
    await page.close()
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
      assert.match(await page.locator('#research').innerText(), /corpus karpathy\/climbmix-400b-shuffle/)
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
      await page.close()
    } finally {
      await stopAndRemove(c)
    }
  })
})
