import { setTimeout as sleep } from 'node:timers/promises'
import { DEFAULTS } from '../config/defaults.js'
import { changesCode, sameCodeChange } from '../source/code-change.js'
import { SwarmdError } from '../util/errors.js'
import { deltaKey } from './dedup.js'
import { precedes } from './research-ledger.js'
import type { DedupEntry } from './dedup.js'
import type { ClaimEntry, ResearchLedger, Precedence, ResultEntry } from './research-ledger.js'
import type { SemanticDedup } from './semantic.js'
import type { CodeChange } from '../source/code-change.js'
import type { ClaimBody, DeltaEntry, ReleaseBody, Tier } from '../state/record-kinds.js'
import type { SwarmState } from '../state/swarm-state.js'
import type { Clock } from '../util/clock.js'

/** A proposed experiment as the dedup pipeline sees it. */
export interface ClaimCandidate {
  description: string
  /** sha256 of the candidate train.py; null when the idea is claimed before the code exists. */
  codeHash: string | null
  parent: string | null
  delta: DeltaEntry[]
  /** What the code does beyond the delta (src/source/code-change.ts); undefined before the code exists. */
  change?: CodeChange
}

export interface ClaimRequest extends ClaimCandidate {
  tier: Tier
  ttlMs: number
  hypothesis?: string
  /** A verification run: the result it re-runs. */
  verifies?: string
}

export type DedupLayer = 'exact' | 'structured' | 'code' | 'semantic'

/** Why a candidate is refused: the layer that matched, what it matched, and the cosine for the semantic layer. */
export interface DuplicateHit {
  layer: DedupLayer
  conflict: DedupEntry
  score?: number
}

export type ClaimOutcome = { claimed: ClaimEntry } | { duplicate: DuplicateHit }
/** A claim whose caller judges the grey band: it may also repeat these, and the caller must say it is distinct from each. */
export type JudgedClaimOutcome = ClaimOutcome | { uncertain: DuplicateHit[] }

export interface DuplicateCheckOptions {
  /** A claim (and its results) to leave out: the candidate's own. */
  ignore?: string
  /**
   * Only entries placed earlier than this count (the settle rule), by this node's `placeOf`: a
   * record that arrived long after its own date is placed at its arrival.
   */
  before?: Precedence
  /** Only entries this accepts count (after every other test). */
  accept?: (entry: DedupEntry) => boolean
  /** Which layers run. Default all three. */
  layers?: readonly DedupLayer[]
  /** Compare against active claims only, not finished results (a weaker policy, for comparison). */
  activeClaimsOnly?: boolean
  /**
   * The caller judges the semantic grey band itself (an agent through the API): pairs there are
   * not decided by the cosine but collected as `uncertain`, except those it already said it is
   * distinct from.
   */
  grey?: { distinctFrom: ReadonlySet<string> }
}

/** A result that repeats an earlier one, found after the fact (e.g. both sides of a partition ran it). */
export interface DuplicateMark {
  of: string
  layer: DedupLayer
  score?: number
}

export interface ClaimBookComponents {
  state: SwarmState
  ledger: ResearchLedger
  clock: Clock
  /** The semantic layer; without it only the exact and structured layers run. */
  semantic?: SemanticDedup
  /** Told when the semantic layer fails (e.g. the model cannot load); the check then goes on without it. */
  onSemanticError?: (err: unknown) => void
}

export interface ClaimBookInit {
  /**
   * How long a new claim waits before it counts: long enough for a racing claim made elsewhere
   * to arrive (a few times the measured gossip p99), after which the earlier claim wins.
   */
  settleMs: number
  /** Code of reference runs (the harness's default train.py): every node runs those, never duplicates. */
  referenceCodeHashes?: ReadonlySet<string>
  /**
   * Times an hour a new claim of this node yields to a racing claim (or result) by an author
   * without standing that arrived after it was written, all such authors together. Default
   * `DEFAULTS.claimRaceYieldsPerHour` (10).
   */
  raceYieldsPerHour?: number
}

const HOUR_MS = 3600_000

const ALL_LAYERS: readonly DedupLayer[] = ['exact', 'structured', 'code', 'semantic']

/** Whether two entries' code does the same beyond their delta, as far as known (unknown: nothing says otherwise). */
function sameBeyondDelta (a: CodeChange | undefined, b: CodeChange | undefined): boolean {
  return a === undefined || b === undefined || sameCodeChange(a, b).same
}

