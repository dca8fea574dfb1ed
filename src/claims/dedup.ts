import type { CodeChange } from '../source/code-change.js'
import type { DeltaEntry } from '../state/record-kinds.js'

/** What the swarm is running or has run, as the dedup pipeline (src/claims/claim-book.ts) sees it. */
export interface DedupEntry {
  kind: 'claim' | 'result'
  id: string
  author: string
  description: string
  /** null: an idea claimed before its code was written (only the structured and semantic layers apply). */
  codeHash: string | null
  parent: string | null
  delta: DeltaEntry[]
  /** What its code does beyond the delta; undefined when unknown (no code yet, or an older record). */
  change?: CodeChange
}

/** One key per change, whatever order its entries are listed in. */
export const deltaKey = (delta: DeltaEntry[]): string => JSON.stringify([...delta].sort((a, b) => a.name.localeCompare(b.name)).map((d) => [d.name, d.to]))
