import { canonicalJson } from './canonical.js'
import { RecordError, parseRecord, signedContent } from './records.js'
import type { EquivocationBody } from './record-kinds.js'
import type { RecordSlot, StoredRecord } from './records.js'

/** Two validly signed records by one author for one slot: proof that the author lied to someone. */
export interface Equivocation {
  author: string
  slot: RecordSlot
  first: StoredRecord
  second: StoredRecord
}

/**
 * The evidence body for two records that share an author and a slot. Ordered by text, so that
 * every node that sees the same pair writes the same evidence.
 */
export function evidenceBody (a: StoredRecord, b: StoredRecord): EquivocationBody {
  const [first, second] = a.text < b.text ? [a, b] : [b, a]
  return { first: first.record as unknown as Record<string, unknown>, second: second.record as unknown as Record<string, unknown> }
}

/**
 * Check an equivocation record's evidence in full: both records are canonical and validly signed
 * by the same author, name the same slot and differ in what was signed. Throws RecordError (`RECORD_BAD_EVIDENCE`).
 */
export async function checkEvidence (body: EquivocationBody): Promise<Equivocation> {
  const [first, second] = await Promise.all([signedRecordIn(body.first), signedRecordIn(body.second)])
  if (first.record.author !== second.record.author) throw new RecordError('RECORD_BAD_EVIDENCE', 'evidence records have different authors')
  const slot = first.record.slot
  if (slot.client !== second.record.slot.client || slot.clock !== second.record.slot.clock) {
    throw new RecordError('RECORD_BAD_EVIDENCE', 'evidence records are for different slots')
  }
  if (signedContent(first.record) === signedContent(second.record)) throw new RecordError('RECORD_BAD_EVIDENCE', 'evidence records are the same record')
  return { author: first.record.author, slot, first, second }
}

/** The accused author of evidence already checked (the doc only holds checked records). */
export function accusedBy (body: EquivocationBody): string {
  return String(body.first.author)
}

async function signedRecordIn (json: Record<string, unknown>): Promise<StoredRecord> {
  let rec: StoredRecord
  try {
    rec = await parseRecord(canonicalJson(json))
  } catch (err) {
    if (err instanceof RecordError) throw new RecordError('RECORD_BAD_EVIDENCE', `evidence record: ${err.message}`)
    throw err
  }
  // A nested record may be evidence itself (an author equivocating with evidence): its signature is
  // checked, its own evidence is not (that would nest without end, and proves nothing about this author).
  return rec
}
