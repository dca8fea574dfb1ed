/** Seeded randomness, injected so tests replay exactly. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform integer in [0, n). */
  int(n: number): number
}

/** mulberry32: tiny, fast, good enough for scheduling and tests (not for keys). */
export function seededRng (seed: number): Rng {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, int: (n) => Math.floor(next() * n) }
}

/** Randomness for production: seeded from the OS once. */
export function systemRng (): Rng {
  return seededRng(Math.floor(Math.random() * 2 ** 32))
}

/** A standard normal draw from `rng` (Box–Muller). */
export function gaussian (rng: Rng): number {
  const u = Math.max(rng.next(), 1e-12)
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next())
}
