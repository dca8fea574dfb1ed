import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BuiltinProposer } from '../../src/agent/builtin-proposer.js'
import { ProposalError } from '../../src/agent/proposer.js'
import { ResultPublisher } from '../../src/claims/publish.js'
import { CODE_FETCH_BACKOFF_MS, DOUBT_AFTER_CHILDREN, ResearchLoop } from '../../src/agent/research-loop.js'
import { ScriptedExperimentRunner } from '../../src/runner/scripted-runner.js'
import { createHashingEmbedder } from '../../src/embedding/hashing-embedder.js'
import { SemanticDedup } from '../../src/claims/semantic.js'
import { ClaimBook } from '../../src/claims/claim-book.js'
import { ResearchLedger } from '../../src/claims/research-ledger.js'
import { HypothesisBook } from '../../src/claims/hypotheses.js'
import { TrustLedger } from '../../src/trust/trust-ledger.js'
import { bestView, childrenOf, frontier } from '../../src/claims/lineage.js'
import { sha256Hex } from '../../src/util/hash.js'
import { seededRng } from '../../src/util/rng.js'
import { TickingClock, grantStanding, memoryBlobs, vouchAs } from '../helpers/loop-fixture.js'
import { deliver, makeReplica, publishAs } from '../helpers/replica.js'
import { HARNESS_DIR } from '../helpers/python.js'
import type { Proposer } from '../../src/agent/proposer.js'
import type { RunReport } from '../../src/agent/research-loop.js'
import type { Replica } from '../helpers/replica.js'
import type { ClaimBody } from '../../src/state/record-kinds.js'
import type { ResultEntry } from '../../src/claims/research-ledger.js'
import type { SwarmState } from '../../src/state/swarm-state.js'

/** The results a replica holds on harness h1, oldest first, as the ledger (the read model) lists them. */
function resultsIn (state: SwarmState, harness: string): ResultEntry[] {
  const ledger = new ResearchLedger(state, harness)
  try { return ledger.allResults() } finally { ledger.close() }
}

async function setup (proposer?: Proposer, maxExperiments = 8, semantic?: SemanticDedup, replicaIn?: Awaited<ReturnType<typeof makeReplica>>, init: { verifyBeforeAdopt?: boolean, adoptOnlyReproducedHere?: boolean } = {}) {
  const replica = replicaIn ?? await makeReplica({ seed: 21, clock: new TickingClock() })
  const blobs = memoryBlobs()
  // A landscape where most knobs matter: bigger models and batches help, the LR is best at 0.01.
  const runner = new ScriptedExperimentRunner((c) => 4 - 0.05 * Number(c.get('DEPTH')) - 0.002 * Number(c.get('WIDTH')) - 0.01 * Number(c.get('BATCH_SIZE')) + Math.abs(Math.log10(Number(c.get('LEARNING_RATE')) / 0.01)))
  const log: string[] = []
  const runs: RunReport[] = []
  const ledger = new ResearchLedger(replica.state, 'h1')
  const claims = new ClaimBook({ state: replica.state, ledger, clock: replica.clock, ...(semantic !== undefined ? { semantic } : {}) }, { settleMs: 0 })
  const hypotheses = new HypothesisBook({ state: replica.state, ledger, clock: replica.clock }, { perHour: 20 })
  const trust = new TrustLedger(ledger, { self: replica.state.peerId, quorum: 2, reputationAfter: 3, tolerance: 0.01 })
  const defaultSource = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
  const publisher = new ResultPublisher({ state: replica.state, ledger, blobs, clock: replica.clock, defaultSource }, { hardware: { gpu: 'cpu', vramGb: 0 }, tier: 'cpu', harness: 'h1', maxSteps: 10 })
  const loop = new ResearchLoop({ state: replica.state, blobs, runner, proposer: proposer ?? new BuiltinProposer({ rng: seededRng(7) }), clock: replica.clock, log: (l) => log.push(l), claims, hypotheses, trust, publisher, onRun: (r) => runs.push(r) }, {
    profile: 'cpu', tier: 'cpu', hardware: { gpu: 'cpu', vramGb: 0 }, harness: 'h1', defaultSource,
    maxSteps: 10, claimTtlMs: 60_000, maxExperiments, retryMs: 1, ...init
  })
  return { replica, blobs, runner, loop, log, trust, runs }
}

