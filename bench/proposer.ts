/**
 * The builtin proposer's cost per proposal as the swarm's results grow (issue 16 asks for at most
 * 50 ms at 10,000 results). One proposer per size, as a daemon keeps one: its first proposal
 * meets every result at once (a daemon that just joined); between the timed ones after it,
 * `--arrivals` new results come in, as in a working swarm.
 *
 *   npm run bench:proposer       # defaults: --results 100,1000,10000 --proposals 50 --arrivals 8
 *
 * Results are synthetic: each changes one or two of train.py's knobs of a random earlier result
 * (or of the default train.py) and scores a bowl plus noise, as a swarm's lineage looks.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { BuiltinProposer } from '../src/agent/builtin-proposer.js'
import { seededRng } from '../src/util/rng.js'
import { machineLine, parseFlags, percentile } from './harness.js'
import type { ProposalContext } from '../src/agent/proposer.js'
import type { DeltaEntry } from '../src/state/record-kinds.js'

const TRAIN_PY = fileURLToPath(new URL('../../train/train.py', import.meta.url))
const KNOBS: Array<{ name: string, base: number, factors: number[] }> = [
  { name: 'LEARNING_RATE', base: 0.01, factors: [0.5, 0.7, 1.4, 2] },
  { name: 'WIDTH', base: 64, factors: [0.5, 0.75, 1.5, 2] },
  { name: 'BATCH_SIZE', base: 16, factors: [0.5, 0.75, 1.5, 2] },
  { name: 'WEIGHT_DECAY', base: 0.05, factors: [0.5, 0.7, 1.4, 2] },
  { name: 'DECAY_FRACTION', base: 0.3, factors: [0.5, 0.7, 1.4, 2] }
]

const hash = (n: number): string => n.toString(16).padStart(64, '0')

function syntheticResults (count: number, seed: number): ProposalContext['results'] {
  const rng = seededRng(seed)
  const configs: Array<Map<string, number>> = []
  const results: ProposalContext['results'] = []
  const score = (c: Map<string, number>): number => 1.5 + 0.04 * Math.log2(c.get('LEARNING_RATE')! / 0.003) ** 2 + 0.03 * Math.log2(c.get('WIDTH')! / 192) ** 2 + 0.02 * Math.log2(c.get('BATCH_SIZE')! / 48) ** 2
  for (let i = 0; i < count; i++) {
    const parentIndex = i === 0 ? -1 : rng.int(i)
    const parent = parentIndex < 0 ? new Map(KNOBS.map((k) => [k.name, k.base])) : configs[parentIndex]!
    const child = new Map(parent)
    const delta: DeltaEntry[] = []
    for (let j = 0; j < 1 + rng.int(2); j++) {
      const knob = KNOBS[rng.int(KNOBS.length)]!
      const from = child.get(knob.name)!
      const to = Number((from * knob.factors[rng.int(knob.factors.length)]!).toPrecision(3))
      child.set(knob.name, to)
      delta.push({ name: knob.name, from, to })
    }
    configs.push(child)
    const valBpb = score(child) + (rng.next() - 0.5) * 0.004
    results.push({
      id: hash(i + 1),
      author: `peer${i % 8}`,
      body: {
        claimId: hash(100_000 + i), parent: parentIndex < 0 ? null : hash(parentIndex + 1), codeHash: hash(200_000 + i), logHash: hash(300_000 + i),
        description: delta.map((d) => `${d.name} ${String(d.from)} -> ${String(d.to)}`).join(', '), delta, status: 'discard',
        metrics: { val_bpb: valBpb, training_seconds: 300, total_seconds: 310, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 1, num_steps: 100, num_params_M: 1, depth: 2 },
        crash: null, hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: 'h'
      }
    })
  }
  return results
}

const flags = parseFlags('bench:proposer', 'time per builtin proposal against the number of shared results', {
  results: { default: [100, 1000, 10_000], help: 'shared results in the context' },
  proposals: { default: 50, help: 'proposals timed per size, after the first' },
  arrivals: { default: 8, help: 'new results between two proposals' }
})
process.stdout.write(`${machineLine()}\n`)
const source = await readFile(TRAIN_PY, 'utf8')
for (const count of flags.results) {
  const all = syntheticResults(count + flags.arrivals * flags.proposals, 1)
  const contextAt = (n: number): ProposalContext => {
    const results = all.slice(0, n)
    const last = results[results.length - 1]!
    return { baseline: { resultId: last.id, source, valBpb: last.body.metrics!.val_bpb }, results, hypotheses: [], activeClaims: [] }
  }
  const proposer = new BuiltinProposer({ rng: seededRng(count) })
  const t0 = performance.now()
  await proposer.propose(contextAt(count))
  const first = performance.now() - t0
  const times: number[] = []
  for (let i = 1; i <= flags.proposals; i++) {
    const context = contextAt(count + i * flags.arrivals)
    const started = performance.now()
    await proposer.propose(context)
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  process.stdout.write(`${String(count).padStart(6)} results: first proposal ${first.toFixed(1)} ms; then p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms per proposal (${flags.arrivals} new results before each)\n`)
}
