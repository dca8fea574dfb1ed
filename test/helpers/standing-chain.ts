import * as Y from 'yjs'
import { generateIdentity } from '../../src/p2p/identity.js'
import { sha256Hex } from '../../src/util/hash.js'
import { RecordWriter } from './hostile-node.js'
import type { Daemon } from '../../src/daemon/daemon.js'
import type { RunMetricsBody } from '../../src/state/record-kinds.js'

export const CHAIN_STEPS = 20

export const chainMetrics = (valBpb: number): RunMetricsBody => ({ val_bpb: valBpb, training_seconds: 20, total_seconds: 22, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 0.02, num_steps: CHAIN_STEPS, num_params_M: 0.1, depth: 2 })

/** An identity of the swarm writing signed records (its binding first), applied to a daemon as if from the wire. */
export interface ChainPeer { peerId: string, writer: RecordWriter, updates: Uint8Array[] }

let nextClient = 0x5c000000

export async function chainPeer (): Promise<ChainPeer> {
  const identity = await generateIdentity()
  const { writer, binding } = await RecordWriter.open(identity, nextClient++)
  return { peerId: identity.peerId.toString(), writer, updates: [binding] }
}

/** `p` writes a finished run claiming `valBpb` (no claim: a result stands without one); returns its id. */
export async function writeResult (d: Daemon, p: ChainPeer, valBpb: number, description: string, opts: { torch?: string } = {}): Promise<string> {
  const { update, record } = await p.writer.write('result', {
    claimId: sha256Hex(`claim ${description}`), parent: null, codeHash: sha256Hex(description), logHash: sha256Hex(`log of ${description}`), description, delta: [], status: 'keep',
    metrics: chainMetrics(valBpb), crash: null, hardware: { gpu: 'cpu', vramGb: 0, tier: d.research.tier }, harness: d.research.harness,
    ...(opts.torch !== undefined ? { environment: { torch: opts.torch } } : {})
  })
  p.updates.push(update)
  return record.id
}

/** `p` says it re-ran `resultId` and measured `valBpb` (null: crashed with `crash`). */
export async function writeVerification (d: Daemon, p: ChainPeer, resultId: string, valBpb: number | null, extra: { torch?: string, crash?: { reason: string, detail: string } } = {}): Promise<void> {
  const { update } = await p.writer.write('verification', {
    result: resultId, claimId: sha256Hex(`verify ${resultId} by ${p.peerId}`), metrics: valBpb === null ? null : chainMetrics(valBpb), logHash: sha256Hex('re-run log'),
    hardware: { gpu: 'cpu', vramGb: 0, tier: d.research.tier }, harness: d.research.harness, maxSteps: CHAIN_STEPS,
    ...(extra.torch !== undefined ? { environment: { torch: extra.torch } } : {}),
    ...(extra.crash !== undefined ? { crash: extra.crash } : {})
  })
  p.updates.push(update)
}

/** `d` itself re-ran `resultId` and measured `valBpb`: its own verification record. */
export async function selfVerify (d: Daemon, resultId: string, valBpb: number | null, extra: { torch?: string, crash?: { reason: string, detail: string }, inconclusive?: true } = {}): Promise<void> {
  await d.state.append('verification', {
    result: resultId, claimId: sha256Hex(`verify ${resultId} here`), metrics: valBpb === null ? null : chainMetrics(valBpb), logHash: sha256Hex('re-run log here'),
    hardware: { gpu: 'cpu', vramGb: 0, tier: d.research.tier }, harness: d.research.harness, maxSteps: CHAIN_STEPS,
    ...(extra.torch !== undefined ? { environment: { torch: extra.torch } } : {}),
    ...(extra.crash !== undefined ? { crash: extra.crash } : {}),
    ...(extra.inconclusive === true ? { inconclusive: true as const } : {})
  })
}

/** Apply what the peers wrote (and forget it) in batches, as sync would deliver it. */
export async function deliver (d: Daemon, peers: ChainPeer[], batch = 2_000): Promise<void> {
  const updates = peers.flatMap((p) => p.updates.splice(0))
  for (let at = 0; at < updates.length; at += batch) {
    const outcome = await d.state.applyRemote(Y.mergeUpdates(updates.slice(at, at + batch)))
    if (outcome.verdict !== 'accept') throw new Error(`the daemon refused the chain's records: ${JSON.stringify(outcome)}`)
  }
}

/**
 * The standing chain of issue 13: two roots whose results `d` reproduced itself, then `length`
 * fresh identities, each with a result vouched by the two identities before it.
 */
export async function buildChain (d: Daemon, length: number): Promise<{ roots: ChainPeer[], chain: ChainPeer[] }> {
  const roots = [await chainPeer(), await chainPeer()]
  for (const [i, root] of roots.entries()) {
    const id = await writeResult(d, root, 2.3, `root ${i} tunes the warmup`)
    await deliver(d, [root])
    await selfVerify(d, id, 2.3)
  }
  const chain: ChainPeer[] = []
  const vouchers = [...roots]
  for (let i = 0; i < length; i++) {
    const p = await chainPeer()
    const id = await writeResult(d, p, 2.2 - i * 1e-5, `chain link ${i}: yet another way to schedule the learning rate`)
    await writeVerification(d, vouchers[i]!, id, 2.2 - i * 1e-5)
    await writeVerification(d, vouchers[i + 1]!, id, 2.2 - i * 1e-5)
    chain.push(p)
    vouchers.push(p)
  }
  await deliver(d, [...roots, ...chain])
  return { roots, chain }
}
