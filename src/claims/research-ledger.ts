import { DEFAULTS } from '../config/defaults.js'
import { CLAIM_LIFE_TTLS, DEFAULT_CLAIM_TTL_BOUND } from './claim-limits.js'
import { deltaKey } from './dedup.js'
import type { DedupEntry } from './dedup.js'
import type { ClaimBody, HeartbeatBody, ReleaseBody, ResultBody, VerificationBody } from '../state/record-kinds.js'
import type { StoredRecord } from '../state/records.js'
import type { SwarmState } from '../state/swarm-state.js'
import type { Clock } from '../util/clock.js'

/** Where a claim stands, derived from the records that reference it (DESIGN §4). */
export type ClaimStatus = 'active' | 'expired' | 'released' | 'finished'

/** The statuses a claim's own records end it in, for good. */
type EndedStatus = Extract<ClaimStatus, 'released' | 'finished'>

export interface ClaimEntry {
  id: string
  author: string
  createdAt: number
  body: ClaimBody
}

export interface ResultEntry {
  id: string
  author: string
  createdAt: number
  body: ResultBody
}

export interface VerificationEntry {
  id: string
  author: string
  createdAt: number
  body: VerificationBody
}

/** A claim, result or verification as this node took it in. */
export type Arrival = { kind: 'result', entry: ResultEntry } | { kind: 'verification', entry: VerificationEntry } | { kind: 'claim', entry: ClaimEntry }

/**
 * The order every node agrees on: earlier createdAt first, then author, then id. The settle
 * decision uses a local variant of it (`ResearchLedger.placeOf`), where a claim that arrived late
 * takes its arrival time for createdAt.
 */
export interface Precedence { createdAt: number, author: string, id: string }

export function precedes (a: Precedence, b: Precedence): boolean {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt
  if (a.author !== b.author) return a.author < b.author
  return a.id < b.id
}

const parentKey = (parent: string | null): string => parent ?? '-'

/** Active claims per author that count against others (config `maxActiveClaimsPerPeer`). */
export const DEFAULT_MAX_ACTIVE_CLAIMS = DEFAULTS.maxActiveClaimsPerPeer

export interface ResearchLedgerOptions {
  /**
   * Claims one author may hold at once that count against others. Beyond it (claim squatting:
   * claiming everything so nobody else may run it) the author's later active claims are ignored
   * by the dedup check on every node alike; its own work is not stopped. Default
   * `DEFAULTS.maxActiveClaimsPerPeer` (16).
   */
  maxActivePerAuthor?: number
  /**
   * Active claims of authors without standing that count against others, all of them together
   * (a fresh key does not reset it). Default `DEFAULTS.maxActiveClaimsWithoutStanding` (64).
   */
  maxActiveWithoutStanding?: number
  /** The longest ttl a claim gets, whatever its body asks (ms). Default: the longest profile's bound (28.5 min). */
  maxTtlMs?: number
  /** The longest a claim lives from its createdAt, heartbeats included (ms). Default `CLAIM_LIFE_TTLS` x `maxTtlMs`. */
  maxLifeMs?: number
  /**
   * A claim or result that arrives more than this after its own createdAt (ms) takes its place in
   * the settle decision from its arrival (`placeOf`). Default `DEFAULTS.claimMaxLagMs` (500).
   */
  maxLagMs?: number
  /**
   * When records arrive. Without it a record counts as seen at its own createdAt: no record is
   * ever late (the ledger of a test or bench that replays a history).
   */
  clock?: Clock
  /**
   * Whether an author has standing on this node (src/trust: a result of theirs reproduced). The
   * daemon answers from its trust ledger; it may only change when `revision` does. Default: only
   * this node itself.
   */
  hasStanding?: (author: string) => boolean
}

/** Which active claims count against others, and each one's place among its author's. */
interface Counting {
  revision: number
  second: number
  /** claim id → its place among its author's active claims (0: the earliest). */
  ranks: Map<string, number>
  /** Active claims that block others' claims of the same experiment. */
  counted: Set<string>
}

