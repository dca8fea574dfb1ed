import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { makeReplica } from '../helpers/replica.js'

describe('SwarmState', () => {
  it('replicates a record through a state-vector diff', async () => {
    const a = await makeReplica({ seed: 1 })
    const b = await makeReplica({ seed: 2 })
    const rec = await a.state.append('hypothesis', { title: 'try RoPE', text: 'rotary positions' })
    for (const diff of a.state.diffsFor(b.state.encodeStateVector())) {
      const outcome = await b.state.applyRemote(diff)
      assert.equal(outcome.verdict, 'accept', outcome.message)
    }
    assert.deepEqual(b.state.list('hypothesis').map((r) => r.key), [rec.key])
    assert.equal(b.state.contentDigest(), a.state.contentDigest())
  })

  it('sends a session binding with the first record only', async () => {
    const a = await makeReplica()
    const updates: Uint8Array[] = []
    a.state.on('local-update', (u) => updates.push(u))
    await a.state.append('hypothesis', { title: 'one', text: '' })
    await a.state.append('hypothesis', { title: 'two', text: '' })
    assert.equal(updates.length, 2)
    assert.equal(a.state.counts().binding, 1)
    const b = await makeReplica({ seed: 9 })
    // the second update alone cannot be checked yet: its client is unbound
    assert.equal((await b.state.applyRemote(updates[1]!)).verdict, 'ignore')
    assert.equal((await b.state.applyRemote(updates[0]!)).verdict, 'accept')
    assert.equal((await b.state.applyRemote(updates[1]!)).verdict, 'accept')
    assert.equal(b.state.counts().hypothesis, 2)
  })
})
