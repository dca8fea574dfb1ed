import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { ApiServer } from '../../src/http/api-server.js'
import { systemClock } from '../../src/util/clock.js'
import { startApiFixture } from '../helpers/api-fixture.js'
import type { ApiFixture } from '../helpers/api-fixture.js'

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
  let api: ApiFixture
  let token: string
  before(async () => {
    api = await startApiFixture()
    token = api.token
  })
  after(async () => { await api.close() })

  const auth = (): Record<string, string> => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' })

  it('reports status with peer id, listen addresses and record counts', async () => {
    const reply = await call(`${api.url}/api/status`)
    assert.equal(reply.status, 200)
    const status = JSON.parse(reply.body)
    assert.equal(status.peerId, api.peerId)
    assert.ok(status.listen.length > 0)
    assert.equal(typeof status.counts.hypothesis, 'number')
    assert.ok(Array.isArray(status.peers))
  })

  it('needs the data dir token to write', async () => {
    const body = JSON.stringify({ title: 'x', text: 'y' })
    assert.equal((await call(`${api.url}/api/hypotheses`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status, 401)
    assert.equal((await call(`${api.url}/api/hypotheses`, { method: 'POST', body, headers: { authorization: 'Bearer wrong' } })).status, 401)
    const ok = await call(`${api.url}/api/hypotheses`, { method: 'POST', body, headers: auth() })
    assert.equal(ok.status, 201)
    assert.equal(JSON.parse(ok.body).hypothesis.title, 'x')
  })

  it('refuses other Host names (DNS rebinding) and cross-site writes', async () => {
    assert.equal((await call(`${api.url}/api/status`, { headers: { host: 'evil.example:80' } })).status, 403)
    const crossSite = await call(`${api.url}/api/hypotheses`, { method: 'POST', body: '{"title":"x","text":""}', headers: { ...auth(), origin: 'http://evil.example' } })
    assert.equal(crossSite.status, 403)
  })

  it('answers bad input with a typed error and keeps serving', async () => {
    const notJson = await call(`${api.url}/api/hypotheses`, { method: 'POST', body: '{', headers: auth() })
    assert.equal(notJson.status, 400)
    assert.equal(JSON.parse(notJson.body).error.code, 'API_BAD_REQUEST')
    const emptyTitle = await call(`${api.url}/api/hypotheses`, { method: 'POST', body: '{"title":"","text":""}', headers: auth() })
    assert.equal(emptyTitle.status, 400)
    assert.equal((await call(`${api.url}/api/blobs/not-a-hash`)).status, 400)
    assert.equal((await call(`${api.url}/api/nothing`)).status, 404)
    assert.equal((await call(`${api.url}/api/status`)).status, 200)
  })

  it('stores and serves blobs by hash', async () => {
    const bytes = new TextEncoder().encode('LR = 0.04\n')
    const added = await call(`${api.url}/api/blobs`, { method: 'POST', body: bytes, headers: { authorization: `Bearer ${token}` } })
    assert.equal(added.status, 201)
    const { hash } = JSON.parse(added.body)
    const got = await call(`${api.url}/api/blobs/${hash as string}`)
    assert.equal(got.status, 200)
    assert.equal(got.body, 'LR = 0.04\n')
  })
})

describe('local API while the daemon starts', () => {
  it('shows the page, answers /api/status with what the daemon is doing and every other call with 503 API_STARTING, until it serves', async () => {
    const server = new ApiServer({ token: 't'.repeat(32), clock: systemClock }, { host: '127.0.0.1', port: 0, maxBodyBytes: 1024 })
    await server.start()
    try {
      assert.equal((await call(`${server.url}/`)).status, 200)
      assert.deepEqual(JSON.parse((await call(`${server.url}/api/status`)).body), { starting: { phase: 'starting' } })
      const corpus = { phase: 'download', done: 1_000, total: 4_000, bytesPerSecond: 500, etaSeconds: 6 } as const
      server.reportStartup({ phase: 'corpus', corpus })
      assert.deepEqual(JSON.parse((await call(`${server.url}/api/status`)).body), { starting: { phase: 'corpus', corpus } })
      for (const path of ['/api/claims', '/api/results', '/api/best', '/api/peers']) {
        const reply = await call(`${server.url}${path}`)
        assert.deepEqual([reply.status, JSON.parse(reply.body).error.code], [503, 'API_STARTING'], path)
      }
    } finally {
      await server.stop()
    }
  })
})
