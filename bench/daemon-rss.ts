/**
 * The daemon's resident memory before and after its semantic layer loads the MiniLM model.
 *
 *   npm run bench:rss                         # defaults: --seconds 30 --warmup-s 10 --interval-ms 1000
 *
 * Spawns `node bin/swarmd.js --data-dir <tmp> start` as a child process (loopback, free ports,
 * no mDNS, agent none: the coordination daemon alone, whose model loads lazily), like
 * bench:idle. It samples VmRSS idle, then claims experiments through the agent API
 * (`POST /api/claims`): the first has nothing to compare with; the second, the same idea in
 * other words, runs the semantic layer, which converts the model (first start of a data dir)
 * and loads it. After that it samples VmRSS idle again. Then the same after a restart on the
 * same data dir, where the converted model comes from the cache.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnChildDaemon, stopChildDaemon } from './child-daemon.js'
import { processMemory } from './proc-stats.js'
import { machineLine, parseFlags, progress, sleep, summarize } from './harness.js'
import type { ChildDaemon } from './child-daemon.js'

const flags = parseFlags('bench:rss', 'RSS of one idle daemon (child process) before and after one semantic claim check loads the MiniLM model', {
  seconds: { default: 30, help: 'measurement window before and after, s' },
  'warmup-s': { default: 10, help: 'wait this long after start, and after the check, before sampling' },
  'interval-ms': { default: 1000, help: 'sampling interval' }
})

type Child = ChildDaemon

const modelCache = await mkdtemp(join(tmpdir(), 'swarmd-bench-rss-models-'))
const spawnDaemon = async (dir?: string): Promise<Child> => spawnChildDaemon({ ...(dir !== undefined ? { dir } : {}), prefix: 'swarmd-bench-rss-', args: ['--model-cache-dir', modelCache] })
const stopChild = stopChildDaemon

async function rssMiB (pid: number): Promise<number> {
  return (await processMemory(pid)).rssKiB / 1024
}

async function sampleIdle (label: string, pid: number): Promise<ReturnType<typeof summarize>> {
  progress(`${label}: warming up ${flags['warmup-s']} s`)
  await sleep(flags['warmup-s'] * 1000)
  progress(`${label}: sampling pid ${pid} for ${flags.seconds} s`)
  const values: number[] = []
  const t0 = performance.now()
  const samples = Math.max(1, Math.round(flags.seconds * 1000 / flags['interval-ms']))
  for (let i = 0; i <= samples; i++) {
    await sleep(Math.max(0, t0 + i * flags['interval-ms'] - performance.now()))
    values.push(await rssMiB(pid))
  }
  return summarize(values)
}

interface ClaimReply { duplicate?: { layer: string, score: number | null } }

/** POST /api/claims; resolves with the HTTP status, the reply and the time it took. */
async function claim (child: Child, description: string): Promise<{ status: number, body: ClaimReply, ms: number }> {
  const t0 = performance.now()
  const res = await fetch(`${child.api}/api/claims`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${child.token}` },
    body: JSON.stringify({ description })
  })
  const body = await res.json() as ClaimReply
  const ms = performance.now() - t0
  if (res.status === 404) throw new Error(`${child.api}/api/claims answered 404: this build has no agent API for claims`)
  if (res.status !== 201 && res.status !== 409) throw new Error(`POST /api/claims answered ${res.status}: ${JSON.stringify(body)}`)
  return { status: res.status, body, ms }
}

interface Phase {
  label: string
  before: ReturnType<typeof summarize>
  after: ReturnType<typeof summarize>
  claims: Array<{ description: string, status: number, body: ClaimReply, ms: number, rssMiB: number }>
}

/** Sample idle, make the claims (the semantic layer loads the model on the first that has something to compare), sample idle again. */
async function phase (label: string, daemon: Child, descriptions: string[]): Promise<Phase> {
  const before = await sampleIdle(`${label}, before the model`, daemon.pid)
  const claims: Phase['claims'] = []
  for (const description of descriptions) {
    const r = await claim(daemon, description)
    claims.push({ description, ...r, rssMiB: await rssMiB(daemon.pid) })
    progress(`${label}: claim "${description}": HTTP ${r.status} in ${r.ms.toFixed(0)} ms, RSS ${claims.at(-1)!.rssMiB.toFixed(1)} MiB`)
  }
  const after = await sampleIdle(`${label}, with the model loaded`, daemon.pid)
  return { label, before, after, claims }
}

const verdict = (r: { status: number, body: ClaimReply }): string => {
  if (r.status === 201) return 'claimed'
  const score = r.body.duplicate?.score
  return `refused as a duplicate (${r.body.duplicate?.layer ?? '?'}${typeof score === 'number' ? ` ${score.toFixed(2)}` : ''})`
}

let child: Child | undefined
const phases: Phase[] = []
process.once('SIGINT', () => { void (child !== undefined ? stopChild(child) : Promise.resolve()).finally(() => process.exit(130)) })
try {
  // First start on a machine: the first semantic check also converts the model (cached per machine, here a fresh cache of this bench's).
  child = await spawnDaemon()
  phases.push(await phase('first start', child, ['increase the learning rate from 0.01 to 0.02', 'raise LR to 0.02', 'bump the learning rate up to 0.02']))
  // A restart: the converted model is loaded from the cache.
  const dir = child.dir
  await stopChild(child, { keep: true })
  child = await spawnDaemon(dir)
  phases.push(await phase('restart', child, ['add dropout 0.1 on attention and MLP outputs', 'regularize with 10% dropout']))
} finally {
  if (child !== undefined) await stopChild(child)
  await rm(modelCache, { recursive: true, force: true })
}

console.log(`\ndaemon RSS: one daemon as a child process (agent none), ${flags['warmup-s']} s warm-up, then ${flags.seconds} s sampled every ${flags['interval-ms']} ms, before and after semantic claim checks (POST /api/claims)`)
console.log(`machine: ${machineLine()}`)
for (const p of phases) {
  console.log(`  ${p.label}`)
  console.log(`    idle, before the model       RSS min ${p.before.min.toFixed(1)}  median ${p.before.p50.toFixed(1)}  max ${p.before.max.toFixed(1)} MiB`)
  for (const c of p.claims) console.log(`    claim "${c.description}": ${verdict(c)} in ${c.ms.toFixed(0)} ms, RSS right after ${c.rssMiB.toFixed(1)} MiB`)
  console.log(`    idle, with the model loaded  RSS min ${p.after.min.toFixed(1)}  median ${p.after.p50.toFixed(1)}  max ${p.after.max.toFixed(1)} MiB`)
}
console.log('  (a claim that stands waits out the settle window, 500 ms by default; the first check with something to compare loads the model)')
const [first, again] = phases as [Phase, Phase]
console.log(`daemon RSS: idle ${first.before.p50.toFixed(0)} MiB before the model, ${first.after.p50.toFixed(0)} MiB with MiniLM loaded after converting it (+${(first.after.p50 - first.before.p50).toFixed(0)} MiB), ${again.after.p50.toFixed(0)} MiB after a restart with the cached model (+${(again.after.p50 - again.before.p50).toFixed(0)} MiB); first semantic check ${first.claims[1]!.ms.toFixed(0)} ms (converting), ${again.claims[0]!.ms.toFixed(0)} ms (cached)`)
