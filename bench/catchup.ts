/**
 * Catch-up after offline time: how long a returning daemon takes to hold every record
 * written while it was away, and how many sync bytes that costs.
 *
 * Starts `--writers` daemons plus one "returning" daemon (in-process, real libp2p over
 * TCP on 127.0.0.1, LevelDB in temp dirs), lets them meet, stops the returning one,
 * writes `--records` hypotheses spread over the writers, then restarts the returning
 * daemon on its old data dir with the first writer as bootstrap peer. Converged means
 * it holds exactly the writers' records (same content digest).
 *
 * Bytes: the returning daemon's sync `bytesReceived` (length-prefixed frame payloads)
 * against the sum of the missing records' canonical text bytes; the Yjs encoding of
 * one full diff is printed too, to split encoding overhead from repeated transfers.
 */
import { rm } from 'node:fs/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { startInProcessDaemon, stopAndRemove } from '../test/helpers/in-process-daemon.js'
import { BENCH_DAEMON_LIMITS } from './harness.js'
import { waitFor } from '../test/helpers/wait.js'
import { allRecords, dialAddr, fillerText, fmtBytes, fmtMs, machineLine, parseFlags, progress, recordTotal, startMesh, topicPeers, waitForMesh } from './harness.js'
import type { Daemon } from '../src/daemon/daemon.js'

const flags = parseFlags('bench:catchup', 'time and sync bytes for a daemon to catch up on records written while it was offline', {
  records: { default: 10_000, help: 'records written while the daemon is offline' },
  writers: { default: 2, help: 'daemons that stay online and write' },
  'text-bytes': { default: 200, help: 'hypothesis text length (bytes)' },
  'timeout-s': { default: 300, help: 'give up on convergence after this long' },
  'live-timeout-s': { default: 45, help: 'after catch-up, wait this long for one live record per writer (anti-entropy runs every 30 s)' }
})
if (flags.writers < 1) throw new Error('--writers must be at least 1')

const peers = await startMesh(flags.writers + 1)
const writers = peers.slice(0, flags.writers)
let returning: Daemon = peers[flags.writers]!
const returningDir = returning.paths.root
let restarted: Daemon | undefined

