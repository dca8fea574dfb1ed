import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { generateIdentity } from '../../src/p2p/identity.js'
import { canonicalJson } from '../../src/state/canonical.js'
import { decodeSyncRequest, encodeSyncRequest } from '../../src/state/sync-request.js'
import { clientOf, concatUpdates, craftUpdate, honestFirstWrite, sessionOf, signAs, signBinding } from '../helpers/forge.js'
import { makeReplica } from '../helpers/replica.js'
import { MAX_JSON_VALUES, recordKey } from '../../src/state/records.js'
import { sha256Hex } from '../../src/util/hash.js'
import type { RawWrite } from '../helpers/forge.js'
import type { Replica } from '../helpers/replica.js'
import type { RecordId, StoredRecord } from '../../src/state/records.js'

/** Apply `update` to a replica that already holds an honest author's records; nothing may change unless accepted. */
async function expectRefused (target: Replica, update: Uint8Array, verdict: 'reject' | 'ignore', fault: string): Promise<void> {
  const before = target.state.contentDigest()
  const counts = target.state.counts()
  const outcome = await target.state.applyRemote(update)
  assert.equal(outcome.verdict, verdict, `verdict (fault ${outcome.fault ?? '-'}: ${outcome.message ?? ''})`)
  assert.equal(outcome.fault, fault)
  assert.equal(target.state.contentDigest(), before, 'a refused update changed the doc')
  assert.deepEqual(target.state.counts(), counts)
}

/** `rec` with its title changed after signing: canonical, at its own key, and no longer its author's. */
function tampered (rec: StoredRecord<'hypothesis'>): { key: string, text: string } {
  const text = canonicalJson({ ...rec.record, body: { ...rec.record.body, title: `${rec.record.body.title}!` } })
  return { key: recordKey(rec.record.author, sha256Hex(text) as RecordId), text }
}

async function setup () {
  const target = await makeReplica({ seed: 11 })
  const honest = await makeReplica({ seed: 12 })
  await honest.state.append('hypothesis', { title: 'honest idea', text: 'keep it' })
  const honestState = Y.encodeStateAsUpdate(honest.state.doc)
  assert.equal((await target.state.applyRemote(honestState)).verdict, 'accept')
  const attacker = await generateIdentity()
  return { target, honest, honestState, attacker, now: target.clock.now() }
}

