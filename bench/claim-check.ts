/**
 * Claim-check latency with a large swarm history: ClaimBook.findDuplicate with the real
 * MiniLM semantic layer, against 100,000 past claims and results.
 *
 *   npm run bench:claims                      # defaults: --records 100000 --authors 32 --parents 400
 *
 * The history: `--authors` peers each run experiments back to back (5 min budget, claim ttl
 * 15 min, one heartbeat per run, 3 % aborted, 2 % yielded, 1 % left to expire, 2 % crash),
 * always on the best result known when they claim: a kept result becomes the parent of the
 * experiments claimed after it arrived, so the lineage grows to about `--parents` results,
 * with later parents carrying more experiments (improvements get rarer). Each author writes
 * with its own SwarmState replica; one observer replica (the measured node) validates and
 * applies every author's records, then builds its ResearchLedger from them.
 *
 * Checks go to the newest `--recent` parents, where agents build, five kinds of candidate:
 * a fresh idea with code and a delta, a fresh idea claimed without code, an exact duplicate
 * (same train.py hash), a structured duplicate (same delta, new code) and a paraphrase (same
 * idea in other words, no code). First one cold check per parent (the semantic layer has
 * embedded nothing yet), then `--samples` warm checks per kind.
 */
import '../src/util/polyfill.js'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { ClaimBook } from '../src/claims/claim-book.js'
import { ResearchLedger } from '../src/claims/research-ledger.js'
import { deltaKey } from '../src/claims/dedup.js'
import { createMiniLmEmbedder } from '../src/embedding/minilm-onnx.js'
import { SemanticDedup } from '../src/claims/semantic.js'
import { sha256Hex } from '../src/util/hash.js'
import { seededRng } from '../src/util/rng.js'
import { makeReplica } from '../test/helpers/replica.js'
import { machineLine, parseFlags, progress, summarize, summaryLine } from './harness.js'
import type { ClaimCandidate, DuplicateHit } from '../src/claims/claim-book.js'
import type { Embedder } from '../src/embedding/embedder.js'
import type { ClaimBody, DeltaEntry, ResultBody } from '../src/state/record-kinds.js'
import type { UpdateStore } from '../src/state/update-store.js'
import type { Rng } from '../src/util/rng.js'
import type { Replica } from '../test/helpers/replica.js'

const flags = parseFlags('bench:claims', 'claim-check latency (exact, structured, semantic with real MiniLM) against a large swarm history', {
  records: { default: 100_000, help: 'claims + results in the state' },
  authors: { default: 32, help: 'peers that wrote the history, each running experiments back to back' },
  parents: { default: 400, help: 'expected length of the lineage (kept results experiments build on)' },
  recent: { default: 8, help: 'checks go to the newest N parents' },
  samples: { default: 200, help: 'warm checks per kind of candidate' },
  seed: { default: 1, help: 'rng seed of the history and the candidates' }
})

const HARNESS = 'bench'
const RUN_MS = 5 * 60_000
const TTL_MS = 3 * RUN_MS
/** Claim → result: the budget plus start-up, data and eval (bench:overhead measured ~2.3 s on CPU; a GPU run's eval is longer). */
const CYCLE_MS = RUN_MS + 30_000
const T0 = 1_760_000_000_000

// ---------------------------------------------------------------------------------------------
// Ideas and their wordings

/** A constant of train.py, the words agents use for it, its default and the range a sane experiment keeps it in. */
interface Knob { name: string, words: string[], init: number, int: boolean, min: number, max: number }

