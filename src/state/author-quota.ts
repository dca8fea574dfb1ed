import type { StoredRecord } from './records.js'

/** Default bytes of records one author without standing may have in a node's doc: 64 MiB. */
export const DEFAULT_MAX_BYTES_PER_AUTHOR = 64 * 1024 * 1024

/** Clients remembered as refused for their author's quota; the oldest go first beyond this. */
const MAX_BLOCKED_CLIENTS = 100_000

/**
 * What one author may store in this node's doc: `maxBytesPerAuthor` of record text unless
 * `exempt` (this node, and peers with standing here). Sync brought valid records without any
 * budget: one identity put 403 MiB of signed records into a victim in 55 s (an outside attack).
 *
 * The refusal is this node's own, so two nodes may hold different parts of an author over its
 * quota: honest authors stay far below it (a heavy author of a 100,000-result swarm holds ~7 MiB),
 * so only the excess of an author flooding the swarm diverges, never what honest nodes agree on.
 * A refused client (a Yjs session) is remembered, and sync requests say it is complete, so peers
 * do not send it again; once its author has standing here it is asked for as usual.
 */
export class AuthorQuota {
  private readonly held = new Map<string, number>()
  /** Refused clients and their authors, oldest first. */
  private readonly blocked = new Map<number, string>()

  constructor (private readonly maxBytesPerAuthor: number, private readonly exempt: (author: string) => boolean) {}

  /** A record of `author` of `bytes` entered the doc. */
  add (author: string, bytes: number): void {
    this.held.set(author, (this.held.get(author) ?? 0) + bytes)
  }

  heldBy (author: string): number {
    return this.held.get(author) ?? 0
  }

  /** Whether `author` may store nothing more here. */
  full (author: string): boolean {
    return this.heldBy(author) >= this.maxBytesPerAuthor && !this.exempt(author)
  }

  /** The first author whose new `records` would take it past its quota, if any. */
  overQuota (records: readonly StoredRecord[]): string | undefined {
    const adding = new Map<string, number>()
    for (const rec of records) adding.set(rec.record.author, (adding.get(rec.record.author) ?? 0) + rec.text.length)
    for (const [author, bytes] of adding) {
      if (this.heldBy(author) + bytes > this.maxBytesPerAuthor && !this.exempt(author)) return author
    }
    return undefined
  }

  /** Remember `author`'s clients among `records` as refused. */
  block (author: string, records: readonly StoredRecord[]): void {
    for (const rec of records) if (rec.record.author === author) this.remember(rec.record.slot.client, author)
  }

  /**
   * The author of `client` when this node takes nothing more of it: the client was refused, or
   * `author` (its bound author, when known) is full. Remembered, so sync requests leave it out.
   */
  refusedAuthor (client: number, author: string | undefined): string | undefined {
    if (this.isBlocked(client)) return this.blocked.get(client)
    if (author === undefined || !this.full(author)) return undefined
    this.remember(client, author)
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

  private remember (client: number, author: string): void {
    this.blocked.delete(client)
    this.blocked.set(client, author)
    for (const oldest of this.blocked.keys()) {
      if (this.blocked.size <= MAX_BLOCKED_CLIENTS) break
      this.blocked.delete(oldest)
    }
  }

  /** The refused clients still held to their authors' quotas. */
  blockedClients (): number[] {
    return [...this.blocked.keys()].filter((client) => this.isBlocked(client))
  }
}
