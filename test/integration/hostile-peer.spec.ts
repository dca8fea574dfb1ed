import '../../src/util/polyfill.js'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import * as Y from 'yjs'
import { encodeBlobHeader } from '../../src/p2p/blob-codec.js'
import { chunkUpdate } from '../../src/p2p/sync-codec.js'
import { BlobStore, blobHashOf } from '../../src/p2p/blob-store.js'
import { stateTopic } from '../../src/p2p/swarm-network.js'
import { canonicalJson } from '../../src/state/canonical.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { sha256Hex } from '../../src/util/hash.js'
import { seededRng } from '../../src/util/rng.js'
import { concatUpdates, craftUpdate, sessionOf, signAs } from '../helpers/forge.js'
import { RecordWriter, connectedTo, startHostileNode } from '../helpers/hostile-node.js'
import { startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { waitFor } from '../helpers/wait.js'
import type { Daemon } from '../../src/daemon/daemon.js'
import type { Rejection } from '../../src/p2p/peer-penalties.js'
import type { RecordCounts } from '../../src/state/swarm-state.js'
import type { SyncFrame } from '../../src/p2p/sync-codec.js'
import type { StoredRecord } from '../../src/state/records.js'
import type { HostileNode } from '../helpers/hostile-node.js'

const SWARM = 'hostile-test'
/** Gossipsub's inbound frame limit on a daemon (src/p2p/libp2p-node.ts). */
const GOSSIP_FRAME_LIMIT = 1024 * 1024

interface Snapshot { digest: string, counts: RecordCounts }

describe('a hostile peer in a swarm of honest daemons', { timeout: 60_000 }, () => {
  let a: Daemon
  let b: Daemon
  let nextTitle = 0
  let nextClient = 0x5eed0000

  /** Both honest daemons hold the same records; returns what they hold. */
  function agreed (): Snapshot {
    const snap = { digest: a.state.contentDigest(), counts: a.state.counts() }
    assert.equal(b.state.contentDigest(), snap.digest, 'the honest daemons disagree')
    assert.deepEqual(b.state.counts(), snap.counts)
    return snap
  }

  function assertUnchanged (before: Snapshot): void {
    for (const d of [a, b]) {
      assert.equal(d.state.contentDigest(), before.digest, 'an attack changed the honest state')
      assert.deepEqual(d.state.counts(), before.counts)
    }
  }

  function rejectionsFrom (d: Daemon, peer: string): Rejection[] {
    return d.network.penalties.recent().filter((r) => r.peer === peer).reverse()
  }

  /** Wait until each honest daemon has refused `n` messages from `peer` in all. */
  async function refusedBy (peer: string, n: number, daemons = [a, b]): Promise<void> {
    await waitFor(() => daemons.every((d) => rejectionsFrom(d, peer).length >= n), { timeoutMs: 10_000, what: `${n} refusals of ${peer}` })
  }

  function faultsOf (d: Daemon, peer: string): string[] {
    return rejectionsFrom(d, peer).map((r) => `${r.channel}:${r.verdict}:${r.fault}`)
  }

  /** Publish each update and wait for both daemons to refuse it, so faults come in order. */
  async function publishEach (hostile: HostileNode, updates: Uint8Array[]): Promise<void> {
    const start = rejectionsFrom(a, hostile.peerId).length
    for (const [i, update] of updates.entries()) {
      const recipients = await hostile.publish(update)
      assert.ok(recipients.includes(a.identity.peerId.toString()) && recipients.includes(b.identity.peerId.toString()), 'published to both daemons')
      await refusedBy(hostile.peerId, start + i + 1)
    }
  }

  async function api (d: Daemon, path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(d.apiUrl + path, { ...init, signal: AbortSignal.timeout(5_000) })
  }

  /** The honest daemons still work: the API answers and a new hypothesis reaches the other daemon. */
  async function assertStillServing (): Promise<void> {
    const title = `after attack ${nextTitle++}`
    for (const d of [a, b]) {
      const status = await api(d, '/api/status')
      assert.equal(status.status, 200)
      assert.deepEqual(((await status.json()) as { counts: RecordCounts }).counts, d.state.counts())
    }
    const token = (await readFile(a.paths.apiToken, 'utf8')).trim()
    const posted = await api(a, '/api/hypotheses', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title, text: 'honest work goes on' })
    })
    assert.equal(posted.status, 201)
    await waitFor(async () => {
      const res = await api(b, '/api/hypotheses')
      return ((await res.json()) as { hypotheses: Array<{ title: string }> }).hypotheses.some((h) => h.title === title)
    }, { timeoutMs: 10_000, what: 'an honest hypothesis to propagate after the attack' })
    const back = await b.state.append('hypothesis', { title: `${title} (reply)`, text: '' })
    await waitFor(() => a.state.get('hypothesis', back.key) !== undefined, { timeoutMs: 10_000, what: 'the reply to propagate' })
    agreed()
  }

  /** Honest A's session: its bound client, that binding and one of its hypotheses. */
  function honestA (): { client: number, binding: StoredRecord, hypothesis: StoredRecord } {
    const author = a.identity.peerId.toString()
    const binding = a.state.list('binding').find((r) => r.record.author === author)!
    const hypothesis = a.state.list('hypothesis').find((r) => r.record.author === author)!
    return { client: binding.record.slot.client, binding, hypothesis }
  }

  async function withHostile (run: (hostile: HostileNode) => Promise<void>): Promise<void> {
    const hostile = await startHostileNode(a.research.swarmKey)
    const totals = [a, b].map((d) => d.network.penalties.totals.reject)
    try {
      await run(hostile)
      // Refused even once, on any channel, the attacker ends with a negative score there, or cut off.
      for (const d of [a, b]) {
        if (!rejectionsFrom(d, hostile.peerId).some((r) => r.verdict === 'reject')) continue
        await waitFor(() => d.network.gossipScore(hostile.peerId) < 0 || !connectedTo(d, hostile.peerId), { timeoutMs: 5_000, what: 'the attacker to score below zero or be cut off' })
      }
    } finally {
      await hostile.stop()
    }
    // Every reject the daemons counted meanwhile is this attacker's, and each one was counted.
    for (const [i, d] of [a, b].entries()) {
      const fromHostile = rejectionsFrom(d, hostile.peerId).filter((r) => r.verdict === 'reject').length
      assert.equal(d.network.penalties.totals.reject - totals[i]!, fromHostile)
    }
  }

  before(async () => {
    // No anti-entropy during the suite: a stray pull of the hostile node would interleave
    // with the scripted sync answers; connect-time pulls and gossip are what is under test.
    a = await startInProcessDaemon({ swarm: SWARM, antiEntropyMs: 10 * 60_000 })
    b = await startInProcessDaemon({ swarm: SWARM, antiEntropyMs: 10 * 60_000 })
    await a.state.append('hypothesis', { title: 'honest A one', text: 'wider MLP' })
    await a.state.append('hypothesis', { title: 'honest A two', text: 'lower LR', priority: 3 })
    await b.state.append('hypothesis', { title: 'honest B one', text: 'RoPE base 50k' })
    // Sync on connect carries what each wrote alone.
    await b.network.connect(a.listenAddrs()[0]!)
    await waitFor(() => a.state.counts().hypothesis === 3 && b.state.counts().hypothesis === 3, { what: 'the honest daemons to converge' })
    const topic = stateTopic(a.research.swarmKey)
    const lists = (d: Daemon, other: Daemon): boolean => d.network.libp2p.services.pubsub.getSubscribers(topic).some((p) => p.equals(other.identity.peerId))
    await waitFor(() => lists(a, b) && lists(b, a), { what: 'the honest daemons to share the state topic' })
    agreed()
  })

  after(async () => {
    await stopAndRemove(a, b)
  })

  it('refuses forged signatures on gossip', async () => {
    await withHostile(async (hostile) => {
      await hostile.join([a, b])
      const base = agreed()
      const victim = a.identity.peerId.toString()
      const { hypothesis } = honestA()
      const client = nextClient++

      // Signed by the attacker's key, but naming honest A as author.
      const mine = await signAs(hostile.identity, 'hypothesis', { title: 'A says: delete the baseline', text: '' }, { client, clock: 0 })
      const forged = canonicalJson({ ...mine.record, author: victim })
      // A forged binding would let every later write from this client pass as A's.
      const mineBinding = await signAs(hostile.identity, 'binding', { clientId: client, session: sessionOf(hostile.identity, 0).session }, { client, clock: 0 })
      const forgedBinding = canonicalJson({ ...mineBinding.record, author: victim })
      // A's real record with its body changed and its signature kept.
      const tampered = canonicalJson({ ...hypothesis.record, body: { ...(hypothesis.record.body as object), title: 'tampered' } })

      await publishEach(hostile, [
        craftUpdate(client, [{ map: 'hypotheses', key: `${victim}/${sha256Hex(forged)}`, value: forged }]),
        craftUpdate(client, [{ map: 'bindings', key: `${victim}/${sha256Hex(forgedBinding)}`, value: forgedBinding }]),
        craftUpdate(hypothesis.record.slot.client, [{ map: 'hypotheses', key: `${victim}/${sha256Hex(tampered)}`, value: tampered }], await hostile.pullState(a))
      ])
      for (const d of [a, b]) assert.deepEqual(faultsOf(d, hostile.peerId), Array(3).fill('gossip:reject:RECORD_BAD_SIGNATURE'))
      assertUnchanged(base)
      assert.equal(connectedTo(a, hostile.peerId), true, 'three strikes are below the limit')
    })
    await assertStillServing()
  })

  it('refuses a client repeated inside one update (its second run after a gap): no pending structs, and a newcomer still converges', async () => {
    await withHostile(async (hostile) => {
      await hostile.join([a, b])
      const base = agreed()
      // The attacker's own client: its binding and a record at clocks 0-1, then (clock 2 left out) a record at 3, in one message.
      const { writer, binding } = await RecordWriter.open(hostile.identity, nextClient++)
      const first = await writer.write('hypothesis', { title: 'an idea', text: '' })
      await writer.write('hypothesis', { title: 'left out', text: '' })
      const afterGap = await writer.write('hypothesis', { title: 'after the gap', text: '' })
      const opening = Y.mergeUpdates([binding, first.update])
      await publishEach(hostile, [concatUpdates(opening, afterGap.update)])
      for (const d of [a, b]) {
        assert.deepEqual(faultsOf(d, hostile.peerId), ['gossip:reject:UPDATE_NOT_CONTIGUOUS'])
        assert.equal(d.state.doc.store.pendingStructs, null, 'no pending structs')
      }
      assertUnchanged(base)
    })
    // A newcomer joining afterwards takes every honest record from the daemon it meets.
    const newcomer = await startInProcessDaemon({ swarm: SWARM, antiEntropyMs: 10 * 60_000 })
    try {
      await newcomer.network.connect(a.listenAddrs()[0]!)
      await waitFor(() => newcomer.state.contentDigest() === a.state.contentDigest(), { timeoutMs: 10_000, what: () => `the newcomer to converge (${JSON.stringify(newcomer.state.counts())} of ${JSON.stringify(a.state.counts())})` })
      assert.deepEqual(faultsOf(newcomer, a.identity.peerId.toString()), [], 'the newcomer refused nothing of the honest daemon')
    } finally {
      await stopAndRemove(newcomer)
    }
    await assertStillServing()
  })

  it('refuses writes under another author\'s key or client', async () => {
    await withHostile(async (hostile) => {
      await hostile.join([a, b])
      const base = agreed()
      const victim = a.identity.peerId.toString()
      const { client: victimClient } = honestA()
      const honestState = await hostile.pullState(b)
      const doc = new Y.Doc()
      Y.applyUpdate(doc, honestState)
      const next = Y.getState(doc.store, victimClient)
      const client = nextClient++

      // Validly signed by the attacker, filed under A's key.
      const mine = await signAs(hostile.identity, 'hypothesis', { title: 'squatting', text: '' }, { client, clock: 0 })
      // Validly signed by the attacker, written with A's bound client (the next free slot).
      const squat = await signAs(hostile.identity, 'hypothesis', { title: 'in A\'s session', text: '' }, { client: victimClient, clock: next })
      // The attacker's own binding, claiming A's client for itself (an id not derived from its key).
      const rebind = await signAs(hostile.identity, 'binding', { clientId: victimClient, session: sessionOf(hostile.identity, 0).session }, { client: victimClient, clock: 0 })

      await publishEach(hostile, [
        craftUpdate(client, [{ map: 'hypotheses', key: `${victim}/${mine.id}`, value: mine.text }]),
        craftUpdate(victimClient, [{ map: 'hypotheses', key: squat.key, value: squat.text }], honestState),
        craftUpdate(victimClient, [{ map: 'bindings', key: rebind.key, value: rebind.text }])
      ])
      for (const d of [a, b]) {
        // The record in A's session is the attacker's own signature: the signer pays, and here the signer is the link.
        assert.deepEqual(faultsOf(d, hostile.peerId), [
          'gossip:reject:RECORD_KEY_MISMATCH',
          'gossip:reject:CLIENT_AUTHOR_MISMATCH',
          'gossip:reject:CLIENT_ID_NOT_DERIVED'
        ])
      }
      assertUnchanged(base)
    })
    await assertStillServing()
  })

  it('refuses updates that delete or overwrite an honest entry', async () => {
    await withHostile(async (hostile) => {
      await hostile.join([a, b])
      const base = agreed()
      const honestState = await hostile.pullState(a)
      const { hypothesis } = honestA()
      const replacement = await signAs(hostile.identity, 'hypothesis', { title: 'overwritten', text: '' }, { client: 1, clock: 0 })

      const deletion = craftUpdate(nextClient++, (doc) => { doc.getMap('hypotheses').delete(hypothesis.key) }, honestState)

      const doc = new Y.Doc({ gc: false })
      Y.applyUpdate(doc, honestState)
      doc.clientID = nextClient++
      const sv = Y.encodeStateVector(doc)
      doc.getMap('hypotheses').set(hypothesis.key, replacement.text)
      const overwrite = Y.encodeStateAsUpdate(doc, sv)
      // The same overwrite with its delete set cut off: only the struct's origin gives it away.
      const deleteSet = Y.encodeStateAsUpdate(doc, Y.encodeStateVector(doc)).subarray(1)
      assert.deepEqual(overwrite.subarray(overwrite.byteLength - deleteSet.byteLength), deleteSet)
      const bare = new Uint8Array(overwrite.byteLength - deleteSet.byteLength + 1)
      bare.set(overwrite.subarray(0, overwrite.byteLength - deleteSet.byteLength))
      const decoded = Y.decodeUpdate(bare)
      assert.equal(decoded.ds.clients.size, 0)
      assert.equal(decoded.structs.length, 1)

      await publishEach(hostile, [deletion, overwrite, bare])
      for (const d of [a, b]) {
        assert.deepEqual(faultsOf(d, hostile.peerId), [
          'gossip:reject:UPDATE_HAS_DELETES',
          'gossip:reject:UPDATE_HAS_DELETES',
          'gossip:reject:STRUCT_OVERWRITE'
        ])
        assert.equal(d.state.get('hypothesis', hypothesis.key)?.text, hypothesis.text)
      }
      assertUnchanged(base)
    })
    await assertStillServing()
  })

  it('refuses garbage bytes', async () => {
    await withHostile(async (hostile) => {
      await hostile.join([a, b])
      const base = agreed()
      const rng = seededRng(7)
      const noise = Uint8Array.from({ length: 4096 }, () => rng.int(256))
      const honestState = await hostile.pullState(a)
      const truncated = honestState.slice(0, Math.floor(honestState.byteLength / 2))
      const text = new TextEncoder().encode('this is not a yjs update, just hostile bytes')
      for (const bytes of [noise, truncated, text]) assert.throws(() => Y.decodeUpdate(bytes), 'the garbage must not decode')

      await publishEach(hostile, [noise, truncated, text])
      for (const d of [a, b]) assert.deepEqual(faultsOf(d, hostile.peerId), Array(3).fill('gossip:reject:UPDATE_MALFORMED'))
      assertUnchanged(base)
    })
    await assertStillServing()
  })

  it('refuses a near-limit update of many bad structs, and an update over gossipsub\'s frame limit never arrives', async () => {
    await withHostile(async (hostile) => {
      await hostile.join([a, b])
      const base = agreed()
      const accepted = [a.network.gossip.stats.accepted, b.network.gossip.stats.accepted]
      const client = nextClient++

      // Many small entries that are not records: each costs the decoder, none may land.
      const manyBad = (count: number): Uint8Array => craftUpdate(client, (doc) => {
        const map = doc.getMap('hypotheses')
        // Fixed-width keys and one value keep the size linear in the count.
        for (let i = 0; i < count; i++) map.set(`${hostile.peerId}/${String(i).padStart(7, '0')}`, 0)
      })
      const probe = manyBad(1000)
      // Leave 8 KiB for the gossipsub envelope (from, seqno, topic, signature, framing).
      const count = Math.floor(1000 * (GOSSIP_FRAME_LIMIT - 8 * 1024) / probe.byteLength)
      const nearLimit = manyBad(count)
      assert.ok(nearLimit.byteLength < GOSSIP_FRAME_LIMIT - 4 * 1024 && nearLimit.byteLength > GOSSIP_FRAME_LIMIT - 64 * 1024, `near-limit update is ${nearLimit.byteLength} bytes`)
      await publishEach(hostile, [nearLimit])
      // Tens of thousands of entries are more records than a link's whole budget (budgets count
      // records): refused before a single one is parsed or its signature checked.
      for (const d of [a, b]) assert.deepEqual(faultsOf(d, hostile.peerId), ['gossip:ignore:RATE_LIMITED_LINK'])
      // Under the budget, the same kind of update meets the validator, which refuses its first entry.
      await publishEach(hostile, [manyBad(100)])
      for (const d of [a, b]) assert.deepEqual(faultsOf(d, hostile.peerId), ['gossip:ignore:RATE_LIMITED_LINK', 'gossip:reject:STRUCT_BAD_CONTENT'])

      const oversized = manyBad(Math.ceil(count * 1.5))
      assert.ok(oversized.byteLength > GOSSIP_FRAME_LIMIT)
      const subscribed = (d: Daemon): boolean => d.network.libp2p.services.pubsub.getSubscribers(hostile.topic).some((p) => p.toString() === hostile.peerId)
      assert.ok(subscribed(a) && subscribed(b), 'a rejected message does not cost the gossip stream')
      await hostile.publish(oversized)
      // Gossipsub refuses the frame before any validator runs and drops the sender's stream.
      await waitFor(() => !subscribed(a) && !subscribed(b), { timeoutMs: 10_000, what: 'the daemons to drop the oversized sender\'s gossip stream' })
      for (const d of [a, b]) assert.equal(faultsOf(d, hostile.peerId).length, 2, 'the oversized update never reached the validator')
      assert.deepEqual([a.network.gossip.stats.accepted, b.network.gossip.stats.accepted], accepted)
      assertUnchanged(base)
    })
    await assertStillServing()
  })

  it('refuses a valid record replayed at another slot; an exact replay is harmless', async () => {
    await withHostile(async (hostile) => {
      await hostile.join([a, b])
      const base = agreed()
      const { binding, hypothesis } = honestA()
      const accepted = [a.network.gossip.stats.accepted, b.network.gossip.stats.accepted]

      // The exact honest state, re-sent: every struct already held with the same text.
      await hostile.publish(await hostile.pullState(a))
      await waitFor(() => a.network.gossip.stats.accepted > accepted[0]! && b.network.gossip.stats.accepted > accepted[1]!, { timeoutMs: 10_000, what: 'the exact replay to be accepted as a duplicate' })
      assert.equal(faultsOf(a, hostile.peerId).length, 0)
      assertUnchanged(base)

      await publishEach(hostile, [
        // A's record under its own (correct) key, but from the attacker's client.
        craftUpdate(nextClient++, [{ map: 'hypotheses', key: hypothesis.key, value: hypothesis.text }]),
        // A's binding and record together, replayed as a fresh session of another client.
        craftUpdate(nextClient++, [{ map: 'bindings', key: binding.key, value: binding.text }, { map: 'hypotheses', key: hypothesis.key, value: hypothesis.text }])
      ])
      for (const d of [a, b]) assert.deepEqual(faultsOf(d, hostile.peerId), Array(2).fill('gossip:reject:RECORD_SLOT_MISMATCH'))
      assertUnchanged(base)
    })
    await assertStillServing()
  })

  it('refuses bad updates served over sync when an honest daemon pulls', async () => {
    await withHostile(async (hostile) => {
      const victim = a.identity.peerId.toString()
      const client = nextClient++
      const mine = await signAs(hostile.identity, 'hypothesis', { title: 'pulled forgery', text: '' }, { client, clock: 0 })
      const forged = canonicalJson({ ...mine.record, author: victim })
      const forgedUpdate = craftUpdate(client, [{ map: 'hypotheses', key: `${victim}/${sha256Hex(forged)}`, value: forged }])
      const { hypothesis } = honestA()
      const honestState = Y.encodeStateAsUpdate(a.state.doc)
      const deletion = craftUpdate(nextClient++, (doc) => { doc.getMap('hypotheses').delete(hypothesis.key) }, honestState)
      let serving: Array<SyncFrame | Uint8Array> = [...chunkUpdate(forgedUpdate), { type: 'done' as const }]
      // Daemons pull on their own (on connect, and again once the peer is seen on the topic),
      // so the attacker serves whatever the current step says, to every pull.
      await hostile.serveSync(() => serving)

      const base = agreed()
      // Connecting is enough: a daemon pulls from every new peer.
      await hostile.join([a])
      await waitFor(() => faultsOf(a, hostile.peerId).includes('sync:reject:RECORD_BAD_SIGNATURE'), { what: 'the forged update refused on the automatic pull' })
      serving = [...chunkUpdate(deletion), { type: 'done' as const }]
      await a.network.sync.pull(hostile.libp2p.peerId)
      assert.ok(faultsOf(a, hostile.peerId).includes('sync:reject:UPDATE_HAS_DELETES'))
      // A frame of an unknown type.
      serving = [Uint8Array.of(0x7f, 1, 2, 3)]
      await assert.rejects(a.network.sync.pull(hostile.libp2p.peerId))
      assert.ok(faultsOf(a, hostile.peerId).includes('sync:reject:SYNC_MALFORMED'))
      assert.deepEqual([...new Set(faultsOf(a, hostile.peerId))].sort(), [
        'sync:reject:RECORD_BAD_SIGNATURE',
        'sync:reject:SYNC_MALFORMED',
        'sync:reject:UPDATE_HAS_DELETES'
      ])
      assertUnchanged(base)
    })
    await assertStillServing()
  })

  it('refuses blob bytes that do not match the requested hash, and stores nothing', async () => {
    await withHostile(async (hostile) => {
      const wanted = new TextEncoder().encode('print("the real train.py")\n')
      const hash = blobHashOf(wanted)
      const lie = new TextEncoder().encode('import os; os.system("rm -rf ~")\n')
      let served = 0
      await hostile.serveBlob(() => {
        served++
        return served === 1
          ? [encodeBlobHeader({ status: 'found', size: lie.byteLength }), lie]
          : [encodeBlobHeader({ status: 'found', size: wanted.byteLength }), lie] // more bytes than announced
      })
      await hostile.join([a])
      const store = new BlobStore(a.paths.blobs)
      for (let i = 0; i < 2; i++) {
        await assert.rejects(a.network.blobs.fetchFrom(hostile.libp2p.peerId, hash), (err) => isSwarmdError(err, 'BLOB_HASH_MISMATCH'))
      }
      assert.equal(served, 2)
      assert.equal(await store.has(hash), false)
      assert.equal(await store.has(blobHashOf(lie)), false)
      assert.deepEqual(faultsOf(a, hostile.peerId), Array(2).fill('blob:reject:BLOB_HASH_MISMATCH'))
    })
    await assertStillServing()
  })

  it('disconnects and blocks a peer after strikeLimit rejects', async () => {
    await withHostile(async (hostile) => {
      await hostile.join([a, b])
      const base = agreed()
      const victim = a.identity.peerId.toString()
      const totals = [a.network.penalties.totals.reject, b.network.penalties.totals.reject]
      const limit = a.config.strikeLimit
      assert.equal(limit, 5)
      const forgeries: Uint8Array[] = []
      for (let i = 0; i < limit; i++) {
        const client = nextClient++
        const mine = await signAs(hostile.identity, 'hypothesis', { title: `forgery ${i}`, text: '' }, { client, clock: 0 })
        const forged = canonicalJson({ ...mine.record, author: victim })
        forgeries.push(craftUpdate(client, [{ map: 'hypotheses', key: `${victim}/${sha256Hex(forged)}`, value: forged }]))
      }
      await publishEach(hostile, forgeries.slice(0, -1))
      for (const d of [a, b]) {
        assert.equal(connectedTo(d, hostile.peerId), true, 'still connected below the limit')
        assert.equal(d.network.penalties.isBlocked(hostile.peerId), false)
      }
      await publishEach(hostile, forgeries.slice(-1))

      for (const d of [a, b]) assert.deepEqual(faultsOf(d, hostile.peerId), Array(limit).fill('gossip:reject:RECORD_BAD_SIGNATURE'))
      assert.deepEqual([a.network.penalties.totals.reject - totals[0]!, b.network.penalties.totals.reject - totals[1]!], [limit, limit])
      for (const d of [a, b]) assert.ok(d.network.penalties.blocked().includes(hostile.peerId))
      await waitFor(() => !connectedTo(a, hostile.peerId) && !connectedTo(b, hostile.peerId) && hostile.libp2p.getConnections().length === 0, { timeoutMs: 10_000, what: 'the daemons to hang up on the attacker' })

      // Blocked both ways: it cannot come back, and the daemons do not dial it either.
      await hostile.libp2p.dial(a.network.libp2p.peerId, { signal: AbortSignal.timeout(5_000) }).catch(() => {})
      await waitFor(() => !connectedTo(a, hostile.peerId) && hostile.libp2p.getConnections(a.network.libp2p.peerId).length === 0, { timeoutMs: 5_000, what: 'the redial to be refused' })
      await assert.rejects(a.network.libp2p.dial(hostile.libp2p.peerId, { signal: AbortSignal.timeout(5_000) }))
      assertUnchanged(base)
    })
    await assertStillServing()
  })
})
