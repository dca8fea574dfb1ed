import { createPublicKey, verify } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import { SwarmdError } from '../util/errors.js'
import { sha256Hex } from '../util/hash.js'
import { canonicalJson } from './canonical.js'
import { BODY_SCHEMAS, RECORD_KINDS } from './record-kinds.js'
import type { RecordBody, RecordKind } from './record-kinds.js'
import type { SwarmdErrorCode } from '../util/errors.js'
import type { KeyObject } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'

/** The signed content of a record, without its signature: two records with the same are one record. */
export function signedContent (record: SignedRecord): string {
  const { sig, ...unsigned } = record
  return canonicalJson(unsigned)
}

/** Deepest nesting of objects and arrays in a record (evidence of evidence uses about 12). */
const MAX_NESTING = 32

/**
 * Most JSON values (objects, arrays, strings, numbers...) in one record. Checking a record costs
 * time per value (canonical form, schema): 64 KiB of `{}` is 21,000 of them, 29 ms a record, and
 * 255 such records froze the event loop 7 s per update (an outside attack). The largest honest
 * records (a result with its code change, evidence holding two of them) use a few hundred.
 */
export const MAX_JSON_VALUES = 4096

/**
 * What is wrong with the shape of `value`, if anything: nesting past `MAX_NESTING` or more than
 * `MAX_JSON_VALUES` values. Walked without recursion (a hostile text may nest thousands deep).
 */
function shapeProblem (value: unknown): string | undefined {
  let values = 0
  const stack: Array<[unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!
    if (++values > MAX_JSON_VALUES) return `record holds more than ${MAX_JSON_VALUES} JSON values`
    if (node === null || typeof node !== 'object') continue
    if (depth + 1 > MAX_NESTING) return `record nests deeper than ${MAX_NESTING} levels`
    for (const child of Object.values(node)) stack.push([child, depth + 1])
  }
  return undefined
}

/** A record's content address: sha256 (hex) of its canonical signed JSON. */
export type RecordId = string & { readonly __brand: 'RecordId' }
/** The key a record lives under in its map: `<author peerId>/<RecordId>`. */
export type RecordKey = string & { readonly __brand: 'RecordKey' }

/** Where in the Y.Doc a record sits: the Yjs struct id it must occupy. */
export interface RecordSlot {
  client: number
  clock: number
}

export interface SignedRecord<K extends RecordKind = RecordKind> {
  v: 1
  kind: K
  author: string
  createdAt: number
  slot: RecordSlot
  body: RecordBody<K>
  sig: string
}

/** A record with its canonical text and derived address, as stored in the doc. */
export interface StoredRecord<K extends RecordKind = RecordKind> {
  record: SignedRecord<K>
  text: string
  id: RecordId
  key: RecordKey
}

/**
 * The record format. 2: client ids derived from author and session (bindings carry the session),
 * equivocation evidence. A daemon keeps each format's state apart (src/daemon/daemon.ts).
 */
export const RECORD_FORMAT = 2

/** Largest canonical record accepted (bigger payloads are blobs, referenced by hash). */
export const MAX_RECORD_BYTES = 64 * 1024
/**
 * Equivocation evidence carries two records whole, and those may be evidence themselves (an author
 * can equivocate with evidence too): one level of nesting, so four records' worth and a little more.
 */
export const MAX_EVIDENCE_BYTES = 2 * (2 * MAX_RECORD_BYTES + 4096) + 4096

function maxBytesOf (kind: RecordKind): number {
  return kind === 'equivocation' ? MAX_EVIDENCE_BYTES : MAX_RECORD_BYTES
}

// Domain separation: a record signature can never be replayed as another libp2p signature.
const SIGNING_PREFIX = 'swarmd/record/1\n'

const envelope = z.strictObject({
  v: z.literal(1),
  kind: z.enum(RECORD_KINDS as [RecordKind, ...RecordKind[]]),
  author: z.string().min(1).max(128),
  createdAt: z.number().int().nonnegative(),
  slot: z.strictObject({
    client: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    clock: z.number().int().nonnegative()
  }),
  body: z.unknown(),
  // An Ed25519 signature is 64 bytes: 86 base64url characters, the last one with its 4 spare bits
  // zero. Any other spelling of the same bytes would be a second text (a second id) of one record.
  sig: z.string().regex(/^[A-Za-z0-9_-]{85}[AQgw]$/)
})

export type RecordFault = Extract<SwarmdErrorCode, `RECORD_${string}`>

/** Why a record text is not a valid signed record (`fault`: its code). */
export class RecordError extends SwarmdError {
  constructor (readonly fault: RecordFault, message: string) {
    super(fault, message)
    this.name = 'RecordError'
  }
}

function signingBytes (unsigned: Omit<SignedRecord, 'sig'>): Uint8Array {
  return new TextEncoder().encode(SIGNING_PREFIX + canonicalJson(unsigned))
}

export function recordKey (author: string, id: RecordId): RecordKey {
  return `${author}/${id}` as RecordKey
}

function stored<K extends RecordKind> (record: SignedRecord<K>, text: string): StoredRecord<K> {
  const id = sha256Hex(text) as RecordId
  return { record, text, id, key: recordKey(record.author, id) }
}

export interface SignInit<K extends RecordKind> {
  kind: K
  body: RecordBody<K>
  createdAt: number
  slot: RecordSlot
}

