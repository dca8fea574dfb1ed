import { z } from 'zod'

/** The replicated maps of a swarm's Y.Doc, one per record kind. */
export const MAP_FOR_KIND = {
  binding: 'bindings',
  hypothesis: 'hypotheses',
  claim: 'claims',
  result: 'results',
  verification: 'verifications',
  best: 'best'
} as const

export type RecordKind = keyof typeof MAP_FOR_KIND
export type MapName = typeof MAP_FOR_KIND[RecordKind]

export const RECORD_KINDS = Object.keys(MAP_FOR_KIND) as RecordKind[]
export const MAP_NAMES = Object.values(MAP_FOR_KIND) as MapName[]

export function isMapName (name: string): name is MapName {
  return (MAP_NAMES as string[]).includes(name)
}

/** Ties a Yjs client id to the author whose records that client writes (DESIGN §3). */
export const bindingBody = z.strictObject({
  clientId: z.number().int().min(0).max(0xffffffff)
})

/** Hypotheses: ideas for others to pick up (DESIGN §4). */
export const hypothesisBody = z.strictObject({
  title: z.string().trim().min(1).max(200),
  text: z.string().max(10_000),
  suggestedDelta: z.array(z.strictObject({
    name: z.string().min(1).max(100),
    from: z.union([z.string(), z.number(), z.boolean(), z.null()]),
    to: z.union([z.string(), z.number(), z.boolean(), z.null()])
  })).max(32).optional(),
  evidence: z.array(z.string().max(200)).max(64).optional(),
  priority: z.number().int().min(0).max(10).optional()
})

/**
 * Claims, results, verifications and best entries get their own schemas with the
 * experiments and dedup work; until then any JSON object body is carried and signed.
 */
const openBody = z.record(z.string(), z.unknown())

export const BODY_SCHEMAS = {
  binding: bindingBody,
  hypothesis: hypothesisBody,
  claim: openBody,
  result: openBody,
  verification: openBody,
  best: openBody
} satisfies Record<RecordKind, z.ZodType>

export type BindingBody = z.infer<typeof bindingBody>
export type HypothesisBody = z.infer<typeof hypothesisBody>
export type RecordBody<K extends RecordKind> = z.infer<typeof BODY_SCHEMAS[K]>