try {
  await waitForMesh(peers.length, () => peers.map(topicPeers), 60_000)
  // Some shared history first, so the returning daemon has a state vector to send.
  await Promise.all(peers.map(async (d, i) => d.state.append('hypothesis', { title: `before ${i}`, text: 'shared history' })))
  await waitFor(() => peers.every((d) => recordTotal(d) === peers.length * 2), { timeoutMs: 30_000, what: 'shared history on every daemon' })
  const knownKeys = new Set(allRecords(returning).map((r) => r.key))
  const knownStateVector = returning.state.encodeStateVector()
  progress(`returning daemon holds ${knownKeys.size} records; taking it offline`)
  await returning.stop()

  // Writers write concurrently, each awaiting its own appends (append resolves on persist).
  const writeStart = performance.now()
  let written = 0
  await Promise.all(writers.map(async (w, wi) => {
    for (let i = wi; i < flags.records; i += writers.length) {
      await w.state.append('hypothesis', { title: `offline ${i}`, text: fillerText(flags['text-bytes'], i) })
      if (++written % 1000 === 0) progress(`${written}/${flags.records} written (${fmtMs(performance.now() - writeStart)} ms)`)
    }
  }))
  const writeMs = performance.now() - writeStart
  // Writers exchange records by gossip as they go; wait until they agree (sync repairs losses).
  const agreed = (): boolean => writers.every((w) => w.state.contentDigest() === writers[0]!.state.contentDigest())
  await waitFor(() => {
    if (agreed()) return true
    // Anti-entropy would get there within 30 s; ask now (requestPull coalesces repeats).
    for (const w of writers) for (const p of w.network.libp2p.getPeers()) w.network.sync.requestPull(p)
    return false
  }, { timeoutMs: 120_000, intervalMs: 1_000, what: 'writers to agree' })
  const target = writers[0]!
  const targetTotal = recordTotal(target)
  const missing = allRecords(target).filter((r) => !knownKeys.has(r.key))
  const missingTextBytes = missing.reduce((a, r) => a + Buffer.byteLength(r.text), 0)
  const oneDiffBytes = [...target.state.diffsFor(knownStateVector)].reduce((a, d) => a + d.byteLength, 0)
  progress(`writers agree on ${targetTotal} records; returning daemon lacks ${missing.length} (${fmtBytes(missingTextBytes)} of record text)`)

  const sentBefore = writers.map((w) => w.network.sync.stats.bytesSent)
  // All daemons share this event loop: its longest stall is how long any of them went deaf.
  const loop = monitorEventLoopDelay({ resolution: 5 })
  loop.enable()
  const t0 = performance.now()
  const wall0 = Date.now()
  restarted = await startInProcessDaemon({ dataDir: returningDir, bootstrap: [dialAddr(writers[0]!)], ...BENCH_DAEMON_LIMITS })
  returning = restarted
  const startedMs = performance.now() - t0
  let firstRecordMs = Number.NaN
  // Nothing arrives before the first pull's round trip, so a listener added now misses no record.
  restarted.state.on('record', () => { if (Number.isNaN(firstRecordMs)) firstRecordMs = performance.now() - t0 })
  let lastReport = performance.now()
  const r = restarted
  await waitFor(() => {
    if (performance.now() - lastReport > 2_000) {
      lastReport = performance.now()
      progress(`returning daemon: ${recordTotal(r)}/${targetTotal} records, ${fmtBytes(r.network.sync.stats.bytesReceived)} received by sync`)
    }
    return recordTotal(r) >= targetTotal
  }, { timeoutMs: flags['timeout-s'] * 1000, intervalMs: 10, what: 'the returning daemon to converge' })
  const convergeMs = performance.now() - t0
  loop.disable()
  // The first connection can open while start() is still finishing: read its timeline (wall clock, ms).
  const firstConnectMs = Math.min(...r.network.libp2p.getConnections().map((c) => c.timeline.open)) - wall0
  const sameContent = r.state.contentDigest() === target.state.contentDigest()
  const stats = { ...r.network.sync.stats }
  // Pulls still running (from other writers) keep adding bytes after convergence.
  const settledStart = performance.now()
  await new Promise((resolve) => setTimeout(resolve, 3_000))
  const settledMs = performance.now() - settledStart
  const settled = { ...r.network.sync.stats }
  const bytesSent = writers.map((w, i) => w.network.sync.stats.bytesSent - sentBefore[i]!)

  // After catching up, does live replication work? One new record per writer, timed to
  // the returning daemon. A sync update is counted before it is applied, a gossip one only
  // after it is persisted: so no new sync update means it came by gossip.
  const live: string[] = []
  for (const [wi, w] of writers.entries()) {
    const syncUpdates = r.network.sync.stats.updatesReceived
    const tw = performance.now()
    const rec = await w.state.append('hypothesis', { title: `live ${wi}`, text: 'after catch-up' })
    const arrived = await waitFor(() => r.state.get('hypothesis', rec.key) !== undefined, { timeoutMs: flags['live-timeout-s'] * 1000, intervalMs: 5 }).then(() => true, () => false)
    const via = r.network.sync.stats.updatesReceived > syncUpdates ? 'sync' : 'gossip'
    live.push(arrived ? `writer ${wi}: ${fmtMs(performance.now() - tw)} ms by ${via}` : `writer ${wi}: not within ${flags['live-timeout-s']} s`)
  }

  console.log(`\ncatch-up: ${flags.records} records written on ${flags.writers} writer(s) while one daemon was offline, ${flags['text-bytes']} B text`)
  console.log(`machine: ${machineLine()}`)
  console.log(`  writing ${flags.records} records took ${fmtMs(writeMs)} ms (${(flags.records / (writeMs / 1000)).toFixed(0)} records/s over ${flags.writers} writer(s))`)
  console.log(`  missing on the returning daemon: ${missing.length} records, ${fmtBytes(missingTextBytes)} of record text (${missingTextBytes} B)`)
  console.log(`  one full Yjs diff of those records: ${fmtBytes(oneDiffBytes)} (${(oneDiffBytes / missingTextBytes).toFixed(2)}x the text)`)
  console.log(`  restart (daemon.start) ${fmtMs(startedMs)} ms; first connection ${fmtMs(firstConnectMs)} ms; first record ${fmtMs(firstRecordMs)} ms`)
  console.log(`  converged (all records present) ${fmtMs(convergeMs)} ms after restart; same content as the writers: ${sameContent ? 'yes' : 'NO'}`)
  console.log(`  event loop (shared by all daemons) during catch-up: longest stall ${fmtMs(loop.max / 1e6)} ms, p99 ${fmtMs(loop.percentile(99) / 1e6)} ms`)
  console.log(`  connected to ${r.network.libp2p.getPeers().length} peer(s), topic peers ${topicPeers(r)} at convergence`)
  console.log(`  sync at convergence: ${stats.pulls} pull(s), ${stats.updatesReceived} update(s), bytesReceived ${fmtBytes(stats.bytesReceived)} (${stats.bytesReceived} B)`)
  console.log(`  sync ${fmtMs(settledMs)} ms later: ${settled.pulls} pull(s), ${settled.updatesReceived} update(s), bytesReceived ${fmtBytes(settled.bytesReceived)} (${settled.bytesReceived} B)`)
  console.log(`  writers' sync bytesSent since the restart: ${bytesSent.map((b) => fmtBytes(b)).join(', ')}`)
  console.log(`  ratio bytesReceived / missing record text: ${(stats.bytesReceived / missingTextBytes).toFixed(2)} at convergence, ${(settled.bytesReceived / missingTextBytes).toFixed(2)} settled`)
  console.log(`  live record after catch-up (returning daemon sees ${topicPeers(r)} topic peer(s) of ${r.network.libp2p.getPeers().length} connected): ${live.join('; ')}`)
} finally {
  progress('stopping daemons')
  await stopAndRemove(...writers)
  await returning.stop()
  await rm(returningDir, { recursive: true, force: true })
}
