import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { DOUBT_AFTER_CHILDREN } from '../../src/agent/research-loop.js'
import { parseBlobHash } from '../../src/p2p/blob-store.js'
import { TRUST_BOUNDS } from '../../src/trust/trust.js'
import { sha256Hex } from '../../src/util/hash.js'
import { AgentClient, runLog } from '../helpers/agent-client.js'
import { connectWithRetry, recentLog, startInProcessDaemon, stopAndRemove, tempDir } from '../helpers/in-process-daemon.js'
import { CORPUS_DIR, HARNESS_DIR, requirePythonInfo } from '../helpers/python.js'
import { chainMetrics, chainPeer, deliver, selfVerify, writeResult } from '../helpers/standing-chain.js'
import { waitFor } from '../helpers/wait.js'
import type { Daemon } from '../../src/daemon/daemon.js'
import type { ResultJson } from '../../src/http/api-contract.js'
import type { VerificationBody } from '../../src/state/record-kinds.js'
import type { ChainPeer } from '../helpers/standing-chain.js'
import type { TestContext } from 'node:test'

/** The fewest steps a run may take: every run here costs ~7 s on 2 cores, almost all of it outside training. */
const STEPS = 2

interface BestReply { best: { id: string, trust: string } | null, candidates: Array<{ id: string }> }

async function best (d: Daemon): Promise<BestReply> {
  return await (await fetch(new URL('/api/best', d.apiUrl))).json() as BestReply
}

const me = (d: Daemon): string => d.identity.peerId.toString()

/** `d`'s own verification of `resultId`, once its research loop published one. */
function ownVerification (d: Daemon, resultId: string): VerificationBody | undefined {
  const found = d.state.list('verification').find((v) => v.record.author === me(d) && (v.record.body as VerificationBody).result === resultId)
  return found?.record.body as VerificationBody | undefined
}

/** Every record `from` holds that `to` lacks, applied as a sync pull would (no waiting on gossip). */
async function sync (from: Daemon, to: Daemon): Promise<void> {
  for (const update of from.state.diffsFor(to.state.encodeStateVector())) {
    const outcome = await to.state.applyRemote(update)
    assert.equal(outcome.verdict, 'accept', outcome.message)
  }
}

