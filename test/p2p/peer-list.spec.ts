import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { generateIdentity } from '../../src/p2p/identity.js'
import { peerList } from '../../src/p2p/peer-list.js'
import type { ConnectionPath } from '../../src/p2p/reachability.js'
import type { Connection, PeerId } from '@libp2p/interface'

/** The parts of a libp2p connection the list reads. */
function connection (remotePeer: PeerId, addr: string, direction: 'inbound' | 'outbound', open: number, rtt?: number): Connection {
  return { remotePeer, remoteAddr: multiaddr(addr), direction, timeline: { open }, ...(rtt !== undefined ? { rtt } : {}) } as unknown as Connection
}

describe('peerList', () => {
  it('lists each peer once, however many connections it holds: the best path (direct first) with its round trip, the oldest opening, the count', async () => {
    const a = (await generateIdentity()).peerId
    const b = (await generateIdentity()).peerId
    const viaRelay = connection(a, '/ip4/10.0.0.1/tcp/4001/p2p-circuit', 'inbound', 1_000, 80)
    const direct = connection(a, '/ip4/192.0.2.7/tcp/4001', 'outbound', 2_000, 12.34)
    const crossed = connection(a, '/ip4/192.0.2.7/tcp/50312', 'inbound', 2_001)
    const other = connection(b, '/ip4/192.0.2.9/tcp/4001', 'inbound', 1_500)
    const paths = new Map<Connection, ConnectionPath>([[viaRelay, 'relayed'], [direct, 'direct'], [crossed, 'direct'], [other, 'hole-punched']])
    const peers = peerList([viaRelay, direct, other, crossed], (c) => paths.get(c)!)
    assert.deepEqual(peers, [
      { peerId: a.toString(), addr: '/ip4/192.0.2.7/tcp/4001', direction: 'outbound', path: 'direct', openedAt: 1_000, connections: 3, latencyMs: 12.3 },
      { peerId: b.toString(), addr: '/ip4/192.0.2.9/tcp/4001', direction: 'inbound', path: 'hole-punched', openedAt: 1_500, connections: 1, latencyMs: null }
    ])
  })
})