/**
 * The read model of one swarm's research: an index over its claims, heartbeats, releases, results
 * and verifications, kept up to date from the state's record events. Everything that reads them
 * reads them here (the claim book, trust, the research loop, the API), so nothing scans the whole
 * history: exact matches by code hash, structured matches by parent + delta, semantic candidates
 * by parent, results per claim, claims per hypothesis.
 *
 * Heartbeats, releases and results only count when written by the claim's author, and may
 * arrive before the claim they name (records from different authors come in any order).
 */
export class ResearchLedger {
  private readonly claims = new Map<string, ClaimEntry>()
  private readonly results = new Map<string, ResultEntry>()
  /** claim id → author → heartbeat times, ascending. */
  private readonly beats = new Map<string, Map<string, number[]>>()
  /** claim id → author → why it was released. */
  private readonly releases = new Map<string, Map<string, ReleaseBody['reason']>>()
  private readonly verifications = new Map<string, VerificationEntry>()
  /** claim id → verifications that name it (a verification run's outcome). */
  private readonly verificationsOfClaim = new Map<string, VerificationEntry[]>()
  /** result id → verifications of it, and claims to verify it. */
  private readonly verificationsOfResult = new Map<string, VerificationEntry[]>()
  private readonly verifyClaims = new Map<string, ClaimEntry[]>()
  /** claim id → results that name it. */
  private readonly resultsOfClaim = new Map<string, ResultEntry[]>()
  /** hypothesis id → claims that test it. */
  private readonly byHypothesis = new Map<string, ClaimEntry[]>()
  private readonly byCode = new Map<string, DedupEntry[]>()
  private readonly byDelta = new Map<string, DedupEntry[]>()
  private readonly byParent = new Map<string, DedupEntry[]>()
  /** claim or result id → when this node first held it (local by design: never compared across nodes). */
  private readonly seen = new Map<string, number>()
  /**
   * Claims without an outcome by their author (no result, own verification or release): the only
   * ones whose status moves with the clock, so what counts or lists active claims walks these,
   * not the history. The ended ones are counted as they end.
   */
  private readonly open = new Set<string>()
  /**
   * Claims without an outcome that passed their life (`maxLifeMs`) by `lapsedAsOf`: expired for
   * good, whatever heartbeat comes. Moved out of `open` once a second, so the walks stay over the
   * claims that may still be active (a daemon killed mid-run leaves one behind for ever).
   */
  private readonly lapsed = new Set<string>()
  private lapsedAsOf = -Infinity
  private readonly outcomes = new Map<string, EndedStatus>()
  private readonly endedCounts: Record<EndedStatus, number> = { finished: 0, released: 0 }
  private readonly onRecord = (rec: StoredRecord): void => { this.add(rec, this.clock?.now() ?? rec.record.createdAt) }
  // Evidence of an equivocation hides its author's records (src/state/equivocation.ts): the views recompute.
  private readonly onConvicted = (): void => { this.claimsAndResults++; this.resultsRevision++; this.convictionCount++ }
  private claimsAndResults = 0
  /** Grows when a result enters or a conviction hides some: the sorted results are kept until then. */
  private resultsRevision = 0
  private sortedResults: { revision: number, entries: ResultEntry[] } | undefined
  private convictionCount = 0
  /** Claims, and results and verifications of this harness, in the order this node took them in (trust and duplicate marks feed on it). */
  private readonly arrivals: Arrival[] = []
  private counting: Counting | undefined

  readonly maxActivePerAuthor: number
  readonly maxActiveWithoutStanding: number
  readonly maxTtlMs: number
  readonly maxLifeMs: number
  readonly maxLagMs: number
  private readonly clock: Clock | undefined
  private readonly standing: (author: string) => boolean

