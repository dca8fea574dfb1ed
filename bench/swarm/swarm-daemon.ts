/**
 * One bench:swarm daemon, its own process: a real `Daemon` (libp2p on loopback, LevelDB, claims,
 * dedup with the MiniLM model, trust, the builtin agent's research loop) whose runs go to the
 * surrogate instead of Python. Started by bench/swarm.ts with one JSON argument (SwarmDaemonArgs);
 * writes daemon.json like `swarmd start`, stops on SIGTERM.
 */
import '../../src/util/polyfill.js'
import { join } from 'node:path'
import { resolveConfig } from '../../src/config/config.js'
import { Daemon } from '../../src/daemon/daemon.js'
import { seededRng } from '../../src/util/rng.js'
import { BENCH_GOSSIP_BUDGET } from '../harness.js'
import { loadLandscape } from './landscape.js'
import { SurrogateRunner } from './surrogate-runner.js'

/** The policies a daemon can take part in (bench/swarm.ts names them). */
export type DaemonPolicy = 'swarm' | 'claims-only' | 'alone'

export interface SwarmDaemonArgs {
  dataDir: string
  landscape: string
  runMs: number
  seed: number
  node: number
  policy: DaemonPolicy
  bootstrap: string[]
  /** How many real seconds one bench second stands for: per-hour and per-minute allowances scale by it. */
  compression: number
  /** A liar (bench `--liars`): its experiments report this much better than they measured. */
  lie?: number
  /** libp2p and API addresses (bench:chaos runs each daemon in its own network namespace); default loopback. */
  listen?: string
  httpHost?: string
  /** Claims of a killed daemon end within this (bench:chaos); default: the profile's. */
  claimTtlMs?: number
}

const args = JSON.parse(process.argv[2] ?? '{}') as SwarmDaemonArgs
const landscape = await loadLandscape(args.landscape)
// The bench sends SIGUSR2 once every daemon of the trial is up (and connected): no run starts before.
let go: () => void = () => {}
const start = new Promise<void>((resolve) => { go = resolve })
process.on('SIGUSR2', () => { go() })
const scaled = (perPeriod: number): number => Math.ceil(perPeriod * args.compression)
const config = resolveConfig({
  file: {},
  env: {},
  flags: {
    listen: [args.listen ?? '/ip4/127.0.0.1/tcp/0'],
    ...(args.httpHost !== undefined ? { httpHost: args.httpHost } : {}),
    ...(args.claimTtlMs !== undefined ? { claimTtlMs: args.claimTtlMs, claimMaxTtlMs: args.claimTtlMs } : {}),
    httpPort: 0,
    mdns: false,
    upnp: false,
    agent: 'builtin',
    profile: 'cpu',
    bootstrap: args.bootstrap,
    // Allowances per hour or minute, in bench time: a bench second stands for `compression` seconds.
    gossipRecordsPerPeerPerMinute: BENCH_GOSSIP_BUDGET,
    gossipRecordsPerLinkPerMinute: BENCH_GOSSIP_BUDGET,
    blobRequestsPerPeerPerMinute: scaled(120),
    syncRequestsPerPeerPerMinute: scaled(30),
    claimRaceYieldsPerHour: scaled(10),
    hypothesesPerHour: scaled(20)
  },
  shippedBootstrap: []
})
const daemon = new Daemon({
  dataDir: args.dataDir,
  config,
  rng: seededRng(args.seed * 104_729 + args.node),
  log: (line) => { process.stderr.write(`[node ${args.node}] ${line}\n`) },
  experiments: {
    runner: new SurrogateRunner({ landscape, runMs: args.runMs, seed: args.seed, node: args.node, eventsPath: join(args.dataDir, 'runs.jsonl'), start, ...(args.lie !== undefined ? { lie: args.lie } : {}) }),
    environment: { torch: 'surrogate' },
    ownResultsOnly: args.policy === 'claims-only'
  }
})
await daemon.start()
let stopping = false
process.on('SIGTERM', () => {
  if (stopping) return
  stopping = true
  void daemon.stop().finally(() => process.exit(0))
})
