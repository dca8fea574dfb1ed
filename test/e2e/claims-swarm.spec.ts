import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { stateTopic } from '../../src/p2p/swarm-network.js'
import { seededRng } from '../../src/util/rng.js'
import { AgentClient, runLog } from '../helpers/agent-client.js'
import { connectWithRetry, startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { waitFor } from '../helpers/wait.js'
import type { DuplicateAnswer } from '../helpers/agent-client.js'
import type { Daemon } from '../../src/daemon/daemon.js'
import type { Rng } from '../../src/util/rng.js'

/**
 * One shared list of experiments, most written two or three times in other words, as coding
 * agents would phrase them. `code`: the wording is claimed with its train.py ('canonical': the
 * change alone; 'variant': the same change with another comment, so only the structured layer
 * can see it; 'rewritten': the same change written another way, other lines and names, so only
 * the code layer or the semantic layer can), or as an idea before the code exists (null: only
 * the semantic layer can).
 *
 * Checked with the real MiniLM model: every pair of wordings of one experiment where the semantic
 * layer must decide is a duplicate, and no pair across experiments is (40 wordings, 779 pairs).
 */
interface Wording { text: string, code: 'canonical' | 'variant' | 'rewritten' | null }
interface Experiment {
  name: string
  /** train.py with the experiment applied; `note` replaces the changed line's comment (a variant). */
  edit: (source: string, note?: string) => string
  /** The same change as another agent would write it (for 'rewritten' wordings). */
  rewrite?: (source: string) => string
  wordings: Wording[]
}

/** Set a module-level constant of train.py, as an agent edits it: keep the comment, or write a new one. */
function setConstant (name: string, value: string): Experiment['edit'] {
  return (source, note) => {
    const line = new RegExp(`^${name} = [^\\s#]+(.*)$`, 'm')
    assert.match(source, line, `train.py has no constant ${name}`)
    return source.replace(line, (_, comment: string) => `${name} = ${value}${note === undefined ? comment : `  # ${note}`}`)
  }
}

/** A change inside the model code (no module-level constant moves, so the delta is empty). */
function replaceCode (from: string, to: string): Experiment['edit'] {
  return (source) => {
    assert.ok(source.includes(from), `train.py has no ${from}`)
    return source.replace(from, to)
  }
}

const EXPERIMENTS: Experiment[] = [
  {
    name: 'lr',
    edit: setConstant('LEARNING_RATE', '0.02'),
    wordings: [
      { text: 'double the learning rate to 0.02', code: 'canonical' },
      { text: 'raise LR from 0.01 to 0.02', code: null },
      { text: 'learning rate 0.02 (2x the default)', code: 'variant' }
    ]
  },
  {
    name: 'weight-decay',
    edit: setConstant('WEIGHT_DECAY', '0.1'),
    wordings: [
      { text: 'add weight decay of 0.1', code: null },
      { text: 'set WEIGHT_DECAY = 0.1', code: 'canonical' },
      { text: 'use AdamW weight decay 0.1 instead of none', code: null }
    ]
  },
  {
    name: 'depth',
    edit: setConstant('DEPTH', '4'),
    wordings: [
      { text: 'go deeper: 4 layers', code: null },
      { text: 'increase depth to 4 layers', code: 'variant' }
    ]
  },
  {
    name: 'width',
    edit: setConstant('WIDTH', '128'),
    wordings: [
      { text: 'widen the model to 128 dimensions', code: null },
      { text: 'double the model width to 128', code: 'canonical' },
      { text: 'n_embd 128', code: null }
    ]
  },
  {
    name: 'warmup',
    edit: setConstant('WARMUP_STEPS', '100'),
    wordings: [
      { text: 'longer warmup: 100 steps', code: null },
      { text: 'increase warmup steps from 20 to 100', code: null },
      { text: 'WARMUP_STEPS 20 -> 100', code: 'variant' }
    ]
  },
  {
    name: 'grad-clip',
    edit: setConstant('GRAD_CLIP', '0.5'),
    wordings: [
      { text: 'clip gradients at norm 0.5', code: null },
      { text: 'tighter gradient clipping, max norm 0.5', code: null },
      { text: 'clip the gradient norm to 0.5', code: 'canonical' }
    ]
  },
  {
    name: 'batch-size',
    edit: setConstant('BATCH_SIZE', '32'),
    wordings: [
      { text: 'double the batch size to 32', code: 'variant' },
      { text: 'bs 32', code: null },
      { text: 'batch size 32 sequences per step', code: null }
    ]
  },
  {
    name: 'heads',
    edit: setConstant('HEADS', '8'),
    wordings: [
      { text: 'use 8 attention heads', code: null },
      { text: 'n_heads 4 -> 8', code: 'canonical' }
    ]
  },
  {
    name: 'beta2',
    edit: setConstant('BETA2', '0.95'),
    wordings: [
      { text: 'lower adam beta2 to 0.95', code: null },
      { text: 'AdamW beta2 0.95 instead of 0.99', code: null },
      { text: 'second Adam beta 0.95', code: 'canonical' }
    ]
  },
  {
    name: 'decay-fraction',
    edit: setConstant('DECAY_FRACTION', '0.5'),
    wordings: [
      { text: 'decay the LR over the last 50% of training', code: null },
      { text: 'longer learning rate decay phase: 50% of the budget', code: null },
      { text: 'spend 50% of training decaying the learning rate', code: 'variant' }
    ]
  },
  {
    name: 'rope-base',
    edit: setConstant('ROTARY_BASE', '50000.0'),
    wordings: [
      { text: 'increase the RoPE base to 50000', code: null },
      { text: 'rotary embedding theta 50000', code: null },
      { text: 'RoPE base 50000', code: 'canonical' }
    ]
  },
  {
    name: 'mlp-ratio',
    edit: setConstant('MLP_RATIO', '2'),
    wordings: [
      { text: 'reduce the MLP ratio to 2', code: null },
      { text: 'smaller feed-forward: mlp ratio 2', code: null },
      { text: 'MLP ratio 4 -> 2', code: 'variant' }
    ]
  },
  {
    name: 'silu',
    edit: replaceCode('nn.GELU()', 'nn.SiLU()'),
    wordings: [
      { text: 'replace GELU with SiLU', code: null },
      { text: 'use SiLU activation instead of GELU', code: null },
      { text: 'MLP activation GELU -> SiLU', code: 'canonical' }
    ]
  },
  {
    name: 'tied-embeddings',
    edit: replaceCode('        self.head = nn.Linear(WIDTH, VOCAB_SIZE, bias=False)\n',
      '        self.head = nn.Linear(WIDTH, VOCAB_SIZE, bias=False)\n        self.head.weight = self.embed.weight\n'),
    wordings: [
      { text: 'tie the token embedding and output head weights', code: null },
      { text: 'share weights between wte and lm_head', code: null },
      { text: 'tie embedding and lm_head weights', code: 'canonical' }
    ]
  },
  {
    // Both wordings carry code, written two ways: whichever comes second meets the first's code.
    name: 'qk-norm',
    edit: replaceCode('        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)\n',
      '        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)\n        q, k = F.rms_norm(q, (q.size(-1),)), F.rms_norm(k, (k.size(-1),))\n'),
    rewrite: replaceCode('        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)\n',
      '        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)\n        # unit RMS for queries and keys\n        q = torch.nn.functional.rms_norm(q, (q.size(-1), ))\n        k = torch.nn.functional.rms_norm(k, (k.size(-1), ))\n'),
    wordings: [
      { text: 'QK-norm: RMS-normalise queries and keys', code: 'canonical' },
      { text: 'stabilise attention logits by normalising q and k', code: 'rewritten' }
    ]
  }
]

const DAEMONS = 3
const AGENTS = 10
/**
 * Settle window: gossip p99 on loopback is ~13 ms with 3 daemons; 400 ms leaves a slow, shared
 * 2-core CI box (three daemons and the ONNX model in one process) thirty times that.
 */
const SETTLE_MS = 400
/** Far beyond a simulated run: no claim of this test may expire while its agent works. */
const TTL_MS = 120_000

interface Refusal { agent: number, wording: string, duplicate: DuplicateAnswer }
interface Executed { agent: number, daemon: number, wording: string, claimId: string, resultId: string }

function shuffled<T> (items: readonly T[], rng: Rng): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** Dial until it holds: loopback dials can be reset (inbound dials are rate limited per host). */
describe('e2e: ten agents on three daemons claim from one list of experiments', { timeout: 180_000 }, () => {
  const daemons: Daemon[] = []
  after(async () => { await stopAndRemove(...daemons) })

  it('runs each distinct experiment exactly once, however it is worded, and refuses every repeat', async () => {
    const seed = Number(process.env.SWARMD_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31))
    console.log(`claims-swarm seed ${seed} (rerun with SWARMD_TEST_SEED=${seed})`)
    const rng = seededRng(seed)

    const config = { claimSettleMs: SETTLE_MS }
    for (let i = 0; i < DAEMONS; i++) {
      const bootstrap = daemons.length > 0 ? { bootstrap: [daemons[0]!.listenAddrs()[0]!] } : {}
      daemons.push(await startInProcessDaemon({ ...config, ...bootstrap }))
    }
    for (let i = 0; i < DAEMONS; i++) for (let j = i + 1; j < DAEMONS; j++) await connectWithRetry(daemons[j]!, daemons[i]!)
    // The settle window leans on gossip: wait until every daemon has a gossip link to every other.
    const topic = stateTopic(daemons[0]!.research.swarmKey)
    await waitFor(() => daemons.every((d) => daemons.every((o) => o === d || d.network.libp2p.services.pubsub.getSubscribers(topic).some((p) => p.equals(o.identity.peerId)))),
      { what: 'a full gossip mesh of three daemons', timeoutMs: 30_000, intervalMs: 50 })
    const clients = await Promise.all(daemons.map(async (d, i) => AgentClient.forDataDir(d.paths.root, `daemon ${i}`)))

    // Load each daemon's MiniLM model before the agents start (a daemon does so on its first
    // semantic comparison): three one-off model conversions in this one process would stall
    // every daemon's event loop at once, something separate daemons never do to each other.
    // The repeated probe is refused by the semantic layer: proof the model works here at all.
    await Promise.all(clients.map(async (client, i) => {
      const probe = `warm-up probe number ${i + 1} of the claims test`
      const first = await client.claim({ description: probe, parent: null, ttlMs: TTL_MS })
      assert.ok('claimed' in first, `the first probe on daemon ${i} stands: ${JSON.stringify(first)}`)
      const again = await client.claim({ description: probe, parent: null, ttlMs: TTL_MS })
      assert.ok('duplicate' in again && again.duplicate.layer === 'semantic', `the repeated probe on daemon ${i} is refused by the semantic layer (is the MiniLM model usable?): ${JSON.stringify(again)}`)
      await client.release(first.claimed.id)
    }))

    // What an agent starts from with parent null: the daemon's harness train.py.
    const defaultSource = daemons[0]!.defaultSource
    const experimentOf = new Map<string, string>()
    const codeOf = new Map<string, string | undefined>()
    const canonicalCode = new Map<string, string>()
    for (const e of EXPERIMENTS) {
      const canonical = e.edit(defaultSource)
      assert.notEqual(canonical, defaultSource, `${e.name} changes train.py`)
      canonicalCode.set(e.name, canonical)
      for (const w of e.wordings) {
        assert.ok(!experimentOf.has(w.text), `wording "${w.text}" is listed once`)
        experimentOf.set(w.text, e.name)
        codeOf.set(w.text, w.code === null ? undefined : w.code === 'canonical' ? canonical : w.code === 'rewritten' ? e.rewrite!(defaultSource) : e.edit(defaultSource, `${e.name}, as ${w.text}`))
      }
    }
    const wordings = [...experimentOf.keys()]

    const refusals: Refusal[] = []
    let judged = 0
    const executed: Executed[] = []
    const agent = async (n: number, order: string[], runMs: number[]): Promise<void> => {
      const daemon = n % DAEMONS
      const client = clients[daemon]!
      for (const [k, wording] of order.entries()) {
        const code = codeOf.get(wording)
        const request = { description: wording, parent: null, ttlMs: TTL_MS, ...(code !== undefined ? { code } : {}) }
        let answer = await client.claim(request)
        const distinctFrom: string[] = []
        while ('uncertain' in answer) {
          // Too close to call for the swarm: the agent reads the candidates, as an LLM agent would.
          // One of the same experiment makes this a repeat; the others it names as distinct.
          judged++
          const same = answer.uncertain.find((c) => experimentOf.get(c.conflict.description) === experimentOf.get(wording))
          if (same !== undefined) {
            answer = { duplicate: same, code: answer.code, message: answer.message }
            break
          }
          distinctFrom.push(...answer.uncertain.map((c) => c.conflict.id))
          answer = await client.claim({ ...request, distinctFrom })
        }
        if ('duplicate' in answer) {
          refusals.push({ agent: n, wording, duplicate: answer.duplicate })
          continue
        }
        const claimId = answer.claimed.id
        // "Run" it: half the run, a heartbeat, the rest. An idea claimed without code gets its code now.
        await sleep(runMs[k]!)
        await client.heartbeat(claimId)
        await sleep(runMs[k]!)
        const result = await client.publish({ claim: claimId, log: runLog(1.5 + runMs[k]! / 1000), code: code ?? canonicalCode.get(experimentOf.get(wording)!)!, status: 'discard' })
        executed.push({ agent: n, daemon, wording, claimId, resultId: result.id })
      }
    }
    const started = Date.now()
    // Each agent's order and run times come from the seed, drawn before any agent starts.
    const plans = Array.from({ length: AGENTS }, () => ({ order: shuffled(wordings, rng), runMs: wordings.map(() => 50 + rng.int(200)) }))
    await Promise.all(plans.map(async (plan, n) => agent(n, plan.order, plan.runMs)))
    const agentsMs = Date.now() - started

    // Converge: every daemon holds every published result and every claim, and no claim is left active.
    const resultIds = new Set(executed.map((e) => e.resultId))
    await waitFor(async () => {
      const claimCounts = new Set<number>()
      for (const client of clients) {
        const held = new Set((await client.results()).map((r) => r.id))
        if ([...resultIds].some((id) => !held.has(id))) return false
        if ((await client.claimCounts()).active !== 0) return false
        claimCounts.add((await client.claims()).length)
      }
      return claimCounts.size === 1
    }, { what: 'every result and claim on every daemon, none active', timeoutMs: 30_000, intervalMs: 100 })

    const byLayer = { exact: 0, structured: 0, code: 0, semantic: 0 }
    for (const r of refusals) byLayer[r.duplicate.layer]++
    const allClaims = await clients[0]!.claims()
    const yielded = allClaims.filter((c) => c.releaseReason === 'yielded').length
    console.log(`claims-swarm: ${AGENTS} agents on ${DAEMONS} daemons, ${EXPERIMENTS.length} experiments in ${wordings.length} wordings, ${agentsMs} ms`)
    console.log(`  claim attempts ${executed.length + refusals.length}: ${executed.length} ran, ${refusals.length} refused (exact ${byLayer.exact}, structured ${byLayer.structured}, code ${byLayer.code}, semantic ${byLayer.semantic}); ${yielded} of the refusals came after the settle window (claim written, then yielded); ${judged} answers were the agent's to judge (CLAIM_UNCERTAIN)`)

    // Each distinct experiment ran exactly once: no experiment skipped, none run twice.
    const runs = new Map<string, Executed[]>()
    for (const e of executed) runs.set(experimentOf.get(e.wording)!, [...(runs.get(experimentOf.get(e.wording)!) ?? []), e])
    for (const e of EXPERIMENTS) {
      assert.equal(runs.get(e.name)?.length ?? 0, 1, `experiment ${e.name} ran once: ${JSON.stringify(runs.get(e.name) ?? [])}`)
    }

    // Every refusal named a claim or result of the same experiment, one this swarm really holds.
    const results = await clients[0]!.results()
    const descriptionOf = new Map<string, string>([...allClaims.map((c) => [c.id, c.description] as const), ...results.map((r) => [r.id, r.description] as const)])
    for (const r of refusals) {
      const { conflict } = r.duplicate
      assert.equal(experimentOf.get(conflict.description), experimentOf.get(r.wording), `"${r.wording}" was refused for a different experiment: ${JSON.stringify(r.duplicate)}`)
      assert.equal(descriptionOf.get(conflict.id), conflict.description, `the refusal of "${r.wording}" names ${conflict.kind} ${conflict.id}, which the swarm holds with that description`)
    }
    for (const layer of ['exact', 'structured', 'code', 'semantic'] as const) {
      assert.ok(byLayer[layer] > 0, `the ${layer} layer refused at least one repeat (${JSON.stringify(byLayer)})`)
    }

    // Every daemon holds every result, none marked a duplicate, and counts none.
    for (const [i, client] of clients.entries()) {
      const held = await client.results()
      assert.deepEqual(held.map((r) => r.id).sort(), [...resultIds].sort(), `daemon ${i} holds exactly the published results`)
      assert.deepEqual(held.filter((r) => r.duplicateOf !== null).map((r) => ({ id: r.id, description: r.description, duplicateOf: r.duplicateOf })), [], `daemon ${i} marks no result a duplicate`)
      const counts = await client.claimCounts()
      assert.equal(counts.duplicateResults, 0, `daemon ${i} counts no duplicate results`)
      assert.equal(counts.finished, EXPERIMENTS.length, `daemon ${i}: one finished claim per experiment`)
      assert.equal(counts.active, 0, `daemon ${i}: no claim left active`)
    }
  })
})