/**
 * Claims, the swarm's first primitive (DESIGN §4): a claim is refused when the same experiment
 * (identical code, the same change on the same parent, or the same idea in other words) is
 * running or finished anywhere; after the settle window the earlier of two racing claims wins,
 * the same decision on every node; heartbeats keep a claim alive and release gives it up.
 */
export class ClaimBook {
  private readonly dupMarks: DuplicateMarks
  /** The mark update under way: reads wait for it, one update at a time. */
  private marking: Promise<void> = Promise.resolve()
  /** When this node's claims yielded to a race won by an author without standing, oldest first (the last hour). */
  private readonly raceYields: number[] = []

  constructor (private readonly components: ClaimBookComponents, private readonly init: ClaimBookInit) {
    this.dupMarks = new DuplicateMarks(components, (entry) => this.isReference(entry))
  }

  get ledger (): ResearchLedger { return this.components.ledger }
  get settleMs (): number { return this.init.settleMs }

  /** The first live claim or result the candidate repeats, if any. */
  async findDuplicate (candidate: ClaimCandidate, options: DuplicateCheckOptions = {}): Promise<DuplicateHit | undefined> {
    return (await this.scan(candidate, options)).hit
  }

  /** The first clear duplicate, and (with `options.grey`) the grey-band candidates, most similar first. */
  private async scan (candidate: ClaimCandidate, options: DuplicateCheckOptions): Promise<{ hit?: DuplicateHit, uncertain: DuplicateHit[] }> {
    const { ledger, clock, semantic } = this.components
    const now = clock.now()
    const layers = options.layers ?? ALL_LAYERS
    const counts = (entry: DedupEntry): boolean => {
      if (entry.kind === 'claim' && entry.id === options.ignore) return false
      if (entry.kind === 'result' && options.ignore !== undefined && ledger.result(entry.id)?.body.claimId === options.ignore) return false
      if (options.activeClaimsOnly === true && entry.kind !== 'claim') return false
      if (!ledger.live(entry, now)) return false
      if (options.before !== undefined && !precedes(ledger.placeOf(entry), options.before)) return false
      return options.accept === undefined || options.accept(entry)
    }
    const uncertain: DuplicateHit[] = []
    if (layers.includes('exact') && candidate.codeHash !== null) {
      const conflict = ledger.withCode(candidate.codeHash).find(counts)
      if (conflict !== undefined) return { hit: { layer: 'exact', conflict }, uncertain }
    }
    if (layers.includes('structured') && candidate.delta.length > 0) {
      // The same constants changed on the same parent, unless one also changes code the other does not.
      const conflict = ledger.withDelta(candidate.parent, candidate.delta).find((entry) => counts(entry) && sameBeyondDelta(candidate.change, entry.change))
      if (conflict !== undefined) return { hit: { layer: 'structured', conflict }, uncertain }
    }
    const change = candidate.change
    if (layers.includes('code') && change !== undefined && changesCode(change)) {
      // The same edit of the code written another way (with the same constant changes, if any).
      const key = deltaKey(candidate.delta)
      for (const entry of ledger.onParent(candidate.parent)) {
        if (entry.change === undefined || !changesCode(entry.change) || deltaKey(entry.delta) !== key || !counts(entry) || this.isReference(entry)) continue
        const { same, score } = sameCodeChange(change, entry.change)
        if (same) return { hit: { layer: 'code', conflict: entry, score }, uncertain }
      }
    }
    if (layers.includes('semantic') && semantic !== undefined) {
      try {
        // Two concrete changes that differ are different experiments, however alike their words.
        const comparable = ledger.onParent(candidate.parent).filter((entry) => counts(entry) && !this.isReference(entry) &&
          !(candidate.delta.length > 0 && entry.delta.length > 0 && deltaKey(candidate.delta) !== deltaKey(entry.delta)))
        await semantic.prepare([candidate.description, ...comparable.map((e) => e.description)])
        for (const entry of comparable) {
          const verdict = await semantic.compare(candidate.description, entry.description, { a: targetsOf(candidate.delta), b: targetsOf(entry.delta) }, { judgeGrey: options.grey !== undefined })
          if (options.grey !== undefined && verdict.grey) {
            if (!options.grey.distinctFrom.has(entry.id)) uncertain.push({ layer: 'semantic', conflict: entry, score: verdict.score })
            continue
          }
          if (verdict.duplicate) return { hit: { layer: 'semantic', conflict: entry, score: verdict.score }, uncertain }
        }
      } catch (err) {
        this.components.onSemanticError?.(err)
      }
    }
    return { uncertain: uncertain.sort((a, b) => (b.score ?? 0) - (a.score ?? 0)) }
  }

