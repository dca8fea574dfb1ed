import { z } from 'zod'
import { buildClaimRequest } from '../claims/claim-request.js'
import { DuplicateHypothesisError } from '../claims/hypotheses.js'
import { findClaim, findEntryId, findHypothesis } from '../claims/lookup.js'
import { claimRequest, hypothesisRequest, publishRequest } from './api-contract.js'
import { frontier } from '../claims/lineage.js'
import { HttpError, pathSegment } from './http-error.js'
import { sha256Hex } from '../util/hash.js'
import { bestResult, claimView, hypothesisView, resultView } from './views.js'
import type { DuplicateHit } from '../claims/claim-book.js'
import type { ClaimStatus } from '../claims/research-ledger.js'
import type { ApiServices } from './api-ports.js'
import type { ClaimDuplicate, DefaultSourceJson, HypothesisDuplicate } from './api-contract.js'
import type { Clock } from '../util/clock.js'

/** One API request as a route sees it. */
export interface RouteRequest {
  method: string
  path: string
  query: URLSearchParams
  /** Throws API_UNAUTHORIZED unless the request carries the data dir's token. */
  authorize: () => void
  json: () => Promise<unknown>
}

export interface RouteReply { status: number, body: unknown }

export type AgentRoutesComponents = Pick<ApiServices, 'claims' | 'hypotheses' | 'trust' | 'blobs' | 'publisher' | 'defaults'> & { clock: Clock }

const CLAIM_STATUSES = ['active', 'expired', 'released', 'finished'] as const satisfies readonly ClaimStatus[]

/** How long a listing of results waits for the duplicate marks to catch up with new results. */
const MARKS_WAIT_MS = 2_000

const CLAIM_PATH = /^\/api\/claims\/([^/]+)(?:\/(heartbeat|release))?$/
const HYPOTHESIS_PATH = /^\/api\/hypotheses\/([^/]+)$/

/**
 * The agent API (issue 4): claims with dedup, heartbeat and release, result publishing,
 * hypotheses with their derived state, and results marked when they repeat an earlier one.
 */
export class AgentRoutes {
  constructor (private readonly components: AgentRoutesComponents) {}

  /** The reply for a request on one of these routes, or undefined when the path is not theirs. */
  async handle (req: RouteRequest): Promise<RouteReply | undefined> {
    const route = `${req.method} ${req.path}`
    if (route === 'GET /api/claims') return this.listClaims(req.query)
    if (route === 'POST /api/claims') {
      req.authorize()
      return this.claim(parse(claimRequest, await req.json(), 'claim'))
    }
    const claimPath = CLAIM_PATH.exec(req.path)
    if (claimPath !== null) return this.claimAction(req, pathSegment(claimPath[1]!), claimPath[2])
    if (route === 'GET /api/results') return this.listResults(req.query)
    if (route === 'GET /api/default-source') return this.defaultSource()
    if (route === 'POST /api/results') {
      req.authorize()
      return this.publish(parse(publishRequest, await req.json(), 'result'))
    }
    if (route === 'GET /api/hypotheses') {
      return { status: 200, body: { hypotheses: this.components.hypotheses.list().reverse().map(hypothesisView) } }
    }
    if (route === 'POST /api/hypotheses') {
      req.authorize()
      return this.addHypothesis(parse(hypothesisRequest, await req.json(), 'hypothesis'))
    }
    const hypothesisPath = HYPOTHESIS_PATH.exec(req.path)
    if (req.method === 'GET' && hypothesisPath !== null) {
      return { status: 200, body: { hypothesis: hypothesisView(findHypothesis(this.components.hypotheses, pathSegment(hypothesisPath[1]!))) } }
    }
    return undefined
  }

  private listClaims (query: URLSearchParams): RouteReply {
    const status = query.get('status')
    if (status !== null && !(CLAIM_STATUSES as readonly string[]).includes(status)) {
      throw new HttpError(400, 'API_BAD_REQUEST', `unknown claim status ${status}; one of ${CLAIM_STATUSES.join(', ')}`)
    }
    const { ledger } = this.components.claims
    const now = this.components.clock.now()
    // Filtered before each view is built: at 100,000 claims, building them all to keep the active few took 0.6 s.
    const listed = status === 'active' ? ledger.activeClaims(now) : ledger.allClaims().filter((c) => status === null || ledger.status(c, now) === status)
    const claims = listed.reverse().map((c) => claimView(c, ledger, now))
    return { status: 200, body: { claims } }
  }

  private async claim (input: z.infer<typeof claimRequest>): Promise<RouteReply> {
    const { claims, hypotheses, blobs, defaults, clock } = this.components
    const request = await buildClaimRequest({
      ledger: claims.ledger,
      hypotheses,
      blobs,
      defaultSource: defaults.defaultSource,
      currentBest: () => bestResult(this.components, defaults.tier)?.id ?? null
    }, { tier: defaults.tier, defaultTtlMs: defaults.claimTtlMs }, input)
    const distinctFrom = new Set((input.distinctFrom ?? []).map((id) => findEntryId(claims.ledger, id)))
    // The settle window is waited out even if the agent hangs up: the claim must end decided.
    const outcome = await claims.claimJudged(request, distinctFrom)
    if ('duplicate' in outcome) throw duplicateClaim(outcome.duplicate)
    if ('uncertain' in outcome) throw uncertainClaim(outcome.uncertain)
    // Stored once the claim stands (a refused one leaves nothing behind): whoever adopts it can fetch the code.
    if (input.code !== undefined) await blobs.add(Buffer.from(input.code))
    return { status: 201, body: { claim: claimView(outcome.claimed, claims.ledger, clock.now()) } }
  }

