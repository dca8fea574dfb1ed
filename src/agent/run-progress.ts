import type { Clock } from '../util/clock.js'
import type { RunProgress } from '../runner/summary.js'

/** A run's training budget in seconds (the time budget), or its step limit. */
export type RunBudget = { seconds: number } | { steps: number }

/** How far a run is: from its first reported step (`firstAt`, `firstStep`) to `step` at `now`. */
export interface RunPace {
  budget: RunBudget
  firstAt: number
  firstStep: number
  step: number
  now: number
}

/**
 * The share of its budget a run has done (0 to 1) and the time it has left, if known yet. The
 * time counts from the first step reported (the start-up before it is not training): the budget
 * less the training time so far, or for a step limit the steps left at the pace so far.
 */
export function runEta (pace: RunPace): { fraction: number, leftMs: number | undefined } {
  const trained = pace.now - pace.firstAt
  if ('seconds' in pace.budget) {
    const budgetMs = pace.budget.seconds * 1000
    return { fraction: Math.min(1, trained / budgetMs), leftMs: Math.max(0, budgetMs - trained) }
  }
  const { steps } = pace.budget
  const done = pace.step - pace.firstStep
  return { fraction: Math.min(1, pace.step / steps), leftMs: done > 0 ? Math.max(0, (steps - pace.step) * trained / done) : undefined }
}

export interface RunProgressInit {
  /** What the run is, as the log names it. */
  label: string
  budget: RunBudget
  clock: Clock
  log: (line: string) => void
  /** The least time between two lines, ms. Default: a tenth of the budget, at least 5 s. */
  everyMs?: number
}

/**
 * Progress lines for a run on the daemon's terminal and log: step, loss and how long is left
 * (`runEta`), at most one line every `everyMs`, so a volunteer watching a 5-minute run sees it
 * move without a line per step.
 */
export function runProgressReporter (init: RunProgressInit): (progress: RunProgress) => void {
  const budgetMs = 'seconds' in init.budget ? init.budget.seconds * 1000 : undefined
  const everyMs = init.everyMs ?? Math.max(5_000, (budgetMs ?? 60_000) / 10)
  let firstAt: number | undefined
  let firstStep = 0
  let lastLineAt = -Infinity
  return (progress) => {
    const now = init.clock.now()
    if (firstAt === undefined) {
      firstAt = now
      firstStep = progress.step
    }
    if (now - lastLineAt < everyMs) return
    lastLineAt = now
    const { leftMs } = runEta({ budget: init.budget, firstAt, firstStep, step: progress.step, now })
    const of = budgetMs !== undefined ? ` (${duration(now - firstAt)} of ${duration(budgetMs)})` : `/${(init.budget as { steps: number }).steps}`
    const loss = Number.isFinite(progress.lossBpb) ? progress.lossBpb.toFixed(3) : String(progress.lossBpb)
    init.log(`run: ${init.label}: step ${progress.step}${of} loss ${loss} bpb${leftMs !== undefined ? `, about ${duration(leftMs)} left` : ''}`)
  }
}

/** 65,000 ms as "1m05s", 9,000 as "9s". */
export function duration (ms: number): string {
  const s = Math.round(ms / 1000)
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}
