import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { precedes } from '../../src/claims/research-ledger.js'
import { AgentClient, AgentApiError, runLog } from '../helpers/agent-client.js'
import { startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { waitFor } from '../helpers/wait.js'
import type { ClaimInput } from '../helpers/agent-client.js'
import type { Daemon } from '../../src/daemon/daemon.js'
import type { ClaimJson, ResultJson } from '../../src/http/api-contract.js'

// Only what a claim waits for: these daemons either see each other's claims long before, or never.
const SETTLE_MS = 200

/** Set a module-level constant of train.py, keeping its comment or writing another. */
function setConstant (source: string, name: string, value: string, note?: string): string {
  const line = new RegExp(`^${name} = [^\\s#]+(.*)$`, 'm')
  assert.match(source, line, `train.py has no constant ${name}`)
  return source.replace(line, (_, comment: string) => `${name} = ${value}${note === undefined ? comment : `  # ${note}`}`)
}

function replaceCode (source: string, from: string, to: string): string {
  assert.ok(source.includes(from), `train.py has no ${from}`)
  return source.replace(from, to)
}

interface Side { daemon: Daemon, client: AgentClient, name: string }

async function startSide (name: string, daemons: Daemon[]): Promise<Side> {
  const daemon = await startInProcessDaemon({ claimSettleMs: SETTLE_MS })
  daemons.push(daemon)
  return { daemon, client: await AgentClient.forDataDir(daemon.paths.root, name), name }
}

/** Heal the partition through the agent API; retried, since loopback dials can be reset (inbound dials are rate limited). */
async function connect (from: Side, to: Side): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      assert.equal(await from.client.connect(to.daemon.listenAddrs()[0]!), to.daemon.identity.peerId.toString())
      return
    } catch (err) {
      if (attempt >= 8) throw err
      await sleep(250 * attempt)
    }
  }
}

async function claimed (side: Side, input: ClaimInput): Promise<ClaimJson> {
  const answer = await side.client.claim(input)
  assert.ok('claimed' in answer, `${side.name} claims "${input.description}": ${JSON.stringify(answer)}`)
  return answer.claimed
}

async function bothHold (sides: Side[], resultIds: string[]): Promise<void> {
  await waitFor(async () => {
    for (const side of sides) {
      const held = new Set((await side.client.results()).map((r) => r.id))
      if (resultIds.some((id) => !held.has(id))) return false
    }
    return true
  }, { what: `results ${resultIds.join(', ')} on ${sides.map((s) => s.name).join(' and ')}`, timeoutMs: 60_000, intervalMs: 100 })
}

const resultById = async (side: Side, id: string): Promise<ResultJson> => {
  const result = (await side.client.results()).find((r) => r.id === id)
  assert.ok(result !== undefined, `${side.name} holds result ${id}`)
  return result
}