/** train.py's module-level constants (train/train.py), as agents name them. */
const KNOBS: Knob[] = [
  { name: 'LEARNING_RATE', words: ['learning rate', 'LR', 'lr', 'peak learning rate'], init: 0.01, int: false, min: 0.0001, max: 0.1 },
  { name: 'WARMUP_STEPS', words: ['warmup steps', 'warmup', 'LR warmup length'], init: 20, int: true, min: 1, max: 2000 },
  { name: 'WEIGHT_DECAY', words: ['weight decay', 'wd', 'AdamW weight decay'], init: 0.05, int: false, min: 0.001, max: 1 },
  { name: 'BATCH_SIZE', words: ['batch size', 'bs', 'sequences per step'], init: 16, int: true, min: 4, max: 512 },
  { name: 'DEPTH', words: ['depth', 'number of layers', 'n_layer'], init: 2, int: true, min: 1, max: 24 },
  { name: 'WIDTH', words: ['width', 'model dimension', 'n_embd'], init: 64, int: true, min: 32, max: 1024 },
  { name: 'HEADS', words: ['attention heads', 'heads', 'n_head'], init: 4, int: true, min: 1, max: 16 },
  { name: 'MLP_RATIO', words: ['MLP ratio', 'FFN expansion', 'MLP hidden multiple'], init: 4, int: true, min: 1, max: 8 },
  { name: 'DECAY_FRACTION', words: ['decay fraction', 'LR decay fraction', 'cooldown fraction'], init: 0.3, int: false, min: 0.05, max: 0.9 },
  { name: 'GRAD_CLIP', words: ['grad clip', 'gradient clipping norm', 'clip norm'], init: 1, int: false, min: 0.1, max: 5 },
  { name: 'ROTARY_BASE', words: ['rotary base', 'RoPE base', 'rope theta'], init: 10_000, int: true, min: 1000, max: 1_000_000 }
]

/** Ideas outside train.py's constants (an agent edits the code): concept, values, wordings ({v} = value). */
const FREE_IDEAS: Array<{ id: string, values: Array<string | number>, wordings: string[] }> = [
  { id: 'dropout', values: [0.05, 0.1, 0.15, 0.2, 0.3], wordings: ['add dropout {v}', 'dropout {v} on attention and MLP outputs', 'regularize with {v} dropout', 'use a dropout rate of {v}'] },
  { id: 'label-smoothing', values: [0.05, 0.1, 0.2], wordings: ['label smoothing {v}', 'add {v} label smoothing to the loss', 'smooth the targets with epsilon {v}'] },
  { id: 'z-loss', values: ['1e-4', '1e-3', '1e-5'], wordings: ['add z-loss with coefficient {v}', 'z-loss {v} on the logits', 'penalize the log partition function, weight {v}'] },
  { id: 'ema', values: [0.99, 0.995, 0.999, 0.9995], wordings: ['evaluate an EMA of the weights with decay {v}', 'keep a {v} exponential moving average of parameters for eval', 'weight EMA {v}'] },
  { id: 'softcap', values: [15, 20, 30, 50], wordings: ['logit soft-capping at {v}', 'softcap the output logits to {v} with tanh', 'cap logits with {v}*tanh(x/{v})'] },
  { id: 'beta2', values: [0.9, 0.95, 0.98, 0.99, 0.995], wordings: ['Adam beta2 {v}', 'set the second Adam beta to {v}', 'use betas=(0.9, {v})'] },
  { id: 'beta1', values: [0.8, 0.85, 0.95], wordings: ['Adam beta1 {v}', 'set the first Adam beta to {v}', 'lower momentum: beta1 {v}'] },
  { id: 'grad-accum', values: [2, 4, 8], wordings: ['gradient accumulation over {v} micro-batches', 'accumulate gradients for {v} steps', 'grad accum {v}'] },
  { id: 'window', values: [32, 64, 128, 256], wordings: ['sliding window attention of {v} tokens', 'local attention with window {v}', 'restrict attention to the last {v} positions'] },
  { id: 'init-std', values: [0.01, 0.02, 0.04], wordings: ['init weights with std {v}', 'normal init, std {v}', 'change the initialization scale to {v}'] },
  { id: 'swiglu', values: [''], wordings: ['replace GELU with SwiGLU in the MLP', 'SwiGLU activation instead of GELU', 'gated linear unit (SwiGLU) feed-forward'] },
  { id: 'relu2', values: [''], wordings: ['use squared ReLU in the MLP', 'relu^2 activation', 'swap GELU for ReLU squared'] },
  { id: 'rmsnorm', values: [''], wordings: ['use RMSNorm instead of LayerNorm', 'replace LayerNorm with RMSNorm', 'RMSNorm everywhere'] },
  { id: 'qk-norm', values: [''], wordings: ['add QK-norm', 'normalize queries and keys before attention', 'RMSNorm on q and k'] },
  { id: 'tie', values: [''], wordings: ['tie the token embedding and the output head', 'share weights between wte and lm_head', 'weight tying of input and output embeddings'] },
  { id: 'no-bias', values: [''], wordings: ['remove biases from all linear layers', 'bias=False in every nn.Linear', 'drop the linear layer biases'] },
  { id: 'zero-init', values: [''], wordings: ['zero-init the output projections', 'initialize residual projections to zero', 'zero init for attn.proj and mlp.proj'] },
  { id: 'mqa', values: [''], wordings: ['multi-query attention (one shared key/value head)', 'use MQA', 'share a single K/V head across all query heads'] },
  { id: 'cosine', values: [''], wordings: ['cosine learning rate schedule instead of linear decay', 'switch the LR decay to cosine', 'use a cosine LR schedule'] },
  { id: 'parallel', values: [''], wordings: ['parallel attention and MLP blocks', 'compute attention and MLP in parallel from the same input', 'GPT-J style parallel residual'] },
  { id: 'lion', values: [''], wordings: ['try the Lion optimizer', 'replace AdamW with Lion', 'Lion instead of AdamW'] },
  { id: 'post-norm', values: [''], wordings: ['post-norm instead of pre-norm', 'move LayerNorm after the residual add', 'switch to post-LN transformer blocks'] }
]

