import { spawn } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from './wait.js'
import type { DaemonInfo } from '../../src/daemon/daemon-info.js'
import type { ChildProcess } from 'node:child_process'

/** The published CLI entry; it imports the compiled dist/src/cli/main.js. */
export const SWARMD_BIN = fileURLToPath(new URL('../../../bin/swarmd.js', import.meta.url))

/**
 * Deadlines for real processes on a slow, shared CI machine. A daemon starts in ~1 s on
 * a 2-core box; 30 s leaves room for a loaded one without hiding a hang.
 */
export const E2E_TIMEOUT_MS = 30_000
/** Poll interval for predicates against child processes and their APIs. */
export const E2E_POLL_MS = 75


export interface DaemonProcessOptions {
  /** Reuse a data dir (restart); default: a fresh temp dir. */
  dataDir?: string
  /** Multiaddrs passed as `--bootstrap`. */
  bootstrap?: string[]
  /** Extra arguments after `start`. */
  args?: string[]
  /** A label for failure messages. */
  name?: string
  /** Written to the data dir's config.json before start. */
  config?: Record<string, unknown>
  /** Run inside this network namespace (`ip netns exec`; test/helpers/netns.ts). */
  netns?: string
  /** The libp2p listen address instead of 127.0.0.1 on a free port. */
  listen?: string
  /** The API's address instead of 127.0.0.1 (a namespace's management address). */
  httpHost?: string
  /** Ask the router for a port mapping (off by default: loopback has no router). */
  upnp?: boolean
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface HttpResult<T = unknown> {
  status: number
  body: T
}

// Every child and temp dir this test process made, so hooks and the exit handler can
// clean up even when a test throws half way.
const liveChildren = new Set<ChildProcess>()
const tempDirs = new Set<string>()

function killAllNow (): void {
  for (const child of liveChildren) {
    if (child.pid !== undefined && !exited(child)) {
      try { process.kill(child.pid, 'SIGKILL') } catch {}
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
}

// The last resort when hooks never ran: normal exit, or the runner interrupting this file.
process.on('exit', killAllNow)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllNow()
    // With our handler gone, the re-raised signal ends this process as it would have.
    process.kill(process.pid, signal)
  })
}

/** A fresh directory under the OS temp dir, removed by `cleanupDaemons()`. */
export async function e2eTempDir (prefix = 'swarmd-e2e-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

/**
 * SIGKILL every daemon still running (by its own pid) and remove every temp dir. Call
 * from `after`/`afterEach`: it is the net under a test that failed half way.
 */
export async function cleanupDaemons (): Promise<void> {
  await Promise.all([...liveChildren].map(async (child) => { await killChild(child, 'SIGKILL') }))
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

function exited (child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

async function killChild (child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (exited(child)) return
  const done = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  if (child.pid !== undefined) {
    try { process.kill(child.pid, signal) } catch {}
  }
  await done
}

/** Run the CLI to completion (`node bin/swarmd.js ...args`). */
export async function runCli (args: string[], opts: { timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [SWARMD_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env }
  })
  liveChildren.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const timeoutMs = opts.timeoutMs ?? E2E_TIMEOUT_MS
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    if (child.pid !== undefined) try { process.kill(child.pid, 'SIGKILL') } catch {}
  }, timeoutMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (c, s) => { resolve([c, s]) })
  }).finally(() => {
    clearTimeout(timer)
    liveChildren.delete(child)
  })
  if (timedOut) throw new Error(`swarmd ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`)
  return { code, signal, stdout, stderr }
}

/** A one-line summary of a CLI run for assertion messages. */
export function describeRun (result: CliResult): string {
  return `exit ${String(result.code)}${result.signal !== null ? ` (${result.signal})` : ''}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`
}

/**
 * A real `swarmd start` as a child process on 127.0.0.1 (free ports, no mDNS), with its
 * output captured for failure messages.
 */
export class DaemonProcess {
  private child: ChildProcess | undefined
  private infoValue: DaemonInfo | undefined
  private tokenValue: string | undefined
  private logText = ''

  private constructor (readonly dataDir: string, private options: DaemonProcessOptions) {}

