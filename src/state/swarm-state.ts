import { EventEmitter } from 'node:events'
import * as Y from 'yjs'
import { sha256Hex } from '../util/hash.js'
import { SwarmdError } from '../util/errors.js'
import { clientIdFor, newSession } from './client-id.js'
import { clientDiffParts } from './client-diff.js'
import { AuthorQuota, DEFAULT_MAX_BYTES_PER_AUTHOR, MAX_SESSIONS_PER_AUTHOR } from './author-quota.js'
import { accusedBy, evidenceBody } from './equivocation.js'
import { MAP_FOR_KIND, MAP_NAMES, RECORD_KINDS } from './record-kinds.js'
import { recordKey, signRecord } from './records.js'
import { SerialQueue } from '../util/serial-queue.js'
import { SlotFingerprints, decodeSyncRequest, encodeSyncRequest } from './sync-request.js'
import type { SyncRequest } from './sync-request.js'
import { UpdateRejection, validateUpdate } from './update-validator.js'
import type { EquivocationBody, MapName, RecordBody, RecordKind } from './record-kinds.js'
import type { RecordId, SignedRecord, StoredRecord } from './records.js'
import type { UpdateStore } from './update-store.js'
import type { UpdateFault, Verdict } from './update-validator.js'
import type { Clock } from '../util/clock.js'
import type { Rng } from '../util/rng.js'
import type { PrivateKey } from '@libp2p/interface'

/** The content digest is a sum of 256-bit hashes, taken modulo this. */
const DIGEST_MODULUS = 1n << 256n

/** One record key's share of the content digest. */
function keyDigest (name: string, key: string): bigint {
  return BigInt(`0x${sha256Hex(`${name}:${key}`)}`)
}

/** Whole resends of one client whose fingerprints differ, per hour (see `diverges`). */
const MAX_RESENDS_PER_HOUR = 16

/** Transaction origins: what came from the wire is never re-broadcast. */
export const LOCAL_ORIGIN = Symbol('swarmd-local')
export const REMOTE_ORIGIN = Symbol('swarmd-remote')
const STORE_ORIGIN = Symbol('swarmd-store')

export interface SwarmStateComponents {
  store: UpdateStore
  privateKey: PrivateKey
  /** This node's PeerId as a string: the author of its records. */
  peerId: string
  clock: Clock
  rng: Rng
  /** Authors not held to `maxBytesPerAuthor` besides this node (peers with standing here). Default: none. */
  exemptFromQuota?: (author: string) => boolean
}

export interface SwarmStateInit {
  /** Records dated further ahead are held back until then. Default 60 s (DESIGN §3). */
  maxClockSkewMs?: number
  /** Largest update accepted from a peer. Default 64 MiB (one client's sync range). */
  maxUpdateBytes?: number
  /** Bytes of records one author without standing may have here (src/state/author-quota.ts). Default 64 MiB. */
  maxBytesPerAuthor?: number
  /** Sessions one author without standing may have here. Default `MAX_SESSIONS_PER_AUTHOR` (1,024). */
  maxSessionsPerAuthor?: number
}

/** What a sync request says of a client refused for its author's quota: held to here, so peers send none of it. */
const BLOCKED_CLOCK = 2 ** 32

export interface ApplyOutcome {
  verdict: Verdict
  fault?: UpdateFault
  message?: string
  /** The signer to blame instead of the sender: two valid records conflict (the sender may be an honest relay). */
  culprit?: string
  /** Records that were new to this doc. */
  added: number
}

export interface SwarmStateEvents {
  /** A local write, encoded as an update, to go out on gossip. */
  'local-update': [update: Uint8Array]
  /** A record entered the doc (local or remote); never one by a convicted author. */
  record: [record: StoredRecord, local: boolean]
  /** Evidence that `author` equivocated entered the doc: its records are hidden from now on. */
  convicted: [author: string]
}

export type RecordCounts = Record<RecordKind, number>

/**
 * The replicated Y.Doc of one swarm: signed, append-only record maps, validated before
 * every remote apply, persisted before every acknowledgement.
 */
