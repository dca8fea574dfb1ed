import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DOUBT_AFTER_CHILDREN } from '../../src/agent/research-loop.js'
import { sha256Hex } from '../../src/util/hash.js'
import { TickingClock, grantStanding, memoryBlobs, scriptedNode, vouchAs } from '../helpers/loop-fixture.js'
import type { ScriptedNode } from '../helpers/loop-fixture.js'
import { deliver, makeReplica, publishAs } from '../helpers/replica.js'
import { HARNESS_DIR } from '../helpers/python.js'
import type { Replica } from '../helpers/replica.js'
import type { ResultBody } from '../../src/state/record-kinds.js'

const blobAccess = memoryBlobs()

const TTL = 60_000
let defaultSourceCache: string | undefined
async function defaultSource (): Promise<string> {
  if (defaultSourceCache === undefined) {
    defaultSourceCache = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    await blobAccess.add(Buffer.from(defaultSourceCache))
  }
  return defaultSourceCache
}
const withWidth = (source: string, width: number): string => source.replace(/^WIDTH = \d+/m, `WIDTH = ${width}`)

/** A node's research loop on its replica: scripted runner (default bowl: WIDTH 64 -> 3.25, WIDTH 96 -> 3.0), quorum 2, no settle window. */
async function node (replica: Replica, seed: number, maxExperiments: number, settleMs = 0): Promise<ScriptedNode> {
  await defaultSource()
  return await scriptedNode(replica, { seed, blobs: blobAccess, settleMs, maxExperiments })
}

async function runLoop (replica: Replica, seed: number, maxExperiments: number): Promise<ScriptedNode> {
  const n = await node(replica, seed, maxExperiments)
  n.loop.start()
  await n.loop.done
  return n
}

/** `peer` claims to re-run `resultId` (a verification slot) with a `ttlMs` ttl; returns the claim id. */
async function verifyClaimAs (peer: Replica, resultId: string, ttlMs: number): Promise<string> {
  const result = peer.state.list('result').find((r) => r.id === resultId)!.record.body as ResultBody
  const rec = await peer.state.append('claim', { description: `verify ${resultId}`, parent: result.parent, codeHash: result.codeHash, delta: result.delta, verifies: resultId, tier: 'cpu', ttlMs })
  return rec.id
}

/** Each local update reaches the other replicas after `delayMs`, as gossip does. */
function gossip (replicas: Replica[], delayMs: number): void {
  for (const from of replicas) {
    from.state.on('local-update', (update: Uint8Array) => {
      for (const to of replicas) if (to !== from) setTimeout(() => { void to.state.applyRemote(update) }, delayMs)
    })
  }
}

const verifiersOf = (replica: Replica, resultId: string): string[] =>
  replica.state.list('verification').filter((v) => (v.record.body as { result: string }).result === resultId).map((v) => v.record.author)

/** An honest peer's better result (WIDTH 96: 3.0 where the default train.py gives 3.25), its code served. */
async function honestBetter (peer: Replica): Promise<string> {
  const better = withWidth(await defaultSource(), 96)
  await blobAccess.add(Buffer.from(better))
  return await publishAs(peer, better, 3.0, 'WIDTH 64 -> 96')
}

