import '../../src/util/polyfill.js'
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { SYNC_PAGE_BYTES } from '../../src/p2p/sync-service.js'
import { connectWithRetry, startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { makeReplica } from '../helpers/replica.js'
import { waitFor } from '../helpers/wait.js'

describe('catching up on more than one sync answer holds', { timeout: 120_000 }, () => {
  it('a joiner that applies slower than the link receives a history larger than its stream buffer (4 MiB) in pages, every pull whole', async () => {
    // 640 records of ~10 KiB: 6.5 MiB, more than libp2p buffers unread on one stream.
    const author = await makeReplica({ seed: 7 })
    for (let i = 0; i < 640; i++) await author.state.append('hypothesis', { title: `idea ${i}`, text: `${i} `.repeat(5_000).slice(0, 9_900) })
    const source = await startInProcessDaemon({ antiEntropyMs: 10 * 60_000 })
    const joiner = await startInProcessDaemon({ antiEntropyMs: 10 * 60_000 })
    try {
      const outcome = await source.state.applyRemote((await import('yjs')).encodeStateAsUpdate(author.state.doc))
      assert.equal(outcome.verdict, 'accept')
      const total = source.state.counts().hypothesis
      // Applying claims and results costs more than sending them: 60 ms per update here, so the
      // link outruns the joiner, as it did for a real joiner of 3,000 results (bench:join).
      const apply = joiner.state.applyRemote.bind(joiner.state)
      joiner.state.applyRemote = async (update) => {
        await sleep(60)
        return apply(update)
      }
      await connectWithRetry(joiner, source)
      await waitFor(() => joiner.state.counts().hypothesis === total, {
        timeoutMs: 60_000,
        what: () => `every record on the joiner (${joiner.state.counts().hypothesis}/${total}; ${JSON.stringify(joiner.network.sync.stats)})`
      })
      const stats = joiner.network.sync.stats
      assert.equal(stats.failedPulls, 0, 'no pull dies of an overflowing stream buffer')
      assert.ok(stats.pulls >= Math.ceil(stats.bytesReceived / (SYNC_PAGE_BYTES + 1024 * 1024)), `${stats.bytesReceived} B came in pages: ${stats.pulls} pulls`)
      assert.equal(joiner.state.contentDigest(), source.state.contentDigest())
    } finally {
      await stopAndRemove(source, joiner)
      await author.state.stop()
    }
  })
})
