/**
 * Propagation latency: how long until a record written on one daemon is on every other.
 *
 * For each mesh size, starts that many daemons (real libp2p over TCP on 127.0.0.1,
 * LevelDB in temp dirs) that meet through one bootstrap address, waits for the gossip
 * mesh, then appends `--records` hypotheses from randomly chosen daemons, one every
 * `--interval-ms`. A record's clock starts on the writer just before `append()` and
 * stops at each other daemon's 'record' event; time-to-all is the last receiver's time.
 *
 * By default all daemons share this thread's event loop; `--threads 1` gives each a worker
 * thread of its own (its own event loop and V8 isolate, one process); `--processes 1` a
 * process of its own, as volunteers run daemons. Either way all daemons
 * share this machine's cores: the CPU printed alongside (this process and its children)
 * shows how busy they were.
 */
import { availableParallelism } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { seededRng } from '../src/util/rng.js'
import { waitFor } from '../test/helpers/wait.js'
import { startLocalNode, startProcessNode, startWorkerNode } from './bench-node.js'
import { processCpuTicks, processMemory } from './proc-stats.js'
import { fillerText, fmtMs, machineLine, parseFlags, progress, sleep, summarize, summaryLine, waitForMesh } from './harness.js'
import type { BenchNode, BenchNodeEvents } from './bench-node.js'
import type { Summary } from './harness.js'

const flags = parseFlags('bench:propagation', 'p50/p99 time for a record to reach every daemon on loopback', {
  daemons: { default: [3, 10], help: 'mesh sizes to run, one after another' },
  records: { default: 200, help: 'records to write per mesh size' },
  // 20 records/s over the whole swarm is far above real use (a few per minute) and, unlike
  // 50/s, stays below what 10 daemons on a 2-core machine can process (BENCHMARKS.md).
  'interval-ms': { default: 50, help: 'pace: one append every this many ms' },
  'text-bytes': { default: 200, help: 'hypothesis text length (bytes)' },
  // One loop by default: cheapest on a small machine, but twenty daemons then share one V8 heap
  // and its garbage collector's pauses, which no real daemon has (BENCHMARKS.md).
  threads: { default: 0, help: '1: one worker thread per daemon (0: all on one event loop)' },
  processes: { default: 0, help: '1: one process per daemon, as volunteers run them' },
  'mesh-timeout-s': { default: 60, help: 'give up if the gossip mesh has not formed by then' },
  'drain-timeout-s': { default: 60, help: 'after the last write, wait this long for stragglers' },
  'idle-s': { default: 5, help: 'measure the idle mesh\'s CPU this long before writing' },
  seed: { default: 1, help: 'seed for the choice of writers' }
})

interface Run {
  daemons: number
  meshMs: number
  timeToAll: Summary
  perReceiver: Summary
  append: Summary
  undelivered: number
  /** Event-loop delay of this (the driving) thread, ms. */
  loopDelayP99: number
  loopDelayMax: number
  /** CPU of the whole bench process (all daemons) while writing and draining, % of one core. */
  cpuPercent: number
  /** The same with the mesh idle, just before writing. */
  idleCpuPercent: number
  /** CPU above idle per delivered (record, receiver) pair, ms. */
  cpuPerDeliveryMs: number
  /** What the process grew by per daemon, from before the first start to after the writes (GC'd first where --expose-gc allows). */
  rssPerDaemonMiB: number
  heapPerDaemonMiB: number
}

/** RSS and JS heap of this process, MiB, after a full GC when --expose-gc allows it. */
function memoryMiB (): { rss: number, heap: number } {
  globalThis.gc?.()
  const usage = process.memoryUsage()
  return { rss: usage.rss / 2 ** 20, heap: usage.heapUsed / 2 ** 20 }
}

interface Sent { t0: number | undefined, arrivals: number[] }

const MODE = flags.processes === 1
  ? { about: 'one process each', start: startProcessNode }
  : flags.threads === 1
    ? { about: 'one worker thread each', start: startWorkerNode }
    : { about: 'one event loop', start: startLocalNode }

