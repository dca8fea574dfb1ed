/**
 * Idle cost: resident memory and CPU of a daemon that has nothing to do.
 *
 * Spawns `node bin/swarmd.js --data-dir <tmp> start` as a child process (loopback, free
 * ports, no mDNS, no research agent), waits for its daemon.json, lets it warm up, then samples
 * /proc/<pid>/status (VmRSS) and /proc/<pid>/stat (utime + stime) once per interval.
 * First alone, then (unless `--peers 0`) with that many more daemons connected to it,
 * all idle; only the first daemon is measured.
 */
import { execFileSync } from 'node:child_process'
import { waitFor } from '../test/helpers/wait.js'
import { processCpuTicks, processMemory } from './proc-stats.js'
import { spawnChildDaemon, stopChildDaemon } from './child-daemon.js'
import { machineLine, parseFlags, progress, sleep, summarize } from './harness.js'
import type { ChildDaemon } from './child-daemon.js'

const flags = parseFlags('bench:idle', 'idle RSS and CPU of one daemon (child process), alone and with idle peers', {
  seconds: { default: 60, help: 'measurement window per scenario (s)' },
  'warmup-s': { default: 10, help: 'wait this long after start (and after peers connect) before sampling' },
  peers: { default: 1, help: 'idle peers for the second scenario (0 skips it)' },
  'interval-ms': { default: 1000, help: 'sampling interval' }
})

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux we target. */
const CLK_TCK = clockTicks()

type Child = ChildDaemon

const children: Child[] = []

function clockTicks (): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
}

async function spawnDaemon (bootstrap?: string): Promise<Child> {
  const child = await spawnChildDaemon({ ...(bootstrap !== undefined ? { bootstrap } : {}), prefix: 'swarmd-bench-idle-' })
  children.push(child)
  return child
}

async function topicPeers (child: Child): Promise<number> {
  const res = await fetch(`${child.api}/api/status`)
  return ((await res.json()) as { topicPeers: number }).topicPeers
}

async function sample (pid: number): Promise<{ rssKiB: number, cpuTicks: number }> {
  const [{ rssKiB }, cpuTicks] = await Promise.all([processMemory(pid), processCpuTicks(pid)])
  return { rssKiB, cpuTicks }
}

interface Measurement {
  label: string
  rssMiB: ReturnType<typeof summarize>
  cpuPercent: number
  cpuPerSampleMax: number
  seconds: number
}

async function measure (label: string, child: Child): Promise<Measurement> {
  progress(`${label}: warming up ${flags['warmup-s']} s`)
  await sleep(flags['warmup-s'] * 1000)
  progress(`${label}: sampling pid ${child.pid} for ${flags.seconds} s`)
  const rss: number[] = []
  const perSample: number[] = []
  const first = await sample(child.pid)
  const t0 = performance.now()
  let prev = { ...first, t: t0 }
  rss.push(first.rssKiB / 1024)
  const samples = Math.max(1, Math.round(flags.seconds * 1000 / flags['interval-ms']))
  for (let i = 1; i <= samples; i++) {
    const due = t0 + i * flags['interval-ms']
    await sleep(Math.max(0, due - performance.now()))
    const s = await sample(child.pid)
    const t = performance.now()
    rss.push(s.rssKiB / 1024)
    perSample.push(((s.cpuTicks - prev.cpuTicks) / CLK_TCK) / ((t - prev.t) / 1000) * 100)
    prev = { ...s, t }
    if (i % 15 === 0) progress(`${label}: ${Math.round((t - t0) / 1000)}/${flags.seconds} s, RSS ${(s.rssKiB / 1024).toFixed(1)} MiB`)
  }
  const seconds = (prev.t - t0) / 1000
  return {
    label,
    rssMiB: summarize(rss),
    cpuPercent: ((prev.cpuTicks - first.cpuTicks) / CLK_TCK) / seconds * 100,
    cpuPerSampleMax: Math.max(...perSample),
    seconds
  }
}

const results: Measurement[] = []
const cleanup = async (): Promise<void> => { await Promise.all(children.splice(0).map(async (c) => stopChildDaemon(c))) }
process.once('SIGINT', () => { void cleanup().finally(() => process.exit(130)) })
try {
  const alone = await spawnDaemon()
  results.push(await measure('alone', alone))
  await cleanup()

  if (flags.peers > 0) {
    const main = await spawnDaemon()
    const addr = main.listen.find((a) => a.startsWith('/ip4/127.0.0.1/')) ?? main.listen[0]!
    const bootstrap = addr.includes('/p2p/') ? addr : `${addr}/p2p/${main.peerId}`
    for (let i = 0; i < flags.peers; i++) await spawnDaemon(bootstrap)
    await waitFor(async () => (await topicPeers(main)) >= flags.peers, { timeoutMs: 30_000, intervalMs: 200, what: `${flags.peers} topic peers on the measured daemon` })
    const measured = await measure(`with ${flags.peers} idle peer${flags.peers === 1 ? '' : 's'}`, main)
    results.push({ ...measured, label: `${measured.label} (topic peers at end: ${await topicPeers(main)})` })
  }
} finally {
  await cleanup()
}

console.log(`\nidle: one daemon as a child process, ${flags['warmup-s']} s warm-up, then ${flags.seconds} s sampled every ${flags['interval-ms']} ms`)
console.log(`machine: ${machineLine()}`)
for (const r of results) {
  const m = r.rssMiB
  console.log(`  ${r.label}`)
  console.log(`    RSS  min ${m.min.toFixed(1)}  median ${m.p50.toFixed(1)}  max ${m.max.toFixed(1)} MiB  (${m.n} samples)`)
  console.log(`    CPU  ${r.cpuPercent.toFixed(2)} % of one core over ${r.seconds.toFixed(1)} s (busiest ${flags['interval-ms']} ms interval ${r.cpuPerSampleMax.toFixed(1)} %)`)
}
