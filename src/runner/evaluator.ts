import { spawnConfined } from './spawn.js'
import type { ConfinedCommand } from './spawn.js'
import type { execa } from 'execa'

/**
 * A fresh validation sample's scores (verification runs only): the summed nats of each window, in
 * the sample's order, so two runs scored on the same seed compare window by window (fresh-sample.ts).
 */
export interface FreshSampleScores {
  windows: number
  /** Predicted bytes per window (the profile's context). */
  bytesPerWindow: number
  nats: number[]
}

/**
 * What the harness's evaluator process (`prepare.py evaluate`) said about a run. `scored`: it
 * measured val_bpb itself on the validation windows, and the look-ahead check passed;
 * `answerers`: how many isolated processes answered (2: `train.py` run again in sandboxes of their own).
 * `refused`: the model's answers were unusable (`non-causal`: a prediction moved when only later
 * bytes changed; `nan`; `eval-protocol`: wrong shapes or the run stopped answering; `eval-data`:
 * the validation slice is not the pinned one). `absent`: train.py never asked to be evaluated.
 */
export type EvaluationReport =
  | { status: 'scored', valBpb: number, windows: number, causalCheckedWindows: number, causalMaxChange: number, seconds: number, answerers?: number, fresh?: FreshSampleScores }
  | { status: 'refused', reason: 'non-causal' | 'nan' | 'eval-protocol' | 'eval-data', detail: string }
  | { status: 'absent' }

const REFUSALS = new Set(['non-causal', 'nan', 'eval-protocol', 'eval-data'])

/** Read the evaluator's output: its FAIL line, else its JSON result line. */
export function parseEvaluatorOutput (output: string): EvaluationReport {
  const lines = output.split(/\r?\n/).map((l) => l.trim())
  const fail = lines.find((l) => l.startsWith('FAIL: '))
  if (fail !== undefined) {
    const match = /^FAIL: ([a-z-]+): (.*)$/.exec(fail)
    const reason = match !== null && REFUSALS.has(match[1]!) ? match[1] as 'non-causal' | 'nan' | 'eval-protocol' | 'eval-data' : 'eval-protocol'
    return { status: 'refused', reason, detail: match?.[2] ?? fail }
  }
  for (const line of lines.reverse()) {
    if (!line.startsWith('{')) continue
    try {
      const r = JSON.parse(line) as Record<string, unknown>
      const numbers = [r.val_bpb, r.windows, r.causal_checked_windows, r.causal_max_change]
      if (numbers.every((n) => typeof n === 'number' && Number.isFinite(n))) {
        const seconds = typeof r.seconds === 'number' && Number.isFinite(r.seconds) ? r.seconds : 0
        const report: EvaluationReport = { status: 'scored', valBpb: r.val_bpb as number, windows: r.windows as number, causalCheckedWindows: r.causal_checked_windows as number, causalMaxChange: r.causal_max_change as number, seconds }
        if (typeof r.answerers === 'number' && Number.isInteger(r.answerers)) report.answerers = r.answerers
        const fresh = r.fresh as { windows?: unknown, bytes?: unknown, nats?: unknown } | undefined
        if (fresh !== undefined && Array.isArray(fresh.nats) && fresh.nats.length > 0 && fresh.nats.every((n) => typeof n === 'number' && Number.isFinite(n)) &&
          fresh.windows === fresh.nats.length && typeof fresh.bytes === 'number' && fresh.bytes > 0 && fresh.bytes % fresh.nats.length === 0) {
          report.fresh = { windows: fresh.nats.length, bytesPerWindow: fresh.bytes / fresh.nats.length, nats: fresh.nats as number[] }
        }
        return report
      }
    } catch {}
  }
  return { status: 'absent' }
}


/**
 * The evaluator of one run, started before train.py: it imports torch, then waits on the
 * channel. `finish()` is called once train.py has exited: an evaluator train.py never connected
 * to is killed at once; a connected one gets `graceMs` to print its verdict.
 */
export class EvaluatorProcess {
  private output = ''
  private connected = false
  /** When train.py began handing over its model (the evaluator read the message's header), by `now`. */
  connectedAt: number | undefined
  /** When the whole model had arrived (the harness's end of training), by `now`. */
  receivedAt: number | undefined
  /** When the evaluator printed its verdict (a result or a FAIL line), by `now`. */
  verdictAt: number | undefined
  private readonly child: ReturnType<typeof execa>
  private readonly exited: Promise<unknown>

  /**
   * `now`: the runner's clock, ms; the times it stamps are the harness's own, never train.py's.
   * `on`: told when the model has arrived and when the verdict is out, as they happen.
   */
  constructor (start: ConfinedCommand, private readonly now: () => number = () => 0, private readonly on: { received?: () => void, verdict?: () => void } = {}, private readonly maxOutputBytes = 1 << 20) {
    this.child = spawnConfined(start)
    this.child.all?.setEncoding('utf8')
    this.child.all?.on('data', (chunk: string) => {
      if (this.output.length < this.maxOutputBytes) this.output += chunk
      if (!this.connected && /^connected$/m.test(this.output)) {
        this.connected = true
        this.connectedAt = this.now()
      }
      if (this.connected && this.receivedAt === undefined && /^received$/m.test(this.output)) {
        this.receivedAt = this.now()
        this.on.received?.()
      }
      if (this.connected && this.verdictAt === undefined && /^(\{|FAIL: )/m.test(this.output.slice(this.output.indexOf('connected')))) {
        this.verdictAt = this.now()
        this.on.verdict?.()
      }
    })
    this.exited = this.child.then(() => undefined, () => undefined)
  }

  /** Settles when it exits: whether train.py had connected to it by then. */
  async exit (): Promise<{ connected: boolean }> {
    await this.exited
    return { connected: this.connected }
  }

  /** Kill it and everything it started (its own process group). */
  kill (): void {
    if (this.child.pid === undefined) return
    try { process.kill(-this.child.pid, 'SIGKILL') } catch {}
  }

  async finish (graceMs: number): Promise<{ report: EvaluationReport, log: string }> {
    // A line printed just before train.py exited may still be in flight: a short wait first.
    await Promise.race([this.exited, delay(200)])
    if (this.connected) await Promise.race([this.exited, delay(graceMs)])
    this.kill()
    await this.exited
    const log = this.output.split(/\r?\n/).filter((l) => l.trim() !== '' && l.trim() !== 'connected' && l.trim() !== 'received').join('\n')
    return { report: parseEvaluatorOutput(this.output), log }
  }
}

async function delay (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms).unref())
}