export class SwarmState extends EventEmitter<SwarmStateEvents> {
  readonly doc = new Y.Doc({ gc: false })
  private readonly maps: Record<MapName, Y.Map<string>>
  private readonly clientAuthors = new Map<number, string>()
  private readonly parsed = new Map<string, StoredRecord>()
  /** Authors with equivocation evidence against them: none of their records counts. */
  private readonly convictedAuthors = new Set<string>()
  /**
   * Keys in each map, counted as they arrive: `Y.Map.size` walks every entry, and asking it around
   * each apply made a joiner's catch-up quadratic (a swarm of 100,000 results took 434 s).
   */
  private readonly held = Object.fromEntries(MAP_NAMES.map((name) => [name, 0])) as Record<MapName, number>
  /** Sum of `keyDigest` over the visible records; undefined: to be summed again (after a conviction). */
  private digestSum: bigint | undefined = 0n
  private readonly fingerprints = new SlotFingerprints((client, clock) => this.textAt(client, clock))
  /** Clients resent whole because a peer's fingerprint differed: how often, since when. */
  private readonly resends = new Map<number, { since: number, count: number }>()
  private session = ''
  private readonly queue = new SerialQueue()
  private readonly maxClockSkewMs: number
  private readonly maxUpdateBytes: number
  private readonly quota: AuthorQuota
  private persisting: Promise<void> = Promise.resolve()
  private persistError: unknown
  private started = false

  constructor (private readonly components: SwarmStateComponents, init: SwarmStateInit = {}) {
    super()
    this.maxClockSkewMs = init.maxClockSkewMs ?? 60_000
    this.maxUpdateBytes = init.maxUpdateBytes ?? 64 * 1024 * 1024
    this.quota = new AuthorQuota(init.maxBytesPerAuthor ?? DEFAULT_MAX_BYTES_PER_AUTHOR, init.maxSessionsPerAuthor ?? MAX_SESSIONS_PER_AUTHOR, (author) => author === this.peerId || (components.exemptFromQuota?.(author) ?? false))
    this.maps = Object.fromEntries(MAP_NAMES.map((name) => [name, this.doc.getMap<string>(name)])) as Record<MapName, Y.Map<string>>
    for (const name of MAP_NAMES) this.maps[name].observe((event) => { this.onMapChange(event, name) })
    this.doc.on('update', (update: Uint8Array, origin: unknown) => { this.onUpdate(update, origin) })
  }

  get peerId (): string { return this.components.peerId }

  async start (): Promise<void> {
    if (this.started) return
    await this.components.store.open()
    const saved = await this.components.store.load()
    if (saved !== null) Y.applyUpdate(this.doc, saved, STORE_ORIGIN)
    // A fresh session per start: its client id is derived from it and this author, and bound by its first record.
    do this.session = newSession(this.components.rng)
    while (this.doc.store.clients.has(clientIdFor(this.peerId, this.session)))
    this.doc.clientID = clientIdFor(this.peerId, this.session)
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.queue.run(async () => { await this.persisting })
    await this.components.store.close()
  }

  /** Sign and append a record; resolves once it is stored on disk. */
  async append<K extends RecordKind> (kind: K, body: RecordBody<K>): Promise<StoredRecord<K>> {
    return this.queue.run(async () => {
      const client = this.doc.clientID
      const pending: StoredRecord[] = []
      let clock = Y.getState(this.doc.store, client)
      const now = this.components.clock.now()
      if (clock === 0) {
        // The binding rides in the same update as the session's first record, so a
        // receiver can check that record without a round trip.
        pending.push(await this.sign('binding', { clientId: client, session: this.session }, now, client, clock++))
      }
      const rec = await this.sign(kind, body, now, client, clock)
      pending.push(rec)
      this.doc.transact(() => {
        for (const p of pending) this.maps[MAP_FOR_KIND[p.record.kind]].set(p.key, p.text)
      }, LOCAL_ORIGIN)
      await this.flushPersist()
      return rec
    })
  }

  /**
   * How many records (Yjs structs: one record each) an update carries, from its clock ranges,
   * without checking a signature; 1 for bytes that do not decode (validation refuses them next).
   */
  recordsIn (update: Uint8Array): number {
    try {
      const { from, to } = Y.parseUpdateMeta(update)
      let records = 0
      for (const [client, end] of to) records += end - (from.get(client) ?? 0)
      return Math.max(1, records)
    } catch {
      return 1
    }
  }

