/**
 * A Jepsen-style chaos run (issue 17): N real daemons (bench/swarm/swarm-daemon.ts: the builtin
 * agent researching on the surrogate, so claims, results and verifications flow all the time),
 * each in its own network namespace on one bridge, while a test client writes hypotheses through
 * every daemon's API and a seeded nemesis partitions the network (random splits, bridges), drops
 * packets one way, throttles links and kills daemons with SIGKILL, restarting them. Then it heals
 * everything and checks what a user relies on: every record a daemon acknowledged is on every
 * daemon, all hold the same records (one digest), none died unasked or grew past a memory bound,
 * the claims of killed daemons ended. The seed fixes the fault schedule, so a failing seed replays.
 */
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { seededRng } from '../../src/util/rng.js'
import { processMemory } from '../proc-stats.js'
import { NetTopology } from '../../test/helpers/netns.js'
import { sleep } from '../harness.js'
import { apiOf, startSwarmDaemon, stopSwarmDaemon, swarmDaemonDataDir } from '../swarm/daemon-child.js'
import type { NetHost } from '../../test/helpers/netns.js'
import type { Rng } from '../../src/util/rng.js'
import type { SwarmDaemonChild } from '../swarm/daemon-child.js'
import type { SwarmDaemonArgs } from '../swarm/swarm-daemon.js'
import type { RunEvent } from '../swarm/surrogate-runner.js'

export interface ChaosSpec {
  seed: number
  /** Daemons (default 5). */
  nodes?: number
  /** How long the nemesis runs, ms. */
  faultMs: number
  /** One surrogate run's wall time, ms (default 1500). */
  runMs?: number
  landscape: string
  /** The longest the swarm may take to agree after the heal, ms (default 120 s). */
  settleMs?: number
  /** A daemon's resident memory may not pass this, MiB (default 1024). */
  maxRssMb?: number
  log?: (line: string) => void
}

export interface ChaosReport {
  seed: number
  /** One line per fault: when, what, how long. */
  timeline: string[]
  /** Hypotheses the daemons answered 201 to. */
  acknowledged: number
  /** Acknowledged records some daemon does not hold after the heal. */
  missing: Array<{ id: string, writtenTo: number, absentOn: number[] }>
  converged: boolean
  /** From the heal until every daemon held the same records (null: not within settleMs). */
  convergeMs: number | null
  digests: string[]
  /** Records per kind on the first daemon at the end. */
  counts: Record<string, number>
  /** Daemons that exited without the nemesis killing them. */
  unexpectedExits: string[]
  /** Per daemon at the end: the peers it blocks and the refusals it counted, by fault. */
  refusals: Array<{ blocked: number[], faults: Record<string, number> }>
  rssMb: number[]
  kills: number
  /** Claims of killed daemons, made before their kill, still active at the end. */
  staleClaims: number
  /** Finished experiments whose configuration another daemon had started earlier (the surrogate's log). */
  executedDuplicates: number
  /** Those no separation of their two daemons explains (`explainedBySeparation`): the swarm should have known. */
  unexplainedDuplicates: number
  experiments: number
}

const P2P_PORT = 4717
/** Claims of a killed daemon expire within this; live ones are kept by heartbeats. */
const CLAIM_TTL_MS = 15_000
/** Per-hour allowances scale by this (hypotheses per hour and the like: the writers write fast). */
const COMPRESSION = 200
/** Each daemon's client writes a hypothesis this often (each is embedded for its dedup check: CPU). */
const WRITE_EVERY_MS = 1000
const WORDS = 'amber basalt cedar delta ember fjord garnet harbor indigo juniper kelp lagoon meadow nickel orchid pebble quartz raven saffron tundra umber violet willow xenon yarrow zephyr anchor beacon canyon dune estuary falcon glacier heron island jasper kestrel lantern marble nebula oasis prairie quill reef summit thistle upland valley walnut'.split(' ')