/** Sign a record with the author's libp2p key; the author is the key's PeerId. */
export async function signRecord<K extends RecordKind> (key: PrivateKey, authorPeerId: string, init: SignInit<K>): Promise<StoredRecord<K>> {
  const body = BODY_SCHEMAS[init.kind].parse(init.body) as RecordBody<K>
  const unsigned = { v: 1 as const, kind: init.kind, author: authorPeerId, createdAt: init.createdAt, slot: init.slot, body }
  const sig = await key.sign(signingBytes(unsigned))
  const record: SignedRecord<K> = { ...unsigned, sig: Buffer.from(sig).toString('base64url') }
  const text = canonicalJson(record)
  if (Buffer.byteLength(text) > maxBytesOf(init.kind)) {
    throw new RecordError('RECORD_TOO_LARGE', `record is ${Buffer.byteLength(text)} bytes; the limit is ${maxBytesOf(init.kind)}: store large content as a blob and reference its hash`)
  }
  return stored(record, text)
}

/**
 * Each author's public key as a Node key object, made once: libp2p's `verify` imports the raw key
 * anew on every call (a fifth of a verification), and a catch-up verifies thousands per author.
 */
const authorKeys = new Map<string, KeyObject>()

function authorKey (author: string): KeyObject {
  let key = authorKeys.get(author)
  if (key === undefined) {
    let parsed
    try {
      parsed = peerIdFromString(author)
    } catch {
      throw new RecordError('RECORD_BAD_AUTHOR', 'author is not a peer id')
    }
    if (parsed.type !== 'Ed25519' || parsed.publicKey === undefined) {
      throw new RecordError('RECORD_BAD_AUTHOR', 'author must be an Ed25519 peer id')
    }
    key = createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(parsed.publicKey.raw).toString('base64url') } })
    if (authorKeys.size > 10_000) authorKeys.clear()
    authorKeys.set(author, key)
  }
  return key
}

/**
 * Parse and fully check a record's text: size, canonical form, schema of envelope and
 * body, and the author's signature. Throws RecordError; never returns an unchecked record.
 */
export async function parseRecord (text: string): Promise<StoredRecord> {
  const { record, signed } = startParsingRecord(text)
  if (!await signed) throw badSignature()
  return record
}

/** What `startParsingRecord` gives: a record checked in all but its signature, and that check under way. */
export interface RecordBeingVerified {
  /** Not authentic until `signed` is true: blame nobody for it and keep nothing of it before then. */
  record: StoredRecord
  /** Whether the author's signature holds; never rejects. Checked in libuv's thread pool, off the event loop. */
  signed: Promise<boolean>
}

export const badSignature = (): RecordError => new RecordError('RECORD_BAD_SIGNATURE', 'signature does not match the author')

/**
 * `parseRecord` for many records at once: every check but the signature now (throws RecordError),
 * the signature in the thread pool, so a catch-up of thousands of records verifies them on every
 * core while the event loop parses the next ones (bench:catchup).
 */
export function startParsingRecord (text: string): RecordBeingVerified {
  // [REJECT] records are small; big content travels as blobs (the kind's own limit is checked below)
  const bytes = Buffer.byteLength(text)
  if (bytes > MAX_EVIDENCE_BYTES) throw new RecordError('RECORD_TOO_LARGE', 'record exceeds the size limit')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new RecordError('RECORD_NOT_JSON', 'record is not JSON')
  }
  // [REJECT] nesting deeper than any record kind uses: canonicalisation recurses, and the depth at
  // which it would overflow the stack differs by call path (one node taking what another refuses)
  const problem = shapeProblem(json)
  if (problem !== undefined) throw new RecordError('RECORD_MALFORMED', problem)
  // [REJECT] one text per record, so its hash (the record id) is unique
  let canonical: string
  try {
    canonical = canonicalJson(json)
  } catch {
    throw new RecordError('RECORD_NOT_JSON', 'record has no canonical JSON form')
  }
  if (canonical !== text) throw new RecordError('RECORD_NOT_CANONICAL', 'record is not in canonical (RFC 8785) form')
  const env = envelope.safeParse(json)
  if (!env.success) throw new RecordError('RECORD_MALFORMED', `record envelope: ${env.error.issues[0]?.message ?? 'invalid'}`)
  if (bytes > maxBytesOf(env.data.kind)) throw new RecordError('RECORD_TOO_LARGE', 'record exceeds the size limit')
  const body = BODY_SCHEMAS[env.data.kind].safeParse(env.data.body)
  // [REJECT] the body must match its kind's schema exactly
  if (!body.success) throw new RecordError('RECORD_MALFORMED', `${env.data.kind} body: ${body.error.issues[0]?.message ?? 'invalid'}`)
  const { sig, ...unsigned } = env.data
  const publicKey = authorKey(env.data.author)
  // [REJECT] record.author must equal signer
  const signature = Buffer.from(sig, 'base64url')
  // [REJECT] an Ed25519 signature is 64 bytes (Node would take other lengths as a mere mismatch too)
  const signed = signature.byteLength !== 64
    ? Promise.resolve(false)
    : new Promise<boolean>((resolve) => {
      try {
        verify(null, signingBytes(unsigned as Omit<SignedRecord, 'sig'>), publicKey, signature, (err, ok) => { resolve(err === null && ok) })
      } catch {
        // The key type throws on a signature of the wrong length (found by fuzzing): a bad signature, not a crash.
        resolve(false)
      }
    })
  return { record: stored(env.data as SignedRecord, text), signed }
}
