import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { dataPaths } from '../config/data-dir.js'
import { readDaemonInfo } from '../daemon/daemon-info.js'
import { SwarmdError } from '../util/errors.js'
import type { ChildProcess } from 'node:child_process'
import type { DaemonInfo } from '../daemon/daemon-info.js'

type Print = (line: string) => void

const SWARMD_BIN = fileURLToPath(new URL('../../../bin/swarmd.js', import.meta.url))

export interface DemoOptions {
  nodes: number
  /** Each run ends after this many steps: short real CPU experiments. */
  maxSteps: number
  /** Keep the data dirs after the demo (they are removed by default). */
  keep: boolean
}

interface DemoNode {
  name: string
  dataDir: string
  child: ChildProcess
  info?: DaemonInfo
}

/**
 * `swarmd demo --nodes N`: N daemons on loopback forming a swarm of their own on this machine
 * (a fresh swarm name, the first daemon the others' bootstrap peer), each running real CPU
 * experiments with a step limit, their output prefixed with their name, and the status page of
 * each printed: the fastest way to see swarmd work. Ctrl-C stops them all and removes their data
 * dirs (unless `keep`). Resolves once they are stopped.
 */
export async function demoCommand (options: DemoOptions, print: Print): Promise<void> {
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 16) throw new SwarmdError('CONFIG_INVALID', `--nodes ${options.nodes}: pass 1 to 16 daemons`)
  const root = await mkdtemp(join(tmpdir(), 'swarmd-demo-'))
  const swarm = `demo-${randomBytes(4).toString('hex')}`
  const nodes: DemoNode[] = []
  let stopping: Promise<void> | undefined
  /** After Ctrl-C the daemons got the terminal's SIGINT too: they are given time to stop on it first. */
  const stopAll = async (graceMs = 0): Promise<void> => {
    stopping ??= (async () => {
      await Promise.all(nodes.map(async (node) => stopChild(node.child, graceMs)))
      if (!options.keep) await rm(root, { recursive: true, force: true })
      print(options.keep ? `demo stopped; data dirs kept in ${root}` : 'demo stopped')
    })()
    return stopping
  }
  const onInterrupt = (): void => { void stopAll(10_000) }
  const onTerminate = (): void => { void stopAll() }
  process.on('SIGINT', onInterrupt)
  process.on('SIGTERM', onTerminate)
  try {
    print(`demo: ${options.nodes} daemon${options.nodes > 1 ? 's' : ''} in swarm "${swarm}" on this machine, ${options.maxSteps} steps a run; data in ${root}`)
    for (let i = 0; i < options.nodes; i++) {
      const bootstrap = nodes[0]?.info?.listen[0]
      const node = startNode(`node-${i}`, join(root, `node-${i}`), swarm, options.maxSteps, bootstrap, print)
      nodes.push(node)
      node.info = await waitForInfo(node)
      if (stopping !== undefined) return await stopping
    }
    print('demo: status pages')
    for (const node of nodes) print(`  ${node.name}  ${node.info!.api}/`)
    print('demo: every daemon runs experiments and shares them with the others; Ctrl-C stops them')
    await Promise.race([stopping ?? new Promise<void>(() => {}), ...nodes.map(async (node) => exited(node.child))])
    if (stopping === undefined) print('demo: a daemon ended on its own (its output above says why); stopping the others')
    await stopAll()
  } catch (err) {
    await stopAll()
    throw err
  } finally {
    process.off('SIGINT', onInterrupt)
    process.off('SIGTERM', onTerminate)
  }
}

function startNode (name: string, dataDir: string, swarm: string, maxSteps: number, bootstrap: string | undefined, print: Print): DemoNode {
  const args = [SWARMD_BIN, '--data-dir', dataDir, 'start', '--swarm', swarm, '--profile', 'cpu', '--max-steps', String(maxSteps),
    '--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', '0', '--no-mdns', '--no-upnp', ...(bootstrap !== undefined ? ['--bootstrap', bootstrap] : [])]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  for (const stream of [child.stdout, child.stderr]) {
    let partial = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) if (line !== '') print(`[${name}] ${line}`)
    })
  }
  return { name, dataDir, child }
}

/** The daemon's daemon.json once it wrote it (it is up), or why it did not come up. */
async function waitForInfo (node: DemoNode): Promise<DaemonInfo> {
  const path = dataPaths(node.dataDir).daemonInfo
  for (let waited = 0; waited < 120_000; waited += 200) {
    if (node.child.exitCode !== null || node.child.signalCode !== null) throw new SwarmdError('NOT_STARTED', `${node.name} did not start (its output above says why; \`swarmd doctor\` checks this machine)`)
    const info = await readDaemonInfo(path).catch(() => undefined)
    if (info !== undefined && info.pid === node.child.pid) return info
    await sleep(200)
  }
  throw new SwarmdError('NOT_STARTED', `${node.name} did not start within 2 minutes`)
}

async function exited (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
}

/** After `graceMs` (a daemon stopping on its own), SIGTERM, then SIGKILL 15 s later. */
async function stopChild (child: ChildProcess, graceMs: number): Promise<void> {
  const timers = [
    setTimeout(() => { child.kill('SIGTERM') }, graceMs),
    setTimeout(() => { child.kill('SIGKILL') }, graceMs + 15_000)
  ]
  await exited(child)
  for (const timer of timers) clearTimeout(timer)
}
