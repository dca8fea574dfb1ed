import '../../src/util/polyfill.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { resolveConfig } from '../../src/config/config.js'
import { Daemon } from '../../src/daemon/daemon.js'
import type { PartialConfig } from '../../src/config/config.js'

export async function tempDir (prefix = 'swarmd-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

/**
 * A real daemon (real libp2p over TCP on 127.0.0.1, real LevelDB) inside the test
 * process: loopback only, free ports, no mDNS, unless `overrides` say otherwise.
 */
export async function startInProcessDaemon (overrides: PartialConfig & { dataDir?: string } = {}): Promise<Daemon> {
  const { daemon, started } = await createInProcessDaemon(overrides)
  await started
  return daemon
}

/** A daemon and its start in progress: for a test that watches what a starting daemon does. */
export async function createInProcessDaemon (overrides: PartialConfig & { dataDir?: string } = {}): Promise<{ daemon: Daemon, started: Promise<void> }> {
  const { dataDir = await tempDir(), ...flags } = overrides
  const config = resolveConfig({
    file: {},
    env: {},
    flags: { listen: ['/ip4/127.0.0.1/tcp/0'], httpPort: 0, mdns: false, upnp: false, agent: 'none', ...flags },
    shippedBootstrap: []
  })
  // SWARMD_TEST_LOG=1 prints every daemon's log lines (debugging a test); the last ones are kept anyway.
  const kept: string[] = []
  const log = (line: string): void => {
    kept.push(line)
    if (kept.length > KEPT_LOG_LINES) kept.shift()
    if (process.env.SWARMD_TEST_LOG !== undefined) process.stderr.write(`[${dataDir.slice(-6)}] ${line}\n`)
  }
  const daemon = new Daemon({ dataDir, config, log })
  keptLogs.set(daemon, kept)
  return { daemon, started: daemon.start() }
}

const KEPT_LOG_LINES = 40
const keptLogs = new WeakMap<Daemon, string[]>()

/** The last log lines of an in-process daemon, for a test's failure message. */
export function recentLog (daemon: Daemon): string {
  return (keptLogs.get(daemon) ?? []).join('\n')
}

export async function stopAndRemove (...daemons: Daemon[]): Promise<void> {
  await Promise.all(daemons.map(async (d) => {
    await d.stop()
    await rm(d.paths.root, { recursive: true, force: true })
  }))
}

/** Dial `to` from `from`, retried: loopback dials can be reset (libp2p rate-limits inbound dials per host). */
export async function connectWithRetry (from: Daemon, to: Daemon): Promise<void> {
  const addr = to.listenAddrs()[0]!
  for (let attempt = 1; ; attempt++) {
    try {
      await from.network.connect(addr)
      return
    } catch (err) {
      if (attempt >= 8) throw err
      await sleep(250 * attempt)
    }
  }
}