describe('e2e: claims across a partition', { timeout: 180_000 }, () => {
  const daemons: Daemon[] = []
  afterEach(async () => { await stopAndRemove(...daemons.splice(0)) })

  /**
   * Two daemons that cannot see each other both claim and run one experiment; once they
   * connect, both mark the result of the later claim (createdAt, then author) a duplicate of
   * the earlier one, count it, and keep both results.
   */
  async function partitionedTwins (first: (source: string) => ClaimInput & { runCode: string }, second: (source: string) => ClaimInput & { runCode: string }, layer: 'exact' | 'structured' | 'semantic'): Promise<void> {
    const a = await startSide('A', daemons)
    const b = await startSide('B', daemons)
    assert.equal(a.daemon.network.libp2p.getConnections().length + b.daemon.network.libp2p.getConnections().length, 0, 'A and B start partitioned')
    const source = a.daemon.defaultSource

    const runs: Array<{ side: Side, claim: ClaimJson, result: ResultJson }> = []
    for (const [side, make] of [[a, first], [b, second]] as const) {
      const { runCode, ...input } = make(source)
      const claim = await claimed(side, input)
      await side.client.heartbeat(claim.id)
      const result = await side.client.publish({ claim: claim.id, log: runLog(1.6), code: runCode, status: 'discard' })
      assert.equal(result.duplicateOf, null, `${side.name} alone sees nothing to repeat`)
      runs.push({ side, claim, result })
    }
    assert.equal(a.daemon.network.libp2p.getConnections().length, 0, 'still partitioned when both results are in')

    await connect(b, a)
    await bothHold([a, b], runs.map((r) => r.result.id))

    const [earlier, later] = precedes(runs[0]!.claim, runs[1]!.claim) ? [runs[0]!, runs[1]!] : [runs[1]!, runs[0]!]
    for (const side of [a, b]) {
      // The mark is computed from the merged state; wait for it rather than for a fixed time.
      await waitFor(async () => (await resultById(side, later.result.id)).duplicateOf !== null, { what: `${side.name} to mark the later result`, timeoutMs: 30_000, intervalMs: 100 })
      const mark = (await resultById(side, later.result.id)).duplicateOf
      assert.equal(mark?.of, earlier.result.id, `${side.name}: the later claim's result (${later.side.name}) repeats the earlier one (${earlier.side.name})`)
      assert.equal(mark?.layer, layer, `${side.name}: found by the ${layer} layer`)
      if (layer === 'semantic') assert.ok(typeof mark?.score === 'number' && mark.score > 0.5, `${side.name}: a semantic mark carries its score`)
      assert.equal((await resultById(side, earlier.result.id)).duplicateOf, null, `${side.name}: the earlier result is the original`)
      assert.equal((await side.client.claimCounts()).duplicateResults, 1, `${side.name} counts one duplicate result`)
      assert.equal((await side.client.results()).length, 2, `${side.name} keeps both results`)
    }
  }

  it('both sides change the same constant: the merge marks the later result (structured)', async () => {
    await partitionedTwins(
      (source) => {
        const code = setConstant(source, 'LEARNING_RATE', '0.02')
        return { description: 'double the learning rate to 0.02', parent: null, code, runCode: code }
      },
      (source) => {
        // The same change with another comment: another file, the same experiment.
        const code = setConstant(source, 'LEARNING_RATE', '0.02', '2x the default')
        return { description: 'learning rate 0.02 (2x the default)', parent: null, code, runCode: code }
      },
      'structured')
  })

  it('both sides claim one idea in other words: the merge marks the later result (semantic)', async () => {
    const gelu = 'nn.GELU()'
    await partitionedTwins(
      (source) => ({ description: 'replace GELU with SiLU', parent: null, runCode: replaceCode(source, gelu, 'nn.SiLU()') }),
      // Its own code for the idea: another file, no constant changed, so only the words can tell.
      (source) => ({ description: 'use SiLU activation instead of GELU', parent: null, runCode: replaceCode(source, gelu, 'nn.SiLU(inplace=True)') }),
      'semantic')
  })

  it('an expired claim frees the experiment for another daemon, and its late (zombie) result is still kept', async () => {
    const a = await startSide('A', daemons)
    const b = await startSide('B', daemons)
    await connect(b, a)
    const source = a.daemon.defaultSource
    const tied = replaceCode(source, '        self.head = nn.Linear(WIDTH, VOCAB_SIZE, bias=False)\n',
      '        self.head = nn.Linear(WIDTH, VOCAB_SIZE, bias=False)\n        self.head.weight = self.embed.weight\n')

    // A claims with a short ttl and never heartbeats: its agent is stuck (or its machine slept).
    const ttlMs = 5_000
    const zombie = await claimed(a, { description: 'tie the token embedding and output head weights', parent: null, ttlMs })
    await waitFor(async () => (await b.client.getClaim(zombie.id)) !== undefined, { what: "A's claim on B", timeoutMs: 30_000, intervalMs: 50 })

    const paraphrase: ClaimInput = { description: 'share weights between wte and lm_head', parent: null, code: tied, ttlMs: 60_000 }
    const early = await b.client.claim(paraphrase)
    if ((await b.client.getClaim(zombie.id))?.status === 'active') {
      // Still within A's ttl when B asked (a very slow box may already be past it): refused, or,
      // in the grey band, A's claim is what B's agent is asked to judge.
      const named = 'duplicate' in early ? [early.duplicate] : 'uncertain' in early ? early.uncertain : []
      assert.deepEqual(named.map((d) => [d.conflict.id, d.layer]), [[zombie.id, 'semantic']], `B is not let through while A's claim is active: ${JSON.stringify(early)}`)
    } else if ('claimed' in early) {
      await b.client.release(early.claimed.id)
    }

    await waitFor(async () => (await b.client.getClaim(zombie.id))?.status === 'expired', { what: "A's claim to expire on B", timeoutMs: 30_000, intervalMs: 100 })
    const retaken = await claimed(b, paraphrase)
    // A's agent wakes up: too late to keep the claim alive, not too late to report what it ran.
    await assert.rejects(a.client.heartbeat(zombie.id), (err: unknown) => err instanceof AgentApiError && err.status === 409 && err.code === 'CLAIM_CLOSED')
    const late = await a.client.publish({ claim: zombie.id, log: runLog(1.55), code: tied, status: 'discard' })
    const fresh = await b.client.publish({ claim: retaken.id, log: runLog(1.56), code: tied, status: 'discard' })

    await bothHold([a, b], [late.id, fresh.id])
    for (const side of [a, b]) {
      const zombieView = await side.client.getClaim(zombie.id)
      assert.equal(zombieView?.status, 'finished', `${side.name}: the expired claim is finished by its late result`)
      assert.deepEqual(zombieView?.results, [late.id])
      const kept = await resultById(side, late.id)
      assert.equal(kept.claimId, zombie.id)
      assert.equal(kept.duplicateOf, null, `${side.name}: the zombie result is the earlier claim's, not a duplicate`)
      // The experiment did run twice: visible and counted, as after a partition.
      await waitFor(async () => (await resultById(side, fresh.id)).duplicateOf !== null, { what: `${side.name} to mark the re-run`, timeoutMs: 30_000, intervalMs: 100 })
      assert.equal((await resultById(side, fresh.id)).duplicateOf?.of, late.id)
      assert.equal((await side.client.claimCounts()).duplicateResults, 1)
    }
  })
})
