import type { RunOutcome } from './experiment-runner.js'
import type { RunMetrics } from './summary.js'

/**
 * The most of a run's own log that is published with its result, bytes: its last lines (the
 * summary block, a traceback, the harness's section) fit many times over. What a run prints is
 * the run's to choose, and a run of code derived from a peer's can print whatever its sandbox
 * shows it: the sandbox holding nothing secret is the defence, this cap the seatbelt.
 */
export const PUBLISHED_LOG_MAX_BYTES = 64 * 1024

/** A log as it may leave the machine: its tail, at most PUBLISHED_LOG_MAX_BYTES, marked when cut. */
export function publishableLog (log: string): string {
  const bytes = Buffer.from(log)
  if (bytes.length <= PUBLISHED_LOG_MAX_BYTES) return log
  const marker = `[log cut: ${bytes.length} bytes, only the last ${PUBLISHED_LOG_MAX_BYTES} are published]\n`
  // Cut on a line start, so no character is split.
  const tail = bytes.subarray(bytes.length - PUBLISHED_LOG_MAX_BYTES + marker.length).toString('utf8')
  return marker + tail.slice(tail.indexOf('\n') + 1)
}

/**
 * The metrics a verification publishes. Only what this machine measured is its own: val_bpb (the
 * harness's evaluator) to 1e-4, the run's training time by the harness's clock (start to the
 * evaluation channel, `RunTiming.trainingMs`) to 10 s (a run can choose how long it sleeps), and the steps it asked for.
 * The figures only train.py reports (memory, MFU, tokens, parameters, depth) are the verified
 * result's own, repeated: the re-run's would be the stranger's choice, and a few of them carried
 * 250 chosen bits per verification (found by the red team). Rounding to 1e-4 loses nothing: re-runs
 * are compared with a tolerance of 1e-2 over a noise floor of 1.4e-4.
 */
export function verifiedMetrics (measured: RunMetrics, claimed: RunMetrics, run: { trainingMs: number, steps: number }): RunMetrics {
  const seconds = wallSeconds(run.trainingMs)
  return {
    ...claimed,
    val_bpb: Math.round(measured.val_bpb * 1e4) / 1e4,
    training_seconds: seconds,
    total_seconds: seconds,
    num_steps: run.steps
  }
}

/** A wall time as published: to 10 s, so a run's choice of how long to sleep carries a few bits at most. */
function wallSeconds (ms: number): number {
  return Math.round(ms / 10_000) * 10
}

/**
 * What a verification publishes as its log: the numbers this machine measured, as JSON, never
 * the stranger's output (which would carry whatever its code could read back to its author).
 */
export function verificationReport (outcome: RunOutcome, metrics: RunMetrics | null, steps: number): string {
  const evaluation = outcome.evaluation?.status === 'scored'
    ? { valBpb: Math.round(outcome.evaluation.valBpb * 1e4) / 1e4, windows: outcome.evaluation.windows, causalCheckedWindows: outcome.evaluation.causalCheckedWindows }
    : { status: outcome.evaluation?.status ?? 'absent' }
  return JSON.stringify({
    kind: 'swarmd verification report',
    status: outcome.status,
    ...(outcome.reason !== undefined ? { crash: outcome.reason } : {}),
    steps,
    wallSeconds: wallSeconds(outcome.wallMs),
    evaluation,
    metrics
  }, null, 2) + '\n'
}

/** Crash kinds whose detail the harness wrote itself; every other detail quotes train.py's output. */
const HARNESS_DETAILS = new Set(['timeout', 'resource-limit', 'evaluator-failed', 'harness-modified', 'data-modified', 'eval-path-modified', 'no-evaluation', 'non-causal', 'eval-protocol'])

/**
 * A re-run's crash as a verification publishes it: the harness's crash kind, and of its detail only
 * what the harness wrote, or the name of the exception train.py died with (`ModuleNotFoundError`:
 * other nodes tell a failed import under another PyTorch from a lie by it), never the message,
 * which would carry back whatever the stranger's code read in the sandbox.
 */
export function publishableCrash (outcome: RunOutcome): { reason: string, detail: string } {
  const reason = outcome.reason ?? 'unknown'
  const detail = outcome.detail ?? ''
  if (HARNESS_DETAILS.has(reason)) return { reason, detail: detail.slice(0, 300) }
  // The exception line is the detail's `Name: message` part (classify.ts); a built-in name only.
  const name = /(?:^|: )([A-Z][A-Za-z0-9_]*)(?::|$)/m.exec(detail)?.[1] ?? ''
  return { reason, detail: BUILTIN_EXCEPTIONS.has(name) ? name : '' }
}

/** Python's built-in exceptions a run may die with: a class the code names itself would carry its chosen bits. */
const BUILTIN_EXCEPTIONS = new Set(['ArithmeticError', 'AssertionError', 'AttributeError', 'BufferError', 'EOFError', 'Exception', 'FileNotFoundError', 'FloatingPointError', 'ImportError', 'IndexError', 'KeyError', 'KeyboardInterrupt', 'LookupError', 'MemoryError', 'ModuleNotFoundError', 'NameError', 'NotImplementedError', 'OSError', 'OverflowError', 'PermissionError', 'RecursionError', 'RuntimeError', 'StopIteration', 'SyntaxError', 'SystemError', 'SystemExit', 'TypeError', 'UnboundLocalError', 'UnicodeDecodeError', 'UnicodeEncodeError', 'ValueError', 'ZeroDivisionError'])
