import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { makeReplica } from '../helpers/replica.js'
import { decodeSyncRequest } from '../../src/state/sync-request.js'
import type { ApplyOutcome } from '../../src/state/swarm-state.js'
import type { Replica } from '../helpers/replica.js'

const QUOTA = 40 * 1024
const SESSIONS = 16

/** A hypothesis of about 8.5 KB: what a flood is made of (any valid record would do). */
const bulky = (i: number): { title: string, text: string } => ({ title: `idea ${i}`, text: `${i} `.repeat(4_000).slice(0, 9_000) })

/** Every update `to` lacks from `from`, applied one by one, with what each came to. */
async function pull (from: Replica, to: Replica): Promise<ApplyOutcome[]> {
  const outcomes: ApplyOutcome[] = []
  for (const update of from.state.diffsFor(to.state.encodeStateVector())) outcomes.push(await to.state.applyRemote(update))
  return outcomes
}

/** One identity writing from `sessions` sessions (a fresh one per pull, as the flood did), `perSession` bulky records each. */
async function flooder (sessions: number, perSession: number): Promise<Replica[]> {
  const first = await makeReplica({ seed: 100 })
  const all = [first]
  for (let s = 1; s < sessions; s++) all.push(await makeReplica({ seed: 100 + s, identity: first.identity }))
  let i = 0
  for (const session of all) for (let r = 0; r < perSession; r++) await session.state.append('hypothesis', bulky(i++))
  return all
}