  /** Validate a peer's update and apply it only if every struct passes. */
  async applyRemote (update: Uint8Array): Promise<ApplyOutcome> {
    const outcome = await this.queue.run(async () => this.validateAndApply(update))
    if (outcome.evidence !== undefined) await this.publishEvidence(outcome.evidence.held, outcome.evidence.offered)
    const { evidence, ...rest } = outcome
    return rest
  }

  /** Whether evidence that `author` equivocated is in the doc. */
  isConvicted (author: string): boolean {
    return this.convictedAuthors.has(author)
  }

  convicted (): string[] {
    return [...this.convictedAuthors]
  }

  private async validateAndApply (update: Uint8Array): Promise<ApplyOutcome & { evidence?: { held: string, offered: StoredRecord } }> {
    let records: StoredRecord[]
    try {
      records = await validateUpdate(update, {
        now: this.components.clock.now(),
        maxClockSkewMs: this.maxClockSkewMs,
        maxUpdateBytes: this.maxUpdateBytes,
        stateOf: (client) => Y.getState(this.doc.store, client),
        authorOf: (client) => this.clientAuthors.get(client),
        textAt: (client, clock) => this.textAt(client, clock),
        refusedAuthor: (client) => this.quota.refusedAuthor(client, this.clientAuthors.get(client)),
        refusesSession: (author) => this.quota.full(author) || this.quota.sessionsFull(author)
      })
    } catch (err) {
      if (!(err instanceof UpdateRejection)) throw err
      const outcome = { verdict: err.verdict, fault: err.fault, message: err.message, added: 0 }
      if (err.conflict === undefined) return outcome
      return { ...outcome, culprit: err.conflict.culprit, ...(err.conflict.evidence !== undefined ? { evidence: err.conflict.evidence } : {}) }
    }
    // Valid records, but more than their author may store here: refused, and its client no longer asked for.
    const over = this.quota.overQuota(records)
    if (over !== undefined) {
      this.quota.block(over, records, (client) => Y.getState(this.doc.store, client) > 0)
      return { verdict: 'ignore', fault: 'AUTHOR_OVER_QUOTA', message: `${over} would hold more than its quota of records here (${this.quota.heldBy(over)} bytes held)`, added: 0, culprit: over }
    }
    // The records validation parsed, verified and hashed are the ones the doc now holds: kept, not decoded again.
    for (const rec of records) if (!this.parsed.has(rec.key)) this.parsed.set(rec.key, rec)
    const before = this.recordTotal()
    Y.applyUpdate(this.doc, update, REMOTE_ORIGIN)
    await this.flushPersist()
    const added = this.recordTotal() - before
    // The document never holds pending structs (DESIGN §3): every later diff would carry them
    // and every newcomer refuse them. Validation makes them impossible; should one slip through,
    // it is dropped here (nothing of it was integrated) and its sender refused.
    if (this.doc.store.pendingStructs !== null || this.doc.store.pendingDs !== null) {
      this.doc.store.pendingStructs = null
      this.doc.store.pendingDs = null
      for (const rec of records) if (this.maps[MAP_FOR_KIND[rec.record.kind]].get(rec.key) === undefined) this.parsed.delete(rec.key)
      return { verdict: 'reject', fault: 'UPDATE_LEFT_PENDING', message: 'the update left structs Yjs could not integrate', added }
    }
    return { verdict: 'accept', added }
  }

  /**
   * Write the evidence of an equivocation into the doc (once per author): it gossips and syncs
   * like any record, so every node, newcomers included, hides the author's records and blocks it.
   */
  private async publishEvidence (held: string, offered: StoredRecord): Promise<void> {
    const author = offered.record.author
    if (this.convictedAuthors.has(author) || !this.started) return
    const first = this.decode(recordKey(author, sha256Hex(held) as RecordId), held)
    try {
      await this.append('equivocation', evidenceBody(first, offered))
    } catch {
      // Evidence that cannot be written (over the size limit, say) still convicts here: each node
      // that is shown both records finds the lie on its own, and this one stops resending them.
      this.convict(author)
    }
  }

