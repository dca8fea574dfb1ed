/**
 * The noise floor of val_bpb on the cpu profile: how far two honest runs of the same train.py land
 * apart. It sets the verification tolerance (PROFILE_TOLERANCE in src/runner/harness.ts): a
 * re-run that replays the same number of steps must land within it to reproduce a result.
 *
 *   npm run bench:noise -- [--steps 60] [--repeats 2] [--budget-runs 3]
 *
 * Fixed-step runs are repeated under different kernel sets (ATEN_CPU_CAPABILITY) and thread counts,
 * a stand-in for "another volunteer's machine"; time-budget runs show why verification replays
 * steps instead of the budget (a faster machine trains more steps and scores better).
 */
import '../src/util/polyfill.js'
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { execa } from 'execa'
import { findPython } from '../src/runner/python.js'
import { DEFAULT_HARNESS_DIR, corpusDir } from '../src/runner/harness.js'
import { parseSummary } from '../src/runner/summary.js'

const { values: flags } = parseArgs({
  options: {
    steps: { type: 'string', default: '60' },
    repeats: { type: 'string', default: '2' },
    'budget-runs': { type: 'string', default: '3' }
  }
})
const steps = Number(flags.steps)
const repeats = Number(flags.repeats)
const budgetRuns = Number(flags['budget-runs'])

const python = await findPython()
if (python === undefined) throw new Error('no Python with torch found: bash scripts/install-system-deps.sh')
const work = await mkdtemp(join(tmpdir(), 'swarmd-noise-'))
await cp(DEFAULT_HARNESS_DIR, work, { recursive: true })

async function run (env: Record<string, string>): Promise<{ valBpb: number, steps: number }> {
  const out = await execa(python!.path, ['train.py'], { cwd: work, env: { SWARMD_PROFILE: 'cpu', SWARMD_SOTU_DIR: corpusDir(), PYTHONDONTWRITEBYTECODE: '1', ...env }, reject: false, all: true })
  const summary = parseSummary(out.all ?? '')
  if (!('metrics' in summary)) throw new Error(`run failed (${JSON.stringify(env)}):\n${(out.all ?? '').slice(-2000)}`)
  return { valBpb: summary.metrics.val_bpb, steps: summary.metrics.num_steps }
}

const fixed: Array<{ setup: string, valBpb: number }> = []
for (const capability of ['default', 'avx2']) {
  for (const threads of ['1', '2']) {
    for (let i = 0; i < repeats; i++) {
      const r = await run({ MAX_STEPS: String(steps), OMP_NUM_THREADS: threads, ATEN_CPU_CAPABILITY: capability })
      const setup = `kernels ${capability}, ${threads} thread${threads === '1' ? '' : 's'}`
      fixed.push({ setup, valBpb: r.valBpb })
      process.stderr.write(`.. ${steps} steps, ${setup}: val_bpb ${r.valBpb.toFixed(6)}\n`)
    }
  }
}
const budget: Array<{ valBpb: number, steps: number }> = []
for (let i = 0; i < budgetRuns; i++) {
  const r = await run({ OMP_NUM_THREADS: '1' })
  budget.push(r)
  process.stderr.write(`.. 20 s budget: ${r.steps} steps, val_bpb ${r.valBpb.toFixed(6)}\n`)
}
await rm(work, { recursive: true, force: true })

const spread = (xs: number[]): number => Math.max(...xs) - Math.min(...xs)
const sameSetup = Math.max(...[...new Set(fixed.map((f) => f.setup))].map((s) => spread(fixed.filter((f) => f.setup === s).map((f) => f.valBpb))))
const across = spread(fixed.map((f) => f.valBpb))
const tolerance = Math.max(0.01, Math.ceil(across * 3 * 1000) / 1000)
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${process.version}, python ${python.path}, torch ${python.torch}`)
console.log(`fixed ${steps} steps: spread within one setup ${sameSetup.toExponential(2)}, across kernels and threads ${across.toExponential(2)} (mean ${(fixed.reduce((s, f) => s + f.valBpb, 0) / fixed.length).toFixed(4)})`)
console.log(`20 s budget: steps ${budget.map((b) => b.steps).join(', ')}; val_bpb spread ${spread(budget.map((b) => b.valBpb)).toFixed(4)}`)
console.log(`noise floor: fixed-step re-runs land within ${across.toExponential(2)} val_bpb; tolerance max(0.01, 3x) = ${tolerance}`)
