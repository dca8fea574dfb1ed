import { killAfterMs } from '../runner/harness.js'
import type { Profile } from '../runner/harness.js'

/**
 * How many ttls a claim may live in all, heartbeats included, counted from its createdAt. An
 * honest run ends within one run time limit (a third of the default ttl) and its result closes
 * the claim; two ttls are six run time limits. A copycat that heartbeats its stolen claim holds
 * the experiment this long at most, and a result that comes later is still kept (DESIGN §4).
 */
export const CLAIM_LIFE_TTLS = 2

/**
 * The longest ttl a claim of this profile gets (ms): `configured` (config `claimMaxTtlMs`) when
 * set, else three times the longest a run of the profile may take (the runner kills it then:
 * 150 s cpu, 570 s gpu, 10 min for a step-limited run), which is the most an honest daemon asks
 * by default (src/daemon/daemon.ts `claimTtlMs`), so no honest default is ever cut: 30 min today.
 * Every node of a swarm derives the same bound: the profile is part of the swarm key.
 */
export function claimTtlBound (profile: Profile, configured = 0): number {
  return configured > 0 ? configured : 3 * Math.max(killAfterMs(profile, undefined), killAfterMs(profile, 1))
}

/** The bound of a ledger that does not know its profile: the longest profile's. */
export const DEFAULT_CLAIM_TTL_BOUND = Math.max(claimTtlBound('cpu'), claimTtlBound('gpu'))
