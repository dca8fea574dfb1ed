/**
 * What one bench:swarm trial measured, from the surrogate's ground truth (RunEvent lines of all
 * of a policy's daemons), and the spread over seeds. Times are ms since the trial's start signal.
 */
import type { RunEvent } from './surrogate-runner.js'
import type { FakeOutcome } from './trial.js'

export interface TrialMetrics {
  /** When a finished experiment first had a true value at or under the target; null if never. */
  timeToTargetMs: number | null
  /** Runs of every kind (experiments, re-runs, references) finished by then; null if never. */
  runsToTarget: number | null
  /** The best true value among finished experiments at the end of the trial. */
  bestAtEnd: number | null
  /** The running best over time: (ms, best true value so far), one point per improvement. */
  curve: Array<[number, number]>
  experiments: number
  /** Finished experiments whose configuration another finished experiment had started earlier. */
  executedDuplicates: number
  /** Share of all run time (stopped runs included) spent re-running results and their references. */
  verificationShare: number
  /** Share of the daemons' wall time with no run going. */
  idleShare: number
  /** With liars (`--liars`): what the honest daemons made of the fakes. */
  fakes?: FakeOutcome
}

/** One trial: `events` of every daemon of the policy, `nodes` daemons, `wallMs` long. */
export function trialMetrics (events: readonly RunEvent[], options: { t0: number, wallMs: number, nodes: number, target: number }): TrialMetrics {
  const { t0, wallMs, nodes, target } = options
  const at = (ms: number): number => Math.min(wallMs, Math.max(0, ms - t0))
  const finished = events.filter((e) => !e.aborted && e.endedAt - t0 <= wallMs)
  const experiments = finished.filter((e) => e.kind === 'experiment').sort((a, b) => a.startedAt - b.startedAt)

  const seen = new Set<string>()
  let executedDuplicates = 0
  for (const e of experiments) {
    if (seen.has(e.configuration)) executedDuplicates++
    seen.add(e.configuration)
  }

  const curve: Array<[number, number]> = []
  let best = Infinity
  let timeToTargetMs: number | null = null
  for (const e of [...experiments].sort((a, b) => a.endedAt - b.endedAt)) {
    if (e.trueValue === null || e.trueValue >= best) continue
    best = e.trueValue
    curve.push([at(e.endedAt), best])
    if (timeToTargetMs === null && best <= target) timeToTargetMs = at(e.endedAt)
  }
  const runsToTarget = timeToTargetMs === null ? null : finished.filter((e) => at(e.endedAt) <= timeToTargetMs!).length

  let runMs = 0
  let verifyMs = 0
  for (const e of events) {
    const ms = at(e.endedAt) - at(e.startedAt)
    runMs += ms
    if (e.kind !== 'experiment') verifyMs += ms
  }
  return {
    timeToTargetMs,
    runsToTarget,
    bestAtEnd: Number.isFinite(best) ? best : null,
    curve,
    experiments: experiments.length,
    executedDuplicates,
    verificationShare: runMs === 0 ? 0 : verifyMs / runMs,
    idleShare: Math.max(0, 1 - runMs / (nodes * wallMs))
  }
}

/** The running best of a trial at `ms` (null before its first finished experiment). */
export function bestAt (curve: ReadonlyArray<[number, number]>, ms: number): number | null {
  let best: number | null = null
  for (const [t, v] of curve) {
    if (t > ms) break
    best = v
  }
  return best
}

export interface Spread {
  mean: number
  sd: number
  min: number
  max: number
  n: number
}

export function spread (values: readonly number[]): Spread {
  const n = values.length
  if (n === 0) return { mean: NaN, sd: NaN, min: NaN, max: NaN, n }
  const mean = values.reduce((a, b) => a + b, 0) / n
  const sd = n < 2 ? 0 : Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1))
  return { mean, sd, min: Math.min(...values), max: Math.max(...values), n }
}
