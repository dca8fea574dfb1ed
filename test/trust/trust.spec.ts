import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TRUST_BOUNDS, TrustEngine, computeTrust, reproduces, scopeOf } from '../../src/trust/trust.js'
import type { TrustPolicy, TrustVerification } from '../../src/trust/trust.js'
import type { ResultEntry } from '../../src/claims/research-ledger.js'
import type { ResultBody, Tier } from '../../src/state/record-kinds.js'

const h = (n: number): string => n.toString(16).padStart(64, '0')
const metrics = (valBpb: number) => ({ val_bpb: valBpb, training_seconds: 1, total_seconds: 1, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 0.1, num_steps: 10, num_params_M: 0.1, depth: 2 })
const policy: TrustPolicy = { self: 'me', quorum: 2, tolerance: 0.01, reputationAfter: 3 }

let next = 1
function result (author: string, valBpb: number, tier: Tier = 'cpu', torch?: string): ResultEntry {
  const id = h(next++)
  const body: ResultBody = {
    claimId: h(9000 + next), parent: null, codeHash: h(5000 + next), logHash: h(7000), description: `${author} run ${next}`, delta: [], status: 'keep',
    metrics: metrics(valBpb), crash: null, hardware: { gpu: 'cpu', vramGb: 0, tier }, harness: 'h1', maxSteps: 10, ...(torch !== undefined ? { environment: { torch } } : {})
  }
  return { id, author, createdAt: next, body }
}
function verification (author: string, of: ResultEntry, valBpb: number | null, tier: Tier = 'cpu'): TrustVerification {
  return { id: h(100_000 + next++), author, body: { result: of.id, claimId: h(200_000 + next), metrics: valBpb === null ? null : metrics(valBpb), logHash: h(7000), hardware: { gpu: 'cpu', vramGb: 0, tier }, harness: 'h1', maxSteps: 10 } }
}

