import { claimTtlBound } from '../claims/claim-limits.js'
import { PROFILE_BUDGET_S, PROFILE_TOLERANCE, killAfterMs } from '../runner/harness.js'
import type { Config } from '../config/config.js'
import type { Profile } from '../runner/harness.js'

/** The settings whose 0 means "derive it from the profile", resolved: no caller sees a sentinel. */
export interface DerivedSettings {
  /** Runs stop after this many steps; undefined: the profile's time budget. */
  maxSteps: number | undefined
  /** The longest ttl any claim gets (ms). */
  claimMaxTtlMs: number
  /** A claim's ttl when nobody names one (ms): config, else 3x the time a run may take; never above `claimMaxTtlMs`. */
  claimTtlMs: number
  /** Largest val_bpb difference a re-run may show and still reproduce. */
  verifyTolerance: number
}

/** Resolved once, when the daemon knows its profile. */
export function deriveSettings (config: Config, profile: Profile): DerivedSettings {
  const maxSteps = config.maxSteps > 0 ? config.maxSteps : undefined
  const claimMaxTtlMs = claimTtlBound(profile, config.claimMaxTtlMs)
  const runTtl = 3 * (maxSteps !== undefined ? killAfterMs(profile, maxSteps) : PROFILE_BUDGET_S[profile] * 1000 + 60_000)
  return {
    maxSteps,
    claimMaxTtlMs,
    claimTtlMs: Math.min(claimMaxTtlMs, config.claimTtlMs > 0 ? config.claimTtlMs : runTtl),
    verifyTolerance: config.verifyTolerance > 0 ? config.verifyTolerance : PROFILE_TOLERANCE[profile]
  }
}
