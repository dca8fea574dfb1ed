/**
 * The surrogate landscape bench:swarm trains on: val_bpb as a noisy function of train.py's
 * constants, read from a JSON file (`--landscape FILE`, default bench/swarm/landscapes/bowl.json).
 *
 *   val_bpb = base + Σ weight·d² + Σ interaction·d_a·d_b (+ noise per run)
 *
 * where d is a knob's distance from its optimum: in doublings for a `log` knob, in `unit`s for a
 * `linear` one. Constants the file does not name do nothing (inert knobs). A `crash` rule ends a
 * run the way train.py would (a NaN loss, out of memory); so do constants train.py cannot run at
 * all (src/agent/knobs.ts), whatever the file says. The proposer never sees this file.
 */
import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { whyNotRunnable } from '../../src/agent/knobs.js'
import { SwarmdError } from '../../src/util/errors.js'
import type { ConstantValue } from '../../src/source/train-constants.js'

const knobSchema = z.discriminatedUnion('scale', [
  z.object({ scale: z.literal('log'), optimum: z.number().positive(), weight: z.number().nonnegative() }).strict(),
  z.object({ scale: z.literal('linear'), optimum: z.number(), unit: z.number().positive(), weight: z.number().nonnegative() }).strict()
])

const landscapeSchema = z.object({
  name: z.string().min(1),
  /** val_bpb at the optimum. */
  base: z.number().positive(),
  /** Standard deviation of a run's val_bpb around the landscape's value. */
  noise: z.number().nonnegative(),
  /** The val_bpb a policy races to (bench:swarm's time-to-target). */
  target: z.number().positive(),
  knobs: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/), knobSchema),
  interactions: z.array(z.object({ knobs: z.tuple([z.string(), z.string()]), weight: z.number() }).strict()).default([]),
  /** Knobs that do nothing, named for the reader (any constant not in `knobs` does nothing). */
  inert: z.array(z.string()).default([]),
  crash: z.array(z.object({
    knob: z.string(),
    above: z.number().optional(),
    below: z.number().optional(),
    reason: z.enum(['nan', 'exception']),
    message: z.string().min(1)
  }).strict()).default([])
}).strict()

export type Landscape = z.infer<typeof landscapeSchema>
type Knob = z.infer<typeof knobSchema>

/** What one configuration scores, before noise: a value, or the crash it runs into. */
export type Score = { value: number } | { crash: { reason: 'nan' | 'exception', message: string } }

/** Parse and check a landscape: interactions name known knobs and keep it a bowl (one optimum). */
export function parseLandscape (json: unknown, source = 'landscape'): Landscape {
  const parsed = landscapeSchema.safeParse(json)
  if (!parsed.success) throw new SwarmdError('CONFIG_INVALID', `${source}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  const landscape = parsed.data
  for (const { knobs: [a, b], weight } of landscape.interactions) {
    const ka = landscape.knobs[a]
    const kb = landscape.knobs[b]
    if (ka === undefined || kb === undefined) throw new SwarmdError('CONFIG_INVALID', `${source}: the interaction ${a}×${b} names a knob the landscape does not have`)
    // A pair's quadratic form stays positive definite only while interaction² < 4·w_a·w_b.
    if (weight ** 2 >= 4 * ka.weight * kb.weight) throw new SwarmdError('CONFIG_INVALID', `${source}: the interaction ${a}×${b} (${weight}) is too strong for its knobs' weights: the landscape would have no optimum`)
  }
  if (landscape.target <= landscape.base) throw new SwarmdError('CONFIG_INVALID', `${source}: target ${landscape.target} is at or below the optimum's ${landscape.base}: no policy could reach it`)
  return landscape
}

export async function loadLandscape (path: string): Promise<Landscape> {
  let json: unknown
  try {
    json = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new SwarmdError('CONFIG_INVALID', `cannot read the landscape ${path}: ${(err as Error).message}`)
  }
  return parseLandscape(json, path)
}

/** How far a value sits from a knob's optimum, in the knob's own units (doublings for `log`). */
function distance (knob: Knob, value: number): number {
  if (knob.scale === 'linear') return (value - knob.optimum) / knob.unit
  return Math.log2(Math.max(value, Number.MIN_VALUE) / knob.optimum)
}

/** The landscape's value of a configuration (no noise), or the crash it runs into. */
export function score (landscape: Landscape, constants: ReadonlyMap<string, ConstantValue>): Score {
  const unrunnable = whyNotRunnable(constants)
  if (unrunnable !== undefined) return { crash: { reason: 'exception', message: `ValueError: ${unrunnable}` } }
  for (const rule of landscape.crash) {
    const value = constants.get(rule.knob)
    if (typeof value !== 'number') continue
    if ((rule.above !== undefined && value > rule.above) || (rule.below !== undefined && value < rule.below)) return { crash: { reason: rule.reason, message: rule.message } }
  }
  const d = new Map<string, number>()
  for (const [name, knob] of Object.entries(landscape.knobs)) {
    const value = constants.get(name)
    d.set(name, typeof value === 'number' ? distance(knob, value) : 0)
  }
  let value = landscape.base
  for (const [name, knob] of Object.entries(landscape.knobs)) value += knob.weight * d.get(name)! ** 2
  for (const { knobs: [a, b], weight } of landscape.interactions) value += weight * d.get(a)! * d.get(b)!
  return { value }
}

/** The configuration's identity for counting duplicates: every numeric and boolean constant, by name. */
export function configurationKey (constants: ReadonlyMap<string, ConstantValue>): string {
  return [...constants].filter(([, v]) => typeof v !== 'string').map(([k, v]) => `${k}=${String(v)}`).sort().join(' ')
}