interface Node {
  index: number
  host: NetHost
  args: SwarmDaemonArgs
  child: SwarmDaemonChild
  peerId: string
  api: string
  token: string
  /** Set while the nemesis holds it killed. */
  down: boolean
  killedAt: number[]
}

export async function runChaos (spec: ChaosSpec): Promise<ChaosReport> {
  // The nemesis draws from its own generator: the writers' timing never shifts the fault schedule.
  const rng = seededRng(spec.seed)
  const words = seededRng(spec.seed ^ 0x5eed)
  const count = spec.nodes ?? 5
  const log = spec.log ?? (() => {})
  const net = await NetTopology.create()
  const nodes: Node[] = []
  const unexpectedExits: string[] = []
  const timeline: string[] = []
  const t0 = Date.now()
  const stamp = (): string => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s`
  const note = (line: string): void => { timeline.push(`${stamp()}  ${line}`); log(`chaos: ${stamp()} ${line}`) }
  try {
    const hosts: NetHost[] = []
    for (let i = 0; i < count; i++) hosts.push(await net.addPublicHost(`n${i}`))
    for (let i = 0; i < count; i++) {
      const host = hosts[i]!
      const args: SwarmDaemonArgs = {
        dataDir: await swarmDaemonDataDir(), landscape: spec.landscape, runMs: spec.runMs ?? 1500, seed: spec.seed, node: i, policy: 'swarm',
        bootstrap: i === 0 ? [] : [`/ip4/${hosts[0]!.ip}/tcp/${P2P_PORT}/p2p/${nodes[0]!.peerId}`],
        compression: COMPRESSION, listen: `/ip4/${host.ip}/tcp/${P2P_PORT}`, httpHost: host.mgmtIp, claimTtlMs: CLAIM_TTL_MS
      }
      nodes.push(await startNode(i, host, args, unexpectedExits, log))
    }
    // From now on a restarted daemon knows every other one: it rejoins whoever it can reach.
    for (const node of nodes) node.args.bootstrap = nodes.filter((n) => n !== node).map((n) => `/ip4/${n.host.ip}/tcp/${P2P_PORT}/p2p/${n.peerId}`)
    await waitUntil(async () => (await Promise.all(nodes.map(async (n) => (await getJson<{ topicPeers: number }>(n, '/api/status')).topicPeers))).every((p) => p >= 1), 60_000, 'the daemons to meet')
    for (const node of nodes) node.child.proc.kill('SIGUSR2')
    note(`${count} daemons up, researching; seed ${spec.seed}`)

    const acknowledged: Array<{ id: string, node: number }> = []
    let writing = true
    const writers = nodes.map(async (node) => {
      for (let k = 0; writing; k++) {
        const title = `${node.index}.${k}: ${pick(words, WORDS)} ${pick(words, WORDS)} ${pick(words, WORDS)} ${pick(words, WORDS)}`
        const id = node.down ? undefined : await postHypothesis(node, title)
        if (id !== undefined) acknowledged.push({ id, node: node.index })
        await sleep(WRITE_EVERY_MS)
      }
    })

    let kills = 0
    const separations: Separation[] = []
    while (Date.now() - t0 < spec.faultMs) {
      const fault = await applyFault(rng, net, nodes, log)
      const separation: Separation = { from: Date.now(), to: Infinity, pairs: fault.separated }
      separations.push(separation)
      if (fault.kill !== undefined) kills++
      note(fault.description)
      await sleep(3000 + rng.int(5000))
      await net.heal(hosts)
      for (const node of nodes.filter((n) => n.down)) {
        node.child = await startSwarmDaemon(node.args, { netns: node.host.ns, log: (line) => { log(`[${node.index}] ${line}`) } })
        watchExit(node, unexpectedExits)
        node.child.proc.kill('SIGUSR2')
        node.down = false
        note(`restart daemon ${node.index}`)
      }
      separation.to = Date.now()
      note('heal')
      await sleep(1000 + rng.int(2000))
    }
    writing = false
    await Promise.all(writers)
    note(`nemesis done; ${acknowledged.length} hypotheses acknowledged`)

    // Converge: every daemon the same records, every acknowledged one among them.
    const healedAt = Date.now()
    let digests: string[] = []
    let missing: ChaosReport['missing'] = []
    let convergeMs: number | null = null
    while (Date.now() - healedAt < (spec.settleMs ?? 120_000)) {
      digests = await Promise.all(nodes.map(async (n) => (await getJson<{ digest: string }>(n, '/api/digest').catch(() => ({ digest: 'unreachable' }))).digest))
      missing = await missingRecords(nodes, acknowledged)
      if (new Set(digests).size === 1 && missing.length === 0) {
        convergeMs = Date.now() - healedAt
        break
      }
      await sleep(1000)
    }
    note(convergeMs === null ? `did not converge within ${(spec.settleMs ?? 120_000) / 1000} s` : `converged ${(convergeMs / 1000).toFixed(1)} s after the heal`)
    // Claims a killed daemon made before it was killed end by their ttl (none is renewed by the daemon that comes back).
    await sleep(Math.max(0, CLAIM_TTL_MS - (Date.now() - healedAt)))
    const staleClaims = await countStaleClaims(nodes)
    const counts = await getJson<{ counts: Record<string, number> }>(nodes[0]!, '/api/digest').then((r) => r.counts, () => ({}))
    const rssMb = await Promise.all(nodes.map(async (n) => residentMb(n.child.proc.pid)))
    const refusals = await Promise.all(nodes.map(async (n) => refusalsOf(n, nodes)))
    const { experiments, duplicates } = await surrogateDuplicates(nodes)
    const unexplained = duplicates.filter((d) => !explainedBySeparation(d, separations))
    return { seed: spec.seed, timeline, acknowledged: acknowledged.length, missing, converged: convergeMs !== null, convergeMs, digests, counts, unexpectedExits, refusals, rssMb, kills, staleClaims, executedDuplicates: duplicates.length, unexplainedDuplicates: unexplained.length, experiments }
  } finally {
    for (const node of nodes) node.down = true
    await Promise.all(nodes.map(async (node) => { await stopSwarmDaemon(node.child) }))
    await net.destroy()
    await Promise.all(nodes.map(async (node) => { await rm(node.args.dataDir, { recursive: true, force: true }) }))
  }
}

interface Fault {
  description: string
  kill?: number
  /** Pairs of daemons (`a-b`, a < b) that could not reach each other while it lasted. */
  separated: Set<string>
}

/** When two daemons could not reach each other: what a duplicate between them needs to be explained. */
interface Separation { from: number, to: number, pairs: Set<string> }

const pairKey = (a: number, b: number): string => a < b ? `${a}-${b}` : `${b}-${a}`

/** One fault from the schedule: a network fault, sometimes with a daemon killed at the same time. */
async function applyFault (rng: Rng, net: NetTopology, nodes: Node[], log: (line: string) => void): Promise<Fault> {
  const order = shuffle(rng, nodes.map((n) => n.index))
  const separated = new Set<string>()
  const kinds = ['partition', 'bridge', 'one-way loss', 'slow links', 'kill'] as const
  const kind = kinds[rng.int(kinds.length)]!
  let description: string
  if (kind === 'partition') {
    const cut = 1 + rng.int(Math.floor(nodes.length / 2))
    const [minority, majority] = [order.slice(0, cut), order.slice(cut)]
    for (const a of minority) {
      for (const b of majority) {
        await net.cut(nodes[a]!.host, nodes[b]!.host)
        separated.add(pairKey(a, b))
      }
    }
    description = `partition {${minority.join(',')}} | {${majority.join(',')}}`
  } else if (kind === 'bridge') {
    const [bridge, ...rest] = order
    const half = Math.ceil(rest.length / 2)
    const [left, right] = [rest.slice(0, half), rest.slice(half)]
    for (const a of left) {
      for (const b of right) {
        await net.cut(nodes[a]!.host, nodes[b]!.host)
        separated.add(pairKey(a, b))
      }
    }
    description = `bridge {${left.join(',')}} - ${bridge!} - {${right.join(',')}}`
  } else if (kind === 'one-way loss') {
    const pairs: string[] = []
    for (let i = 0; i < 2; i++) {
      const [from, to] = [order[2 * i]!, order[2 * i + 1]!]
      const p = 0.5 + rng.int(5) / 10
      await net.lossy(nodes[from]!.host, nodes[to]!.host, p)
      separated.add(pairKey(from, to))
      pairs.push(`${from}->${to} ${Math.round(p * 100)} %`)
    }
    description = `one-way loss ${pairs.join(', ')}`
  } else if (kind === 'slow links') {
    const slowed = order.slice(0, 1 + rng.int(2))
    const kbit = 64 * (1 + rng.int(4))
    for (const i of slowed) {
      await net.slow(nodes[i]!.host, kbit)
      // A throttled uplink drops what overflows its queue: claims and results from it arrive late or not at all.
      for (const other of nodes) if (other.index !== i) separated.add(pairKey(i, other.index))
    }
    description = `slow uplinks ${slowed.join(',')} at ${kbit} kbit/s`
  } else {
    description = 'no network fault'
  }
  // A kill, alone or on top of a network fault (one in three).
  if (kind === 'kill' || rng.int(3) === 0) {
    const victim = nodes[order[order.length - 1]!]!
    victim.down = true
    victim.killedAt.push(Date.now())
    victim.child.proc.kill('SIGKILL')
    log(`chaos: SIGKILL daemon ${victim.index}`)
    for (const other of nodes) if (other !== victim) separated.add(pairKey(victim.index, other.index))
    return { description: `${description}; SIGKILL daemon ${victim.index}`, kill: victim.index, separated }
  }
  return { description, separated }
}

async function startNode (index: number, host: NetHost, args: SwarmDaemonArgs, unexpectedExits: string[], log: (line: string) => void): Promise<Node> {
  const child = await startSwarmDaemon(args, { netns: host.ns, log: (line) => { log(`[${index}] ${line}`) } })
  const info = JSON.parse(await readFile(join(args.dataDir, 'daemon.json'), 'utf8')) as { peerId: string }
  const node: Node = { index, host, args, child, peerId: info.peerId, api: await apiOf(child), token: (await readFile(join(args.dataDir, 'api-token'), 'utf8')).trim(), down: false, killedAt: [] }
  watchExit(node, unexpectedExits)
  return node
}

/** A daemon that exits while the nemesis does not hold it down crashed. */
function watchExit (node: Node, unexpectedExits: string[]): void {
  const { proc } = node.child
  proc.once('exit', (code, signal) => {
    if (!node.down) unexpectedExits.push(`daemon ${node.index}: exit ${String(code)} ${String(signal)}\n${node.child.stderr.slice(-10).join('\n')}`)
  })
}

async function postHypothesis (node: Node, title: string): Promise<string | undefined> {
  try {
    const api = await apiOf(node.child)
    const res = await fetch(new URL('/api/hypotheses', api), { method: 'POST', headers: { authorization: `Bearer ${node.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ title, text: '' }), signal: AbortSignal.timeout(10_000) })
    if (res.status !== 201) return undefined
    return ((await res.json()) as { hypothesis: { id: string } }).hypothesis.id
  } catch {
    return undefined
  }
}

