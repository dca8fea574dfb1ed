import { stateTopic } from '../p2p/swarm-network.js'
import type { Daemon } from '../daemon/daemon.js'
import type { StoredRecord } from '../state/records.js'
import type { ResultView } from '../state/views.js'
import type { HypothesisBody } from '../state/record-kinds.js'

/** The JSON the API and the status page show: plain data, no live objects. */
export function statusView (daemon: Daemon, now: number) {
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
    time: now
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

export function hypothesisView (rec: StoredRecord<'hypothesis'>) {
  const body = rec.record.body as HypothesisBody
  return {
    id: rec.id,
    key: rec.key,
    author: rec.record.author,
    createdAt: rec.record.createdAt,
    title: body.title,
    text: body.text,
    priority: body.priority ?? 0,
    suggestedDelta: body.suggestedDelta ?? [],
    evidence: body.evidence ?? []
  }
}

export type StatusView = ReturnType<typeof statusView>
export type HypothesisView = ReturnType<typeof hypothesisView>

export function researchView (daemon: Daemon) {
  const r = daemon.research
  const loops = daemon.loops
  return {
    agent: r.agent,
    profile: r.profile,
    tier: r.tier,
    harness: r.harness,
    hardware: r.hardware,
    python: r.python === undefined ? null : { path: r.python.path, torch: r.python.torch },
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

export function resultView (r: ResultView) {
  return { id: r.id, author: r.author, createdAt: r.createdAt, ...r.body }
}
