import '../../src/util/polyfill.js'
import { SwarmState } from '../../src/state/swarm-state.js'
import { MemoryUpdateStore } from '../../src/state/update-store.js'
import { generateIdentity } from '../../src/p2p/identity.js'
import { ManualClock } from '../../src/util/clock.js'
import { seededRng } from '../../src/util/rng.js'
import type { UpdateStore } from '../../src/state/update-store.js'
import type { SwarmStateInit } from '../../src/state/swarm-state.js'
import type { Identity } from '../../src/p2p/identity.js'

export interface Replica {
  state: SwarmState
  identity: Identity
  store: UpdateStore
  clock: ManualClock
}

/** A started in-memory replica with its own identity, for deterministic state tests. */
export async function makeReplica (opts: { seed?: number, clock?: ManualClock, store?: UpdateStore, identity?: Identity, init?: SwarmStateInit } = {}): Promise<Replica> {
  const identity = opts.identity ?? await generateIdentity()
  const store = opts.store ?? new MemoryUpdateStore()
  const clock = opts.clock ?? new ManualClock()
  const state = new SwarmState({ store, privateKey: identity.privateKey, peerId: identity.peerId.toString(), clock, rng: seededRng(opts.seed ?? 1) }, opts.init)
  await state.start()
  return { state, identity, store, clock }
}
