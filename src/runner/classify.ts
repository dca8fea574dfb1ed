import { parseSummary } from './summary.js'
import type { EvaluationReport } from './evaluator.js'
import type { RunLimits } from './run-limits.js'
import type { RunMetrics } from './summary.js'

/**
 * Why a run produced no usable result. `timeout`: the harness's clock ran out (its wall limit or
 * the kill deadline). `resource-limit`: the harness saw it reach the process or memory limit (its
 * own watch, the cgroup's events) — never read from train.py's output. `killed`: a signal the
 * harness did not send (the code's own doing as far as the harness can tell). `sandbox-denied`: it died trying something the sandbox forbids (the
 * network, a read-only path). `eval-path-modified`: refused before running, its source
 * reaches into the evaluation. `data-modified`: the corpus changed during the run.
 * `no-evaluation`: train.py reported numbers without having the harness evaluate its model.
 * `non-causal`: the harness caught the model looking ahead. `eval-protocol`: the model's
 * answers to the harness were malformed. `evaluator-failed`: the harness's evaluator died before
 * the run reached it (this machine's doing, not the code's: out of memory, a broken torch).
 */
export type CrashReason = 'timeout' | 'nan' | 'exception' | 'exit-code' | 'killed' | 'no-summary' | 'harness-modified'
  | 'data-modified' | 'resource-limit' | 'sandbox-denied' | 'eval-path-modified' | 'no-evaluation' | 'non-causal' | 'eval-protocol'
  | 'evaluator-failed'

export type RunVerdict =
  | { status: 'ok', metrics: RunMetrics }
  | { status: 'crash', reason: CrashReason, detail: string }

export interface RunEnd {
  exitCode: number | undefined
  signal: string | undefined
  timedOut: boolean
  /** train.py's own output. */
  log: string
  /** What the harness's evaluator measured: the only source of val_bpb. */
  evaluation: EvaluationReport
  /** The run changed the fixed harness: whatever it reported cannot be trusted. */
  harnessModified?: boolean
  /** The run changed the corpus it is evaluated on. */
  dataModified?: boolean
  /** The harness's evaluator exited before train.py connected to it (the line it died on); train.py was stopped. */
  evaluatorLost?: string
  /** An answerer (the harness's process that runs the model's program) exited before the verdict, with the line it died on. */
  answererLost?: string
  /** The runner killed it for a limit it watches itself (the process count), with why. */
  limitHit?: string
  /** train.py handed over its model after the wall limit (the budget and its allowance), with why: void. */
  overBudget?: string
  /**
   * What the harness measured itself, which replaces train.py's printed figures: the training and
   * total time (seconds, its clock) and, for a step-limited run, the steps it asked for.
   */
  measured?: { trainingSeconds: number, totalSeconds: number, steps?: number }
  /** The kernel's memory cgroup killed one of its processes, with why: the run's end is that limit's doing. */
  memoryHit?: string
  /** The limits it ran under, to name them in the detail. */
  limits?: RunLimits
  /** It ran under the sandbox: a refused write or connection is the sandbox's doing. */
  sandboxed?: boolean
}

/**
 * The line a run died on, with the lines before it: the exception line that ends the log's last
 * Python traceback, else the log's last line. stdout and stderr come through separate pipes, so
 * lines train.py printed before it died can arrive after its traceback: the exception line is the
 * first line after the last traceback header that reads `Name: message` (frames are indented).
 */
export function fatalLine (log: string): { line: string, before: string[] } {
  const lines = log.trim().split(/\r?\n/)
  const header = lines.findLastIndex((line) => line.startsWith('Traceback (most recent call last)'))
  if (header >= 0) {
    const end = lines.findIndex((line, i) => i > header && /^[A-Za-z_][\w.]*(:|$)/.test(line))
    if (end >= 0) return { line: lines[end].trim(), before: lines.slice(0, end) }
  }
  const line = lines.pop()?.trim() ?? ''
  return { line, before: lines }
}

/**
 * The exception line of a log that shows a limit or the sandbox stopping the run, if any. A limit
 * read from the log is what train.py printed, which any code can print: it is the code's crash
 * (`exception`), named for the reader, never `resource-limit` (the verifier's problem); the
 * limits the harness can see for itself come in `RunEnd.limitHit` and `memoryHit`.
 */