  private async claimAction (req: RouteRequest, idOrPrefix: string, action: string | undefined): Promise<RouteReply> {
    const { claims, clock } = this.components
    const { ledger } = claims
    if (action === undefined) {
      if (req.method !== 'GET') throw new HttpError(405, 'API_METHOD_NOT_ALLOWED', `${req.method} ${req.path}: use GET`)
      const claim = findClaim(ledger, idOrPrefix)
      if (claim === undefined) throw new HttpError(404, 'CLAIM_NOT_FOUND', `no claim ${idOrPrefix} is known to this daemon; list them with \`swarmd claims\``)
      return { status: 200, body: { claim: claimView(claim, ledger, clock.now()) } }
    }
    if (req.method !== 'POST') throw new HttpError(405, 'API_METHOD_NOT_ALLOWED', `${req.method} ${req.path}: use POST`)
    req.authorize()
    // An unknown id goes through as given, so the book answers CLAIM_NOT_FOUND.
    const id = findClaim(ledger, idOrPrefix)?.id ?? idOrPrefix
    const claim = action === 'heartbeat' ? await claims.heartbeat(id) : await claims.release(id, 'aborted')
    return { status: 200, body: { claim: claimView(claim, ledger, clock.now()) } }
  }

  private async listResults (query: URLSearchParams): Promise<RouteReply> {
    const { claims, trust } = this.components
    // The marks as they stand once they caught up, or after `MARKS_WAIT_MS`: thousands of results
    // arriving at once took the comparisons 7 s at 5,500 results and 44 s at 17,700 (a flood on
    // one parent), and a listing must not wait on that. A later listing has the rest.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([claims.duplicateResults().catch(() => {}), new Promise<void>((resolve) => { timer = setTimeout(resolve, MARKS_WAIT_MS) })]).finally(() => { clearTimeout(timer) })
    const marks = claims.duplicateMarksNow()
    // ?frontier=1: only the results nobody has built on yet (the lineage's leaves); ?codeHash=H: those whose source is H.
    const codeHash = query.get('codeHash')
    const all = codeHash === null ? claims.ledger.allResults() : claims.ledger.allResults().filter((r) => r.body.codeHash === codeHash)
    const shown = query.get('frontier') === '1' ? frontier(all) : all
    return { status: 200, body: { results: shown.reverse().map((r) => resultView(r, marks.get(r.id), trust.status(r.id))) } }
  }

  /** The harness's default train.py: the source of every result whose parent is null. */
  private defaultSource (): RouteReply {
    const code = this.components.defaults.defaultSource
    const reply: DefaultSourceJson = { codeHash: sha256Hex(Buffer.from(code)), code }
    return { status: 200, body: reply }
  }

  private async publish (input: z.infer<typeof publishRequest>): Promise<RouteReply> {
    const { claims, trust, publisher } = this.components
    const result = await publisher.publish({ claim: input.claim, code: input.code, run: { reported: { log: input.log, ...(input.status !== undefined ? { status: input.status } : {}) } } })
    const marks = await claims.duplicateResults()
    return { status: 201, body: { result: resultView(result, marks.get(result.id), trust.status(result.id)) } }
  }

  private async addHypothesis (body: z.infer<typeof hypothesisRequest>): Promise<RouteReply> {
    try {
      return { status: 201, body: { hypothesis: hypothesisView(await this.components.hypotheses.publish(body)) } }
    } catch (err) {
      if (!(err instanceof DuplicateHypothesisError)) throw err
      const { existing, score } = err
      const duplicate: HypothesisDuplicate = { id: existing.id, title: existing.body.title, author: existing.author, score: score ?? null }
      throw new HttpError(409, err.code, err.message, { duplicate })
    }
  }
}

/** A hit as the contract names it: layer, score, and what it repeats. */
function duplicateOf (hit: DuplicateHit): ClaimDuplicate {
  const { conflict, layer, score } = hit
  return { layer, score: score ?? null, conflict: { kind: conflict.kind, id: conflict.id, author: conflict.author, description: conflict.description } }
}

/** A claim in the grey band: the candidates it may repeat, for the agent to judge. */
function uncertainClaim (hits: DuplicateHit[]): HttpError {
  const candidates = hits.slice(0, 10).map(duplicateOf)
  const list = candidates.map((c) => `${c.conflict.kind} ${c.conflict.id} "${c.conflict.description}" (similarity ${c.score?.toFixed(2) ?? '?'})`).join('; ')
  return new HttpError(409, 'CLAIM_UNCERTAIN', `this experiment may repeat ${list}; if it is a different experiment, claim it again naming each as distinct (distinctFrom / --distinct-from ID), else pick another`, { candidates })
}

/** A refused claim: what it duplicates, as a message for people and as fields for agents. */
function duplicateClaim (hit: DuplicateHit): HttpError {
  const { conflict, layer, score } = hit
  const how = layer === 'exact'
    ? 'the same train.py'
    : layer === 'structured'
      ? 'the same change on the same parent'
      : layer === 'code'
        ? `the same code change written another way (similarity ${score?.toFixed(2) ?? '?'})`
        : `the same idea in other words (similarity ${score?.toFixed(2) ?? '?'})`
  const message = `this experiment duplicates ${conflict.kind} ${conflict.id} by ${conflict.author} (${layer}: ${how}): "${conflict.description}"; pick another experiment${conflict.kind === 'result' ? ', or build on that result' : ''}`
  return new HttpError(409, 'CLAIM_DUPLICATE', message, { duplicate: duplicateOf(hit) })
}

function parse<T extends z.ZodType> (schema: T, value: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(value)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  throw new HttpError(400, 'API_BAD_REQUEST', `${what}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`.trim())
}
