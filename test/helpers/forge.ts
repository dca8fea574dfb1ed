import * as Y from 'yjs'
import { clientIdFor } from '../../src/state/client-id.js'
import { signRecord } from '../../src/state/records.js'
import type { RecordBody, RecordKind } from '../../src/state/record-kinds.js'
import type { StoredRecord } from '../../src/state/records.js'
import type { Identity } from '../../src/p2p/identity.js'

/** Sign a record as `identity` for an explicit slot: honest or not, the test decides. */
export async function signAs<K extends RecordKind> (identity: Identity, kind: K, body: RecordBody<K>, slot: { client: number, clock: number }, createdAt = 1_700_000_000_000): Promise<StoredRecord<K>> {
  return signRecord(identity.privateKey, identity.peerId.toString(), { kind, body, createdAt, slot })
}

/** A session of an author: the session string and the client id derived from it. */
export interface Session {
  client: number
  session: string
}

/** Session number `seed` of `identity` (a fixed session string per seed, its derived client id). */
export function sessionOf (identity: Identity, seed: number): Session {
  const session = seed.toString(16).padStart(32, '0')
  return { session, client: clientIdFor(identity.peerId.toString(), session) }
}

/** The client id of session `seed` of `identity`. */
export function clientOf (identity: Identity, seed: number): number {
  return sessionOf(identity, seed).client
}

/** The binding that opens session `seed` of `identity`, at its client's clock 0. */
export async function signBinding (identity: Identity, seed: number, createdAt?: number): Promise<StoredRecord<'binding'>> {
  const { client, session } = sessionOf(identity, seed)
  return signAs(identity, 'binding', { clientId: client, session }, { client, clock: 0 }, createdAt)
}

export interface RawWrite {
  map: string
  key: string
  value: unknown
}

/**
 * Build a Yjs update by hand from client `client`: start from `base` (another replica's
 * state), apply `edit` (or the raw map writes), return only what changed.
 */
export function craftUpdate (client: number, writes: RawWrite[] | ((doc: Y.Doc) => void), base?: Uint8Array): Uint8Array {
  const doc = new Y.Doc({ gc: false })
  if (base !== undefined) Y.applyUpdate(doc, base)
  doc.clientID = client
  const before = Y.encodeStateVector(doc)
  doc.transact(() => {
    if (typeof writes === 'function') writes(doc)
    else for (const w of writes) doc.getMap(w.map).set(w.key, w.value)
  })
  return Y.encodeStateAsUpdate(doc, before)
}

/** A binding + record pair from session `seed` of `identity`, as an honest first write would look. */
export async function honestFirstWrite (identity: Identity, seed: number, body: RecordBody<'hypothesis'>, createdAt?: number): Promise<{ update: Uint8Array, client: number, binding: StoredRecord<'binding'>, record: StoredRecord<'hypothesis'> }> {
  const binding = await signBinding(identity, seed, createdAt)
  const client = binding.record.slot.client
  const record = await signAs(identity, 'hypothesis', body, { client, clock: 1 }, createdAt)
  const update = craftUpdate(client, [
    { map: 'bindings', key: binding.key, value: binding.text },
    { map: 'hypotheses', key: record.key, value: record.text }
  ])
  return { update, client, binding, record }
}

/**
 * Join updates of one client each (and no deletes) into one update that keeps each as its own
 * run, in order: what a hand-written encoder can send and Yjs's never does (a client twice).
 */
export function concatUpdates (...updates: Uint8Array[]): Uint8Array {
  for (const u of updates) {
    if (u[0] !== 1 || u[u.length - 1] !== 0) throw new Error('concatUpdates takes single-client updates without deletes')
  }
  return Uint8Array.from([updates.length, ...updates.flatMap((u) => [...u.subarray(1, u.length - 1)]), 0])
}