  constructor (private readonly state: SwarmState, private readonly harness: string, options: ResearchLedgerOptions = {}) {
    this.maxActivePerAuthor = options.maxActivePerAuthor ?? DEFAULT_MAX_ACTIVE_CLAIMS
    this.maxActiveWithoutStanding = options.maxActiveWithoutStanding ?? DEFAULTS.maxActiveClaimsWithoutStanding
    this.maxTtlMs = options.maxTtlMs ?? DEFAULT_CLAIM_TTL_BOUND
    this.maxLifeMs = options.maxLifeMs ?? CLAIM_LIFE_TTLS * this.maxTtlMs
    this.maxLagMs = options.maxLagMs ?? DEFAULTS.claimMaxLagMs
    this.clock = options.clock
    const self = state.peerId
    this.standing = options.hasStanding ?? ((author) => author === self)
    // Records from disk: when they first arrived is lost, their own date stands in for it.
    for (const kind of ['claim', 'heartbeat', 'release', 'result', 'verification'] as const) {
      for (const rec of state.list(kind)) this.add(rec, rec.record.createdAt)
    }
    state.on('record', this.onRecord)
    state.on('convicted', this.onConvicted)
  }

  /** Grows whenever a claim or result enters the index: derived views (duplicate marks) recompute when it changes. */
  get revision (): number { return this.claimsAndResults }

  /** Grows whenever evidence convicts an author of equivocation: views over its records start again without them. */
  get convictions (): number { return this.convictionCount }

  /**
   * Claims, and results and verifications of this harness, from position `from` of the order this
   * node took them in (records from disk first, kind by kind), convicted authors' included: what
   * an incremental view (src/trust, duplicate marks) feeds on, each record once.
   */
  arrivalsSince (from: number): readonly Arrival[] {
    return from >= this.arrivals.length ? [] : this.arrivals.slice(from)
  }

  /** How many records `arrivalsSince` has taken in: where a view that starts now begins. */
  get arrivalCount (): number { return this.arrivals.length }

  /** Whether evidence of equivocation hides `author`'s records. */
  isConvicted (author: string): boolean {
    return this.state.isConvicted(author)
  }

  close (): void {
    this.state.off('record', this.onRecord)
    this.state.off('convicted', this.onConvicted)
  }

  claim (id: string): ClaimEntry | undefined {
    return this.claims.get(id)
  }

  result (id: string): ResultEntry | undefined {
    return this.results.get(id)
  }

  /**
   * A new result into the sorted results, where they are kept: results mostly arrive in order, so
   * this is a search and a short move, not a sort of 100,000 per result.
   */
  private keepSorted (entry: ResultEntry): void {
    const sorted = this.sortedResults
    const kept = sorted?.revision === this.resultsRevision
    this.resultsRevision++
    if (!kept || sorted === undefined) return
    if (!this.state.isConvicted(entry.author)) sorted.entries.splice(precedenceIndex(sorted.entries, entry), 0, entry)
    sorted.revision = this.resultsRevision
  }

  /**
   * Results of this harness, oldest first (a copy: the caller may reorder it). Sorted once per
   * change of the index, not per call: the status page and the API page through 100,000 of them.
   */
  allResults (): ResultEntry[] {
    if (this.sortedResults?.revision !== this.resultsRevision) {
      const entries = [...this.results.values()].filter((e) => !this.state.isConvicted(e.author)).sort((a, b) => (precedes(a, b) ? -1 : 1))
      this.sortedResults = { revision: this.resultsRevision, entries }
    }
    return this.sortedResults.entries.slice()
  }

  allClaims (): ClaimEntry[] {
    return [...this.claims.values()].filter((e) => !this.state.isConvicted(e.author)).sort((a, b) => (precedes(a, b) ? -1 : 1))
  }

  /** The claims active at `now`, oldest first: a walk over the claims without an outcome, not the history. */
  activeClaims (now: number): ClaimEntry[] {
    const active: ClaimEntry[] = []
    for (const claim of this.undecided(now)) {
      if (!this.state.isConvicted(claim.author) && now < this.expiresAt(claim)) active.push(claim)
    }
    return active.sort((a, b) => (precedes(a, b) ? -1 : 1))
  }

