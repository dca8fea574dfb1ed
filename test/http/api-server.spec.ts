import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { request } from 'node:http'
import { startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import type { Daemon } from '../../src/daemon/daemon.js'

interface Reply { status: number, body: string }

/** Raw HTTP, so tests control the Host and Origin headers a browser would send. */
async function call (url: string, opts: { method?: string, headers?: Record<string, string>, body?: string | Uint8Array } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }) })
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

describe('local API', () => {
  let daemon: Daemon
  let token: string
  before(async () => {
    daemon = await startInProcessDaemon()
    token = (await readFile(daemon.paths.apiToken, 'utf8')).trim()
  })
  after(async () => { await stopAndRemove(daemon) })

  const auth = (): Record<string, string> => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' })

  it('reports status with peer id, listen addresses and record counts', async () => {
    const reply = await call(`${daemon.apiUrl}/api/status`)
    assert.equal(reply.status, 200)
    const status = JSON.parse(reply.body)
    assert.equal(status.peerId, daemon.identity.peerId.toString())
    assert.ok(status.listen.length > 0)
    assert.equal(typeof status.counts.hypothesis, 'number')
    assert.ok(Array.isArray(status.peers))
  })

  it('needs the data dir token to write', async () => {
    const body = JSON.stringify({ title: 'x', text: 'y' })
    assert.equal((await call(`${daemon.apiUrl}/api/hypotheses`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status, 401)
    assert.equal((await call(`${daemon.apiUrl}/api/hypotheses`, { method: 'POST', body, headers: { authorization: 'Bearer wrong' } })).status, 401)
    const ok = await call(`${daemon.apiUrl}/api/hypotheses`, { method: 'POST', body, headers: auth() })
    assert.equal(ok.status, 201)
    assert.equal(JSON.parse(ok.body).hypothesis.title, 'x')
  })

  it('refuses other Host names (DNS rebinding) and cross-site writes', async () => {
    assert.equal((await call(`${daemon.apiUrl}/api/status`, { headers: { host: 'evil.example:80' } })).status, 403)
    const crossSite = await call(`${daemon.apiUrl}/api/hypotheses`, { method: 'POST', body: '{"title":"x","text":""}', headers: { ...auth(), origin: 'http://evil.example' } })
    assert.equal(crossSite.status, 403)
  })

  it('answers bad input with a typed error and keeps serving', async () => {
    const notJson = await call(`${daemon.apiUrl}/api/hypotheses`, { method: 'POST', body: '{', headers: auth() })
    assert.equal(notJson.status, 400)
    assert.equal(JSON.parse(notJson.body).error.code, 'API_BAD_REQUEST')
    const emptyTitle = await call(`${daemon.apiUrl}/api/hypotheses`, { method: 'POST', body: '{"title":"","text":""}', headers: auth() })
    assert.equal(emptyTitle.status, 400)
    assert.equal((await call(`${daemon.apiUrl}/api/blobs/not-a-hash`)).status, 400)
    assert.equal((await call(`${daemon.apiUrl}/api/nothing`)).status, 404)
    assert.equal((await call(`${daemon.apiUrl}/api/status`)).status, 200)
  })

  it('stores and serves blobs by hash', async () => {
    const bytes = new TextEncoder().encode('LR = 0.04\n')
    const added = await call(`${daemon.apiUrl}/api/blobs`, { method: 'POST', body: bytes, headers: { authorization: `Bearer ${token}` } })
    assert.equal(added.status, 201)
    const { hash } = JSON.parse(added.body)
    const got = await call(`${daemon.apiUrl}/api/blobs/${hash as string}`)
    assert.equal(got.status, 200)
    assert.equal(got.body, 'LR = 0.04\n')
  })
})