  /**
   * Check, claim and (with `settle`, the default) wait out the settle window: resolves with the
   * claim once it stands, or with what it duplicates (then the claim, if written, is released).
   */
  async claim (request: ClaimRequest, options: { settle?: boolean, signal?: AbortSignal } = {}): Promise<ClaimOutcome> {
    const hit = await this.findDuplicate(request)
    if (hit !== undefined) return { duplicate: hit }
    return this.claimUnchecked(request, options)
  }

  /**
   * `claim`, for a caller that judges the semantic grey band itself (an agent): a pair there is
   * answered as `uncertain` unless its id is in `distinctFrom`, where the caller said it differs.
   * Clear duplicates (exact, structured, a cosine above the band) are refused as ever.
   */
  async claimJudged (request: ClaimRequest, distinctFrom: ReadonlySet<string>, options: { signal?: AbortSignal } = {}): Promise<JudgedClaimOutcome> {
    const { hit, uncertain } = await this.scan(request, { grey: { distinctFrom } })
    if (hit !== undefined) return { duplicate: hit }
    if (uncertain.length > 0) return { uncertain }
    return this.claimUnchecked(request, { ...options, distinctFrom })
  }

  /** Write the claim and (with `settle`, the default) wait out the settle window. */
  private async claimUnchecked (request: ClaimRequest, options: { settle?: boolean, signal?: AbortSignal, distinctFrom?: ReadonlySet<string> }): Promise<ClaimOutcome> {
    const claimed = await this.append(request)
    if (options.settle === false) return { claimed }
    let late: DuplicateHit | undefined
    try {
      late = await this.settle(claimed, options.signal, options.distinctFrom)
    } catch (err) {
      // Nobody will run it: give the experiment back now rather than block it for a whole ttl.
      if (this.ledger.status(claimed, this.components.clock.now()) === 'active') await this.release(claimed.id, 'aborted').catch(() => {})
      throw err
    }
    return late === undefined ? { claimed } : { duplicate: late }
  }

  /** Write a claim without checking (the research loop's reference run, which every node makes). */
  async append (request: ClaimRequest): Promise<ClaimEntry> {
    const body: ClaimBody = {
      description: request.description,
      parent: request.parent,
      codeHash: request.codeHash,
      delta: request.delta,
      ...(request.change !== undefined ? { change: request.change } : {}),
      ...(request.hypothesis !== undefined ? { hypothesis: request.hypothesis } : {}),
      ...(request.verifies !== undefined ? { verifies: request.verifies } : {}),
      tier: request.tier,
      // Asking for more than the swarm's bound buys nothing: every node holds the claim to the bound.
      ttlMs: Math.min(request.ttlMs, this.ledger.maxTtlMs)
    }
    const rec = await this.components.state.append('claim', body)
    return this.ledger.claim(rec.id) ?? { id: rec.id, author: rec.record.author, createdAt: rec.record.createdAt, body }
  }

  /**
   * Wait the settle window, then yield if an earlier claim or a result for the same experiment
   * has arrived meanwhile: the claim is released as `yielded` and the conflict returned.
   *
   * Earlier by this node's `placeOf`: a conflict that arrived more than the allowed lag after its
   * own date is placed at its arrival, after this claim. Within the lag an honest racer (made
   * elsewhere before this claim, still in flight when it was written) and a copycat (made after
   * this claim reached its author, dated a few ms before it) look alike, so the earlier one wins
   * as DESIGN §4 says, but a race won by an author without standing spends one of
   * `raceYieldsPerHour` that all such authors share: fresh keys steal at most that many of this
   * node's experiments an hour. Honest races are rare (BENCHMARKS.md §7); past the allowance a
   * race leaves both claims standing, and the merge marks the later result, as after a partition.
   * A conflict this node already held when it wrote the claim, or one by an author with standing,
   * is yielded to as before.
   */
  async settle (claim: ClaimEntry, signal?: AbortSignal, distinctFrom: ReadonlySet<string> = new Set()): Promise<DuplicateHit | undefined> {
    if (this.init.settleMs > 0) await sleep(this.init.settleMs, undefined, signal !== undefined ? { signal } : {})
    const { ledger, clock } = this.components
    const now = clock.now()
    const written = ledger.firstSeen(claim.id) ?? claim.createdAt
    const race = (entry: DedupEntry): boolean => !ledger.hasStanding(entry.author) && (ledger.firstSeen(entry.id) ?? -Infinity) > written
    const check = async (allowance: boolean): Promise<DuplicateHit | undefined> => this.findDuplicate({ ...claim.body }, {
      ignore: claim.id,
      before: ledger.placeOf({ kind: 'claim', id: claim.id, author: claim.author }),
      // What the claimer said its experiment is distinct from does not make it yield either.
      accept: (entry) => !distinctFrom.has(entry.id) && (allowance || !race(entry))
    })
    let hit = await check(this.raceYieldsLeft(now) > 0)
    // Another settle may have spent the last of the allowance while this one compared descriptions.
    if (hit !== undefined && race(hit.conflict) && this.raceYieldsLeft(now) === 0) hit = await check(false)
    if (hit === undefined) return undefined
    if (race(hit.conflict)) this.raceYields.push(now)
    await this.release(claim.id, 'yielded')
    return hit
  }