/** CPU used so far by this process and the daemons' own processes, ms. */
async function cpuMs (nodes: BenchNode[]): Promise<number> {
  const own = process.cpuUsage()
  const children = await Promise.all(nodes.map(async (d) => d.pid === undefined ? 0 : processCpuTicks(d.pid).catch(() => 0)))
  return (own.user + own.system) / 1000 + children.reduce((a, t) => a + t * 10, 0)
}

async function runMesh (n: number): Promise<Run> {
  const sent = new Map<string, Sent>()
  const entry = (title: string): Sent => {
    let e = sent.get(title)
    if (e === undefined) sent.set(title, e = { t0: undefined, arrivals: [] })
    return e
  }
  // Only measured titles are tracked; a receiver may report before the writer's 'sent' arrives.
  const events: BenchNodeEvents = {
    sent: (title, at) => { if (title.startsWith('bench-')) entry(title).t0 = at },
    received: (title, at) => { if (title.startsWith('bench-')) entry(title).arrivals.push(at) }
  }
  progress(`starting ${n} daemons (${MODE.about})`)
  const start = MODE.start
  const memoryBefore = memoryMiB()
  const first = await start([], events)
  const nodes: BenchNode[] = [first]
  try {
    nodes.push(...await Promise.all(Array.from({ length: n - 1 }, async () => start([first.addr], events))))
    const meshMs = await waitForMesh(n, async () => Promise.all(nodes.map(async (d) => d.topicPeers())), flags['mesh-timeout-s'] * 1000)
    progress(`mesh formed in ${fmtMs(meshMs)} ms`)
    await warmUp(nodes)
    const idle0 = await cpuMs(nodes)
    const idleStart = performance.now()
    await sleep(flags['idle-s'] * 1000)
    const idleCpuPercent = flags['idle-s'] === 0 ? 0 : (await cpuMs(nodes) - idle0) / (performance.now() - idleStart) * 100

    const rng = seededRng(flags.seed)
    const loop = monitorEventLoopDelay({ resolution: 5 })
    loop.enable()
    const appendMs: number[] = []
    const appends: Array<Promise<void>> = []
    const cpu0 = await cpuMs(nodes)
    const startedAt = performance.now()
    for (let i = 0; i < flags.records; i++) {
      const wait = startedAt + i * flags['interval-ms'] - performance.now()
      if (wait > 0) await sleep(wait)
      const title = `bench-${n}-${i}`
      entry(title)
      appends.push(nodes[rng.int(n)]!.append(title, fillerText(flags['text-bytes'], i)).then((ms) => { appendMs.push(ms) }))
      if ((i + 1) % 50 === 0) progress(`${n} daemons: ${i + 1}/${flags.records} written`)
    }
    await Promise.all(appends)
    const complete = (): boolean => [...sent.values()].every((e) => e.t0 !== undefined && e.arrivals.length >= n - 1)
    await waitFor(complete, { timeoutMs: flags['drain-timeout-s'] * 1000, intervalMs: 20 }).catch(() => {
      progress(`not every record reached every daemon within ${flags['drain-timeout-s']} s`)
    })
    loop.disable()
    const elapsedMs = performance.now() - startedAt
    const usedMs = await cpuMs(nodes) - cpu0
    const cpuPercent = usedMs / elapsedMs * 100
    const memoryAfter = memoryMiB()
    // A daemon in its own process: its own resident memory, averaged.
    const ownRss = await Promise.all(nodes.flatMap((d) => d.pid === undefined ? [] : [processMemory(d.pid).then((m) => m.rssKiB / 1024)]))

    const timeToAll: number[] = []
    const perReceiver: number[] = []
    let undelivered = 0
    for (const e of sent.values()) {
      if (e.t0 === undefined) continue
      const t0 = e.t0
      for (const t of e.arrivals) perReceiver.push(t - t0)
      undelivered += Math.max(0, n - 1 - e.arrivals.length)
      if (e.arrivals.length >= n - 1) timeToAll.push(Math.max(...e.arrivals) - t0)
    }
    return {
      daemons: n,
      meshMs,
      timeToAll: summarize(timeToAll),
      perReceiver: summarize(perReceiver),
      append: summarize(appendMs),
      undelivered,
      loopDelayP99: loop.percentile(99) / 1e6,
      loopDelayMax: loop.max / 1e6,
      cpuPercent,
      idleCpuPercent,
      cpuPerDeliveryMs: (usedMs - idleCpuPercent / 100 * elapsedMs) / Math.max(1, perReceiver.length),
      rssPerDaemonMiB: ownRss.length > 0 ? ownRss.reduce((a, b) => a + b, 0) / ownRss.length : (memoryAfter.rss - memoryBefore.rss) / n,
      heapPerDaemonMiB: (memoryAfter.heap - memoryBefore.heap) / n
    }
  } finally {
    progress(`stopping ${n} daemons`)
    await Promise.all(nodes.map(async (d) => d.stop()))
  }
}

