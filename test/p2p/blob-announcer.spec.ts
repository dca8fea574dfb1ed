import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { BlobAnnouncer } from '../../src/p2p/blob-announcer.js'

/** A provide that takes a few ms and records what it announced and how many ran at once. */
function recordingProvide (fail: Set<string> = new Set()): { calls: string[], maxAtOnce: number, provide: (hash: string) => Promise<void> } {
  const seen = { calls: [] as string[], maxAtOnce: 0, provide: async (_hash: string) => {} }
  let running = 0
  seen.provide = async (hash: string) => {
    seen.calls.push(hash)
    running++
    seen.maxAtOnce = Math.max(seen.maxAtOnce, running)
    await sleep(5)
    running--
    if (fail.has(hash)) throw new Error('no peers to tell')
  }
  return seen
}

describe('BlobAnnouncer: each blob announced in the DHT once, one query at a time', () => {
  it('announces a hash stored again (the loop, then the publisher) or fetched again only once, in order, never two queries at once', async () => {
    const seen = recordingProvide()
    const announcer = new BlobAnnouncer(seen.provide)
    for (const hash of ['code', 'log', 'code', 'other', 'log', 'code']) announcer.announce(hash)
    await announcer.idle()
    assert.deepEqual(seen.calls, ['code', 'log', 'other'])
    assert.equal(seen.maxAtOnce, 1)
    assert.equal(announcer.provided, 3)
    announcer.announce('code')
    await announcer.idle()
    assert.deepEqual(seen.calls, ['code', 'log', 'other'], 'announced already: not again')
  })

  it('a failed announcement is tried again the next time the blob is stored', async () => {
    const failing = new Set(['lonely'])
    const seen = recordingProvide(failing)
    const announcer = new BlobAnnouncer(seen.provide)
    announcer.announce('lonely')
    await announcer.idle()
    assert.equal(announcer.provided, 0)
    failing.clear()
    announcer.announce('lonely')
    await announcer.idle()
    assert.deepEqual(seen.calls, ['lonely', 'lonely'])
    assert.equal(announcer.provided, 1)
  })

  it('stops: what is queued is dropped and nothing new is announced', async () => {
    const seen = recordingProvide()
    const announcer = new BlobAnnouncer(seen.provide)
    for (const hash of ['a', 'b', 'c']) announcer.announce(hash)
    await announcer.stop()
    announcer.announce('d')
    await announcer.idle()
    assert.deepEqual(seen.calls, ['a'])
  })
})
