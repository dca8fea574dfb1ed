import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { bestView } from '../claims/lineage.js'
import { RECORD_KINDS, TIERS } from '../state/record-kinds.js'
import type { ApiServices } from './api-ports.js'
import type { RunReport } from '../agent/research-loop.js'
import type { Rejection } from '../p2p/peer-penalties.js'
import type { NetworkSnapshot } from '../p2p/swarm-network.js'

/** What `/metrics` reads at scrape time: the API's own ports, nothing more. */
export type MetricsPorts = Pick<ApiServices, 'network' | 'counts' | 'claims' | 'trust' | 'defaults'>

/** How `GET /metrics` reaches the registry: the text and its content type. */
export interface MetricsPort {
  /** `text/plain; version=0.0.4; charset=utf-8`: Prometheus' text exposition format. */
  readonly contentType: string
  text(): Promise<string>
}

/**
 * Buckets of `swarmd_run_seconds`: a step-limited cpu run takes ~4 s (100 steps, DESIGN §1), the
 * cpu profile's budget is 20-40 s and a gpu run's 5 min plus start-up and evaluation; up to an hour
 * for a slow machine or a long budget.
 */
const RUN_SECONDS_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600]

/**
 * Fault codes are a fixed set (src/state, src/p2p); the few faults that are sentences name one of
 * libp2p's protocols from a fixed table (src/p2p/libp2p-node.ts). Anything else is `OTHER`, so a
 * label never takes a value a peer could choose.
 */
export function rejectionReason (fault: string): string {
  const code = fault.replace(/ \(signer\)$/, '')
  if (/^[A-Z][A-Z0-9_]{0,63}$/.test(code)) return code
  if (code.startsWith('endless length prefix on ')) return 'LENGTH_PREFIX_ENDLESS'
  if (code.endsWith(' on a direct connection')) return 'RELAYED_ONLY_ON_DIRECT'
  return 'OTHER'
}

/**
 * The daemon's Prometheus metrics (`swarmd_*`) in a registry of its own: never prom-client's
 * global one, as tests and benches run several daemons in one process. libp2p's own metrics
 * (`libp2p_*`, and Node's `nodejs_*`/`process_*`) go into the same registry through
 * `@libp2p/prometheus-metrics` (wired in src/daemon/daemon.ts). Counters move as things happen; the
 * gauges (peers, records, best val_bpb) are read from the API's ports at each scrape.
 * Every label is from a fixed set: record kinds, tiers, channels, verdicts, fault codes; never a peer id.
 */
export class SwarmdMetrics implements MetricsPort {
  readonly registry = new Registry()
  private ports: MetricsPorts | undefined
  private snapshot: NetworkSnapshot | undefined
  private readonly rejections: Counter<'channel' | 'verdict' | 'reason'>
  private readonly runs: Counter<'kind' | 'status'>
  private readonly runSeconds: Histogram<'kind'>

  constructor () {
    const registers = [this.registry]
    this.rejections = new Counter({ name: 'swarmd_rejections_total', help: 'Refused peer input, by channel (gossip, sync, blob, libp2p), verdict (reject costs the sender score, ignore does not) and reason (fault code)', labelNames: ['channel', 'verdict', 'reason'], registers })
    this.runs = new Counter({ name: 'swarmd_runs_total', help: 'Training runs finished here, by kind (experiment, verification) and status (keep, discard, crash; ok, inconclusive; yielded)', labelNames: ['kind', 'status'], registers })
    this.runSeconds = new Histogram({ name: 'swarmd_run_seconds', help: 'Wall time of the training runs finished here, in seconds', labelNames: ['kind'], buckets: RUN_SECONDS_BUCKETS, registers })
    const scrape = (): MetricsPorts | undefined => this.ports
    // One network snapshot per scrape for the three gauges that read it.
    const snapshot = (ports: MetricsPorts): NetworkSnapshot => (this.snapshot ??= ports.network.snapshot())
    // Each gauge is registered by its construction; its collect() runs at every scrape.
    new Gauge({
      name: 'swarmd_peers',
      help: 'Connected peers (one each, whatever its connections)',
      registers,
      collect () {
        const ports = scrape()
        if (ports !== undefined) this.set(snapshot(ports).peers.length)
      }
    })
    new Gauge({
      name: 'swarmd_topic_peers',
      help: 'Connected peers subscribed to this swarm\'s gossip topic',
      registers,
      collect () {
        const ports = scrape()
        if (ports !== undefined) this.set(snapshot(ports).topicPeers)
      }
    })
    new Gauge({
      name: 'swarmd_blocked_peers',
      help: 'Peers blocked for bad input, now',
      registers,
      collect () {
        const ports = scrape()
        if (ports !== undefined) this.set(snapshot(ports).blocked.length)
      }
    })
    new Gauge({
      name: 'swarmd_records',
      help: 'Records in the replicated state, by kind',
      labelNames: ['kind'],
      registers,
      collect () {
        const ports = scrape()
        if (ports === undefined) return
        const counts = ports.counts()
        for (const kind of RECORD_KINDS) this.set({ kind }, counts[kind])
      }
    })
    new Gauge({
      name: 'swarmd_best_val_bpb',
      help: 'The tier\'s best trusted val_bpb as this node sees it (runs to this node\'s budget); absent for a tier without one',
      labelNames: ['tier'],
      registers,
      collect () {
        const ports = scrape()
        if (ports === undefined) return
        this.reset()
        // One sorted copy of the results for every tier (allResults sorts on each call).
        const results = ports.claims.ledger.allResults()
        const trusted = (id: string): boolean => ports.trust.isTrusted(id)
        for (const tier of TIERS) {
          const best = bestView(results, { tier, trusted, maxSteps: ports.defaults.maxSteps })
          if (best?.body.metrics != null) this.set({ tier }, best.body.metrics.val_bpb)
        }
      }
    })
  }

  /** From now on, the gauges read these ports (until then, while the daemon joins its swarm, they show 0 or nothing). */
  serve (ports: MetricsPorts): void { this.ports = ports }

  /** Count one refused piece of peer input (the network's `onRejection`). */
  rejection (r: Pick<Rejection, 'channel' | 'verdict' | 'fault'>): void {
    this.rejections.inc({ channel: r.channel, verdict: r.verdict, reason: rejectionReason(r.fault) })
  }

  /** Count one finished run (a research loop's `onRun`). */
  run (report: RunReport): void {
    this.runs.inc({ kind: report.kind, status: report.status })
    this.runSeconds.observe({ kind: report.kind }, report.seconds)
  }

  get contentType (): string { return this.registry.contentType }

  async text (): Promise<string> {
    this.snapshot = undefined
    try {
      return await this.registry.metrics()
    } finally {
      this.snapshot = undefined
    }
  }
}