describe('update validation (one test per rule)', () => {
  it('accepts an honest first write: binding plus record', async () => {
    const { target, attacker, now } = await setup()
    const { update } = await honestFirstWrite(attacker, 4242, { title: 'fine', text: '' }, now)
    const outcome = await target.state.applyRemote(update)
    assert.equal(outcome.verdict, 'accept')
    assert.equal(outcome.added, 2)
  })

  it('takes records it already holds at their slots without checking them again (a peer replaying them costs it no signature checks)', async () => {
    const { target, honestState } = await setup()
    const { validateUpdate } = await import('../../src/state/update-validator.js')
    const state = target.state as unknown as { doc: Y.Doc, textAt(client: number, clock: number): string | undefined }
    const ctx = { now: Date.now(), maxClockSkewMs: 60_000, maxUpdateBytes: 1 << 20, stateOf: (client: number) => Y.getState(state.doc.store, client), authorOf: () => undefined, textAt: (client: number, clock: number) => state.textAt(client, clock) }
    assert.deepEqual(await validateUpdate(honestState, ctx), [], 'nothing new to parse or verify')
    const outcome = await target.state.applyRemote(honestState)
    assert.equal(outcome.verdict, 'accept')
    assert.equal(outcome.added, 0)
  })

  it('[REJECT] a client repeated in one update, its second run after a gap: Yjs would park it as pending structs', async () => {
    const { target, attacker, now } = await setup()
    const { update: opening, client } = await honestFirstWrite(attacker, 4243, { title: 'first', text: '' }, now)
    // Clocks 2 and 3 written in order by the attacker's own doc; clock 2 is left out of the update.
    const doc = new Y.Doc({ gc: false })
    Y.applyUpdate(doc, opening)
    const two = await signAs(attacker, 'hypothesis', { title: 'second', text: '' }, { client, clock: 2 }, now)
    const withTwo = craftUpdate(client, [{ map: 'hypotheses', key: two.key, value: two.text }], Y.encodeStateAsUpdate(doc))
    Y.applyUpdate(doc, withTwo)
    const three = await signAs(attacker, 'hypothesis', { title: 'third', text: '' }, { client, clock: 3 }, now)
    const afterGap = craftUpdate(client, [{ map: 'hypotheses', key: three.key, value: three.text }], Y.encodeStateAsUpdate(doc))
    assert.equal(Y.decodeUpdate(afterGap).structs[0]!.id.clock, 3)
    await expectRefused(target, concatUpdates(opening, afterGap), 'reject', 'UPDATE_NOT_CONTIGUOUS')
    assert.equal(target.state.doc.store.pendingStructs, null)
    // Sent honestly (one run, no gap), the same records are accepted.
    assert.equal((await target.state.applyRemote(concatUpdates(opening))).verdict, 'accept')
  })

  it('[REJECT] oversize payloads', async () => {
    const author = await makeReplica({ seed: 3 })
    await author.state.append('hypothesis', { title: 'x', text: 'y'.repeat(1000) })
    const tight = await makeReplica({ seed: 4, init: { maxUpdateBytes: 512 } })
    await expectRefused(tight, Y.encodeStateAsUpdate(author.state.doc), 'reject', 'UPDATE_TOO_LARGE')
  })

  it('[REJECT] malformed bytes', async () => {
    const { target } = await setup()
    await expectRefused(target, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3), 'reject', 'UPDATE_MALFORMED')
  })

  it('[REJECT] deleting another author\'s entry', async () => {
    const { target, honest, honestState } = await setup()
    const key = honest.state.list('hypothesis')[0]!.key
    const update = craftUpdate(999, (doc) => { doc.getMap('hypotheses').delete(key) }, honestState)
    await expectRefused(target, update, 'reject', 'UPDATE_HAS_DELETES')
  })

  it('[REJECT] changing (overwriting) another author\'s entry', async () => {
    const { target, honest, honestState, attacker, now } = await setup()
    const key = honest.state.list('hypothesis')[0]!.key
    const binding = await signBinding(attacker, 999, now)
    const update = craftUpdate(clientOf(attacker, 999), (doc) => {
      doc.getMap('bindings').set(binding.key, binding.text)
      doc.getMap('hypotheses').set(key, 'replaced')
    }, honestState)
    // The overwrite carries an origin (the old value) and the replaced item lands in the delete set.
    const outcome = await target.state.applyRemote(update)
    assert.equal(outcome.verdict, 'reject')
    assert.ok(['UPDATE_HAS_DELETES', 'STRUCT_OVERWRITE'].includes(outcome.fault!), outcome.fault)
    assert.equal((target.state.get('hypothesis', key)?.record.body as { title: string }).title, 'honest idea')
  })

  it('[REJECT] an overwrite struct (origin set) even without a delete set', async () => {
    const { target, attacker, now } = await setup()
    const { update: first, record } = await honestFirstWrite(attacker, 555, { title: 'a', text: '' }, now)
    const doc = new Y.Doc({ gc: false })
    Y.applyUpdate(doc, first)
    doc.clientID = clientOf(attacker, 555)
    const sv = Y.encodeStateVector(doc)
    doc.getArray('hypotheses-list').insert(0, ['x'])
    doc.getArray('hypotheses-list').insert(1, [record.text])
    const second = Y.encodeStateAsUpdate(doc, sv)
    assert.equal((await target.state.applyRemote(first)).verdict, 'accept')
    const outcome = await target.state.applyRemote(second)
    assert.equal(outcome.verdict, 'reject')
    assert.ok(['STRUCT_OVERWRITE', 'STRUCT_UNKNOWN_MAP'].includes(outcome.fault!), outcome.fault)
  })

  it('[REJECT] writes outside the record maps', async () => {
    const { target, attacker, now } = await setup()
    const rec = await signAs(attacker, 'hypothesis', { title: 't', text: '' }, { client: 77, clock: 0 }, now)
    await expectRefused(target, craftUpdate(77, [{ map: 'elsewhere', key: rec.key, value: rec.text }]), 'reject', 'STRUCT_UNKNOWN_MAP')
  })

  it('[REJECT] an entry that is not one record text', async () => {
    const { target } = await setup()
    await expectRefused(target, craftUpdate(78, [{ map: 'hypotheses', key: 'k', value: { not: 'a string' } }]), 'reject', 'STRUCT_BAD_CONTENT')
  })

  it('[REJECT] a forged signature', async () => {
    const { target, honest, attacker, now } = await setup()
    const binding = await signBinding(attacker, 79, now)
    const rec = await signAs(attacker, 'hypothesis', { title: 't', text: '' }, { client: clientOf(attacker, 79), clock: 1 }, now)
    const forged = canonicalJson({ ...rec.record, author: honest.identity.peerId.toString() })
    const update = craftUpdate(clientOf(attacker, 79), [{ map: 'bindings', key: binding.key, value: binding.text }, { map: 'hypotheses', key: `${honest.identity.peerId.toString()}/x`, value: forged }])
    await expectRefused(target, update, 'reject', 'RECORD_BAD_SIGNATURE')
  })

  it('[REJECT] a forged record deep in a long update, its signature checked beside hundreds of others: nothing of the update is applied', async () => {
    const { target, attacker, now } = await setup()
    const binding = await signBinding(attacker, 90, now)
    const client = binding.record.slot.client
    const writes: RawWrite[] = [{ map: 'bindings', key: binding.key, value: binding.text }]
    for (let clock = 1; clock <= 600; clock++) {
      const rec = await signAs(attacker, 'hypothesis', { title: `idea ${clock}`, text: '' }, { client, clock }, now)
      const { key, text } = clock === 300 ? tampered(rec) : rec
      writes.push({ map: 'hypotheses', key, value: text })
    }
    await expectRefused(target, craftUpdate(client, writes), 'reject', 'RECORD_BAD_SIGNATURE')
  })

  it('[REJECT] a forged record before one that would only wait (dated ahead): the forgery decides, the sender is at fault', async () => {
    const { target, attacker, now } = await setup()
    const binding = await signBinding(attacker, 91, now)
    const client = binding.record.slot.client
    const forged = tampered(await signAs(attacker, 'hypothesis', { title: 'forged', text: '' }, { client, clock: 1 }, now))
    const early = await signAs(attacker, 'hypothesis', { title: 'early', text: '' }, { client, clock: 2 }, now + 5 * 60_000)
    const update = craftUpdate(client, [{ map: 'bindings', key: binding.key, value: binding.text }, { map: 'hypotheses', key: forged.key, value: forged.text }, { map: 'hypotheses', key: early.key, value: early.text }])
    await expectRefused(target, update, 'reject', 'RECORD_BAD_SIGNATURE')
  })

  it('checks a long update of costly records without holding the event loop: it yields every few ms, not every 256 records', async () => {
    const { target, attacker, now } = await setup()
    const binding = await signBinding(attacker, 92, now)
    const client = binding.record.slot.client
    const writes: RawWrite[] = [{ map: 'bindings', key: binding.key, value: binding.text }]
    // Just under the value cap each: ~5 ms of checking a record, ~1.5 s in all.
    const body = { a: Array.from({ length: MAX_JSON_VALUES - 100 }, () => ({})) }
    for (let clock = 1; clock <= 300; clock++) {
      const rec = await signAs(attacker, 'best', { ...body, n: clock }, { client, clock }, now)
      writes.push({ map: 'best', key: rec.key, value: rec.text })
    }
    // A ticker every 2 ms: the longest gap between its ticks is how long the loop was held.
    let last = performance.now()
    let longest = 0
    const ticker = setInterval(() => { const t = performance.now(); longest = Math.max(longest, t - last); last = t }, 2)
    const outcome = await target.state.applyRemote(craftUpdate(client, writes))
    await new Promise((resolve) => setTimeout(resolve, 20))
    clearInterval(ticker)
    assert.equal(outcome.verdict, 'accept')
    assert.equal(outcome.added, 301)
    assert.ok(longest < 150, `the event loop was held up to ${longest.toFixed(0)} ms`)
  })

  it('[REJECT] a record in the map of another kind', async () => {
    const { target, attacker, now } = await setup()
    const binding = await signBinding(attacker, 80, now)
    const rec = await signAs(attacker, 'hypothesis', { title: 't', text: '' }, { client: clientOf(attacker, 80), clock: 1 }, now)
    await expectRefused(target, craftUpdate(clientOf(attacker, 80), [{ map: 'bindings', key: binding.key, value: binding.text }, { map: 'results', key: rec.key, value: rec.text }]), 'reject', 'RECORD_WRONG_MAP')
  })

  it('[REJECT] a record under another author\'s key', async () => {
    const { target, honest, attacker, now } = await setup()
    const binding = await signBinding(attacker, 81, now)
    const rec = await signAs(attacker, 'hypothesis', { title: 't', text: '' }, { client: clientOf(attacker, 81), clock: 1 }, now)
    const foreignKey = `${honest.identity.peerId.toString()}/${rec.id}`
    await expectRefused(target, craftUpdate(clientOf(attacker, 81), [{ map: 'bindings', key: binding.key, value: binding.text }, { map: 'hypotheses', key: foreignKey, value: rec.text }]), 'reject', 'RECORD_KEY_MISMATCH')
  })

  it('[REJECT] a valid record replayed at another slot', async () => {
    const { target, honest } = await setup()
    const victim = honest.state.list('hypothesis')[0]!
    await expectRefused(target, craftUpdate(82, [{ map: 'hypotheses', key: victim.key, value: victim.text }]), 'reject', 'RECORD_SLOT_MISMATCH')
  })

  it('[IGNORE, signer blamed] a record written with a client bound to another author', async () => {
    const { target, honest, attacker, now } = await setup()
    const honestClient = honest.state.doc.clientID
    const next = Y.getState(honest.state.doc.store, honestClient)
    const rec = await signAs(attacker, 'hypothesis', { title: 'squat', text: '' }, { client: honestClient, clock: next }, now)
    const update = craftUpdate(honestClient, [{ map: 'hypotheses', key: rec.key, value: rec.text }], Y.encodeStateAsUpdate(honest.state.doc))
    await expectRefused(target, update, 'ignore', 'CLIENT_AUTHOR_MISMATCH')
    // The relay that passed it on may hold another binding for this id: the signer pays, not the relay.
    assert.equal((await target.state.applyRemote(update)).culprit, attacker.peerId.toString())
  })

  it('[REJECT] a binding of a client id not derived from its author and session (squatting)', async () => {
    const { target, honest, attacker, now } = await setup()
    const honestClient = honest.state.doc.clientID
    const binding = await signAs(attacker, 'binding', { clientId: honestClient, session: sessionOf(attacker, 1).session }, { client: honestClient, clock: 0 }, now)
    const squat = craftUpdate(honestClient, [{ map: 'bindings', key: binding.key, value: binding.text }])
    await expectRefused(target, squat, 'reject', 'CLIENT_ID_NOT_DERIVED')
    // Its first contact makes no difference: a newcomer refuses the squat just the same, then takes the honest records.
    const newcomer = await makeReplica({ seed: 13 })
    await expectRefused(newcomer, squat, 'reject', 'CLIENT_ID_NOT_DERIVED')
    assert.equal((await newcomer.state.applyRemote(Y.encodeStateAsUpdate(honest.state.doc))).verdict, 'accept')
    assert.equal(newcomer.state.contentDigest(), honest.state.contentDigest())
  })

  it('[REJECT] a binding that is not its client\'s first struct', async () => {
    const { target, attacker, now } = await setup()
    const { update, binding } = await honestFirstWrite(attacker, 83, { title: 'a', text: '' }, now)
    assert.equal((await target.state.applyRemote(update)).verdict, 'accept')
    const late = await signAs(attacker, 'binding', { clientId: clientOf(attacker, 83), session: sessionOf(attacker, 83).session }, { client: clientOf(attacker, 83), clock: 2 }, now)
    const doc = new Y.Doc({ gc: false })
    Y.applyUpdate(doc, update)
    assert.ok(binding)
    await expectRefused(target, craftUpdate(clientOf(attacker, 83), [{ map: 'bindings', key: late.key, value: late.text }], Y.encodeStateAsUpdate(doc)), 'reject', 'CLIENT_BOUND_ELSEWHERE')
  })

  it('[IGNORE, signer convicted] two different records for one slot (equivocation): the evidence hides the author everywhere', async () => {
    const { target, attacker, now } = await setup()
    const first = await honestFirstWrite(attacker, 84, { title: 'one', text: '' }, now)
    assert.equal((await target.state.applyRemote(first.update)).verdict, 'accept')
    const digestWithFirst = target.state.contentDigest()
    const other = await honestFirstWrite(attacker, 84, { title: 'two', text: '' }, now)
    const outcome = await target.state.applyRemote(other.update)
    assert.deepEqual([outcome.verdict, outcome.fault, outcome.culprit], ['ignore', 'SLOT_EQUIVOCATION', attacker.peerId.toString()])
    // The receiver wrote the evidence and hides the author's records (both sides of the lie).
    assert.ok(target.state.isConvicted(attacker.peerId.toString()))
    assert.equal(target.state.list('equivocation').length, 1)
    assert.equal(target.state.list('hypothesis').filter((r) => r.record.author === attacker.peerId.toString()).length, 0)
    assert.notEqual(target.state.contentDigest(), digestWithFirst)
    // A replica that took the other side converges on the same view once the evidence reaches it.
    const otherSide = await makeReplica({ seed: 14 })
    assert.equal((await otherSide.state.applyRemote(other.update)).verdict, 'accept')
    for (const diff of target.state.diffsFor(otherSide.state.encodeStateVector())) await otherSide.state.applyRemote(diff)
    assert.ok(otherSide.state.isConvicted(attacker.peerId.toString()))
    assert.equal(otherSide.state.list('hypothesis').filter((r) => r.record.author === attacker.peerId.toString()).length, 0)
    assert.equal(otherSide.state.contentDigest(), target.state.contentDigest())
  })

  it('[REJECT] equivocation evidence that proves nothing', async () => {
    const { target, attacker, now } = await setup()
    const one = await honestFirstWrite(attacker, 90, { title: 'one', text: '' }, now)
    const sameTwice = await honestFirstWrite(attacker, 91, { title: 'same', text: '' }, now)
    const reporter = await generateIdentity()
    const other = await honestFirstWrite(reporter, 92, { title: 'x', text: '' }, now)
    const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
      ['the same record twice', sameTwice.record.record as never, sameTwice.record.record as never],
      ['different slots', one.record.record as never, one.binding.record as never],
      ['different authors', one.record.record as never, { ...other.record.record, slot: one.record.record.slot } as never],
      ['a forged second record', one.record.record as never, { ...one.record.record, body: { title: 'forged', text: '' } } as never]
    ]
    for (const [what, first, second] of cases) {
      const binding = await signBinding(reporter, 93, now)
      const evidence = await signAs(reporter, 'equivocation', { first, second }, { client: binding.record.slot.client, clock: 1 }, now)
      const update = craftUpdate(binding.record.slot.client, [{ map: 'bindings', key: binding.key, value: binding.text }, { map: 'equivocations', key: evidence.key, value: evidence.text }])
      const outcome = await target.state.applyRemote(update)
      assert.deepEqual([outcome.verdict, outcome.fault], ['reject', 'RECORD_BAD_EVIDENCE'], what)
      assert.equal(target.state.isConvicted(attacker.peerId.toString()), false, what)
    }
  })

  it('[IGNORE] a record whose client binding has not arrived yet', async () => {
    const { target, attacker, now } = await setup()
    const rec = await signAs(attacker, 'hypothesis', { title: 't', text: '' }, { client: 85, clock: 0 }, now)
    await expectRefused(target, craftUpdate(85, [{ map: 'hypotheses', key: rec.key, value: rec.text }]), 'ignore', 'CLIENT_UNBOUND')
  })

  it('[IGNORE] an update that starts after a gap in its client\'s structs', async () => {
    const { target, attacker, now } = await setup()
    const first = await honestFirstWrite(attacker, 89, { title: 'a', text: '' }, now)
    assert.equal((await target.state.applyRemote(first.update)).verdict, 'accept')
    const doc = new Y.Doc({ gc: false })
    Y.applyUpdate(doc, first.update)
    const second = await signAs(attacker, 'hypothesis', { title: 'b', text: '' }, { client: clientOf(attacker, 89), clock: 2 }, now)
    const withSecond = craftUpdate(clientOf(attacker, 89), [{ map: 'hypotheses', key: second.key, value: second.text }], Y.encodeStateAsUpdate(doc))
    Y.applyUpdate(doc, withSecond)
    const third = await signAs(attacker, 'hypothesis', { title: 'c', text: '' }, { client: clientOf(attacker, 89), clock: 3 }, now)
    const onlyThird = craftUpdate(clientOf(attacker, 89), [{ map: 'hypotheses', key: third.key, value: third.text }], Y.encodeStateAsUpdate(doc))
    await expectRefused(target, onlyThird, 'ignore', 'UPDATE_GAP')
    assert.equal((await target.state.applyRemote(withSecond)).verdict, 'accept')
    assert.equal((await target.state.applyRemote(onlyThird)).verdict, 'accept')
  })

  it('[IGNORE] a record dated beyond the allowed clock skew, accepted once time catches up', async () => {
    const { target, attacker, now } = await setup()
    const { update } = await honestFirstWrite(attacker, 86, { title: 'early', text: '' }, now + 5 * 60_000)
    await expectRefused(target, update, 'ignore', 'RECORD_FROM_FUTURE')
    target.clock.advance(5 * 60_000)
    assert.equal((await target.state.applyRemote(update)).verdict, 'accept')
  })

  it('[REJECT] a record dated far in the future', async () => {
    const { target, attacker, now } = await setup()
    const { update } = await honestFirstWrite(attacker, 87, { title: 'lie', text: '' }, now + 30 * 24 * 3600_000)
    await expectRefused(target, update, 'reject', 'RECORD_FROM_FUTURE')
  })

  it('[REJECT] non-item structs (GC from deleted content)', async () => {
    const { target } = await setup()
    const doc = new Y.Doc({ gc: true })
    doc.clientID = 88
    doc.getMap('hypotheses').set('a', 'x')
    doc.getMap('hypotheses').set('a', 'y')
    const update = Y.encodeStateAsUpdate(doc)
    const outcome = await target.state.applyRemote(update)
    assert.equal(outcome.verdict, 'reject')
    assert.ok(['STRUCT_NOT_ITEM', 'UPDATE_HAS_DELETES'].includes(outcome.fault!), outcome.fault)
  })
})

