/**
 * Daemon overhead per experiment: the wall time of a research cycle that is not the training
 * run (baseline lookup, proposal, source blob, claim, log blob, result), measured on a real
 * daemon running real CPU training runs. Also reports the harness's own non-training time per
 * run (Python start-up, data loading, evaluation: total_seconds - training_seconds).
 *
 *   npm run bench:overhead -- --experiments 10 --steps 20
 */
import '../src/util/polyfill.js'
import { startInProcessDaemon, stopAndRemove } from '../test/helpers/in-process-daemon.js'
import { waitFor } from '../test/helpers/wait.js'
import { machineLine, parseFlags, percentile } from './harness.js'

const flags = parseFlags('bench:overhead', 'daemon time per experiment that is not training', {
  experiments: { default: 10, help: 'experiments to run' },
  steps: { default: 20, help: 'training steps per run (MAX_STEPS)' }
})

process.stdout.write(`${machineLine()}\n`)
const daemon = await startInProcessDaemon({ agent: 'builtin', maxSteps: flags.steps, maxExperiments: flags.experiments })
const loop = daemon.loops[0]
if (loop === undefined) throw new Error('no research loop started: is PyTorch installed? (swarmd doctor)')
let shown = 0
await waitFor(() => {
  if (loop.stats.experiments > shown) {
    shown = loop.stats.experiments
    process.stderr.write(`experiment ${shown}/${flags.experiments}: overhead ${loop.stats.lastOverheadMs} ms\n`)
  }
  return loop.stats.experiments >= flags.experiments
}, { timeoutMs: flags.experiments * 120_000, intervalMs: 200, what: 'the experiments' })

const overheads = [...loop.stats.overheadsMs].sort((a, b) => a - b)
const results = daemon.claims.ledger.allResults().filter((r) => r.body.metrics !== null)
const harnessSeconds = results.map((r) => r.body.metrics!.total_seconds - r.body.metrics!.training_seconds).sort((a, b) => a - b)
// One cycle ends when its result is published: the gap between two results, minus the
// training time inside it, is all the wall time of that cycle that was not training.
const notTraining = results.slice(1).map((r, i) => (r.createdAt - results[i]!.createdAt) / 1000 - r.body.metrics!.training_seconds).sort((a, b) => a - b)
await stopAndRemove(daemon)

const ms = (v: number | undefined): string => v === undefined || Number.isNaN(v) ? '-' : `${v.toFixed(0)} ms`
process.stdout.write(`experiments ${overheads.length} (${flags.steps} steps each)\n`)
process.stdout.write(`daemon overhead per experiment: p50 ${ms(percentile(overheads, 50))}  max ${ms(overheads[overheads.length - 1])}\n`)
process.stdout.write(`harness non-training time per run (python start-up, data, eval): p50 ${percentile(harnessSeconds, 50).toFixed(2)} s\n`)
process.stdout.write(`wall time per cycle that is not training (daemon + python start-up + data + eval): p50 ${percentile(notTraining, 50).toFixed(2)} s  max ${(notTraining[notTraining.length - 1] ?? Number.NaN).toFixed(2)} s\n`)
process.stdout.write(`daemon overhead as a share of a 5-minute GPU cycle: ${(percentile(overheads, 50) / 300_000 * 100).toFixed(3)}%\n`)
