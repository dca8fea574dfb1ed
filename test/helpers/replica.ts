import '../../src/util/polyfill.js'
import assert from 'node:assert/strict'
import { SwarmState } from '../../src/state/swarm-state.js'
import { MemoryUpdateStore } from '../../src/state/update-store.js'
import { generateIdentity } from '../../src/p2p/identity.js'
import { ManualClock } from '../../src/util/clock.js'
import { seededRng } from '../../src/util/rng.js'
import { sha256Hex } from '../../src/util/hash.js'
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
export async function makeReplica (opts: { seed?: number, clock?: ManualClock, store?: UpdateStore, identity?: Identity, init?: SwarmStateInit, exemptFromQuota?: (author: string) => boolean } = {}): Promise<Replica> {
  const identity = opts.identity ?? await generateIdentity()
  const store = opts.store ?? new MemoryUpdateStore()
  const clock = opts.clock ?? new ManualClock()
  const state = new SwarmState({ store, privateKey: identity.privateKey, peerId: identity.peerId.toString(), clock, rng: seededRng(opts.seed ?? 1), ...(opts.exemptFromQuota !== undefined ? { exemptFromQuota: opts.exemptFromQuota } : {}) }, opts.init)
  await state.start()
  return { state, identity, store, clock }
}

/** Every update `to` lacks from `from`, as a sync pull would deliver it; each must be accepted. */
export async function deliver (from: Replica, to: Replica): Promise<void> {
  for (const update of from.state.diffsFor(to.state.encodeStateVector())) {
    const outcome = await to.state.applyRemote(update)
    assert.equal(outcome.verdict, 'accept', outcome.message)
  }
}

/** A peer publishes a finished experiment (cpu, 10 steps, harness `h1`) claiming `valBpb` for `source`, true or not. */
export async function publishAs (peer: Replica, source: string, valBpb: number, description: string): Promise<string> {
  const codeHash = sha256Hex(Buffer.from(source))
  const claim = await peer.state.append('claim', { description, parent: null, codeHash, delta: [], tier: 'cpu', ttlMs: 60_000 })
  const metrics = { val_bpb: valBpb, training_seconds: 1, total_seconds: 1.5, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 0.1, num_steps: 10, num_params_M: 0.1, depth: 2 }
  const result = await peer.state.append('result', {
    claimId: claim.id, parent: null, codeHash, logHash: sha256Hex(Buffer.from('log')), description, delta: [], status: 'keep', metrics, crash: null,
    hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: 'h1', maxSteps: 10
  })
  return result.id
}
