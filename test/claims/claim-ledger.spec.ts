import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ClaimLedger, precedes } from '../../src/claims/claim-ledger.js'
import { ManualClock } from '../../src/util/clock.js'
import { sha256Hex } from '../../src/util/hash.js'
import { makeReplica } from '../helpers/replica.js'
import type { Replica } from '../helpers/replica.js'
import type { ClaimBody, ResultBody } from '../../src/state/record-kinds.js'

const HARNESS = 'harness-1'
const TTL = 60_000
const code = (text: string): string => sha256Hex(text)

const claimBody = (over: Partial<ClaimBody> = {}): ClaimBody => ({
  description: 'raise the learning rate to 0.05',
  parent: null,
  codeHash: code('lr 0.05'),
  delta: [],
  tier: 'cpu',
  ttlMs: TTL,
  ...over
})

const resultBody = (claimId: string, over: Partial<ResultBody> = {}): ResultBody => ({
  claimId,
  parent: null,
  codeHash: code('lr 0.05'),
  logHash: code('log'),
  description: 'raise the learning rate to 0.05',
  delta: [],
  status: 'keep',
  metrics: null,
  crash: null,
  hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' },
  harness: HARNESS,
  ...over
})

/** Anti-entropy from one replica to another: everything `to` lacks, as the sync protocol sends it. */
async function sync (from: Replica, to: Replica): Promise<void> {
  for (const diff of from.state.diffsFor(to.state.encodeStateVector())) {
    const outcome = await to.state.applyRemote(diff)
    assert.equal(outcome.verdict, 'accept', `sync refused: ${outcome.fault ?? ''} ${outcome.message ?? ''}`)
  }
}

