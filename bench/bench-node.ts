/**
 * A daemon as the propagation bench drives it: either in this thread (all daemons share
 * one event loop) or on a worker thread of its own (one event loop each, like separate
 * processes). Both report the same events on the shared monotonic clock.
 */
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
  const pending = new Map<number, { resolve: (v: number) => void, reject: (e: Error) => void }>()
  let nextId = 0
  const ready = Promise.withResolvers<string>()
  worker.on('message', (msg: WorkerReply) => {
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
  worker.on('error', (err) => {
    ready.reject(err)
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  })
  const call = async (req: WithoutId<WorkerRequest>): Promise<number> => {
    const id = nextId++
    const answer = new Promise<number>((resolve, reject) => { pending.set(id, { resolve, reject }) })
    worker.postMessage({ ...req, id })
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
      await worker.terminate()
    }
  }
}