function deniedBy (log: string, limits: RunLimits | undefined, sandboxed: boolean): { reason: 'exception' | 'sandbox-denied', detail: string } | undefined {
  const { line: last, before: lines } = fatalLine(log)
  const reported = 'train.py reports'
  if (/^MemoryError\b/.test(last) || /\[Errno 12\]|Cannot allocate memory|can't allocate memory/i.test(last)) return { reason: 'exception', detail: `${reported} running out of memory, and the harness saw no limit reached (${limits?.maxMemoryMb ?? '?'} MiB): ${last}` }
  if (/\[Errno 11\]/.test(last) && /fork|spawn|Popen|thread/i.test(lines.slice(-8).join('\n') + last)) return { reason: 'exception', detail: `${reported} a refused fork, and the harness saw no limit reached (${limits?.maxProcesses ?? '?'} processes): ${last}` }
  if (/\[Errno 27\]|File too large/.test(last)) return { reason: 'exception', detail: `${reported} a file over the ${limits?.maxFileMb ?? '?'} MiB size limit: ${last}` }
  if (/\[Errno 28\]|No space left on device/.test(last)) return { reason: 'exception', detail: `${reported} a full sized folder (workspace ${limits?.workspaceMb ?? '?'} MiB, /tmp and /dev/shm ${limits?.tmpfsMb ?? '?'} MiB each): ${last}` }
  if (sandboxed && /\[Errno (30|101|111|99|97|13|1|-2|-3)\]|Read-only file system|Network is unreachable|Connection refused|Permission denied|Operation not permitted|name resolution/.test(last)) return { reason: 'sandbox-denied', detail: `the sandbox stopped it: ${last}` }
  return undefined
}

/**
 * Classify a finished run from its exit, its log and the harness's evaluation. Order matters: a
 * timeout is a timeout whatever it printed; a model caught looking ahead is that, whatever
 * train.py did about it; a FAIL line or a non-finite metric is a NaN crash even with exit 0.
 * train.py's summary gives every metric but val_bpb, which comes from the evaluator alone.
 */
export function classifyRun (end: RunEnd): RunVerdict {
  if (end.harnessModified === true) return { status: 'crash', reason: 'harness-modified', detail: 'the run modified prepare.py (the fixed harness); its numbers are void' }
  if (end.dataModified === true) return { status: 'crash', reason: 'data-modified', detail: 'the run modified the corpus it is evaluated on; its numbers are void' }
  if (end.limitHit !== undefined) return { status: 'crash', reason: 'resource-limit', detail: end.limitHit }
  if (end.timedOut) return { status: 'crash', reason: 'timeout', detail: 'ran past its budget and was killed with its children' }
  if (end.overBudget !== undefined) return { status: 'crash', reason: 'timeout', detail: end.overBudget }
  if (end.memoryHit !== undefined && end.exitCode !== 0) return { status: 'crash', reason: 'resource-limit', detail: end.memoryHit }
  const { evaluation } = end
  if (evaluation.status === 'refused' && evaluation.reason !== 'eval-protocol') {
    const reason = evaluation.reason === 'eval-data' ? 'data-modified' : evaluation.reason
    return { status: 'crash', reason, detail: `the harness's evaluation refused it: ${evaluation.detail}` }
  }
  // The protocol failed and the run went down with it: the harness's account says why.
  if (evaluation.status === 'refused' && end.exitCode !== 0 && end.answererLost === undefined) return { status: 'crash', reason: 'eval-protocol', detail: `the harness's evaluation failed: ${evaluation.detail}` }
  if (end.answererLost !== undefined) return { status: 'crash', reason: 'eval-protocol', detail: `the harness's evaluation failed: ${end.answererLost}` }
  if (end.evaluatorLost !== undefined) return { status: 'crash', reason: 'evaluator-failed', detail: `the harness's evaluator exited before the run reached it: ${end.evaluatorLost}` }
  const failLine = end.log.split(/\r?\n/).find((line) => line.startsWith('FAIL'))
  if (failLine !== undefined && /nan|inf/i.test(failLine)) return { status: 'crash', reason: 'nan', detail: failLine.trim() }
  const summary = parseSummary(end.log)
  if (end.exitCode === 0 && 'metrics' in summary) {
    if (evaluation.status === 'scored') {
      const metrics = { ...summary.metrics, val_bpb: evaluation.valBpb }
      const { measured } = end
      if (measured !== undefined) {
        metrics.training_seconds = measured.trainingSeconds
        metrics.total_seconds = measured.totalSeconds
        if (measured.steps !== undefined) metrics.num_steps = measured.steps
      }
      return { status: 'ok', metrics }
    }
    if (evaluation.status === 'refused') return { status: 'crash', reason: 'eval-protocol', detail: `the harness's evaluation failed: ${evaluation.detail}` }
    return { status: 'crash', reason: 'no-evaluation', detail: 'train.py printed a summary but never had the harness evaluate its model (prepare.evaluate_bpb): numbers it reports itself do not count' }
  }
  if ('problem' in summary && summary.problem === 'nan') return { status: 'crash', reason: 'nan', detail: summary.detail }
  if (end.signal !== undefined && end.exitCode === undefined) return { status: 'crash', reason: 'killed', detail: `killed by ${end.signal}` }
  if (end.exitCode !== 0) {
    const denied = deniedBy(end.log, end.limits, end.sandboxed === true)
    if (denied !== undefined) return { status: 'crash', ...denied }
    const traceback = /Traceback \(most recent call last\)/.test(end.log)
    return traceback
      ? { status: 'crash', reason: 'exception', detail: fatalLine(end.log).line }
      : { status: 'crash', reason: 'exit-code', detail: failLine?.trim() ?? `exit code ${String(end.exitCode)}` }
  }
  return { status: 'crash', reason: 'no-summary', detail: 'problem' in summary ? summary.detail : 'no summary' }
}

/** The last `lines` lines of a log, for crash reports. */
export function logTail (log: string, lines = 20): string {
  return log.trimEnd().split(/\r?\n/).slice(-lines).join('\n')
}
