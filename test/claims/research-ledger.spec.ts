import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ResearchLedger, precedes } from '../../src/claims/research-ledger.js'
import { CLAIM_LIFE_TTLS, claimTtlBound } from '../../src/claims/claim-limits.js'
import { killAfterMs } from '../../src/runner/harness.js'
import { ManualClock } from '../../src/util/clock.js'
import { sha256Hex } from '../../src/util/hash.js'
import { generateIdentity } from '../../src/p2p/identity.js'
import { craftUpdate, signAs, signBinding } from '../helpers/forge.js'
import { makeReplica } from '../helpers/replica.js'
import type { Replica } from '../helpers/replica.js'
import type { DedupEntry } from '../../src/claims/dedup.js'
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

describe('ResearchLedger: claim status from heartbeats, releases and results', () => {
  it('a claim without heartbeat is active until createdAt + ttl, then expired', async () => {
    const clock = new ManualClock()
    const a = await makeReplica({ clock, seed: 1 })
    const ledger = new ResearchLedger(a.state, HARNESS)
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
    const ledger = new ResearchLedger(a.state, HARNESS)
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
    const ledger = new ResearchLedger(a.state, HARNESS)
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
    const ledger = new ResearchLedger(a.state, HARNESS)
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
    const ledgerA = new ResearchLedger(a.state, HARNESS)
    const ledgerB = new ResearchLedger(b.state, HARNESS)
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
    const early = new ResearchLedger(observer.state, HARNESS)
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
    const late = new ResearchLedger(observer.state, HARNESS)
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

  it('status counts and active claims, kept as records arrive in any order, equal a walk over every claim', async () => {
    // Two sessions of one author (a restart) and a peer; the observer takes the later session first,
    // so results, releases and verifications come before the claims they end.
    const clock = new ManualClock()
    const first = await makeReplica({ clock, seed: 1 })
    const second = await makeReplica({ clock, seed: 7, identity: first.identity })
    const peer = await makeReplica({ clock, seed: 2 })
    const observer = await makeReplica({ clock, seed: 3 })
    const early = new ResearchLedger(observer.state, HARNESS)
    const t0 = clock.now()
    const ids: string[] = []
    for (let i = 0; i < 24; i++) {
      const author = i % 5 === 4 ? peer : first
      ids.push((await author.state.append('claim', claimBody({ description: `idea ${i}`, codeHash: code(`idea ${i}`) }))).id)
      clock.advance(7_000)
    }
    for (const [i, id] of ids.entries()) {
      const byFirst = i % 5 !== 4
      const later = byFirst ? second : peer
      if (i % 4 === 0) await later.state.append('result', resultBody(id, { description: `idea ${i}`, codeHash: code(`idea ${i}`) }))
      else if (i % 4 === 1) await later.state.append('release', { claim: id, reason: 'aborted' })
      else if (i % 4 === 2 && i % 3 === 0) await later.state.append('heartbeat', { claim: id })
      // Someone else's result and release end nothing.
      if (i % 6 === 5) await (byFirst ? peer : second).state.append('release', { claim: id, reason: 'aborted' })
    }
    const verifying = await first.state.append('claim', claimBody({ description: 'verify', verifies: code('some result') }))
    await second.state.append('verification', {
      result: code('some result'), claimId: verifying.id, metrics: null, logHash: code('log'), hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: HARNESS, maxSteps: 10, crash: { reason: 'crash', detail: '' }
    })
    await sync(second, observer)
    await sync(peer, observer)
    await sync(first, observer)
    const late = new ResearchLedger(observer.state, HARNESS)
    const walked = (ledger: ResearchLedger, now: number): Record<string, number> => {
      const counts: Record<string, number> = { active: 0, expired: 0, released: 0, finished: 0 }
      for (const claim of ledger.allClaims()) counts[ledger.status(claim, now)]!++
      return counts
    }
    for (const ledger of [early, late]) {
      assert.equal(ledger.status(ledger.claim(verifying.id)!, t0), 'finished', 'its own verification ends a claim to verify')
      for (let now = t0; now <= t0 + 4 * TTL; now += 5_000) {
        assert.deepEqual(ledger.statusCounts(now), walked(ledger, now), `counts at +${now - t0} ms`)
        assert.deepEqual(ledger.activeClaims(now).map((c) => c.id), ledger.allClaims().filter((c) => ledger.status(c, now) === 'active').map((c) => c.id))
      }
      const counts = ledger.statusCounts(t0 + 4 * TTL)
      assert.equal(counts.active, 0)
      assert.ok(counts.finished > 0 && counts.released > 0 && counts.expired > 0, JSON.stringify(counts))
      // Past every claim's life the unfinished ones are set aside as expired for good; asked about
      // an earlier time after that, the answer is still the walk's.
      for (const now of [t0 + ledger.maxLifeMs + 60_000, t0 + ledger.maxLifeMs + 62_000, t0 + 10_000, t0 + 3 * TTL]) {
        assert.deepEqual(ledger.statusCounts(now), walked(ledger, now), `counts at +${now - t0} ms`)
        assert.deepEqual(ledger.activeClaims(now).map((c) => c.id), ledger.allClaims().filter((c) => ledger.status(c, now) === 'active').map((c) => c.id))
      }
    }
    // A result for a claim set aside as expired still finishes it.
    const expired = ids.find((id, i) => i % 5 !== 4 && early.status(early.claim(id)!, t0 + 4 * TTL) === 'expired')!
    await second.state.append('result', resultBody(expired, { description: 'late', codeHash: code('late') }))
    await sync(second, observer)
    const later = t0 + early.maxLifeMs + 120_000
    assert.equal(early.status(early.claim(expired)!, later), 'finished')
    assert.deepEqual(early.statusCounts(later), walked(early, later))
    early.close()
    late.close()
  })

  it('results of another harness are not indexed', async () => {
    const clock = new ManualClock()
    const a = await makeReplica({ clock, seed: 1 })
    const ledger = new ResearchLedger(a.state, HARNESS)
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
      const ledger = new ResearchLedger(r.state, HARNESS)
      const ids = ledger.allClaims().map((c) => c.body.description)
      ledger.close()
      return ids
    })
    const sameInstantFirst = replicas[0]!.state.peerId < replicas[1]!.state.peerId ? ['x', 'y'] : ['y', 'x']
    for (const order of orders) assert.deepEqual(order, [...sameInstantFirst, 'z'])
  })
})