const roundSig = (x: number): number => Number(x.toPrecision(2))
const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)]!

/** One experiment idea: a change of constants (with a delta), or a free idea (delta []). */
interface Idea {
  key: string
  delta: DeltaEntry[]
  /** Generated when needed: 50,000 ideas' worth of wordings would weigh on the heap being measured. */
  wordings: () => string[]
}

function knobWordings (knob: Knob, from: number, to: number): string[] {
  const up = to > from
  return [
    `${knob.name} ${from} -> ${to}`,
    ...knob.words.flatMap((w) => [
      `${up ? 'increase' : 'decrease'} ${w} from ${from} to ${to}`,
      `set ${w} to ${to}`,
      `${up ? 'raise' : 'lower'} the ${w} to ${to}`,
      `try ${w}=${to}`
    ])
  ]
}

function mutate (rng: Rng, knob: Knob, from: number): number {
  const to = knob.int ? Math.round(from * pick(rng, [0.5, 0.75, 1.25, 1.5, 2, 3])) : roundSig(from * Math.exp((rng.next() * 2 - 1) * 1.2))
  return Math.min(knob.max, Math.max(knob.min, to))
}

/** A change of one or two constants (`changes`; default: two in 15 % of ideas) not yet tried on this parent. */
function knobIdea (rng: Rng, config: Map<string, number>, tried: Set<string>, changes?: 1 | 2): Idea | undefined {
  for (let attempt = 0; attempt < 50; attempt++) {
    const two = changes === undefined ? rng.next() < 0.15 : changes === 2
    const knobs = two ? [pick(rng, KNOBS), pick(rng, KNOBS)] : [pick(rng, KNOBS)]
    if (knobs.length === 2 && knobs[0] === knobs[1]) continue
    const delta = knobs.map((k) => ({ name: k.name, from: config.get(k.name)!, to: mutate(rng, k, config.get(k.name)!) }))
    if (delta.some((d) => d.to === d.from)) continue
    const key = deltaKey(delta)
    if (tried.has(key)) continue
    const wordings = (): string[] => delta.length === 1
      ? knobWordings(KNOBS.find((k) => k.name === delta[0]!.name)!, delta[0]!.from, delta[0]!.to)
      : [
          delta.map((d) => `${d.name} ${d.from} -> ${d.to}`).join(', '),
          `set ${delta.map((d) => `${KNOBS.find((k) => k.name === d.name)!.words[0]!} to ${d.to}`).join(' and ')}`
        ]
    return { key, delta, wordings }
  }
  return undefined
}

