/**
 * A bench daemon (bench/swarm/swarm-daemon.ts) as a child process: its data dir, its start (in a
 * network namespace when asked, for bench:chaos), its API address and its stop.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureMiniLmOnnx } from '../../src/embedding/minilm-onnx.js'
import { defaultModelCacheDir } from '../../src/embedding/model-cache-dir.js'
import { waitFor } from '../../test/helpers/wait.js'
import { sleep } from '../harness.js'
import type { ChildProcess } from 'node:child_process'
import type { SwarmDaemonArgs } from './swarm-daemon.js'

const DAEMON_ENTRY = fileURLToPath(new URL('./swarm-daemon.js', import.meta.url))

export interface SwarmDaemonChild {
  proc: ChildProcess
  dir: string
  listen: string[]
  /** The last 30 lines it wrote to stderr, for failure messages. */
  stderr: string[]
}

/**
 * A fresh data dir, with the machine's MiniLM model built first (once for every bench daemon, as
 * a volunteer's machine builds it once): no daemon spends its first seconds on it.
 */
let modelBuilt: Promise<string> | undefined
export async function swarmDaemonDataDir (): Promise<string> {
  modelBuilt ??= ensureMiniLmOnnx(defaultModelCacheDir())
  await modelBuilt
  return mkdtemp(join(tmpdir(), 'swarmd-bench-swarm-'))
}

/** Start one and wait until it has written its daemon.json (a restart on the same dir waits for the new one). */
export async function startSwarmDaemon (args: SwarmDaemonArgs, options: { netns?: string, log?: (line: string) => void } = {}): Promise<SwarmDaemonChild> {
  const command = [process.execPath, ...(process.env.SWARMD_BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== ''), DAEMON_ENTRY, JSON.stringify(args)]
  // `ip netns exec` enters the namespace and execs node: the child's pid is the daemon's.
  if (options.netns !== undefined) command.unshift('ip', 'netns', 'exec', options.netns)
  const proc = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
  const child: SwarmDaemonChild = { proc, dir: args.dataDir, listen: [], stderr: [] }
  proc.stderr?.setEncoding('utf8')
  let partial = ''
  proc.stderr?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      options.log?.(line)
      child.stderr.push(line)
      if (child.stderr.length > 30) child.stderr.shift()
    }
  })
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`bench daemon ${args.node} exited with ${proc.exitCode}:\n${child.stderr.join('\n')}`)
    try {
      const info = JSON.parse(await readFile(join(args.dataDir, 'daemon.json'), 'utf8')) as { pid: number, listen: string[] }
      child.listen = info.listen
      return info.pid === proc.pid
    } catch {
      return false
    }
  }, { timeoutMs: 60_000, intervalMs: 50, what: `daemon.json of bench daemon ${args.node}` })
  return child
}

export async function apiOf (child: SwarmDaemonChild): Promise<string> {
  return (JSON.parse(await readFile(join(child.dir, 'daemon.json'), 'utf8')) as { api: string }).api
}

/** SIGTERM, and SIGKILL after 15 s. */
export async function stopSwarmDaemon (child: SwarmDaemonChild): Promise<void> {
  const { proc } = child
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  proc.kill('SIGTERM')
  await Promise.race([exited, sleep(15_000)])
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGKILL')
    await exited
  }
}
