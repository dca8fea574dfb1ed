/**
 * The dedup layers on labelled data, with the real MiniLM embedder.
 *
 * `--pairs FILE.tsv`: the semantic layer on description pairs, precision, recall and F1 with
 * per-pair decisions and scores, next to the baseline "cosine >= 0.92 alone".
 *
 * `--code-edits FILE.json` (bench/data/code-edits.json): experiments on train/train.py, each
 * written several ways. Every pair of implementations, within and across experiments, is a
 * duplicate iff both belong to one experiment; the bench scores the code layer alone, the semantic
 * layer alone on the descriptions, and the two in the claim book's order, and prints how alike the
 * code layer finds edits of one experiment and of different ones (is SAME_CODE_CHANGE sane?).
 *
 *   npm run bench:dedup -- --pairs ../shared/data/dedup-pairs.tsv
 *   npm run bench:dedup -- --code-edits bench/data/code-edits.json
 */
import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createMiniLmEmbedder } from '../src/embedding/minilm-onnx.js'
import { SemanticDedup, type SemanticVerdict } from '../src/claims/semantic.js'
import { deltaKey } from '../src/claims/dedup.js'
import { changeSimilarity, changesCode, codeChange, SAME_CODE_CHANGE, sameCodeChange, type CodeChange } from '../src/source/code-change.js'
import { diffConstants } from '../src/source/train-constants.js'
import type { DeltaEntry } from '../src/state/record-kinds.js'
import { applyAll, loadCodeEdits, type AppliedImplementation } from './code-edits.js'

const USAGE = `bench:dedup [--pairs FILE.tsv] [--code-edits FILE.json]   (at least one; both may be given)
  --pairs FILE.tsv         description pairs (rows: a<TAB>b<TAB>duplicate 0|1, with a header row):
                           the semantic layer beside cosine >= 0.92 alone
  --code-edits FILE.json   experiments on train/train.py, each implemented several ways
                           (bench/data/code-edits.json); every pair of implementations is a duplicate
                           iff same experiment: the code layer alone, the semantic layer alone, and
                           code-then-semantic as the claim book runs them, plus the code layer's
                           similarity within vs across experiments
`

const { values } = parseArgs({ options: { pairs: { type: 'string' }, 'code-edits': { type: 'string' }, help: { type: 'boolean' } } })
const codeEditsPath = values['code-edits']
if (values.help === true || (values.pairs === undefined && codeEditsPath === undefined)) {
  process.stdout.write(USAGE)
  process.exit(values.help === true ? 0 : 2)
}

// ---------------------------------------------------------------------------------------------
// Scoring

interface Tally { tp: number, fp: number, fn: number, tn: number }
const newTally = (): Tally => ({ tp: 0, fp: 0, fn: 0, tn: 0 })
function count (t: Tally, said: boolean, truth: boolean): void {
  if (said && truth) t.tp++
  else if (said) t.fp++
  else if (truth) t.fn++
  else t.tn++
}
function stats (t: Tally): { p: number, r: number, f1: number } {
  const p = t.tp + t.fp === 0 ? 0 : t.tp / (t.tp + t.fp)
  const r = t.tp + t.fn === 0 ? 0 : t.tp / (t.tp + t.fn)
  return { p, r, f1: p + r === 0 ? 0 : 2 * p * r / (p + r) }
}
const dupOrDiff = (duplicate: boolean): string => duplicate ? 'dup ' : 'diff'

// ---------------------------------------------------------------------------------------------
// Description pairs (--pairs)

async function readDescriptionPairs (path: string): Promise<Array<{ a: string, b: string, duplicate: boolean }>> {
  return (await readFile(path, 'utf8')).split('\n').slice(1).filter((l) => l.trim() !== '').map((l) => {
    const [a, b, dup] = l.split('\t')
    if (a === undefined || b === undefined || (dup?.trim() !== '0' && dup?.trim() !== '1')) throw new Error(`bad row: ${l}`)
    return { a, b, duplicate: dup.trim() === '1' }
  })
}

