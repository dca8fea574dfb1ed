/**
 * The semantic dedup layer on labelled pairs: precision, recall and F1, per-pair decisions
 * with scores, next to the baseline "cosine >= 0.92 alone".
 *
 *   npm run bench:dedup -- --pairs ../shared/data/dedup-pairs.tsv
 */
import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createMiniLmEmbedder } from '../src/embedding/minilm-onnx.js'
import { SemanticDedup } from '../src/claims/semantic.js'

const { values } = parseArgs({ options: { pairs: { type: 'string' }, help: { type: 'boolean' } } })
if (values.help === true || values.pairs === undefined) {
  process.stdout.write('bench:dedup --pairs FILE.tsv   (rows: a<TAB>b<TAB>duplicate 0|1, with a header row)\n')
  process.exit(values.help === true ? 0 : 2)
}
const rows = (await readFile(values.pairs, 'utf8')).split('\n').slice(1).filter((l) => l.trim() !== '').map((l) => {
  const [a, b, dup] = l.split('\t')
  if (a === undefined || b === undefined || (dup?.trim() !== '0' && dup?.trim() !== '1')) throw new Error(`bad row: ${l}`)
  return { a, b, duplicate: dup.trim() === '1' }
})

const cacheDir = join(tmpdir(), `swarmd-bench-dedup-${process.pid}`)
const embedder = await createMiniLmEmbedder({ cacheDir, log: (line) => { process.stderr.write(`${line}\n`) } })
const dedup = new SemanticDedup(embedder)
const baselineThreshold = 0.92

interface Tally { tp: number, fp: number, fn: number }
const ours: Tally = { tp: 0, fp: 0, fn: 0 }
const base: Tally = { tp: 0, fp: 0, fn: 0 }
const count = (t: Tally, said: boolean, truth: boolean): void => { if (said && truth) t.tp++; else if (said) t.fp++; else if (truth) t.fn++ }
for (const row of rows) {
  const v = await dedup.compare(row.a, row.b)
  const baseSays = v.score >= baselineThreshold
  count(ours, v.duplicate, row.duplicate)
  count(base, baseSays, row.duplicate)
  const mark = v.duplicate === row.duplicate ? 'ok   ' : 'WRONG'
  process.stdout.write(`${mark} cos ${v.score.toFixed(3)} ${v.duplicate ? 'dup ' : 'diff'}${v.guard !== undefined ? ` (${v.guard})` : ''}  truth ${row.duplicate ? 'dup ' : 'diff'}  ${row.a}  |  ${row.b}\n`)
}
await embedder.close()
await rm(cacheDir, { recursive: true, force: true })

const stats = (t: Tally): { p: number, r: number, f1: number } => {
  const p = t.tp + t.fp === 0 ? 0 : t.tp / (t.tp + t.fp)
  const r = t.tp + t.fn === 0 ? 0 : t.tp / (t.tp + t.fn)
  return { p, r, f1: p + r === 0 ? 0 : 2 * p * r / (p + r) }
}
const o = stats(ours)
const b = stats(base)
process.stdout.write(`precision ${o.p.toFixed(2)} recall ${o.r.toFixed(2)} F1 ${o.f1.toFixed(2)} (baseline cosine>=0.92: precision ${b.p.toFixed(2)} recall ${b.r.toFixed(2)} F1 ${b.f1.toFixed(2)})\n`)