describe('AuthorQuota: what one author without standing may store on a node', () => {
  it('refuses an author\'s records past its quota, blames the author, not the relay, and stops asking for them; other authors flow', async () => {
    const victim = await makeReplica({ seed: 1, init: { maxBytesPerAuthor: QUOTA } })
    const honest = await makeReplica({ seed: 2 })
    await honest.state.append('hypothesis', { title: 'an honest idea', text: 'lower the learning rate' })
    const sessions = await flooder(8, 2)
    const author = sessions[0]!.identity.peerId.toString()
    const refused: ApplyOutcome[] = []
    for (const session of sessions) refused.push(...(await pull(session, victim)).filter((o) => o.verdict !== 'accept'))
    assert.ok(victim.state.bytesHeldBy(author) <= QUOTA, `held ${victim.state.bytesHeldBy(author)} bytes`)
    assert.ok(victim.state.bytesHeldBy(author) > QUOTA / 2, 'records within the quota are kept')
    assert.ok(refused.length > 0)
    for (const outcome of refused) {
      assert.equal(outcome.fault, 'AUTHOR_OVER_QUOTA')
      assert.equal(outcome.culprit, author, 'the signer is blamed, so an honest relay is neither struck nor left alone')
    }
    // A refused session the victim holds part of is declared complete in sync requests: no peer sends
    // the rest again. One it holds nothing of is not listed (the request stays bounded) and is refused again.
    const request = decodeSyncRequest(victim.state.encodeStateVector())
    let declared = 0
    for (const session of sessions) {
      const client = session.state.doc.clientID
      const again = [...session.state.diffsFor(victim.state.encodeStateVector())]
      if ((request.clocks.get(client) ?? 0) >= 2 ** 32) {
        declared++
        assert.deepEqual(again, [], 'a session the victim holds part of is not sent again')
        assert.equal(request.fingerprints.has(client), false, 'nor compared by fingerprint')
      } else {
        for (const update of again) assert.equal((await victim.state.applyRemote(update)).fault, 'AUTHOR_OVER_QUOTA', 'a session it holds nothing of is refused again')
      }
    }
    assert.ok(declared <= 1, 'at most the session the quota ran out in')
    // A new session of the author is refused too.
    const fresh = await makeReplica({ seed: 200, identity: sessions[0]!.identity })
    await fresh.state.append('hypothesis', bulky(1_000))
    const late = await pull(fresh, victim)
    assert.ok(late.every((o) => o.fault === 'AUTHOR_OVER_QUOTA'), JSON.stringify(late))
    assert.deepEqual((await pull(honest, victim)).map((o) => o.verdict), ['accept'], 'another author is not held up')
  })

  it('holds no quota against an author with standing here, and asks again for what it refused once the author has it', async () => {
    let standing = false
    const victim = await makeReplica({ seed: 1, init: { maxBytesPerAuthor: QUOTA }, exemptFromQuota: () => standing })
    const sessions = await flooder(4, 2)
    const author = sessions[0]!.identity.peerId.toString()
    for (const session of sessions) await pull(session, victim)
    const before = victim.state.bytesHeldBy(author)
    assert.ok(before <= QUOTA)
    standing = true
    for (const session of sessions) assert.ok((await pull(session, victim)).every((o) => o.verdict === 'accept'))
    assert.ok(victim.state.bytesHeldBy(author) > 8 * 8_000, `every record, once its author has standing (${before} bytes before, ${victim.state.bytesHeldBy(author)} after)`)
  })

  it('counts what the doc holds after a restart', async () => {
    const store = (await import('../../src/state/update-store.js')).MemoryUpdateStore
    const disk = new store()
    const victim = await makeReplica({ seed: 1, store: disk, init: { maxBytesPerAuthor: QUOTA } })
    const sessions = await flooder(3, 2)
    const author = sessions[0]!.identity.peerId.toString()
    for (const session of sessions) await pull(session, victim)
    const held = victim.state.bytesHeldBy(author)
    await victim.state.stop()
    const again = await makeReplica({ seed: 3, store: disk, identity: victim.identity, init: { maxBytesPerAuthor: QUOTA } })
    assert.equal(again.state.bytesHeldBy(author), held)
    const more = await makeReplica({ seed: 300, identity: sessions[0]!.identity })
    for (let i = 0; i < 3; i++) await more.state.append('hypothesis', bulky(100 + i))
    assert.ok((await pull(more, again)).some((o) => o.fault === 'AUTHOR_OVER_QUOTA'))
  })

  it('holds an identity to its sessions: more are refused as they come, never listed, and the sync request stays small', async () => {
    const victim = await makeReplica({ seed: 1, init: { maxSessionsPerAuthor: SESSIONS } })
    const first = await makeReplica({ seed: 500 })
    const author = first.identity.peerId.toString()
    const outcomes: ApplyOutcome[] = []
    for (let s = 0; s < SESSIONS + 26; s++) {
      // A session of one small record each (an outside attack sent 90,000 of them).
      const session = s === 0 ? first : await makeReplica({ seed: 500 + s, identity: first.identity })
      await session.state.append('hypothesis', { title: `t${s}`, text: 'x' })
      outcomes.push(...await pull(session, victim))
    }
    assert.equal(outcomes.filter((o) => o.verdict === 'accept').length, SESSIONS)
    for (const o of outcomes.filter((o) => o.verdict !== 'accept')) {
      assert.equal(o.fault, 'AUTHOR_OVER_QUOTA')
      assert.equal(o.culprit, author)
    }
    const request = decodeSyncRequest(victim.state.encodeStateVector())
    assert.equal(request.clocks.size, SESSIONS, 'the held sessions, no refused one')
  })

  it('keeps its sync request within a frame: fingerprints go first, then it says it cannot', async () => {
    const victim = await makeReplica({ seed: 1, exemptFromQuota: () => true })
    const first = await makeReplica({ seed: 700 })
    for (let s = 0; s < 120; s++) {
      const session = s === 0 ? first : await makeReplica({ seed: 700 + s, identity: first.identity })
      await session.state.append('hypothesis', { title: `t${s}`, text: 'x' })
      await pull(session, victim)
    }
    const full = victim.state.encodeStateVector()
    const bare = victim.state.encodeStateVector(full.byteLength - 1)
    assert.ok(bare.byteLength < full.byteLength)
    const decoded = decodeSyncRequest(bare)
    assert.equal(decoded.clocks.size, 120)
    assert.equal(decoded.fingerprints.size, 0)
    assert.throws(() => victim.state.encodeStateVector(100), /SYNC_REQUEST_TOO_LARGE|more than one sync request/)
  })
})
