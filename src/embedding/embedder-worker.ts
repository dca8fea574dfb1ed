/**
 * The worker side of {@link createWorkerEmbedder}: owns a MiniLM session off the main thread.
 * onnxruntime-node runs inference synchronously on the calling thread (~9 ms of CPU per text), so
 * in the daemon's thread every claim check would stall gossip, sync and the API.
 */
import '../util/polyfill.js'
import { parentPort, workerData } from 'node:worker_threads'
import { isSwarmdError } from '../util/errors.js'
import { createMiniLmEmbedder } from './minilm-onnx.js'
import type { MiniLmEmbedderInit } from './minilm-onnx.js'

export type WorkerRequest = { id: number, texts: string[] } | { close: true }
export type WorkerReply =
  | { type: 'ready', modelPath: string }
  | { type: 'log', line: string }
  | { type: 'vectors', id: number, vectors: Float32Array[] }
  | { type: 'error', id: number | null, code: string | null, message: string }

const port = parentPort!
const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []): void => { port.postMessage(reply, transfer) }
const failure = (id: number | null, err: unknown): WorkerReply => ({ type: 'error', id, code: isSwarmdError(err) ? err.code : null, message: err instanceof Error ? err.message : String(err) })

const init = workerData as Omit<MiniLmEmbedderInit, 'log'>
try {
  const embedder = await createMiniLmEmbedder({ ...init, log: (line) => { post({ type: 'log', line }) } })
  const inFlight = new Set<Promise<void>>()
  port.on('message', (request: WorkerRequest) => {
    if ('close' in request) {
      // Asked to stop: the requests before this one are answered, the session is released, and the
      // thread ends by itself. Terminating it from outside while onnxruntime is in native code
      // aborted the whole process (Napi::Error).
      void Promise.allSettled(inFlight).then(async () => embedder.close()).finally(() => { port.close() })
      return
    }
    const work: Promise<void> = embedder.embed(request.texts).then(
      (vectors) => { post({ type: 'vectors', id: request.id, vectors }, vectors.map((v) => v.buffer as ArrayBuffer)) },
      (err: unknown) => { post(failure(request.id, err)) }
    ).finally(() => { inFlight.delete(work) })
    inFlight.add(work)
  })
  port.once('close', () => { void embedder.close() })
  post({ type: 'ready', modelPath: embedder.modelPath })
} catch (err) {
  post(failure(null, err))
}
