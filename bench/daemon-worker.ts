/**
 * One in-process daemon on its own worker thread (own event loop, as a separate daemon
 * process would have), driven by bench/bench-node.ts over postMessage.
 */
import '../src/util/polyfill.js'
import { parentPort, workerData } from 'node:worker_threads'
import { startInProcessDaemon, stopAndRemove } from '../test/helpers/in-process-daemon.js'
import { BENCH_DAEMON_LIMITS } from './harness.js'
import { dialAddr, monotonicMs, topicPeers } from './harness.js'
import type { WorkerReply, WorkerRequest } from './bench-node.js'

const port = parentPort
if (port === null) throw new Error('bench/daemon-worker.js runs only as a worker thread')
const { bootstrap } = workerData as { bootstrap: string[] }

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
