import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ClaimBook } from '../../src/claims/claim-book.js'
import { ResearchLedger } from '../../src/claims/research-ledger.js'
import { createHashingEmbedder } from '../../src/embedding/hashing-embedder.js'
import { DuplicateHypothesisError, HypothesisBook } from '../../src/claims/hypotheses.js'
import { SemanticDedup } from '../../src/claims/semantic.js'
import { ManualClock } from '../../src/util/clock.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { sha256Hex } from '../../src/util/hash.js'
import { makeReplica } from '../helpers/replica.js'
import type { ClaimRequest } from '../../src/claims/claim-book.js'
import type { ClaimEntry, ResearchLedgerOptions } from '../../src/claims/research-ledger.js'
import type { HypothesisBody, ResultBody } from '../../src/state/record-kinds.js'
import type { Replica } from '../helpers/replica.js'

const HARNESS = 'harness-1'
const TTL = 60_000
const HOUR = 3_600_000
const PER_HOUR = 3

/** One node: a replica with its ledger, claim book and hypothesis book. */
interface Node {
  replica: Replica
  ledger: ResearchLedger
  claims: ClaimBook
  hypotheses: HypothesisBook
}

async function makeNode (clock: ManualClock, seed: number, replica?: Replica, ledgerOptions: ResearchLedgerOptions = {}): Promise<Node> {
  const r = replica ?? await makeReplica({ clock, seed })
  const ledger = new ResearchLedger(r.state, HARNESS, { clock, ...ledgerOptions })
  const semantic = new SemanticDedup(createHashingEmbedder())
  return {
    replica: r,
    ledger,
    claims: new ClaimBook({ state: r.state, ledger, clock, semantic }, { settleMs: 0 }),
    hypotheses: new HypothesisBook({ state: r.state, ledger, clock, semantic }, { perHour: PER_HOUR })
  }
}

/** Anti-entropy: everything `to` lacks from `from`. */
async function sync (from: Replica, to: Replica): Promise<void> {
  for (const diff of from.state.diffsFor(to.state.encodeStateVector())) {
    const outcome = await to.state.applyRemote(diff)
    assert.equal(outcome.verdict, 'accept', `sync refused: ${outcome.fault ?? ''}`)
  }
}

const warmup: HypothesisBody = {
  title: 'Longer warmup helps small models',
  text: 'Loss spikes in the first 100 steps suggest the warmup is too short.',
  suggestedDelta: [{ name: 'WARMUP_STEPS', from: 100, to: 200 }, { name: 'LEARNING_RATE', from: 0.04, to: 0.05 }],
  priority: 5
}

const testing = (hypothesis: string, over: Partial<ClaimRequest> = {}): ClaimRequest => ({
  description: 'warmup 100 -> 200 steps',
  codeHash: sha256Hex(`warmup 200 ${JSON.stringify(over)}`),
  parent: null,
  delta: [{ name: 'WARMUP_STEPS', from: 100, to: 200 }],
  hypothesis,
  tier: 'cpu',
  ttlMs: TTL,
  ...over
})

async function claimed (node: Node, req: ClaimRequest): Promise<ClaimEntry> {
  const outcome = await node.claims.claim(req)
  assert.ok('claimed' in outcome, 'the claim must stand')
  return outcome.claimed
}

async function finish (node: Node, claim: ClaimEntry, status: ResultBody['status'], valBpb: number | null): Promise<string> {
  const rec = await node.replica.state.append('result', {
    claimId: claim.id,
    parent: claim.body.parent,
    codeHash: claim.body.codeHash!,
    logHash: sha256Hex(`log ${claim.id}`),
    description: claim.body.description,
    delta: claim.body.delta,
    status,
    metrics: valBpb === null ? null : { val_bpb: valBpb, training_seconds: 300, total_seconds: 320, peak_vram_mb: 1000, mfu_percent: 10, total_tokens_M: 50, num_steps: 1000, num_params_M: 11, depth: 4 },
    crash: status === 'crash' ? { reason: 'oom', detail: 'CUDA out of memory' } : null,
    hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' },
    harness: HARNESS
  })
  return rec.id
}

const stateOn = (node: Node, id: string): string | undefined => node.hypotheses.get(id)?.state

