import type { StoredRecord } from './records.js'

/** Default bytes of records one author without standing may have in a node's doc: 64 MiB. */
export const DEFAULT_MAX_BYTES_PER_AUTHOR = 64 * 1024 * 1024

/**
 * Default sessions (Yjs clients, one per daemon start) one author without standing may have in a
 * node's doc. Each is an entry of every sync request this node sends (~18 bytes): without a bound,
 * an identity's 90,000 one-record sessions pushed the request past its 1 MiB frame and honest peers
 * struck the node out (an outside attack). 1,024 is years of daily restarts, and 18 KiB of request.
 */
export const MAX_SESSIONS_PER_AUTHOR = 1024

/** Authors remembered as refused; past this many the memory starts again (each refusal costs its identity a quota's worth). */
const MAX_REFUSED_AUTHORS = 10_000

/**
 * What one author may store in this node's doc unless `exempt` (this node, and peers with standing
 * here): `maxBytesPerAuthor` of record text in at most `maxSessionsPerAuthor` sessions. Sync
 * brought valid records without any budget: one identity put 403 MiB of signed records into a
 * victim in 55 s (an outside attack).
 *
 * The refusal is this node's own, so two nodes may hold different parts of an author over its
 * quota: honest authors stay far below it (a heavy author of a 100,000-result swarm holds ~7 MiB),
 * so only the excess of an author flooding the swarm diverges, never what honest nodes agree on.
 * Once refused, an author gets nothing more here until it has standing (or the daemon restarts).
 * A session this node holds part of and refuses the rest of is remembered, and sync requests say
 * it is complete, so peers do not send it again: at most the author's session cap of them. A
 * session of a refused author that this node holds nothing of is refused at its binding, before
 * any other signature is checked, and never listed (listing them let an identity push a node's
 * sync request past its frame with 90,000 sessions, an outside attack). Once the author has
 * standing here all of it is asked for as usual.
 */
export class AuthorQuota {
  private readonly held = new Map<string, number>()
  private readonly sessions = new Map<string, number>()
  /** Refused clients this doc holds a part of, and their authors. */
  private readonly blocked = new Map<number, string>()
  /** Authors refused for their quota since start: nothing more of them is taken, not even a small record that would fit. */
  private readonly refused = new Set<string>()

  constructor (private readonly maxBytesPerAuthor: number, private readonly maxSessionsPerAuthor: number, private readonly exempt: (author: string) => boolean) {}

  /** A record of `author` of `bytes` entered the doc; `opensSession` for a binding. */
  add (author: string, bytes: number, opensSession: boolean): void {
    this.held.set(author, (this.held.get(author) ?? 0) + bytes)
    if (opensSession) this.sessions.set(author, (this.sessions.get(author) ?? 0) + 1)
  }

  heldBy (author: string): number {
    return this.held.get(author) ?? 0
  }

  /** Whether `author` may store nothing more here: not a byte, nor another session. */
  full (author: string): boolean {
    return (this.refused.has(author) || this.heldBy(author) >= this.maxBytesPerAuthor) && !this.exempt(author)
  }

  /** Whether `author` may open no further session here. */
  sessionsFull (author: string): boolean {
    return (this.refused.has(author) || (this.sessions.get(author) ?? 0) >= this.maxSessionsPerAuthor) && !this.exempt(author)
  }

  /** The first author whose new `records` would take it past its bytes or its sessions, if any. */
  overQuota (records: readonly StoredRecord[]): string | undefined {
    const adding = new Map<string, { bytes: number, sessions: number }>()
    for (const rec of records) {
      const sum = adding.get(rec.record.author) ?? { bytes: 0, sessions: 0 }
      sum.bytes += rec.text.length
      if (rec.record.kind === 'binding') sum.sessions++
      adding.set(rec.record.author, sum)
    }
    for (const [author, { bytes, sessions }] of adding) {
      if (this.exempt(author)) continue
      if (this.heldBy(author) + bytes > this.maxBytesPerAuthor || (this.sessions.get(author) ?? 0) + sessions > this.maxSessionsPerAuthor) return author
    }
    return undefined
  }

  /** Remember the clients of `author` among `records` that this doc holds part of (`held`) as refused. */
  block (author: string, records: readonly StoredRecord[], held: (client: number) => boolean): void {
    if (this.refused.size >= MAX_REFUSED_AUTHORS) this.refused.clear()
    this.refused.add(author)
    for (const rec of records) if (rec.record.author === author && held(rec.record.slot.client)) this.blocked.set(rec.record.slot.client, author)
  }

  /**
   * The author of `client` when this node takes nothing more of it: the client was refused, or
   * `author` (its bound author, when known) is full; such a client this doc holds is remembered.
   */
  refusedAuthor (client: number, author: string | undefined): string | undefined {
    if (this.isBlocked(client)) return this.blocked.get(client)
    if (author === undefined || !this.full(author)) return undefined
    this.blocked.set(client, author)
    return author
  }

  /** Whether `client` was refused and its author is still held to its quota (one that gained standing is released). */
  isBlocked (client: number): boolean {
    const author = this.blocked.get(client)
    if (author === undefined) return false
    if (!this.exempt(author)) return true
    this.blocked.delete(client)
    return false
  }

  /** The refused clients still held to their authors' quotas. */
  blockedClients (): number[] {
    return [...this.blocked.keys()].filter((client) => this.isBlocked(client))
  }
}
