import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock } from '../../src/util/clock.js'
import { seededRng } from '../../src/util/rng.js'
import { makeReplica } from '../helpers/replica.js'
import type { Replica } from '../helpers/replica.js'
import type { Rng } from '../../src/util/rng.js'

interface Message { from: number, to: number, update: Uint8Array }

/**
 * Yjs-style convergence: replicas write, gossip is delivered in a seeded random order,
 * links drop and come back (dropping what was in flight), anti-entropy syncs run at
 * random; in the end every replica holds exactly the same records.
 */
async function runScenario (seed: number, replicaCount: number, steps: number): Promise<void> {
  const rng: Rng = seededRng(seed)
  const clock = new ManualClock()
  const replicas: Replica[] = []
  for (let i = 0; i < replicaCount; i++) replicas.push(await makeReplica({ seed: seed * 31 + i, clock }))
  const up = replicas.map(() => replicas.map(() => true))
  const inFlight: Message[] = []
  const written = new Set<string>()
  replicas.forEach((r, from) => {
    r.state.on('local-update', (update) => {
      replicas.forEach((_, to) => { if (to !== from && up[from]![to]) inFlight.push({ from, to, update }) })
    })
  })
  const sync = async (from: number, to: number): Promise<void> => {
    for (const diff of replicas[from]!.state.diffsFor(replicas[to]!.state.encodeStateVector())) {
      const outcome = await replicas[to]!.state.applyRemote(diff)
      assert.equal(outcome.verdict, 'accept', `seed ${seed}: sync ${from}->${to} refused: ${outcome.fault ?? ''}`)
    }
  }

  for (let step = 0; step < steps; step++) {
    clock.advance(rng.int(1000))
    const action = rng.next()
    if (action < 0.35) {
      const who = rng.int(replicaCount)
      const rec = await replicas[who]!.state.append('hypothesis', { title: `idea ${seed}/${step}`, text: `from ${who}` })
      written.add(rec.key)
    } else if (action < 0.75 && inFlight.length > 0) {
      const msg = inFlight.splice(rng.int(inFlight.length), 1)[0]!
      if (!up[msg.from]![msg.to]) continue
      const outcome = await replicas[msg.to]!.state.applyRemote(msg.update)
      // Out-of-order gossip may arrive before its client's binding: ignored, never rejected.
      assert.notEqual(outcome.verdict, 'reject', `seed ${seed}: honest gossip rejected: ${outcome.fault ?? ''}`)
    } else if (action < 0.88) {
      const a = rng.int(replicaCount)
      const b = rng.int(replicaCount)
      if (a === b) continue
      const now = !up[a]![b]
      up[a]![b] = now
      up[b]![a] = now
      if (!now) for (let i = inFlight.length - 1; i >= 0; i--) if ((inFlight[i]!.from === a && inFlight[i]!.to === b) || (inFlight[i]!.from === b && inFlight[i]!.to === a)) inFlight.splice(i, 1)
    } else {
      const a = rng.int(replicaCount)
      const b = rng.int(replicaCount)
      if (a !== b && up[a]![b]) await sync(a, b)
    }
  }

  // Heal: everyone reconnects and anti-entropy runs until quiet.
  for (let round = 0; round < 2; round++) {
    for (let a = 0; a < replicaCount; a++) for (let b = 0; b < replicaCount; b++) if (a !== b) await sync(a, b)
  }
  const digests = replicas.map((r) => r.state.contentDigest())
  assert.equal(new Set(digests).size, 1, `seed ${seed}: replicas diverged`)
  for (const r of replicas) {
    assert.deepEqual(new Set(r.state.list('hypothesis').map((x) => x.key)), written, `seed ${seed}: records lost or invented`)
    assert.equal(r.state.doc.store.pendingStructs, null, `seed ${seed}: pending structs left`)
  }
}

describe('convergence (seeded random delivery and disconnects)', () => {
  const base = Number(process.env.SWARMD_TEST_SEED ?? 1)
  for (const seed of [base, base + 1, base + 2, base + 3, base + 4]) {
    it(`4 replicas converge to identical state, seed ${seed}`, async () => {
      await runScenario(seed, 4, 300)
    })
  }
  it('3 replicas converge under a long partition, seed 99', async () => {
    await runScenario(99, 3, 600)
  })
})