  /**
   * The claims without an outcome whose status at `now` depends on the clock: `open` once claims
   * past their life are swept out (at most once a second), and the lapsed ones too for a `now`
   * before the last sweep.
   */
  private * undecided (now: number): Generator<ClaimEntry> {
    if (now >= this.lapsedAsOf + 1_000) {
      for (const id of this.open) {
        const claim = this.claims.get(id)!
        if (claim.createdAt + this.maxLifeMs > now) continue
        this.open.delete(id)
        this.lapsed.add(id)
      }
      this.lapsedAsOf = now
    }
    for (const id of this.open) yield this.claims.get(id)!
    if (now < this.lapsedAsOf) for (const id of this.lapsed) yield this.claims.get(id)!
  }

  /** How many claims stand where at `now` (convicted authors' left out). */
  statusCounts (now: number): Record<ClaimStatus, number> {
    const counts: Record<ClaimStatus, number> = { active: 0, expired: 0, ...this.endedCounts }
    if (this.convictionCount > 0) {
      // Rare: evidence hid an author's claims; count them out the slow way.
      counts.finished = 0
      counts.released = 0
      for (const claim of this.claims.values()) if (!this.state.isConvicted(claim.author) && this.outcomes.has(claim.id)) counts[this.outcomes.get(claim.id)!]++
    }
    for (const claim of this.undecided(now)) {
      if (!this.state.isConvicted(claim.author)) counts[now >= this.expiresAt(claim) ? 'expired' : 'active']++
    }
    // Past their life by the last sweep, and so at any later time.
    if (now >= this.lapsedAsOf) for (const id of this.lapsed) if (!this.state.isConvicted(this.claims.get(id)!.author)) counts.expired++
    return counts
  }

  /** Verifications of this harness, oldest first. */
  allVerifications (): VerificationEntry[] {
    return [...this.verifications.values()].filter((e) => !this.state.isConvicted(e.author)).sort((a, b) => (precedes(a, b) ? -1 : 1))
  }

  /** The results its author published for a claim. */
  resultsOf (claim: ClaimEntry): ResultEntry[] {
    return (this.resultsOfClaim.get(claim.id) ?? []).filter((r) => r.author === claim.author)
  }

  /** The verifications published of a result, and the claims taken to verify it (whatever their status). */
  verificationWork (resultId: string): { verifications: readonly VerificationEntry[], claims: readonly ClaimEntry[] } {
    const live = <T extends { author: string }>(entries: readonly T[] | undefined): T[] => (entries ?? []).filter((e) => !this.state.isConvicted(e.author))
    return { verifications: live(this.verificationsOfResult.get(resultId)), claims: live(this.verifyClaims.get(resultId)) }
  }

  /** The claims that test a hypothesis. */
  claimsFor (hypothesisId: string): ClaimEntry[] {
    return this.byHypothesis.get(hypothesisId) ?? []
  }

  /** The ttl a claim really gets: what its body asks, at most `maxTtlMs` (a copycat's 24 h becomes minutes). */
  ttlOf (claim: ClaimEntry): number {
    return Math.min(claim.body.ttlMs, this.maxTtlMs)
  }

  /**
   * When the claim stops counting without another heartbeat. A heartbeat dated after the claim
   * had already expired does not revive it: by then someone else may have claimed the experiment.
   * However often it beats, a claim ends `maxLifeMs` after its createdAt. All of it from signed
   * dates and shared bounds: every node computes the same expiry.
   */
  expiresAt (claim: ClaimEntry): number {
    const ttl = this.ttlOf(claim)
    let expiry = claim.createdAt + ttl
    for (const at of this.beats.get(claim.id)?.get(claim.author) ?? []) {
      if (at >= expiry) break
      expiry = Math.max(expiry, at + ttl)
    }
    return Math.min(expiry, claim.createdAt + this.maxLifeMs)
  }

  releaseReason (claim: ClaimEntry): ReleaseBody['reason'] | undefined {
    return this.releases.get(claim.id)?.get(claim.author)
  }

  status (claim: ClaimEntry, now: number): ClaimStatus {
    const ended = this.open.has(claim.id) || this.lapsed.has(claim.id) ? undefined : this.outcomes.get(claim.id) ?? this.outcomeOf(claim)
    if (ended !== undefined) return ended
    return now >= this.expiresAt(claim) ? 'expired' : 'active'
  }