  /** Races this node may still lose this hour to authors without standing (`raceYieldsPerHour`). */
  raceYieldsLeft (now = this.components.clock.now()): number {
    while (this.raceYields.length > 0 && this.raceYields[0]! <= now - HOUR_MS) this.raceYields.shift()
    return Math.max(0, (this.init.raceYieldsPerHour ?? DEFAULTS.claimRaceYieldsPerHour) - this.raceYields.length)
  }

  /** Keep one of this node's active claims alive for another ttl. */
  async heartbeat (claimId: string): Promise<ClaimEntry> {
    const claim = this.own(claimId)
    const status = this.ledger.status(claim, this.components.clock.now())
    if (status !== 'active') throw closed(claim, status)
    await this.components.state.append('heartbeat', { claim: claim.id })
    return claim
  }

  /** Give one of this node's claims up: the experiment becomes claimable again. */
  async release (claimId: string, reason: ReleaseBody['reason'] = 'aborted'): Promise<ClaimEntry> {
    const claim = this.own(claimId)
    const status = this.ledger.status(claim, this.components.clock.now())
    if (status === 'finished' || status === 'released') throw closed(claim, status)
    await this.components.state.append('release', { claim: claim.id, reason })
    return claim
  }

  /**
   * Results that repeat an earlier result (by their claims' precedence): what a partition
   * let both sides run, marked once the two halves merged. Kept up to date from the ledger's
   * arrivals (`DuplicateMarks`): a result that comes in after the others is compared with the
   * earlier results of its parent once, never the whole history again per read.
   */
  async duplicateResults (): Promise<Map<string, DuplicateMark>> {
    const run = this.marking.then(async () => this.dupMarks.update())
    this.marking = run.catch(() => {})
    await run
    return this.dupMarks.marks
  }

  /**
   * The duplicate marks as they stand, at once, with an update started behind them: for views
   * polled on the event loop (the best, the status page) that must not wait while thousands of
   * new results are compared (1,500 at once took 9 s, most of it embedding their descriptions).
   */
  duplicateMarksNow (): ReadonlyMap<string, DuplicateMark> {
    void this.duplicateResults().catch(() => {})
    return this.dupMarks.marks
  }

  private isReference (entry: DedupEntry): boolean {
    return entry.parent === null && entry.codeHash !== null && (this.init.referenceCodeHashes?.has(entry.codeHash) ?? false)
  }

  private own (claimId: string): ClaimEntry {
    const claim = this.ledger.claim(claimId)
    if (claim === undefined) throw new SwarmdError('CLAIM_NOT_FOUND', `no claim ${claimId} is known to this daemon; check the id printed by \`swarmd claim\``)
    if (claim.author !== this.components.state.peerId) throw new SwarmdError('CLAIM_NOT_OWN', `claim ${claimId} belongs to ${claim.author}; only its author can heartbeat or release it`)
    return claim
  }
}

/** How many semantic comparisons run before the marks yield to the event loop. */
const COMPARES_PER_SLICE = 256

interface Placed { r: ResultEntry, p: Precedence }

/**
 * The duplicate marks of `ClaimBook.duplicateResults`, equal to deciding every result in
 * precedence order (a result repeats the earliest original before it: same code, same change on
 * the same parent, or the same idea on the same parent by the semantic layer), but kept as
 * records arrive. Results are held in precedence order with the marks of a decided prefix and the
 * indexes (by code, by change, originals by parent) that prefix built. A result that sorts last,
 * the usual case, is decided alone, against its parent's originals; one that sorts earlier (a
 * partition merging, a claim arriving after its result and moving it) undecides the suffix from
 * its place, and the suffix is decided again, yielding to the event loop every
 * `COMPARES_PER_SLICE` comparisons. Evidence of equivocation starts over without the convicted.
 */
