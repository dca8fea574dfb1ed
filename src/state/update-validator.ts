import * as Y from 'yjs'
import { clientIdFor } from './client-id.js'
import { checkEvidence } from './equivocation.js'
import { MAP_FOR_KIND, isMapName } from './record-kinds.js'
import { RecordError, badSignature, signedContent, startParsingRecord } from './records.js'
import type { BindingBody, EquivocationBody } from './record-kinds.js'
import type { SignedRecord, StoredRecord } from './records.js'

/** What to do with a peer's update: gossipsub's three outcomes. */
export type Verdict = 'accept' | 'ignore' | 'reject'

export type UpdateFault =
  | 'UPDATE_TOO_LARGE'
  | 'UPDATE_MALFORMED'
  | 'UPDATE_HAS_DELETES'
  | 'STRUCT_NOT_ITEM'
  | 'STRUCT_OVERWRITE'
  | 'STRUCT_UNKNOWN_MAP'
  | 'STRUCT_BAD_CONTENT'
  | 'RECORD_WRONG_MAP'
  | 'RECORD_KEY_MISMATCH'
  | 'RECORD_SLOT_MISMATCH'
  | 'RECORD_FROM_FUTURE'
  | 'CLIENT_UNBOUND'
  | 'UPDATE_GAP'
  | 'UPDATE_NOT_CONTIGUOUS'
  | 'UPDATE_LEFT_PENDING'
  | 'CLIENT_AUTHOR_MISMATCH'
  | 'CLIENT_BOUND_ELSEWHERE'
  | 'CLIENT_ID_NOT_DERIVED'
  | 'CLIENT_ID_COLLISION'
  | 'SLOT_EQUIVOCATION'
  | 'AUTHOR_OVER_QUOTA'
  | RecordError['fault']

/**
 * Two validly signed records that cannot both hold: the sender may be an honest relay that saw
 * the other one first, so the fault is the signer's (`culprit`), never the sender's.
 */
export interface Conflict {
  culprit: string
  /** Set for an equivocation: the record this doc holds at the slot, and the one offered for it. */
  evidence?: { held: string, offered: StoredRecord }
}

/**
 * An update that must not be applied. `verdict` is `reject` only for what is provably
 * invalid (it costs the sender score); `ignore` for what may become valid later, or for a
 * conflict between two valid records (`conflict`: it costs their signer instead).
 */
export class UpdateRejection extends Error {
  constructor (readonly verdict: Exclude<Verdict, 'accept'>, readonly fault: UpdateFault, message: string, readonly conflict?: Conflict) {
    super(message)
    this.name = 'UpdateRejection'
  }
}

/** What the validator needs to know about the local doc. */
export interface UpdateContext {
  /** Milliseconds since the epoch. */
  now: number
  /** Records dated further ahead than this are not applied yet. */
  maxClockSkewMs: number
  /** Largest update accepted, in bytes. */
  maxUpdateBytes: number
  /** The next clock this doc expects from `client` (Yjs state). */
  stateOf(client: number): number
  /** The author bound to `client`, when this doc holds its binding. */
  authorOf(client: number): string | undefined
  /** The record text this doc holds at a slot, when it holds one. */
  textAt(client: number, clock: number): string | undefined
  /** The author of `client` when this doc takes nothing more of it (over its quota here): refused before any signature is checked. */
  refusedAuthor?(client: number): string | undefined
  /** Whether this doc takes no new session of `author` (over its quota here): its binding is refused before its signature is checked. */
  refusesSession?(author: string): boolean
}

/** Beyond a day ahead a date is a lie or a broken clock, not skew: penalise it. */
const FAR_FUTURE_MS = 24 * 60 * 60 * 1000

const reject = (fault: UpdateFault, message: string): UpdateRejection => new UpdateRejection('reject', fault, message)
const ignore = (fault: UpdateFault, message: string): UpdateRejection => new UpdateRejection('ignore', fault, message)
const conflict = (fault: UpdateFault, message: string, blame: Conflict): UpdateRejection => new UpdateRejection('ignore', fault, message, blame)

/**
 * Decode a Yjs update and check every struct before anything touches the doc
 * (DESIGN §3). Returns the records it would add; throws UpdateRejection otherwise.
 */
