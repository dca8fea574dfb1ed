/** Wall-clock time, injected so logic never calls `Date.now()` directly. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor (private current = 1_700_000_000_000) {}
  now (): number { return this.current }
  advance (ms: number): void { this.current += ms }
  set (ms: number): void { this.current = ms }
}
