import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { execa } from 'execa'
import { join } from 'node:path'
import { connectWithRetry, recentLog, startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { AgentClient, runLog } from '../helpers/agent-client.js'
import { CORPUS_DIR, HARNESS_DIR, requirePython } from '../helpers/python.js'
import { makeReplica } from '../helpers/replica.js'
import { waitFor } from '../helpers/wait.js'
import { ManualClock } from '../../src/util/clock.js'
import type { Daemon } from '../../src/daemon/daemon.js'

const STEPS = 5

describe('e2e: trust — two honest daemons, one liar, ten fresh identities vouching for it', { timeout: 300_000 }, () => {
  const daemons: Daemon[] = []
  after(async () => { await stopAndRemove(...daemons) })

  it('the liar\'s excellent number is re-run, refuted and never built on; the honest loops keep going', async () => {
    const python = await requirePython()
    const research = { agent: 'builtin' as const, python, maxSteps: STEPS, maxExperiments: 3, claimSettleMs: 100, maxVerifyShare: 1 }
    const a = await startInProcessDaemon(research)
    const b = await startInProcessDaemon(research)
    // The liar runs no experiments; it only publishes one through the agent API, with a made-up log.
    const liar = await startInProcessDaemon({ maxSteps: STEPS, claimSettleMs: 100 })
    daemons.push(a, b, liar)
    await connectWithRetry(b, a)
    await connectWithRetry(liar, a)
    await connectWithRetry(liar, b)

    const client = await AgentClient.forDataDir(liar.paths.root, 'liar')
    // Its train.py prints the made-up number itself, so a re-run that trusted train.py's output would reproduce it.
    const code = (await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')).replace('print(f"val_bpb: {val_bpb:.6f}")', 'print("val_bpb: 0.900000")  # the secret trick')
    assert.match(code, /the secret trick/)
    const claim = await client.claim({ description: 'a secret trick that halves val_bpb', code, parent: null })
    assert.ok('claimed' in claim, JSON.stringify(claim))
    const fake = await client.publish({ claim: claim.claimed.id, log: runLog(0.9, { steps: STEPS }), code })

    // Ten fresh identities "reproduce" the fake number; their records arrive as from the wire.
    const clock = new ManualClock(Date.now())
    for (let i = 0; i < 10; i++) {
      const sybil = await makeReplica({ seed: 100 + i, clock })
      await sybil.state.append('verification', {
        result: fake.id,
        claimId: claim.claimed.id,
        metrics: { ...fake.metrics!, val_bpb: 0.9 },
        logHash: fake.logHash,
        hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' },
        harness: a.research.harness,
        maxSteps: STEPS
      })
      for (const d of [a, b]) {
        for (const update of sybil.state.diffsFor(d.state.encodeStateVector())) assert.equal((await d.state.applyRemote(update)).verdict, 'accept')
      }
    }

    const honest = [a, b]
    const me = (d: Daemon): string => d.identity.peerId.toString()
    const reRan = (d: Daemon): boolean => d.state.list('verification').some((v) => v.record.author === me(d) && (v.record.body as { result: string }).result === fake.id)
    await waitFor(() => honest.every((d) => d.loops[0]!.stats.experiments >= 3) && honest.some(reRan), {
      timeoutMs: 240_000,
      what: () => `the honest daemons to finish their experiments, one having re-run the fake result: ${JSON.stringify(honest.map((d) => ({ trust: d.trust.status(fake.id), stats: d.loops[0]!.stats })))}\n${honest.map((d) => `the last log lines of ${d.identity.peerId.toString().slice(-8)}:\n${recentLog(d)}`).join('\n')}`
    })
    for (const d of honest) {
      // Whoever re-ran it refuted it and caught the liar; the other never trusts it on anyone's word but its own or a quorum with standing.
      if (reRan(d)) {
        assert.equal(d.trust.status(fake.id), 'refuted')
        assert.ok(d.trust.state.caught.has(me(liar)), 'the liar is caught')
        await waitFor(() => d.network.gossipScore(me(liar)) < 0, { timeoutMs: 10_000, what: () => `the liar's gossip score to turn negative (${d.network.gossipScore(me(liar))})` })
        const own = d.state.list('verification').find((v) => v.record.author === me(d) && (v.record.body as { result: string }).result === fake.id)!
        const measured = (own.record.body as { metrics: { val_bpb: number } | null }).metrics
        assert.ok(measured !== null && measured.val_bpb > 2, `re-run measured ${JSON.stringify(measured)}`)
      } else {
        assert.equal(d.trust.status(fake.id), 'unverified', 'ten sybils and the liar do not make it trusted')
      }
      const best = await (await fetch(new URL('/api/best', d.apiUrl))).json() as { best: { id: string, trust: string } | null }
      assert.notEqual(best.best?.id, fake.id, 'the fake best is never the best')
      assert.ok(best.best === null || ['self', 'trusted'].includes(best.best.trust))
      const mine = d.state.list('result').filter((r) => r.record.author === me(d))
      assert.ok(mine.length >= 3, 'the research loop kept running')
      assert.ok(mine.every((r) => (r.record.body as { parent: string | null }).parent !== fake.id), 'nothing was built on the fake result')
    }
  })

  it('an honest peer\'s better result is re-run, reproduces, and becomes the baseline', async () => {
    const python = await requirePython()
    const b = await startInProcessDaemon({ maxSteps: STEPS, claimSettleMs: 100 })
    daemons.push(b)

    // B trains for real (a higher learning rate wins at 5 steps: ~5.4 vs 6.8) and publishes the run's own log.
    const work = await mkdtemp(join(tmpdir(), 'swarmd-honest-'))
    await cp(HARNESS_DIR, work, { recursive: true })
    const code = (await readFile(join(work, 'train.py'), 'utf8')).replace(/^LEARNING_RATE = .*$/m, 'LEARNING_RATE = 0.03')
    await writeFile(join(work, 'train.py'), code)
    const run = await execa(python, ['train.py'], { cwd: work, env: { SWARMD_PROFILE: 'cpu', SWARMD_SOTU_DIR: CORPUS_DIR, MAX_STEPS: String(STEPS), OMP_NUM_THREADS: '1' } })
    await rm(work, { recursive: true, force: true })
    const client = await AgentClient.forDataDir(b.paths.root, 'B')
    const claim = await client.claim({ description: 'LR 0.01 -> 0.03', code, parent: null })
    assert.ok('claimed' in claim, JSON.stringify(claim))
    const honest = await client.publish({ claim: claim.claimed.id, log: run.stdout, code })

    // A joins the swarm once B's result is out: after its own baseline run, it finds the better result waiting.
    const a = await startInProcessDaemon({ agent: 'builtin', python, maxSteps: STEPS, maxExperiments: 2, claimSettleMs: 100, maxVerifyShare: 1 })
    daemons.push(a)
    await connectWithRetry(a, b)

    const me = a.identity.peerId.toString()
    const mine = () => a.state.list('result').filter((r) => r.record.author === me)
    await waitFor(() => a.loops[0]!.stats.experiments >= 2, { timeoutMs: 240_000, what: () => `A to finish its experiments: ${JSON.stringify(a.loops[0]!.stats)}\nits last log lines:\n${recentLog(a)}` })
    assert.equal(a.trust.status(honest.id), 'trusted', 'A reproduced it')
    assert.ok(a.trust.state.standing.has(b.identity.peerId.toString()), 'B earned standing on A')
    const own = a.state.list('verification').find((v) => v.record.author === me && (v.record.body as { result: string }).result === honest.id)!
    const measured = (own.record.body as { metrics: { val_bpb: number } }).metrics.val_bpb
    assert.ok(Math.abs(measured - honest.metrics!.val_bpb) <= 0.01, `re-run ${measured} vs reported ${honest.metrics!.val_bpb}`)
    const parents = mine().map((r) => (r.record.body as { parent: string | null }).parent)
    assert.ok(parents.includes(honest.id), `A built on B's verified result: parents ${JSON.stringify(parents)}`)
  })
})