class DuplicateMarks {
  readonly marks = new Map<string, DuplicateMark>()
  private ordered: Placed[] = []
  private readonly where = new Map<string, Placed>()
  private decided = 0
  private fed = 0
  private convictions: number
  private byCode = new Map<string, string>()
  private byDelta = new Map<string, ResultEntry[]>()
  private byParent = new Map<string, ParentOriginals>()
  /** How many of `ordered` the indexes reflect (a prefix of the decided ones). */
  private indexed = 0

  constructor (private readonly components: ClaimBookComponents, private readonly isReference: (entry: DedupEntry) => boolean) {
    this.convictions = components.ledger.convictions
  }

  async update (): Promise<void> {
    const { ledger } = this.components
    if (ledger.convictions !== this.convictions) {
      this.convictions = ledger.convictions
      this.ordered = []
      this.where.clear()
      this.marks.clear()
      this.decided = 0
      this.fed = 0
    }
    const arrivals = ledger.arrivalsSince(this.fed)
    this.fed += arrivals.length
    for (const a of arrivals) {
      if (a.kind === 'result') {
        if (!ledger.isConvicted(a.entry.author) && !this.isReference(entryOf(a.entry))) this.place(a.entry)
      } else if (a.kind === 'claim') {
        // A claim decides its results' place: the results already held move to it.
        for (const r of ledger.resultsOf(a.entry)) if (this.where.has(r.id)) this.place(r)
      }
    }
    await this.decide()
  }

  /** Put `r` at its precedence (moving it if held): everything from there on is undecided. */
  private place (r: ResultEntry): void {
    const p = this.components.ledger.precedenceOf(entryOf(r))
    const held = this.where.get(r.id)
    if (held !== undefined) {
      const at = this.indexOf(held)
      this.ordered.splice(at, 1)
      this.decided = Math.min(this.decided, at)
    }
    const placed = { r, p }
    const at = this.insertionPoint(placed)
    this.ordered.splice(at, 0, placed)
    this.where.set(r.id, placed)
    this.decided = Math.min(this.decided, at)
  }

  private async decide (): Promise<void> {
    if (this.indexed > this.decided) this.reindex()
    const semantic = this.components.semantic
    let compares = 0
    while (this.decided < this.ordered.length) {
      const { r } = this.ordered[this.decided]!
      const parent = r.body.parent ?? '-'
      const key = r.body.delta.length > 0 ? `${parent} ${deltaKey(r.body.delta)}` : undefined
      const exact = this.byCode.get(r.body.codeHash)
      const structured = key === undefined ? undefined : this.byDelta.get(key)?.find((o) => sameBeyondDelta(r.body.change, o.body.change))
      const coded = exact === undefined && structured === undefined ? this.sameCode(r) : undefined
      let mark: DuplicateMark | undefined = exact !== undefined
        ? { of: exact, layer: 'exact' }
        : structured !== undefined ? { of: structured.id, layer: 'structured' } : coded
      if (mark === undefined && semantic !== undefined) {
        try {
          const group = candidatesFor(this.byParent.get(parent), semantic.anchorOf(r.body.description, targetsOf(r.body.delta)))
          await semantic.prepare([r.body.description, ...group.map((e) => e.body.description)])
          for (const earlier of group) {
            if (r.body.delta.length > 0 && earlier.body.delta.length > 0 && deltaKey(r.body.delta) !== deltaKey(earlier.body.delta)) continue
            if (++compares % COMPARES_PER_SLICE === 0) await new Promise<void>((resolve) => { setImmediate(resolve) })
            const verdict = await semantic.compare(r.body.description, earlier.body.description, { a: targetsOf(r.body.delta), b: targetsOf(earlier.body.delta) })
            if (verdict.duplicate) { mark = { of: earlier.id, layer: 'semantic', score: verdict.score }; break }
          }
        } catch (err) {
          this.components.onSemanticError?.(err)
        }
      }
      // Arrivals while comparing may have undecided this one: decide again from where they left off.
      if (this.ordered[this.decided]?.r !== r || this.indexed !== this.decided) {
        if (this.indexed > this.decided) this.reindex()
        continue
      }
      if (mark !== undefined) this.marks.set(r.id, mark)
      else {
        this.marks.delete(r.id)
        this.index(r)
      }
      this.decided++
      this.indexed = this.decided
    }
  }

