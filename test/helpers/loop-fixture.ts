import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BuiltinProposer } from '../../src/agent/builtin-proposer.js'
import { ResearchLoop } from '../../src/agent/research-loop.js'
import { ClaimBook } from '../../src/claims/claim-book.js'
import { HypothesisBook } from '../../src/claims/hypotheses.js'
import { ResultPublisher } from '../../src/claims/publish.js'
import { ResearchLedger } from '../../src/claims/research-ledger.js'
import { ScriptedExperimentRunner } from '../../src/runner/scripted-runner.js'
import { TrustLedger } from '../../src/trust/trust-ledger.js'
import { ManualClock } from '../../src/util/clock.js'
import { sha256Hex } from '../../src/util/hash.js'
import { seededRng } from '../../src/util/rng.js'
import { HARNESS_DIR } from './python.js'
import { deliver, publishAs } from './replica.js'
import type { Replica } from './replica.js'

/** Every reading is one millisecond later, so records order by creation. */
export class TickingClock extends ManualClock {
  override now (): number {
    this.advance(1)
    return super.now()
  }
}

/** Blobs in memory, by sha256: what a research loop and a publisher need of the blob service. */
export function memoryBlobs (): { blobs: Map<string, Uint8Array>, add: (bytes: Uint8Array) => Promise<string>, get: (hash: string) => Promise<Uint8Array> } {
  const blobs = new Map<string, Uint8Array>()
  return {
    blobs,
    add: async (bytes) => { const h = sha256Hex(bytes); blobs.set(h, bytes); return h },
    get: async (hash) => {
      const bytes = blobs.get(hash)
      if (bytes === undefined) throw new Error('missing')
      return bytes
    }
  }
}

export interface ScriptedNode {
  loop: ResearchLoop
  trust: TrustLedger
  ledger: ResearchLedger
  log: string[]
}

/**
 * A node's research loop on its replica, in memory: the scripted runner (its default bowl), the
 * builtin proposer, quorum 2, the harness's train.py as default, 10 steps, harness `h1`.
 */
export async function scriptedNode (replica: Replica, options: { seed: number, blobs: ReturnType<typeof memoryBlobs>, settleMs?: number, maxExperiments?: number, maxVerifyShare?: number }): Promise<ScriptedNode> {
  const defaultSource = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
  await options.blobs.add(Buffer.from(defaultSource))
  const ledger = new ResearchLedger(replica.state, 'h1')
  const trust = new TrustLedger(ledger, { self: replica.state.peerId, quorum: 2, reputationAfter: 3, tolerance: 0.01 })
  const log: string[] = []
  const { blobs } = options
  const loop = new ResearchLoop({
    state: replica.state,
    blobs,
    runner: new ScriptedExperimentRunner(),
    proposer: new BuiltinProposer({ rng: seededRng(options.seed) }),
    clock: replica.clock,
    log: (l) => { log.push(l); if (process.env.SWARMD_TEST_LOG !== undefined) process.stderr.write(`${l}\n`) },
    claims: new ClaimBook({ state: replica.state, ledger, clock: replica.clock }, { settleMs: options.settleMs ?? 0 }),
    hypotheses: new HypothesisBook({ state: replica.state, ledger, clock: replica.clock }, { perHour: 20 }),
    trust,
    publisher: new ResultPublisher({ state: replica.state, ledger, blobs, clock: replica.clock, defaultSource }, { hardware: { gpu: 'cpu', vramGb: 0 }, tier: 'cpu', harness: 'h1', maxSteps: 10 })
  }, {
    profile: 'cpu',
    tier: 'cpu',
    hardware: { gpu: 'cpu', vramGb: 0 },
    harness: 'h1',
    defaultSource,
    maxSteps: 10,
    claimTtlMs: 60_000,
    maxExperiments: options.maxExperiments ?? 1,
    retryMs: 1,
    ...(options.maxVerifyShare !== undefined ? { maxVerifyShare: options.maxVerifyShare } : {})
  })
  return { loop, trust, ledger, log }
}

/** `peer` publishes a verification of `resultId` saying it measured `valBpb` (cpu, 10 steps, harness `h1`), true or not. */
export async function vouchAs (peer: Replica, resultId: string, valBpb: number): Promise<void> {
  const metrics = { val_bpb: valBpb, training_seconds: 1, total_seconds: 1.5, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 0.1, num_steps: 10, num_params_M: 0.1, depth: 2 }
  await peer.state.append('verification', {
    result: resultId, claimId: sha256Hex(Buffer.from(`verify ${resultId} ${peer.state.peerId}`)), metrics, logHash: sha256Hex(Buffer.from('log')),
    hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: 'h1', maxSteps: 10
  })
}

/**
 * `by` re-ran a (poor) result of each of `peers` and reproduced it: their word counts on `by`
 * (level-1 standing). Each result is the default train.py with WIDTH from `widthFrom` up, its code stored.
 */
export async function grantStanding (by: Replica, peers: Replica[], options: { blobs: ReturnType<typeof memoryBlobs>, widthFrom: number, valBpb?: number }): Promise<void> {
  const defaultSource = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
  const valBpb = options.valBpb ?? 3.9
  let width = options.widthFrom
  for (const peer of peers) {
    const source = defaultSource.replace(/^WIDTH = \d+/m, `WIDTH = ${width}`)
    await options.blobs.add(Buffer.from(source))
    const id = await publishAs(peer, source, valBpb, `WIDTH 64 -> ${width++}`)
    await deliver(peer, by)
    await vouchAs(by, id, valBpb)
  }
}