describe('ClaimLedger: claim status from heartbeats, releases and results', () => {
  it('a claim without heartbeat is active until createdAt + ttl, then expired', async () => {
    const clock = new ManualClock()
    const a = await makeReplica({ clock, seed: 1 })
    const ledger = new ClaimLedger(a.state, HARNESS)
    const t0 = clock.now()
    const rec = await a.state.append('claim', claimBody())
    const claim = ledger.claim(rec.id)!
    assert.equal(ledger.expiresAt(claim), t0 + TTL)
    assert.equal(ledger.status(claim, t0), 'active')
    assert.equal(ledger.status(claim, t0 + TTL - 1), 'active')
    assert.equal(ledger.status(claim, t0 + TTL), 'expired')
    assert.equal(ledger.live({ kind: 'claim', id: claim.id, author: claim.author, description: '', codeHash: null, parent: null, delta: [] }, t0 + TTL), false)
    ledger.close()
  })

  it('a heartbeat moves expiry to its own time + ttl', async () => {
    const clock = new ManualClock()
    const a = await makeReplica({ clock, seed: 1 })
    const ledger = new ClaimLedger(a.state, HARNESS)
    const t0 = clock.now()
    const rec = await a.state.append('claim', claimBody())
    clock.advance(40_000)
    await a.state.append('heartbeat', { claim: rec.id })
    const claim = ledger.claim(rec.id)!
    assert.equal(ledger.expiresAt(claim), t0 + 40_000 + TTL)
    assert.equal(ledger.status(claim, t0 + TTL + 1), 'active')
    assert.equal(ledger.status(claim, t0 + 40_000 + TTL), 'expired')
    ledger.close()
  })

  it('a heartbeat dated after the claim expired does not revive it', async () => {
    const clock = new ManualClock()
    const a = await makeReplica({ clock, seed: 1 })
    const ledger = new ClaimLedger(a.state, HARNESS)
    const t0 = clock.now()
    const rec = await a.state.append('claim', claimBody())
    clock.advance(TTL + 5_000)
    await a.state.append('heartbeat', { claim: rec.id })
    const claim = ledger.claim(rec.id)!
    assert.equal(ledger.expiresAt(claim), t0 + TTL)
    assert.equal(ledger.status(claim, clock.now()), 'expired')
    ledger.close()
  })

  it('a release or a result by the author closes the claim whatever the clock says', async () => {
    const clock = new ManualClock()
    const a = await makeReplica({ clock, seed: 1 })
    const ledger = new ClaimLedger(a.state, HARNESS)
    const released = await a.state.append('claim', claimBody({ description: 'one', codeHash: code('one') }))
    const finished = await a.state.append('claim', claimBody({ description: 'two', codeHash: code('two') }))
    await a.state.append('release', { claim: released.id, reason: 'yielded' })
    const result = await a.state.append('result', resultBody(finished.id, { codeHash: code('two'), description: 'two' }))
    const now = clock.now()
    assert.equal(ledger.status(ledger.claim(released.id)!, now), 'released')
    assert.equal(ledger.releaseReason(ledger.claim(released.id)!), 'yielded')
    assert.equal(ledger.status(ledger.claim(finished.id)!, now), 'finished')
    assert.deepEqual(ledger.resultsOf(ledger.claim(finished.id)!).map((r) => r.id), [result.id])
    // Long after the ttl, a finished claim is still finished (a result never expires).
    assert.equal(ledger.status(ledger.claim(finished.id)!, now + 10 * TTL), 'finished')
    ledger.close()
  })

  it("another author's heartbeat, release or result for my claim changes nothing", async () => {
    const clock = new ManualClock()
    const a = await makeReplica({ clock, seed: 1 })
    const b = await makeReplica({ clock, seed: 2 })
    const ledgerA = new ClaimLedger(a.state, HARNESS)
    const ledgerB = new ClaimLedger(b.state, HARNESS)
    const t0 = clock.now()
    const rec = await a.state.append('claim', claimBody())
    await sync(a, b)
    clock.advance(TTL - 1_000)
    await b.state.append('heartbeat', { claim: rec.id })
    await b.state.append('release', { claim: rec.id, reason: 'aborted' })
    const forged = await b.state.append('result', resultBody(rec.id, { description: 'something else', codeHash: code('other') }))
    await sync(b, a)
    for (const ledger of [ledgerA, ledgerB]) {
      const claim = ledger.claim(rec.id)!
      assert.equal(ledger.expiresAt(claim), t0 + TTL, 'a heartbeat by another author must not extend the claim')
      assert.equal(ledger.releaseReason(claim), undefined)
      assert.deepEqual(ledger.resultsOf(claim), [])
      assert.equal(ledger.status(claim, t0 + TTL - 1), 'active')
      assert.equal(ledger.status(claim, t0 + TTL), 'expired')
      // The forged result is kept as a result of its own, but it does not take the claim's place in the order.
      assert.ok(ledger.result(forged.id) !== undefined)
      const p = ledger.precedenceOf({ kind: 'result', id: forged.id, author: forged.record.author, description: '', codeHash: null, parent: null, delta: [] })
      assert.equal(p.id, forged.id)
      assert.equal(p.createdAt, t0 + TTL - 1_000)
    }
    ledgerA.close()
    ledgerB.close()
  })

  it('heartbeats, releases and results that arrive before their claim count once it comes', async () => {
    // One author, two sessions (the daemon restarted mid-run): the second session's records name
    // claims of the first, and an observer may receive the second session's update first.
    const clock = new ManualClock()
    const first = await makeReplica({ clock, seed: 1 })
    const second = await makeReplica({ clock, seed: 7, identity: first.identity })
    const observer = await makeReplica({ clock, seed: 3 })
    const early = new ClaimLedger(observer.state, HARNESS)
    const t0 = clock.now()
    const beaten = await first.state.append('claim', claimBody({ description: 'beaten', codeHash: code('beaten') }))
    const released = await first.state.append('claim', claimBody({ description: 'released', codeHash: code('released') }))
    const finished = await first.state.append('claim', claimBody({ description: 'finished', codeHash: code('finished') }))
    clock.advance(30_000)
    await second.state.append('heartbeat', { claim: beaten.id })
    await second.state.append('release', { claim: released.id, reason: 'aborted' })
    const result = await second.state.append('result', resultBody(finished.id, { description: 'finished', codeHash: code('finished') }))

    await sync(second, observer)
    assert.equal(early.claim(beaten.id), undefined)
    assert.deepEqual(early.allResults().map((r) => r.id), [result.id], 'a result is kept before its claim arrives')
    const resultEntry = { kind: 'result' as const, id: result.id, author: result.record.author, description: '', codeHash: null, parent: null, delta: [] }
    assert.equal(early.precedenceOf(resultEntry).id, result.id, 'without its claim a result stands in its own place')
    const revision = early.revision

    await sync(first, observer)
    assert.ok(early.revision > revision, 'the claims arriving must change the revision')
    const late = new ClaimLedger(observer.state, HARNESS)
    for (const ledger of [early, late]) {
      const now = t0 + TTL + 1
      assert.equal(ledger.status(ledger.claim(beaten.id)!, now), 'active', 'the early heartbeat must extend its claim')
      assert.equal(ledger.expiresAt(ledger.claim(beaten.id)!), t0 + 30_000 + TTL)
      assert.equal(ledger.status(ledger.claim(released.id)!, t0), 'released')
      assert.equal(ledger.status(ledger.claim(finished.id)!, t0), 'finished')
      assert.equal(ledger.precedenceOf(resultEntry).id, finished.id, 'once its claim is known, a result takes the claim\'s place')
    }
    early.close()
    late.close()
  })

  it('results of another harness are not indexed', async () => {
    const clock = new ManualClock()
    const a = await makeReplica({ clock, seed: 1 })
    const ledger = new ClaimLedger(a.state, HARNESS)
    const rec = await a.state.append('claim', claimBody())
    await a.state.append('result', resultBody(rec.id, { harness: 'another-harness' }))
    assert.deepEqual(ledger.allResults(), [])
    assert.deepEqual(ledger.withCode(code('lr 0.05')).map((e) => e.kind), ['claim'])
    assert.equal(ledger.status(ledger.claim(rec.id)!, clock.now()), 'active')
    ledger.close()
  })

  it('precedence: earlier createdAt, then author, then id; every replica lists claims in that order', async () => {
    assert.equal(precedes({ createdAt: 1, author: 'b', id: 'b' }, { createdAt: 2, author: 'a', id: 'a' }), true)
    assert.equal(precedes({ createdAt: 2, author: 'a', id: 'b' }, { createdAt: 2, author: 'b', id: 'a' }), true)
    assert.equal(precedes({ createdAt: 2, author: 'a', id: 'a' }, { createdAt: 2, author: 'a', id: 'b' }), true)
    assert.equal(precedes({ createdAt: 2, author: 'a', id: 'a' }, { createdAt: 2, author: 'a', id: 'a' }), false)

    const clock = new ManualClock()
    const replicas = [await makeReplica({ clock, seed: 1 }), await makeReplica({ clock, seed: 2 }), await makeReplica({ clock, seed: 3 })]
    // Two claims at the same instant (author decides), one later.
    await replicas[0]!.state.append('claim', claimBody({ description: 'x' }))
    await replicas[1]!.state.append('claim', claimBody({ description: 'y' }))
    clock.advance(5)
    await replicas[2]!.state.append('claim', claimBody({ description: 'z' }))
    await sync(replicas[2]!, replicas[0]!)
    await sync(replicas[1]!, replicas[0]!)
    await sync(replicas[0]!, replicas[1]!)
    await sync(replicas[2]!, replicas[1]!)
    await sync(replicas[1]!, replicas[2]!)
    await sync(replicas[0]!, replicas[2]!)
    const orders = replicas.map((r) => {
      const ledger = new ClaimLedger(r.state, HARNESS)
      const ids = ledger.allClaims().map((c) => c.body.description)
      ledger.close()
      return ids
    })
    const sameInstantFirst = replicas[0]!.state.peerId < replicas[1]!.state.peerId ? ['x', 'y'] : ['y', 'x']
    for (const order of orders) assert.deepEqual(order, [...sameInstantFirst, 'z'])
  })
})
