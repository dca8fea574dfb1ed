/** The metrics a run's summary block reports (train.py prints them after `---`). */
export interface RunMetrics {
  val_bpb: number
  training_seconds: number
  total_seconds: number
  peak_vram_mb: number
  mfu_percent: number
  total_tokens_M: number
  num_steps: number
  num_params_M: number
  depth: number
}

export const METRIC_KEYS = ['val_bpb', 'training_seconds', 'total_seconds', 'peak_vram_mb', 'mfu_percent', 'total_tokens_M', 'num_steps', 'num_params_M', 'depth'] as const satisfies ReadonlyArray<keyof RunMetrics>

export type SummaryProblem = 'missing' | 'nan' | 'incomplete'

/**
 * Parse the last summary block of a run log: a `---` line, then `key: value` lines with
 * `val_bpb` first. Returns the metrics, or the reason there are none.
 */
export function parseSummary (log: string): { metrics: RunMetrics } | { problem: SummaryProblem, detail: string } {
  const lines = log.split(/\r?\n/)
  let start = -1
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]!.trim() === '---' && /^val_bpb:/.test(lines[i + 1]?.trim() ?? '')) { start = i; break }
  }
  if (start < 0) return { problem: 'missing', detail: 'no summary block (a `---` line followed by `val_bpb: ...`)' }
  const values = new Map<string, number>()
  for (const line of lines.slice(start + 1)) {
    const match = /^([a-zA-Z_]+):\s*(\S+)\s*$/.exec(line.trim())
    if (match === null) break
    values.set(match[1]!, Number(match[2]))
  }
  const metrics: Partial<RunMetrics> = {}
  for (const key of METRIC_KEYS) {
    const value = values.get(key)
    if (value === undefined) return { problem: 'incomplete', detail: `summary lacks ${key}` }
    if (!Number.isFinite(value)) return { problem: 'nan', detail: `${key} is not a finite number` }
    metrics[key] = value
  }
  return { metrics: metrics as RunMetrics }
}

/** A live progress line: `progress: step 87 loss 3.27 bpb lr 4.67e-03 87/100 steps`. */
export interface RunProgress {
  step: number
  lossBpb: number
}

export function parseProgress (line: string): RunProgress | undefined {
  const match = /^progress: step (\d+) loss ([\d.eE+-]+|nan|inf) bpb/.exec(line.trim())
  if (match === null) return undefined
  return { step: Number(match[1]), lossBpb: Number(match[2]) }
}
