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

/** Round to `digits` significant digits: a reported number carries a few bits, not a message. */
function significant (value: number, digits: number): number {
  return value === 0 || !Number.isFinite(value) ? value : Number(value.toPrecision(digits))
}

/**
 * The metrics a verification publishes: val_bpb (the harness's own measurement) to 1e-6, the
 * numbers train.py reported itself to 4 significant digits, counts as they are. Compared with
 * tolerances of 1e-2 (val_bpb) or not at all, so nothing is lost; a re-run of a stranger's code
 * can hide at most a few bytes in them instead of its whole output.
 */
export function verifiedMetrics (metrics: RunMetrics): RunMetrics {
  return {
    val_bpb: Math.round(metrics.val_bpb * 1e6) / 1e6,
    training_seconds: significant(metrics.training_seconds, 4),
    total_seconds: significant(metrics.total_seconds, 4),
    peak_vram_mb: significant(metrics.peak_vram_mb, 4),
    mfu_percent: significant(metrics.mfu_percent, 4),
    total_tokens_M: significant(metrics.total_tokens_M, 4),
    num_steps: metrics.num_steps,
    num_params_M: significant(metrics.num_params_M, 4),
    depth: metrics.depth
  }
}

/**
 * What a verification publishes as its log: the numbers this machine measured, as JSON, never
 * the stranger's output (which would carry whatever its code could read back to its author).
 */
export function verificationReport (outcome: RunOutcome, steps: number): string {
  const evaluation = outcome.evaluation?.status === 'scored'
    ? { valBpb: Math.round(outcome.evaluation.valBpb * 1e6) / 1e6, windows: outcome.evaluation.windows, causalCheckedWindows: outcome.evaluation.causalCheckedWindows }
    : { status: outcome.evaluation?.status ?? 'absent' }
  return JSON.stringify({
    kind: 'swarmd verification report',
    status: outcome.status,
    ...(outcome.reason !== undefined ? { crash: outcome.reason } : {}),
    steps,
    wallSeconds: Math.round(outcome.wallMs / 1000),
    evaluation,
    metrics: outcome.metrics === undefined ? null : verifiedMetrics(outcome.metrics)
  }, null, 2) + '\n'
}