  /** What this replica holds, for a sync request: each client's clock and a fingerprint of its records (src/state/sync-request.ts). */
  encodeStateVector (maxBytes = Infinity): Uint8Array {
    const clocks = new Map<number, number>()
    for (const client of this.doc.store.clients.keys()) clocks.set(client, Y.getState(this.doc.store, client))
    const blocked = new Set(this.quota.blockedClients())
    for (const client of blocked) clocks.set(client, BLOCKED_CLOCK)
    const request = encodeSyncRequest(clocks, (client) => (blocked.has(client) ? undefined : this.fingerprints.of(client, clocks.get(client)!)))
    if (request.byteLength <= maxBytes) return request
    // Fingerprints only catch equivocations sooner (a bare state vector is a valid request): dropped first.
    const bare = encodeSyncRequest(clocks, () => undefined)
    if (bare.byteLength <= maxBytes) return bare
    throw new SwarmdError('SYNC_REQUEST_TOO_LARGE', `this node holds ${clocks.size} sessions, more than one sync request of ${maxBytes} bytes can list`)
  }

  /** Bytes of record text `author` has in this doc (what its quota counts). */
  bytesHeldBy (author: string): number {
    return this.quota.heldBy(author)
  }

  /**
   * What a peer that sent `request` lacks, as updates of one Yjs client each (a long range in
   * parts): each is validated on its own, so one bad author's range never blocks the others. A client the peer holds to the same
   * clock but with other records (an equivocation it has not seen) is sent whole, once per
   * request, until the evidence convicts its author. Costs what it sends, plus one pass over the clients.
   */
  diffsFor (request: Uint8Array): Iterable<Uint8Array> {
    // Decoded now, so that a bad request throws here; encoded as the caller takes them.
    return this.diffsAfter(decodeSyncRequest(request))
  }

  private * diffsAfter (remote: SyncRequest): Generator<Uint8Array> {
    for (const [client, structs] of this.doc.store.clients) {
      const state = Y.getState(this.doc.store, client)
      const theirs = remote.clocks.get(client) ?? 0
      const from = theirs < state ? theirs : this.diverges(client, state, remote.fingerprints.get(client)) ? 0 : state
      yield * clientDiffParts(client, structs, from)
    }
  }

  /**
   * Whether a peer's fingerprint of `client` (at the same clock) says it holds other records, and the
   * range is worth sending again. An equivocation is convicted by the first resend that meets the
   * other side; a divergence that no evidence settles (an id taken over by grinding) would be resent
   * on every pull, so each client is resent `MAX_RESENDS_PER_HOUR` times an hour at most.
   */
  private diverges (client: number, state: number, theirs: Uint8Array | undefined): boolean {
    if (theirs === undefined) return false
    const author = this.clientAuthors.get(client)
    if (author !== undefined && this.convictedAuthors.has(author)) return false
    if (Buffer.from(theirs).equals(this.fingerprints.of(client, state))) return false
    const now = this.components.clock.now()
    const resends = this.resends.get(client)
    if (resends === undefined || now - resends.since >= 3_600_000) {
      if (this.resends.size >= 10_000) this.resends.clear()
      this.resends.set(client, { since: now, count: 1 })
      return true
    }
    if (resends.count >= MAX_RESENDS_PER_HOUR) return false
    resends.count++
    return true
  }

  /** Records of one kind, oldest first (a convicted author's are left out, as everywhere below). */
  list<K extends RecordKind> (kind: K): Array<StoredRecord<K>> {
    const out: Array<StoredRecord<K>> = []
    for (const [key, text] of this.maps[MAP_FOR_KIND[kind]]) if (this.isVisible(key)) out.push(this.decode(key, text) as StoredRecord<K>)
    return out.sort((a, b) => a.record.createdAt - b.record.createdAt || (a.id < b.id ? -1 : 1))
  }

  get (kind: RecordKind, key: string): StoredRecord | undefined {
    const text = this.maps[MAP_FOR_KIND[kind]].get(key)
    return text === undefined || !this.isVisible(key) ? undefined : this.decode(key, text)
  }

