import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { applyDelta } from '../../src/source/train-constants.js'
import { sha256Hex } from '../../src/util/hash.js'
import { ManualClock } from '../../src/util/clock.js'
import { FIXTURE_HARNESS, startApiFixture } from '../helpers/api-fixture.js'
import { fixedSimilarityEmbedder } from '../helpers/fixed-embedder.js'
import { claimDuplicateReply, claimUncertainReply, claimReply, defaultSourceReply, errorReply, hypothesisDuplicateReply, resultReply, statusReply, hypothesesReply, resultsReply, claimsReply } from '../../src/http/api-contract.js'
import { blobHashOf } from '../../src/p2p/blob-store.js'
import { makeReplica } from '../helpers/replica.js'
import { waitFor } from '../helpers/wait.js'
import type { ApiFixture } from '../helpers/api-fixture.js'
import type { ClaimJson, HypothesisJson, ResultJson } from '../../src/http/api-contract.js'
import type { DeltaEntry } from '../../src/state/record-kinds.js'

interface Reply<T = any> { status: number, body: T }
interface ErrorBody { error: { code: string, message: string }, duplicate?: any }

/** A run's stdout as train.py prints it: progress lines, then the summary block. */
function runLog (valBpb: number): string {
  return `progress: step 1 loss 8.0 bpb
progress: step 100 loss 3.1 bpb
---
val_bpb: ${valBpb}
training_seconds: 20.0
total_seconds: 22.5
peak_vram_mb: 0.0
mfu_percent: 0.00
total_tokens_M: 1.2
num_steps: 100
num_params_M: 0.131
depth: 2
`
}

/** stdout and stderr captured together: a line printed before the crash can land after the traceback. */
const CRASH_LOG = `progress: step 1 loss 8.0 bpb
Traceback (most recent call last):
  File "train.py", line 210, in <module>
RuntimeError: mat1 and mat2 shapes cannot be multiplied (16x64 and 96x64)
model: 1.2M params
`

