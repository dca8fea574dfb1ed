import '../../src/util/polyfill.js'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { DEFAULT_MAX_ACTIVE_CLAIMS } from '../../src/claims/research-ledger.js'
import { sha256Hex } from '../../src/util/hash.js'
import { AgentClient, runLog } from '../helpers/agent-client.js'
import { RecordWriter, connectedTo, startHostileNode } from '../helpers/hostile-node.js'
import { recentLog, startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { requirePython } from '../helpers/python.js'
import { waitFor } from '../helpers/wait.js'
import type { Daemon } from '../../src/daemon/daemon.js'
import type { ResultBody } from '../../src/state/record-kinds.js'
import type { HostileNode } from '../helpers/hostile-node.js'
import { hypothesesReply, hypothesisReply } from '../../src/http/api-contract.js'

/**
 * Hostile peers whose records are all valid (signed, well-formed, within the gossip budget) but
 * whose behaviour is not: hypothesis spam, claim squatting, a fake best. Nothing here is refused
 * at the wire; the defences sit in what honest daemons make of the records.
 */

const SWARM = 'hostile-records'
let nextClient = 0x5e000000

const me = (d: Daemon): string => d.identity.peerId.toString()

async function attacker (daemon: Daemon): Promise<{ hostile: HostileNode, writer: RecordWriter }> {
  const hostile = await startHostileNode(daemon.research.swarmKey)
  await hostile.join([daemon])
  const { writer, binding } = await RecordWriter.open(hostile.identity, nextClient++)
  await hostile.publish(binding)
  return { hostile, writer }
}

/** The attacker's score on `daemon` turns negative (the app-specific P5 of a misbehaving peer). */
async function scoredDown (daemon: Daemon, hostile: HostileNode): Promise<void> {
  await waitFor(() => daemon.network.gossipScore(hostile.peerId) < 0, {
    timeoutMs: 10_000,
    what: () => `the attacker's gossip score to turn negative (now ${daemon.network.gossipScore(hostile.peerId)})`
  })
}

describe('hostile records: valid, signed, and abusive', { timeout: 60_000 }, () => {
  // The daemon under attack coordinates only (no agent): its agent API is the honest agent's.
  let d: Daemon
  let agent: AgentClient

  before(async () => {
    d = await startInProcessDaemon({ swarm: SWARM, antiEntropyMs: 10 * 60_000, claimSettleMs: 100 })
    agent = await AgentClient.forDataDir(d.paths.root, 'honest agent')
  })

  after(async () => {
    await stopAndRemove(d)
  })

  it('hypothesis spam: beyond the hourly allowance nothing of the spammer shows, every honest hypothesis does, and the spammer is scored down', async () => {
    const { hostile, writer } = await attacker(d)
    try {
      const honest: string[] = []
      const post = async (title: string): Promise<void> => {
        const { hypothesis } = await agent.expect(hypothesisReply, 201, 'POST', '/api/hypotheses', { title, text: 'an honest idea' })
        honest.push(hypothesis.id)
      }
      await post('a deeper model with the same width')
      // 60 distinct, valid hypotheses: 61 gossip messages with the binding, far under the per-author
      // budget (600/min), so this is not a flood the gossip layer cuts: every record is applied.
      const SPAM = 60
      for (let i = 0; i < SPAM; i++) {
        const { update } = await writer.write('hypothesis', { title: `spam idea number ${i}: change constant ${i}`, text: '' })
        await hostile.publish(update)
      }
      await post('a longer warm-up for the learning rate')
      const held = (): number => d.state.list('hypothesis').filter((r) => r.record.author === hostile.peerId).length
      await waitFor(() => held() === SPAM, { timeoutMs: 15_000, what: () => `all ${SPAM} spam hypotheses to be applied (${held()} so far)` })
      await post('weight decay on the embeddings only')

      const { hypotheses } = await agent.expect(hypothesesReply, 200, 'GET', '/api/hypotheses')
      const shown = hypotheses.filter((h) => h.author === hostile.peerId).length
      assert.ok(shown <= d.config.hypothesesPerHour, `GET /api/hypotheses shows ${shown} of the spammer's ${SPAM}; the allowance is ${d.config.hypothesesPerHour}/h`)
      const listed = new Set(hypotheses.map((h) => h.id))
      assert.deepEqual(honest.filter((id) => !listed.has(id)), [], 'every honest hypothesis is listed')
      await scoredDown(d, hostile)
    } finally {
      await hostile.stop()
    }
  })

  it('claim squatting: an honest agent may claim what the squatter claimed beyond its first 16, not within, and the squatter is scored down', async () => {
    const { hostile, writer } = await attacker(d)
    try {
      // Every variant of the default train.py's SEED, each a distinct experiment (code hash and delta).
      const SQUATTED = 40
      const base = d.defaultSource
      assert.match(base, /^SEED = 1337\b/m)
      const variant = (i: number): string => base.replace(/^SEED = 1337\b/m, `SEED = ${2000 + i}`)
      // Precedence among the squatter's claims is by createdAt: the first 16 count, the rest do not.
      const start = Date.now() - 1_000
      for (let i = 0; i < SQUATTED; i++) {
        const { update } = await writer.write('claim', {
          description: `seed sweep ${2000 + i}`,
          parent: null,
          codeHash: sha256Hex(variant(i)),
          delta: [{ name: 'SEED', from: 1337, to: 2000 + i }],
          tier: d.research.tier,
          ttlMs: 10 * 60_000
        }, start + i)
        await hostile.publish(update)
      }
      const held = (): number => d.claims.ledger.allClaims().filter((c) => c.author === hostile.peerId).length
      await waitFor(() => held() === SQUATTED, { timeoutMs: 15_000, what: () => `all ${SQUATTED} squatted claims to be applied (${held()} so far)` })

      const beyond = await agent.claim({ description: 'a different seed to measure run-to-run noise', code: variant(SQUATTED - 10), parent: null })
      assert.ok('claimed' in beyond, `an experiment the squatter claimed beyond its first ${DEFAULT_MAX_ACTIVE_CLAIMS} (number ${SQUATTED - 9} of ${SQUATTED}) is free: ${JSON.stringify(beyond)}`)
      const within = await agent.claim({ description: 'a different seed to measure run-to-run noise', code: variant(5), parent: null })
      assert.ok('duplicate' in within, `one of the squatter's first ${DEFAULT_MAX_ACTIVE_CLAIMS} still counts: ${JSON.stringify(within)}`)
      assert.equal(within.code, 'CLAIM_DUPLICATE')
      assert.equal(within.duplicate.conflict.author, hostile.peerId)
      await scoredDown(d, hostile)
    } finally {
      await hostile.stop()
    }
  })

  it('a stranger\'s excellent number shows as a candidate on the status API, never as the best', async () => {
    const { hostile, writer } = await attacker(d)
    try {
      const description = 'a trick nobody reproduced'
      const { update: claimUpdate, record: claim } = await writer.write('claim', { description, parent: null, codeHash: sha256Hex('fake code'), delta: [], tier: d.research.tier, ttlMs: 10 * 60_000 })
      const { update: resultUpdate, record: fake } = await writer.write('result', {
        claimId: claim.id, parent: null, codeHash: sha256Hex('fake code'), logHash: sha256Hex('fake log'), description, delta: [], status: 'keep',
        metrics: { val_bpb: 0.9, training_seconds: 20, total_seconds: 22, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 0.02, num_steps: 5, num_params_M: 0.1, depth: 2 },
        crash: null, hardware: { gpu: 'cpu', vramGb: 0, tier: d.research.tier }, harness: d.research.harness
      })
      await hostile.publish(claimUpdate)
      await hostile.publish(resultUpdate)
      await waitFor(() => d.state.get('result', fake.key) !== undefined, { timeoutMs: 10_000, what: 'the fake result to arrive' })
      const reply = await (await fetch(new URL('/api/best', d.apiUrl))).json() as { best: { id: string } | null, candidates: Array<{ id: string, trust: string }> }
      assert.notEqual(reply.best?.id, fake.id, 'the fake is not the best')
      assert.deepEqual(reply.candidates.map((c) => [c.id, c.trust]), [[fake.id, 'unverified']], 'it is listed as an unverified candidate')
    } finally {
      await hostile.stop()
    }
  })
})

describe('hostile records: a fake best', { timeout: 150_000 }, () => {
  let honest: Daemon | undefined
  after(async () => { if (honest !== undefined) await stopAndRemove(honest) })

  it('under garbage and a flood of valid records, the research loop keeps running and loses nothing; the attacker ends below zero or cut off', async () => {
    const python = await requirePython()
    const d = await startInProcessDaemon({ swarm: SWARM, antiEntropyMs: 10 * 60_000, agent: 'builtin', python, maxSteps: 5, maxExperiments: 2, claimSettleMs: 100, maxVerifyShare: 1 })
    const { hostile, writer } = await attacker(d)
    try {
      const loop = d.loops[0]!
      // While the loop trains: garbage (three strikes, below the limit), then 2,000 valid hypotheses as fast as they go out.
      const flood: Uint8Array[] = []
      for (let i = 0; i < 2_000; i++) flood.push((await writer.write('hypothesis', { title: `flood ${i}`, text: '' })).update)
      for (let i = 0; i < 3; i++) await hostile.publish(randomBytes(256))
      await waitFor(() => d.network.penalties.strikesOf(hostile.peerId) >= 3, { timeoutMs: 10_000, what: 'the garbage to be refused' })
      const floodStart = Date.now()
      for (const update of flood) { if (!connectedTo(d, hostile.peerId)) break; await hostile.publish(update).catch(() => {}) }
      const floodSeconds = (Date.now() - floodStart) / 1000
      await waitFor(() => loop.stats.experiments >= 2, { timeoutMs: 120_000, intervalMs: 250, what: () => `the honest loop to finish 2 experiments under attack: ${JSON.stringify(loop.stats)}\nthe daemon's last log lines:\n${recentLog(d)}` })
      const mine = d.state.list('result').filter((r) => r.record.author === me(d))
      assert.equal(mine.length, loop.stats.experiments, 'every experiment of the loop is a result of its own')
      assert.ok(d.state.list('claim').filter((r) => r.record.author === me(d)).length >= 2, 'and its claims are there')
      // The author budget: a burst of 600, refilled at 10 a second while the flood goes out.
      const budget = 600 + Math.ceil(floodSeconds * 10) + 1
      assert.ok(d.state.counts().hypothesis <= budget, `at most the flood's budget (${budget}) was applied: ${d.state.counts().hypothesis}`)
      await waitFor(() => !connectedTo(d, hostile.peerId) || d.network.gossipScore(hostile.peerId) < 0, { timeoutMs: 10_000, what: 'the attacker to be cut off or scored below zero' })
    } finally {
      await hostile.stop()
      await stopAndRemove(d)
    }
  })

  it('an excellent val_bpb that does not reproduce is re-run, refuted and never built on; the loop keeps running and the liar is scored down', async () => {
    const STEPS = 5
    const python = await requirePython()
    honest = await startInProcessDaemon({ swarm: SWARM, antiEntropyMs: 10 * 60_000, agent: 'builtin', python, maxSteps: STEPS, maxExperiments: 2, claimSettleMs: 100, maxVerifyShare: 1 })
    const d = honest
    const { hostile, writer } = await attacker(d)
    try {
      // The liar's train.py is real (the default with a comment): the honest daemon fetches it by
      // hash from the liar itself over /swarmd/blob/1, as from any peer, and re-runs it.
      const code = Buffer.from(`${d.defaultSource}\n# the secret trick\n`)
      const log = Buffer.from(runLog(0.9, { steps: STEPS }))
      const [codeHash, logHash] = await hostile.serveBlobs([code, log])
      const { update: claimUpdate, record: claim } = await writer.write('claim', {
        description: 'a secret trick that halves val_bpb', parent: null, codeHash: codeHash!, delta: [], tier: d.research.tier, ttlMs: 10 * 60_000
      })
      const body: ResultBody = {
        claimId: claim.id,
        parent: null,
        codeHash: codeHash!,
        logHash: logHash!,
        description: 'a secret trick that halves val_bpb',
        delta: [],
        status: 'keep',
        metrics: { val_bpb: 0.9, training_seconds: 20, total_seconds: 22, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 0.02, num_steps: STEPS, num_params_M: 0.1, depth: 2 },
        crash: null,
        hardware: { gpu: 'cpu', vramGb: 0, tier: d.research.tier },
        harness: d.research.harness,
        maxSteps: STEPS
      }
      const { update: resultUpdate, record: fake } = await writer.write('result', body)
      await hostile.publish(claimUpdate)
      await hostile.publish(resultUpdate)
      await waitFor(() => d.state.get('result', fake.key) !== undefined, { timeoutMs: 10_000, what: 'the fake result to arrive' })

      const loop = d.loops[0]!
      const reRan = (): boolean => d.trust.verifiedBy(fake.id, me(d))
      await waitFor(() => loop.stats.experiments >= 2 && reRan(), {
        timeoutMs: 120_000,
        intervalMs: 250,
        what: () => `the honest loop to finish 2 experiments, having re-run the fake result: ${JSON.stringify({ trust: d.trust.status(fake.id), reRan: reRan(), stats: loop.stats, current: loop.current })}\nthe daemon's last log lines:\n${recentLog(d)}`
      })
      assert.equal(d.trust.status(fake.id), 'refuted')
      assert.ok(d.trust.state.caught.has(hostile.peerId), 'the liar is caught')
      const own = d.state.list('verification').find((v) => v.record.author === me(d) && (v.record.body as { result: string }).result === fake.id)!
      const measured = (own.record.body as { metrics: { val_bpb: number } | null }).metrics
      assert.ok(measured !== null && measured.val_bpb > 2, `the re-run measured ${JSON.stringify(measured)}, not 0.9`)

      const best = await (await fetch(new URL('/api/best', d.apiUrl))).json() as { best: { id: string } | null }
      assert.notEqual(best.best?.id, fake.id, 'the fake best is never the best')
      const mine = d.state.list('result').filter((r) => r.record.author === me(d))
      assert.ok(mine.length >= 2, `the research loop kept running (${mine.length} results of its own)`)
      assert.ok(mine.every((r) => (r.record.body as ResultBody).parent !== fake.id), 'nothing was built on the fake result')
      await scoredDown(d, hostile)
    } finally {
      await hostile.stop()
    }
  })
})
