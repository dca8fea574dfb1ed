import { createTwoFilesPatch } from 'diff'
import { findResult } from '../claims/lookup.js'
import { arenaKey, budgetLabel, parseBudgetParam, sameArena } from '../claims/budget.js'
import { TIERS } from '../state/record-kinds.js'
import { HttpError, pathSegment } from './http-error.js'
import { reproductionsOf, resultSummary, resultView } from './views.js'
import type { Arena } from '../claims/budget.js'
import type { ResultEntry } from '../claims/research-ledger.js'
import type { Tier } from '../state/record-kinds.js'
import type { ApiServices } from './api-ports.js'
import type { ChartJson, ResultDetailJson } from './api-contract.js'
import type { RouteReply } from './agent-routes.js'

export type PageRoutesComponents = Pick<ApiServices, 'claims' | 'trust' | 'blobs' | 'defaults' | 'network'>

export interface PageRoutesInit {
  /** The most rows one history page holds. */
  maxPageRows: number
  /** The log's last bytes a result's detail shows (the whole log is its blob). */
  logTailBytes: number
  /** How long a result's detail waits for a source or log held only by peers. */
  blobWaitMs: number
  /** The most points a chart holds; past it the discards are sampled. */
  maxChartPoints: number
  /** The largest source a result's detail shows and diffs (a train.py is ~25 KB); past it, a note. */
  maxSourceBytes: number
  /** The newest children a result's detail lists (`childCount` says how many it has). */
  maxChildren: number
}

export const PAGE_ROUTES_DEFAULTS: PageRoutesInit = { maxPageRows: 200, logTailBytes: 64 * 1024, blobWaitMs: 5_000, maxChartPoints: 20_000, maxSourceBytes: 128 * 1024, maxChildren: 50 }

/**
 * Past this many changed lines or this long, a diff says the sources differ too much rather than
 * run on: it runs on the event loop, and two hostile 20,000-line sources took 2.6 s at 4,000 edits.
 * A realistic edit of train.py takes about a millisecond.
 */
const MAX_DIFF_EDITS = 2_000
const MAX_DIFF_MS = 150

/** Arenas whose last chart is kept (a swarm has a few tiers and budgets). */
const MAX_CHARTS_HELD = 8

const RESULT_PATH = /^\/api\/results\/([^/]+)$/

/**
 * What the status page reads beside the status: the results' history a page at a time, the chart's
 * points of one arena, and one result opened (source, diff against its parent, log, reproductions,
 * lineage). Each answers only what the page shows, so it stays fast at 100,000 results.
 */
export class PageRoutes {
  private readonly self: string
  /** The last chart built per arena, and the arrivals it was built at. */
  private readonly charts = new Map<string, { at: string, chart: ChartJson }>()

  constructor (private readonly components: PageRoutesComponents, private readonly init: PageRoutesInit = PAGE_ROUTES_DEFAULTS) {
    this.self = components.network.snapshot().peerId
  }

  /** The reply for a GET on one of these routes, or undefined when the path is not theirs. */
  async handle (method: string, path: string, query: URLSearchParams): Promise<RouteReply | undefined> {
    if (method !== 'GET') return undefined
    if (path === '/api/history') return { status: 200, body: this.history(query) }
    if (path === '/api/chart') return { status: 200, body: this.chart(query) }
    const resultPath = RESULT_PATH.exec(path)
    if (resultPath !== null) return { status: 200, body: await this.detail(pathSegment(resultPath[1]!)) }
    return undefined
  }

  /** `?offset=&limit=` newest first; `?tier=&budget=` one arena; `?author=self` this node's. */
  private history (query: URLSearchParams): { total: number, offset: number, results: ReturnType<typeof resultSummary>[] } {
    const offset = intParam(query, 'offset', 0, Number.MAX_SAFE_INTEGER) ?? 0
    const limit = intParam(query, 'limit', 1, this.init.maxPageRows) ?? 50
    const arena = query.has('tier') || query.has('budget') ? arenaParam(query, this.components.defaults) : undefined
    const author = query.get('author') === 'self' ? this.self : query.get('author')
    let results = this.components.claims.ledger.allResults()
    if (arena !== undefined) results = results.filter((r) => sameArena(r.body, arena))
    if (author !== null) results = results.filter((r) => r.author === author)
    const marks = this.components.claims.duplicateMarksNow()
    const end = results.length - offset
    const shown = results.slice(Math.max(0, end - limit), Math.max(0, end)).reverse()
    return { total: results.length, offset, results: shown.map((r) => resultSummary(r, this.components.trust.status(r.id), marks.get(r.id))) }
  }

