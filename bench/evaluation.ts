/**
 * What it costs to have the harness evaluate every run in its own process: the real runner on
 * the default train.py (cpu profile, a fixed step budget), against the same train.py run by hand
 * (evaluation in its own process, no channel). Also the channel's raw throughput, to size the
 * gpu profile's evaluation (8 MiB of validation bytes: 8 GiB of float32 logits through it).
 *
 *   npm run bench:eval -- --runs 5 --steps 20
 */
import '../src/util/polyfill.js'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { ExecaExperimentRunner } from '../src/runner/experiment-runner.js'
import { corpusDir } from '../src/runner/harness.js'
import { findPython } from '../src/runner/python.js'
import { systemClock } from '../src/util/clock.js'
import { HARNESS_DIR } from '../test/helpers/python.js'
import { machineLine, parseFlags, percentile } from './harness.js'

const flags = parseFlags('bench:eval', 'the cost of evaluating in the harness\'s own process', {
  runs: { default: 5, help: 'runs of each kind' },
  steps: { default: 20, help: 'training steps per run (MAX_STEPS)' },
  'fifo-mb': { default: 1024, help: 'MiB pushed through the channel for the throughput figure' }
})

process.stdout.write(`${machineLine()}\n`)
const python = (await findPython(process.env.SWARMD_PYTHON))?.path
if (python === undefined) throw new Error('no python with torch: run `bash scripts/install-system-deps.sh`')
const workRoot = await mkdtemp(join(tmpdir(), 'swarmd-bench-eval-'))
const trainPy = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
const runner = new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: corpusDir(), workRoot, clock: systemClock }, { killAfterMs: 600_000 })

/** total_seconds - training_seconds of a run's summary: data loading and evaluation. */
function nonTraining (log: string): number {
  const value = (key: string): number => Number(new RegExp(`^${key}: (\\S+)$`, 'm').exec(log)?.[1])
  return value('total_seconds') - value('training_seconds')
}

const harness: number[] = []
const harnessEval: number[] = []
const harnessWall: number[] = []
const byHand: number[] = []
const byHandWall: number[] = []
for (let i = 0; i < flags.runs; i++) {
  const outcome = await runner.run({ id: `bench-${i}`, source: trainPy, profile: 'cpu', maxSteps: flags.steps })
  if (outcome.status !== 'ok' || outcome.evaluation?.status !== 'scored') throw new Error(`run ${i} failed: ${outcome.logTail}`)
  harness.push(nonTraining(outcome.log))
  harnessEval.push(outcome.evaluation.seconds)
  harnessWall.push(outcome.wallMs / 1000)
  const started = Date.now()
  const manual = await execa(python, ['train.py'], { cwd: HARNESS_DIR, env: { MAX_STEPS: String(flags.steps), SWARMD_SOTU_DIR: corpusDir(), OMP_NUM_THREADS: '1' } })
  byHandWall.push((Date.now() - started) / 1000)
  byHand.push(nonTraining(manual.stdout))
  process.stderr.write(`run ${i + 1}/${flags.runs}: harness ${harness.at(-1)!.toFixed(2)} s non-training (evaluation ${harnessEval.at(-1)!.toFixed(2)} s), by hand ${byHand.at(-1)!.toFixed(2)} s\n`)
}

// The channel's throughput: one process writes LOGT messages of a cpu-profile batch, another reads them.
const fifoDir = await mkdtemp(join(tmpdir(), 'swarmd-bench-fifo-'))
await execa('mkfifo', [join(fifoDir, 'request'), join(fifoDir, 'answer')])
const mib = flags['fifo-mb']
const throughput = `
import os, sys, time
sys.path.insert(0, ${JSON.stringify(HARNESS_DIR)})
import prepare
path, role, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
block = 64 * 64 * 256 * 4
count = mib * 2**20 // block
if role == "write":
    out = open(path, "wb", buffering=0)
    payload = bytearray(block)
    for _ in range(count):
        prepare._write_message(out, b"LOGT", 64, 64, payload)
else:
    src = open(path, "rb", buffering=0)
    started = time.time()
    for _ in range(count):
        prepare._read_exactly(src, prepare.HEADER.size)
        prepare._read_exactly(src, block)
    print(count * block / 2**30 / (time.time() - started))
`
const [reader] = await Promise.all([
  execa(python, ['-c', throughput, join(fifoDir, 'answer'), 'read', String(mib)]),
  execa(python, ['-c', throughput, join(fifoDir, 'answer'), 'write', String(mib)])
])
const gibPerSecond = Number(reader.stdout.trim())
await rm(fifoDir, { recursive: true, force: true })
await rm(workRoot, { recursive: true, force: true })

const p50 = (xs: number[]): string => percentile([...xs].sort((a, b) => a - b), 50).toFixed(2)
process.stdout.write([
  `runs: ${flags.runs} of each, ${flags.steps} steps, cpu profile`,
  `non-training time inside the run (total_seconds - training_seconds), p50: harness ${p50(harness)} s, by hand ${p50(byHand)} s`,
  `harness evaluation (connect to verdict, look-ahead check included), p50: ${p50(harnessEval)} s`,
  `wall per run, p50: harness ${p50(harnessWall)} s, by hand ${p50(byHandWall)} s`,
  `channel throughput: ${gibPerSecond.toFixed(2)} GiB/s (${mib} MiB of logits); the gpu profile's 8 GiB of logits: ~${(8 / gibPerSecond).toFixed(1)} s`,
  ''
].join('\n'))