describe('agent API over HTTP (claims, results, hypotheses)', () => {
  let api: ApiFixture
  let token: string
  let peerId: string

  before(async () => {
    api = await startApiFixture({ settleMs: 50, semantic: true })
    token = api.token
    peerId = api.peerId
  })
  after(async () => { await api.close() })

  async function call<T = any> (method: string, path: string, body?: unknown, auth = true): Promise<Reply<T>> {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (auth) headers.authorization = `Bearer ${token}`
    const res = await fetch(`${api.url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
    return { status: res.status, body: await res.json() as T }
  }
  const post = async <T = any> (path: string, body?: unknown): Promise<Reply<T>> => call<T>('POST', path, body ?? {})
  const code = (delta: DeltaEntry[], extra = ''): string => applyDelta(api.defaultSource, delta) + extra
  async function claim (body: Record<string, unknown>): Promise<ClaimJson> {
    const reply = await post('/api/claims', body)
    assert.equal(reply.status, 201, JSON.stringify(reply.body))
    // Every reply the agent API gives parses with the contract the CLI and agents parse it with.
    return claimReply.parse(reply.body).claim
  }
  async function publish (body: Record<string, unknown>): Promise<ResultJson> {
    const reply = await post('/api/results', body)
    assert.equal(reply.status, 201, JSON.stringify(reply.body))
    return resultReply.parse(reply.body).result
  }
  function assertError (reply: Reply<ErrorBody>, status: number, errorCode: string): void {
    assert.equal(reply.status, status, JSON.stringify(reply.body))
    errorReply.parse(reply.body)
    if (errorCode === 'CLAIM_DUPLICATE') claimDuplicateReply.parse(reply.body)
    if (errorCode === 'HYPOTHESIS_DUPLICATE') hypothesisDuplicateReply.parse(reply.body)
    assert.equal(reply.body.error.code, errorCode)
    assert.ok(reply.body.error.message.length > 0)
  }

  const warmup = [{ name: 'WARMUP_STEPS', from: 20, to: 40 }]
  let warmupClaim: ClaimJson

  it('claims an experiment with its code: 201 with the claim view, after the settle window', async () => {
    const source = code(warmup)
    const started = Date.now()
    warmupClaim = await claim({ description: 'longer warmup: 40 steps', code: source, parent: null, ttlMs: 600_000 })
    assert.ok(Date.now() - started >= 50, 'the answer comes after the settle window')
    assert.equal(warmupClaim.id.length, 64)
    assert.equal(warmupClaim.author, peerId)
    assert.equal(warmupClaim.description, 'longer warmup: 40 steps')
    assert.equal(warmupClaim.parent, null)
    assert.equal(warmupClaim.codeHash, sha256Hex(source))
    assert.deepEqual(warmupClaim.delta, warmup)
    assert.equal(warmupClaim.hypothesis, null)
    assert.equal(warmupClaim.tier, 'cpu')
    assert.equal(warmupClaim.ttlMs, 600_000)
    assert.equal(warmupClaim.expiresAt, warmupClaim.createdAt + 600_000)
    assert.equal(warmupClaim.status, 'active')
    assert.equal(warmupClaim.releaseReason, null)
    assert.deepEqual(warmupClaim.results, [])
    // The code is stored: whoever adopts this experiment can fetch it by hash.
    const blob = await fetch(`${api.url}/api/blobs/${warmupClaim.codeHash!}`)
    assert.equal(await blob.text(), source)
    const got = await call<{ claim: ClaimJson }>('GET', `/api/claims/${warmupClaim.id}`)
    assert.deepEqual(got.body.claim, warmupClaim)
    const byPrefix = await call<{ claim: ClaimJson }>('GET', `/api/claims/${warmupClaim.id.slice(0, 12)}`)
    assert.equal(byPrefix.body.claim.id, warmupClaim.id)
  })

  it('refuses the same train.py again: 409 exact, naming the claim and its author', async () => {
    const reply = await post<ErrorBody>('/api/claims', { description: 'try warmup of 40', code: code(warmup), parent: null })
    assertError(reply, 409, 'CLAIM_DUPLICATE')
    assert.deepEqual(reply.body.duplicate, {
      layer: 'exact',
      score: null,
      conflict: { kind: 'claim', id: warmupClaim.id, author: peerId, description: 'longer warmup: 40 steps' }
    })
    assert.match(reply.body.error.message, new RegExp(warmupClaim.id))
    assert.match(reply.body.error.message, new RegExp(peerId))
  })

  it('refuses the same change on the same parent in other code: 409 structured', async () => {
    const reply = await post<ErrorBody>('/api/claims', { description: 'warmup 20 -> 40', code: code(warmup, '\n# reformatted\n'), parent: null })
    assertError(reply, 409, 'CLAIM_DUPLICATE')
    assert.equal(reply.body.duplicate.layer, 'structured')
    assert.equal(reply.body.duplicate.conflict.id, warmupClaim.id)
    assert.equal(await api.blobStore.has(blobHashOf(Buffer.from(code(warmup, '\n# reformatted\n')))), false, 'a refused claim stores no code')
  })

  it('refuses a paraphrase (real MiniLM): 409 semantic with its score; another value is a new experiment', async () => {
    const first = await claim({ description: 'raise the learning rate to 0.002', parent: null })
    assert.equal(first.codeHash, null)
    assert.deepEqual(first.delta, [])
    const reply = await post<ErrorBody>('/api/claims', { description: 'increase LR to 0.002', parent: null })
    assertError(reply, 409, 'CLAIM_DUPLICATE')
    assert.equal(reply.body.duplicate.layer, 'semantic')
    assert.equal(reply.body.duplicate.conflict.id, first.id)
    assert.equal(typeof reply.body.duplicate.score, 'number')
    assert.ok(reply.body.duplicate.score > 0.5 && reply.body.duplicate.score <= 1, `score ${String(reply.body.duplicate.score)}`)
    assert.match(reply.body.error.message, /semantic/)
    const other = await claim({ description: 'increase LR to 0.005', parent: null })
    assert.notEqual(other.id, first.id)
  })

  it('extends a claim with a heartbeat', async () => {
    await waitFor(() => Date.now() > warmupClaim.createdAt + 5, { what: 'the clock to move on' })
    const reply = await post<{ claim: ClaimJson }>(`/api/claims/${warmupClaim.id}/heartbeat`)
    assert.equal(reply.status, 200)
    assert.equal(reply.body.claim.status, 'active')
    assert.ok(reply.body.claim.expiresAt > warmupClaim.expiresAt, `${reply.body.claim.expiresAt} > ${warmupClaim.expiresAt}`)
  })

  it('answers heartbeat and release errors: 404 unknown, 403 not own, 409 closed', async () => {
    const unknown = 'f'.repeat(64)
    assertError(await post(`/api/claims/${unknown}/heartbeat`), 404, 'CLAIM_NOT_FOUND')
    assertError(await post(`/api/claims/${unknown}/release`), 404, 'CLAIM_NOT_FOUND')
    assertError(await call('GET', `/api/claims/${unknown}`), 404, 'CLAIM_NOT_FOUND')

    // A claim another peer made, arriving as it would over the wire.
    const peer = await makeReplica({ clock: new ManualClock(Date.now()) })
    try {
      const foreign = await peer.state.append('claim', { description: 'swap GELU for squared ReLU', parent: null, codeHash: null, delta: [], tier: 'cpu', ttlMs: 600_000 })
      for (const update of peer.state.diffsFor(api.state.encodeStateVector())) assert.equal((await api.state.applyRemote(update)).verdict, 'accept')
      assertError(await post(`/api/claims/${foreign.id}/heartbeat`), 403, 'CLAIM_NOT_OWN')
      assertError(await post(`/api/claims/${foreign.id}/release`), 403, 'CLAIM_NOT_OWN')
      assertError(await post('/api/results', { claim: foreign.id, log: runLog(2.1), code: api.defaultSource }), 403, 'CLAIM_NOT_OWN')
      const seen = await call<{ claim: ClaimJson }>('GET', `/api/claims/${foreign.id}`)
      assert.equal(seen.body.claim.author, peer.identity.peerId.toString())
    } finally {
      await peer.state.stop()
    }

    const gone = await claim({ description: 'no weight decay on embeddings', parent: null })
    const released = await post<{ claim: ClaimJson }>(`/api/claims/${gone.id}/release`)
    assert.equal(released.status, 200)
    assert.equal(released.body.claim.status, 'released')
    assert.equal(released.body.claim.releaseReason, 'aborted')
    assertError(await post(`/api/claims/${gone.id}/heartbeat`), 409, 'CLAIM_CLOSED')
    assertError(await post(`/api/claims/${gone.id}/release`), 409, 'CLAIM_CLOSED')
    assertError(await post('/api/results', { claim: gone.id, log: runLog(2.1), code: api.defaultSource }), 409, 'CLAIM_CLOSED')
  })

  it('lets a released experiment be claimed again', async () => {
    const source = code([{ name: 'GRAD_CLIP', from: 1.0, to: 0.5 }])
    const first = await claim({ description: 'tighter gradient clipping at 0.5', code: source, parent: null })
    assert.equal((await post<ErrorBody>('/api/claims', { description: 'clip grads to 0.5', code: source, parent: null })).status, 409)
    assert.equal((await post(`/api/claims/${first.id}/release`)).status, 200)
    const again = await claim({ description: 'tighter gradient clipping at 0.5', code: source, parent: null })
    assert.notEqual(again.id, first.id)
    assert.equal(again.status, 'active')
  })

  let lrResult: ResultJson
  const lrCode = (): string => code([{ name: 'LEARNING_RATE', from: 0.01, to: 0.02 }])

  it('publishes a result from the run log: 201 with metrics and status keep; the claim is finished', async () => {
    const c = await claim({ description: 'learning rate 0.02', code: lrCode(), parent: null })
    lrResult = await publish({ claim: c.id, log: runLog(2.25), code: lrCode() })
    assert.equal(lrResult.claimId, c.id)
    assert.equal(lrResult.author, peerId)
    assert.equal(lrResult.status, 'keep', 'nothing to beat on the default train.py: keep')
    assert.equal(lrResult.metrics?.val_bpb, 2.25)
    assert.equal(lrResult.metrics?.num_steps, 100)
    assert.equal(lrResult.crash, null)
    assert.equal(lrResult.parent, null)
    assert.equal(lrResult.description, 'learning rate 0.02')
    assert.deepEqual(lrResult.delta, [{ name: 'LEARNING_RATE', from: 0.01, to: 0.02 }])
    assert.equal(lrResult.codeHash, sha256Hex(lrCode()))
    assert.equal(lrResult.logHash, sha256Hex(runLog(2.25)))
    assert.equal(lrResult.hardware.tier, 'cpu')
    assert.equal(lrResult.harness, FIXTURE_HARNESS)
    assert.equal(lrResult.duplicateOf, null)
    const log = await fetch(`${api.url}/api/blobs/${lrResult.logHash}`)
    assert.equal(await log.text(), runLog(2.25))
    const after = await call<{ claim: ClaimJson }>('GET', `/api/claims/${c.id}`)
    assert.equal(after.body.claim.status, 'finished')
    assert.deepEqual(after.body.claim.results, [lrResult.id])
    // One claim, one result.
    assertError(await post('/api/results', { claim: c.id, log: runLog(2.2), code: lrCode() }), 409, 'CLAIM_CLOSED')
    assertError(await post(`/api/claims/${c.id}/heartbeat`), 409, 'CLAIM_CLOSED')
    // A finished experiment is refused too.
    const again = await post<ErrorBody>('/api/claims', { description: 'lr to 0.02', code: lrCode(), parent: null })
    assertError(again, 409, 'CLAIM_DUPLICATE')
    assert.equal(again.body.duplicate.conflict.kind, 'result')
    assert.equal(again.body.duplicate.conflict.id, lrResult.id)
  })

  it('serves the harness default train.py, the source of parent null, with its sha256', async () => {
    const reply = await call('GET', '/api/default-source', undefined, false)
    assert.equal(reply.status, 200)
    const { codeHash, code } = defaultSourceReply.parse(reply.body)
    assert.equal(code, api.defaultSource)
    assert.equal(codeHash, sha256Hex(Buffer.from(api.defaultSource)))
  })

  it('builds on the current best when the claim names no parent, and discards a run that does not beat it', async () => {
    const best = await call<{ best: ResultJson | null }>('GET', '/api/best')
    assert.equal(best.body.best?.id, lrResult.id)
    const source = code([{ name: 'LEARNING_RATE', from: 0.01, to: 0.02 }, { name: 'BETA2', from: 0.99, to: 0.95 }])
    const c = await claim({ description: 'adam beta2 0.95', code: source })
    assert.equal(c.parent, lrResult.id)
    assert.deepEqual(c.delta, [{ name: 'BETA2', from: 0.99, to: 0.95 }], 'the delta is against the parent, not the default')
    const r = await publish({ claim: c.id.slice(0, 10), log: runLog(2.3), code: source })
    assert.equal(r.status, 'discard')
    assert.equal(r.parent, lrResult.id)
    assert.deepEqual(r.delta, [{ name: 'BETA2', from: 0.99, to: 0.95 }])
  })

  it('publishes a run without a summary as a crash, and refuses keep or discard without one', async () => {
    const c = await claim({ description: 'wider model: 96 dims', code: code([{ name: 'WIDTH', from: 64, to: 96 }]), parent: null })
    const refused = await post<ErrorBody>('/api/results', { claim: c.id, log: CRASH_LOG, code: code([{ name: 'WIDTH', from: 64, to: 96 }]), status: 'keep' })
    assertError(refused, 400, 'RESULT_INVALID')
    assertError(await post('/api/results', { claim: c.id, log: 'nothing useful', code: 'x', status: 'discard' }), 400, 'RESULT_INVALID')
    const crash = await publish({ claim: c.id, log: CRASH_LOG, code: code([{ name: 'WIDTH', from: 64, to: 96 }]) })
    assert.equal(crash.status, 'crash')
    assert.equal(crash.metrics, null)
    assert.equal(crash.crash?.reason, 'exception')
    assert.equal(crash.crash?.detail, 'RuntimeError: mat1 and mat2 shapes cannot be multiplied (16x64 and 96x64)')
  })

  it('publishes numbers no honest run can produce as an insane-metrics crash (the research loop does the same); keep with them is refused', async () => {
    const source = code([{ name: 'WIDTH', from: 64, to: 80 }])
    const c = await claim({ description: 'width 80', code: source, parent: null })
    assertError(await post('/api/results', { claim: c.id, log: runLog(0.01), code: source, status: 'keep' }), 400, 'RESULT_INVALID')
    const r = await publish({ claim: c.id, log: runLog(0.01), code: source })
    assert.equal(r.status, 'crash')
    assert.equal(r.metrics, null)
    assert.equal(r.crash?.reason, 'insane-metrics')
  })

  it('keeps a result for a claim that expired meanwhile (a zombie result)', async () => {
    const c = await claim({ description: 'shorter decay: fraction 0.1', code: code([{ name: 'DECAY_FRACTION', from: 0.3, to: 0.1 }]), parent: null, ttlMs: 20 })
    await waitFor(async () => (await call<{ claim: ClaimJson }>('GET', `/api/claims/${c.id}`)).body.claim.status === 'expired', { what: 'the claim to expire' })
    const expired = await call<{ claims: ClaimJson[] }>('GET', '/api/claims?status=expired')
    assert.ok(expired.body.claims.some((x) => x.id === c.id))
    assertError(await post(`/api/claims/${c.id}/heartbeat`), 409, 'CLAIM_CLOSED')
    const r = await publish({ claim: c.id, log: runLog(2.2), code: code([{ name: 'DECAY_FRACTION', from: 0.3, to: 0.1 }]) })
    assert.equal(r.claimId, c.id)
    assert.equal((await call<{ claim: ClaimJson }>('GET', `/api/claims/${c.id}`)).body.claim.status, 'finished')
  })

  it('tracks a hypothesis: duplicate refused, then open → claimed → tested with the outcome', async () => {
    const body = { title: 'a deeper model learns more within the budget', text: 'three blocks instead of two', suggestedDelta: [{ name: 'DEPTH', from: 2, to: 3 }] }
    const added = await post<{ hypothesis: HypothesisJson }>('/api/hypotheses', body)
    assert.equal(added.status, 201)
    const h = added.body.hypothesis
    assert.equal(h.state, 'open')
    assert.deepEqual(h.claims, [])
    assert.deepEqual(h.outcomes, [])

    const dup = await post<ErrorBody>('/api/hypotheses', { ...body, text: 'said again' })
    assertError(dup, 409, 'HYPOTHESIS_DUPLICATE')
    assert.equal(dup.body.duplicate.id, h.id)
    assert.equal(dup.body.duplicate.title, body.title)
    assert.equal(dup.body.duplicate.author, peerId)
    assert.equal(dup.body.duplicate.score, null, 'the same title: no similarity score needed')

    assertError(await post('/api/claims', { description: 'depth 3', parent: null, hypothesis: 'e'.repeat(64) }), 404, 'HYPOTHESIS_NOT_FOUND')
    assertError(await post('/api/claims', { description: 'depth 3', parent: 'e'.repeat(64) }), 404, 'RESULT_NOT_FOUND')

    const source = code([{ name: 'DEPTH', from: 2, to: 3 }])
    const c = await claim({ description: 'depth 3 blocks', code: source, parent: null, hypothesis: h.id.slice(0, 12) })
    assert.equal(c.hypothesis, h.id)
    const claimed = await call<{ hypothesis: HypothesisJson }>('GET', `/api/hypotheses/${h.id.slice(0, 12)}`)
    assert.equal(claimed.body.hypothesis.state, 'claimed')
    assert.deepEqual(claimed.body.hypothesis.claims, [c.id])

    const r = await publish({ claim: c.id, log: runLog(2.2), code: source })
    const tested = await call<{ hypothesis: HypothesisJson }>('GET', `/api/hypotheses/${h.id}`)
    assert.equal(tested.body.hypothesis.state, 'tested')
    assert.deepEqual(tested.body.hypothesis.outcomes, [{ result: r.id, author: peerId, status: 'keep', valBpb: 2.2 }])
    const list = { body: hypothesesReply.parse((await call('GET', '/api/hypotheses')).body) }
    assert.equal(list.body.hypotheses[0]?.id, h.id)
    assert.equal(list.body.hypotheses[0]?.state, 'tested')
    assertError(await call('GET', `/api/hypotheses/${'e'.repeat(64)}`), 404, 'HYPOTHESIS_NOT_FOUND')
  })

  it('marks a result that repeats an earlier one (as after a partition) and counts it in the status', async () => {
    // Both sides of a partition claimed the same experiment: here the second claim is written
    // unchecked, as the other side would have, and its result published through the API.
    const twin = await api.services.claims.append({ description: 'learning rate 0.02', parent: null, codeHash: sha256Hex(lrCode()), delta: [{ name: 'LEARNING_RATE', from: 0.01, to: 0.02 }], tier: 'cpu', ttlMs: 60_000 })
    const r = await publish({ claim: twin.id, log: runLog(2.26), code: lrCode() })
    assert.deepEqual(r.duplicateOf, { of: lrResult.id, layer: 'exact', score: null })
    const results = { body: resultsReply.parse((await call('GET', '/api/results')).body) }
    assert.equal(results.body.results[0]?.id, r.id, 'newest first')
    assert.deepEqual(results.body.results.find((x) => x.id === r.id)?.duplicateOf, { of: lrResult.id, layer: 'exact', score: null })
    assert.equal(results.body.results.find((x) => x.id === lrResult.id)?.duplicateOf, null)

    const status = statusReply.parse((await call('GET', '/api/status')).body)
    const all = claimsReply.parse((await call('GET', '/api/claims')).body).claims
    const tally = (s: string): number => all.filter((c) => c.status === s).length
    assert.equal(status.claims.duplicateResults, 1)
    assert.deepEqual({ ...status.claims, duplicateResults: 0 }, { active: tally('active'), expired: tally('expired'), released: tally('released'), finished: tally('finished'), duplicateResults: 0 })
    assert.ok(status.claims.finished >= 6 && status.claims.released >= 2 && status.claims.active >= 3, JSON.stringify(status.claims))
    const active = (await call<{ claims: ClaimJson[] }>('GET', '/api/claims?status=active')).body.claims
    assert.equal(active.length, status.claims.active)
    assert.ok(active.every((c) => c.status === 'active'))
    assert.ok(all.every((c, i) => i === 0 || all[i - 1]!.createdAt >= c.createdAt), 'newest first')
    assertError(await call('GET', '/api/claims?status=bogus'), 400, 'API_BAD_REQUEST')
  })

  it('refuses mutations without the token (401) and bad bodies (400)', async () => {
    const open = (method: string, path: string, body: unknown): Promise<Reply<ErrorBody>> => call<ErrorBody>(method, path, body, false)
    assertError(await open('POST', '/api/claims', { description: 'bigger batch: 32' }), 401, 'API_UNAUTHORIZED')
    assertError(await open('POST', `/api/claims/${warmupClaim.id}/heartbeat`, {}), 401, 'API_UNAUTHORIZED')
    assertError(await open('POST', `/api/claims/${warmupClaim.id}/release`, {}), 401, 'API_UNAUTHORIZED')
    assertError(await open('POST', '/api/results', { claim: warmupClaim.id, log: runLog(2), code: 'x' }), 401, 'API_UNAUTHORIZED')
    assertError(await open('POST', '/api/hypotheses', { title: 'bigger batch', text: '' }), 401, 'API_UNAUTHORIZED')
    assert.equal((await call<{ claim: ClaimJson }>('GET', `/api/claims/${warmupClaim.id}`)).body.claim.status, 'active', 'the refused release did nothing')

    assertError(await post('/api/claims', {}), 400, 'API_BAD_REQUEST')
    assertError(await post('/api/claims', { description: '   ' }), 400, 'API_BAD_REQUEST')
    assertError(await post('/api/claims', { description: 'bigger batch', ttl: 5 }), 400, 'API_BAD_REQUEST')
    assertError(await post('/api/claims', { description: 'bigger batch', ttlMs: -1 }), 400, 'API_BAD_REQUEST')
    assertError(await post('/api/results', { claim: warmupClaim.id, log: runLog(2) }), 400, 'API_BAD_REQUEST')
    assertError(await post('/api/results', { claim: warmupClaim.id, log: runLog(2), code: 'x', status: 'great' }), 400, 'API_BAD_REQUEST')
    assertError(await post('/api/results', { claim: 'f'.repeat(64), log: runLog(2), code: 'x' }), 404, 'CLAIM_NOT_FOUND')
  })
})

describe('agent API: the semantic grey band is the agent\'s call (CLAIM_UNCERTAIN, distinctFrom)', () => {
  const ANCHOR = 'switch the optimizer to lion'
  const GREY = 'try the lion optimizer'
  const SURE = 'use lion as optimizer'
  let api: ApiFixture
  before(async () => { api = await startApiFixture({ settleMs: 5, embedder: fixedSimilarityEmbedder(ANCHOR, { [GREY]: 0.65, [SURE]: 0.9 }) }) })
  after(async () => { await api.close() })

  const post = async (body: unknown): Promise<{ status: number, body: any }> => {
    const res = await fetch(`${api.url}/api/claims`, { method: 'POST', headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }

  it('lists what a claim may repeat, claims once the agent names each as distinct, and still refuses a clear duplicate', async () => {
    const first = claimReply.parse((await post({ description: ANCHOR, parent: null })).body).claim
    const asked = await post({ description: GREY, parent: null })
    assert.equal(asked.status, 409)
    const uncertain = claimUncertainReply.parse(asked.body)
    assert.equal(uncertain.error.code, 'CLAIM_UNCERTAIN')
    assert.deepEqual(uncertain.candidates.map((c) => [c.layer, c.conflict.id, c.conflict.description]), [['semantic', first.id, ANCHOR]])
    assert.match(uncertain.error.message, /distinct/)
    assert.equal(api.services.claims.ledger.allClaims().length, 1, 'an uncertain claim writes nothing')
    const judged = await post({ description: GREY, parent: null, distinctFrom: [first.id.slice(0, 12)] })
    assert.equal(judged.status, 201, JSON.stringify(judged.body))
    const sure = await post({ description: SURE, parent: null, distinctFrom: [first.id] })
    assert.equal(sure.status, 409)
    assert.equal(claimDuplicateReply.parse(sure.body).error.code, 'CLAIM_DUPLICATE')
    const unknown = await post({ description: 'something else entirely', parent: null, distinctFrom: ['f'.repeat(64)] })
    assert.equal(unknown.status, 404)
  })
})
