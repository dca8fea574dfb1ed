/**
 * Does a swarm research faster than its members alone? Real daemons (separate processes, libp2p
 * on loopback, gossip, claims, dedup, trust, the builtin agent's research loop) with only the
 * training replaced: a surrogate whose val_bpb is a noisy function of train.py's constants, read
 * from a landscape file (bench/swarm/landscape.ts), each run taking --run-ms of wall time
 * whatever it is (experiments, verification re-runs and their references alike).
 *
 *   npm run bench:swarm                       # defaults: --agents 8 --seeds 10 --run-ms 3000 --wall-s 180
 *   npm run bench:swarm -- --landscape bench/swarm/landscapes/ridge.json --out /tmp/swarm
 *   npm run bench:swarm -- --policies swarmd --liars 1   # one daemon reports its experiments better than measured
 *
 * Policies, each on the same seeds (a seed fixes the proposers' randomness and the run noise):
 *   one          one agent alone
 *   isolated     N agents, each alone
 *   swarmd       N agents through swarmd
 *   claims-only  N agents sharing only claims: connected, but each builds on its own results only
 *
 * Per policy, over the seeds: wall time and runs (all kinds) until a finished experiment's true
 * value reaches the landscape's target, best true val_bpb at the end, executed duplicates,
 * share of run time spent verifying, idle share; with --liars, whether any honest daemon built on
 * or trusted a liar's result (asked over each daemon's API at the end). One summary line per policy on stdout, and
 * swarm.json + swarm.png (mean best val_bpb over wall time per policy) in --out.
 * SWARMD_BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=DIR' passes node flags to every daemon (profiling).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { loadLandscape } from './swarm/landscape.js'
import { lineChartPng } from './swarm/png-chart.js'
import { LIE, POLICIES, runTrial } from './swarm/trial.js'
import { bestAt, spread, trialMetrics } from './swarm/trial-metrics.js'
import { machineLine, parseFlags, progress } from './harness.js'
import type { Rgb } from './swarm/png-chart.js'
import type { FakeOutcome, PolicyName } from './swarm/trial.js'
import type { Spread, TrialMetrics } from './swarm/trial-metrics.js'

export const DEFAULT_LANDSCAPE = fileURLToPath(new URL('../../bench/swarm/landscapes/bowl.json', import.meta.url))

export interface SwarmBenchOptions {
  agents: number
  seeds: number[]
  runMs: number
  wallMs: number
  /** The one-agent policy's trial length when longer (it is the slowest: measured, not a lower bound). Default `wallMs`. */
  oneWallMs?: number
  landscape: string
  policies: PolicyName[]
  /** A real run's length this stands for, ms (5 minutes): per-hour allowances scale by realRunMs / runMs. */
  realRunMs?: number
  /** Liars among a connected policy's daemons (bench/swarm/trial.ts `LIE`). Default 0. */
  liars?: number
  onTrial?: (policy: PolicyName, seed: number, metrics: TrialMetrics) => void
}

export interface PolicySummary {
  policy: PolicyName
  about: string
  daemons: number
  trials: TrialMetrics[]
  reached: number
  /** Time to target in s; a trial that never reached it counts as the whole wall time (so speed-ups are lower bounds). */
  timeToTargetS: Spread
  runsToTarget: Spread
  bestAtEnd: Spread
  executedDuplicates: Spread
  duplicateShare: number
  verificationShare: Spread
  idleShare: Spread
  /** Mean running best over the seeds, sampled over the wall time. */
  meanCurve: Array<[number, number]>
}

export async function runSwarmBench (options: SwarmBenchOptions): Promise<{ target: number, landscape: string, policies: PolicySummary[] }> {
  const landscape = await loadLandscape(options.landscape)
  const compression = (options.realRunMs ?? 300_000) / options.runMs
  const out: PolicySummary[] = []
  for (const policy of options.policies) {
    const trials: TrialMetrics[] = []
    const wallMs = policy === 'one' ? options.oneWallMs ?? options.wallMs : options.wallMs
    for (const seed of options.seeds) {
      const record = await runTrial({ policy, agents: options.agents, seed, landscape: options.landscape, runMs: options.runMs, wallMs, compression, liars: options.liars ?? 0 })
      const metrics: TrialMetrics = { ...trialMetrics(record.events, { t0: record.t0, wallMs, nodes: record.nodes, target: landscape.target }), ...(record.fakes !== undefined ? { fakes: record.fakes } : {}) }
      trials.push(metrics)
      options.onTrial?.(policy, seed, metrics)
    }
    out.push(summarize(policy, POLICIES[policy].daemons(options.agents), trials, wallMs))
  }
  return { target: landscape.target, landscape: landscape.name, policies: out }
}