async function getJson<T> (node: Node, path: string): Promise<T> {
  const res = await fetch(new URL(path, await apiOf(node.child)), { signal: AbortSignal.timeout(10_000) })
  if (!res.ok) throw new Error(`GET ${path} on daemon ${node.index}: ${res.status}`)
  return await res.json() as T
}

async function missingRecords (nodes: Node[], acknowledged: Array<{ id: string, node: number }>): Promise<ChaosReport['missing']> {
  const held = await Promise.all(nodes.map(async (n) => new Set((await getJson<{ hypotheses: Array<{ id: string }> }>(n, '/api/hypotheses').catch(() => ({ hypotheses: [] }))).hypotheses.map((h) => h.id))))
  const missing: ChaosReport['missing'] = []
  for (const { id, node } of acknowledged) {
    const absentOn = held.flatMap((ids, i) => ids.has(id) ? [] : [i])
    if (absentOn.length > 0) missing.push({ id, writtenTo: node, absentOn })
  }
  return missing
}

/** Active claims (on any daemon's view) whose author is a killed daemon and that date from before its last kill. */
async function countStaleClaims (nodes: Node[]): Promise<number> {
  const byPeer = new Map(nodes.map((n) => [n.peerId, n]))
  let stale = 0
  for (const node of nodes) {
    const { claims } = await getJson<{ claims: Array<{ author: string, createdAt: number }> }>(node, '/api/claims?status=active').catch(() => ({ claims: [] }))
    for (const claim of claims) {
      const author = byPeer.get(claim.author)
      const lastKill = author?.killedAt.at(-1)
      if (lastKill !== undefined && claim.createdAt < lastKill) stale++
    }
  }
  return stale
}

