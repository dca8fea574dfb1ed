import { stateTopic } from '../p2p/swarm-network.js'
import { bestView, resultsView } from '../state/views.js'
import type { TrustStatus } from '../trust/trust.js'
import type { DuplicateMark } from '../claims/claim-book.js'
import type { ClaimEntry, ClaimLedger, ClaimStatus } from '../claims/claim-ledger.js'
import type { HypothesisEntry } from '../claims/hypotheses.js'
import type { Daemon } from '../daemon/daemon.js'
import type { ResultView } from '../state/views.js'
import type { Tier } from '../state/record-kinds.js'

/** The JSON the API and the status page show: plain data, no live objects. */
export async function statusView (daemon: Daemon, now: number) {
  const libp2p = daemon.network.libp2p
  const penalties = daemon.network.penalties
  return {
    peerId: daemon.identity.peerId.toString(),
    swarm: daemon.config.swarm,
    research: researchView(daemon),
    listen: daemon.listenAddrs(),
    peers: peersView(daemon),
    topicPeers: libp2p.services.pubsub.getSubscribers(stateTopic(daemon.research.swarmKey)).length,
    counts: daemon.state.counts(),
    sync: { ...daemon.network.sync.stats },
    gossip: { ...daemon.network.gossip.stats, repairs: daemon.network.gossipRepairs },
    rejections: { ...penalties.totals, recent: penalties.recent().slice(0, 20) },
    blocked: penalties.blocked(),
    claims: await claimCountsView(daemon, now),
    time: now
  }
}

/** How many claims stand where, and how many results repeat an earlier one (partition duplicates). */
export async function claimCountsView (daemon: Daemon, now: number) {
  const counts: Record<ClaimStatus, number> = { active: 0, expired: 0, released: 0, finished: 0 }
  const { ledger } = daemon.claims
  for (const claim of ledger.allClaims()) counts[ledger.status(claim, now)]++
  return { ...counts, duplicateResults: daemon.claims.duplicateMarksNow().size }
}

/** A claim with where it stands now: `expiresAt` moves with each heartbeat. */
export function claimView (claim: ClaimEntry, ledger: ClaimLedger, now: number) {
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

export function peersView (daemon: Daemon) {
  return daemon.network.libp2p.getConnections().map((c) => ({
    peerId: c.remotePeer.toString(),
    addr: c.remoteAddr.toString(),
    direction: c.direction,
    openedAt: c.timeline.open
  }))
}

/** A hypothesis with its derived state: the active claims testing it and the results that did. */
export function hypothesisView (h: HypothesisEntry) {
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

export type StatusView = Awaited<ReturnType<typeof statusView>>
export type HypothesisView = ReturnType<typeof hypothesisView>
export type ClaimView = ReturnType<typeof claimView>
export type ClaimCountsView = Awaited<ReturnType<typeof claimCountsView>>

export function researchView (daemon: Daemon) {
  const r = daemon.research
  const loops = daemon.loops
  return {
    agent: r.agent,
    profile: r.profile,
    tier: r.tier,
    harness: r.harness,
    /** The web corpus a gpu profile trains and evaluates on: which data this node has (part of its swarm's identity). */
    corpus: r.corpus === undefined ? null : { dataset: r.corpus.dataset, trainBytes: r.corpus.train.bytes, valBytes: r.corpus.val.bytes, valSha256: r.corpus.val.sha256 },
    hardware: r.hardware,
    python: r.python === undefined ? null : { path: r.python.path, torch: r.python.torch },
    confinement: daemon.confinement ?? null,
    workers: loops.length,
    current: loops.find((l) => l.current !== undefined)?.current ?? null,
    running: loops.map((l) => l.current).filter((c) => c !== undefined),
    stats: loops.length === 0
      ? null
      : loops.reduce((sum, l) => ({
        experiments: sum.experiments + l.stats.experiments,
        crashes: sum.crashes + l.stats.crashes,
        failedProposals: sum.failedProposals + l.stats.failedProposals,
        duplicatesAvoided: sum.duplicatesAvoided + l.stats.duplicatesAvoided,
        lastOverheadMs: l.stats.lastOverheadMs ?? sum.lastOverheadMs
      }), { experiments: 0, crashes: 0, failedProposals: 0, duplicatesAvoided: 0, lastOverheadMs: null as number | null })

  }
}

/**
 * A result; `duplicateOf` names the earlier result it repeats (marked after a partition merged),
 * else null; `trust` says whether this node trusts its numbers (self, trusted by reproduction,
 * refuted, or unverified: a candidate).
 */
export function resultView (r: ResultView, mark?: DuplicateMark, trust?: TrustStatus) {
  return {
    id: r.id,
    author: r.author,
    createdAt: r.createdAt,
    ...r.body,
    duplicateOf: mark === undefined ? null : { of: mark.of, layer: mark.layer, score: mark.score ?? null },
    trust: trust ?? null
  }
}

export type ResultJson = ReturnType<typeof resultView>

/**
 * The tier's best trusted result as this daemon sees it, among runs to the same budget; what a
 * claim builds on by default.
 */
export function bestResult (daemon: Daemon, tier: Tier): ResultView | undefined {
  const maxSteps = daemon.config.maxSteps > 0 ? daemon.config.maxSteps : undefined
  return bestView(resultsView(daemon.state, daemon.research.harness), { tier, trusted: (id) => daemon.trust.isTrusted(id), maxSteps })
}