function summarize (policy: PolicyName, daemons: number, trials: TrialMetrics[], wallMs: number): PolicySummary {
  const experiments = trials.reduce((sum, t) => sum + t.experiments, 0)
  const duplicates = trials.reduce((sum, t) => sum + t.executedDuplicates, 0)
  const samples = 120
  const meanCurve: Array<[number, number]> = []
  for (let i = 0; i <= samples; i++) {
    const ms = wallMs * i / samples
    const values = trials.map((t) => bestAt(t.curve, ms)).filter((v) => v !== null)
    // Only once every seed has a finished experiment: a mean of some seeds would jump.
    if (values.length === trials.length) meanCurve.push([ms / 1000, values.reduce((a, b) => a + b, 0) / values.length])
  }
  return {
    policy,
    about: POLICIES[policy].about,
    daemons,
    trials,
    reached: trials.filter((t) => t.timeToTargetMs !== null).length,
    timeToTargetS: spread(trials.map((t) => (t.timeToTargetMs ?? wallMs) / 1000)),
    runsToTarget: spread(trials.filter((t) => t.runsToTarget !== null).map((t) => t.runsToTarget!)),
    bestAtEnd: spread(trials.filter((t) => t.bestAtEnd !== null).map((t) => t.bestAtEnd!)),
    executedDuplicates: spread(trials.map((t) => t.executedDuplicates)),
    duplicateShare: experiments === 0 ? 0 : duplicates / experiments,
    verificationShare: spread(trials.map((t) => t.verificationShare)),
    idleShare: spread(trials.map((t) => t.idleShare)),
    meanCurve
  }
}

const COLORS: Record<PolicyName, Rgb> = { one: [120, 120, 120], isolated: [230, 140, 20], swarmd: [30, 110, 220], 'claims-only': [40, 160, 80] }

export function chartOf (result: { target: number, landscape: string, policies: PolicySummary[] }, agents: number): Buffer {
  return lineChartPng({
    title: `bench:swarm, ${agents} agents, landscape ${result.landscape}: mean best val_bpb`,
    xLabel: 'wall time (s)',
    yLabel: 'best val_bpb',
    series: result.policies.map((p) => ({ label: `${p.policy} (${p.daemons})`, color: COLORS[p.policy], points: p.meanCurve })),
    marker: { y: result.target, label: `target ${result.target}` }
  })
}

function line (p: PolicySummary): string {
  const f = (s: Spread, digits = 1): string => Number.isNaN(s.mean) ? '-' : `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)}`
  return `${p.policy.padEnd(12)} ${String(p.daemons).padStart(2)} daemons  target reached ${p.reached}/${p.trials.length}  ` +
    `time ${f(p.timeToTargetS)} s  runs ${f(p.runsToTarget, 0)}  best ${f(p.bestAtEnd, 4)}  ` +
    `duplicates ${(100 * p.duplicateShare).toFixed(1)} %  verification ${(100 * p.verificationShare.mean).toFixed(1)} %  idle ${(100 * p.idleShare.mean).toFixed(1)} %` + fakesText(p.trials)
}

/** The liars' results summed over the seeds: published, built on by honest daemons, trusted and caught there. */
function fakesText (trials: readonly TrialMetrics[]): string {
  const withFakes = trials.flatMap((t) => t.fakes !== undefined ? [t.fakes] : [])
  if (withFakes.length === 0) return ''
  const sum = (key: keyof FakeOutcome): number => withFakes.reduce((n, f) => n + f[key], 0)
  return `  fakes: ${sum('published')} published, built on ${sum('builtOn')} times, trusted ${sum('trusted')} times, caught ${sum('caught')} times (over honest daemons)`
}