function freeIdea (rng: Rng, tried: Set<string>): Idea | undefined {
  for (let attempt = 0; attempt < 20; attempt++) {
    const idea = pick(rng, FREE_IDEAS)
    const v = String(pick(rng, idea.values))
    const key = `${idea.id}:${v}`
    if (tried.has(key)) continue
    return { key, delta: [], wordings: () => idea.wordings.map((w) => w.replaceAll('{v}', v)) }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// The history

/** The measured node keeps its state in memory only: persistence is not what this bench times. */
class DiscardStore implements UpdateStore {
  async open (): Promise<void> {}
  async load (): Promise<Uint8Array | null> { return null }
  async append (): Promise<void> {}
  async close (): Promise<void> {}
}

interface ParentInfo {
  id: string | null
  config: Map<string, number>
  tried: Set<string>
  /** Live dedup entries of each idea on this parent, for picking duplicates to check. */
  done: Array<{ idea: Idea, wording: string, codeHash: string | null, resultCodeHash: string | undefined }>
}

interface History {
  observer: Replica
  parents: ParentInfo[]
  now: number
  counts: Record<string, number>
}

async function buildHistory (rng: Rng): Promise<History> {
  const authors: Replica[] = []
  for (let i = 0; i < flags.authors; i++) authors.push(await makeReplica({ seed: 1000 + i, store: new DiscardStore() }))
  const experiments = Math.round(flags.records / 1.92) // ~92 % of claims end in a result
  const spacing = CYCLE_MS / flags.authors
  // Chance that a result is kept falls as the model improves: keep(i) = q0 * e0 / (e0 + i),
  // with e0 chosen so that the expected number of keeps is --parents.
  const q0 = 0.2 // an assumption: early on, one run in five improves on its parent
  let e0 = 1
  while (q0 * e0 * Math.log(1 + experiments / e0) < flags.parents) e0 *= 1.05
  const counts: Record<string, number> = { claim: 0, result: 0, heartbeat: 0, release: 0, binding: flags.authors }
  const initial: ParentInfo = { id: null, config: new Map(KNOBS.map((k) => [k.name, k.init])), tried: new Set(), done: [] }
  const parents: ParentInfo[] = [initial]
  let current = initial
  /** Kept results not yet known to the swarm: they become the parent once their time has come. */
  const pendingKeeps: Array<{ at: number, parent: ParentInfo }> = []
  const lastClaimAt = Math.round(T0 + experiments * spacing)
  const now = lastClaimAt + 10_000
  const started = performance.now()
  let lastReport = started

  for (let i = 0; i < experiments; i++) {
    const at = Math.round(T0 + i * spacing) + rng.int(Math.floor(spacing))
    while (pendingKeeps.length > 0 && pendingKeeps[0]!.at <= at) current = pendingKeeps.shift()!.parent
    const author = authors[i % flags.authors]!
    const idea = (rng.next() < 0.3 ? freeIdea(rng, current.tried) : undefined) ?? knobIdea(rng, current.config, current.tried)
    if (idea === undefined) continue
    current.tried.add(idea.key)
    const wording = pick(rng, idea.wordings())
    const codeHash = sha256Hex(`train.py ${i}`)
    // Agents that claim an idea before writing code (the agent API without --code).
    const claimCode = idea.delta.length === 0 && rng.next() < 0.5 ? null : codeHash
    author.clock.set(at)
    const claimBody: ClaimBody = { description: wording, parent: current.id, codeHash: claimCode, delta: idea.delta, tier: 'vram24', ttlMs: TTL_MS }
    const claim = await author.state.append('claim', claimBody)
    counts.claim!++
    const fate = rng.next()
    const resultAt = at + CYCLE_MS - 5_000 + rng.int(10_000)
    const running = resultAt > now
    if (!running && fate < 0.02) {
      // yielded to an earlier claim at the end of the settle window
      author.clock.set(at + 500)
      await author.state.append('release', { claim: claim.id, reason: 'yielded' })
      counts.release!++
      continue
    }
    if (at + TTL_MS / 3 <= Math.min(resultAt, now)) {
      author.clock.set(at + TTL_MS / 3)
      await author.state.append('heartbeat', { claim: claim.id })
      counts.heartbeat!++
    }
    if (running) {
      current.done.push({ idea, wording, codeHash: claimCode, resultCodeHash: undefined })
      continue
    }
    if (fate < 0.05) {
      author.clock.set(at + 60_000 + rng.int(RUN_MS))
      await author.state.append('release', { claim: claim.id, reason: 'aborted' })
      counts.release!++
      continue
    }
    if (fate < 0.06) continue // the node died: the claim expires
    const crashed = fate < 0.08
    const kept = !crashed && rng.next() < q0 * e0 / (e0 + i)
    author.clock.set(resultAt)
    const resultBody: ResultBody = {
      claimId: claim.id,
      parent: current.id,
      codeHash,
      logHash: sha256Hex(`run.log ${i}`),
      description: wording,
      delta: idea.delta,
      status: crashed ? 'crash' : kept ? 'keep' : 'discard',
      metrics: crashed ? null : { val_bpb: 1 - i / (experiments * 10), training_seconds: 300, total_seconds: 325, peak_vram_mb: 18_000, mfu_percent: 38, total_tokens_M: 250, num_steps: 1200, num_params_M: 50, depth: 12 },
      crash: crashed ? { reason: 'oom', detail: 'CUDA out of memory' } : null,
      hardware: { gpu: 'RTX 4090', vramGb: 24, tier: 'vram24' },
      harness: HARNESS
    }
    const result = await author.state.append('result', resultBody)
    counts.result!++
    current.done.push({ idea, wording, codeHash: claimCode, resultCodeHash: codeHash })
    if (kept) {
      const config = new Map(current.config)
      for (const d of idea.delta) config.set(d.name, d.to as number)
      const next: ParentInfo = { id: result.id, config, tried: new Set(), done: [] }
      parents.push(next)
      pendingKeeps.push({ at: resultAt, parent: next })
      pendingKeeps.sort((a, b) => a.at - b.at)
    }
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now()
      progress(`writing the history: ${i}/${experiments} experiments, ${counts.claim! + counts.result!} claims + results, ${parents.length} parents, ${((performance.now() - started) / 1000).toFixed(0)} s`)
    }
  }
  const wrote = performance.now()
  progress(`wrote ${counts.claim} claims, ${counts.result} results, ${counts.heartbeat} heartbeats, ${counts.release} releases in ${((wrote - started) / 1000).toFixed(1)} s; applying them to the measured node`)

  const observer = await makeReplica({ seed: 1, store: new DiscardStore() })
  observer.clock.set(now)
  for (const author of authors) {
    const outcome = await observer.state.applyRemote(Y.encodeStateAsUpdate(author.state.doc))
    if (outcome.verdict !== 'accept') throw new Error(`the observer refused an author's records: ${outcome.fault ?? ''} ${outcome.message ?? ''}`)
    await author.state.stop()
    author.state.doc.destroy()
  }
  progress(`applied (validated) on the measured node in ${((performance.now() - wrote) / 1000).toFixed(1)} s`)
  // Parents without experiments (kept too late to be built on) are no place to check.
  return { observer, parents: parents.filter((p) => p.done.length > 0 || p === current), now, counts }
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** Counts the texts the semantic layer embeds: each is one more MiniLM inference. */
class CountingEmbedder implements Embedder {
  texts = 0
  constructor (private readonly inner: Embedder) {}
  get dimensions (): number { return this.inner.dimensions }
  async embed (texts: string[], options?: { signal?: AbortSignal }): Promise<Float32Array[]> {
    this.texts += texts.length
    return this.inner.embed(texts, options)
  }
}

/** JS heap plus ArrayBuffer memory (embeddings are Float32Arrays), after a full GC when --expose-gc allows it. */
function heapMiB (): number {
  globalThis.gc?.()
  globalThis.gc?.()
  const usage = process.memoryUsage()
  return (usage.heapUsed + usage.arrayBuffers) / 2 ** 20
}

type Kind = 'fresh, code + delta' | 'fresh, idea only' | 'fresh, idea, 2 changes' | 'exact duplicate' | 'structured duplicate' | 'paraphrase (idea only)' | 'paraphrase, 2 changes'
const KINDS: Kind[] = ['fresh, code + delta', 'fresh, idea only', 'fresh, idea, 2 changes', 'exact duplicate', 'structured duplicate', 'paraphrase (idea only)', 'paraphrase, 2 changes']
/** The layer each kind should be caught by; undefined: should pass. */
const EXPECTED: Record<Kind, DuplicateHit['layer'] | undefined> = {
  'fresh, code + delta': undefined,
  'fresh, idea only': undefined,
  'fresh, idea, 2 changes': undefined,
  'exact duplicate': 'exact',
  'structured duplicate': 'structured',
  'paraphrase (idea only)': 'semantic',
  'paraphrase, 2 changes': 'semantic'
}

/** The wording each paraphrase candidate rewords, to explain misses. */
const paraphraseOf = new Map<string, string>()

function candidate (rng: Rng, kind: Kind, parent: ParentInfo, n: number): ClaimCandidate | undefined {
  const newCode = sha256Hex(`candidate ${n}`)
  switch (kind) {
    case 'fresh, code + delta': {
      const idea = knobIdea(rng, parent.config, parent.tried)
      return idea === undefined ? undefined : { description: pick(rng, idea.wordings()), codeHash: newCode, parent: parent.id, delta: idea.delta }
    }
    case 'fresh, idea only':
    case 'fresh, idea, 2 changes': {
      const idea = kind === 'fresh, idea, 2 changes'
        ? knobIdea(rng, parent.config, parent.tried, 2)
        : (rng.next() < 0.5 ? freeIdea(rng, parent.tried) : undefined) ?? knobIdea(rng, parent.config, parent.tried, 1)
      return idea === undefined ? undefined : { description: pick(rng, idea.wordings()), codeHash: null, parent: parent.id, delta: [] }
    }
    case 'exact duplicate': {
      const done = parent.done.filter((d) => d.resultCodeHash !== undefined)
      if (done.length === 0) return undefined
      const d = pick(rng, done)
      return { description: d.wording, codeHash: d.resultCodeHash!, parent: parent.id, delta: d.idea.delta }
    }
    case 'structured duplicate': {
      const done = parent.done.filter((d) => d.idea.delta.length > 0)
      if (done.length === 0) return undefined
      const d = pick(rng, done)
      return { description: pick(rng, d.idea.wordings()), codeHash: newCode, parent: parent.id, delta: d.idea.delta }
    }
    case 'paraphrase (idea only)':
    case 'paraphrase, 2 changes': {
      const done = parent.done.filter((d) => (d.idea.delta.length === 2) === (kind === 'paraphrase, 2 changes'))
      if (done.length === 0) return undefined
      const d = pick(rng, done)
      const others = d.idea.wordings().filter((w) => w !== d.wording)
      if (others.length === 0) return undefined
      const description = pick(rng, others)
      paraphraseOf.set(description, d.wording)
      return { description, codeHash: null, parent: parent.id, delta: [] }
    }
  }
}

const rng = seededRng(flags.seed)
const heapBefore = heapMiB()
const buildStarted = performance.now()
const history = await buildHistory(rng)
const buildMs = performance.now() - buildStarted
const heapState = heapMiB()
const ledgerStarted = performance.now()
const ledger = new ResearchLedger(history.observer.state, HARNESS)
const ledgerMs = performance.now() - ledgerStarted
const heapLedger = heapMiB()
const claims = ledger.allClaims()
const statuses: Record<string, number> = {}
for (const c of claims) statuses[ledger.status(c, history.now)] = (statuses[ledger.status(c, history.now)] ?? 0) + 1
progress(`ledger: ${claims.length} claims (${Object.entries(statuses).map(([s, n]) => `${n} ${s}`).join(', ')}), ${ledger.allResults().length} results, built in ${ledgerMs.toFixed(0)} ms`)

const recent = history.parents.slice(-flags.recent)
const groupSize = (p: ParentInfo): number => ledger.onParent(p.id).length
const sizes = history.parents.map(groupSize).sort((a, b) => a - b)

const cacheDir = join(tmpdir(), `swarmd-bench-claims-${process.pid}`)
const loadStarted = performance.now()
const minilm = await createMiniLmEmbedder({ cacheDir, log: (line) => { progress(line) } })
await minilm.embed(['warm up'])
const loadMs = performance.now() - loadStarted
const embedder = new CountingEmbedder(minilm)
const semantic = new SemanticDedup(embedder)
const book = new ClaimBook({ state: history.observer.state, ledger, clock: history.observer.clock, semantic, onSemanticError: (err) => { throw err } }, { settleMs: 0 })

// Embedding throughput: one call with 256 descriptions, then single descriptions one by one.
const texts = [...new Set(claims.map((c) => c.body.description))].slice(0, 512)
let t = performance.now()
await minilm.embed(texts.slice(0, 256))
const batchPerS = 256 / ((performance.now() - t) / 1000)
const single: number[] = []
for (const text of texts.slice(256, 320)) {
  t = performance.now()
  await minilm.embed([text])
  single.push(performance.now() - t)
}

const heapModel = heapMiB()

// Cold: the first check on each recent parent after start, nothing embedded yet.
const cold: Array<{ size: number, ms: number, embedded: number }> = []
for (const parent of recent) {
  // Where every single change was tried already, the fresh idea is a two-constant change.
  const c = candidate(rng, 'fresh, idea only', parent, -cold.length - 1) ?? candidate(rng, 'fresh, idea, 2 changes', parent, -cold.length - 1)
  if (c === undefined) continue
  const before = embedder.texts
  t = performance.now()
  await book.findDuplicate(c)
  cold.push({ size: groupSize(parent), ms: performance.now() - t, embedded: embedder.texts - before })
  progress(`cold check on a parent with ${cold.at(-1)!.size} entries: ${cold.at(-1)!.ms.toFixed(0)} ms, ${cold.at(-1)!.embedded} texts embedded`)
}
const heapCold = heapMiB()

// Warm the semantic layer on the recent parents, as a daemon that has been checking claims there would be.
const warmStarted = performance.now()
const embeddedBeforeWarm = embedder.texts
for (const parent of recent) {
  const descriptions = [...new Set(ledger.onParent(parent.id).map((e) => e.description))]
  for (let i = 0; i < descriptions.length; i += 2) await semantic.compare(descriptions[i]!, descriptions[i + 1] ?? descriptions[i]!)
}
const warmMs = performance.now() - warmStarted
const warmTexts = embedder.texts - embeddedBeforeWarm
progress(`warmed the semantic layer on the newest parents: ${warmTexts} texts embedded in ${(warmMs / 1000).toFixed(1)} s`)
const heapWarm = heapMiB()

// Warm: candidates on recent parents, picked in proportion to how many experiments each holds.
const weights = recent.map(groupSize)
const total = weights.reduce((a, b) => a + b, 0)
const pickParent = (): ParentInfo => {
  let at = rng.next() * total
  for (let i = 0; i < recent.length; i++) { at -= weights[i]!; if (at < 0) return recent[i]! }
  return recent.at(-1)!
}
interface KindResult { ms: number[], caught: Record<string, number>, embedded: number, scanned: number[] }
const warm = new Map<Kind, KindResult>()
const examples: string[] = []
let n = 0
for (let round = 0; round < flags.samples; round++) {
  for (const kind of KINDS) {
    const r = warm.get(kind) ?? { ms: [], caught: {}, embedded: 0, scanned: [] }
    warm.set(kind, r)
    let c: ClaimCandidate | undefined
    for (let tries = 0; c === undefined && tries < 20; tries++) c = candidate(rng, kind, pickParent(), n++)
    if (c === undefined) continue
    const before = embedder.texts
    t = performance.now()
    const hit = await book.findDuplicate(c)
    r.ms.push(performance.now() - t)
    r.embedded += embedder.texts - before
    r.scanned.push(ledger.onParent(c.parent).length)
    const layer = hit?.layer ?? 'none'
    r.caught[layer] = (r.caught[layer] ?? 0) + 1
    if ((EXPECTED[kind] ?? 'none') !== layer && examples.filter((e) => e.startsWith(`${kind}:`)).length < 3) {
      const against = hit?.conflict.description ?? paraphraseOf.get(c.description) ?? ''
      const v = await semantic.compare(c.description, against)
      examples.push(`${kind}: "${c.description}" ${hit === undefined ? 'missed' : `refused (${layer})`} against "${against}" (cos ${v.score.toFixed(2)}${v.guard !== undefined ? `, guard ${v.guard}` : ''})`)
    }
  }
  if ((round + 1) % 50 === 0) progress(`warm checks: ${round + 1}/${flags.samples} rounds`)
}
await minilm.close()
await rm(cacheDir, { recursive: true, force: true })

// ---------------------------------------------------------------------------------------------
// Report

const c = history.counts
console.log(`\nclaim check: ${c.claim! + c.result!} claims + results (${c.claim} claims, ${c.result} results) plus ${c.heartbeat} heartbeats and ${c.release} releases from ${flags.authors} authors, seed ${flags.seed}`)
console.log(`machine: ${machineLine()}`)
console.log(`  lineage: ${history.parents.length} parents; experiments per parent min ${sizes[0]} median ${sizes[Math.floor(sizes.length / 2)]} max ${sizes.at(-1)}; checks go to the newest ${recent.length} (${recent.map(groupSize).join(', ')} entries)`)
console.log(`  build: ${(buildMs / 1000).toFixed(1)} s to sign, write and validate-apply every record; ledger index ${ledgerMs.toFixed(0)} ms`)
console.log(`  memory (heap + array buffers): state ${(heapState - heapBefore).toFixed(0)} MiB, ledger index ${(heapLedger - heapState).toFixed(1)} MiB${globalThis.gc === undefined ? ' (run with --expose-gc for exact numbers)' : ''}`)
console.log(`  model: load + first embedding ${loadMs.toFixed(0)} ms; ${batchPerS.toFixed(0)} descriptions/s in one call of 256; one description ${summarize(single).p50.toFixed(1)} ms p50`)
const coldMs = summarize(cold.map((x) => x.ms))
console.log(`  cold (first check on each of the newest parents after start, idea only): p50 ${coldMs.p50.toFixed(0)} ms, max ${coldMs.max.toFixed(0)} ms; ${cold.map((x) => `${x.size} entries ${x.ms.toFixed(0)} ms/${x.embedded} embedded`).join('; ')}`)
console.log(`  warming the rest of the newest parents: ${warmTexts} texts embedded in ${(warmMs / 1000).toFixed(1)} s (${(warmTexts / (warmMs / 1000)).toFixed(0)}/s, two per call); semantic layer's cache then ${(heapWarm - heapModel).toFixed(1)} MiB for ${embeddedBeforeWarm + warmTexts} texts (${(heapCold - heapModel).toFixed(1)} MiB after the cold checks)`)
console.log('  warm checks (the semantic layer has seen this parent before):')
for (const kind of KINDS) {
  const r = warm.get(kind)!
  const s = summarize(r.ms)
  const expected = EXPECTED[kind] ?? 'none'
  const caught = Object.entries(r.caught).map(([layer, k]) => `${layer} ${k}`).join(', ')
  console.log(`    ${summaryLine(kind, s)}  decided: ${caught} (expected ${expected}); ${r.embedded} texts embedded; entries on parent median ${summarize(r.scanned).p50}`)
}
if (examples.length > 0) console.log(`  unexpected decisions (up to 3 per kind):\n${examples.map((e) => `    ${e}`).join('\n')}`)
const all = KINDS.map((k) => summarize(warm.get(k)!.ms))
const worst = all.reduce((a, b) => (b.p99 > a.p99 ? b : a))
console.log(`claim check over ${c.claim! + c.result!} claims+results: warm p50 ${fmtMs(Math.max(...all.map((s) => s.p50)))} ms p99 ${fmtMs(worst.p99)} ms (slowest kind), cold first check p50 ${coldMs.p50.toFixed(0)} ms max ${coldMs.max.toFixed(0)} ms, ledger ${(heapLedger - heapState).toFixed(0)} MiB, build ${(buildMs / 1000).toFixed(0)} s`)

function fmtMs (ms: number): string { return ms >= 100 ? ms.toFixed(0) : ms.toFixed(2) }