export async function validateUpdate (update: Uint8Array, ctx: UpdateContext): Promise<StoredRecord[]> {
  // [REJECT] oversize payloads
  if (update.byteLength > ctx.maxUpdateBytes) throw reject('UPDATE_TOO_LARGE', `update of ${update.byteLength} bytes exceeds ${ctx.maxUpdateBytes}`)
  let decoded: { structs: Array<Y.Item | Y.GC | Y.Skip>, ds: { clients: Map<number, unknown[]> } }
  try {
    decoded = Y.decodeUpdate(update) as unknown as typeof decoded
  } catch {
    // [REJECT] malformed bytes
    throw reject('UPDATE_MALFORMED', 'update does not decode')
  }
  // [REJECT] no deletes at all: a delete set cannot say who deleted (DESIGN §3)
  if (decoded.ds.clients.size > 0) throw reject('UPDATE_HAS_DELETES', 'updates may not delete')

  const boundInUpdate = new Map<number, string>()
  const records: StoredRecord[] = []
  // Signatures are checked in the thread pool while the loop parses on; every one is awaited before
  // the update is accepted, and a record's own before any verdict that would blame its signer.
  const signatures = new SignatureChecks()
  let sliceStart = performance.now()
  const clientsSeen = new Set<number>()
  let previousClient = -1
  let nextClock = 0
  for (const struct of decoded.structs) {
    // [REJECT] only items; GC and skip structs come from deletes or merged fragments
    if (!(struct instanceof Y.Item)) throw reject('STRUCT_NOT_ITEM', 'update carries a non-item struct')
    const { client, clock } = struct.id
    if (client !== previousClient) {
      // [REJECT] a client appears in one run per update (Yjs writes each client's structs
      // together): a second run of it is crafted, and Yjs would park it as pending structs
      // that every later diff carries and every newcomer refuses
      if (clientsSeen.has(client)) throw reject('UPDATE_NOT_CONTIGUOUS', 'a client appears twice in one update')
      clientsSeen.add(client)
      previousClient = client
      // [IGNORE] earlier structs of this client are missing; Yjs would park these as
      // pending (and re-send them merged with skips), so wait for a sync instead
      if (clock > ctx.stateOf(client)) throw ignore('UPDATE_GAP', 'update starts after a gap; sync first')
      // [IGNORE] a client this doc refuses for its author's quota (src/state/author-quota.ts)
      const refused = ctx.refusedAuthor?.(client)
      if (refused !== undefined) throw conflict('AUTHOR_OVER_QUOTA', 'this node takes no more records of this client\'s author', { culprit: refused })
    } else if (clock !== nextClock) {
      // [REJECT] the same: a second run of the client right after its first, starting elsewhere
      throw reject('UPDATE_NOT_CONTIGUOUS', 'a client\'s clocks jump within one update')
    }
    nextClock = clock + struct.length
    // Long catch-up updates check thousands of records: let the event loop breathe every few ms
    // (counting records let 255 costly ones hold it 7 s, an outside attack), and keep at most
    // two batches of signature checks in flight.
    if (performance.now() - sliceStart >= YIELD_EVERY_MS || signatures.batchFull()) {
      await new Promise((resolve) => setImmediate(resolve))
      await signatures.settleEarlierBatch()
      sliceStart = performance.now()
    }
    // [REJECT] an origin means an overwrite of an existing entry (or a list insert)
    if (struct.origin !== null || struct.rightOrigin !== null) throw reject('STRUCT_OVERWRITE', 'update overwrites an existing entry')
    const mapName = struct.parent
    // [REJECT] only first writes into the known top-level maps
    if (typeof mapName !== 'string' || !isMapName(mapName) || typeof struct.parentSub !== 'string') {
      throw reject('STRUCT_UNKNOWN_MAP', 'update writes outside the record maps')
    }
    const content = struct.content
    // [REJECT] each entry is exactly one record text
    if (!(content instanceof Y.ContentAny) || content.arr.length !== 1 || typeof content.arr[0] !== 'string') {
      throw reject('STRUCT_BAD_CONTENT', 'entry is not a single record text')
    }
    const text = content.arr[0]
    // The very record this doc holds at this slot: checked when it came, and Yjs skips it. Parsing
    // and verifying it again only costs CPU: a peer replaying a daemon's own records to it made it
    // verify thousands of signatures a second at no cost to the peer (an outside attack).
    if (clock < ctx.stateOf(client) && ctx.textAt(client, clock) === text) continue

    let rec: StoredRecord
    let signed: Promise<boolean>
    try {
      ({ record: rec, signed } = startParsingRecord(text))
    } catch (err) {
      if (err instanceof RecordError) throw reject(err.fault, err.message)
      throw err
    }
    signatures.add(signed)
    const { record } = rec
    try {
      // [REJECT] a record lives in the map of its kind
      if (MAP_FOR_KIND[record.kind] !== mapName) throw reject('RECORD_WRONG_MAP', `${record.kind} record written into ${mapName}`)
      // [REJECT] keys are author-scoped and content-addressed: <author>/<sha256 of record>
      if (struct.parentSub !== rec.key) throw reject('RECORD_KEY_MISMATCH', 'entry key is not <author>/<record hash>')
      // [REJECT] a record names the struct it occupies, so a replay anywhere else is invalid
      if (record.slot.client !== client || record.slot.clock !== clock) throw reject('RECORD_SLOT_MISMATCH', 'record replayed outside its slot')

      if (record.kind === 'binding') {
        // [IGNORE, signer blamed] a new session of an author over its quota here: refused as it comes (a forgery naming it changes nothing)
        if (ctx.refusesSession?.(record.author) === true) throw conflict('AUTHOR_OVER_QUOTA', 'this node takes no new session of this author', { culprit: record.author })
        const body = record.body as BindingBody
        // [REJECT] a binding opens its client's session and names that client
        if (clock !== 0 || body.clientId !== client) throw reject('CLIENT_BOUND_ELSEWHERE', 'binding must be the first struct of its own client')
        // [REJECT] a client id is derived from its author and session: nobody binds another's id
        if (clientIdFor(record.author, body.session) !== client) throw reject('CLIENT_ID_NOT_DERIVED', 'client id is not derived from the binding\'s author and session')
      }
      const inDoc = ctx.authorOf(client)
      const held = clock < ctx.stateOf(client) ? ctx.textAt(client, clock) : undefined
      if (held !== undefined && held !== text) {
        // [IGNORE] the record this doc holds, signed bytes spelled otherwise (canonical text and signature
        // spelling leave only a malleable signature for that): the same record, not a second one, and
        // whoever holds this spelling may have taken it first in good faith
        if (signedContent(JSON.parse(held) as SignedRecord) === signedContent(record)) throw ignore('RECORD_NOT_CANONICAL', 'another spelling of a record this doc holds')
        // [IGNORE, signer blamed] two records signed by one author for one slot: the author equivocated.
        // Whoever relayed this may have seen it first; the evidence convicts the author everywhere.
        if (inDoc === record.author) throw conflict('SLOT_EQUIVOCATION', 'the author signed another record for this slot', { culprit: record.author, evidence: { held, offered: rec } })
        // [IGNORE, signer blamed] another author's record at a held slot: only an id taken over by
        // grinding (src/state/client-id.ts) gets a valid record here, and the relay cannot tell
        throw conflict('CLIENT_AUTHOR_MISMATCH', 'record author is not the author bound to this client', { culprit: record.author })
      }

      if (record.kind === 'binding') {
        const bound = inDoc ?? boundInUpdate.get(client)
        // [IGNORE, signer blamed] two authors whose sessions hash to one id: a ground id (or odds of 2^-53)
        if (bound !== undefined && bound !== record.author) throw conflict('CLIENT_ID_COLLISION', 'client id is bound to another author', { culprit: record.author })
        boundInUpdate.set(client, record.author)
      } else {
        const inUpdate = boundInUpdate.get(client)
        // [REJECT] the update's own binding names another author: the sender checked neither
        if (inUpdate !== undefined && inUpdate !== record.author) throw reject('CLIENT_AUTHOR_MISMATCH', 'record author is not the author the update binds this client to')
        const bound = inDoc ?? inUpdate
        // [IGNORE] the binding has not reached us yet; a sync will bring it
        if (bound === undefined) throw ignore('CLIENT_UNBOUND', 'client binding not known yet')
        // [IGNORE, signer blamed] only the author bound to a client writes with it; the sender may hold
        // another binding for this id (a ground one) and have checked the record against that
        if (bound !== record.author) throw conflict('CLIENT_AUTHOR_MISMATCH', 'record author is not the author bound to this client', { culprit: record.author })
      }
      if (record.kind === 'equivocation') {
        try {
          await checkEvidence(record.body as EquivocationBody)
        } catch (err) {
          // [REJECT] evidence that proves nothing
          if (err instanceof RecordError) throw reject(err.fault, err.message)
          throw err
        }
      }
      // [REJECT] dated so far ahead that no honest clock explains it
      if (record.createdAt > ctx.now + FAR_FUTURE_MS) throw reject('RECORD_FROM_FUTURE', 'record is dated more than a day in the future')
      // [IGNORE] slightly ahead: wait until the local clock catches up (bounded skew), then sync brings it
      if (record.createdAt > ctx.now + ctx.maxClockSkewMs) throw ignore('RECORD_FROM_FUTURE', 'record is dated in the future')
    } catch (err) {
      // A record that is not its author's (this one or an earlier one) is refused as such, whatever
      // else is wrong, and no verdict blames a signer before the signature holds.
      await signatures.settleAll()
      throw err
    }
    records.push(rec)
  }
  await signatures.settleAll()
  return records
}

/** The longest the validator holds the event loop before it yields, ms. */
const YIELD_EVERY_MS = 10

/** Signature checks in one batch: two batches in flight keep both cores busy and memory bounded. */
const SIGNATURE_BATCH = 256

/** The signature checks of one update under way, in batches between the validator's yields. */
class SignatureChecks {
  private earlier: Array<Promise<boolean>> = []
  private current: Array<Promise<boolean>> = []

  add (signed: Promise<boolean>): void {
    this.current.push(signed)
  }

  batchFull (): boolean {
    return this.current.length >= SIGNATURE_BATCH
  }

  /** Wait for the batch before the current one, which becomes the earlier one. */
  async settleEarlierBatch (): Promise<void> {
    const earlier = this.earlier
    this.earlier = this.current
    this.current = []
    await allSigned(earlier)
  }

  async settleAll (): Promise<void> {
    await allSigned(this.earlier)
    await allSigned(this.current)
  }
}

// [REJECT] record.author must equal signer
async function allSigned (checks: Array<Promise<boolean>>): Promise<void> {
  if ((await Promise.all(checks)).includes(false)) throw reject('RECORD_BAD_SIGNATURE', badSignature().message)
}
