import { parseConstants } from '../source/train-constants.js'
import type { ExperimentRunner, ExperimentSpec, RunOptions, RunOutcome } from './experiment-runner.js'
import type { RunMetrics } from './summary.js'

/**
 * The fast fake ExperimentRunner for deterministic tests: no Python. It "trains" by scoring
 * the candidate's module-level constants with `score` (default: a smooth bowl around
 * WIDTH 96, LEARNING_RATE 0.01), and crashes the way a real run would when the source
 * raises at top level (`raise …`, `1 / 0`), reports NaN (`float("nan")`), never prints a summary
 * (no `val_bpb` in it), or is aborted through its signal (`killed`).
 */
export class ScriptedExperimentRunner implements ExperimentRunner {
  readonly runs: ExperimentSpec[] = []

  constructor (private readonly score: (constants: Map<string, number | string | boolean>) => number = defaultScore) {}

  /** The fake runs nothing, so any code may "run". */
  canRunForeignCode (): boolean {
    return true
  }

  async run (spec: ExperimentSpec, options: RunOptions = {}): Promise<RunOutcome> {
    this.runs.push(spec)
    const steps = spec.maxSteps ?? 100
    const crash = (reason: RunOutcome['reason'], detail: string, log: string): RunOutcome => ({ status: 'crash', reason, detail, log, logTail: log, exitCode: 1, wallMs: 1 })
    for (let step = 1; step <= Math.min(steps, 3); step++) {
      // Aborted, it ends as the real runner's killed run does.
      if (options.signal?.aborted === true) return { ...crash('killed', 'killed by SIGKILL', `progress: step ${step - 1}\n`), exitCode: undefined }
      options.onProgress?.({ step, lossBpb: 5 - step })
    }
    if (options.signal?.aborted === true) return { ...crash('killed', 'killed by SIGKILL', 'progress: step 3\n'), exitCode: undefined }
    if (/^(raise |1 \/ 0)/m.test(spec.source)) return crash('exception', 'ZeroDivisionError: division by zero', 'Traceback (most recent call last):\nZeroDivisionError: division by zero\n')
    if (spec.source.includes('float("nan")')) return crash('nan', 'FAIL: loss is nan at step 2', 'FAIL: loss is nan at step 2\n')
    if (!spec.source.includes('val_bpb')) return { ...crash('no-summary', 'no summary block', 'done\n'), exitCode: 0 }
    const constants = new Map(parseConstants(spec.source).map((c) => [c.name, c.value]))
    const metrics: RunMetrics = { val_bpb: this.score(constants), training_seconds: 1, total_seconds: 1.5, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 0.1, num_steps: steps, num_params_M: 0.1, depth: Number(constants.get('DEPTH') ?? 2) }
    const log = `progress: step 1 loss 4.0 bpb\n---\n${Object.entries(metrics).map(([k, v]) => `${k}: ${v}`).join('\n')}\n`
    return { status: 'ok', metrics, log, logTail: log, exitCode: 0, wallMs: 1 }
  }
}

function defaultScore (constants: Map<string, number | string | boolean>): number {
  const width = Number(constants.get('WIDTH') ?? 64)
  const lr = Number(constants.get('LEARNING_RATE') ?? 0.01)
  return 3 + ((width - 96) / 64) ** 2 + Math.log10(lr / 0.01) ** 2
}
