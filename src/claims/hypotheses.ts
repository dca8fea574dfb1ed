import { SwarmdError } from '../util/errors.js'
import { deltaKey } from './dedup.js'
import type { ResearchLedger } from './research-ledger.js'
import type { SemanticDedup } from './semantic.js'
import type { HypothesisBody } from '../state/record-kinds.js'
import type { StoredRecord } from '../state/records.js'
import type { SwarmState } from '../state/swarm-state.js'
import type { Clock } from '../util/clock.js'

export type HypothesisState = 'open' | 'claimed' | 'tested'

export interface HypothesisOutcome {
  result: string
  author: string
  status: 'keep' | 'discard' | 'crash'
  valBpb: number | null
}

/** A hypothesis with its state derived from the claims and results that reference it (DESIGN §4). */
export interface HypothesisEntry {
  id: string
  key: string
  author: string
  createdAt: number
  body: HypothesisBody
  state: HypothesisState
  /** Active claims testing it now. */
  claims: string[]
  outcomes: HypothesisOutcome[]
}

export interface HypothesisBookComponents {
  state: SwarmState
  ledger: ResearchLedger
  clock: Clock
  semantic?: SemanticDedup
}

export interface HypothesisBookInit {
  /**
   * Hypotheses one author may publish per hour. Beyond it their hypotheses are hidden on every
   * node (the same sliding window over createdAt everywhere), and this node refuses its own.
   */
  perHour: number
}

const HOUR_MS = 3_600_000

/** The hypothesis list: publish with dedup and a rate limit, read with derived state. */
export class HypothesisBook {
  private sieved: { count: number, visible: Array<StoredRecord<'hypothesis'>>, spammers: Set<string> } | undefined

  constructor (private readonly components: HypothesisBookComponents, private readonly init: HypothesisBookInit) {}

  /** Visible hypotheses, oldest first: spam beyond an author's hourly allowance is left out. */
  list (): HypothesisEntry[] {
    return this.sieve().visible.map((rec) => this.entry(rec))
  }

  /** Authors who published beyond the hourly allowance: spam, hidden everywhere and scored down. */
  spammers (): ReadonlySet<string> {
    return this.sieve().spammers
  }

  private sieve (): { visible: Array<StoredRecord<'hypothesis'>>, spammers: Set<string> } {
    const { state } = this.components
    const count = state.counts().hypothesis
    if (this.sieved?.count === count) return this.sieved
    const visible: Array<StoredRecord<'hypothesis'>> = []
    const spammers = new Set<string>()
    // Each author's visible hypotheses of the last hour: `times` from `start` on (the list is oldest
    // first, so the window only slides forward; refiltering it per record was quadratic in a catch-up).
    const recentByAuthor = new Map<string, { times: number[], start: number }>()
    for (const rec of state.list('hypothesis')) {
      const { author, createdAt } = rec.record
      let recent = recentByAuthor.get(author)
      if (recent === undefined) recentByAuthor.set(author, recent = { times: [], start: 0 })
      while (recent.start < recent.times.length && recent.times[recent.start]! <= createdAt - HOUR_MS) recent.start++
      if (recent.times.length - recent.start >= this.init.perHour) {
        spammers.add(author)
        continue
      }
      recent.times.push(createdAt)
      visible.push(rec)
    }
    this.sieved = { count, visible, spammers }
    return this.sieved
  }

  /** A visible hypothesis by its full id (prefixes: src/claims/lookup.ts). */
  get (id: string): HypothesisEntry | undefined {
    return this.list().find((h) => h.id === id)
  }

  /**
   * Publish a hypothesis unless it repeats a visible one (same suggested change, or the same
   * idea in other words) or this node is over its hourly allowance.
   */
  async publish (body: HypothesisBody): Promise<HypothesisEntry> {
    const { state, clock, semantic } = this.components
    const now = clock.now()
    const visible = this.list()
    const mine = visible.filter((h) => h.author === state.peerId && h.createdAt > now - HOUR_MS)
    if (mine.length >= this.init.perHour) {
      throw new SwarmdError('HYPOTHESIS_RATE_LIMITED', `this node published ${mine.length} hypotheses in the last hour (the limit is ${this.init.perHour}); wait, or test the open ones`)
    }
    for (const h of visible) {
      const sameDelta = body.suggestedDelta !== undefined && body.suggestedDelta.length > 0 && h.body.suggestedDelta !== undefined && deltaKey(h.body.suggestedDelta) === deltaKey(body.suggestedDelta)
      const sameTitle = normalise(h.body.title) === normalise(body.title)
      let score: number | undefined
      if (!sameDelta && !sameTitle && semantic !== undefined) {
        const verdict = await semantic.compare(body.title, h.body.title)
        if (!verdict.duplicate) continue
        score = verdict.score
      } else if (!sameDelta && !sameTitle) continue
      throw new DuplicateHypothesisError(h, score)
    }
    const rec = await state.append('hypothesis', body)
    return this.entry(rec)
  }

  private entry (rec: StoredRecord<'hypothesis'>): HypothesisEntry {
    const { ledger, clock } = this.components
    const now = clock.now()
    const claims: string[] = []
    const outcomes: HypothesisOutcome[] = []
    for (const claim of ledger.claimsFor(rec.id)) {
      for (const r of ledger.resultsOf(claim)) outcomes.push({ result: r.id, author: r.author, status: r.body.status, valBpb: r.body.metrics?.val_bpb ?? null })
      // Only a claim that counts against others makes a hypothesis claimed: a squatter's or a fresh key's beyond the pool does not.
      if (ledger.blocks(claim, now)) claims.push(claim.id)
    }
    const state: HypothesisState = outcomes.length > 0 ? 'tested' : claims.length > 0 ? 'claimed' : 'open'
    return { id: rec.id, key: rec.key, author: rec.record.author, createdAt: rec.record.createdAt, body: rec.record.body as HypothesisBody, state, claims, outcomes }
  }
}

/** A hypothesis refused because the list already has it. */
export class DuplicateHypothesisError extends SwarmdError {
  constructor (readonly existing: HypothesisEntry, readonly score?: number) {
    super('HYPOTHESIS_DUPLICATE', `hypothesis "${existing.body.title}" (${existing.id.slice(0, 12)} by ${existing.author}) already says this${score !== undefined ? ` (similarity ${score.toFixed(2)})` : ''}; add evidence to it instead`)
  }
}

const normalise = (s: string): string => s.toLowerCase().replace(/[^a-z0-9.]+/g, ' ').trim()