  /**
   * The ranked results of one arena, as columns (see `chartReply`); the node's own arena by
   * default. Past `maxChartPoints`, every keep and every new running best stay, and the discards
   * are sampled evenly to fill the rest (`ranked` says how many there are in all): 100,000 points
   * were 1 MiB gzipped and 500 ms to build.
   */
  private chart (query: URLSearchParams): ChartJson {
    const arena = arenaParam(query, this.components.defaults)
    // Built again only once a record arrived: every tab and reload in between reads the same one.
    const { ledger } = this.components.claims
    const at = `${ledger.arrivalCount}/${ledger.convictions}`
    const key = arenaKey(arena)
    const held = this.charts.get(key)
    if (held?.at === at) return held.chart
    const chart = this.buildChart(arena)
    if (this.charts.size >= MAX_CHARTS_HELD) this.charts.delete(this.charts.keys().next().value!)
    this.charts.set(key, { at, chart })
    return chart
  }

  private buildChart (arena: Arena): ChartJson {
    const { trust } = this.components
    const ranked: Array<{ r: ResultEntry, valBpb: number, trusted: boolean, kept: boolean }> = []
    let crashes = 0
    let best = Infinity
    for (const r of this.components.claims.ledger.allResults()) {
      if (!sameArena(r.body, arena)) continue
      if (r.body.metrics === null || r.body.status === 'crash') {
        crashes++
        continue
      }
      const valBpb = r.body.metrics.val_bpb
      const trusted = trust.isTrusted(r.id)
      const newBest = trusted && valBpb < best
      if (newBest) best = valBpb
      ranked.push({ r, valBpb, trusted, kept: newBest || r.body.status === 'keep' })
    }
    const shown = samplePoints(ranked, this.init.maxChartPoints)
    const points: ChartJson['points'] = { t: [], v: [], s: '', mine: '', trusted: '', id: [] }
    for (const { r, valBpb, trusted } of shown) {
      points.t.push(r.createdAt)
      points.v.push(valBpb)
      points.s += r.body.status === 'keep' ? 'k' : 'd'
      points.mine += r.author === this.self ? '1' : '0'
      points.trusted += trusted ? '1' : '0'
      points.id.push(r.id.slice(0, 12))
    }
    return { tier: arena.tier, maxSteps: arena.maxSteps ?? null, budget: budgetLabel(arena.maxSteps), crashes, ranked: ranked.length, points }
  }

  private async detail (idOrPrefix: string): Promise<ResultDetailJson> {
    const { claims, trust } = this.components
    const r = findResult(claims.ledger, idOrPrefix)
    const marks = claims.duplicateMarksNow()
    const parent = r.body.parent === null ? undefined : claims.ledger.result(r.body.parent)
    const children = claims.ledger.allResults().filter((c) => c.body.parent === r.id)
    const [source, parentSource, log] = await Promise.all([
      this.blob(r.body.codeHash),
      r.body.parent === null ? Promise.resolve(Buffer.from(this.components.defaults.defaultSource)) : parent === undefined ? Promise.resolve(null) : this.blob(parent.body.codeHash),
      this.blob(r.body.logHash)
    ])
    const max = this.init.maxSourceBytes
    const shown = source !== null && source.byteLength <= max ? source.toString('utf8') : null
    const { diff, note } = sourceDiff(r, parentSource, source, max)
    return {
      result: resultView(r, marks.get(r.id), trust.status(r.id)),
      budget: budgetLabel(r.body.maxSteps),
      parent: parent === undefined ? null : resultSummary(parent, trust.status(parent.id), marks.get(parent.id)),
      children: children.slice(-this.init.maxChildren).reverse().map((c) => resultSummary(c, trust.status(c.id), marks.get(c.id))),
      childCount: children.length,
      reproductions: reproductionsOf(this.components, r.id),
      source: shown,
      sourceNote: source === null ? NOT_HELD : shown === null ? `its train.py is ${source.byteLength} bytes, more than the page shows (${max}): \`swarmd blob get ${r.body.codeHash}\`` : null,
      diff,
      diffNote: note,
      log: log === null ? null : { tail: tail(log, this.init.logTailBytes), bytes: log.byteLength }
    }
  }

