import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { blobCid, blobHashOf } from '../../src/p2p/blob-store.js'
import { startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { waitFor } from '../helpers/wait.js'
import type { Daemon } from '../../src/daemon/daemon.js'

describe('blobs located through kad-dht', () => {
  const daemons: Daemon[] = []
  after(async () => { await stopAndRemove(...daemons) })

  it('a daemon fetches a blob from a provider it was never connected to', async () => {
    const a = await startInProcessDaemon()
    daemons.push(a)
    const b = await startInProcessDaemon({ bootstrap: [a.listenAddrs()[0]!] })
    daemons.push(b)
    const c = await startInProcessDaemon({ bootstrap: [b.listenAddrs()[0]!] })
    daemons.push(c)
    const aId = a.identity.peerId.toString()
    await waitFor(() => c.network.libp2p.getPeers().length > 0 && b.network.libp2p.getPeers().length >= 2, { what: 'a line A-B-C', timeoutMs: 30_000 })
    // Keep C away from A so the only way to find A is the DHT.
    await c.network.libp2p.hangUp(a.identity.peerId).catch(() => {})
    assert.ok(!c.network.libp2p.getPeers().some((p) => p.toString() === aId))

    const bytes = new TextEncoder().encode('# train.py\nLR = 0.04\n'.repeat(1000))
    const hash = await a.network.blobs.add(bytes)
    assert.equal(hash, blobHashOf(bytes))
    // The provider record lands at B (A's only DHT neighbour) in the background.
    await waitFor(async () => {
      for await (const p of b.network.libp2p.contentRouting.findProviders(blobCid(hash), { signal: AbortSignal.timeout(2000) })) {
        if (p.id.toString() === aId) return true
      }
      return false
    }, { what: 'provider record at B', timeoutMs: 30_000, intervalMs: 250 })

    const fetched = await c.network.blobs.get(hash, { signal: AbortSignal.timeout(30_000) })
    assert.deepEqual(new Uint8Array(fetched), bytes)
    assert.deepEqual(new Uint8Array((await c.network.blobs.get(hash))!), bytes, 'kept locally after the fetch')
    assert.equal(await b.network.blobs.get(hash).then(() => 'found', () => 'missing'), 'found', 'B fetches through the swarm too')

    // Stored again (the loop, then the publisher): not announced again; a log is not announced at all.
    await a.network.blobs.add(bytes)
    await a.network.blobs.add(new TextEncoder().encode('step 10 loss 2.1\n'), { announce: false })
    await a.network.blobs.announcer.idle()
    assert.equal(a.network.blobs.announcer.provided, 1)
  })
})