async function benchDescriptionPairs (dedup: SemanticDedup, path: string): Promise<void> {
  const rows = await readDescriptionPairs(path)
  const baselineThreshold = 0.92
  const ours = newTally()
  const base = newTally()
  for (const row of rows) {
    const v = await dedup.compare(row.a, row.b)
    count(ours, v.duplicate, row.duplicate)
    count(base, v.score >= baselineThreshold, row.duplicate)
    const mark = v.duplicate === row.duplicate ? 'ok   ' : 'WRONG'
    process.stdout.write(`${mark} cos ${v.score.toFixed(3)} ${dupOrDiff(v.duplicate)}${v.guard !== undefined ? ` (${v.guard})` : ''}  truth ${dupOrDiff(row.duplicate)}  ${row.a}  |  ${row.b}\n`)
  }
  const o = stats(ours)
  const b = stats(base)
  process.stdout.write(`precision ${o.p.toFixed(2)} recall ${o.r.toFixed(2)} F1 ${o.f1.toFixed(2)} (baseline cosine>=${baselineThreshold}: precision ${b.p.toFixed(2)} recall ${b.r.toFixed(2)} F1 ${b.f1.toFixed(2)})\n`)
}

// ---------------------------------------------------------------------------------------------
// Code edits (--code-edits)

/** An implementation as a claim carries it: the constants it changes and what its code does. */
interface Side extends AppliedImplementation { delta: DeltaEntry[], change: CodeChange }

interface CodePairVerdict {
  /** The code layer's similarity; undefined unless both sides change code. */
  similarity?: number
  /** Whether the code layer compares them at all: both change code, with one constant delta. */
  comparable: boolean
  code: boolean
  semantic: SemanticVerdict
  pipeline: boolean
}

// The claim book's targetsOf (src/claims/claim-book.ts, not exported): the numbers a delta sets.
const targetsOf = (delta: DeltaEntry[]): number[] => delta.map((d) => d.to).filter((v): v is number => typeof v === 'number')

/** The code layer's rule (ClaimBook.scan): both change code, the same delta, similarity at the threshold. */
function codeLayer (a: Side, b: Side): Pick<CodePairVerdict, 'similarity' | 'comparable' | 'code'> {
  const bothChangeCode = changesCode(a.change) && changesCode(b.change)
  const similarity = bothChangeCode ? changeSimilarity(a.change, b.change) : undefined
  const comparable = bothChangeCode && deltaKey(a.delta) === deltaKey(b.delta)
  return { similarity, comparable, code: comparable && sameCodeChange(a.change, b.change).same }
}

/**
 * The semantic layer as the claim book asks it after the code layer: never between two different
 * non-empty deltas, and with each side's delta values as its targets.
 */
async function semanticAsClaimBook (dedup: SemanticDedup, a: Side, b: Side): Promise<boolean> {
  if (a.delta.length > 0 && b.delta.length > 0 && deltaKey(a.delta) !== deltaKey(b.delta)) return false
  return (await dedup.compare(a.description, b.description, { a: targetsOf(a.delta), b: targetsOf(b.delta) })).duplicate
}

async function judgeCodePair (dedup: SemanticDedup, a: Side, b: Side): Promise<CodePairVerdict> {
  const code = codeLayer(a, b)
  // (b) is the semantic layer alone on the two descriptions, as for --pairs.
  const semantic = await dedup.compare(a.description, b.description)
  const pipeline = code.code || await semanticAsClaimBook(dedup, a, b)
  return { ...code, semantic, pipeline }
}

const label = (s: Side): string => `[${s.experiment} #${s.index}] ${s.description}`

function pairLine (a: Side, b: Side, v: CodePairVerdict, truth: boolean): string {
  const mark = v.pipeline === truth ? 'ok   ' : 'WRONG'
  const sim = v.similarity === undefined ? '  -  ' : v.similarity.toFixed(3)
  const scope = v.similarity === undefined ? ' (no code)' : v.comparable ? '' : ' (delta differs)'
  const guard = v.semantic.guard !== undefined ? ` (${v.semantic.guard})` : ''
  return `${mark} sim ${sim} cos ${v.semantic.score.toFixed(3)}  code ${dupOrDiff(v.code)}${scope} semantic ${dupOrDiff(v.semantic.duplicate)}${guard} pipeline ${dupOrDiff(v.pipeline)}  truth ${dupOrDiff(truth)}  ${label(a)}  |  ${label(b)}\n`
}

