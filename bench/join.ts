/**
 * A new daemon joining a swarm that already holds `--results` results: how long until its API
 * answers and until it holds every record, how many bytes it received, its peak memory; and how
 * the state grows per result.
 *
 *   npm run bench:join                         # defaults: --results 100000 --authors 32 --parents 400
 *
 * 1. A synthetic history (bench/history/swarm-history.ts): authors running experiments back to
 *    back, each claim with a heartbeat, most ending in a result, all signed for real.
 * 2. A source daemon in this process (real libp2p on 127.0.0.1, LevelDB) validates and stores it
 *    author by author, as a sync from each would bring it. After each: records held, the doc's
 *    encoded size and LevelDB's size on disk, so growth per result shows whether it is linear.
 * 3. The joiner: `swarmd start` as a child process (fresh data dir, the source as its only
 *    bootstrap peer), so its memory is its own: RSS and peak RSS (VmHWM) come from /proc.
 * 4. Once it holds everything (same content digest as the source): how long its API takes to
 *    answer the calls an agent and the status page make, at this size.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import * as Y from 'yjs'
import { startInProcessDaemon, stopAndRemove } from '../test/helpers/in-process-daemon.js'
import { cleanupDaemons, DaemonProcess } from '../test/helpers/daemon-process.js'
import { BENCH_DAEMON_LIMITS, dialAddr, fmtBytes, fmtMs, machineLine, parseFlags, progress, sleep, summarize, summaryLine } from './harness.js'
import { handOver, writeHistory } from './history/swarm-history.js'
import { processCpuTicks, processMemory } from './proc-stats.js'
import { seededRng } from '../src/util/rng.js'

const flags = parseFlags('bench:join', 'a new daemon joining a swarm of many results: time, bytes, memory; state growth per result', {
  results: { default: 100_000, help: 'results the swarm holds (claims, heartbeats and releases come with them)' },
  authors: { default: 32, help: 'peers that wrote the history' },
  parents: { default: 400, help: 'expected length of the lineage (kept results experiments build on)' },
  seed: { default: 1, help: 'rng seed of the history' },
  'timeout-s': { default: 900, help: 'give up on the joiner converging after this long' },
  samples: { default: 20, help: 'API calls timed per route once the joiner holds everything' }
})

interface GrowthPoint { results: number, records: number, docBytes: number, diskBytes: number }

async function dirBytes (dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size
  }
  return total
}

const totalOf = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0)

const rng = seededRng(flags.seed)
progress(`writing a history of about ${flags.results} results from ${flags.authors} authors`)
const writeStarted = performance.now()
const history = await writeHistory({ experiments: Math.ceil(flags.results / 0.94), authors: flags.authors, parents: flags.parents }, rng)
const writeMs = performance.now() - writeStarted
const counts = { ...history.counts }

const source = await startInProcessDaemon({ ...BENCH_DAEMON_LIMITS })
let joiner: DaemonProcess | undefined
try {
  const growth: GrowthPoint[] = []
  const storeStarted = performance.now()
  await handOver(history, async (update, author) => {
    const outcome = await source.state.applyRemote(update)
    if (outcome.verdict !== 'accept') throw new Error(`the source refused author ${author}'s records: ${outcome.fault ?? ''} ${outcome.message ?? ''}`)
    if ((author + 1) % 8 !== 0 && author !== flags.authors - 1) return
    const held = source.state.counts()
    const docBytes = Y.encodeStateAsUpdate(source.state.doc).byteLength
    growth.push({ results: held.result, records: totalOf(held), docBytes, diskBytes: await dirBytes(source.paths.root) })
    progress(`source holds ${held.result} results, ${totalOf(held)} records (${fmtBytes(docBytes)} encoded)`)
  })
  const storeMs = performance.now() - storeStarted
  const target = source.state.counts()
  const targetTotal = totalOf(target)
  const targetDigest = source.state.contentDigest()
  const sentBefore = source.network.sync.stats.bytesSent

  progress(`starting the joiner (swarmd start, child process) with the source as its bootstrap peer`)
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const t0 = performance.now()
  joiner = await DaemonProcess.start({ bootstrap: [dialAddr(source)], name: 'joiner' })
  const readyMs = performance.now() - t0
  const pid = joiner.pid
  const curve: Array<{ ms: number, records: number, rss: number }> = []
  let convergedMs = Number.NaN
  let lastReport = 0
  const deadline = t0 + flags['timeout-s'] * 1000
  while (performance.now() < deadline) {
    const { counts: held, digest } = await joiner.api<{ counts: Record<string, number>, digest: string }>('/api/digest').catch((err: Error) => {
      throw new Error(`the joiner stopped answering (${err.message}); its last output:\n${joiner?.output.split('\n').slice(-30).join('\n') ?? ''}`)
    })
    const records = totalOf(held)
    const ms = performance.now() - t0
    curve.push({ ms, records, rss: (await processMemory(pid)).rssKiB * 1024 })
    if (records >= targetTotal && digest === targetDigest) {
      convergedMs = ms
      break
    }
    if (ms - lastReport > 5_000) {
      lastReport = ms
      progress(`joiner: ${records}/${targetTotal} records after ${(ms / 1000).toFixed(1)} s, RSS ${fmtBytes(curve.at(-1)!.rss)}`)
    }
    await sleep(250)
  }
  loop.disable()
  const atConverge = await processMemory(pid)
  const cpuMs = await processCpuTicks(pid) * 10
  const status = await joiner.api<{ sync: { pulls: number, updatesReceived: number, bytesReceived: number } }>('/api/status')
  const sourceSent = source.network.sync.stats.bytesSent - sentBefore

  // At this size, the calls an agent and the status page make.
  const routes = ['/api/status', '/api/best', '/api/results?frontier=1', '/api/claims?status=active', '/api/hypotheses']
  const timings = new Map<string, number[]>()
  for (const route of routes) {
    const ms: number[] = []
    for (let i = 0; i < flags.samples; i++) {
      const t = performance.now()
      await joiner.api(route)
      ms.push(performance.now() - t)
    }
    timings.set(route, ms)
  }
  await sleep(5_000)
  const settled = await processMemory(pid)

  const c = counts
  console.log(`\njoin: a new daemon joins a swarm of ${c.result} results (${c.claim} claims, ${c.heartbeat} heartbeats, ${c.release} releases; ${totalOf(target)} records) from ${flags.authors} authors, seed ${flags.seed}`)
  console.log(`machine: ${machineLine()}`)
  console.log(`  history signed in ${(writeMs / 1000).toFixed(1)} s; validated and stored on the source in ${(storeMs / 1000).toFixed(1)} s`)
  console.log('  state growth on the source (results: records, encoded doc, on disk; per result):')
  for (const g of growth) {
    console.log(`    ${String(g.results).padStart(7)}: ${String(g.records).padStart(7)} records, doc ${fmtBytes(g.docBytes)} (${(g.docBytes / g.results).toFixed(0)} B/result), LevelDB ${fmtBytes(g.diskBytes)} (${(g.diskBytes / g.results).toFixed(0)} B/result)`)
  }
  console.log(`  joiner: API up ${fmtMs(readyMs)} ms after spawn; holds every record (same digest as the source) ${Number.isNaN(convergedMs) ? `NOT within ${flags['timeout-s']} s` : `${fmtMs(convergedMs)} ms after spawn`}`)
  const half = curve.find((p) => p.records >= targetTotal / 2)
  if (half !== undefined) console.log(`    half the records after ${fmtMs(half.ms)} ms`)
  console.log(`  joiner received by sync: ${fmtBytes(status.sync.bytesReceived)} in ${status.sync.pulls} pull(s), ${status.sync.updatesReceived} update(s) (${(status.sync.bytesReceived / c.result!).toFixed(0)} B/result); the source sent ${fmtBytes(sourceSent)}`)
  console.log(`  joiner memory: peak RSS ${fmtBytes(atConverge.peakKiB * 1024)}, RSS at convergence ${fmtBytes(atConverge.rssKiB * 1024)}, 5 s after the API calls ${fmtBytes(settled.rssKiB * 1024)} (${(settled.rssKiB * 1024 / c.result!).toFixed(0)} B/result); CPU ${(cpuMs / 1000).toFixed(1)} s`)
  console.log(`  this process's event loop (the source) during the join: longest stall ${fmtMs(loop.max / 1e6)} ms`)
  console.log(`  joiner's API at this size (${flags.samples} calls each):`)
  for (const [route, ms] of timings) console.log(summaryLine(`    ${route}`, summarize(ms)))
  if (Number.isNaN(convergedMs)) process.exitCode = 1
} finally {
  progress('stopping daemons')
  if (joiner?.running === true) await joiner.stop().catch((err: Error) => { progress(`joiner: ${err.message.split('\n')[0]!}`) })
  await cleanupDaemons()
  await stopAndRemove(source)
}
