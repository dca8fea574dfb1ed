import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { blobHashOf } from '../../src/p2p/blob-store.js'
import { loadOrCreateApiToken } from '../../src/daemon/api-token.js'
import { startApiFixture } from '../helpers/api-fixture.js'
import { rawCall } from '../helpers/raw-http.js'
import type { ApiFixture } from '../helpers/api-fixture.js'

/** A request without any Host header (HTTP/1.0), which no browser sends but a raw client can. */
async function callWithoutHost (port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => { socket.write(`GET ${path} HTTP/1.0\r\n\r\n`) })
    let text = ''
    socket.setEncoding('utf8').on('data', (d: string) => { text += d })
    socket.on('end', () => { resolve(Number(/^HTTP\/1\.\d (\d{3})/.exec(text)?.[1] ?? 0)) })
    socket.on('error', reject)
  })
}

interface Endpoint {
  path: string
  /** A body the endpoint would accept (or at least parse) once past the guards. */
  body: () => string | Uint8Array
  contentType: string
}

describe('local API safety (DESIGN §6, issue 5 §4)', () => {
  let api: ApiFixture
  let token: string
  let base: string
  let port: number
  let claimId: string
  const blob = new TextEncoder().encode('LR = 0.07  # must never be stored by a refused call\n')

  before(async () => {
    api = await startApiFixture({ settleMs: 20 })
    token = api.token
    base = api.url
    port = Number(new URL(base).port)
    // A real claim, so heartbeat and release address an existing one.
    const res = await rawCall(base, 'POST', '/api/claims', { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, JSON.stringify({ description: 'warmup 20 -> 40' }))
    assert.equal(res.status, 201)
    claimId = api.services.claims.ledger.allClaims()[0]!.id
  })
  after(async () => { await api.close() })

  const json = (value: unknown) => () => JSON.stringify(value)
  const endpoints = (): Endpoint[] => [
    { path: '/api/claims', body: json({ description: 'batch size 16 -> 32' }), contentType: 'application/json' },
    { path: `/api/claims/${claimId}/heartbeat`, body: json({}), contentType: 'application/json' },
    { path: `/api/claims/${claimId}/release`, body: json({}), contentType: 'application/json' },
    { path: '/api/results', body: json({ claim: claimId, log: 'no summary', code: 'x = 1\n' }), contentType: 'application/json' },
    { path: '/api/hypotheses', body: json({ title: 'refused idea', text: '' }), contentType: 'application/json' },
    { path: '/api/connect', body: json({ addr: '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWLRPJAA5o6Z6FPaXxUBwHQ4tQKhrUVrQW9WxsjpCKBFoo' }), contentType: 'application/json' },
    { path: '/api/blobs', body: () => blob, contentType: 'application/octet-stream' }
  ]

  /** Everything a mutation could touch: records, claim state, peers, blobs. */
  async function observable (): Promise<string> {
    return JSON.stringify({
      digest: api.state.contentDigest(),
      counts: api.state.counts(),
      claim: api.services.claims.ledger.allClaims().map((c) => c.id),
      dialled: api.dialled.length,
      blob: await api.blobStore.has(blobHashOf(blob))
    })
  }

  it('refuses every mutating endpoint without the token, with a foreign Origin, and with a foreign Host; nothing changes', async () => {
    const before = await observable()
    const good = { authorization: `Bearer ${token}` }
    const attempts: Array<{ what: string, headers: Record<string, string>, status: number, code: string }> = [
      { what: 'no token', headers: {}, status: 401, code: 'API_UNAUTHORIZED' },
      { what: 'wrong token', headers: { authorization: `Bearer ${'0'.repeat(token.length)}` }, status: 401, code: 'API_UNAUTHORIZED' },
      { what: 'the token without the Bearer scheme', headers: { authorization: token }, status: 401, code: 'API_UNAUTHORIZED' },
      { what: 'a prefix of the token', headers: { authorization: `Bearer ${token.slice(0, -1)}` }, status: 401, code: 'API_UNAUTHORIZED' },
      { what: 'foreign Origin (cross-site form or fetch)', headers: { ...good, origin: 'https://evil.example' }, status: 403, code: 'API_FORBIDDEN_ORIGIN' },
      { what: 'null Origin (sandboxed frame, file://)', headers: { ...good, origin: 'null' }, status: 403, code: 'API_FORBIDDEN_ORIGIN' },
      { what: 'lookalike Origin', headers: { ...good, origin: 'http://127.0.0.1.evil.example' }, status: 403, code: 'API_FORBIDDEN_ORIGIN' },
      { what: 'foreign Host (DNS rebinding)', headers: { ...good, host: `evil.example:${port}` }, status: 403, code: 'API_FORBIDDEN_HOST' },
      { what: 'rebinding Host that starts like loopback', headers: { ...good, host: `127.0.0.1.nip.io:${port}` }, status: 403, code: 'API_FORBIDDEN_HOST' },
      { what: 'foreign Host without a token', headers: { host: 'evil.example' }, status: 403, code: 'API_FORBIDDEN_HOST' }
    ]
    const failures: string[] = []
    for (const endpoint of endpoints()) {
      for (const attempt of attempts) {
        const reply = await rawCall(base, 'POST', endpoint.path, { 'content-type': endpoint.contentType, ...attempt.headers }, endpoint.body())
        if (reply.status !== attempt.status || reply.code !== attempt.code) failures.push(`POST ${endpoint.path} with ${attempt.what}: ${reply.status} ${reply.code ?? ''}, expected ${attempt.status} ${attempt.code}`)
      }
    }
    assert.deepEqual(failures, [])
    assert.equal(await observable(), before, 'a refused call changed the daemon')
  })

  it('lets the same calls past the guards with the token and a loopback Host and Origin (the guards are not blanket)', async () => {
    for (const endpoint of endpoints()) {
      for (const origin of [undefined, `http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
        const headers: Record<string, string> = { 'content-type': endpoint.contentType, authorization: `Bearer ${token}`, host: `localhost:${port}` }
        if (origin !== undefined) headers.origin = origin
        const reply = await rawCall(base, 'POST', endpoint.path, headers, endpoint.body())
        assert.ok(![401, 403].includes(reply.status) || !['API_UNAUTHORIZED', 'API_FORBIDDEN_ORIGIN', 'API_FORBIDDEN_HOST'].includes(reply.code ?? ''),
          `POST ${endpoint.path} (origin ${origin ?? 'none'}) was refused by a guard: ${reply.status} ${reply.code ?? ''}`)
      }
    }
    assert.equal(await api.blobStore.has(blobHashOf(blob)), true, 'the authorised blob upload was stored')
  })

  it('refuses reads addressed by a foreign Host name, or by none (DNS rebinding would read the status otherwise)', async () => {
    const reads = ['/', '/api/status', '/api/peers', '/api/best', '/api/claims', `/api/claims/${claimId}`, '/api/results', '/api/hypotheses', `/api/blobs/${blobHashOf(blob)}`]
    for (const path of reads) {
      assert.equal((await rawCall(base, 'GET', path, {})).status, 200, `GET ${path} on loopback`)
      for (const host of ['evil.example', `evil.example:${port}`, `attacker.127.0.0.1.nip.io:${port}`, `[::ffff:7f00:1]:${port}`]) {
        const reply = await rawCall(base, 'GET', path, { host })
        assert.deepEqual([reply.status, reply.code], [403, 'API_FORBIDDEN_HOST'], `GET ${path} with Host ${host}`)
      }
      assert.equal(await callWithoutHost(port, path), 403, `GET ${path} without a Host header`)
    }
  })

  it('answers a broken percent-encoding in a path with 400, not 500', async () => {
    for (const path of ['/api/claims/%E0%A4%A', '/api/hypotheses/%ZZ', '/api/claims/%C3%28']) {
      const reply = await rawCall(base, 'GET', path, {})
      assert.deepEqual([reply.status, reply.code], [400, 'API_BAD_REQUEST'], `GET ${path}`)
    }
  })
})

describe('the api-token file', () => {
  it('is created private, and a copy found readable by others is made private again, token unchanged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarmd-token-'))
    try {
      const path = join(dir, 'api-token')
      const token = await loadOrCreateApiToken(path)
      assert.equal((await stat(path)).mode & 0o777, 0o600)
      await chmod(path, 0o644)
      assert.equal(await loadOrCreateApiToken(path), token)
      assert.equal((await stat(path)).mode & 0o777, 0o600)
      // A file too short to be a token is rewritten, and private whatever its mode was.
      await writeFile(path, 'short\n', { mode: 0o644 })
      const fresh = await loadOrCreateApiToken(path)
      assert.notEqual(fresh, token)
      assert.equal((await stat(path)).mode & 0o777, 0o600)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