  /** Start a daemon and wait until it has written its daemon.json. */
  static async start (options: DaemonProcessOptions = {}): Promise<DaemonProcess> {
    const dataDir = options.dataDir ?? await e2eTempDir()
    const daemon = new DaemonProcess(dataDir, options)
    await daemon.launch()
    return daemon
  }

  get name (): string { return this.options.name ?? this.dataDir }
  get info (): DaemonInfo { return this.need(this.infoValue, 'info') }
  get pid (): number { return this.info.pid }
  get peerId (): string { return this.info.peerId }
  /** The first listen multiaddr, with `/p2p/<peerId>`: what others bootstrap from. */
  get addr (): string { return this.need(this.info.listen[0], 'listen address') }
  get running (): boolean { return this.child !== undefined && !exited(this.child) }
  get daemonInfoPath (): string { return join(this.dataDir, 'daemon.json') }
  /** Everything the current and earlier runs printed (stdout and stderr interleaved). */
  get output (): string { return this.logText }

  /** Start again on the same data dir; `options` replace the ones given before (e.g. no bootstrap). */
  async restart (options: Omit<DaemonProcessOptions, 'dataDir'> = {}): Promise<void> {
    if (this.running) await this.stop()
    this.options = { ...options, name: options.name ?? this.options.name }
    await this.launch()
  }

  /** SIGTERM and wait for a clean exit; throws (with the daemon's output) if it was not clean. */
  async stop (): Promise<void> {
    const child = this.need(this.child, 'child process')
    const exit = this.exitOf(child)
    await killChild(child, 'SIGTERM')
    const { code, signal } = await exit
    if (code !== 0) throw new Error(`${this.name} did not stop cleanly (exit ${String(code)}, signal ${String(signal)})\n${this.output}`)
  }

  /** SIGKILL: no shutdown code runs, as in a power cut or the OOM killer. */
  async kill (): Promise<void> {
    await killChild(this.need(this.child, 'child process'), 'SIGKILL')
  }