const claimEntry = (id: string, author: string): DedupEntry => ({ kind: 'claim', id, author, description: '', codeHash: null, parent: null, delta: [] })

describe('ResearchLedger: ttl and life bounded by the profile', () => {
  it('a claim asking for a day expires at createdAt + the bound, on every replica', async () => {
    const clock = new ManualClock()
    const author = await makeReplica({ clock, seed: 1 })
    const observer = await makeReplica({ clock, seed: 2 })
    const BOUND = 10 * 60_000
    const ledgers = [author, observer].map((r) => new ResearchLedger(r.state, HARNESS, { maxTtlMs: BOUND, clock }))
    const t0 = clock.now()
    const rec = await author.state.append('claim', claimBody({ ttlMs: 24 * 3600_000 }))
    await sync(author, observer)
    for (const ledger of ledgers) {
      const claim = ledger.claim(rec.id)!
      assert.equal(ledger.expiresAt(claim), t0 + BOUND)
      assert.equal(ledger.status(claim, t0 + BOUND - 1), 'active')
      assert.equal(ledger.status(claim, t0 + BOUND), 'expired', 'the day it asked for is not honoured')
      assert.equal(ledger.live(claimEntry(claim.id, claim.author), t0 + BOUND), false)
      ledger.close()
    }
  })

  it('a shorter ttl than the bound is kept as asked', async () => {
    const clock = new ManualClock()
    const a = await makeReplica({ clock, seed: 1 })
    const ledger = new ResearchLedger(a.state, HARNESS, { maxTtlMs: 10 * TTL })
    const rec = await a.state.append('claim', claimBody())
    assert.equal(ledger.expiresAt(ledger.claim(rec.id)!), rec.record.createdAt + TTL)
    ledger.close()
  })

  it('heartbeats extend a claim within its life cap, never past it', async () => {
    const clock = new ManualClock()
    const a = await makeReplica({ clock, seed: 1 })
    const ledger = new ResearchLedger(a.state, HARNESS, { maxTtlMs: TTL, maxLifeMs: 4 * TTL })
    const t0 = clock.now()
    const rec = await a.state.append('claim', claimBody({ ttlMs: TTL }))
    const claim = ledger.claim(rec.id)!
    // A beat every ttl/3, for ten ttls: each one moves the expiry until the cap.
    let lastBeat = t0
    while (clock.now() < t0 + 10 * TTL) {
      clock.advance(TTL / 3)
      await a.state.append('heartbeat', { claim: rec.id })
      lastBeat = clock.now()
      if (lastBeat + TTL <= t0 + 4 * TTL) assert.equal(ledger.expiresAt(claim), lastBeat + TTL, 'within the cap a heartbeat extends the claim')
    }
    assert.equal(ledger.expiresAt(claim), t0 + 4 * TTL)
    assert.equal(ledger.status(claim, t0 + 4 * TTL - 1), 'active')
    assert.equal(ledger.status(claim, t0 + 4 * TTL), 'expired', 'beating forever does not hold the experiment forever')
    ledger.close()
  })

  for (const profile of ['cpu', 'gpu'] as const) {
    it(`${profile}: an honest run up to its kill time, beating every ttl/3, keeps its claim under the bound and the cap`, async () => {
      const clock = new ManualClock()
      const a = await makeReplica({ clock, seed: 1 })
      const bound = claimTtlBound(profile)
      const ledger = new ResearchLedger(a.state, HARNESS, { maxTtlMs: bound, clock })
      // The longest an honest run lasts: the runner's kill time, with or without a step limit (tests, demos).
      const runMs = Math.max(killAfterMs(profile, undefined), killAfterMs(profile, 5))
      // What the daemon asks by default: 3x the run time (src/daemon/daemon.ts claimTtlMs), never cut by the bound.
      const ttl = 3 * runMs
      assert.ok(ttl <= bound, `${profile}: an honest daemon's default ttl (${ttl} ms) fits under the bound (${bound} ms)`)
      const t0 = clock.now()
      const rec = await a.state.append('claim', claimBody({ ttlMs: ttl }))
      const claim = ledger.claim(rec.id)!
      while (clock.now() + ttl / 3 < t0 + runMs) {
        clock.advance(Math.floor(ttl / 3))
        assert.equal(ledger.status(claim, clock.now()), 'active', `${profile}: the claim lapsed ${clock.now() - t0} ms into the run`)
        await a.state.append('heartbeat', { claim: rec.id })
      }
      assert.equal(ledger.status(claim, t0 + runMs + 60_000), 'active', `${profile}: the claim must outlive the run (and the minute it takes to publish)`)
      assert.ok(ledger.expiresAt(claim) <= t0 + CLAIM_LIFE_TTLS * bound)
      ledger.close()
    })
  }
})