/**
 * Each daemon's first record of a session carries its client binding; write one per
 * daemon first so the measured records are the steady state, not first contact.
 */
async function warmUp (nodes: BenchNode[]): Promise<void> {
  await Promise.all(nodes.map(async (d, i) => d.append(`warm-up ${i}`, '')))
  await waitFor(async () => (await Promise.all(nodes.map(async (d) => d.hypotheses()))).every((h) => h === nodes.length), {
    timeoutMs: 60_000,
    intervalMs: 50,
    what: 'warm-up records on every daemon'
  })
}

/** One mesh size's figures, printed as soon as it is done: a later size that fails loses nothing. */
function report (r: Run): void {
  console.log(`\n${r.daemons} daemons (mesh formed in ${fmtMs(r.meshMs)} ms)`)
  console.log(summaryLine('  time to all receivers', r.timeToAll))
  console.log(summaryLine('  per receiver', r.perReceiver))
  console.log(summaryLine('  append (sign + persist)', r.append))
  console.log(`  undelivered (record, receiver) pairs: ${r.undelivered}`)
  console.log(`  CPU (bench process${flags.processes === 1 ? ' and daemons' : ''}) ${r.cpuPercent.toFixed(0)} % of one core while writing (idle mesh ${r.idleCpuPercent.toFixed(0)} %); ${r.cpuPerDeliveryMs.toFixed(2)} ms CPU above idle per delivery`)
  console.log(`  memory per daemon (${flags.processes === 1 ? 'its process\'s RSS, mean; JS heap: the bench process\'s growth' : `the process's growth over ${r.daemons} started daemons`}, after the writes): RSS ${r.rssPerDaemonMiB.toFixed(1)} MiB, JS heap ${r.heapPerDaemonMiB.toFixed(1)} MiB`)
  console.log(`  driving thread's event-loop delay p99 ${fmtMs(r.loopDelayP99)} ms, max ${fmtMs(r.loopDelayMax)} ms`)
  // Past this the daemons queue work and the latencies above measure the queue, not the protocol.
  if (r.cpuPercent >= 85 * availableParallelism()) console.log(`  NOTE: the machine was saturated (${availableParallelism()} cores); latencies include queueing behind CPU`)
  if (r.timeToAll.p50 > 5 * flags['interval-ms']) console.log(`  NOTE: the daemons fell behind the offered load (${(1000 / flags['interval-ms']).toFixed(0)} records/s, ${((r.daemons - 1) * 1000 / flags['interval-ms']).toFixed(0)} deliveries/s): latencies include a backlog`)
}

console.log(`propagation: ${flags.records} records per mesh, one every ${flags['interval-ms']} ms, ${flags['text-bytes']} B text, seed ${flags.seed}, daemons: ${MODE.about}`)
console.log(`machine: ${machineLine()}`)
for (const n of flags.daemons) {
  if (n < 2) throw new Error('--daemons: a mesh needs at least 2 daemons')
  report(await runMesh(n))
}
