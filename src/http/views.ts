import { bestView } from '../claims/lineage.js'
import { arenaKey, budgetLabel } from '../claims/budget.js'
import type { ApiServices } from './api-ports.js'
import type { ArenaJson, ClaimCounts, ClaimJson, HypothesisJson, ReproductionJson, ResultJson, ResultSummaryJson, StatusJson } from './api-contract.js'
import type { ResultTally } from '../claims/result-tally.js'
import type { TrustStatus } from '../trust/trust.js'
import type { DuplicateMark } from '../claims/claim-book.js'
import type { ClaimEntry, ResearchLedger, ResultEntry } from '../claims/research-ledger.js'
import type { HypothesisEntry } from '../claims/hypotheses.js'
import type { Tier } from '../state/record-kinds.js'

/** The JSON the API and the status page show: plain data, no live objects. */
export async function statusView (services: ApiServices, tally: ResultTally, now: number): Promise<StatusJson> {
  const { peerId, listen, ...network } = services.network.snapshot()
  const research = services.research()
  const status = {
    peerId,
    swarm: services.swarm,
    research,
    listen,
    ...network,
    counts: services.counts(),
    claims: claimCountsView(services, now),
    time: now,
    startedAt: services.startedAt,
    self: tally.ownTally(),
    results: tally.results(),
    arenas: arenaViews(services, tally),
    problems: [] as string[]
  }
  status.problems = problemsView(services.problems(), status)
  return status
}

/** What keeps this node from working fully, in words: what the daemon found at start, and what its network and sandbox show now. */
function problemsView (found: string[], status: Pick<StatusJson, 'peers' | 'bootstrap' | 'research'>): string[] {
  const problems = [...found]
  const confinement = status.research.confinement
  if (confinement !== null && !confinement.foreignCode.runs) problems.push(`peers' code is refused here: ${confinement.foreignCode.why}`)
  for (const b of status.bootstrap) {
    if (!b.connected && b.failures >= 3) problems.push(`bootstrap peer ${b.addr} unreachable after ${b.failures} tries (${b.lastError ?? 'no answer'})`)
  }
  if (status.peers.length === 0) problems.push(status.bootstrap.length === 0 ? 'no peers connected, and no bootstrap peers configured: working solo (`swarmd connect ADDR`, or --bootstrap)' : 'no peers connected: working solo until one answers')
  return problems
}

/**
 * Each arena results ran in (a tier and a budget), the most results first: its best trusted result,
 * who found it and who reproduced it. One pass over the results for all arenas.
 */
export function arenaViews (services: Pick<ApiServices, 'claims' | 'trust'>, tally: ResultTally): ArenaJson[] {
  const best = bestPerArena(services)
  return tally.arenaTallies().map((a) => {
    const top = best.get(arenaKey(a))
    return {
      tier: a.tier,
      maxSteps: a.maxSteps ?? null,
      budget: budgetLabel(a.maxSteps),
      results: a.results,
      crashes: a.crashes,
      best: top === undefined ? null : resultSummary(top, services.trust.status(top.id)),
      reproducedBy: top === undefined ? [] : reproductionsOf(services, top.id)
    }
  })
}

/** Each ledger's best per arena, and the arrivals it was computed at. */
const bestsByLedger = new WeakMap<ResearchLedger, { at: string, best: Map<string, ResultEntry> }>()

/**
 * The best trusted result of each arena: one pass over the results (100 ms at 100,000), done
 * again only once a record arrived (a result, a verification that moves trust, a claim) or an
 * author was convicted, not for every status the page is pushed.
 */
function bestPerArena (services: Pick<ApiServices, 'claims' | 'trust'>): Map<string, ResultEntry> {
  const { ledger } = services.claims
  const at = `${ledger.arrivalCount}/${ledger.convictions}`
  const held = bestsByLedger.get(ledger)
  if (held?.at === at) return held.best
  const best = new Map<string, ResultEntry>()
  for (const r of ledger.allResults()) {
    const metrics = r.body.metrics
    if (metrics === null || r.body.status === 'crash' || !services.trust.isTrusted(r.id)) continue
    const key = arenaKey({ tier: r.body.hardware.tier, maxSteps: r.body.maxSteps })
    const top = best.get(key)
    if (top === undefined || metrics.val_bpb < top.body.metrics!.val_bpb) best.set(key, r)
  }
  bestsByLedger.set(ledger, { at, best })
  return best
}