  /** Run the CLI against this daemon's data dir. */
  async cli (args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> {
    return runCli(['--data-dir', this.dataDir, ...args], opts)
  }

  /** GET an API path and parse the JSON; throws on a non-2xx status. */
  async api<T = any> (path: string): Promise<T> {
    const res = await this.request('GET', path)
    if (res.status < 200 || res.status > 299) throw new Error(`GET ${path} on ${this.name}: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body as T
  }

  /** POST JSON (or raw bytes) with the data dir's token; returns status and parsed body. */
  async post<T = any> (path: string, body: unknown, opts: { signal?: AbortSignal } = {}): Promise<HttpResult<T>> {
    return this.request<T>('POST', path, body, opts)
  }

  /** One API call; a body that is not JSON comes back as a Buffer. */
  async request<T = any> (method: string, path: string, body?: unknown, opts: { signal?: AbortSignal } = {}): Promise<HttpResult<T>> {
    const headers: Record<string, string> = {}
    let payload: string | Uint8Array | undefined
    if (body instanceof Uint8Array) {
      payload = body
      headers['content-type'] = 'application/octet-stream'
    } else if (body !== undefined) {
      payload = JSON.stringify(body)
      headers['content-type'] = 'application/json'
    }
    if (method !== 'GET') headers.authorization = `Bearer ${await this.token()}`
    const res = await fetch(new URL(path, this.info.api), { method, headers, body: payload, signal: opts.signal ?? AbortSignal.timeout(E2E_TIMEOUT_MS) })
    const bytes = Buffer.from(await res.arrayBuffer())
    const isJson = (res.headers.get('content-type') ?? '').startsWith('application/json')
    return { status: res.status, body: (isJson ? JSON.parse(bytes.toString('utf8')) : bytes) as T }
  }

  /** Peer ids this daemon has a connection to. */
  async connectedPeers (): Promise<Set<string>> {
    const { peers } = await this.api<{ peers: Array<{ peerId: string }> }>('/api/peers')
    return new Set(peers.map((p) => p.peerId))
  }

  /** Ids of every hypothesis this daemon holds. */
  async hypothesisIds (): Promise<string[]> {
    const { hypotheses } = await this.api<{ hypotheses: Array<{ id: string }> }>('/api/hypotheses')
    return hypotheses.map((h) => h.id)
  }

  /** Post a hypothesis; throws unless the daemon acknowledged it with 201. */
  async addHypothesis (title: string, text = ''): Promise<string> {
    const res = await this.post<{ hypothesis: { id: string } }>('/api/hypotheses', { title, text })
    if (res.status !== 201) throw new Error(`POST /api/hypotheses on ${this.name}: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body.hypothesis.id
  }

  private async token (): Promise<string> {
    this.tokenValue ??= (await readFile(join(this.dataDir, 'api-token'), 'utf8')).trim()
    return this.tokenValue
  }

  private exitOf (child: ChildProcess): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
    if (exited(child)) return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    return new Promise((resolve) => { child.once('exit', (code, signal) => { resolve({ code, signal }) }) })
  }

  private async launch (): Promise<void> {
    if (this.options.config !== undefined) await writeFile(join(this.dataDir, 'config.json'), JSON.stringify(this.options.config))
    const args = ['--data-dir', this.dataDir, 'start', '--listen', this.options.listen ?? '/ip4/127.0.0.1/tcp/0', '--http-port', '0', '--no-mdns', this.options.upnp === true ? '--upnp' : '--no-upnp']
    if (this.options.httpHost !== undefined) args.push('--http-host', this.options.httpHost)
    for (const addr of this.options.bootstrap ?? []) args.push('--bootstrap', addr)
    const extra = this.options.args ?? []
    // Coordination only unless a test asks for a research agent.
    if (!extra.includes('--agent')) args.push('--agent', 'none')
    args.push(...extra)
    this.infoValue = undefined
    this.logText += `--- ${this.name}: swarmd ${args.join(' ')}\n`
    const command = [process.execPath, SWARMD_BIN, ...args]
    // `ip netns exec` enters the namespace and execs node: the child's pid is the daemon's.
    if (this.options.netns !== undefined) command.unshift('ip', 'netns', 'exec', this.options.netns)
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    liveChildren.add(child)
    child.once('exit', () => { liveChildren.delete(child) })
    const append = (chunk: string): void => { this.logText += chunk }
    child.stdout?.setEncoding('utf8').on('data', append)
    child.stderr?.setEncoding('utf8').on('data', append)
    const pid = child.pid
    if (pid === undefined) throw new Error(`could not spawn ${this.name}`)
    // After a kill -9 the old daemon.json is still there: wait for the one this child wrote.
    try {
      await waitFor(async () => {
        if (exited(child)) throw new Error(`exited with ${String(child.exitCode ?? child.signalCode)} before it was up`)
        const info = await readFile(this.daemonInfoPath, 'utf8').then((text) => JSON.parse(text) as DaemonInfo, () => undefined)
        if (info?.pid !== pid) return false
        this.infoValue = info
        return true
      }, { timeoutMs: E2E_TIMEOUT_MS, intervalMs: E2E_POLL_MS, what: `${this.name} to write daemon.json` })
    } catch (err) {
      await killChild(child, 'SIGKILL')
      throw new Error(`daemon ${this.name} did not start: ${(err as Error).message}\n${this.output}`)
    }
  }

  private need<T> (value: T | undefined, what: string): T {
    if (value === undefined) throw new Error(`${this.name}: no ${what} (daemon not started?)`)
    return value
  }
}

/**
 * Wait until `predicate` holds, with the e2e deadline and poll interval. On a timeout the
 * error carries `diagnose()`'s text (what the daemons saw), so a CI failure says why.
 */
export async function eventually (predicate: () => boolean | Promise<boolean>, what: string, opts: { timeoutMs?: number, diagnose?: () => unknown } = {}): Promise<void> {
  try {
    await waitFor(predicate, { timeoutMs: opts.timeoutMs ?? E2E_TIMEOUT_MS, intervalMs: E2E_POLL_MS, what })
  } catch (err) {
    if (opts.diagnose === undefined) throw err
    let detail: unknown
    try { detail = await opts.diagnose() } catch (e) { detail = `(diagnose failed: ${String(e)})` }
    throw new Error(`${(err as Error).message}\n${typeof detail === 'string' ? detail : JSON.stringify(detail, null, 2)}`)
  }
}

/** True when the file exists (for asserting on a data dir's contents). */
export function fileExists (path: string): boolean {
  return existsSync(path)
}
