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
import { ClaimBook } from '../src/claims/claim-book.js'
import { ResearchLedger } from '../src/claims/research-ledger.js'
import { createMiniLmEmbedder } from '../src/embedding/minilm-onnx.js'
import { SemanticDedup } from '../src/claims/semantic.js'
import { SemanticWarmer } from '../src/claims/semantic-warmer.js'
import { sha256Hex } from '../src/util/hash.js'
import { seededRng } from '../src/util/rng.js'
import { makeReplica } from '../test/helpers/replica.js'
import { machineLine, parseFlags, progress, summarize, summaryLine } from './harness.js'
import { freeIdea, knobIdea, pick } from './history/ideas.js'
import { DiscardStore, HARNESS, handOver, writeHistory } from './history/swarm-history.js'
import type { ParentInfo } from './history/swarm-history.js'
import type { ClaimCandidate, DuplicateHit } from '../src/claims/claim-book.js'
import type { Embedder } from '../src/embedding/embedder.js'
import type { Rng } from '../src/util/rng.js'

const flags = parseFlags('bench:claims', 'claim-check latency (exact, structured, semantic with real MiniLM) against a large swarm history', {
  records: { default: 100_000, help: 'claims + results in the state' },
  authors: { default: 32, help: 'peers that wrote the history, each running experiments back to back' },
  parents: { default: 400, help: 'expected length of the lineage (kept results experiments build on)' },
  recent: { default: 8, help: 'checks go to the newest N parents' },
  samples: { default: 200, help: 'warm checks per kind of candidate' },
  seed: { default: 1, help: 'rng seed of the history and the candidates' }
})

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
const written = await writeHistory({ experiments: Math.round(flags.records / 1.92), authors: flags.authors, parents: flags.parents }, rng) // ~92 % of claims end in a result
const applyStarted = performance.now()
const observer = await makeReplica({ seed: 1, store: new DiscardStore() })
observer.clock.set(written.now)
await handOver(written, async (update) => {
  const outcome = await observer.state.applyRemote(update)
  if (outcome.verdict !== 'accept') throw new Error(`the observer refused an author's records: ${outcome.fault ?? ''} ${outcome.message ?? ''}`)
})
progress(`applied (validated) on the measured node in ${((performance.now() - applyStarted) / 1000).toFixed(1)} s`)
const history = { ...written, observer }
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

// The views every status poll and every claim check read: claim counts, the active claims, and
// which active claims count against others (redone each second and on every new record).
const timed = (fn: () => unknown): number => { const started = performance.now(); fn(); return performance.now() - started }
const viewMs = { counts: [] as number[], walk: [] as number[], active: [] as number[], counting: [] as number[] }
const someClaim = claims.at(-1)!
for (let i = 0; i < 20; i++) {
  const at = history.now + i * 1_000
  viewMs.counts.push(timed(() => ledger.statusCounts(at)))
  viewMs.active.push(timed(() => ledger.activeClaims(at)))
  // What a status poll did before: every claim in precedence order, each one's status.
  viewMs.walk.push(timed(() => { const n: Record<string, number> = {}; for (const cl of ledger.allClaims()) n[ledger.status(cl, at)] = (n[ledger.status(cl, at)] ?? 0) + 1 }))
  // A new second: the claims that count are worked out again.
  viewMs.counting.push(timed(() => ledger.blocks(someClaim, at + 500)))
}
progress(`views: status counts ${summarize(viewMs.counts).p50.toFixed(2)} ms p50 (a walk over every claim: ${summarize(viewMs.walk).p50.toFixed(0)} ms), active claims ${summarize(viewMs.active).p50.toFixed(2)} ms, counting ${summarize(viewMs.counting).p50.toFixed(2)} ms`)

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

// The same first checks on a daemon whose warmer embedded ahead (src/claims/semantic-warmer.ts):
// a fresh semantic layer, the warmer's start set embedded, then one fresh idea per recent parent.
const warmedSemantic = new SemanticDedup(embedder)
const warmedBook = new ClaimBook({ state: history.observer.state, ledger, clock: history.observer.clock, semantic: warmedSemantic, onSemanticError: (err) => { throw err } }, { settleMs: 0 })
const warmer = new SemanticWarmer(ledger, warmedSemantic, history.observer.clock)
const warmerStarted = performance.now()
warmer.start()
await warmer.idle()
const warmerMs = performance.now() - warmerStarted
warmer.stop()
progress(`warmer: ${warmer.embedded} descriptions embedded ahead in ${(warmerMs / 1000).toFixed(1)} s`)
const afterWarmer: Array<{ size: number, ms: number, embedded: number }> = []
for (const parent of recent) {
  const c = candidate(rng, 'fresh, idea only', parent, -1000 - afterWarmer.length) ?? candidate(rng, 'fresh, idea, 2 changes', parent, -1000 - afterWarmer.length)
  if (c === undefined) continue
  const before = embedder.texts
  t = performance.now()
  await warmedBook.findDuplicate(c)
  afterWarmer.push({ size: groupSize(parent), ms: performance.now() - t, embedded: embedder.texts - before })
}
const afterWarmerMs = summarize(afterWarmer.map((x) => x.ms))

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
console.log(`  views (p50 of 20): claim status counts ${fmtMs(summarize(viewMs.counts).p50)} ms (a walk over every claim in order, as before: ${fmtMs(summarize(viewMs.walk).p50)} ms); active claims ${fmtMs(summarize(viewMs.active).p50)} ms; the claims that count, worked out again ${fmtMs(summarize(viewMs.counting).p50)} ms`)
console.log(`  model: load + first embedding ${loadMs.toFixed(0)} ms; ${batchPerS.toFixed(0)} descriptions/s in one call of 256; one description ${summarize(single).p50.toFixed(1)} ms p50`)
const coldMs = summarize(cold.map((x) => x.ms))
console.log(`  cold (first check on each of the newest parents after start, idea only): p50 ${coldMs.p50.toFixed(0)} ms, max ${coldMs.max.toFixed(0)} ms; ${cold.map((x) => `${x.size} entries ${x.ms.toFixed(0)} ms/${x.embedded} embedded`).join('; ')}`)
console.log(`  with the warmer (embeds ahead once the model loads): ${warmer.embedded} descriptions in ${(warmerMs / 1000).toFixed(1)} s; then the first check on each of the newest parents: p50 ${afterWarmerMs.p50.toFixed(0)} ms, max ${afterWarmerMs.max.toFixed(0)} ms; ${afterWarmer.map((x) => `${x.size} entries ${x.ms.toFixed(0)} ms/${x.embedded} embedded`).join('; ')}`)
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
console.log(`claim check over ${c.claim! + c.result!} claims+results: warm p50 ${fmtMs(Math.max(...all.map((s) => s.p50)))} ms p99 ${fmtMs(worst.p99)} ms (slowest kind), cold first check p50 ${coldMs.p50.toFixed(0)} ms max ${coldMs.max.toFixed(0)} ms (after the warmer: max ${afterWarmerMs.max.toFixed(0)} ms), ledger ${(heapLedger - heapState).toFixed(0)} MiB, build ${(buildMs / 1000).toFixed(0)} s`)

function fmtMs (ms: number): string { return ms >= 100 ? ms.toFixed(0) : ms.toFixed(2) }
