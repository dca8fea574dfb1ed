/**
 * bench:swarm's stand-in for training, behind the daemon's runner seam (ExperimentRunner): a run
 * takes `runMs` of wall time whatever it is (an experiment, a verification's re-run, or the
 * re-run's reference), then reports the landscape's value of train.py's constants plus noise, or
 * crashes where the landscape or train.py's own constraints say it would. Each finished or stopped
 * run is appended to a JSON-lines file that the bench reads afterwards: the ground truth (true
 * value, configuration) that the daemons never see.
 */
import { appendFileSync } from 'node:fs'
import { parseConstants } from '../../src/source/train-constants.js'
import { gaussian, seededRng } from '../../src/util/rng.js'
import { configurationKey, score } from './landscape.js'
import type { Landscape } from './landscape.js'
import type { ExperimentRunner, ExperimentSpec, RunOptions, RunOutcome } from '../../src/runner/experiment-runner.js'
import type { RunMetrics } from '../../src/runner/summary.js'
import type { Rng } from '../../src/util/rng.js'

/** What a run was, as the research loop asked for it. */
export type RunKind = 'experiment' | 'verification' | 'reference'

/** One line of the ground-truth file. */
export interface RunEvent {
  node: number
  kind: RunKind
  startedAt: number
  endedAt: number
  /** The configuration (all constants) and its landscape value before noise; null when it crashes. */
  configuration: string
  trueValue: number | null
  reported: number | null
  /** Stopped before it finished (the loop yielded a claim race, or the daemon stopped). */
  aborted: boolean
}

export interface SurrogateInit {
  landscape: Landscape
  runMs: number
  /** Seeds the run noise. */
  seed: number
  node: number
  /** Where each run's RunEvent is appended. */
  eventsPath: string
  /** No run starts before this settles: every daemon of a trial starts together. */
  start: Promise<void>
  /** A liar: its own experiments report this much better (lower) than they measured; re-runs of others are honest. */
  lie?: number
}

export class SurrogateRunner implements ExperimentRunner {
  private readonly rng: Rng

  constructor (private readonly init: SurrogateInit) {
    this.rng = seededRng(init.seed * 7919 + init.node)
  }

  canRunForeignCode (): boolean { return true }

  async run (spec: ExperimentSpec, options: RunOptions = {}): Promise<RunOutcome> {
    const { landscape, runMs } = this.init
    await Promise.race([this.init.start, aborted(options.signal)])
    const startedAt = Date.now()
    const constants = new Map(parseConstants(spec.source).map((c) => [c.name, c.value]))
    const scored = score(landscape, constants)
    const noise = gaussian(this.rng) * landscape.noise
    const steps = spec.maxSteps ?? 100
    const kind: RunKind = spec.id.endsWith('-ref') ? 'reference' : spec.id.startsWith('verify-') ? 'verification' : 'experiment'
    const finished = await this.train(runMs, steps, options)
    const event: RunEvent = {
      node: this.init.node,
      kind,
      startedAt,
      endedAt: Date.now(),
      configuration: configurationKey(constants),
      trueValue: 'value' in scored ? scored.value : null,
      reported: null,
      aborted: !finished
    }
    const wallMs = event.endedAt - startedAt
    if (!finished) {
      this.record(event)
      return { status: 'crash', reason: 'killed', detail: 'killed by SIGKILL', log: '', logTail: '', wallMs }
    }
    if ('crash' in scored) {
      this.record(event)
      const log = `${scored.crash.message}\n`
      return { status: 'crash', reason: scored.crash.reason, detail: scored.crash.message, log, logTail: log, exitCode: 1, wallMs, timing: { trainingMs: wallMs, totalMs: wallMs, limitMs: runMs * 3 } }
    }
    const lie = kind === 'experiment' ? this.init.lie ?? 0 : 0
    const valBpb = Math.round((scored.value + noise - lie) * 1e6) / 1e6
    this.record({ ...event, reported: valBpb })
    const metrics: RunMetrics = { val_bpb: valBpb, training_seconds: runMs / 1000, total_seconds: wallMs / 1000, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 1, num_steps: steps, num_params_M: 1, depth: Number(constants.get('DEPTH') ?? 2) }
    const log = `---\n${Object.entries(metrics).map(([k, v]) => `${k}: ${v}`).join('\n')}\n`
    return { status: 'ok', metrics, log, logTail: log, exitCode: 0, wallMs, timing: { trainingMs: wallMs, totalMs: wallMs, limitMs: runMs * 3 } }
  }

  /** Wait out the run's time with a progress line a tenth of the way each; false when stopped first. */
  private async train (runMs: number, steps: number, options: RunOptions): Promise<boolean> {
    for (let tenth = 1; tenth <= 10; tenth++) {
      if (!await sleep(runMs / 10, options.signal)) return false
      options.onProgress?.({ step: Math.round(steps * tenth / 10), lossBpb: 3 - tenth / 10 })
    }
    return true
  }

  private record (event: RunEvent): void {
    appendFileSync(this.init.eventsPath, JSON.stringify(event) + '\n')
  }
}


/** Resolves true after `ms`, false as soon as `signal` aborts. */
async function sleep (ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted === true) return false
  return await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(true) }, ms)
    const onAbort = (): void => { clearTimeout(timer); resolve(false) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

async function aborted (signal?: AbortSignal): Promise<void> {
  if (signal === undefined) return await new Promise(() => {})
  if (signal.aborted) return
  await new Promise<void>((resolve) => { signal.addEventListener('abort', () => { resolve() }, { once: true }) })
}