interface Duplicate { first: RunEvent, again: RunEvent }

/** Experiments every daemon finished (the surrogate's log), and each that repeated a configuration another had started before. */
async function surrogateDuplicates (nodes: Node[]): Promise<{ experiments: number, duplicates: Duplicate[] }> {
  const runs: RunEvent[] = []
  for (const node of nodes) {
    const text = await readFile(join(node.args.dataDir, 'runs.jsonl'), 'utf8').catch(() => '')
    for (const line of text.split('\n')) if (line.trim() !== '') runs.push(JSON.parse(line) as RunEvent)
  }
  const experiments = runs.filter((r) => r.kind === 'experiment' && !r.aborted).sort((a, b) => a.startedAt - b.startedAt)
  const first = new Map<string, RunEvent>()
  const duplicates: Duplicate[] = []
  for (const run of experiments) {
    const earlier = first.get(run.configuration)
    if (earlier !== undefined) duplicates.push({ first: earlier, again: run })
    else first.set(run.configuration, run)
  }
  return { experiments: experiments.length, duplicates }
}

/** A claim reaches a connected peer (gossip, or the sync a reconnect runs) within this. */
const PROPAGATION_MS = 3000

/**
 * A duplicate a fault made unavoidable: its two daemons were separated (cut apart, a lossy or
 * throttled link between them, one of them killed) at some moment while the first run was under
 * way or its result was going out, so its claim or its result could not reach the other; and the
 * second run started before that separation healed, plus the time a reconnect's sync takes. The
 * same daemon twice is never explained by the network.
 */
