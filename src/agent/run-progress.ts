import type { Clock } from '../util/clock.js'
import type { RunProgress } from '../runner/summary.js'

export interface RunProgressInit {
  /** What the run is, as the log names it. */
  label: string
  /** The run's training budget in seconds (the time budget), or its step limit. */
  budget: { seconds: number } | { steps: number }
  clock: Clock
  log: (line: string) => void
  /** The least time between two lines, ms. Default: a tenth of the budget, at least 5 s. */
  everyMs?: number
}

/**
 * Progress lines for a run on the daemon's terminal and log: step, loss and how long is left,
 * at most one line every `everyMs`, so a volunteer watching a 5-minute run sees it move without a
 * line per step. The time left counts from the first step reported (the start-up before it is
 * not training): the budget less the training time so far, or for a step limit the steps left at
 * the pace so far.
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
    const trained = now - firstAt
    let of = ''
    let leftMs: number | undefined
    if (budgetMs !== undefined) {
      of = ` (${duration(trained)} of ${duration(budgetMs)})`
      leftMs = Math.max(0, budgetMs - trained)
    } else {
      const steps = (init.budget as { steps: number }).steps
      of = `/${steps}`
      const done = progress.step - firstStep
      if (done > 0) leftMs = Math.max(0, (steps - progress.step) * trained / done)
    }
    const loss = Number.isFinite(progress.lossBpb) ? progress.lossBpb.toFixed(3) : String(progress.lossBpb)
    init.log(`run: ${init.label}: step ${progress.step}${of} loss ${loss} bpb${leftMs !== undefined ? `, about ${duration(leftMs)} left` : ''}`)
  }
}

/** 65,000 ms as "1m05s", 9,000 as "9s". */
export function duration (ms: number): string {
  const s = Math.round(ms / 1000)
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}