  counts (): RecordCounts {
    const count = (name: MapName): number => {
      const map = this.maps[name]
      if (this.convictedAuthors.size === 0) return this.held[name]
      let n = 0
      for (const key of map.keys()) if (this.isVisible(key)) n++
      return n
    }
    return Object.fromEntries(RECORD_KINDS.map((kind) => [kind, count(MAP_FOR_KIND[kind])])) as RecordCounts
  }

  /**
   * A digest of the replicated content that counts: equal on two replicas iff they hold the same
   * records, leaving out convicted authors' (two replicas may hold different sides of an
   * equivocation at one slot; with the evidence, both hide both). The sum of each record key's
   * sha256, kept as records arrive: the status API and the benches ask often, and sorting and
   * hashing every key took ~0.3 s per ask at 300,000 records (bench:join). A conviction makes it
   * sum again once.
   */
  contentDigest (): string {
    if (this.digestSum === undefined) {
      let sum = 0n
      for (const name of MAP_NAMES) for (const key of this.maps[name].keys()) if (this.isVisible(key)) sum += keyDigest(name, key)
      this.digestSum = sum
    }
    return (this.digestSum % DIGEST_MODULUS).toString(16).padStart(64, '0')
  }

  private recordTotal (): number {
    let total = 0
    for (const name of MAP_NAMES) total += this.held[name]
    return total
  }

  private async sign<K extends RecordKind> (kind: K, body: RecordBody<K>, createdAt: number, client: number, clock: number): Promise<StoredRecord<K>> {
    return signRecord(this.components.privateKey, this.components.peerId, { kind, body, createdAt, slot: { client, clock } })
  }

  private textAt (client: number, clock: number): string | undefined {
    const item = Y.getItem(this.doc.store, Y.createID(client, clock))
    if (!(item instanceof Y.Item) || !(item.content instanceof Y.ContentAny)) return undefined
    const text: unknown = item.content.arr[0]
    return typeof text === 'string' ? text : undefined
  }

  /** Doc content was validated on entry (or written by us): decode without re-verifying. */
  private decode (key: string, text: string): StoredRecord {
    let rec = this.parsed.get(key)
    if (rec === undefined) {
      const record = JSON.parse(text) as SignedRecord
      const id = sha256Hex(text) as RecordId
      rec = { record, text, id, key: recordKey(record.author, id) }
      this.parsed.set(key, rec)
    }
    return rec
  }

  private onMapChange (event: Y.YMapEvent<string>, name: MapName): void {
    const origin = event.transaction.origin
    const map = event.target
    for (const key of event.keysChanged) {
      const text = map.get(key)
      if (text === undefined) continue
      if (event.changes.keys.get(key)?.action === 'add') {
        this.held[name]++
        this.quota.add(key.slice(0, key.indexOf('/')), text.length, name === 'bindings')
        if (this.digestSum !== undefined && this.isVisible(key)) this.digestSum += keyDigest(name, key)
      }
      const rec = this.decode(key, text)
      if (rec.record.kind === 'binding') this.clientAuthors.set(rec.record.slot.client, rec.record.author)
      if (rec.record.kind === 'equivocation') this.convict(accusedBy(rec.record.body as EquivocationBody))
      if (this.convictedAuthors.has(rec.record.author)) continue
      this.emit('record', rec, origin === LOCAL_ORIGIN)
    }
  }

  private convict (author: string): void {
    if (this.convictedAuthors.has(author)) return
    this.convictedAuthors.add(author)
    this.digestSum = undefined
    this.emit('convicted', author)
  }

  /** Whether the record under `key` (`<author>/<id>`) counts: its author is not convicted. */
  private isVisible (key: string): boolean {
    return this.convictedAuthors.size === 0 || !this.convictedAuthors.has(key.slice(0, key.indexOf('/')))
  }

  private onUpdate (update: Uint8Array, origin: unknown): void {
    if (origin === STORE_ORIGIN) return
    const write = this.components.store.append(update)
    this.persisting = this.persisting.then(() => write).catch((err: unknown) => { this.persistError = err })
    if (origin === LOCAL_ORIGIN) this.emit('local-update', update)
  }

  private async flushPersist (): Promise<void> {
    await this.persisting
    if (this.persistError !== undefined) {
      const err = this.persistError
      this.persistError = undefined
      throw err
    }
  }
}