  /** The earliest original on the same parent, with the same delta, whose code does the same as `r`'s. */
  private sameCode (r: ResultEntry): DuplicateMark | undefined {
    const change = r.body.change
    if (change === undefined || !changesCode(change)) return undefined
    const key = deltaKey(r.body.delta)
    for (const o of this.byParent.get(r.body.parent ?? '-')?.coded ?? []) {
      if (deltaKey(o.body.delta) !== key) continue
      const { same, score } = sameCodeChange(change, o.body.change!)
      if (same) return { of: o.id, layer: 'code', score }
    }
    return undefined
  }

  /** The indexes as the decided prefix built them (after a result sorted into the middle). */
  private reindex (): void {
    this.byCode = new Map()
    this.byDelta = new Map()
    this.byParent = new Map()
    for (let i = 0; i < this.decided; i++) {
      const { r } = this.ordered[i]!
      if (!this.marks.has(r.id)) this.index(r)
    }
    this.indexed = this.decided
  }

  private index (r: ResultEntry): void {
    const parent = r.body.parent ?? '-'
    this.byCode.set(r.body.codeHash, r.id)
    if (r.body.delta.length > 0) {
      const key = `${parent} ${deltaKey(r.body.delta)}`
      this.byDelta.set(key, [...(this.byDelta.get(key) ?? []), r])
    }
    let group = this.byParent.get(parent)
    if (group === undefined) {
      group = { all: [], unanchored: [], byAnchor: new Map(), coded: [] }
      this.byParent.set(parent, group)
    }
    if (r.body.change !== undefined && changesCode(r.body.change)) group.coded.push(r)
    const original = { r, order: group.all.length }
    group.all.push(original)
    const anchor = this.components.semantic?.anchorOf(r.body.description, targetsOf(r.body.delta))
    if (anchor === undefined) group.unanchored.push(original)
    else {
      const same = group.byAnchor.get(anchor)
      if (same === undefined) group.byAnchor.set(anchor, [original])
      else same.push(original)
    }
  }

  private before (a: Placed, b: Placed): boolean {
    // Two results of one claim share its precedence: their own order decides between them.
    return precedes(a.p, b.p) || (!precedes(b.p, a.p) && precedes(a.r, b.r))
  }

  private insertionPoint (x: Placed): number {
    let lo = 0
    let hi = this.ordered.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.before(this.ordered[mid]!, x)) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  private indexOf (x: Placed): number {
    let at = this.insertionPoint(x)
    while (this.ordered[at] !== x) at++
    return at
  }
}

/** The originals of one parent, in precedence order, and indexed by the values they set. */
interface ParentOriginals {
  all: Array<{ r: ResultEntry, order: number }>
  unanchored: Array<{ r: ResultEntry, order: number }>
  byAnchor: Map<string, Array<{ r: ResultEntry, order: number }>>
  /** Those whose code does something beyond their delta, for the code layer. */
  coded: ResultEntry[]
}

/**
 * The originals a result may repeat, earliest first: all of them when it sets no value; else those
 * that set the same values, and those that set none (the semantic layer's numbers guard tells the
 * rest apart without a comparison). 1,500 results on one parent that each set another value cost
 * 1,500 comparisons, not a million.
 */
function candidatesFor (group: ParentOriginals | undefined, anchor: string | undefined): ResultEntry[] {
  if (group === undefined) return []
  if (anchor === undefined) return group.all.map((o) => o.r)
  const same = group.byAnchor.get(anchor) ?? []
  return [...same, ...group.unanchored].sort((a, b) => a.order - b.order).map((o) => o.r)
}

/** The numeric values a change sets: what its description's numbers would say. */
function targetsOf (delta: DeltaEntry[]): number[] {
  return delta.map((d) => d.to).filter((v): v is number => typeof v === 'number')
}

function entryOf (r: ResultEntry): DedupEntry {
  return { kind: 'result', id: r.id, author: r.author, description: r.body.description, codeHash: r.body.codeHash, parent: r.body.parent, delta: r.body.delta, change: r.body.change }
}

function closed (claim: ClaimEntry, status: string): SwarmdError {
  const what = status === 'expired' ? 'expired (no heartbeat within its ttl); claim the experiment again' : status === 'finished' ? 'finished: a result was published for it' : 'released'
  return new SwarmdError('CLAIM_CLOSED', `claim ${claim.id} is ${what}`)
}
