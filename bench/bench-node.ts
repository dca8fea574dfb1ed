/**
 * A daemon as the propagation bench drives it: in this thread (all daemons share one event
 * loop), on a worker thread of its own (one event loop each, one process), or in a process
 * of its own (as volunteers run daemons). All report the same events on the machine's
 * monotonic clock.
 */
import { fork } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { startInProcessDaemon, stopAndRemove } from '../test/helpers/in-process-daemon.js'
import { BENCH_DAEMON_LIMITS } from './harness.js'
import { dialAddr, monotonicMs, topicPeers } from './harness.js'
import type { Daemon } from '../src/daemon/daemon.js'

export type WorkerRequest =
  | { id: number, op: 'append', title: string, text: string }
  | { id: number, op: 'topic-peers' | 'hypotheses' | 'stop' }

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never

export type WorkerReply =
  | { type: 'ready', addr: string }
  | { type: 'reply', id: number, value?: number, error?: string }
  /** A hypothesis this daemon wrote: its clock started `at`. */
  | { type: 'sent', title: string, at: number }
  /** A hypothesis from another daemon entered this one's doc `at`. */
  | { type: 'record', title: string, at: number }

export interface BenchNodeEvents {
  sent(title: string, at: number): void
  received(title: string, at: number): void
}

export interface BenchNode {
  /** The dialable address (with /p2p/) others bootstrap from. */
  readonly addr: string
  /** Append a hypothesis; resolves with the append's own duration (sign + persist), ms. */
  append(title: string, text: string): Promise<number>
  topicPeers(): Promise<number>
  hypotheses(): Promise<number>
  stop(): Promise<void>
  /** Its own process, when it runs in one. */
  readonly pid?: number
}

/** A daemon in this thread. */
export async function startLocalNode (bootstrap: string[], events: BenchNodeEvents): Promise<BenchNode> {
  const daemon: Daemon = await startInProcessDaemon({ bootstrap, ...BENCH_DAEMON_LIMITS })
  daemon.state.on('record', (rec, local) => {
    if (!local && rec.record.kind === 'hypothesis') events.received((rec.record.body as { title: string }).title, monotonicMs())
  })
  return {
    addr: dialAddr(daemon),
    async append (title, text) {
      const t0 = monotonicMs()
      events.sent(title, t0)
      await daemon.state.append('hypothesis', { title, text })
      return monotonicMs() - t0
    },
    async topicPeers () { return topicPeers(daemon) },
    async hypotheses () { return daemon.state.counts().hypothesis },
    async stop () { await stopAndRemove(daemon) }
  }
}

/** A daemon on a worker thread of its own. */
export async function startWorkerNode (bootstrap: string[], events: BenchNodeEvents): Promise<BenchNode> {
  const worker = new Worker(new URL('./daemon-worker.js', import.meta.url), { workerData: { bootstrap } })
  return driveNode({ post: (req) => { worker.postMessage(req) }, channel: worker, end: async () => { await worker.terminate() } }, events)
}

/** A daemon in a process of its own, forked with an IPC channel. */
export async function startProcessNode (bootstrap: string[], events: BenchNodeEvents): Promise<BenchNode> {
  // SWARMD_BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=DIR' profiles every daemon, as in bench:swarm.
  const execArgv = [...process.execArgv, ...(process.env.SWARMD_BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '')]
  const child = fork(new URL('./daemon-worker.js', import.meta.url), [], { execArgv, env: { ...process.env, SWARMD_BENCH_NODE: JSON.stringify({ bootstrap }) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  let stopping = false
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  child.once('exit', (code, signal) => { if (!stopping) child.emit('error', new Error(`bench daemon exited (${code ?? signal})`)) })
  const node = await driveNode({
    post: (req) => { stopping ||= req.op === 'stop'; child.send(req) },
    channel: child,
    // It exits by itself once stopped; a daemon that would not stop is killed.
    end: async () => {
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
      await exited
      clearTimeout(timer)
    }
  }, events)
  return { ...node, pid: child.pid }
}

/** A worker thread or child process running bench/daemon-worker.js, driven over messages. */
interface NodeChannel {
  post(req: WorkerRequest): void
  channel: { on(event: 'message', listener: (msg: WorkerReply) => void): unknown, on(event: 'error', listener: (err: Error) => void): unknown }
  end(): Promise<void>
}

async function driveNode ({ post, channel, end }: NodeChannel, events: BenchNodeEvents): Promise<BenchNode> {
  const pending = new Map<number, { resolve: (v: number) => void, reject: (e: Error) => void }>()
  let nextId = 0
  const ready = Promise.withResolvers<string>()
  channel.on('message', (msg: WorkerReply) => {
    switch (msg.type) {
      case 'ready': return ready.resolve(msg.addr)
      case 'sent': return events.sent(msg.title, msg.at)
      case 'record': return events.received(msg.title, msg.at)
      case 'reply': {
        const p = pending.get(msg.id)
        pending.delete(msg.id)
        if (msg.error !== undefined) p?.reject(new Error(msg.error))
        else p?.resolve(msg.value ?? 0)
      }
    }
  })
  channel.on('error', (err: Error) => {
    ready.reject(err)
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  })
  const call = async (req: WithoutId<WorkerRequest>): Promise<number> => {
    const id = nextId++
    const answer = new Promise<number>((resolve, reject) => { pending.set(id, { resolve, reject }) })
    post({ ...req, id } as WorkerRequest)
    return answer
  }
  const addr = await ready.promise
  return {
    addr,
    append: async (title, text) => call({ op: 'append', title, text }),
    topicPeers: async () => call({ op: 'topic-peers' }),
    hypotheses: async () => call({ op: 'hypotheses' }),
    async stop () {
      await call({ op: 'stop' }).catch(() => {})
      await end()
    }
  }
}