describe('ResearchLedger: where a late claim stands (placeOf)', () => {
  it('within the lag a claim keeps its createdAt; beyond it, it is placed at its arrival; loaded from disk, at its createdAt', async () => {
    const clock = new ManualClock()
    const peerClock = new ManualClock(clock.now())
    const peer = await makeReplica({ clock: peerClock, seed: 1 })
    const here = await makeReplica({ clock, seed: 2 })
    const ledger = new ResearchLedger(here.state, HARNESS, { clock, maxLagMs: 500 })
    const t0 = clock.now()
    const timely = await peer.state.append('claim', claimBody({ description: 'timely', codeHash: code('timely') }))
    peerClock.advance(1)
    const late = await peer.state.append('claim', claimBody({ description: 'late', codeHash: code('late') }))
    // The first arrives 500 ms after its date (within the lag); the second is delivered a second later.
    clock.set(t0 + 500)
    await sync(peer, here)
    assert.deepEqual(ledger.placeOf(claimEntry(timely.id, timely.record.author)), { createdAt: t0, author: timely.record.author, id: timely.id })
    assert.equal(ledger.placeOf(claimEntry(late.id, late.record.author)).createdAt, t0 + 1, 'both came in one sync, within the lag')

    const copy = await peer.state.append('claim', claimBody({ description: 'copy', codeHash: code('copy') }))
    clock.set(t0 + 1_502)
    await sync(peer, here)
    assert.equal(ledger.firstSeen(copy.id), t0 + 1_502)
    assert.deepEqual(ledger.placeOf(claimEntry(copy.id, copy.record.author)), { createdAt: t0 + 1_502, author: copy.record.author, id: copy.id }, 'more than the lag late: placed at its arrival')
    assert.equal(ledger.precedenceOf(claimEntry(copy.id, copy.record.author)).createdAt, copy.record.createdAt, 'the order nodes agree on is unchanged')

    // A restart: what was on disk is placed at its own date (its arrival is not stored).
    const restarted = new ResearchLedger(here.state, HARNESS, { clock, maxLagMs: 500 })
    assert.equal(restarted.placeOf(claimEntry(copy.id, copy.record.author)).createdAt, copy.record.createdAt)
    ledger.close()
    restarted.close()
  })

  it('a result takes its claim\'s place: late when its claim came late', async () => {
    const clock = new ManualClock()
    const peerClock = new ManualClock(clock.now() - 60_000)
    const peer = await makeReplica({ clock: peerClock, seed: 1 })
    const here = await makeReplica({ clock, seed: 2 })
    const ledger = new ResearchLedger(here.state, HARNESS, { clock })
    const claim = await peer.state.append('claim', claimBody())
    const result = await peer.state.append('result', resultBody(claim.id))
    await sync(peer, here)
    const entry = { ...claimEntry(result.id, result.record.author), kind: 'result' as const }
    assert.equal(ledger.placeOf(entry).createdAt, clock.now())
    assert.equal(ledger.placeOf(entry).id, claim.id)
    ledger.close()
  })
})