describe('trust: who reproduced what', () => {
  it('trusts its own results, and a peer\'s result once this node reproduced it', () => {
    const mine = result('me', 2.5)
    const theirs = result('bob', 2.4)
    assert.equal(computeTrust([mine, theirs], [], policy).status.get(theirs.id), 'unverified')
    const state = computeTrust([mine, theirs], [verification('me', theirs, 2.405)], policy)
    assert.equal(state.status.get(mine.id), 'self')
    assert.equal(state.status.get(theirs.id), 'trusted')
    assert.ok(state.standing.has('bob'), 'a reproduced result earns its author standing')
  })

  it('needs a quorum of peers with standing; one is not enough until the author has a reputation', () => {
    const carolRun = result('carol', 2.3)
    const daveRun = result('dave', 2.3)
    const bobRuns = [result('bob', 2.2), result('bob', 2.21), result('bob', 2.22)]
    // carol and dave earned standing: this node reproduced one result of each.
    const base = [verification('me', carolRun, 2.3), verification('me', daveRun, 2.3)]
    const one = computeTrust([carolRun, daveRun, ...bobRuns], [...base, verification('carol', bobRuns[0]!, 2.2)], policy)
    assert.equal(one.status.get(bobRuns[0]!.id), 'unverified', 'one reproduction of a newcomer is not a quorum')
    const two = computeTrust([carolRun, daveRun, ...bobRuns], [...base, verification('carol', bobRuns[0]!, 2.2), verification('dave', bobRuns[0]!, 2.205)], policy)
    assert.equal(two.status.get(bobRuns[0]!.id), 'trusted')

    // Adaptive replication: after reputationAfter trusted results, one reproduction suffices.
    const seasoned = [...bobRuns, result('bob', 2.19)]
    const vs = [...base, ...bobRuns.flatMap((r) => [verification('carol', r, r.body.metrics!.val_bpb), verification('dave', r, r.body.metrics!.val_bpb)]), verification('carol', seasoned[3]!, 2.19)]
    const adaptive = computeTrust([carolRun, daveRun, ...seasoned], vs, policy)
    assert.equal(adaptive.status.get(seasoned[3]!.id), 'trusted')
    // The reputation counts wherever the result stands in the list: here before the three that earned it.
    const first = computeTrust([seasoned[3]!, carolRun, daveRun, ...bobRuns], vs, policy)
    assert.equal(first.status.get(seasoned[3]!.id), 'trusted')
  })

  it('refutes a result that does not reproduce and catches its author: its word stops counting', () => {
    const liarRun = result('liar', 0.5)
    const liarEarlier = result('liar', 2.5)
    const carolRun = result('carol', 2.3)
    const honest = result('bob', 2.4)
    // carol and the liar both earned standing; with the liar's word, bob's result would have its quorum of two.
    const vouched = [verification('me', liarEarlier, 2.5), verification('me', carolRun, 2.3), verification('liar', honest, 2.4), verification('carol', honest, 2.4)]
    assert.equal(computeTrust([liarEarlier, liarRun, carolRun, honest], vouched, policy).status.get(honest.id), 'trusted')
    const state = computeTrust([liarEarlier, liarRun, carolRun, honest], [...vouched, verification('me', liarRun, 2.9)], policy)
    assert.equal(state.status.get(liarRun.id), 'refuted')
    assert.ok(state.caught.has('liar'))
    assert.ok(!state.standing.has('liar'), 'standing earned earlier is lost')
    assert.equal(state.status.get(honest.id), 'unverified', 'a caught peer\'s reproduction counts for nothing')
  })

  it('withdraws standing that rested on a peer caught since, whatever order the results come in', () => {
    const liarEarlier = result('liar', 2.5)
    const liarRun = result('liar', 0.5)
    const [frankRun, carolRun, daveRun] = [result('frank', 2.3), result('carol', 2.3), result('dave', 2.3)]
    // bob's quorum is the liar and frank; bob then vouches for eve, with frank.
    const bobRun = result('bob', 2.4)
    const eveRun = result('eve', 2.2)
    const vs = [
      verification('me', liarEarlier, 2.5), verification('me', frankRun, 2.3), verification('me', carolRun, 2.3), verification('me', daveRun, 2.3),
      verification('liar', bobRun, 2.4), verification('frank', bobRun, 2.4),
      verification('bob', eveRun, 2.2), verification('frank', eveRun, 2.2)
    ]
    const runs = [liarEarlier, frankRun, bobRun, eveRun, liarRun, carolRun, daveRun]
    const before = computeTrust(runs, vs, policy)
    assert.ok(before.standing.has('bob') && before.status.get(eveRun.id) === 'trusted', 'the setup: bob has standing, eve\'s result its quorum')
    // carol and dave, with standing, re-ran the liar's best and got far worse: the liar is caught.
    const caughtLiar = [...vs, verification('carol', liarRun, 2.9), verification('dave', liarRun, 2.9)]
    for (const order of [runs, [...runs].reverse()]) {
      const after = computeTrust(order, caughtLiar, policy)
      assert.ok(after.caught.has('liar'))
      assert.equal(after.status.get(bobRun.id), 'unverified', 'bob\'s quorum needed the liar')
      assert.ok(!after.standing.has('bob'), 'bob\'s standing is withdrawn')
      assert.equal(after.status.get(eveRun.id), 'unverified', 'so bob\'s reproduction of eve no longer counts')
      assert.ok(!after.caught.has('bob') && !after.caught.has('eve'), 'nobody honest is caught')
    }
  })

  it('one standing peer alone cannot frame an honest one: refuting a peer\'s result takes a quorum', () => {
    const carolRun = result('carol', 2.3)
    const daveRun = result('dave', 2.3)
    const bob = result('bob', 2.2)
    const base = [verification('me', carolRun, 2.3), verification('me', daveRun, 2.3)]
    const framed = computeTrust([carolRun, daveRun, bob], [...base, verification('carol', bob, 3.5)], policy)
    assert.equal(framed.status.get(bob.id), 'unverified')
    assert.ok(!framed.caught.has('bob'), 'one failed re-run by a peer catches nobody')
    const twice = computeTrust([carolRun, daveRun, bob], [...base, verification('carol', bob, 3.5), verification('dave', bob, 3.4)], policy)
    assert.equal(twice.status.get(bob.id), 'refuted')
    assert.ok(twice.caught.has('bob'))
  })

  it('counts a reproduction only for the step count the result reported', () => {
    const carolRun = result('carol', 2.3)
    const daveRun = result('dave', 2.3)
    const bob = result('bob', 2.2)
    const base = [verification('me', carolRun, 2.3), verification('me', daveRun, 2.3)]
    const shorter = (v: TrustVerification): TrustVerification => ({ ...v, body: { ...v.body, maxSteps: 5 } })
    const state = computeTrust([carolRun, daveRun, bob], [...base, shorter(verification('carol', bob, 2.2)), shorter(verification('dave', bob, 2.2))], policy)
    assert.equal(state.status.get(bob.id), 'unverified')
  })

  it('ten fresh identities vouching for a liar change nothing', () => {
    const liarRun = result('liar', 0.5)
    const sybils = Array.from({ length: 10 }, (_, i) => `sybil${i}`)
    const vs = sybils.map((s) => verification(s, liarRun, 0.5))
    // The sybils also vouch for each other's (fake) results: still no standing anywhere.
    const sybilRuns = sybils.map((s) => result(s, 0.6))
    for (const r of sybilRuns) for (const s of sybils) if (s !== r.author) vs.push(verification(s, r, 0.6))
    const state = computeTrust([liarRun, ...sybilRuns], vs, policy)
    assert.equal(state.status.get(liarRun.id), 'unverified')
    assert.ok(sybilRuns.every((r) => state.status.get(r.id) === 'unverified'))
    assert.deepEqual([...state.standing], ['me'])
  })

  it('a majority of standing peers decides; another tier or a crashed re-run never reproduces', () => {
    const carolRun = result('carol', 2.3)
    const daveRun = result('dave', 2.3)
    const eveRun = result('eve', 2.3)
    const base = [verification('me', carolRun, 2.3), verification('me', daveRun, 2.3), verification('me', eveRun, 2.3)]
    const bob = result('bob', 2.0)
    const outvoted = computeTrust([carolRun, daveRun, eveRun, bob], [...base, verification('carol', bob, 2.0), verification('dave', bob, 2.0), verification('eve', bob, 2.6)], policy)
    assert.equal(outvoted.status.get(bob.id), 'trusted')
    assert.ok(!outvoted.caught.has('bob'))
    const refuted = computeTrust([carolRun, daveRun, eveRun, bob], [...base, verification('carol', bob, 2.6), verification('dave', bob, 2.0)], policy)
    assert.equal(refuted.status.get(bob.id), 'unverified', 'a tie is not a refutation')
    const elsewhere = computeTrust([carolRun, daveRun, bob], [...base.slice(0, 2), verification('carol', bob, 2.0, 'vram24'), verification('dave', bob, 2.0, 'vram24')], policy)
    assert.equal(elsewhere.status.get(bob.id), 'unverified', 'reproductions on another tier do not count')
    assert.equal(reproduces(bob.body, verification('me', bob, null).body, 1), false)
  })
})