  /** How a claim ended by its author's records, whatever the time: a result or its own re-run's verification, else a release. */
  private outcomeOf (claim: ClaimEntry): EndedStatus | undefined {
    if (this.resultsOf(claim).length > 0) return 'finished'
    if ((this.verificationsOfClaim.get(claim.id) ?? []).some((v) => v.author === claim.author)) return 'finished'
    if (this.releaseReason(claim) !== undefined) return 'released'
    return undefined
  }

  /** Keep `open`, `outcomes` and the ended counts in step after a record that names `claimId` arrived (in any order). */
  private refreshOutcome (claimId: string): void {
    const claim = this.claims.get(claimId)
    if (claim === undefined) return
    const before = this.outcomes.get(claimId)
    const after = this.outcomeOf(claim)
    if (before === after && (after !== undefined || this.open.has(claimId) || this.lapsed.has(claimId))) return
    if (before !== undefined) this.endedCounts[before]--
    if (after === undefined) {
      this.outcomes.delete(claimId)
      this.open.add(claimId)
    } else {
      this.outcomes.set(claimId, after)
      this.endedCounts[after]++
      this.open.delete(claimId)
      this.lapsed.delete(claimId)
    }
  }

  /**
   * The precedence of a result: its claim's, when the claim is known and by the same author (a
   * result is its claim's outcome; a result naming someone else's claim borrows nothing from it).
   */
  precedenceOf (entry: DedupEntry): Precedence {
    if (entry.kind === 'result') {
      const result = this.results.get(entry.id)
      const claim = result === undefined ? undefined : this.claims.get(result.body.claimId)
      if (claim !== undefined && claim.author === result?.author) return claim
      return result ?? { createdAt: 0, author: entry.author, id: entry.id }
    }
    return this.claims.get(entry.id) ?? { createdAt: 0, author: entry.author, id: entry.id }
  }

  /** When this node first held a claim or result (its createdAt for records it loaded from disk); undefined when unknown. */
  firstSeen (id: string): number | undefined {
    return this.seen.get(id)
  }

  /** Whether `author` has standing on this node (a result of theirs reproduced; this node itself). */
  hasStanding (author: string): boolean {
    return this.standing(author)
  }

  /**
   * The place of a claim or result in this node's settle decision: its precedence, except that a
   * record that reached this node more than `maxLagMs` after its own date takes its arrival time
   * for createdAt. A copycat that saw a claim on gossip and re-dated it earlier arrives late by
   * at least what it took off, so it never beats a claim this node already held; an honest racer
   * arrives within the gossip delay. Local by design: two nodes that saw a record at different
   * times place it differently, which is why only the claimant's own yield uses it, never what
   * nodes must agree on (`precedenceOf`, expiry, which claims count).
   */
  placeOf (entry: Pick<DedupEntry, 'kind' | 'id' | 'author'>): Precedence {
    const at = (p: Precedence): Precedence => {
      const seen = this.seen.get(p.id)
      const late = seen !== undefined && seen - p.createdAt > this.maxLagMs
      return { createdAt: late ? seen : p.createdAt, author: p.author, id: p.id }
    }
    if (entry.kind === 'result') {
      const result = this.results.get(entry.id)
      const claim = result === undefined ? undefined : this.claims.get(result.body.claimId)
      // As in `precedenceOf`: a result is its claim's outcome and takes the claim's place (a late result of an early claim is still early).
      if (claim !== undefined && claim.author === result?.author) return at(claim)
      return result === undefined ? { createdAt: 0, author: entry.author, id: entry.id } : at(result)
    }
    const claim = this.claims.get(entry.id)
    return claim === undefined ? { createdAt: 0, author: entry.author, id: entry.id } : at(claim)
  }

