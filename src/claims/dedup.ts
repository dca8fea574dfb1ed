import type { DeltaEntry } from '../state/record-kinds.js'

/** A proposed experiment, as the dedup check sees it. */
export interface DedupCandidate {
  /** null: an idea claimed before its code was written (only the structured and semantic layers apply). */
  codeHash: string | null
  parent: string | null
  delta: DeltaEntry[]
}

/** What the swarm is running or has run: active claims and finished results. */
export interface DedupEntry extends DedupCandidate {
  kind: 'claim' | 'result'
  id: string
  author: string
  description: string
}

export interface DedupHit {
  layer: 'exact' | 'structured'
  conflict: DedupEntry
}

/** One key per change, whatever order its entries are listed in. */
export const deltaKey = (delta: DeltaEntry[]): string => JSON.stringify([...delta].sort((a, b) => a.name.localeCompare(b.name)).map((d) => [d.name, d.to]))

/**
 * The first layers of the dedup pipeline (DESIGN §4): exact — the candidate train.py hash
 * equals one already claimed or finished; structured — the same constants changed to the same
 * values on the same parent. (The semantic layer, descriptions compared by embedding, builds on
 * src/claims/embedder.ts.)
 */
export function findDuplicate (candidate: DedupCandidate, known: DedupEntry[]): DedupHit | undefined {
  if (candidate.codeHash !== null) {
    for (const entry of known) if (entry.codeHash === candidate.codeHash) return { layer: 'exact', conflict: entry }
  }
  if (candidate.delta.length === 0) return undefined
  const key = deltaKey(candidate.delta)
  for (const entry of known) {
    if (entry.parent === candidate.parent && entry.delta.length > 0 && deltaKey(entry.delta) === key) return { layer: 'structured', conflict: entry }
  }
  return undefined
}