/** The re-runs of a result, oldest first, and whether each counts towards its trust here. */
export function reproductionsOf (services: Pick<ApiServices, 'claims' | 'trust'>, resultId: string): ReproductionJson[] {
  return services.claims.ledger.verificationWork(resultId).verifications
    .filter((v) => !services.claims.ledger.isConvicted(v.author))
    .map((v) => ({
      author: v.author,
      createdAt: v.createdAt,
      valBpb: v.body.metrics?.val_bpb ?? null,
      crash: v.body.crash?.reason ?? (v.body.inconclusive === true ? 'inconclusive' : null),
      counts: services.trust.verifiedBy(resultId, v.author)
    }))
}

/** A result as a row, a point or a link: see `resultSummaryJson`. */
export function resultSummary (r: ResultEntry, trust?: TrustStatus, mark?: DuplicateMark): ResultSummaryJson {
  const { body } = r
  return {
    id: r.id,
    author: r.author,
    createdAt: r.createdAt,
    description: body.description,
    status: body.status,
    valBpb: body.metrics?.val_bpb ?? null,
    tier: body.hardware.tier,
    maxSteps: body.maxSteps ?? null,
    budget: budgetLabel(body.maxSteps),
    parent: body.parent,
    trust: trust ?? null,
    crash: body.crash?.reason ?? null,
    duplicateOf: mark?.of ?? null
  }
}

/** How many claims stand where, and how many results repeat an earlier one (partition duplicates). */
export function claimCountsView (services: Pick<ApiServices, 'claims'>, now: number): ClaimCounts {
  return { ...services.claims.ledger.statusCounts(now), duplicateResults: services.claims.duplicateMarksNow().size }
}

/** A claim with where it stands now: `expiresAt` moves with each heartbeat. */
export function claimView (claim: ClaimEntry, ledger: ResearchLedger, now: number): ClaimJson {
  const { body } = claim
  return {
    id: claim.id,
    author: claim.author,
    createdAt: claim.createdAt,
    description: body.description,
    parent: body.parent,
    codeHash: body.codeHash,
    delta: body.delta,
    hypothesis: body.hypothesis ?? null,
    tier: body.tier,
    ttlMs: body.ttlMs,
    expiresAt: ledger.expiresAt(claim),
    status: ledger.status(claim, now),
    releaseReason: ledger.releaseReason(claim) ?? null,
    results: ledger.resultsOf(claim).map((r) => r.id)
  }
}

/** A hypothesis with its derived state: the active claims testing it and the results that did. */
export function hypothesisView (h: HypothesisEntry): HypothesisJson {
  return {
    id: h.id,
    key: h.key,
    author: h.author,
    createdAt: h.createdAt,
    title: h.body.title,
    text: h.body.text,
    priority: h.body.priority ?? 0,
    suggestedDelta: h.body.suggestedDelta ?? [],
    evidence: h.body.evidence ?? [],
    state: h.state,
    claims: h.claims,
    outcomes: h.outcomes
  }
}

/**
 * A result; `duplicateOf` names the earlier result it repeats (marked after a partition merged),
 * else null; `trust` says whether this node trusts its numbers (self, trusted by reproduction,
 * refuted, or unverified: a candidate).
 */
export function resultView (r: ResultEntry, mark?: DuplicateMark, trust?: TrustStatus): ResultJson {
  return {
    id: r.id,
    author: r.author,
    createdAt: r.createdAt,
    ...r.body,
    duplicateOf: mark === undefined ? null : { of: mark.of, layer: mark.layer, score: mark.score ?? null },
    trust: trust ?? null
  }
}

/**
 * The tier's best trusted result as this daemon sees it, among runs to the same budget; what a
 * claim builds on by default.
 */
export function bestResult (services: Pick<ApiServices, 'claims' | 'trust' | 'defaults'>, tier: Tier): ResultEntry | undefined {
  return bestView(services.claims.ledger.allResults(), { tier, trusted: (id) => services.trust.isTrusted(id), maxSteps: services.defaults.maxSteps })
}