function explainedBySeparation ({ first, again }: Duplicate, separations: readonly Separation[]): boolean {
  if (first.node === again.node) return false
  const pair = pairKey(first.node, again.node)
  return separations.some((s) => s.pairs.has(pair) && s.from <= first.endedAt + PROPAGATION_MS && s.to >= first.startedAt && again.startedAt <= s.to + PROPAGATION_MS)
}

/** Whom a daemon blocks (by index) and its recent refusals by fault: why a swarm may not have converged. */
async function refusalsOf (node: Node, nodes: Node[]): Promise<ChaosReport['refusals'][number]> {
  const status = await getJson<{ blocked: string[], rejections: { recent: Array<{ fault: string }> } }>(node, '/api/status').catch(() => ({ blocked: [], rejections: { recent: [] } }))
  const faults: Record<string, number> = {}
  for (const r of status.rejections.recent) faults[r.fault] = (faults[r.fault] ?? 0) + 1
  return { blocked: status.blocked.map((peer) => nodes.findIndex((n) => n.peerId === peer)), faults }
}

async function residentMb (pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0
  return Math.round(await processMemory(pid).then((m) => m.rssKiB / 1024, () => 0))
}

async function waitUntil (predicate: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await predicate().catch(() => false)) return
    await sleep(250)
  }
  throw new Error(`timed out waiting for ${what}`)
}

function pick<T> (rng: Rng, items: readonly T[]): T { return items[rng.int(items.length)]! }

function shuffle<T> (rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}