describe('ResearchLoop (scripted runner, in-memory state)', () => {
  it('runs the baseline, then builds on its own best: claims, results with source and log, improvement', async () => {
    const { replica, blobs, loop } = await setup(undefined, 20)
    loop.start()
    await loop.done
    const results = resultsIn(replica.state, 'h1')
    assert.equal(results.length, 20)
    assert.equal(results[0]!.body.description, 'baseline: the harness default train.py')
    assert.equal(results[0]!.body.parent, null)
    const claims = new Map<string, ClaimBody>(replica.state.list('claim').map((c) => [c.id, c.record.body as ClaimBody]))
    for (const r of results) {
      assert.ok(claims.has(r.body.claimId), 'every result answers a claim')
      assert.equal(claims.get(r.body.claimId)!.codeHash, r.body.codeHash)
      assert.equal(sha256Hex(blobs.blobs.get(r.body.codeHash)!), r.body.codeHash)
      assert.match(Buffer.from(blobs.blobs.get(r.body.logHash)!).toString(), /val_bpb/)
    }
    const best = bestView(results, { tier: 'cpu', trusted: (id) => results.find((r) => r.id === id)?.author === replica.state.peerId, maxSteps: 10 })!
    assert.ok(best.body.metrics!.val_bpb < results[0]!.body.metrics!.val_bpb, 'the best improves on the baseline')
    assert.ok(results.some((r) => r.body.parent === best.body.parent && r.body.status === 'keep'))
    assert.ok(childrenOf(results, null).length >= 1)
    assert.ok(frontier(results).some((r) => r.id === best.id) || childrenOf(results, best.id).length > 0)
    assert.equal(loop.stats.experiments, 20)
    assert.ok(loop.stats.lastOverheadMs !== null)
  })

  it('publishes numbers no honest run can produce as an insane-metrics crash (the agent API answers the same)', async () => {
    // The scripted landscape goes below any real val_bpb for a 100-block model.
    const broken: Proposer = {
      async propose (ctx) {
        return { source: ctx.baseline.source.replace(/^DEPTH = \d+/m, 'DEPTH = 100'), description: 'DEPTH 2 -> 100', delta: [{ name: 'DEPTH', from: 2, to: 100 }] }
      }
    }
    const { replica, loop } = await setup(broken, 2)
    loop.start()
    await loop.done
    const results = resultsIn(replica.state, 'h1')
    assert.deepEqual(results.map((r) => r.body.status), ['keep', 'crash'])
    assert.equal(results[1]!.body.crash?.reason, 'insane-metrics')
    assert.equal(results[1]!.body.metrics, null)
    assert.equal(loop.stats.crashes, 1)
  })

  it('keeps going after a failed proposal and a crashing candidate, and publishes the crash', async () => {
    let call = 0
    const flaky: Proposer = {
      async propose (ctx) {
        call++
        if (call === 1) throw new ProposalError('PROPOSAL_MALFORMED', 'the agent returned garbage')
        if (call === 2) return { source: ctx.baseline.source + '\n1 / 0\n', description: 'divide by zero', delta: [] }
        return { source: ctx.baseline.source.replace(/^WIDTH = \d+/m, 'WIDTH = 80'), description: 'WIDTH 64 -> 80', delta: [{ name: 'WIDTH', from: 64, to: 80 }] }
      }
    }
    const { replica, loop, log } = await setup(flaky, 3)
    loop.start()
    await loop.done
    const results = resultsIn(replica.state, 'h1')
    assert.deepEqual(results.map((r) => r.body.status), ['keep', 'crash', 'keep'])
    assert.equal(results[1]!.body.crash?.reason, 'exception')
    assert.equal(results[1]!.body.metrics, null)
    assert.equal(loop.stats.failedProposals, 1)
    assert.equal(loop.stats.crashes, 1)
    assert.ok(log.some((l) => /garbage/.test(l)))
  })

  it('does not run what the swarm already ran or is running: a repeated proposal is dropped', async () => {
    let call = 0
    const repetitive: Proposer = {
      async propose (ctx) {
        call++
        // The same change twice in a row (a command agent might), then something new.
        const width = call <= 2 ? 80 : 72
        return { source: ctx.baseline.source.replace(/^WIDTH = \d+/m, `WIDTH = ${width}`), description: `WIDTH 64 -> ${width}`, delta: [{ name: 'WIDTH', from: 64, to: width }] }
      }
    }
    const { replica, loop, log } = await setup(repetitive, 3)
    loop.start()
    await loop.done
    const descriptions = resultsIn(replica.state, 'h1').map((r) => r.body.description)
    assert.deepEqual(descriptions.slice(1).sort(), ['WIDTH 64 -> 72', 'WIDTH 64 -> 80'].sort())
    assert.equal(loop.stats.duplicatesAvoided, 1)
    assert.ok(log.some((l) => /duplicates result .* \((exact|structured)\)/.test(l)), log.join('\n'))
  })

  it('drops the same idea in other words on the same baseline (semantic layer)', async () => {
    let call = 0
    // A coding agent that edits code, not constants (no delta), and repeats an idea in other words.
    const wordy: Proposer = {
      async propose (ctx) {
        call++
        const [description, marker] = call === 1
          ? ['switch the MLP activation from GELU to ReLU', 'relu-1']
          : call === 2 ? ['switch the MLP activation from GELU to ReLU please', 'relu-2'] : ['add a dropout layer after attention', 'dropout']
        return { source: `${ctx.baseline.source}\n# ${marker}\n`, description, delta: [] }
      }
    }
    const { replica, loop, log } = await setup(wordy, 3, new SemanticDedup(createHashingEmbedder()))
    loop.start()
    await loop.done
    const descriptions = resultsIn(replica.state, 'h1').map((r) => r.body.description)
    assert.equal(descriptions.length, 3)
    assert.ok(descriptions.includes('switch the MLP activation from GELU to ReLU'))
    assert.ok(descriptions.includes('add a dropout layer after attention'))
    assert.ok(!descriptions.includes('switch the MLP activation from GELU to ReLU please'))
    assert.ok(log.some((l) => /\(semantic \d\.\d\d\)/.test(l)), log.join('\n'))
  })
})