  /** Dedup candidates with this code hash (finished results and claims; callers filter by status). */
  withCode (codeHash: string): DedupEntry[] { return this.byCode.get(codeHash) ?? [] }
  /** Dedup candidates with the same change on the same parent. */
  withDelta (parent: string | null, delta: ClaimBody['delta']): DedupEntry[] { return this.byDelta.get(`${parentKey(parent)} ${deltaKey(delta)}`) ?? [] }
  /** Dedup candidates on this parent (for the semantic layer). */
  onParent (parent: string | null): DedupEntry[] { return this.byParent.get(parentKey(parent)) ?? [] }

  /**
   * Whether a dedup entry still stands for work the swarm did or is doing: every result
   * (a result that arrived after its claim expired is still kept), and claims that are active.
   */
  live (entry: DedupEntry, now: number): boolean {
    if (this.state.isConvicted(entry.author)) return false
    if (entry.kind === 'result') return true
    const claim = this.claims.get(entry.id)
    return claim !== undefined && this.blocks(claim, now)
  }

  /**
   * Whether an active claim counts against others: within its author's limit and, for an author
   * without standing, within the shared pool. What a claim that does not count says (a
   * hypothesis claimed, an experiment taken) is ignored everywhere alike.
   */
  blocks (claim: ClaimEntry, now: number): boolean {
    return this.status(claim, now) === 'active' && this.countingAt(now).counted.has(claim.id)
  }

  /**
   * Whether a claim to verify a result holds one of its verification slots: active, and among its
   * author's earliest `maxActivePerAuthor` active claims (a squatter's extra claims hold nothing).
   */
  holdsVerifySlot (claim: ClaimEntry, now: number): boolean {
    if (claim.body.verifies === undefined || this.state.isConvicted(claim.author)) return false
    const rank = this.countingAt(now).ranks.get(claim.id)
    return rank !== undefined && rank < this.maxActivePerAuthor
  }

  /** Authors holding more active claims than count against others (claim squatting). */
  squatters (now: number): Set<string> {
    const out = new Set<string>()
    for (const [id, rank] of this.countingAt(now).ranks) if (rank >= this.maxActivePerAuthor) out.add(this.claims.get(id)!.author)
    return out
  }

  /**
   * Which active claims count against others. Each author's earliest `maxActivePerAuthor`, by
   * precedence (the same on every node); of those, an author without standing counts only within
   * one pool of `maxActiveWithoutStanding` that all such authors share, so twenty fresh keys
   * block no more than one pool. The pool takes every author's first claim before anyone's second,
   * then earlier places first (`placeOf`: a claim backdated on arrival gains nothing). Standing and
   * places are this node's, so nodes may disagree on which pooled claims count when the pool is
   * full; the cost is a duplicate run, never a stolen experiment, and a pool that is not full
   * counts every claim alike. One pass over the claims, redone when claims, results or releases
   * arrive and at most once a second as claims expire (a claim that expired within the last
   * second may still count: harmless).
   */
  private countingAt (now: number): Counting {
    const second = Math.floor(now / 1000)
    if (this.counting?.revision === this.revision && this.counting.second === second) return this.counting
    const perAuthor = new Map<string, number>()
    const ranks = new Map<string, number>()
    const counted = new Set<string>()
    const pool: Array<{ claim: ClaimEntry, rank: number, place: Precedence }> = []
    const standing = new Map<string, boolean>()
    for (const claim of this.activeClaims(now)) {
      const rank = perAuthor.get(claim.author) ?? 0
      ranks.set(claim.id, rank)
      perAuthor.set(claim.author, rank + 1)
      if (rank >= this.maxActivePerAuthor) continue
      let has = standing.get(claim.author)
      if (has === undefined) standing.set(claim.author, has = this.standing(claim.author))
      if (has) counted.add(claim.id)
      // A verification run blocks nothing: it takes no place in the pool.
      else if (claim.body.verifies === undefined) pool.push({ claim, rank, place: this.placeOf({ kind: 'claim', id: claim.id, author: claim.author }) })
    }
    pool.sort((a, b) => a.rank - b.rank || (precedes(a.place, b.place) ? -1 : 1))
    for (const { claim } of pool.slice(0, this.maxActiveWithoutStanding)) counted.add(claim.id)
    this.counting = { revision: this.revision, second, ranks, counted }
    return this.counting
  }

