import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chromium } from 'playwright-core'
import { startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
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
    await page.close()
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