/** Attacks on verification as claimed work, found by a red-team pass; each test runs the attack beside a control and asserts it fails. */
describe('verification as claimed work: attacks', () => {
  it('rerunNoise poisoning: a sybil\'s own junk re-runs, 1.0 bpb off, do not widen the margin: the honest improvement is still re-run and adopted', { timeout: 20_000 }, async () => {
    const clock = new TickingClock()
    const source = await defaultSource()
    const outcome = async (poison: boolean): Promise<{ verifiers: string[], status: string, log: string[] }> => {
      const [a, peer, sybil] = await Promise.all([1, 2, 3].map(async (seed) => await makeReplica({ seed, clock })))
      await publishAs(a!, source, 3.25, 'baseline: the harness default train.py')
      const better = await honestBetter(peer!)
      await deliver(peer!, a!)
      if (poison) {
        // Five junk results (worse than anything: never candidates) and five self-verifications, each 1.0 off. No compute, no standing, no claims.
        for (let i = 0; i < 5; i++) {
          const junk = await publishAs(sybil!, `${source}\n# junk ${i}\n`, 3.9, `junk ${i}`)
          await vouchAs(sybil!, junk, 4.9)
        }
        await deliver(sybil!, a!)
      }
      clock.advance(2 * TTL)
      const { trust, log } = await runLoop(a!, 11, 3)
      return { verifiers: verifiersOf(a!, better), status: trust.status(better), log }
    }
    const control = await outcome(false)
    assert.equal(control.verifiers.length, 1, `control: the honest improvement is re-run here:\n${control.log.join('\n')}`)
    assert.equal(control.status, 'trusted')
    const poisoned = await outcome(true)
    assert.equal(poisoned.verifiers.length, 1, `poisoned: re-run all the same:\n${poisoned.log.join('\n')}`)
    assert.equal(poisoned.status, 'trusted')
  })

  it('slot squatting: verify claims by two free sybil identities (heartbeating, never finishing) hold no slot: quorum (2) honest nodes re-run the result at once, as without them', { timeout: 20_000 }, async () => {
    const clock = new TickingClock()
    const source = await defaultSource()
    const scenario = async (squat: boolean): Promise<{ beforeTtl: number, after: number }> => {
      const honest = await Promise.all([21, 22, 23].map(async (seed) => await makeReplica({ seed, clock })))
      const [s1, s2, peer] = await Promise.all([24, 25, 26].map(async (seed) => await makeReplica({ seed, clock })))
      // The honest nodes have standing with each other (each reproduced one result of each other), and their own baseline.
      let width = 40
      for (const h of honest) {
        await publishAs(h, source, 3.25, 'baseline')
        await grantStanding(h, honest.filter((o) => o !== h), { blobs: blobAccess, widthFrom: width })
        width += 4
      }
      for (const x of honest) for (const y of honest) if (x !== y) await deliver(x, y)
      const better = await honestBetter(peer!)
      for (const h of honest) await deliver(peer!, h)
      const claims: Array<[Replica, string]> = []
      if (squat) {
        for (const s of [s1!, s2!]) {
          await deliver(peer!, s)
          claims.push([s, await verifyClaimAs(s, better, TTL)])
          for (const h of honest) await deliver(s, h)
        }
      }
      // Honest nodes gossip (5 ms) and settle (60 ms), and cycle at the same time, as in claimed-verification.spec.ts.
      gossip(honest, 5)
      const round = async (seed: number): Promise<void> => {
        const nodes = await Promise.all(honest.map(async (h, i) => await node(h, seed + i, 1, 60)))
        for (const n of nodes) n.loop.start()
        await Promise.all(nodes.map(async (n) => await n.loop.done))
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      // Within the ttl: the honest nodes leave the result to whoever holds its slots.
      await round(30)
      const beforeTtl = new Set(verifiersOf(honest[0]!, better)).size
      // The squatters keep beating; the result is more than a ttl old now.
      clock.advance(TTL * 0.8)
      for (const [s, id] of claims) { await s.state.append('heartbeat', { claim: id }); for (const h of honest) await deliver(s, h) }
      clock.advance(TTL * 0.3)
      await round(40)
      return { beforeTtl, after: new Set(verifiersOf(honest[0]!, better)).size }
    }
    const control = await scenario(false)
    assert.equal(control.beforeTtl, 2, 'control: quorum (2) honest nodes re-run it at once; the third yields and adopts it')
    assert.equal(control.after, 2)
    const squatted = await scenario(true)
    assert.equal(squatted.beforeTtl, 2, 'squatted: claims of peers whose word does not count here hold nothing')
    assert.equal(squatted.after, 2)
  })

  it('doubt evasion: two standing vouchers rotate fakes, each a little better, every DOUBT_AFTER_CHILDREN-1 experiments (and the loop restarts each time): the streak counts across baselines, a fake is re-run and the liar caught', { timeout: 20_000 }, async () => {
    const clock = new TickingClock()
    const source = await defaultSource()
    const [a, liar, carol, dave] = await Promise.all([51, 52, 53, 54].map(async (seed) => await makeReplica({ seed, clock })))
    await grantStanding(a!, [carol!, dave!], { blobs: blobAccess, widthFrom: 72 })
    const fakes: string[] = []
    for (let round = 0; round < 3; round++) {
      const fake = `${source}\n# secret trick ${round}\n`
      await blobAccess.add(Buffer.from(fake))
      const id = await publishAs(liar!, fake, 0.9 - 0.01 * round, `secret trick ${round}`)
      await vouchAs(carol!, id, 0.9 - 0.01 * round)
      await vouchAs(dave!, id, 0.9 - 0.01 * round)
      for (const p of [liar!, carol!, dave!]) await deliver(p, a!)
      fakes.push(id)
      await runLoop(a!, 60 + round, DOUBT_AFTER_CHILDREN - 1)
    }
    const { trust } = await node(a!, 70, 1)
    const mine = a!.state.list('result').filter((r) => r.record.author === a!.state.peerId).map((r) => r.record.body as ResultBody)
    assert.ok(mine.filter((r) => r.parent !== null && fakes.includes(r.parent)).length <= DOUBT_AFTER_CHILDREN, 'at most a streak built on fakes')
    assert.ok(fakes.some((id) => verifiersOf(a!, id).includes(a!.state.peerId)), 'a fake was re-run here')
    assert.ok(trust.state.caught.has(liar!.state.peerId), 'the liar is caught')
    for (const id of fakes) assert.notEqual(trust.status(id), 'trusted')
  })

  it('baselineTaken: a fake result for the default train.py, once re-run here and found out, does not stop the honest node from publishing its own baseline', { timeout: 20_000 }, async () => {
    const clock = new TickingClock()
    const source = await defaultSource()
    const defaultHash = sha256Hex(Buffer.from(source))
    for (const reported of [3.5, 2.0]) {
      const [a, liar] = await Promise.all([81, 82].map(async (seed) => await makeReplica({ seed, clock })))
      const fakeId = await publishAs(liar!, source, reported, 'baseline: the harness default train.py')
      await blobAccess.add(Buffer.from(source))
      await deliver(liar!, a!)
      const { trust, log } = await runLoop(a!, 90, 3)
      const mine = a!.state.list('result').filter((r) => r.record.author === a!.state.peerId).map((r) => r.record.body as ResultBody)
      assert.equal(mine.length, 3, log.join('\n'))
      assert.equal(trust.status(fakeId), reported > 3.25 ? 'not-reproduced' : 'refuted')
      assert.ok(mine.some((r) => r.codeHash === defaultHash && r.parent === null && r.delta.length === 0), `reported ${reported}: a baseline result of its own:\n${log.join('\n')}`)
    }
  })

  it('code withheld: a fake two standing vouchers made trusted, whose code nobody serves, is passed over for the next best: the loop goes on experimenting', { timeout: 20_000 }, async () => {
    const clock = new TickingClock()
    const source = await defaultSource()
    const [a, liar, carol, dave] = await Promise.all([101, 102, 103, 104].map(async (seed) => await makeReplica({ seed, clock })))
    await grantStanding(a!, [carol!, dave!], { blobs: blobAccess, widthFrom: 72 })
    await publishAs(a!, source, 3.25, 'baseline')
    // The fake's code is never stored anywhere (the liar does not serve it).
    const fakeId = await publishAs(liar!, `${source}\n# withheld\n`, 0.9, 'a withheld trick')
    await vouchAs(carol!, fakeId, 0.9)
    await vouchAs(dave!, fakeId, 0.9)
    for (const p of [liar!, carol!, dave!]) await deliver(p, a!)
    const { loop, log } = await node(a!, 105, 1)
    loop.start()
    await loop.done
    assert.equal(loop.stats.experiments, 1, log.join('\n'))
    const mine = a!.state.list('result').filter((r) => r.record.author === a!.state.peerId).map((r) => r.record.body as ResultBody)
    assert.ok(mine.every((r) => r.parent !== fakeId), 'nothing built on the code it never saw')
  })
})