  private add (rec: StoredRecord, seenAt: number): void {
    const { record } = rec
    if (record.kind === 'claim') {
      if (this.claims.has(rec.id)) return
      const entry: ClaimEntry = { id: rec.id, author: record.author, createdAt: record.createdAt, body: record.body as ClaimBody }
      this.claims.set(rec.id, entry)
      this.arrivals.push({ kind: 'claim', entry })
      this.seen.set(rec.id, seenAt)
      this.claimsAndResults++
      this.refreshOutcome(rec.id)
      if (entry.body.hypothesis !== undefined) push(this.byHypothesis, entry.body.hypothesis, entry)
      // A verification re-runs a finished result: it repeats nothing and blocks no experiment.
      if (entry.body.verifies !== undefined) return push(this.verifyClaims, entry.body.verifies, entry)
      this.index({ kind: 'claim', id: rec.id, author: record.author, description: entry.body.description, codeHash: entry.body.codeHash, parent: entry.body.parent, delta: entry.body.delta, change: entry.body.change })
    } else if (record.kind === 'heartbeat') {
      const claimId = (record.body as HeartbeatBody).claim
      const byAuthor = this.beats.get(claimId) ?? new Map<string, number[]>()
      const times = byAuthor.get(record.author) ?? []
      times.splice(sortedIndex(times, record.createdAt), 0, record.createdAt)
      byAuthor.set(record.author, times)
      this.beats.set(claimId, byAuthor)
    } else if (record.kind === 'release') {
      const body = record.body as ReleaseBody
      const byAuthor = this.releases.get(body.claim) ?? new Map<string, ReleaseBody['reason']>()
      if (!byAuthor.has(record.author)) byAuthor.set(record.author, body.reason)
      this.releases.set(body.claim, byAuthor)
      this.claimsAndResults++
      this.refreshOutcome(body.claim)
    } else if (record.kind === 'result') {
      const body = record.body as ResultBody
      if (body.harness !== this.harness || this.results.has(rec.id)) return
      const entry: ResultEntry = { id: rec.id, author: record.author, createdAt: record.createdAt, body }
      this.results.set(rec.id, entry)
      this.arrivals.push({ kind: 'result', entry })
      this.seen.set(rec.id, seenAt)
      this.claimsAndResults++
      this.keepSorted(entry)
      const siblings = this.resultsOfClaim.get(body.claimId) ?? []
      siblings.push(entry)
      this.resultsOfClaim.set(body.claimId, siblings)
      this.refreshOutcome(body.claimId)
      this.index({ kind: 'result', id: rec.id, author: record.author, description: body.description, codeHash: body.codeHash, parent: body.parent, delta: body.delta, change: body.change })
    } else if (record.kind === 'verification') {
      const body = record.body as VerificationBody
      if (body.harness !== this.harness || this.verifications.has(rec.id)) return
      const entry: VerificationEntry = { id: rec.id, author: record.author, createdAt: record.createdAt, body }
      this.verifications.set(rec.id, entry)
      this.arrivals.push({ kind: 'verification', entry })
      this.claimsAndResults++
      push(this.verificationsOfClaim, body.claimId, entry)
      push(this.verificationsOfResult, body.result, entry)
      this.refreshOutcome(body.claimId)
    }
  }

  private index (entry: DedupEntry): void {
    if (entry.codeHash !== null) push(this.byCode, entry.codeHash, entry)
    if (entry.delta.length > 0) push(this.byDelta, `${parentKey(entry.parent)} ${deltaKey(entry.delta)}`, entry)
    push(this.byParent, parentKey(entry.parent), entry)
  }
}

/** Where `entry` goes in `sorted` (oldest first, by `precedes`): after every entry that precedes it. */
function precedenceIndex (sorted: readonly Precedence[], entry: Precedence): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (precedes(sorted[mid]!, entry)) lo = mid + 1
    else hi = mid
  }
  return lo
}

function sortedIndex (sorted: number[], value: number): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! <= value) lo = mid + 1
    else hi = mid
  }
  return lo
}

function push<V> (map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}
