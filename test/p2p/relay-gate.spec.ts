import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { RelayGate } from '../../src/p2p/relay-gate.js'
import { ManualClock } from '../../src/util/clock.js'
import type { Libp2p, PeerId } from '@libp2p/interface'

const MEMBER = '/swarmd/test/sync/1'
const MiB = 1024 * 1024
const BUDGETS = { bytesPerConnection: 32 * MiB, bytesPerRangePerHour: 256 * MiB, bytesPerHour: 1024 * MiB }

/** What the gate asks a node: who speaks what (identify's peer store), where a peer connects from, who left. */
function fakeNode (peers: Map<string, { protocols: string[], ip: string }>): Libp2p & { leave(peer: PeerId): void } {
  const events = new EventTarget()
  return {
    addEventListener: events.addEventListener.bind(events),
    leave: (peer: PeerId) => { events.dispatchEvent(new CustomEvent('peer:disconnect', { detail: peer })) },
    peerStore: { get: async (peer: PeerId) => ({ protocols: peers.get(peer.toString())?.protocols ?? [] }) },
    getConnections: (peer: PeerId) => {
      const known = peers.get(peer.toString())
      return known === undefined ? [] : [{ remoteAddr: multiaddr(`/ip4/${known.ip}/tcp/4001`) }]
    }
  } as unknown as Libp2p & { leave(peer: PeerId): void }
}

async function newPeer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

describe('relay gate', () => {
  it('gives slots and relayed connections to swarm members only', async () => {
    const [member, stranger, other] = [await newPeer(), await newPeer(), await newPeer()]
    const peers = new Map([
      [member.toString(), { protocols: ['/ipfs/id/1.0.0', MEMBER], ip: '203.0.113.7' }],
      [stranger.toString(), { protocols: ['/ipfs/id/1.0.0'], ip: '198.51.100.9' }],
      [other.toString(), { protocols: [MEMBER], ip: '192.0.2.1' }]
    ])
    const gate = new RelayGate({ memberProtocol: MEMBER, perRange: 4, slotTtlMs: 60_000, identifyWaitMs: 200, ...BUDGETS })
    gate.attach(fakeNode(peers), new Map())
    assert.equal(await gate.denyReservation(member), false)
    assert.equal(await gate.denyReservation(stranger), true, 'a peer that does not speak the swarm\'s sync protocol gets no slot')
    assert.equal(await gate.denyRelayedConnection(other, member), false)
    assert.equal(await gate.denyRelayedConnection(stranger, member), true, 'a stranger cannot reach a member through the relay')
    assert.equal(await gate.denyRelayedConnection(member, stranger), true, 'nor a member a stranger')
  })

  it('gives one address range a few slots at once, each counted until its ttl, refreshes included', async () => {
    const clock = new ManualClock()
    const sybils = await Promise.all(Array.from({ length: 6 }, newPeer))
    const home = await newPeer()
    const peers = new Map(sybils.map((p, i) => [p.toString(), { protocols: [MEMBER], ip: `198.51.100.${i + 1}` }]))
    peers.set(home.toString(), { protocols: [MEMBER], ip: '203.0.113.7' })
    const gate = new RelayGate({ memberProtocol: MEMBER, perRange: 4, slotTtlMs: 60_000, clock, ...BUDGETS })
    gate.attach(fakeNode(peers), new Map())
    const verdicts = []
    for (const sybil of sybils) verdicts.push(await gate.denyReservation(sybil))
    assert.deepEqual(verdicts, [false, false, false, false, true, true], 'four slots for one /24')
    assert.equal(await gate.denyReservation(sybils[0]!), false, 'a holder refreshes its own slot')
    assert.equal(await gate.denyReservation(home), false, 'another range is not held up')
    clock.advance(60_001)
    assert.equal(await gate.denyReservation(sybils[5]!), false, 'slots past their ttl count no more')
  })

  it('frees a slot when its holder leaves: identities that reserve and hang up hold nothing', async () => {
    const sybils = await Promise.all(Array.from({ length: 5 }, newPeer))
    const peers = new Map(sybils.map((p, i) => [p.toString(), { protocols: [MEMBER], ip: `198.51.100.${i + 1}` }]))
    const gate = new RelayGate({ memberProtocol: MEMBER, perRange: 4, slotTtlMs: 15 * 60_000, ...BUDGETS })
    const node = fakeNode(peers)
    const slots = new Map<string, true>()
    gate.attach(node, { delete: (peer: PeerId) => slots.delete(peer.toString()) })
    for (const sybil of sybils.slice(0, 4)) {
      assert.equal(await gate.denyReservation(sybil), false)
      slots.set(sybil.toString(), true)
    }
    assert.equal(await gate.denyReservation(sybils[4]!), true, 'the range is full')
    node.leave(sybils[0]!)
    assert.equal(slots.has(sybils[0]!.toString()), false, 'the relay\'s own slot is freed')
    assert.equal(await gate.denyReservation(sybils[4]!), false, 'and the range has room again')
  })

  it('budgets relayed bytes per hour, per source address range and in all: fakes that pass for members get a bounded share', async () => {
    const clock = new ManualClock()
    const fakes = await Promise.all(Array.from({ length: 12 }, newPeer))
    const homes = await Promise.all(Array.from({ length: 6 }, newPeer))
    const peers = new Map(fakes.map((p, i) => [p.toString(), { protocols: [MEMBER], ip: `198.51.100.${i + 1}` }]))
    homes.forEach((p, i) => peers.set(p.toString(), { protocols: [MEMBER], ip: `203.0.${113 + i}.7` }))
    const gate = new RelayGate({ memberProtocol: MEMBER, perRange: 4, slotTtlMs: 60_000, clock, bytesPerConnection: 32 * MiB, bytesPerRangePerHour: 128 * MiB, bytesPerHour: 320 * MiB })
    gate.attach(fakeNode(peers), new Map())
    // Fakes in one /24, each a fresh identity, opening connections to one another.
    const verdicts: boolean[] = []
    for (let i = 0; i < 12; i++) verdicts.push(await gate.denyRelayedConnection(fakes[i]!, fakes[(i + 1) % 12]!))
    assert.deepEqual(verdicts.map((denied) => !denied).filter(Boolean).length, 4, 'four connections of 32 MiB fill the range\'s 128 MiB; fresh identities change nothing')
    assert.equal(await gate.denyRelayedConnection(homes[0]!, homes[1]!), false, 'another range still gets through')
    // The relay's whole budget: 320 MiB is ten connections, four already taken.
    const others: boolean[] = []
    for (let i = 0; i < 6; i++) others.push(await gate.denyRelayedConnection(homes[i]!, homes[(i + 1) % 6]!))
    assert.equal(others.filter((denied) => !denied).length, 5, 'ten connections an hour in all')
    // It refills over the hour.
    clock.advance(30 * 60_000)
    assert.equal(await gate.denyRelayedConnection(fakes[0]!, fakes[1]!), false, 'half an hour later half the range\'s budget is back')
    assert.equal(await gate.denyRelayedConnection(fakes[2]!, fakes[3]!), false)
    assert.equal(await gate.denyRelayedConnection(fakes[4]!, fakes[5]!), true)
  })
})