describe('ResearchLoop: verification before adoption', () => {
  it('re-runs better peer results first: adopts the one that reproduces, never the one that does not', async () => {
    const clock = new TickingClock()
    const a = await makeReplica({ seed: 31, clock })
    const honest = await makeReplica({ seed: 32, clock })
    const liar = await makeReplica({ seed: 33, clock })
    const { loop, blobs, trust, log, runner, runs } = await setup(undefined, 2, undefined, a)
    const defaultSource = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    const better = defaultSource.replace(/^WIDTH = \d+/m, 'WIDTH = 96')
    const fake = `${defaultSource}\n# trust me\n`
    // The honest peer reports what its run gave; the liar a number its code cannot reach.
    const honestBpb = (await runner.run({ id: 'honest', source: better, profile: 'cpu', maxSteps: 10 })).metrics!.val_bpb
    runner.runs.length = 0
    const honestId = await publishAs(honest, better, honestBpb, 'WIDTH 64 -> 96')
    const liarId = await publishAs(liar, fake, 0.5, 'a secret trick')
    for (const source of [better, fake]) await blobs.add(Buffer.from(source))
    await deliver(honest, a)
    await deliver(liar, a)

    loop.start()
    await loop.done
    assert.equal(trust.status(liarId), 'refuted', log.join('\n'))
    assert.equal(trust.status(honestId), 'trusted', log.join('\n'))
    assert.ok(trust.state.caught.has(liar.state.peerId))
    assert.equal(loop.stats.verifications, 2)
    assert.equal(loop.stats.refuted, 1)
    const mine = resultsIn(a.state, 'h1').filter((r) => r.author === a.state.peerId)
    assert.equal(mine.length, 2)
    assert.ok(mine.every((r) => r.body.parent === honestId), `built on ${mine.map((r) => r.body.parent).join(', ')}`)
    const verifications = a.state.list('verification')
    assert.deepEqual(verifications.map((v) => (v.record.body as { result: string }).result).sort(), [honestId, liarId].sort())
    // What /metrics counts: each run once, by kind and status, with its seconds.
    assert.deepEqual(runs.map((r) => `${r.kind}:${r.status}`).sort(), ['verification:ok', 'verification:ok', ...mine.map((r) => `experiment:${r.body.status}`)].sort())
    assert.ok(runs.every((r) => r.seconds >= 0 && Number.isFinite(r.seconds)))
  })

  it('builds on a result a quorum of standing peers reproduced without re-running it; the strict mode re-runs it first; with verification off, adopts it as it is', async () => {
    const modes: Array<{ verifyBeforeAdopt?: boolean, adoptOnlyReproducedHere?: boolean }> = [{}, { adoptOnlyReproducedHere: true }, { verifyBeforeAdopt: false }]
    for (const mode of modes) {
      const strict = mode.adoptOnlyReproducedHere === true
      const clock = new TickingClock()
      const a = await makeReplica({ seed: 51, clock })
      const [bob, carol, dave] = await Promise.all([52, 53, 54].map(async (seed) => makeReplica({ seed, clock })))
      const { loop, blobs, trust, runner } = await setup(undefined, 2, undefined, a, mode)
      const defaultSource = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
      const better = defaultSource.replace(/^WIDTH = \d+/m, 'WIDTH = 96')
      const bobBpb = (await runner.run({ id: 'bob', source: better, profile: 'cpu', maxSteps: 10 })).metrics!.val_bpb
      runner.runs.length = 0
      // carol and dave earned standing here (this node reproduced one result of each); both reproduced bob's.
      const [carolSource, daveSource] = [`${defaultSource}\n# carol\n`, `${defaultSource}\n# dave\n`]
      const carolRun = await publishAs(carol, carolSource, 3.9, 'carol\'s run')
      const daveRun = await publishAs(dave, daveSource, 3.9, 'dave\'s run')
      await vouchAs(a, carolRun, 3.9)
      await vouchAs(a, daveRun, 3.9)
      const bobRun = await publishAs(bob, better, bobBpb, 'WIDTH 64 -> 96')
      await vouchAs(carol, bobRun, bobBpb)
      await vouchAs(dave, bobRun, bobBpb)
      for (const source of [better, carolSource, daveSource]) await blobs.add(Buffer.from(source))
      for (const peer of [bob, carol, dave]) await deliver(peer, a)
      assert.equal(trust.status(bobRun), 'trusted', 'the setup: a quorum of standing peers reproduced bob\'s result')

      loop.start()
      await loop.done
      assert.equal(loop.stats.verifications, strict ? 1 : 0, strict ? 'the strict mode re-runs bob\'s result here first' : 'adopted as the swarm trusts it')
      assert.equal(trust.reproducedHere(bobRun), strict)
      const mine = resultsIn(a.state, 'h1').filter((r) => r.author === a.state.peerId)
      assert.equal(mine.length, 2)
      assert.ok(mine.every((r) => r.body.parent === bobRun), `built on ${mine.map((r) => r.body.parent).join(', ')}`)
    }
  })

  it('a re-run that ends for a reason of this machine the harness saw (out of memory here, past its clock, its evaluator dead) is published as inconclusive: the author is not caught, nothing is built on it, it is not retried', async () => {
    for (const [reason, detail] of [['resource-limit', 'used more than its 256 MiB of memory in all: the kernel killed it'], ['timeout', 'ran past its budget and was killed with its children'], ['evaluator-failed', 'the harness\'s evaluator exited before the run reached it: MemoryError']] as const) {
      const clock = new TickingClock()
      const a = await makeReplica({ seed: 61, clock })
      const bob = await makeReplica({ seed: 62, clock })
      const { loop, blobs, trust, runner, log, runs } = await setup(undefined, 2, undefined, a)
      const heavy = `${(await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')).replace(/^WIDTH = \d+/m, 'WIDTH = 96')}\n# needs more memory than this machine has\n`
      const scripted = runner.run.bind(runner)
      let heavyRuns = 0
      runner.run = async (spec, options) => {
        if (!spec.source.includes('more memory than this machine')) return scripted(spec, options)
        heavyRuns++
        return { status: 'crash', reason, detail, log: 'MemoryError\n', logTail: 'MemoryError\n', exitCode: 1, wallMs: 1 }
      }
      const bobId = await publishAs(bob, heavy, 3.05, 'a much wider model')
      await blobs.add(Buffer.from(heavy))
      await deliver(bob, a)
      loop.start()
      await loop.done
      const published = a.state.list('verification').map((v) => v.record.body as { result: string, metrics: unknown, inconclusive?: boolean, crash?: { reason: string } })
      assert.equal(published.length, 1)
      assert.deepEqual([published[0]!.result, published[0]!.metrics, published[0]!.inconclusive, published[0]!.crash?.reason], [bobId, null, true, reason], 'published as inconclusive, no vote')
      assert.equal(trust.status(bobId), 'unverified')
      assert.ok(!trust.state.caught.has(bob.state.peerId), 'bob is not caught for this machine\'s limits')
      assert.equal(heavyRuns, 1, 'tried once')
      assert.deepEqual(runs.filter((r) => r.kind === 'verification').map((r) => r.status), ['inconclusive'])
      const mine = resultsIn(a.state, 'h1').filter((r) => r.author === a.state.peerId)
      assert.equal(mine.length, 2)
      assert.ok(mine.every((r) => r.body.parent !== bobId))
      assert.ok(log.some((l) => l.includes(`(${reason}: ${detail})`) && /could not re-run/.test(l)), log.join('\n'))
    }
  })

  it('a re-run whose code raises MemoryError itself (no limit the harness saw) is the code\'s crash: published, the fake refuted even with a quorum vouching for it (strict mode)', async () => {
    const clock = new TickingClock()
    const a = await makeReplica({ seed: 81, clock })
    const [liar, carol, dave] = await Promise.all([82, 83, 84].map(async (seed) => await makeReplica({ seed, clock })))
    const { loop, blobs, trust, runner } = await setup(undefined, 2, undefined, a, { adoptOnlyReproducedHere: true })
    const defaultSource = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    // carol and dave earn standing here: this node reproduced one result of each.
    await grantStanding(a, [carol!, dave!], { blobs, widthFrom: 72 })
    const fake = `${defaultSource}\nraise MemoryError("the verifier's machine is too small")\n`
    const fakeId = await publishAs(liar!, fake, 0.9, 'a secret trick')
    await vouchAs(carol!, fakeId, 0.9)
    await vouchAs(dave!, fakeId, 0.9)
    await blobs.add(Buffer.from(fake))
    for (const peer of [liar!, carol!, dave!]) await deliver(peer, a)
    assert.equal(trust.status(fakeId), 'trusted', 'the setup: two standing vouchers make the fake trusted before this node re-runs it')
    const scripted = runner.run.bind(runner)
    runner.run = async (spec, options) => {
      if (!spec.source.includes('raise MemoryError')) return await scripted(spec, options)
      const log = 'Traceback (most recent call last):\n  File "train.py", line 230, in <module>\nMemoryError: the verifier\'s machine is too small\n'
      // What the real runner's classification gives now (classify.ts): the harness saw no limit.
      return { status: 'crash', reason: 'exception', detail: 'train.py reports running out of memory, and the harness saw no limit reached (256 MiB): MemoryError: the verifier\'s machine is too small', log, logTail: log, exitCode: 1, wallMs: 1 }
    }
    loop.start()
    await loop.done
    const mine = a.state.list('verification').find((v) => v.record.author === a.state.peerId && (v.record.body as { result: string }).result === fakeId)
    assert.ok(mine !== undefined, 'a verdict is published')
    assert.deepEqual((mine.record.body as { crash?: unknown }).crash, { reason: 'exception', detail: 'MemoryError' }, 'the crash kind and the built-in exception, not its message')
    assert.equal((mine.record.body as { inconclusive?: boolean }).inconclusive, undefined)
    assert.equal(trust.status(fakeId), 'refuted')
    assert.ok(trust.state.caught.has(liar!.state.peerId), 'the liar is caught')
    const results = resultsIn(a.state, 'h1')
    assert.notEqual(bestView(results, { tier: 'cpu', trusted: (id) => trust.isTrusted(id), maxSteps: 10 })?.id, fakeId, 'never the best')
    assert.ok(results.filter((r) => r.author === a.state.peerId).every((r) => r.body.parent !== fakeId), 'nothing built on it')
  })

  it('a fake two standing peers vouched for is built on, but after DOUBT_AFTER_CHILDREN experiments that never beat it, re-run here: refuted, its author caught, the loop moves off it', async () => {
    const clock = new TickingClock()
    const a = await makeReplica({ seed: 91, clock })
    const [liar, carol, dave] = await Promise.all([92, 93, 94].map(async (seed) => await makeReplica({ seed, clock })))
    const { loop, blobs, trust, log } = await setup(undefined, DOUBT_AFTER_CHILDREN + 2, undefined, a)
    const defaultSource = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    await grantStanding(a, [carol!, dave!], { blobs, widthFrom: 72 })
    // The fake's numbers are out of reach: whatever is built on it comes out worse.
    const fake = `${defaultSource}\n# a secret trick\n`
    const fakeId = await publishAs(liar!, fake, 0.9, 'a secret trick')
    await vouchAs(carol!, fakeId, 0.9)
    await vouchAs(dave!, fakeId, 0.9)
    await blobs.add(Buffer.from(fake))
    for (const peer of [liar!, carol!, dave!]) await deliver(peer, a)
    assert.equal(trust.status(fakeId), 'trusted', 'the setup: two standing vouchers make the fake trusted')

    loop.start()
    await loop.done
    const mine = resultsIn(a.state, 'h1').filter((r) => r.author === a.state.peerId)
    const onFake = mine.filter((r) => r.body.parent === fakeId)
    assert.equal(onFake.length, DOUBT_AFTER_CHILDREN, `built on the fake until it was doubted:\n${log.join('\n')}`)
    assert.ok(onFake.every((r) => r.body.status !== 'keep'))
    assert.equal(trust.status(fakeId), 'refuted', log.join('\n'))
    assert.ok(trust.state.caught.has(liar!.state.peerId), 'the liar is caught')
    assert.ok(mine.slice(DOUBT_AFTER_CHILDREN).every((r) => r.body.parent !== fakeId), 'nothing more is built on it')
  })

  it('a peer\'s result whose code nobody serves does not stall the loop: it researches meanwhile and asks again after a back-off', { timeout: 20_000 }, async () => {
    const clock = new TickingClock()
    const a = await makeReplica({ seed: 71, clock })
    const gone = await makeReplica({ seed: 72, clock })
    const { loop, blobs, trust, runner, log } = await setup(undefined, 3, undefined, a)
    // Its author published a better result, then went offline with the only copy of its code.
    const orphan = `${(await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')).replace(/^WIDTH = \d+/m, 'WIDTH = 96')}\n# its author went offline\n`
    const orphanHash = sha256Hex(Buffer.from(orphan))
    const orphanBpb = (await runner.run({ id: 'gone', source: orphan, profile: 'cpu', maxSteps: 10 })).metrics!.val_bpb
    runner.runs.length = 0
    const orphanId = await publishAs(gone, orphan, orphanBpb, 'a much wider model')
    await deliver(gone, a)
    const fetch = blobs.get
    let unanswered = 0
    blobs.get = async (hash) => {
      try { return await fetch(hash) } catch (err) { if (hash === orphanHash) unanswered++; throw err }
    }
    // The author is back once this node finished its first run, and the back-off has passed by then.
    const scripted = runner.run.bind(runner)
    runner.run = async (spec, options) => {
      const outcome = await scripted(spec, options)
      if (runner.runs.length === 1) {
        await blobs.add(Buffer.from(orphan))
        clock.advance(CODE_FETCH_BACKOFF_MS.first)
      }
      return outcome
    }
    loop.start()
    await loop.done
    assert.ok(log.some((l) => /cannot re-run .*its code is not to be had.*asking again in 60 s, researching meanwhile/.test(l)), log.join('\n'))
    assert.equal(unanswered, 1, 'asked for the missing code once, not every cycle')
    assert.equal(loop.stats.verifications, 1, 'asked again after the back-off, and re-ran it')
    assert.ok(trust.reproducedHere(orphanId))
    const mine = resultsIn(a.state, 'h1').filter((r) => r.author === a.state.peerId)
    assert.deepEqual(mine.map((r) => r.body.parent), [null, orphanId, orphanId], 'its baseline meanwhile, then built on the result once re-run')
  })

  it('verification is on by default: a lone liar\'s result is re-run and never built on', async () => {
    const clock = new TickingClock()
    const a = await makeReplica({ seed: 41, clock })
    const liar = await makeReplica({ seed: 42, clock })
    const { loop, blobs } = await setup(undefined, 2, undefined, a)
    const fake = `${await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')}\n# trust me\n`
    const liarId = await publishAs(liar, fake, 0.5, 'a secret trick')
    await blobs.add(Buffer.from(fake))
    await deliver(liar, a)
    loop.start()
    await loop.done
    assert.equal(loop.stats.verifications, 1, 'verification is on by default')
    assert.ok(resultsIn(a.state, 'h1').filter((r) => r.author === a.state.peerId).every((r) => r.body.parent !== liarId))
  })
})
