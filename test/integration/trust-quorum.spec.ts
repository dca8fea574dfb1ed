import '../../src/util/polyfill.js'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { sha256Hex } from '../../src/util/hash.js'
import { RecordWriter, startHostileNode } from '../helpers/hostile-node.js'
import { startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { waitFor } from '../helpers/wait.js'
import type { Daemon } from '../../src/daemon/daemon.js'
import type { RunMetricsBody } from '../../src/state/record-kinds.js'
import type { HostileNode } from '../helpers/hostile-node.js'

const SWARM = 'trust-quorum'
const STEPS = 20
let nextClient = 0x7a000000

const metrics = (valBpb: number): RunMetricsBody => ({ val_bpb: valBpb, training_seconds: 20, total_seconds: 22, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 0.02, num_steps: STEPS, num_params_M: 0.1, depth: 2 })

/** A peer of the swarm: its own libp2p node, writing signed records over gossip like any daemon. */
interface Peer { node: HostileNode, writer: RecordWriter }

interface BestReply { best: { id: string, trust: string } | null, candidates: Array<{ id: string }> }

/**
 * A quorum over the wire: a daemon (no agent of its own) sees peers' results and verification
 * records arrive by gossip, and its trust and `/api/best` follow them. Peers with standing are
 * those whose results this daemon reproduced itself (its own verification records).
 */
describe('a quorum of standing peers, over the wire', { timeout: 60_000 }, () => {
  let d: Daemon
  const peers: Peer[] = []

  async function peer (): Promise<Peer> {
    const node = await startHostileNode(d.research.swarmKey)
    await node.join([d])
    const { writer, binding } = await RecordWriter.open(node.identity, nextClient++)
    await node.publish(binding)
    const p = { node, writer }
    peers.push(p)
    return p
  }

  /** `p` publishes a finished run claiming `valBpb`; resolves with the result's id once `d` holds it. */
  async function publishResult (p: Peer, valBpb: number, description: string): Promise<string> {
    const codeHash = sha256Hex(description)
    const claim = await p.writer.write('claim', { description, parent: null, codeHash, delta: [], tier: d.research.tier, ttlMs: 10 * 60_000 })
    const result = await p.writer.write('result', {
      claimId: claim.record.id, parent: null, codeHash, logHash: sha256Hex(`log of ${description}`), description, delta: [], status: 'keep',
      metrics: metrics(valBpb), crash: null, hardware: { gpu: 'cpu', vramGb: 0, tier: d.research.tier }, harness: d.research.harness
    })
    await p.node.publish(claim.update)
    await p.node.publish(result.update)
    await waitFor(() => d.state.get('result', result.record.key) !== undefined, { timeoutMs: 10_000, what: `the result "${description}" to arrive` })
    return result.record.id
  }

  function verificationOf (resultId: string, valBpb: number) {
    return { result: resultId, claimId: sha256Hex(`verify ${resultId}`), metrics: metrics(valBpb), logHash: sha256Hex('re-run log'), hardware: { gpu: 'cpu', vramGb: 0, tier: d.research.tier }, harness: d.research.harness, maxSteps: STEPS }
  }

  async function vouch (p: Peer, resultId: string, valBpb: number): Promise<void> {
    const { update, record } = await p.writer.write('verification', verificationOf(resultId, valBpb))
    await p.node.publish(update)
    await waitFor(() => d.state.get('verification', record.key) !== undefined, { timeoutMs: 10_000, what: 'the verification to arrive' })
  }

  async function best (): Promise<BestReply> {
    return await (await fetch(new URL('/api/best', d.apiUrl))).json() as BestReply
  }

  before(async () => {
    d = await startInProcessDaemon({ swarm: SWARM, antiEntropyMs: 10 * 60_000 })
  })

  after(async () => {
    for (const p of peers) await p.node.stop()
    await stopAndRemove(d)
  })

  it('a result becomes the trusted best with the second reproduction by a peer with standing, not the first', async () => {
    const [carol, dave, bob] = [await peer(), await peer(), await peer()]
    // carol and dave earn standing: this daemon re-ran one result of each and reproduced it.
    for (const p of [carol, dave]) {
      const id = await publishResult(p, 3.9, `${p.node.peerId.slice(-6)}'s baseline`)
      await d.state.append('verification', verificationOf(id, 3.9))
    }
    const standing = (): boolean => [carol, dave].every((p) => d.trust.state.standing.has(p.node.peerId))
    await waitFor(standing, { timeoutMs: 5_000, what: 'carol and dave to have standing' })

    const bobs = await publishResult(bob, 3.2, 'wider MLP')
    await vouch(carol, bobs, 3.2)
    const one = await best()
    assert.notEqual(one.best?.id, bobs, 'one reproduction is not a quorum')
    assert.ok(one.candidates.some((c) => c.id === bobs), 'it shows as a candidate')

    await vouch(dave, bobs, 3.205)
    const two = await best()
    assert.equal(two.best?.id, bobs, 'two reproductions by peers with standing make it the best')
    assert.equal(two.best?.trust, 'trusted')
    assert.ok(d.trust.state.standing.has(bob.node.peerId), 'and earn bob standing')
  })
})
