/**
 * One bench:swarm trial: a policy's daemons as child processes on loopback (bench/swarm/swarm-daemon.ts),
 * started together, run for a fixed wall time, stopped; their surrogate runs read back.
 */
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { waitFor } from '../../test/helpers/wait.js'
import { sleep } from '../harness.js'
import { apiOf, startSwarmDaemon, stopSwarmDaemon as stop, swarmDaemonDataDir } from './daemon-child.js'
import type { SwarmDaemonChild as Child } from './daemon-child.js'
import type { DaemonPolicy, SwarmDaemonArgs } from './swarm-daemon.js'
import type { RunEvent } from './surrogate-runner.js'

/** The four ways of working bench:swarm compares. */
export const POLICIES = {
  one: { about: 'one agent alone', daemons: (_n: number) => 1, daemon: 'alone', connected: false },
  isolated: { about: 'N agents, each alone', daemons: (n: number) => n, daemon: 'alone', connected: false },
  swarmd: { about: 'N agents through swarmd', daemons: (n: number) => n, daemon: 'swarm', connected: true },
  'claims-only': { about: 'N agents sharing only claims', daemons: (n: number) => n, daemon: 'claims-only', connected: true }
} as const satisfies Record<string, { about: string, daemons: (n: number) => number, daemon: DaemonPolicy, connected: boolean }>

export type PolicyName = keyof typeof POLICIES

export interface TrialSpec {
  policy: PolicyName
  agents: number
  seed: number
  landscape: string
  runMs: number
  wallMs: number
  compression: number
  /** Daemon log lines go here (default: dropped; the last ones are printed if a daemon dies). */
  log?: (line: string) => void
  /**
   * Connected policies: the last `liars` daemons report their experiments `LIE` better than they
   * measured (their re-runs of others stay honest): does any honest daemon build on a fake?
   */
  liars?: number
}

/** How much better a liar reports: 5 tolerances of the cpu profile, refuted by any re-run. */
export const LIE = 0.05

export interface TrialRecord {
  events: RunEvent[]
  /** The start signal, ms since the epoch: event times are measured from it. */
  t0: number
  nodes: number
  /** With liars: what the honest daemons made of the fakes at the end (undefined without liars). */
  fakes?: FakeOutcome
}

/** The honest daemons' view of the liars' results at the end of a trial. */
export interface FakeOutcome {
  /** Results the liars published. */
  published: number
  /** Experiments of honest daemons built on a liar's result (a fake as a baseline). */
  builtOn: number
  /** (honest daemon, liar's result) pairs where the daemon trusts the result. */
  trusted: number
  /** (honest daemon, liar's result) pairs the daemon holds refuted or not reproduced. */
  caught: number
}

export async function runTrial (spec: TrialSpec): Promise<TrialRecord> {
  const policy = POLICIES[spec.policy]
  const count = policy.daemons(spec.agents)
  const children: Child[] = []
  try {
    for (let node = 0; node < count; node++) {
      // Connected policies meet through the first daemon, as volunteers meet through a bootstrap peer.
      const bootstrap = policy.connected && node > 0 ? [children[0]!.listen[0]!] : []
      const lie = policy.connected && node >= count - (spec.liars ?? 0) ? LIE : undefined
      children.push(await spawnDaemon(spec, policy.daemon, node, bootstrap, lie))
    }
    if (policy.connected) await waitForMesh(children)
    const t0 = Date.now()
    for (const child of children) child.proc.kill('SIGUSR2')
    await sleep(spec.wallMs)
    const liars = policy.connected ? Math.min(spec.liars ?? 0, count) : 0
    const fakes = liars > 0 ? await fakeOutcome(children.slice(0, count - liars), children.slice(count - liars)) : undefined
    await Promise.all(children.map(stop))
    const events: RunEvent[] = []
    for (const child of children) {
      const text = await readFile(join(child.dir, 'runs.jsonl'), 'utf8').catch(() => '')
      for (const line of text.split('\n')) if (line.trim() !== '') events.push(JSON.parse(line) as RunEvent)
    }
    return { events, t0, nodes: count, ...(fakes !== undefined ? { fakes } : {}) }
  } finally {
    await Promise.all(children.map(async (child) => {
      await stop(child)
      await rm(child.dir, { recursive: true, force: true })
    }))
  }
}

async function spawnDaemon (spec: TrialSpec, policy: DaemonPolicy, node: number, bootstrap: string[], lie: number | undefined): Promise<Child> {
  const dir = await swarmDaemonDataDir()
  const args: SwarmDaemonArgs = { dataDir: dir, landscape: spec.landscape, runMs: spec.runMs, seed: spec.seed, node, policy, bootstrap, compression: spec.compression, ...(lie !== undefined ? { lie } : {}) }
  return await startSwarmDaemon(args, { ...(spec.log !== undefined ? { log: spec.log } : {}) })
}

interface ApiResult { id: string, author: string, parent: string | null, trust: string | null }

/** Ask every honest daemon, over its API, what it holds of the liars' results and what it built on them. */
async function fakeOutcome (honest: Child[], liars: Child[]): Promise<FakeOutcome> {
  const liarIds = new Set(await Promise.all(liars.map(async (c) => ((await (await fetch(`${await apiOf(c)}/api/status`)).json()) as { peerId: string }).peerId)))
  const outcome: FakeOutcome = { published: 0, builtOn: 0, trusted: 0, caught: 0 }
  for (const child of honest) {
    const api = await apiOf(child)
    const self = ((await (await fetch(`${api}/api/status`)).json()) as { peerId: string }).peerId
    const results = ((await (await fetch(`${api}/api/results`)).json()) as { results: ApiResult[] }).results
    const fake = new Set(results.filter((r) => liarIds.has(r.author)).map((r) => r.id))
    outcome.published = Math.max(outcome.published, fake.size)
    for (const r of results) {
      if (r.author === self && r.parent !== null && fake.has(r.parent)) outcome.builtOn++
      if (!fake.has(r.id)) continue
      if (r.trust === 'trusted') outcome.trusted++
      if (r.trust === 'refuted' || r.trust === 'not-reproduced') outcome.caught++
    }
  }
  return outcome
}

/** Every daemon sees at least one peer on the swarm's topic, the first one all of them. */
async function waitForMesh (children: Child[]): Promise<void> {
  const apis = await Promise.all(children.map(apiOf))
  await waitFor(async () => {
    const seen = await Promise.all(apis.map(async (api) => ((await (await fetch(`${api}/api/status`)).json()) as { topicPeers: number }).topicPeers))
    return seen.every((n, i) => n >= (i === 0 ? children.length - 1 : 1))
  }, { timeoutMs: 60_000, intervalMs: 200, what: 'the bench daemons to meet on the swarm topic' })
}