  /** A blob: from the store, or from peers within `blobWaitMs`; null when neither has it. */
  private async blob (hash: string): Promise<Buffer | null> {
    try {
      return Buffer.from(await this.components.blobs.get(hash, { signal: AbortSignal.timeout(this.init.blobWaitMs) }))
    } catch {
      return null
    }
  }
}

/** At most `max` of `points`, in order: every one marked `kept`, and an even spread of the others. */
export function samplePoints<T extends { kept: boolean }> (points: T[], max: number): T[] {
  if (points.length <= max) return points
  const kept = points.filter((p) => p.kept).length
  const others = points.length - kept
  const room = Math.max(0, max - kept)
  let seen = 0
  let taken = 0
  return points.filter((p) => {
    if (p.kept) return true
    seen++
    // The seen-th of the others is taken when the share taken falls behind room / others.
    if (taken < Math.floor(seen * room / others)) {
      taken++
      return true
    }
    return false
  })
}

const NOT_HELD = 'not held here, and no peer sent it in time'

/**
 * The unified diff of a result's source against its parent's, or why there is none. Sources past
 * `maxBytes` are not diffed: the diff's own limits are not checked while it splits and walks the
 * lines, and two hostile 16 MiB sources held the event loop for 7.7 s before it gave up.
 */
function sourceDiff (r: ResultEntry, parentSource: Buffer | null, source: Buffer | null, maxBytes: number): { diff: string | null, note: string | null } {
  if (source === null) return { diff: null, note: `this result's train.py is ${NOT_HELD}` }
  if (parentSource === null) return { diff: null, note: `the parent's train.py is ${NOT_HELD}` }
  if (source.byteLength > maxBytes || parentSource.byteLength > maxBytes) return { diff: null, note: `a source is over ${maxBytes} bytes, more than the page diffs: compare them with \`swarmd blob get\`` }
  const parentName = r.body.parent === null ? 'default/train.py' : `${r.body.parent.slice(0, 12)}/train.py`
  const patch = createTwoFilesPatch(parentName, `${r.id.slice(0, 12)}/train.py`, parentSource.toString('utf8'), source.toString('utf8'), undefined, undefined, { context: 3, maxEditLength: MAX_DIFF_EDITS, timeout: MAX_DIFF_MS })
  if (patch === undefined) return { diff: null, note: `the sources differ too much to show a diff (more than ${MAX_DIFF_EDITS} changed lines, or ${MAX_DIFF_MS} ms of work); compare them with \`swarmd blob get\`` }
  return { diff: patch, note: null }
}

/** The last `bytes` of a log as text, from a line start where there is one (only the tail is decoded). */
function tail (log: Buffer, bytes: number): string {
  const cut = log.byteLength <= bytes ? log.toString('utf8') : log.subarray(-bytes).toString('utf8')
  if (log.byteLength <= bytes) return cut
  const newline = cut.indexOf('\n')
  return newline === -1 ? cut : cut.slice(newline + 1)
}

/** `?tier=&budget=`, each defaulting to this node's. */
function arenaParam (query: URLSearchParams, defaults: ApiServices['defaults']): Arena {
  const tier = query.get('tier') ?? defaults.tier
  if (!(TIERS as readonly string[]).includes(tier)) throw new HttpError(400, 'API_BAD_REQUEST', `unknown tier ${tier}; one of ${TIERS.join(', ')}`)
  const budgetText = query.get('budget')
  if (budgetText === null) return { tier: tier as Tier, maxSteps: defaults.maxSteps }
  const budget = parseBudgetParam(budgetText)
  if (budget === undefined) throw new HttpError(400, 'API_BAD_REQUEST', `unknown budget ${budgetText}; "time" or a step count`)
  return { tier: tier as Tier, maxSteps: budget.maxSteps }
}

function intParam (query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const text = query.get(name)
  if (text === null) return undefined
  const value = Number(text)
  if (!/^\d{1,16}$/.test(text) || value < min) throw new HttpError(400, 'API_BAD_REQUEST', `${name} must be a whole number of at least ${min}`)
  return Math.min(value, max)
}