describe('HypothesisBook: state derived from the claims and results that reference it', () => {
  it('open, then claimed while a claim tests it, then tested with the outcomes of its results', async () => {
    const clock = new ManualClock()
    const a = await makeNode(clock, 1)
    const b = await makeNode(clock, 2)
    const h = await a.hypotheses.publish(warmup)
    assert.equal(h.state, 'open')
    await sync(a.replica, b.replica)
    const claim = await claimed(b, testing(h.id))
    await sync(b.replica, a.replica)
    for (const node of [a, b]) {
      const entry = node.hypotheses.get(h.id)!
      assert.equal(entry.state, 'claimed')
      assert.deepEqual(entry.claims, [claim.id])
      assert.deepEqual(entry.outcomes, [])
    }
    clock.advance(5_000)
    const kept = await finish(b, claim, 'keep', 0.987)
    const other = await claimed(a, testing(h.id, { description: 'warmup 100 -> 200 steps, with a higher LR', delta: [{ name: 'WARMUP_STEPS', from: 100, to: 200 }, { name: 'LEARNING_RATE', from: 0.04, to: 0.06 }] }))
    const crashed = await finish(a, other, 'crash', null)
    await sync(b.replica, a.replica)
    await sync(a.replica, b.replica)
    for (const node of [a, b]) {
      const entry = node.hypotheses.get(h.id)!
      assert.equal(entry.state, 'tested')
      assert.deepEqual(entry.claims, [], 'finished claims no longer test it')
      assert.deepEqual(
        [...entry.outcomes].sort((x, y) => (x.result < y.result ? -1 : 1)),
        [
          { result: kept, author: b.replica.state.peerId, status: 'keep', valBpb: 0.987 },
          { result: crashed, author: a.replica.state.peerId, status: 'crash', valBpb: null }
        ].sort((x, y) => (x.result < y.result ? -1 : 1))
      )
    }
  })

  it('a claim that counts against nobody (a fresh key beyond the pool) leaves the hypothesis open', async () => {
    const clock = new ManualClock()
    // On A every pool place is taken (a pool of 0): B's claims count only on B itself.
    const a = await makeNode(clock, 1, undefined, { maxActiveWithoutStanding: 0 })
    const b = await makeNode(clock, 2)
    const h = await a.hypotheses.publish(warmup)
    await sync(a.replica, b.replica)
    const claim = await claimed(b, testing(h.id))
    await sync(b.replica, a.replica)
    assert.equal(stateOn(b, h.id), 'claimed')
    assert.equal(stateOn(a, h.id), 'open', 'a claim that blocks nothing must not take the hypothesis off the open list')
    assert.ok(a.ledger.claim(claim.id) !== undefined)
  })

  it('an expired or released claim leaves the hypothesis open again', async () => {
    const clock = new ManualClock()
    const a = await makeNode(clock, 1)
    const h = await a.hypotheses.publish(warmup)
    const t0 = clock.now()
    await claimed(a, testing(h.id))
    clock.set(t0 + TTL - 1)
    assert.equal(stateOn(a, h.id), 'claimed')
    clock.set(t0 + TTL)
    assert.equal(stateOn(a, h.id), 'open', 'an expired claim no longer tests it')
    const again = await claimed(a, testing(h.id))
    assert.equal(stateOn(a, h.id), 'claimed')
    await a.claims.release(again.id)
    assert.equal(stateOn(a, h.id), 'open', 'a released claim no longer tests it')
  })

  it('get finds a hypothesis by its id', async () => {
    const clock = new ManualClock()
    const a = await makeNode(clock, 1)
    const h = await a.hypotheses.publish(warmup)
    assert.equal(a.hypotheses.get(h.id)?.body.title, warmup.title)
    assert.equal(a.hypotheses.get('f'.repeat(64)), undefined)
  })
})

