import type { EvaluationReport } from './evaluator.js'

/**
 * The fresh-sample comparison of a verification (issue 13): the verifier re-runs the result and a
 * reference (the harness's default train.py, same steps) with one seed it draws at verification
 * time, so both are scored on the same windows of held-out text that neither could know in
 * advance (prepare.py `fresh_sample`: 1,024 windows on cpu, 2,048 on gpu, from a pool 20 times
 * larger than a train.py may carry compressed). Each window's difference (reference minus result,
 * bits per byte) is paired, so how hard a window's text is cancels out; what is left is the
 * result's advantage on fresh text, with its standard error.
 *
 * A result is overfit when it claims an advantage over the reference on the fixed slice (both
 * measured here) that does not come back on the fresh sample: with z = FRESH_Z standard errors of
 * room, the fresh advantage is below FRESH_SHARE of the fixed one, less the tolerance. An honest
 * model's advantage is a property of the model and comes back (measured, cpu, 40 steps, BATCH_SIZE
 * 16 -> 64: 0.061 on the fixed slice, 0.083 ± 0.005 fresh); text carried in the source helps on the
 * fixed slice only, or on the pool in proportion to how much of it fits (about 5 % of the cpu pool
 * in 64 KiB, see train/README.md); the memorising train.py of test/runner/evaluation-cheats.spec.ts
 * measured 1.85 ahead on the fixed slice, -0.18 ± 0.008 fresh.
 *
 * The reference is the default train.py, not the result's parent: a cheat whose parent is itself a
 * cheat would otherwise show no advantage over it on either sample and pass.
 */
export interface FreshComparison {
  /** Windows compared. */
  windows: number
  /** Reference minus result on the fixed slice, bits per byte (> 0: the result claims to be better). */
  fixedAdvantage: number
  /** Mean over fresh windows of reference minus result, bits per byte. */
  freshAdvantage: number
  /** Standard error of `freshAdvantage` (sample standard deviation / sqrt(windows)). */
  standardError: number
  /** The advantage vanished on fresh text: refuted as overfit to the fixed slice. */
  overfit: boolean
}

/** How many standard errors of room the fresh advantage gets (one-sided, p ~ 0.001 per honest result). */
export const FRESH_Z = 3
/** The share of the fixed-slice advantage that must come back on fresh text. */
export const FRESH_SHARE = 0.5

/**
 * Compare a result's and a reference's runs scored on the same fresh seed; undefined when either
 * was not scored on one (a crash, a harness without the pool) or the samples differ in shape.
 * `tolerance` is the profile's verification tolerance (bits per byte).
 */
export function compareFreshSample (result: EvaluationReport | undefined, reference: EvaluationReport | undefined, tolerance: number): FreshComparison | undefined {
  if (result?.status !== 'scored' || reference?.status !== 'scored') return undefined
  const a = result.fresh
  const b = reference.fresh
  if (a === undefined || b === undefined || a.windows !== b.windows || a.bytesPerWindow !== b.bytesPerWindow || a.windows < 2) return undefined
  const scale = 1 / (a.bytesPerWindow * Math.LN2)
  const diffs = a.nats.map((nats, i) => (b.nats[i]! - nats) * scale)
  const mean = diffs.reduce((s, d) => s + d, 0) / diffs.length
  const variance = diffs.reduce((s, d) => s + (d - mean) ** 2, 0) / (diffs.length - 1)
  const standardError = Math.sqrt(variance / diffs.length)
  const fixedAdvantage = reference.valBpb - result.valBpb
  const overfit = fixedAdvantage > tolerance && mean + FRESH_Z * standardError < FRESH_SHARE * fixedAdvantage - tolerance
  return { windows: diffs.length, fixedAdvantage, freshAdvantage: mean, standardError, overfit }
}