/** An author's own run of `code`, outside any daemon (as an agent would), for `STEPS` steps: its stdout. */
async function trainAsAuthor (python: string, code: string): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'swarmd-author-'))
  try {
    await cp(HARNESS_DIR, work, { recursive: true })
    await writeFile(join(work, 'train.py'), code)
    const run = await execa(python, ['train.py'], { cwd: work, env: { SWARMD_PROFILE: 'cpu', SWARMD_SOTU_DIR: CORPUS_DIR, MAX_STEPS: String(STEPS), OMP_NUM_THREADS: '1' } })
    return run.stdout
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** A finished run `d`'s own identity signs (no claim, no step limit: never a candidate or a best here), to be reproduced by the honest node. */
async function earlierRun (d: Daemon, description: string): Promise<string> {
  const record = await d.state.append('result', {
    claimId: sha256Hex(`claim ${description}`), parent: null, codeHash: sha256Hex(description), logHash: sha256Hex(`log of ${description}`), description, delta: [], status: 'keep',
    metrics: chainMetrics(2.3), crash: null, hardware: { gpu: 'cpu', vramGb: 0, tier: d.research.tier }, harness: d.research.harness
  })
  return record.id
}

/**
 * Issue 13's MemoryError fake and clock-seeded author, through the real runner: one honest daemon
 * re-runs what a liar (a daemon publishing through its agent API) and an honest author (another)
 * published, with its research loop, the sandbox and the harness; a voucher writes signed records.
 * Standing is set up the way it is earned (this node's own verifications of earlier runs), as
 * records: the runs behind them are not what is tested.
 */
describe('e2e: trust attacks through the real runner (issue 13)', { timeout: 300_000 }, () => {
  let honest: Daemon
  let liar: Daemon
  let author: Daemon
  let voucher: ChainPeer
  let fake: ResultJson
  let fakeCode: string
  let clocked: ResultJson
  let authorClient: AgentClient
  let laterCode: string
  let laterRun: Promise<string>
  const daemons: Daemon[] = []
  /** The honest node's first life, without an agent (stopped once the setup is done; its data dir is the honest node's). */
  let setupNode: Daemon | undefined

  before(async () => {
    const { path: python, torch } = await requirePythonInfo()
    const defaultSource = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')

    // The liar's train.py dies before training, as if on a machine too small: it says so, then raises MemoryError.
    fakeCode = defaultSource.replace('def main():\n', 'def main():\n    print("RuntimeError: [enforce fail at alloc_cpu.cpp:73] DefaultCPUAllocator: can\'t allocate memory: you tried to allocate 21474836480 bytes", flush=True)\n    raise MemoryError("the secret trick needs more memory than this machine has")\n')
    assert.notEqual(fakeCode, defaultSource)
    // The honest author seeds from the clock: every run draws another seed. A smaller init keeps the
    // spread of val_bpb over seeds inside the miss bands at 2 steps (measured, 40 seeds: 7.724-7.801,
    // sd 0.015; of the pairs 41 % within the tolerance, 44 % under 3 tolerances, 16 % under 10, none
    // past it, the widest 0.077). At the default init it is sd 0.032, with pairs 0.104 apart: caught.
    const clockCode = defaultSource.replace(/^SEED = .*$/m, 'SEED = time.time_ns() % 2**31  # a new seed every run').replace('std=0.02)', 'std=0.005)')
    assert.match(clockCode, /time_ns/)
    assert.match(clockCode, /std=0\.005/)
    // Its later run, seed fixed again: a higher learning rate (7.05 against the default's 7.53 at 2 steps).
    laterCode = defaultSource.replace(/^LEARNING_RATE = .*$/m, 'LEARNING_RATE = 0.05')
    assert.notEqual(laterCode, defaultSource)
    // Both author runs go now, beside the daemons' start; the later one is published only after the first is judged.
    const clockedRun = trainAsAuthor(python, clockCode)
    laterRun = trainAsAuthor(python, laterCode)
    clockedRun.catch(() => {})
    laterRun.catch(() => {})

    // The honest node starts without an agent: its loop would otherwise re-run before the setup is done. It restarts with one below.
    const honestDir = await tempDir('swarmd-honest-')
    setupNode = await startInProcessDaemon({ dataDir: honestDir, maxSteps: STEPS, claimSettleMs: 100 })
    liar = await startInProcessDaemon({ maxSteps: STEPS, claimSettleMs: 100 })
    author = await startInProcessDaemon({ maxSteps: STEPS, claimSettleMs: 100 })
    daemons.push(liar, author)
    await connectWithRetry(liar, setupNode)
    await connectWithRetry(author, setupNode)
    voucher = await chainPeer()

    // Standing: the honest node reproduced earlier runs of each, three of the liar's (a reputation: one vouch is then enough).
    const earned = [
      await earlierRun(liar, 'the liar shortens the warmup'),
      await earlierRun(liar, 'the liar lowers beta2'),
      await earlierRun(liar, 'the liar clips gradients harder'),
      await earlierRun(author, 'the author widens the MLP'),
      await writeResult(setupNode, voucher, 2.3, 'the voucher deepens the model', { torch })
    ]
    await deliver(setupNode, [voucher])
    await sync(liar, setupNode)
    await sync(author, setupNode)
    for (const id of earned) await selfVerify(setupNode, id, 2.3)
    for (const peer of [me(liar), me(author), voucher.peerId]) assert.ok(setupNode.trust.hasStanding(peer), 'the setup: standing earned here')

    // The liar publishes through its agent API: an excellent number nobody can re-run.
    const liarClient = await AgentClient.forDataDir(liar.paths.root, 'liar')
    const claim = await liarClient.claim({ description: 'a secret trick that halves val_bpb', code: fakeCode, parent: null })
    assert.ok('claimed' in claim, JSON.stringify(claim))
    fake = await liarClient.publish({ claim: claim.claimed.id, log: runLog(0.9, { steps: STEPS }), code: fakeCode })
    // The voucher, with standing in its scope, says it re-ran the fake and got the same.
    const { update } = await voucher.writer.write('verification', {
      result: fake.id, claimId: sha256Hex(`verify ${fake.id}`), metrics: fake.metrics!, logHash: fake.logHash,
      hardware: { gpu: 'cpu', vramGb: 0, tier: setupNode.research.tier }, environment: { torch }, harness: setupNode.research.harness, maxSteps: STEPS
    })
    voucher.updates.push(update)

    // The honest author publishes its clock-seeded run as it came out.
    authorClient = await AgentClient.forDataDir(author.paths.root, 'author')
    const authorClaim = await authorClient.claim({ description: 'init std 0.02 -> 0.005, seeded from the clock', code: clockCode, parent: null })
    assert.ok('claimed' in authorClaim, JSON.stringify(authorClaim))
    clocked = await authorClient.publish({ claim: authorClaim.claimed.id, log: await clockedRun, code: clockCode })

    await sync(liar, setupNode)
    await sync(author, setupNode)
    await deliver(setupNode, [voucher])
    assert.equal(setupNode.trust.status(fake.id), 'trusted', 'the setup: one standing voucher makes the reputed liar\'s fake trusted')
    assert.equal((await best(setupNode)).best?.id, fake.id, 'the setup: the fake is the best before this node re-runs it')
    // The code, fetched over the network now: the restarted loop reaches for it before it reconnects.
    for (const r of [fake, clocked]) await setupNode.network.blobs.get(parseBlobHash(r.codeHash), { signal: AbortSignal.timeout(30_000) })
    // Let its duplicate marks settle first: stopping while its embedder loads the model once aborted the process (Napi::Error from a native thread).
    await setupNode.claims.duplicateResults()
    await setupNode.stop()

    // Trusted on its voucher's word, the fake is built on until DOUBT_AFTER_CHILDREN experiments on it never beat it; then re-run here.
    honest = await startInProcessDaemon({ dataDir: honestDir, agent: 'builtin', python, maxSteps: STEPS, maxExperiments: DOUBT_AFTER_CHILDREN + 3, claimSettleMs: 100, maxVerifyShare: 1 })
    daemons.push(honest)
    await connectWithRetry(honest, liar)
    await connectWithRetry(honest, author)
  })

  after(async () => {
    await setupNode?.stop()
    await stopAndRemove(...daemons)
  })

  it('a fake that raises MemoryError on re-run, vouched by a peer with standing, is built on until doubted, then re-run and refuted: no longer the best or the baseline, liar and voucher lose standing', async () => {
    await waitFor(() => ownVerification(honest, fake.id) !== undefined, {
      timeoutMs: 120_000,
      what: () => `the honest node to re-run the fake (trust ${honest.trust.status(fake.id)}, ${JSON.stringify(honest.loops[0]?.stats)}); its last log lines:\n${recentLog(honest)}`
    })
    const verdict = ownVerification(honest, fake.id)!
    assert.equal(verdict.metrics, null)
    assert.deepEqual(verdict.crash, { reason: 'exception', detail: 'MemoryError' }, 'the code\'s own crash, whatever it printed about memory')
    assert.equal(verdict.inconclusive, undefined, 'not the verifier\'s problem: a vote against it')
    assert.equal(honest.trust.status(fake.id), 'refuted')

    for (const [who, peer] of [['the liar', me(liar)], ['the voucher', voucher.peerId]] as const) {
      assert.ok(honest.trust.state.caught.has(peer), `${who} is caught`)
      assert.ok(!honest.trust.hasStanding(peer), `${who} has no standing`)
    }
    assert.ok(honest.trust.hasStanding(me(author)), 'the honest author keeps its standing through the replay')

    const reply = await best(honest)
    assert.notEqual(reply.best?.id, fake.id, 'the fake is not the best')
    assert.ok(reply.candidates.every((c) => c.id !== fake.id), 'nor a candidate')
    const baseline = await honest.loops[0]!.baseline()
    assert.notEqual(baseline.resultId, fake.id)
    assert.notEqual(baseline.source, fakeCode, 'the loop does not build on the fake\'s code')
  })

  it('the clock-seeded honest author is re-run and missed, and not caught; a later run of theirs reproduced here gives standing', async (t: TestContext) => {
    // The author fixes its seed and publishes a better run while the honest node re-runs the clock-seeded one: it is re-run next.
    await waitFor(() => honest.claims.ledger.allClaims().some((c) => c.author === me(honest) && c.body.verifies === clocked.id), {
      timeoutMs: 60_000,
      what: () => `the honest node to start re-running the clock-seeded result; its last log lines:\n${recentLog(honest)}`
    })
    const claim = await authorClient.claim({ description: 'LR 0.01 -> 0.05 with the seed fixed again', code: laterCode, parent: null })
    assert.ok('claimed' in claim, JSON.stringify(claim))
    const later = await authorClient.publish({ claim: claim.claimed.id, log: await laterRun, code: laterCode })

    await waitFor(() => ownVerification(honest, clocked.id) !== undefined, {
      timeoutMs: 150_000,
      what: () => `the honest node to re-run the clock-seeded result (${JSON.stringify(honest.loops[0]?.stats)}); its last log lines:\n${recentLog(honest)}`
    })
    const verdict = ownVerification(honest, clocked.id)!
    assert.ok(verdict.metrics !== null, `the honest run re-ran: ${JSON.stringify(verdict.crash)}`)
    assert.equal(verdict.inconclusive, undefined)
    const { tolerance } = honest.trust.policy
    const miss = verdict.metrics.val_bpb - clocked.metrics!.val_bpb
    t.diagnostic(`reported ${clocked.metrics!.val_bpb.toFixed(4)}, re-run ${verdict.metrics.val_bpb.toFixed(4)}: ${(miss / tolerance).toFixed(1)} tolerances (${tolerance})`)
    assert.ok(miss < tolerance * TRUST_BOUNDS.liarMargin, `the setup: the clock's seed moved val_bpb by ${miss.toFixed(4)}, past the liar margin; the code's spread over seeds is larger than measured`)
    assert.ok(!honest.trust.state.caught.has(me(author)), 'an honest author is never branded a liar for a miss under the liar margin')

    const status = honest.trust.status(clocked.id)
    const reply = await best(honest)
    if (Math.abs(miss) <= tolerance) {
      // The clock drew a seed close enough (about 4 runs in 10): it reproduced.
      assert.equal(status, 'trusted')
      assert.ok(honest.trust.hasStanding(me(author)))
    } else if (miss < tolerance * TRUST_BOUNDS.nearMargin) {
      assert.equal(status, 'not-reproduced', 'a small miss only marks the result')
      assert.ok(honest.trust.hasStanding(me(author)), 'and its author keeps standing')
      assert.ok(!honest.trust.state.suspect.has(me(author)))
      assert.notEqual(reply.best?.id, clocked.id)
    } else {
      assert.equal(status, 'refuted', 'a moderate miss refutes the result')
      assert.ok(honest.trust.state.suspect.has(me(author)), 'its author is suspect, not caught')
      assert.ok(!honest.trust.hasStanding(me(author)), 'and loses standing for now')
      assert.notEqual(reply.best?.id, clocked.id)
    }

    // Its later run, reproduced here: standing, whatever the miss cost it.
    await waitFor(() => ownVerification(honest, later.id) !== undefined, {
      timeoutMs: 150_000,
      what: () => `the honest node to re-run the author's later result (${JSON.stringify(honest.loops[0]?.stats)}); its last log lines:\n${recentLog(honest)}`
    })
    const again = ownVerification(honest, later.id)!
    assert.ok(again.metrics !== null && Math.abs(again.metrics.val_bpb - later.metrics!.val_bpb) <= tolerance, `re-run ${JSON.stringify(again.metrics?.val_bpb ?? again.crash)} vs reported ${later.metrics!.val_bpb}`)
    assert.equal(honest.trust.status(later.id), 'trusted')
    assert.ok(honest.trust.hasStanding(me(author)), 'the author has standing after a later run reproduced here')
    assert.ok(!honest.trust.state.caught.has(me(author)))
  })
})