/** A re-run that crashed with `detail` under PyTorch `torch`. */
function crashed (author: string, of: ResultEntry, detail: string, torch: string): TrustVerification {
  const v = verification(author, of, null)
  return { ...v, body: { ...v.body, environment: { torch }, crash: { reason: 'exception', detail } } }
}

describe('trust: vouching has a price, standing does not chain (issue 13)', () => {
  it('the vouchers of a refuted fake lose standing like its author, and what they vouched for since stops counting', () => {
    const [s1Run, s2Run, honestRun] = [result('s1', 2.3), result('s2', 2.3), result('carol', 2.3)]
    const fake = result('liar', 0.9)
    const later = result('bob', 2.2)
    const base = [verification('me', s1Run, 2.3), verification('me', s2Run, 2.3), verification('me', honestRun, 2.3)]
    const vouched = [verification('s1', fake, 0.9), verification('s2', fake, 0.9), verification('s1', later, 2.2), verification('carol', later, 2.2)]
    const before = computeTrust([s1Run, s2Run, honestRun, fake, later], [...base, ...vouched], policy)
    assert.equal(before.status.get(fake.id), 'trusted', 'the setup: two standing vouchers make the fake trusted')
    assert.equal(before.status.get(later.id), 'trusted')
    const after = computeTrust([s1Run, s2Run, honestRun, fake, later], [...base, ...vouched, verification('me', fake, 6.8)], policy)
    assert.equal(after.status.get(fake.id), 'refuted')
    for (const p of ['liar', 's1', 's2']) {
      assert.ok(after.caught.has(p), `${p} is caught`)
      assert.ok(!after.standing.has(p), `${p} has no standing`)
    }
    assert.equal(after.status.get(s1Run.id), 'trusted', 'what this node reproduced itself stays trusted')
    assert.equal(after.status.get(later.id), 'unverified', 'a caught voucher\'s reproduction no longer counts')
    assert.ok(!after.caught.has('carol') && after.standing.has('carol'), 'the honest co-voucher of another result keeps its standing')
  })

  it(`two sybils with standing mint at most ${TRUST_BOUNDS.sponsorBudget} new standing identities, and those mint none`, () => {
    const [s1Run, s2Run] = [result('s1', 2.3), result('s2', 2.3)]
    const fresh = Array.from({ length: 20 }, (_, i) => result(`fresh${i}`, 2.2))
    const vs = [verification('me', s1Run, 2.3), verification('me', s2Run, 2.3)]
    for (const r of fresh) vs.push(verification('s1', r, 2.2), verification('s2', r, 2.2))
    // The minted ones vouch in pairs for more fresh identities: their results are trusted, their authors get no standing.
    const second = Array.from({ length: 10 }, (_, i) => result(`second${i}`, 2.2))
    for (const r of second) vs.push(verification('fresh0', r, 2.2), verification('fresh1', r, 2.2))
    const state = computeTrust([s1Run, s2Run, ...fresh, ...second], vs, policy)
    const minted = [...state.standing].filter((p) => p.startsWith('fresh') || p.startsWith('second'))
    assert.equal(minted.length, TRUST_BOUNDS.sponsorBudget, minted.join(', '))
    assert.ok(second.every((r) => !state.standing.has(r.author)))
    assert.ok(fresh.every((r) => state.status.get(r.id) === 'trusted'), 'their results are trusted all the same')
  })

  it('a chain of fresh identities, each vouched by the two before it, stops after one hop', () => {
    const roots = [result('p1', 2.3), result('p2', 2.3)]
    const chain = Array.from({ length: 300 }, (_, i) => result(`c${i}`, 2.2))
    const vs = roots.map((r) => verification('me', r, 2.3))
    const authors = ['p1', 'p2', ...chain.map((r) => r.author)]
    chain.forEach((r, i) => { vs.push(verification(authors[i]!, r, 2.2), verification(authors[i + 1]!, r, 2.2)) })
    const state = computeTrust([...roots, ...chain], vs, policy)
    assert.deepEqual([...state.standing].sort(), ['c0', 'me', 'p1', 'p2'])
    assert.deepEqual(chain.filter((r) => state.status.get(r.id) === 'trusted').map((r) => r.author), ['c0', 'c1'])
  })

  it('a miss under 3 tolerances marks the result not reproduced; up to 10 costs standing, not the brand; more is a lie', () => {
    const earned = result('clock', 2.3)
    const near = result('clock', 2.2)
    const off = result('clock', 2.2)
    const base = [verification('me', earned, 2.3)]
    const small = computeTrust([earned, near], [...base, verification('me', near, 2.2 + 2 * policy.tolerance)], policy)
    assert.equal(small.status.get(near.id), 'not-reproduced')
    assert.ok(small.standing.has('clock') && !small.caught.has('clock') && !small.suspect.has('clock'), 'a small miss blames nobody')

    const moderate = computeTrust([earned, off], [...base, verification('me', off, 2.2 + 5 * policy.tolerance)], policy)
    assert.equal(moderate.status.get(off.id), 'refuted')
    assert.ok(!moderate.caught.has('clock'), 'not branded a liar')
    assert.ok(!moderate.standing.has('clock'), 'but its standing is gone')
    // A later result this node reproduces gives it back.
    const again = result('clock', 2.25)
    const back = computeTrust([earned, off, again], [...base, verification('me', off, 2.2 + 5 * policy.tolerance), verification('me', again, 2.25)], policy)
    assert.ok(back.standing.has('clock'))

    const lie = computeTrust([earned, off], [...base, verification('me', off, 2.2 + 10 * policy.tolerance)], policy)
    assert.ok(lie.caught.has('clock'), 'a miss of 10 tolerances is a lie')
    const better = computeTrust([earned, off], [...base, verification('me', off, 2.0)], policy)
    assert.equal(better.status.get(off.id), 'not-reproduced', 'nobody understates to gain: a better re-run blames nobody')
    assert.ok(!better.caught.has('clock') && !better.suspect.has('clock'))
  })

  it('a re-run under another PyTorch that fails to import is inconclusive; under the same one it exposes the author', () => {
    const run = result('bob', 2.2, 'cpu', '2.5.1')
    const other = computeTrust([run], [crashed('me', run, "AttributeError: module 'torch.nn' has no attribute 'RMSNorm'", '2.1.2')], policy)
    assert.equal(other.status.get(run.id), 'unverified')
    assert.ok(!other.caught.has('bob') && !other.suspect.has('bob'))
    const same = computeTrust([run], [crashed('me', run, "AttributeError: module 'torch.nn' has no attribute 'RMSNorm'", '2.5.1')], policy)
    assert.equal(same.status.get(run.id), 'refuted')
    assert.ok(same.caught.has('bob'))
    const memory = computeTrust([run], [crashed('me', run, 'MemoryError', '2.1.2')], policy)
    assert.ok(memory.caught.has('bob'), 'a MemoryError train.py raises is its crash, in any environment')
  })

  it('this node\'s inconclusive re-run keeps a result vouched by a quorum at most unverified', () => {
    const [carolRun, daveRun] = [result('carol', 2.3), result('dave', 2.3)]
    const bob = result('bob', 2.0)
    const vs = [verification('me', carolRun, 2.3), verification('me', daveRun, 2.3), verification('carol', bob, 2.0), verification('dave', bob, 2.0)]
    assert.equal(computeTrust([carolRun, daveRun, bob], vs, policy).status.get(bob.id), 'trusted')
    const mine = verification('me', bob, null)
    const state = computeTrust([carolRun, daveRun, bob], [...vs, { ...mine, body: { ...mine.body, inconclusive: true, crash: { reason: 'resource-limit', detail: 'memory cgroup' } } }], policy)
    assert.equal(state.status.get(bob.id), 'unverified')
    assert.ok(!state.caught.has('bob'))
  })

  it('standing holds per scope: a peer reproduced under one PyTorch does not vouch under another', () => {
    const carolRun = result('carol', 2.3, 'cpu', '2.1.2')
    const daveRun = result('dave', 2.3, 'cpu', '2.1.2')
    const bob = result('bob', 2.0, 'cpu', '2.5.1')
    const under = (v: TrustVerification, torch: string): TrustVerification => ({ ...v, body: { ...v.body, environment: { torch } } })
    const base = [verification('me', carolRun, 2.3), verification('me', daveRun, 2.3)]
    const elsewhere = computeTrust([carolRun, daveRun, bob], [...base, under(verification('carol', bob, 2.0), '2.5.1'), under(verification('dave', bob, 2.0), '2.5.1')], policy)
    assert.equal(elsewhere.status.get(bob.id), 'unverified')
    const home = computeTrust([carolRun, daveRun, bob], [...base, under(verification('carol', bob, 2.0), '2.1.2'), under(verification('dave', bob, 2.0), '2.1.2')], policy)
    assert.equal(home.status.get(bob.id), 'trusted')
    assert.equal(scopeOf(bob.body, bob.body.maxSteps), 'cpu/cpu/torch 2.5/10 steps')
  })

  it('standing from a step-limited reproduction never vouches for a timed result; standing from a timed one holds under a step limit', () => {
    // Issue 13's budget cheat: a step may hide any work, so a step-limited result reproduces whatever it did.
    const timed = (r: ResultEntry): ResultEntry => { const { maxSteps: _, ...body } = r.body; return { ...r, body } }
    const carolSteps = result('carol', 2.3)
    const daveSteps = result('dave', 2.3)
    const bobTimed = timed(result('bob', 2.0))
    const base = [verification('me', carolSteps, 2.3), verification('me', daveSteps, 2.3)]
    const vouched = [verification('carol', bobTimed, 2.0), verification('dave', bobTimed, 2.0)]
    const fromSteps = computeTrust([carolSteps, daveSteps, bobTimed], [...base, ...vouched], policy)
    assert.equal(fromSteps.status.get(bobTimed.id), 'unverified', 'step-limited standing does not count for a timed result')
    assert.equal(scopeOf(bobTimed.body, bobTimed.body.maxSteps), 'cpu/cpu/torch ?')

    const carolTimed = timed(result('carol', 2.3))
    const daveTimed = timed(result('dave', 2.3))
    const bobSteps = result('bob', 2.0)
    const fromTimed = computeTrust([carolTimed, daveTimed, bobSteps], [verification('me', carolTimed, 2.3), verification('me', daveTimed, 2.3), verification('carol', bobSteps, 2.0), verification('dave', bobSteps, 2.0)], policy)
    assert.equal(fromTimed.status.get(bobSteps.id), 'trusted', 'timed standing counts under a step limit')
  })

  it('one sponsorship budget per peer for its timed scope and every step limit under it', () => {
    const timed = (r: ResultEntry): ResultEntry => { const { maxSteps: _, ...body } = r.body; return { ...r, body } }
    const engine = new TrustEngine(policy)
    const sponsors = ['carol', 'dave'].map((a) => timed(result(a, 2.3)))
    for (const r of sponsors) engine.addResult(r)
    for (const r of sponsors) engine.addVerification(verification('me', r, 2.3))
    // Sybils, each step-limited at another step count (a scope of its own), vouched by both sponsors.
    for (let i = 0; i < 3 * TRUST_BOUNDS.sponsorBudget; i++) {
      const r = result(`sybil${i}`, 2.0)
      const steps = (v: TrustVerification): TrustVerification => ({ ...v, body: { ...v.body, maxSteps: 20 + i } })
      const body = { ...r.body, maxSteps: 20 + i, metrics: { ...r.body.metrics!, num_steps: 20 + i } }
      const stepped = { ...r, body }
      engine.addResult(stepped)
      for (const s of ['carol', 'dave']) engine.addVerification(steps(verification(s, stepped, 2.0)))
    }
    const minted = [...engine.state.standing].filter((a) => a.startsWith('sybil'))
    assert.equal(minted.length, TRUST_BOUNDS.sponsorBudget)
  })

  it('a record after a 1,500-identity chain costs what it touches, not a pass over the chain', () => {
    const engine = new TrustEngine(policy)
    const roots = [result('p1', 2.3), result('p2', 2.3)]
    for (const r of roots) { engine.addResult(r); engine.addVerification(verification('me', r, 2.3)) }
    const authors = ['p1', 'p2']
    for (let i = 0; i < 1500; i++) {
      const r = result(`c${i}`, 2.2)
      engine.addResult(r)
      engine.addVerification(verification(authors[i]!, r, 2.2))
      engine.addVerification(verification(authors[i + 1]!, r, 2.2))
      authors.push(r.author)
    }
    const started = performance.now()
    for (let i = 0; i < 100; i++) {
      const r = result(`late${i}`, 2.1)
      engine.addResult(r)
      engine.addVerification(verification(`c${1499 - i}`, r, 2.1))
    }
    const perRecordMs = (performance.now() - started) / 200
    assert.ok(perRecordMs < 1, `${perRecordMs.toFixed(3)} ms per record`)
    assert.equal(engine.state.standing.size, 4)
    assert.equal(engine.rebuilds, 0)
  })
})
