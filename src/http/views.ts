import { bestView } from '../claims/lineage.js'
import type { ApiServices } from './api-ports.js'
import type { ClaimCounts, ClaimJson, HypothesisJson, ResultJson, StatusJson } from './api-contract.js'
import type { TrustStatus } from '../trust/trust.js'
import type { DuplicateMark } from '../claims/claim-book.js'
import type { ClaimEntry, ResearchLedger, ResultEntry } from '../claims/research-ledger.js'
import type { HypothesisEntry } from '../claims/hypotheses.js'
import type { Tier } from '../state/record-kinds.js'

/** The JSON the API and the status page show: plain data, no live objects. */
export async function statusView (services: ApiServices, now: number): Promise<StatusJson> {
  const { peerId, listen, ...network } = services.network.snapshot()
  return {
    peerId,
    swarm: services.swarm,
    research: services.research(),
    listen,
    ...network,
    counts: services.counts(),
    claims: claimCountsView(services, now),
    time: now
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