describe('sync diffs', () => {
  it('split a client\'s long range into parts a receiver takes one after another, under its update limit', async () => {
    const author = await makeReplica({ seed: 21 })
    for (let i = 0; i < 30; i++) await author.state.append('best', { note: `${i} ${'x'.repeat(60_000)}` })
    const diffs = [...author.state.diffsFor(Y.encodeStateVector(new Y.Doc()))]
    assert.ok(diffs.length >= 4, `${diffs.length} parts for ~1.8 MB of one client`)
    assert.ok(diffs.every((d) => d.byteLength <= 600 * 1024), 'each part near 512 KiB at most')
    const newcomer = await makeReplica({ seed: 22, init: { maxUpdateBytes: 1024 * 1024 } })
    for (const diff of diffs) assert.equal((await newcomer.state.applyRemote(diff)).verdict, 'accept')
    assert.equal(newcomer.state.contentDigest(), author.state.contentDigest())
  })
})

describe('sync fingerprints', () => {
  it('a peer that claims other records at equal clocks gets the range again, 16 times an hour at most', async () => {
    const server = await makeReplica({ seed: 31 })
    await server.state.append('hypothesis', { title: 'one', text: '' })
    const client = server.state.doc.clientID
    const clocks = new Map([[client, Y.getState(server.state.doc.store, client)]])
    const honest = encodeSyncRequest(clocks, () => decodeSyncRequest(server.state.encodeStateVector()).fingerprints.get(client)!)
    assert.equal([...server.state.diffsFor(honest)].length, 0, 'the same records: nothing to send')
    const lying = encodeSyncRequest(clocks, () => new Uint8Array(8))
    const resent = Array.from({ length: 20 }, () => [...server.state.diffsFor(lying)].length)
    assert.equal(resent.filter((n) => n > 0).length, 16)
    server.clock.advance(3_600_000)
    assert.equal([...server.state.diffsFor(lying)].length, 1, 'an hour later, once more')
  })
})