describe('HypothesisBook.publish: dedup and rate limit', () => {
  it('refuses the same title, the same suggested change and the same idea in other words with HYPOTHESIS_DUPLICATE', async () => {
    const clock = new ManualClock()
    const a = await makeNode(clock, 1)
    const b = await makeNode(clock, 2)
    const h = await a.hypotheses.publish(warmup)
    await sync(a.replica, b.replica)
    const refusals: HypothesisBody[] = [
      { title: 'longer warmup helps small models!', text: 'same title, other case and punctuation' },
      { title: 'Try 200 warmup steps with LR 0.05', text: 'same change, listed in another order', suggestedDelta: [...warmup.suggestedDelta!].reverse() },
      { title: 'Longer warmup helps small models a lot', text: 'the same idea in more words' }
    ]
    for (const body of refusals) {
      await assert.rejects(b.hypotheses.publish(body), (err: unknown) => {
        assert.ok(isSwarmdError(err, 'HYPOTHESIS_DUPLICATE'), `${body.title}: ${String(err)}`)
        assert.ok(err instanceof DuplicateHypothesisError)
        assert.equal(err.existing.id, h.id)
        return true
      })
    }
    assert.equal(b.replica.state.counts().hypothesis, 1, 'a refused hypothesis is never written')
    // What the list does not say yet is accepted: the opposite direction, another value, another idea.
    await b.hypotheses.publish({ title: 'Shorter warmup helps small models', text: 'the opposite' })
    await b.hypotheses.publish({ title: 'Try 300 warmup steps', text: 'another value', suggestedDelta: [{ name: 'WARMUP_STEPS', from: 100, to: 300 }] })
    clock.advance(1)
    await sync(b.replica, a.replica)
    await a.hypotheses.publish({ title: 'Tie the token embedding and the output head', text: 'fewer parameters' })
    assert.equal(a.hypotheses.list().length, 4)
  })

  it('refuses a node beyond its hourly allowance with HYPOTHESIS_RATE_LIMITED, and accepts again as the window slides', async () => {
    const clock = new ManualClock()
    const a = await makeNode(clock, 1)
    const b = await makeNode(clock, 2)
    const t0 = clock.now()
    const titles = ['Add dropout to attention', 'Use a cosine schedule', 'Remove biases from linear layers', 'Train with a longer context']
    for (let i = 0; i < PER_HOUR; i++) {
      clock.set(t0 + i * 1_000)
      await a.hypotheses.publish({ title: titles[i]!, text: '' })
    }
    clock.set(t0 + HOUR - 1)
    await assert.rejects(a.hypotheses.publish({ title: titles[3]!, text: '' }), (err: unknown) => isSwarmdError(err, 'HYPOTHESIS_RATE_LIMITED'))
    assert.equal(a.replica.state.counts().hypothesis, PER_HOUR)
    // Another node's allowance is its own.
    await sync(a.replica, b.replica)
    await b.hypotheses.publish({ title: 'Swap gelu for squared relu', text: '' })
    clock.set(t0 + HOUR)
    const accepted = await a.hypotheses.publish({ title: titles[3]!, text: '' })
    assert.equal(accepted.state, 'open')
    assert.ok(a.hypotheses.list().some((h) => h.id === accepted.id))
  })

  it("a spamming author's hypotheses beyond the hourly limit are hidden, identically on every replica", async () => {
    const clock = new ManualClock()
    const t0 = clock.now()
    // The spammer writes from two sessions (two Yjs clients) directly into the state, bypassing its own limit.
    const spam1 = await makeReplica({ clock, seed: 11 })
    const spam2 = await makeReplica({ clock, seed: 12, identity: spam1.identity })
    const honest = await makeReplica({ clock, seed: 13 })
    const spamUpdates: Uint8Array[][] = [[], []]
    spam1.state.on('local-update', (u) => { spamUpdates[0]!.push(u) })
    spam2.state.on('local-update', (u) => { spamUpdates[1]!.push(u) })
    const spam: string[] = []
    for (let i = 0; i < 10; i++) {
      clock.set(t0 + i * 1_000)
      spam.push((await (i % 2 === 0 ? spam1 : spam2).state.append('hypothesis', { title: `spam idea number ${i}`, text: 'buy now' })).id)
    }
    clock.set(t0 + 500)
    const fair = await honest.state.append('hypothesis', { title: 'Use a cosine schedule', text: '' })
    clock.set(t0 + HOUR + 5_000)
    const later = (await spam1.state.append('hypothesis', { title: 'spam idea after an hour', text: '' })).id

    const x = await makeNode(clock, 21)
    const y = await makeNode(clock, 22)
    // X gets the second session first, one update at a time; Y gets the first session first, in bulk.
    for (const u of spamUpdates[1]!) assert.equal((await x.replica.state.applyRemote(u)).verdict, 'accept')
    await sync(honest, x.replica)
    for (const u of spamUpdates[0]!) assert.equal((await x.replica.state.applyRemote(u)).verdict, 'accept')
    await sync(spam1, y.replica)
    await sync(honest, y.replica)
    await sync(spam2, y.replica)

    const listX = x.hypotheses.list().map((h) => h.id)
    const listY = y.hypotheses.list().map((h) => h.id)
    assert.deepEqual(listX, listY, 'replicas must hide the same hypotheses')
    // The first three by createdAt stand; the rest of that hour is hidden; the window slides on.
    assert.deepEqual(listX, [spam[0], fair.id, spam[1], spam[2], later])
    const spammer = spam1.state.peerId
    assert.equal(x.hypotheses.list().filter((h) => h.author === spammer && h.createdAt < t0 + HOUR).length, PER_HOUR)
    assert.equal(x.hypotheses.get(spam[5]!), undefined)
    for (const node of [x, y]) assert.deepEqual([...node.hypotheses.spammers()], [spammer], 'the spammer, and only it, is named for gossip scoring')
  })
})
