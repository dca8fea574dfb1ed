/**
 * One in-process daemon on its own worker thread (own event loop, as a separate daemon
 * process would have) or in a child process of its own (forked with an IPC channel: a
 * daemon as volunteers run it), driven by bench/bench-node.ts over messages.
 */
import '../src/util/polyfill.js'
import { parentPort, workerData } from 'node:worker_threads'
import { startInProcessDaemon, stopAndRemove } from '../test/helpers/in-process-daemon.js'
import { BENCH_DAEMON_LIMITS } from './harness.js'
import { dialAddr, monotonicMs, topicPeers } from './harness.js'
import type { WorkerReply, WorkerRequest } from './bench-node.js'

/** The thread's port, or the forked process's IPC channel. */
const port = parentPort ?? (process.send !== undefined
  ? {
      postMessage: (msg: WorkerReply) => { process.send!(msg) },
      on: (_: 'message', listener: (req: WorkerRequest) => void) => { process.on('message', listener) },
      close: () => { process.disconnect() }
    }
  : undefined)
if (port === undefined) throw new Error('bench/daemon-worker.js runs only as a worker thread or a forked process')
// A forked daemon whose bench is gone (killed, crashed) goes too, rather than run on unseen.
if (parentPort === null) process.once('disconnect', () => { process.exit(0) })
const { bootstrap } = (parentPort !== null ? workerData : JSON.parse(process.env.SWARMD_BENCH_NODE ?? '{}')) as { bootstrap: string[] }

const daemon = await startInProcessDaemon({ bootstrap, ...BENCH_DAEMON_LIMITS })
const post = (msg: WorkerReply): void => { port.postMessage(msg) }
daemon.state.on('record', (rec, local) => {
  if (local || rec.record.kind !== 'hypothesis') return
  post({ type: 'record', title: (rec.record.body as { title: string }).title, at: monotonicMs() })
})

port.on('message', (req: WorkerRequest) => {
  void (async () => {
    try {
      switch (req.op) {
        case 'append': {
          // The clock starts here, on the writer's thread, not when the request was posted.
          const t0 = monotonicMs()
          post({ type: 'sent', title: req.title, at: t0 })
          await daemon.state.append('hypothesis', { title: req.title, text: req.text })
          return post({ type: 'reply', id: req.id, value: monotonicMs() - t0 })
        }
        case 'topic-peers':
          return post({ type: 'reply', id: req.id, value: topicPeers(daemon) })
        case 'hypotheses':
          return post({ type: 'reply', id: req.id, value: daemon.state.counts().hypothesis })
        case 'stop':
          await stopAndRemove(daemon)
          post({ type: 'reply', id: req.id, value: 0 })
          return port.close()
      }
    } catch (err) {
      post({ type: 'reply', id: req.id, error: err instanceof Error ? err.message : String(err) })
    }
  })()
})
post({ type: 'ready', addr: dialAddr(daemon) })
