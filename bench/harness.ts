/**
 * Shared pieces of the benchmarks in bench/ (never part of `npm test`): flag parsing,
 * the machine line, percentiles, and starting in-process daemons that meet through one
 * bootstrap address. Results go to stdout, progress to stderr.
 */
import '../src/util/polyfill.js'
import { readFileSync } from 'node:fs'
import { availableParallelism, loadavg, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { stateTopic } from '../src/p2p/swarm-network.js'
import { RECORD_KINDS } from '../src/state/record-kinds.js'
import { startInProcessDaemon } from '../test/helpers/in-process-daemon.js'
import { waitFor } from '../test/helpers/wait.js'
import type { Daemon } from '../src/daemon/daemon.js'
import type { StoredRecord } from '../src/state/records.js'

/** One numeric flag (or, with a list default, a comma-separated list): its default and meaning. */
export interface FlagSpec {
  default: number | number[]
  help: string
}

type FlagValues<S extends Record<string, FlagSpec>> = { [K in keyof S]: S[K]['default'] extends number[] ? number[] : number }

/**
 * Parse `--name N` (or `--name 3,10` where the default is a list) against `spec`;
 * `--help` prints them and exits. Unknown flags are an error, so a typo never silently
 * runs the default.
 */
export function parseFlags<S extends Record<string, FlagSpec>> (name: string, about: string, spec: S, argv = process.argv.slice(2)): FlagValues<S> {
  const options: Record<string, { type: 'string' } | { type: 'boolean' }> = { help: { type: 'boolean' } }
  for (const key of Object.keys(spec)) options[key] = { type: 'string' }
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message} (see --help)\n`)
    process.exit(2)
  }
  if (values.help === true) {
    process.stdout.write(`${name}: ${about}\n\nflags:\n`)
    for (const [key, s] of Object.entries(spec)) {
      const shown = Array.isArray(s.default) ? s.default.join(',') : String(s.default)
      process.stdout.write(`  --${key} ${Array.isArray(s.default) ? 'N,M' : 'N'}`.padEnd(26) + `${s.help} (default ${shown})\n`)
    }
    process.exit(0)
  }
  const out: Record<string, number | number[]> = {}
  for (const [key, s] of Object.entries(spec)) {
    const raw = values[key]
    if (typeof raw !== 'string') {
      out[key] = s.default
      continue
    }
    const parts = raw.split(',').map((p) => p.trim())
    const nums = parts.map(Number)
    if ((!Array.isArray(s.default) && parts.length !== 1) || parts.some((p) => p === '') || nums.some((n) => !Number.isFinite(n) || n < 0)) {
      process.stderr.write(`${name}: --${key} expects ${Array.isArray(s.default) ? 'comma-separated non-negative numbers' : 'a non-negative number'}, got "${raw}"\n`)
      process.exit(2)
    }
    out[key] = Array.isArray(s.default) ? nums : nums[0]!
  }
  return out as FlagValues<S>
}

// Taken when the bench starts: later, the bench's own threads dominate it.
const loadAtStart = loadavg()[0]!

/** The machine a number was measured on, for BENCHMARKS.md. */
export function machineLine (): string {
  let cpu = 'unknown CPU'
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu
  } catch {}
  const gib = (totalmem() / 2 ** 30).toFixed(1)
  // The load average before the bench shows whether something else was using the cores.
  return `${availableParallelism()} cores (${cpu}), ${gib} GiB RAM, node ${process.version}, ${process.platform}; ${new Date().toISOString()}; load average (1 min) at start ${loadAtStart.toFixed(2)}`
}

/** Progress for long work: stderr, so stdout holds only the results. */
export function progress (line: string): void {
  process.stderr.write(`  .. ${line}\n`)
}

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export interface Summary {
  n: number
  min: number
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

/** Nearest-rank percentile of an ascending array. */
export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

export function summarize (values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b)
  const sum = sorted.reduce((a, b) => a + b, 0)
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length
  }
}

export function fmtMs (ms: number): string {
  if (!Number.isFinite(ms)) return '-'
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)
}

/** `label  n=.. p50=.. p90=.. p99=.. max=.. ms` on one line. */
export function summaryLine (label: string, s: Summary): string {
  return `${label.padEnd(30)} n=${String(s.n).padEnd(6)} p50=${fmtMs(s.p50).padStart(6)}  p90=${fmtMs(s.p90).padStart(6)}  p99=${fmtMs(s.p99).padStart(6)}  max=${fmtMs(s.max).padStart(6)} ms`
}

export function fmtBytes (bytes: number): string {
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(2)} MiB`
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`
  return `${bytes} B`
}

/** The daemon's own listen address with `/p2p/<peerId>`, as a bootstrap entry. */
export function dialAddr (daemon: Daemon): string {
  const addr = daemon.listenAddrs().find((a) => a.startsWith('/ip4/127.0.0.1/tcp/'))
  if (addr === undefined) throw new Error('daemon has no loopback TCP address')
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${daemon.identity.peerId.toString()}`
}

