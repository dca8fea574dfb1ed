/**
 * What handing the model over as a program costs (train/prepare.py `export_program`,
 * `ModelProgram`): tracing and writing it in the trained run, loading and checking it in an
 * answerer, and answering one evaluation question with the interpreter beside the eager model.
 * The default train.py's model, untrained, the cpu profile, one thread.
 *
 *   npm run bench:program -- --repeats 20
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { findPython } from '../src/runner/python.js'
import { HARNESS_DIR } from '../test/helpers/python.js'
import { machineLine, parseFlags } from './harness.js'

const flags = parseFlags('bench:program', 'the cost of tracing the model into a program and answering with it', {
  repeats: { default: 20, help: 'timings of each step' }
})

const SCRIPT = String.raw`
import json, os, statistics, sys, time
import torch
torch.set_num_threads(1)
import prepare, train
repeats = int(sys.argv[1])
path = os.path.join(sys.argv[2], "program.bin")
model = train.GPT().eval()

def timed(fn):
    fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out), max(out)

def export():
    with open(path, "wb") as f:
        f.write(prepare.export_program(model, "cpu"))
export_s = timed(export)
program = prepare.ModelProgram(path)
load_s = timed(lambda: prepare.ModelProgram(path))
x = torch.randint(0, prepare.VOCAB_SIZE, (prepare.EVAL_BATCH, prepare.CONTEXT))
with torch.no_grad():
    program_s = timed(lambda: program(x))
    eager_s = timed(lambda: model(x))
print(json.dumps({"bytes": os.path.getsize(path), "operators": len(program.steps), "export": export_s, "load": load_s, "program": program_s, "eager": eager_s}))
`

process.stdout.write(`${machineLine()}\n`)
const python = (await findPython(process.env.SWARMD_PYTHON))?.path
if (python === undefined) throw new Error('no python with torch: run `bash scripts/install-system-deps.sh`')
const dir = await mkdtemp(join(tmpdir(), 'swarmd-bench-program-'))
try {
  const run = await execa(python, ['-c', SCRIPT, String(flags.repeats), dir], { cwd: HARNESS_DIR, env: { SWARMD_PROFILE: 'cpu', PYTHONPATH: HARNESS_DIR } })
  const r = JSON.parse(run.stdout.trim().split('\n').pop()!) as { bytes: number, operators: number, export: number[], load: number[], program: number[], eager: number[] }
  const ms = ([median, max]: number[]): string => `median ${(median! * 1000).toFixed(1)} ms, max ${(max! * 1000).toFixed(1)} ms`
  process.stdout.write(`program: ${r.operators} operators, ${(r.bytes / 1024).toFixed(0)} KiB\n`)
  process.stdout.write(`trace and write (trained run): ${ms(r.export)}\n`)
  process.stdout.write(`load and check (answerer):     ${ms(r.load)}\n`)
  process.stdout.write(`one 64 x 64 question, program: ${ms(r.program)}\n`)
  process.stdout.write(`one 64 x 64 question, eager:   ${ms(r.eager)}\n`)
} finally {
  await rm(dir, { recursive: true, force: true })
}
