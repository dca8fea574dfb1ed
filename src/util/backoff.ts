/**
 * Exponential backoff with full jitter: delay for attempt n (0-based) is uniform in
 * [0, min(maxMs, baseMs * 2^n)]. Full jitter keeps many daemons that lost the same
 * bootstrap peer from redialling it in lockstep.
 */
export function backoffDelay (attempt: number, random: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30))
  return Math.round(random * ceiling)
}
