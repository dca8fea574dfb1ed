import '../../src/util/polyfill.js'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { claimTtlBound } from '../../src/claims/claim-limits.js'
import { generateIdentity } from '../../src/p2p/identity.js'
import { sha256Hex } from '../../src/util/hash.js'
import { AgentClient } from '../helpers/agent-client.js'
import { RecordWriter, startHostileNode } from '../helpers/hostile-node.js'
import { startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { waitFor } from '../helpers/wait.js'
import type { Daemon } from '../../src/daemon/daemon.js'
import type { DedupEntry } from '../../src/claims/dedup.js'
import type { ClaimBody } from '../../src/state/record-kinds.js'
import type { ClaimAnswer } from '../helpers/agent-client.js'
import type { HostileNode } from '../helpers/hostile-node.js'

/**
 * Hostile peers that take experiments with valid, signed claims (issue 12, point 4): a copycat
 * that re-dates a claim it saw on gossip, and twenty fresh keys claiming all they can. Nothing
 * here is refused at the wire; the defences sit in how an honest daemon places and counts claims.
 */

const SWARM = 'hostile-claims'
const DAY_MS = 24 * 3600_000
let nextSession = 0x6c000000

/** A claim as it travels on gossip: the record JSON inside a Yjs update. */
interface SeenClaim { author: string, createdAt: number, body: ClaimBody }

/** The claims an update carries, read as any peer may read gossip (without applying it). */
function claimsIn (update: Uint8Array): SeenClaim[] {
  const out: SeenClaim[] = []
  for (const struct of Y.decodeUpdate(update).structs) {
    if (!(struct instanceof Y.Item) || !(struct.content instanceof Y.ContentAny)) continue
    const text: unknown = struct.content.arr[0]
    if (typeof text !== 'string') continue
    try {
      const record = JSON.parse(text) as { kind?: string } & SeenClaim
      if (record.kind === 'claim') out.push(record)
    } catch {}
  }
  return out
}

/**
 * A copycat on `hostile`: every claim by `victim` it sees on gossip is published again at once
 * under a key of its own (a fresh one per copy with `freshKeys`), dated `backdateMs` before the
 * original, asking for a day. Resolves with the copies' ids as they are written.
 */
async function copycat (hostile: HostileNode, victim: string, opts: { backdateMs: number, freshKeys: boolean }): Promise<{ copies: Array<{ id: string, author: string, createdAt: number }> }> {
  const copies: Array<{ id: string, author: string, createdAt: number }> = []
  let writer: RecordWriter | undefined
  const pubsub = hostile.libp2p.services.pubsub
  pubsub.addEventListener('message', (evt) => {
    if (evt.detail.topic !== hostile.topic) return
    for (const seen of claimsIn(evt.detail.data)) {
      if (seen.author !== victim) continue
      void (async () => {
        if (writer === undefined || opts.freshKeys) {
          const opened = await RecordWriter.open(opts.freshKeys ? await generateIdentity() : hostile.identity, nextSession++)
          await hostile.publish(opened.binding)
          writer = opened.writer
        }
        const { update, record } = await writer.write('claim', { ...seen.body, ttlMs: DAY_MS }, seen.createdAt - opts.backdateMs)
        copies.push({ id: record.id, author: record.record.author, createdAt: record.record.createdAt })
        await hostile.publish(update)
      })()
    }
  })
  return { copies }
}

const entry = (id: string, author: string): DedupEntry => ({ kind: 'claim', id, author, description: '', codeHash: null, parent: null, delta: [] })

describe('hostile claims: copycats and fresh keys against a real daemon', { timeout: 120_000 }, () => {
  // The daemon under attack coordinates only (no agent): its agent API is the honest agent's.
  let d: Daemon
  let agent: AgentClient
  const me = (): string => d.identity.peerId.toString()
  /** A distinct experiment: the default train.py with another SEED. */
  const variant = (seed: number): string => d.defaultSource.replace(/^SEED = 1337\b/m, `SEED = ${seed}`)

  before(async () => {
    // Default settle window and lag; an allowance of one race an hour, to see it run out.
    d = await startInProcessDaemon({ swarm: SWARM, antiEntropyMs: 10 * 60_000, claimRaceYieldsPerHour: 1 })
    agent = await AgentClient.forDataDir(d.paths.root, 'honest agent')
    assert.match(d.defaultSource, /^SEED = 1337\b/m)
  })

  after(async () => {
    await stopAndRemove(d)
  })

  it('a copycat re-dates each claim it sees a second earlier with a day\'s ttl: the honest claimant keeps its experiment, and the copy holds it for the profile\'s bound at most', async () => {
    const hostile = await startHostileNode(d.research.swarmKey)
    try {
      await hostile.join([d])
      const { copies } = await copycat(hostile, me(), { backdateMs: 1_000, freshKeys: false })
      const answers: ClaimAnswer[] = []
      for (let i = 0; i < 3; i++) {
        answers.push(await agent.claim({ description: `seed ${1000 + i} against a copycat`, code: variant(1000 + i), parent: null }))
        // The copy reached the daemon within the settle window the claim just waited out.
        await waitFor(() => copies.length > i && d.claims.ledger.claim(copies[i]!.id) !== undefined, { timeoutMs: 10_000, what: `copy ${i} to reach the daemon` })
      }
      const bound = claimTtlBound(d.research.profile, d.config.claimMaxTtlMs)
      for (const [i, answer] of answers.entries()) {
        assert.ok('claimed' in answer, `claim ${i} stands against a copy dated a second before it: ${JSON.stringify(answer)}`)
        const mine = d.claims.ledger.claim(answer.claimed.id)!
        const copy = d.claims.ledger.claim(copies[i]!.id)!
        assert.ok(copy.createdAt < mine.createdAt && copy.body.codeHash === mine.body.codeHash, 'the copy names the same experiment, dated first')
        assert.equal(d.claims.ledger.status(mine, Date.now()), 'active', `claim ${i} is still the honest node's`)
        assert.equal(d.claims.ledger.releaseReason(mine), undefined, 'and it never yielded')
        // Held for the bound (minutes), not the day it asked for.
        assert.ok(d.claims.ledger.expiresAt(copy) <= copy.createdAt + bound, `the copy expires ${d.claims.ledger.expiresAt(copy) - copy.createdAt} ms after its date; the bound is ${bound}`)
        assert.ok(bound < DAY_MS / 24, `the ${d.research.profile} profile's bound (${bound} ms) is minutes, not a day`)
        assert.equal(d.claims.ledger.status(copy, copy.createdAt + bound), 'expired')
      }
      // The honest node's own claims keep a ttl its heartbeats can keep up with.
      assert.ok(d.derived.claimTtlMs <= bound)
    } finally {
      await hostile.stop()
    }
  })

  it('copies dated a millisecond earlier by fresh keys (a race it cannot tell from an honest one) win at most the hourly allowance, all keys together', async () => {
    const hostile = await startHostileNode(d.research.swarmKey)
    try {
      await hostile.join([d])
      const { copies } = await copycat(hostile, me(), { backdateMs: 1, freshKeys: true })
      const answers: ClaimAnswer[] = []
      for (let i = 0; i < 4; i++) {
        answers.push(await agent.claim({ description: `seed ${2000 + i} against fresh copycats`, code: variant(2000 + i), parent: null }))
        await waitFor(() => copies.length > i && d.claims.ledger.claim(copies[i]!.id) !== undefined, { timeoutMs: 10_000, what: `copy ${i} to reach the daemon` })
      }
      assert.equal(new Set(copies.map((c) => c.author)).size, 4, 'four copies, four fresh keys')
      const stolen = answers.filter((a) => 'duplicate' in a)
      assert.ok(stolen.length <= d.config.claimRaceYieldsPerHour, `${stolen.length} of 4 claims yielded to fresh keys; the allowance is ${d.config.claimRaceYieldsPerHour} an hour: ${JSON.stringify(answers.map((a) => Object.keys(a)[0]))}`)
      for (const a of stolen) assert.ok('duplicate' in a && copies.some((c) => c.id === a.duplicate.conflict.id))
      assert.ok(answers.slice(d.config.claimRaceYieldsPerHour).every((a) => 'claimed' in a), 'past the allowance every claim stands')
    } finally {
      await hostile.stop()
    }
  })

  it('twenty fresh keys claiming sixteen experiments each block no more than the shared pool; the honest agent claims what lies beyond it, and anything else', async () => {
    const hostile = await startHostileNode(d.research.swarmKey)
    try {
      await hostile.join([d])
      const KEYS = 20
      const EACH = d.config.maxActiveClaimsPerPeer
      const claims: Array<Array<{ id: string, author: string, seed: number }>> = []
      for (let k = 0; k < KEYS; k++) {
        const { writer, binding } = await RecordWriter.open(await generateIdentity(), nextSession++)
        await hostile.publish(binding)
        const mine: Array<{ id: string, author: string, seed: number }> = []
        for (let i = 0; i < EACH; i++) {
          const seed = 3000 + k * EACH + i
          const { update, record } = await writer.write('claim', {
            description: `seed sweep ${seed}`, parent: null, codeHash: sha256Hex(variant(seed)), delta: [{ name: 'SEED', from: 1337, to: seed }], tier: d.research.tier, ttlMs: DAY_MS
          })
          await hostile.publish(update)
          mine.push({ id: record.id, author: record.record.author, seed })
        }
        claims.push(mine)
      }
      const all = claims.flat()
      const held = (): number => all.filter((c) => d.claims.ledger.claim(c.id) !== undefined).length
      await waitFor(() => held() === all.length, { timeoutMs: 30_000, what: () => `all ${all.length} claims to be applied (${held()} so far)` })

      const now = Date.now()
      const counted = all.filter((c) => d.claims.ledger.live(entry(c.id, c.author), now))
      const pool = d.config.maxActiveClaimsWithoutStanding
      assert.ok(counted.length <= pool, `${counted.length} of ${all.length} claims by fresh keys count against others; the pool is ${pool}`)
      assert.ok(counted.length > 0, 'within the pool their claims still count')
      assert.ok(claims.every((mine) => d.claims.ledger.live(entry(mine[0]!.id, mine[0]!.author), now)), 'every key\'s first claim comes before any key\'s second')

      const beyond = all.find((c) => !counted.includes(c))!
      const free = await agent.claim({ description: 'a seed someone claimed beyond the pool', code: variant(beyond.seed), parent: null })
      assert.ok('claimed' in free, `a claim beyond the pool blocks nothing: ${JSON.stringify(free)}`)
      const taken = await agent.claim({ description: 'a seed someone claimed within the pool', code: variant(counted[0]!.seed), parent: null })
      assert.ok('duplicate' in taken && taken.duplicate.conflict.id === counted[0]!.id, `a claim within the pool still counts: ${JSON.stringify(taken)}`)
      const other = await agent.claim({ description: 'a seed nobody claimed', code: variant(9999), parent: null })
      assert.ok('claimed' in other, `an experiment nobody claimed is free: ${JSON.stringify(other)}`)
      assert.deepEqual([...d.claims.ledger.squatters(Date.now())].filter((a) => a !== me()), [], 'each key holds no more than its own limit: only the pool bounds them')
    } finally {
      await hostile.stop()
    }
  })
})
