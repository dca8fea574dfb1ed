import { parseSummary } from './summary.js'
import type { RunMetrics } from './summary.js'

/** Why a run produced no usable result. */
export type CrashReason = 'timeout' | 'nan' | 'exception' | 'exit-code' | 'killed' | 'no-summary' | 'harness-modified'

export type RunVerdict =
  | { status: 'ok', metrics: RunMetrics }
  | { status: 'crash', reason: CrashReason, detail: string }

export interface RunEnd {
  exitCode: number | undefined
  signal: string | undefined
  timedOut: boolean
  log: string
  /** The run changed the fixed harness: whatever it reported cannot be trusted. */
  harnessModified?: boolean
}

/**
 * Classify a finished run from its exit and its log. Order matters: a timeout is a timeout
 * whatever it printed; a FAIL line or a non-finite metric is a NaN crash even with exit 0.
 */
export function classifyRun (end: RunEnd): RunVerdict {
  if (end.harnessModified === true) return { status: 'crash', reason: 'harness-modified', detail: 'the run modified prepare.py (the fixed harness); its numbers are void' }
  if (end.timedOut) return { status: 'crash', reason: 'timeout', detail: 'ran past its budget and was killed with its children' }
  const failLine = end.log.split(/\r?\n/).find((line) => line.startsWith('FAIL'))
  if (failLine !== undefined && /nan|inf/i.test(failLine)) return { status: 'crash', reason: 'nan', detail: failLine.trim() }
  const summary = parseSummary(end.log)
  if (end.exitCode === 0 && 'metrics' in summary) return { status: 'ok', metrics: summary.metrics }
  if ('problem' in summary && summary.problem === 'nan') return { status: 'crash', reason: 'nan', detail: summary.detail }
  if (end.signal !== undefined && end.exitCode === undefined) return { status: 'crash', reason: 'killed', detail: `killed by ${end.signal}` }
  if (end.exitCode !== 0) {
    const traceback = /Traceback \(most recent call last\)/.test(end.log)
    const lastLine = end.log.trim().split(/\r?\n/).pop() ?? ''
    return traceback
      ? { status: 'crash', reason: 'exception', detail: lastLine.trim() }
      : { status: 'crash', reason: 'exit-code', detail: failLine?.trim() ?? `exit code ${String(end.exitCode)}` }
  }
  return { status: 'crash', reason: 'no-summary', detail: 'problem' in summary ? summary.detail : 'no summary' }
}

/** The last `lines` lines of a log, for crash reports. */
export function logTail (log: string, lines = 20): string {
  return log.trimEnd().split(/\r?\n/).slice(-lines).join('\n')
}
