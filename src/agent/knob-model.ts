import { KNOB_RANGES } from './knobs.js'
import type { DeltaEntry } from '../state/record-kinds.js'

/**
 * A model of how train.py's knobs move val_bpb, fitted to every result the swarm shares: each
 * knob contributes a bowl a·(u − m)² in its own coordinate u (doublings for a knob that scales,
 * its value for a count or a fraction), and the contributions add up. Every finished result
 * whose parent has a number is one observation of the change its delta made:
 *
 *   y(child) − y(parent) = Σ over changed knobs [ a·(u_to² − u_from²) − 2·a·m·(u_to − u_from) ]
 *
 * which is linear in (a, a·m) per knob: one ridge least-squares fit over all knobs together, so
 * a result that changed two knobs at once still informs both, and parents anywhere in the
 * lineage count (the other knobs cancel in the difference). Cost: one pass over the results and
 * a solve of 2·knobs equations.
 */
export interface KnobModel {
  /** The predicted change of val_bpb when `delta` is applied (negative is better); undefined when a knob in it was never observed. */
  predict(delta: readonly DeltaEntry[]): number | undefined
  /** How many observations moved this knob. */
  observations(knob: string): number
  /** The residual standard deviation of the fit: what the model cannot explain (noise, interactions). */
  readonly residual: number
}

export interface Observation {
  delta: readonly DeltaEntry[]
  /** y(child) − y(parent). */
  change: number
}

/** Knobs whose values scale (sizes, rates): their coordinate is log2 of the value. */
export function scalesByDoubling (knob: string): boolean {
  const range = KNOB_RANGES[knob]
  if (range === undefined) return false
  const positive = range.min > 0 || (range.min === 0 && range.openMin === true)
  return positive && !(range.integer === true && range.max <= 128)
}

/** A knob's coordinate; undefined for a value the coordinate cannot hold (a log of 0 or less, a non-number). */
export function coordinate (knob: string, value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined
  if (!scalesByDoubling(knob)) return value
  return value > 0 ? Math.log2(value) : undefined
}

/** Shrinks the fit towards "this knob does nothing" where observations are few. */
const RIDGE = 1e-4

export function fitKnobModel (observations: readonly Observation[]): KnobModel {
  // Each knob's coordinates are centred on their mean: u² and u are then far from collinear.
  const sums = new Map<string, { sum: number, n: number }>()
  const usable = observations.filter(({ delta, change }) => Number.isFinite(change) && delta.length > 0 &&
    delta.every((d) => coordinate(d.name, d.from) !== undefined && coordinate(d.name, d.to) !== undefined))
  for (const { delta } of usable) {
    for (const d of delta) {
      const s = sums.get(d.name) ?? { sum: 0, n: 0 }
      s.sum += coordinate(d.name, d.from)! + coordinate(d.name, d.to)!
      s.n += 2
      sums.set(d.name, s)
    }
  }
  const index = new Map([...sums.keys()].map((name, k) => [name, k]))
  const centre = new Map([...sums].map(([name, s]) => [name, s.sum / s.n]))
  const centred = (d: DeltaEntry): { k: number, from: number, to: number } | undefined => {
    const k = index.get(d.name)
    const from = coordinate(d.name, d.from)
    const to = coordinate(d.name, d.to)
    if (k === undefined || from === undefined || to === undefined) return undefined
    return { k, from: from - centre.get(d.name)!, to: to - centre.get(d.name)! }
  }
  const counts = new Map<string, number>()
  const rows: Array<{ x: Map<number, number>, y: number }> = []
  for (const { delta, change } of usable) {
    const x = new Map<number, number>()
    for (const d of delta) {
      const { k, from, to } = centred(d)!
      x.set(2 * k, (x.get(2 * k) ?? 0) + to * to - from * from)
      x.set(2 * k + 1, (x.get(2 * k + 1) ?? 0) - 2 * (to - from))
      counts.set(d.name, (counts.get(d.name) ?? 0) + 1)
    }
    rows.push({ x, y: change })
  }
  const n = 2 * index.size
  // Normal equations (XᵀX + ridge) β = Xᵀy, the rows sparse (a delta touches few knobs).
  const xtx = Array.from({ length: n }, () => new Float64Array(n))
  const xty = new Float64Array(n)
  for (const { x, y } of rows) {
    for (const [i, xi] of x) {
      xty[i]! += xi * y
      for (const [j, xj] of x) xtx[i]![j]! += xi * xj
    }
  }
  for (let i = 0; i < n; i++) xtx[i]![i]! += RIDGE * (1 + xtx[i]![i]!)
  const beta = solve(xtx, xty)
  let sse = 0
  for (const { x, y } of rows) {
    let fit = 0
    for (const [i, xi] of x) fit += xi * beta[i]!
    sse += (y - fit) ** 2
  }
  const residual = rows.length > n ? Math.sqrt(sse / (rows.length - n)) : Number.NaN
  return {
    residual,
    observations: (knob) => counts.get(knob) ?? 0,
    predict: (delta) => {
      let change = 0
      for (const d of delta) {
        const c = centred(d)
        if (c === undefined) return undefined
        change += beta[2 * c.k]! * (c.to * c.to - c.from * c.from) - 2 * beta[2 * c.k + 1]! * (c.to - c.from)
      }
      return change
    }
  }
}

/** Gaussian elimination with partial pivoting; a singular column solves to 0. */
function solve (a: Float64Array[], b: Float64Array): Float64Array {
  const n = b.length
  const m = a.map((row) => Float64Array.from(row))
  const y = Float64Array.from(b)
  for (let col = 0; col < n; col++) {
    let pivot = col
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r
    if (Math.abs(m[pivot]![col]!) < 1e-12) continue
    ;[m[col], m[pivot]] = [m[pivot]!, m[col]!]
    ;[y[col], y[pivot]] = [y[pivot]!, y[col]!]
    for (let r = 0; r < n; r++) {
      if (r === col) continue
      const f = m[r]![col]! / m[col]![col]!
      if (f === 0) continue
      for (let c = col; c < n; c++) m[r]![c]! -= f * m[col]![c]!
      y[r]! -= f * y[col]!
    }
  }
  return Float64Array.from({ length: n }, (_, i) => (Math.abs(m[i]![i]!) < 1e-12 ? 0 : y[i]! / m[i]![i]!))
}
