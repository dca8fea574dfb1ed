import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import { connect } from 'node:net'
import { hostname, networkInterfaces } from 'node:os'
import { resolveConfig } from '../../src/config/config.js'
import { DEFAULTS } from '../../src/config/defaults.js'
import { DaemonProcess, cleanupDaemons } from '../helpers/daemon-process.js'
import { startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { waitFor } from '../helpers/wait.js'
import { rawCall } from '../helpers/raw-http.js'
import type { Daemon } from '../../src/daemon/daemon.js'
import type { StatusJson } from '../../src/http/api-contract.js'

/**
 * The API as a real daemon serves it: its ports wired to the real libp2p node, LevelDB and blob
 * service (test/http covers the routes themselves on an in-memory fixture).
 */
describe('the daemon behind its API (real libp2p, two daemons)', () => {
  let a: Daemon
  let b: Daemon
  let token: string
  before(async () => {
    [a, b] = await Promise.all([startInProcessDaemon(), startInProcessDaemon()])
    token = (await readFile(a.paths.apiToken, 'utf8')).trim()
  })
  after(async () => { await stopAndRemove(a, b) })

  const status = async (d: Daemon): Promise<StatusJson> => (await fetch(`${d.apiUrl}/api/status`)).json() as Promise<StatusJson>

  it('reports its peer id, listen addresses and record counts; connects on request and shows the peer on its topic', async () => {
    const before = await status(a)
    assert.equal(before.peerId, a.identity.peerId.toString())
    assert.deepEqual(before.listen, a.listenAddrs())
    assert.equal(typeof before.counts.hypothesis, 'number')
    assert.deepEqual(before.peers, [])
    const dialled = await fetch(`${a.apiUrl}/api/connect`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ addr: b.listenAddrs()[0] }) })
    assert.equal(dialled.status, 200)
    assert.deepEqual(await dialled.json(), { peerId: b.identity.peerId.toString(), member: true })
    const peers = (await (await fetch(`${a.apiUrl}/api/peers`)).json() as { peers: Array<{ peerId: string, direction: string }> }).peers
    assert.deepEqual(peers.map((p) => [p.peerId, p.direction]), [[b.identity.peerId.toString(), 'outbound']])
    await waitFor(async () => (await status(a)).topicPeers === 1, { timeoutMs: 15_000, what: 'the peer on the swarm topic' })
    const refused = await fetch(`${a.apiUrl}/api/connect`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ addr: '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWLRPJAA5o6Z6FPaXxUBwHQ4tQKhrUVrQW9WxsjpCKBFoo' }) })
    assert.equal(refused.status, 502)
  })

  it('binds to 127.0.0.1 by default, unreachable from other interfaces; the token file is private to the user', async () => {
    assert.equal(DEFAULTS.httpHost, '127.0.0.1')
    assert.equal(resolveConfig({ file: {}, env: {}, flags: {}, shippedBootstrap: [] }).httpHost, '127.0.0.1')
    assert.equal(new URL(a.apiUrl).hostname, '127.0.0.1')
    const external = Object.values(networkInterfaces()).flat().find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)
    if (external !== undefined) {
      const reached = await new Promise<boolean>((resolve) => {
        const socket = connect(Number(new URL(a.apiUrl).port), external.address)
        socket.once('connect', () => { socket.destroy(); resolve(true) })
        socket.once('error', () => { resolve(false) })
      })
      assert.equal(reached, false, `the API answered on ${external.address}`)
    }
    assert.equal((await stat(a.paths.apiToken)).mode & 0o077, 0, 'api-token is readable by other users')
  })
})

describe('swarmd start --http-host (a real child process)', () => {
  after(async () => { await cleanupDaemons() })

  it('warns when the API listens beyond loopback, and stays silent on the default', { timeout: 90_000 }, async () => {
    const exposed = await DaemonProcess.start({ name: 'exposed', args: ['--http-host', '0.0.0.0'] })
    try {
      await waitFor(() => /warning: the API listens on 0\.0\.0\.0, not loopback/.test(exposed.output), { timeoutMs: 10_000, what: () => `the warning in the output of swarmd start:\n${exposed.output}` })
      // Exposed or not, a write still needs the token.
      const res = await fetch(new URL('/api/hypotheses', exposed.info.api), { method: 'POST', body: '{"title":"x","text":""}', headers: { 'content-type': 'application/json' } })
      assert.equal(res.status, 401)
      // What the flag is for: a browser elsewhere on the LAN, addressing the machine by its address or its name.
      const port = new URL(exposed.info.api).port
      const lan = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
      if (lan !== undefined) {
        const page = await fetch(`http://${lan.address}:${port}/api/status`)
        assert.equal(page.status, 200, `GET /api/status from ${lan.address}`)
      }
      assert.equal((await rawCall(exposed.info.api, 'GET', '/api/status', { host: `${hostname()}:${port}` })).status, 200)
      assert.deepEqual(await rawCall(exposed.info.api, 'GET', '/api/status', { host: `evil.example:${port}` }), { status: 403, code: 'API_FORBIDDEN_HOST' })
    } finally {
      await exposed.stop()
    }
    const quiet = await DaemonProcess.start({ name: 'default' })
    try {
      assert.equal(new URL(quiet.info.api).hostname, '127.0.0.1')
      assert.doesNotMatch(quiet.output, /not loopback/)
    } finally {
      await quiet.stop()
    }
  })
})

