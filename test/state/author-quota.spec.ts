import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { makeReplica } from '../helpers/replica.js'
import { decodeSyncRequest } from '../../src/state/sync-request.js'
import type { ApplyOutcome } from '../../src/state/swarm-state.js'
import type { Replica } from '../helpers/replica.js'

const QUOTA = 40 * 1024

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
    // The refused sessions are declared complete in sync requests: no peer sends them again.
    const request = decodeSyncRequest(victim.state.encodeStateVector())
    for (const session of sessions) {
      assert.deepEqual([...session.state.diffsFor(victim.state.encodeStateVector())], [], 'a refused session is not sent again')
      assert.equal(request.fingerprints.has(session.state.doc.clientID) && request.clocks.get(session.state.doc.clientID)! > 100, false, 'nor compared by fingerprint')
    }
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
})
