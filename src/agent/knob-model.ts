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
 * lineage count (the other knobs cancel in the difference). `KnobFit` keeps the sums as results
 * come and go; a model costs a solve of 2·knobs equations.
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

/** One observation as the fit adds it: raw features per knob, a = u_to² − u_from², b = −2·(u_to − u_from). */
interface Row {
  knobs: number[]
  a: number[]
  b: number[]
  /** Σ (u_from + u_to) per knob, for the centre. */
  u: number[]
}

/**
 * The sums of the normal equations over a set of observations, in raw coordinates: rows are
 * added and taken away in O(knobs²) each, and `model()` centres the coordinates afterwards
 * (centring is a linear map of the raw features, a' = a + c·b), so a proposal costs the rows
 * that changed since the last one plus a solve, however many results the swarm holds.
 */
export class KnobFit {
  private readonly index = new Map<string, number>()
  private readonly names: string[] = []
  /** XᵀX, Xᵀy and yᵀy over the raw features, 2 per knob. */
  private xtx: number[][] = []
  private xty: number[] = []
  private yy = 0
  private rows = 0
  private readonly uSum: number[] = []
  private readonly uCount: number[] = []
  private readonly moved: number[] = []

  /** Add (sign 1) or take away (sign −1) one observation; false when it cannot be used (a value without a coordinate). */
  add (observation: Observation, sign: 1 | -1 = 1): boolean {
    const row = this.rowOf(observation)
    if (row === undefined) return false
    const x = new Map<number, number>()
    row.knobs.forEach((k, i) => {
      x.set(2 * k, (x.get(2 * k) ?? 0) + row.a[i]!)
      x.set(2 * k + 1, (x.get(2 * k + 1) ?? 0) + row.b[i]!)
      this.uSum[k] = (this.uSum[k] ?? 0) + sign * row.u[i]!
      this.uCount[k] = (this.uCount[k] ?? 0) + sign * 2
      this.moved[k] = (this.moved[k] ?? 0) + sign
    })
    const y = observation.change
    for (const [i, xi] of x) {
      this.xty[i] = (this.xty[i] ?? 0) + sign * xi * y
      const line = (this.xtx[i] ??= [])
      for (const [j, xj] of x) line[j] = (line[j] ?? 0) + sign * xi * xj
    }
    this.yy += sign * y * y
    this.rows += sign
    return true
  }

  private rowOf ({ delta, change }: Observation): Row | undefined {
    if (!Number.isFinite(change) || delta.length === 0) return undefined
    const row: Row = { knobs: [], a: [], b: [], u: [] }
    for (const d of delta) {
      const from = coordinate(d.name, d.from)
      const to = coordinate(d.name, d.to)
      if (from === undefined || to === undefined) return undefined
      let k = this.index.get(d.name)
      if (k === undefined) {
        k = this.names.length
        this.index.set(d.name, k)
        this.names.push(d.name)
      }
      row.knobs.push(k)
      row.a.push(to * to - from * from)
      row.b.push(-2 * (to - from))
      row.u.push(from + to)
    }
    return row
  }

  /** The model the current sums give: centred, ridge-regularised, solved. */
  model (): KnobModel {
    const knobs = this.names.length
    const n = 2 * knobs
    const centre = Array.from({ length: knobs }, (_, k) => (this.uCount[k] ?? 0) > 0 ? this.uSum[k]! / this.uCount[k]! : 0)
    // X' = X·T with a'_k = a_k + c_k·b_k: XᵀX and Xᵀy move by the same map.
    const raw = (i: number, j: number): number => this.xtx[i]?.[j] ?? 0
    const xtx = Array.from({ length: n }, () => new Float64Array(n))
    const xty = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      for (const [ri, wi] of columnsOf(i, centre)) {
        xty[i]! += wi * (this.xty[ri] ?? 0)
        for (let j = 0; j < n; j++) for (const [rj, wj] of columnsOf(j, centre)) xtx[i]![j]! += wi * wj * raw(ri, rj)
      }
    }
    const plain = xtx.map((row) => Float64Array.from(row))
    for (let i = 0; i < n; i++) xtx[i]![i]! += RIDGE * (1 + xtx[i]![i]!)
    const beta = solve(xtx, xty)
    // sse = yᵀy − 2βᵀX'ᵀy + βᵀX'ᵀX'β, without the ridge.
    let sse = this.yy
    for (let i = 0; i < n; i++) {
      sse -= 2 * beta[i]! * xty[i]!
      for (let j = 0; j < n; j++) sse += beta[i]! * plain[i]![j]! * beta[j]!
    }
    const residual = this.rows > n ? Math.sqrt(Math.max(0, sse) / (this.rows - n)) : Number.NaN
    const index = new Map(this.index)
    const moved = new Map(this.names.map((name, k) => [name, this.moved[k] ?? 0]))
    const centred = (d: DeltaEntry): { k: number, from: number, to: number } | undefined => {
      const k = index.get(d.name)
      const from = coordinate(d.name, d.from)
      const to = coordinate(d.name, d.to)
      if (k === undefined || from === undefined || to === undefined || (moved.get(d.name) ?? 0) <= 0) return undefined
      return { k, from: from - centre[k]!, to: to - centre[k]! }
    }
    return {
      residual,
      observations: (knob) => moved.get(knob) ?? 0,
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
}

/** The raw columns (and weights) that make up centred column `i`: a'_k = a_k + c_k·b_k, b'_k = b_k. */
function columnsOf (i: number, centre: readonly number[]): Array<[number, number]> {
  return i % 2 === 0 ? [[i, 1], [i + 1, centre[i / 2]!]] : [[i, 1]]
}

export function fitKnobModel (observations: readonly Observation[]): KnobModel {
  const fit = new KnobFit()
  for (const observation of observations) fit.add(observation)
  return fit.model()
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