describe('ResearchLedger: authors without standing share one pool', () => {
  async function swarm (opts: { authors: number, claimsEach: number, pool: number, standing?: (index: number) => boolean }): Promise<{ ledger: ResearchLedger, byAuthor: Array<Array<{ id: string, author: string }>>, now: number }> {
    const clock = new ManualClock()
    const here = await makeReplica({ clock, seed: 100 })
    const peers = []
    for (let i = 0; i < opts.authors; i++) peers.push(await makeReplica({ clock, seed: i + 1 }))
    const standing = new Set(peers.filter((_, i) => opts.standing?.(i) === true).map((p) => p.state.peerId))
    const ledger = new ResearchLedger(here.state, HARNESS, { clock, maxActiveWithoutStanding: opts.pool, hasStanding: (a) => standing.has(a) || a === here.state.peerId })
    const byAuthor: Array<Array<{ id: string, author: string }>> = peers.map(() => [])
    // Author by author: the first authors' later claims are all earlier than the last authors' first.
    for (const [i, peer] of peers.entries()) {
      for (let k = 0; k < opts.claimsEach; k++) {
        clock.advance(1)
        const rec = await peer.state.append('claim', claimBody({ description: `author ${i} claim ${k}`, codeHash: code(`${i}/${k}`) }))
        byAuthor[i]!.push({ id: rec.id, author: rec.record.author })
      }
    }
    for (const peer of peers) await sync(peer, here)
    return { ledger, byAuthor, now: clock.now() }
  }

  it('twenty fresh keys claiming sixteen each block no more than the pool', async () => {
    const { ledger, byAuthor, now } = await swarm({ authors: 20, claimsEach: 4, pool: 12 })
    const live = byAuthor.flat().filter((c) => ledger.live(claimEntry(c.id, c.author), now))
    assert.equal(live.length, 12, `${live.length} of the fresh keys' 80 claims count; the pool holds 12`)
    assert.deepEqual([...ledger.squatters(now)], [], 'none of them is over its own limit: the pool alone bounds them')
    ledger.close()
  })

  it('in a full pool every author\'s first claim comes before anyone\'s second', async () => {
    const { ledger, byAuthor, now } = await swarm({ authors: 5, claimsEach: 4, pool: 8 })
    const counted = byAuthor.map((claims) => claims.filter((c) => ledger.live(claimEntry(c.id, c.author), now)).length)
    assert.deepEqual(counted.map((n) => n >= 1), [true, true, true, true, true], `each author keeps one claim that counts: ${JSON.stringify(counted)}`)
    assert.equal(counted.reduce((a, b) => a + b, 0), 8)
    ledger.close()
  })

  it('an author with standing is never pooled; a pool of 0 lets newcomers block nobody', async () => {
    const { ledger, byAuthor, now } = await swarm({ authors: 3, claimsEach: 3, pool: 0, standing: (i) => i === 1 })
    const counted = byAuthor.map((claims) => claims.filter((c) => ledger.live(claimEntry(c.id, c.author), now)).length)
    assert.deepEqual(counted, [0, 3, 0])
    ledger.close()
  })

  it('a pool that is not full counts every claim, the same on every node', async () => {
    const { ledger, byAuthor, now } = await swarm({ authors: 4, claimsEach: 2, pool: 64 })
    assert.ok(byAuthor.flat().every((c) => ledger.live(claimEntry(c.id, c.author), now)))
    ledger.close()
  })
})

