import type { DeltaEntry, ResultBody } from '../state/record-kinds.js'

/** The values of one of train.py's knobs that can run at all. */
export interface KnobRange {
  /** Bounds; `open` ones exclude the bound itself (BETA2 1.0 never converges, a learning rate of 0 never learns). */
  min: number
  max: number
  openMin?: boolean
  openMax?: boolean
  integer?: boolean
}

/**
 * The harness's knobs and the values each can take (train/train.py). A knob an agent added is not
 * listed and not bounded here; the constraints between knobs are in `whyNotRunnable`.
 */
export const KNOB_RANGES: Readonly<Record<string, KnobRange>> = {
  DEPTH: { min: 1, max: 64, integer: true },
  WIDTH: { min: 4, max: 8192, integer: true },
  HEADS: { min: 1, max: 128, integer: true },
  MLP_RATIO: { min: 1, max: 16, integer: true },
  BATCH_SIZE: { min: 1, max: 4096, integer: true },
  LEARNING_RATE: { min: 0, max: 1, openMin: true },
  WEIGHT_DECAY: { min: 0, max: 1 },
  BETA2: { min: 0, max: 1, openMin: true, openMax: true },
  WARMUP_STEPS: { min: 0, max: 100_000, integer: true },
  DECAY_FRACTION: { min: 0, max: 1 },
  GRAD_CLIP: { min: 0, max: 100, openMin: true },
  ROTARY_BASE: { min: 10, max: 1e7 },
  GPU_DEPTH: { min: 1, max: 96, integer: true },
  GPU_WIDTH: { min: 64, max: 16_384, integer: true },
  GPU_HEADS: { min: 1, max: 128, integer: true },
  GPU_LEARNING_RATE: { min: 0, max: 1, openMin: true },
  GPU_BATCH_SCALE: { min: 0, max: 64, openMin: true }
}

/** Widths split into heads by each profile's pair of knobs. */
const HEAD_SPLITS: ReadonlyArray<[width: string, heads: string]> = [['WIDTH', 'HEADS'], ['GPU_WIDTH', 'GPU_HEADS']]

/**
 * Why train.py with these constants cannot run, or undefined when it can: a knob outside its range,
 * or a width the heads do not split into whole, even head dimensions (rotary embeddings rotate
 * pairs of channels).
 */
export function whyNotRunnable (constants: ReadonlyMap<string, unknown>): string | undefined {
  for (const [name, value] of constants) {
    const range = KNOB_RANGES[name]
    if (range === undefined || typeof value !== 'number') continue
    if (!inRange(value, range)) return `${name} ${value} is outside ${describeRange(range)}`
  }
  for (const [widthKnob, headsKnob] of HEAD_SPLITS) {
    const width = constants.get(widthKnob)
    const heads = constants.get(headsKnob)
    if (typeof width !== 'number' || typeof heads !== 'number') continue
    const headDim = width / heads
    if (!Number.isInteger(headDim) || headDim % 2 !== 0) return `${headsKnob} ${heads} does not split ${widthKnob} ${width} into whole, even head dimensions`
  }
  return undefined
}

function inRange (value: number, range: KnobRange): boolean {
  if (!Number.isFinite(value)) return false
  if (range.integer === true && !Number.isInteger(value)) return false
  if (range.openMin === true ? value <= range.min : value < range.min) return false
  return range.openMax === true ? value < range.max : value <= range.max
}

function describeRange (range: KnobRange): string {
  return `${range.openMin === true ? '(' : '['}${range.min}, ${range.max}${range.openMax === true ? ')' : ']'}${range.integer === true ? ', whole numbers' : ''}`
}

/** Crashes that say something about the code's values, not about the machine or the run being stopped. */
const MACHINE_CRASHES = new Set(['killed', 'evaluator-failed', 'sandbox-denied', 'resource-limit'])

/** The values a change sets, without where they came from: the same change on any parent. */
export function changeKey (delta: readonly DeltaEntry[]): string {
  return delta.map((d) => `${d.name}=${JSON.stringify(d.to)}`).sort().join(' ')
}

/**
 * Whether a result is evidence against its change on every parent: it crashed for a reason of
 * the code's values (a BETA2 of 1.39 crashes whatever it is built on), not of the machine.
 */
export function crashEvidence (body: Pick<ResultBody, 'status' | 'delta' | 'crash'>): boolean {
  if (body.status !== 'crash' || body.delta.length === 0) return false
  return body.crash === null || !MACHINE_CRASHES.has(body.crash.reason)
}
