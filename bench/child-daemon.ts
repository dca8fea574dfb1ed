import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '../test/helpers/wait.js'
import { sleep } from './harness.js'
import type { ChildProcess } from 'node:child_process'

const SWARMD = fileURLToPath(new URL('../../bin/swarmd.js', import.meta.url))

/** A `swarmd start` child process on loopback (free ports, no mDNS, agent none), as the measured daemon. */
export interface ChildDaemon {
  proc: ChildProcess
  dir: string
  pid: number
  api: string
  listen: string[]
  peerId: string
  /** The data dir's API token (mutating calls). */
  token: string
}

/** Start a daemon in `dir` (default: a fresh temp dir) and wait until it wrote its daemon.json. */
export async function spawnChildDaemon (opts: { dir?: string, bootstrap?: string, prefix?: string, args?: string[] } = {}): Promise<ChildDaemon> {
  const dir = opts.dir ?? await mkdtemp(join(tmpdir(), opts.prefix ?? 'swarmd-bench-'))
  // --agent none: the coordination daemon alone; the default builtin agent would train.
  const args = [SWARMD, '--data-dir', dir, 'start', '--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', '0', '--no-mdns', '--no-upnp', '--agent', 'none']
  if (opts.bootstrap !== undefined) args.push('--bootstrap', opts.bootstrap)
  args.push(...(opts.args ?? []))
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const child: ChildDaemon = { proc, dir, pid: proc.pid ?? -1, api: '', listen: [], peerId: '', token: '' }
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`daemon exited with ${proc.exitCode}: ${stderr.trim()}`)
    try {
      const info = JSON.parse(await readFile(join(dir, 'daemon.json'), 'utf8')) as { pid: number, api: string, listen: string[], peerId: string }
      Object.assign(child, { api: info.api, listen: info.listen, peerId: info.peerId })
      return info.pid === proc.pid
    } catch {
      return false
    }
  }, { timeoutMs: 30_000, intervalMs: 50, what: 'daemon.json of the child daemon' })
  child.token = (await readFile(join(dir, 'api-token'), 'utf8')).trim()
  return child
}

/** SIGTERM, SIGKILL after 10 s; the data dir is removed unless `keep`. */
export async function stopChildDaemon (child: ChildDaemon, options: { keep?: boolean } = {}): Promise<void> {
  if (child.proc.exitCode === null && child.proc.signalCode === null) {
    const exited = new Promise((resolve) => child.proc.once('exit', resolve))
    child.proc.kill('SIGTERM')
    await Promise.race([exited, sleep(10_000)])
    if (child.proc.exitCode === null && child.proc.signalCode === null) {
      child.proc.kill('SIGKILL')
      await exited
    }
  }
  if (options.keep !== true) await rm(child.dir, { recursive: true, force: true })
}
