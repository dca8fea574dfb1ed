import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { stateTopic } from '../../src/p2p/swarm-network.js'
import { startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { waitFor } from '../helpers/wait.js'
import type { Daemon } from '../../src/daemon/daemon.js'

describe('dead gossip links are rebuilt', { timeout: 120_000 }, () => {
  const daemons: Daemon[] = []
  after(async () => { await stopAndRemove(...daemons) })

  it('a peer whose gossip streams died while the connection stayed up gets a live link back', async () => {
    // No anti-entropy within the test: what arrives must come by gossip or a new connection's sync.
    const quiet = { antiEntropyMs: 10 * 60_000 }
    const a = await startInProcessDaemon(quiet)
    daemons.push(a)
    const b = await startInProcessDaemon({ ...quiet, bootstrap: [a.listenAddrs()[0]!] })
    daemons.push(b)
    const topic = stateTopic(a.research.swarmKey)
    const onTopic = (d: Daemon, other: Daemon): boolean => d.network.libp2p.services.pubsub.getSubscribers(topic).some((p) => p.equals(other.identity.peerId))
    await waitFor(() => onTopic(a, b) && onTopic(b, a), { what: 'the gossip link', timeoutMs: 20_000 })

    // One gossip frame over A's inbound limit (as a large IWANT reply can be): gossipsub on A
    // drops B's stream, and the TCP connection stays up.
    await b.network.libp2p.services.pubsub.publish(topic, new Uint8Array(1536 * 1024))
    await waitFor(() => !onTopic(a, b), { what: 'A to lose B from the topic', timeoutMs: 10_000 })
    assert.equal(a.network.libp2p.getConnections(b.identity.peerId).length > 0, true, 'still connected: a dead link nobody notices')

    const live = await b.state.append('hypothesis', { title: 'written on a dead link', text: '' })
    await waitFor(() => a.state.get('hypothesis', live.key) !== undefined, { what: 'the record on A', timeoutMs: 40_000, intervalMs: 100 })
    // Usually the watchdog rebuilt the link (counted in gossipRepairs); sometimes the sender
    // reopens its stream first. Either way the records flow again, which is what matters.
    await waitFor(() => onTopic(a, b) && onTopic(b, a), { what: 'the gossip link back', timeoutMs: 20_000 })
    const next = await b.state.append('hypothesis', { title: 'live again', text: '' })
    await waitFor(() => a.state.get('hypothesis', next.key) !== undefined, { what: 'a live record by gossip', timeoutMs: 5_000, intervalMs: 20 })
  })
})