function quantile (sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  const at = (sorted.length - 1) * q
  const lo = Math.floor(at)
  const hi = Math.ceil(at)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo)
}

function distributionLine (name: string, similarities: number[]): string {
  const sorted = [...similarities].sort((x, y) => x - y)
  const atThreshold = sorted.filter((s) => s >= SAME_CODE_CHANGE).length
  const f = (x: number): string => x.toFixed(3)
  return `${name} (n=${sorted.length}): min ${f(quantile(sorted, 0))} p25 ${f(quantile(sorted, 0.25))} median ${f(quantile(sorted, 0.5))} p75 ${f(quantile(sorted, 0.75))} max ${f(quantile(sorted, 1))}; >= ${SAME_CODE_CHANGE}: ${atThreshold}\n`
}

function policyLine (name: string, t: Tally): string {
  const s = stats(t)
  return `${name}: precision ${s.p.toFixed(2)} recall ${s.r.toFixed(2)} F1 ${s.f1.toFixed(2)}  (true dup ${t.tp}, false dup ${t.fp}, missed ${t.fn}, true diff ${t.tn})\n`
}

async function readSides (path: string): Promise<Side[]> {
  const base = await readFile(new URL('../../train/train.py', import.meta.url), 'utf8')
  return applyAll(base, await loadCodeEdits(path)).map((impl) => ({
    ...impl,
    delta: diffConstants(base, impl.source),
    change: codeChange(base, impl.source)
  }))
}

async function benchCodeEdits (dedup: SemanticDedup, path: string): Promise<void> {
  const sides = await readSides(path)
  await dedup.prepare(sides.map((s) => s.description))
  const experiments = new Set(sides.map((s) => s.experiment)).size
  const noCode = sides.filter((s) => !changesCode(s.change)).map(label)
  process.stdout.write(`code edits: ${experiments} experiments, ${sides.length} implementations, ${sides.length * (sides.length - 1) / 2} pairs; SAME_CODE_CHANGE ${SAME_CODE_CHANGE}\n`)
  if (noCode.length > 0) process.stdout.write(`changing no code (out of the code layer's reach): ${noCode.join('; ')}\n`)
  const code = newTally()
  const semantic = newTally()
  const pipeline = newTally()
  const within: number[] = []
  const across: number[] = []
  const withinByExperiment = new Map<string, number[]>()
  for (let i = 0; i < sides.length; i++) {
    for (let j = i + 1; j < sides.length; j++) {
      const a = sides[i]!
      const b = sides[j]!
      const truth = a.experiment === b.experiment
      const v = await judgeCodePair(dedup, a, b)
      count(code, v.code, truth)
      count(semantic, v.semantic.duplicate, truth)
      count(pipeline, v.pipeline, truth)
      if (v.similarity !== undefined) {
        (truth ? within : across).push(v.similarity)
        if (truth) withinByExperiment.set(a.experiment, [...(withinByExperiment.get(a.experiment) ?? []), v.similarity])
      }
      process.stdout.write(pairLine(a, b, v, truth))
    }
  }
  process.stdout.write(policyLine('(a) code layer alone', code))
  process.stdout.write(policyLine('(b) semantic layer alone', semantic))
  process.stdout.write(policyLine('(c) code, else semantic (claim book)', pipeline))
  process.stdout.write('code layer similarity, pairs where both change code:\n')
  process.stdout.write(distributionLine('  within an experiment', within))
  process.stdout.write(distributionLine('  across experiments ', across))
  for (const [name, sims] of withinByExperiment) process.stdout.write(`  ${name}: ${sims.map((s) => s.toFixed(2)).join(' ')}\n`)
}

// ---------------------------------------------------------------------------------------------

const cacheDir = join(tmpdir(), `swarmd-bench-dedup-${process.pid}`)
const embedder = await createMiniLmEmbedder({ cacheDir, log: (line) => { process.stderr.write(`${line}\n`) } })
try {
  const dedup = new SemanticDedup(embedder)
  if (values.pairs !== undefined) await benchDescriptionPairs(dedup, values.pairs)
  if (codeEditsPath !== undefined) await benchCodeEdits(dedup, codeEditsPath)
} finally {
  await embedder.close()
  await rm(cacheDir, { recursive: true, force: true })
}