describe('ResearchLedger: an equivocating author', () => {
  it('stops counting once the evidence is in: its claims leave the views and block nobody', async () => {
    const clock = new ManualClock()
    const target = await makeReplica({ clock, seed: 3 })
    const ledger = new ResearchLedger(target.state, HARNESS)
    const liar = await generateIdentity()
    const binding = await signBinding(liar, 1, clock.now())
    const client = binding.record.slot.client
    const claim = await signAs(liar, 'claim', claimBody(), { client, clock: 1 }, clock.now())
    const other = await signAs(liar, 'claim', claimBody({ description: 'the same slot, another claim' }), { client, clock: 1 }, clock.now())
    const opening = (rec: typeof claim): Uint8Array => craftUpdate(client, [{ map: 'bindings', key: binding.key, value: binding.text }, { map: 'claims', key: rec.key, value: rec.text }])
    assert.equal((await target.state.applyRemote(opening(claim))).verdict, 'accept')
    const entry: DedupEntry = { kind: 'claim', id: claim.id, author: liar.peerId.toString(), description: '', codeHash: null, parent: null, delta: [] }
    assert.equal(ledger.live(entry, clock.now()), true)
    const revision = ledger.revision
    assert.equal((await target.state.applyRemote(opening(other))).fault, 'SLOT_EQUIVOCATION')
    assert.equal(ledger.live(entry, clock.now()), false)
    assert.deepEqual(ledger.allClaims().map((c) => c.author).filter((a) => a === liar.peerId.toString()), [])
    assert.deepEqual(ledger.activeClaims(clock.now()), [])
    assert.deepEqual(ledger.statusCounts(clock.now()), { active: 0, expired: 0, released: 0, finished: 0 })
    assert.ok(ledger.revision > revision, 'views that cache on the revision recompute')
    ledger.close()
  })
})

describe('ResearchLedger: results in order however they arrive', () => {
  it('keeps allResults oldest first as late results arrive between earlier ones (kept sorted, not re-sorted)', async () => {
    const clock = new ManualClock()
    const late = await makeReplica({ clock, seed: 11 })
    const here = await makeReplica({ clock, seed: 12 })
    const ledger = new ResearchLedger(here.state, HARNESS)
    const lateIds: string[] = []
    const ids: string[] = []
    for (let i = 0; i < 20; i++) {
      clock.advance(1_000)
      // Every other result is written by a peer cut off until the end: it arrives late, between the others.
      const writer = i % 2 === 0 ? here : late
      const rec = await writer.state.append('result', resultBody(code(`claim ${i}`), { description: `run ${i}`, codeHash: code(`run ${i}`) }))
      ids.push(rec.id)
      if (writer === late) lateIds.push(rec.id)
      assert.equal(ledger.allResults().length, Math.ceil((i + 1) / 2), 'read between arrivals, so the sorted copy is kept and grown')
    }
    await sync(late, here)
    assert.deepEqual(ledger.allResults().map((r) => r.id), ids)
    const copy = ledger.allResults()
    copy.reverse()
    assert.deepEqual(ledger.allResults().map((r) => r.id), ids, 'a caller reordering its copy changes nothing')
    assert.equal(lateIds.length, 10)
    ledger.close()
  })
})
