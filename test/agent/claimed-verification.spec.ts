import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { VERIFY_BURST } from '../../src/agent/research-loop.js'
import { ScriptedExperimentRunner } from '../../src/runner/scripted-runner.js'
import type { ManualClock } from '../../src/util/clock.js'
import { TickingClock, grantStanding, memoryBlobs, scriptedNode } from '../helpers/loop-fixture.js'
import type { ScriptedNode } from '../helpers/loop-fixture.js'
import { deliver, makeReplica, publishAs } from '../helpers/replica.js'
import { HARNESS_DIR } from '../helpers/python.js'
import type { Replica } from '../helpers/replica.js'
import type { ResultBody } from '../../src/state/record-kinds.js'

const blobAccess = memoryBlobs()

/** A node's research loop on its replica (scripted runner, quorum 2), a settle window of `settleMs`. */
async function node (replica: Replica, seed: number, settleMs: number, maxExperiments = 1, maxVerifyShare?: number): Promise<ScriptedNode> {
  return await scriptedNode(replica, { seed, blobs: blobAccess, settleMs, maxExperiments, ...(maxVerifyShare !== undefined ? { maxVerifyShare } : {}) })
}

/** Each local update reaches the other replicas after `delayMs`, as gossip does. */
function gossip (replicas: Replica[], delayMs: number): void {
  for (const from of replicas) {
    from.state.on('local-update', (update: Uint8Array) => {
      for (const to of replicas) if (to !== from) setTimeout(() => { void to.state.applyRemote(update) }, delayMs)
    })
  }
}

/** A peer's better result every node holds: the default train.py with WIDTH 96, and its code. */
async function peerResult (replicas: Replica[], clock: ManualClock): Promise<string> {
  const defaultSource = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
  const better = defaultSource.replace(/^WIDTH = \d+/m, 'WIDTH = 96')
  const scripted = await new ScriptedExperimentRunner().run({ id: 'peer', source: better, profile: 'cpu', maxSteps: 10 })
  const peer = await makeReplica({ seed: 99, clock })
  const id = await publishAs(peer, better, scripted.metrics!.val_bpb, 'WIDTH 64 -> 96')
  await blobAccess.add(Buffer.from(better))
  for (const r of replicas) await deliver(peer, r)
  return id
}

const verifiersOf = (replica: Replica, resultId: string): string[] =>
  replica.state.list('verification').filter((v) => (v.record.body as { result: string }).result === resultId).map((v) => v.record.author)

describe('verification as claimed work', () => {
  it('three nodes with standing among them that see a result at once and race for it: exactly quorum (2) re-run it, the third yields and experiments instead', async () => {
    const clock = new TickingClock()
    const replicas = await Promise.all([1, 2, 3].map(async (seed) => await makeReplica({ seed, clock })))
    // The three have standing with each other: each reproduced a result of each other (else each would re-run the result itself).
    let width = 40
    for (const r of replicas) {
      await grantStanding(r, replicas.filter((o) => o !== r), { blobs: blobAccess, widthFrom: width, valBpb: 9.9 })
      width += 4
    }
    for (const x of replicas) for (const y of replicas) if (x !== y) await deliver(x, y)
    const resultId = await peerResult(replicas, clock)
    // Claims reach the others after 5 ms, within the 60 ms settle window: each node claims before it sees another's claim.
    gossip(replicas, 5)
    const nodes = await Promise.all(replicas.map(async (r, i) => await node(r, 10 + i, 60)))
    for (const n of nodes) n.loop.start()
    await Promise.all(nodes.map(async (n) => await n.loop.done))
    await new Promise((resolve) => setTimeout(resolve, 50))

    for (const r of replicas) assert.equal(verifiersOf(r, resultId).length, 2, `every node holds two verifications:\n${nodes.map((n) => n.log.join('\n')).join('\n--\n')}`)
    assert.equal(nodes.reduce((sum, n) => sum + n.loop.stats.verifications, 0), 2)
    assert.equal(nodes.reduce((sum, n) => sum + n.loop.stats.verificationsLeft, 0), 1, 'one node claimed too and yielded')
    const claimsToVerify = replicas[0]!.state.list('claim').filter((c) => (c.record.body as { verifies?: string }).verifies === resultId)
    assert.equal(claimsToVerify.length, 3, 'all three raced for it')
    assert.ok(nodes.every((n) => n.loop.stats.experiments === 1), 'the yielding node went on to an experiment in the same cycle')
  })

  it('a node leaves a result whose slots peers with standing took to them, and re-claims it once a verifier died (its claim expired)', async () => {
    const clock = new TickingClock()
    const [a, q1, q2] = await Promise.all([4, 5, 6].map(async (seed) => await makeReplica({ seed, clock })))
    await grantStanding(a!, [q1!, q2!], { blobs: blobAccess, widthFrom: 60, valBpb: 9.9 })
    const resultId = await peerResult([a!, q1!, q2!], clock)
    // Two peers claimed to re-run it, for 5 s, and never publish.
    for (const q of [q1!, q2!]) {
      const result = q.state.list('result').find((r) => r.id === resultId)!.record.body as ResultBody
      await q.state.append('claim', { description: `verify ${resultId}`, parent: result.parent, codeHash: result.codeHash, delta: result.delta, verifies: resultId, tier: 'cpu', ttlMs: 5_000 })
      await deliver(q, a!)
    }
    const first = await node(a!, 20, 0)
    first.loop.start()
    await first.loop.done
    assert.equal(first.loop.stats.verifications, 0, first.log.join('\n'))
    assert.equal(first.loop.stats.experiments, 1, 'it experimented meanwhile')
    assert.deepEqual(verifiersOf(a!, resultId), [])

    clock.advance(10_000)
    const later = await node(a!, 21, 0)
    later.loop.start()
    await later.loop.done
    assert.deepEqual(verifiersOf(a!, resultId), [a!.state.peerId], later.log.join('\n'))
  })

  it('spends at most maxVerifyShare of its runs re-running peers\' results: with five better-looking ones waiting, a node at 0.25 re-runs VERIFY_BURST at once, then one after every three experiments', async () => {
    const clock = new TickingClock()
    const a = await makeReplica({ seed: 7, clock })
    const defaultSource = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    for (const [i, width] of [72, 80, 88, 96, 104].entries()) {
      const peer = await makeReplica({ seed: 30 + i, clock })
      const source = defaultSource.replace(/^WIDTH = \d+/m, `WIDTH = ${width}`)
      await blobAccess.add(Buffer.from(source))
      // Numbers out of reach: each re-run refutes one, so the next is still a candidate.
      await publishAs(peer, source, 0.5 + 0.01 * i, `WIDTH 64 -> ${width}`)
      await deliver(peer, a)
    }
    // Re-run, three experiments, re-run, three experiments, re-run, the seventh experiment.
    const { loop, log } = await node(a, 8, 0, 7, 0.25)
    loop.start()
    await loop.done
    const { verifications, experiments } = loop.stats
    assert.equal(experiments, 7)
    assert.equal(verifications, VERIFY_BURST + 2, `${verifications} re-runs beside ${experiments} experiments:\n${log.join('\n')}`)
    const order = log.filter((line) => /re-running|: (keep|discard|crash)/.test(line)).map((line) => line.includes('re-running') ? 'V' : 'E').join('')
    assert.equal(order, 'VEEEVEEEVE', log.join('\n'))
  })
})