/**
 * Start `n` in-process daemons (real libp2p over TCP on loopback, LevelDB in temp dirs):
 * the first is the bootstrap peer of all others. Returns once all are listening.
 */
export async function startMesh (n: number): Promise<Daemon[]> {
  const first = await startInProcessDaemon()
  const bootstrap = [dialAddr(first)]
  const rest = await Promise.all(Array.from({ length: n - 1 }, async () => startInProcessDaemon({ bootstrap })))
  return [first, ...rest]
}

/** How many peers `daemon` sees subscribed to its swarm's state topic (named by the swarm key). */
export function topicPeers (daemon: Daemon): number {
  return daemon.network.libp2p.services.pubsub.getSubscribers(stateTopic(daemon.research.swarmKey)).length
}

/**
 * Wait until each of `n` daemons sees at least `min(n-1, 4)` topic subscribers
 * (gossipsub's D_lo is 4, so that many lets each fill its mesh). `seen` reports the
 * count per daemon. Peers meet only through the one bootstrap address and discovery;
 * nothing is dialled by hand. Resolves with the time it took, ms.
 */
export async function waitForMesh (n: number, seen: () => number[] | Promise<number[]>, timeoutMs: number): Promise<number> {
  const need = Math.min(n - 1, 4)
  const started = performance.now()
  let lastReport = started
  let last: number[] = []
  await waitFor(async () => {
    last = await seen()
    if (performance.now() - lastReport > 5_000) {
      lastReport = performance.now()
      progress(`mesh forming: topic peers per daemon [${last.join(' ')}], need >= ${need}`)
    }
    return last.every((s) => s >= need)
  }, { timeoutMs, intervalMs: 100, what: `every daemon to see >= ${need} topic peers` }).catch((err: unknown) => {
    throw new Error(`${(err as Error).message} (last seen [${last.join(' ')}])`)
  })
  return performance.now() - started
}

/** Every record of every kind a daemon holds. */
export function allRecords (daemon: Daemon): StoredRecord[] {
  return RECORD_KINDS.flatMap((kind) => daemon.state.list(kind))
}

export function recordTotal (daemon: Daemon): number {
  return Object.values(daemon.state.counts()).reduce((a, b) => a + b, 0)
}

/** A deterministic filler text of `bytes` ASCII bytes, varied by `seed`. */
export function fillerText (bytes: number, seed: number): string {
  const words = ['learning', 'rate', 'warmup', 'rotary', 'embedding', 'batch', 'size', 'weight', 'decay', 'loss', 'val', 'bpb', 'depth', 'width', 'muon', 'adam']
  let out = ''
  let i = seed
  while (out.length < bytes) {
    out += words[i % words.length]! + ' '
    i = (i * 1103515245 + 12345) >>> 0
  }
  return out.slice(0, bytes)
}

/**
 * Milliseconds on the monotonic clock every thread and process of this machine shares,
 * so times taken on different worker threads can be subtracted.
 */
export function monotonicMs (): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/**
 * The benches write records far faster than any honest daemon (20-50 a second from one), which the
 * daemon's per-author gossip budget (600 a minute) would throttle: they measure propagation and
 * catch-up, not the limiter, so their daemons lift it.
 */
export const BENCH_GOSSIP_BUDGET = 1_000_000

/**
 * What the propagation and catch-up benches lift on every daemon, besides the gossip budget: the
 * hourly hypothesis allowance (20 per author; past it an author is a spammer, scored below
 * gossipsub's publish threshold, and every mesh link dies, which left 86 of 800 deliveries of a
 * 5-daemon run to the 30 s anti-entropy pull), and what assumes one daemon per address (every bench
 * daemon is on 127.0.0.1): gossipsub's colocation threshold (past 10 from one address each costs
 * score) and the half-open inbound connections one address may hold (4: twenty daemons dialling
 * each other at start were refused, and a discovered peer is dialled once, so some never met).
 */
export const BENCH_DAEMON_LIMITS = {
  gossipRecordsPerPeerPerMinute: BENCH_GOSSIP_BUDGET,
  gossipRecordsPerLinkPerMinute: BENCH_GOSSIP_BUDGET,
  hypothesesPerHour: 1_000_000,
  gossipIpColocationThreshold: 1_000,
  maxPendingPerIp: 1_000,
  maxPendingPerRange: 1_000
} as const