/** `--name VALUE` string flags, taken out of argv before the numeric ones are parsed. */
function takeStrings (argv: string[], names: string[]): { strings: Map<string, string>, rest: string[] } {
  const strings = new Map<string, string>()
  const rest: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const name = names.find((n) => arg === `--${n}` || arg.startsWith(`--${n}=`))
    if (name === undefined) rest.push(arg)
    else strings.set(name, arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i] ?? '')
  }
  return { strings, rest }
}

async function main (): Promise<void> {
  const { strings, rest } = takeStrings(process.argv.slice(2), ['landscape', 'out', 'policies'])
  const flags = parseFlags('bench:swarm', 'time to a target val_bpb for one agent, N isolated agents, N agents through swarmd and N sharing only claims (real daemons, surrogate training); also --landscape FILE, --out DIR, --policies one,isolated,swarmd,claims-only', {
    agents: { default: 8, help: 'agents (daemons) per multi-agent policy' },
    seeds: { default: 10, help: 'seeds per policy' },
    'seed-base': { default: 1, help: 'first seed' },
    'run-ms': { default: 3000, help: 'wall time of every run (a 5-minute run)' },
    'wall-s': { default: 180, help: 'wall time of each trial' },
    'one-wall-s': { default: 0, help: 'wall time of each one-agent trial, when longer (0: --wall-s)' },
    liars: { default: 0, help: `daemons of a connected policy that report their experiments ${LIE} better than measured` }
  }, rest)
  const policies = (strings.get('policies') ?? Object.keys(POLICIES).join(',')).split(',').map((p) => p.trim())
  for (const p of policies) if (!(p in POLICIES)) throw new Error(`--policies: unknown policy "${p}" (one, isolated, swarmd, claims-only)`)
  const landscape = resolve(strings.get('landscape') ?? DEFAULT_LANDSCAPE)
  const outDir = resolve(strings.get('out') ?? 'bench-results/swarm')
  const seeds = Array.from({ length: flags.seeds }, (_, i) => flags['seed-base'] + i)
  process.stdout.write(`${machineLine()}\nbench:swarm: ${flags.agents} agents${flags.liars > 0 ? ` (${flags.liars} of them liars in connected policies)` : ''}, ${seeds.length} seeds, runs of ${flags['run-ms']} ms, ${flags['wall-s']} s per trial, landscape ${landscape}\n`)
  const result = await runSwarmBench({
    agents: flags.agents,
    seeds,
    runMs: flags['run-ms'],
    wallMs: flags['wall-s'] * 1000,
    ...(flags['one-wall-s'] > 0 ? { oneWallMs: flags['one-wall-s'] * 1000 } : {}),
    landscape,
    policies: policies as PolicyName[],
    liars: flags.liars,
    onTrial: (policy, seed, m) => { progress(`${policy} seed ${seed}: target ${m.timeToTargetMs === null ? 'not reached' : `at ${(m.timeToTargetMs / 1000).toFixed(1)} s`}, best ${m.bestAtEnd?.toFixed(4) ?? '-'}, ${m.experiments} experiments, ${m.executedDuplicates} duplicates, verification ${(100 * m.verificationShare).toFixed(0)} %`) }
  })
  process.stdout.write(`target val_bpb ${result.target} (landscape ${result.landscape})\n`)
  for (const p of result.policies) process.stdout.write(line(p) + '\n')
  const time = new Map(result.policies.map((p) => [p.policy, p.timeToTargetS.mean]))
  const swarm = time.get('swarmd')
  if (swarm !== undefined) {
    for (const other of ['one', 'isolated', 'claims-only'] as const) {
      const t = time.get(other)
      if (t !== undefined) process.stdout.write(`speed-up of swarmd over ${other}: ${(t / swarm).toFixed(2)}x (time to target, unreached trials counted as the full wall time)\n`)
    }
  }
  await mkdir(outDir, { recursive: true })
  await writeFile(join(outDir, 'swarm.json'), JSON.stringify({ machine: machineLine(), flags, landscapeFile: landscape, ...result }, null, 2))
  await writeFile(join(outDir, 'swarm.png'), chartOf(result, flags.agents))
  process.stdout.write(`wrote ${join(outDir, 'swarm.json')} and ${join(outDir, 'swarm.png')}\n`)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main()
