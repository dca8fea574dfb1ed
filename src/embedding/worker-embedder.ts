import '../util/polyfill.js'
import { Worker } from 'node:worker_threads'
import { SwarmdError } from '../util/errors.js'
import type { SwarmdErrorCode } from '../util/errors.js'
import type { WorkerReply, WorkerRequest } from './embedder-worker.js'
import type { MiniLmEmbedder, MiniLmEmbedderInit } from './minilm-onnx.js'

/**
 * The MiniLM embedder in a worker thread: the same vectors as `createMiniLmEmbedder`, while the
 * calling thread (the daemon's event loop: gossip, sync, the API) stays free during inference.
 */
export async function createWorkerEmbedder (init: MiniLmEmbedderInit): Promise<MiniLmEmbedder> {
  const { log, ...options } = init
  const worker = new Worker(new URL('./embedder-worker.js', import.meta.url), { workerData: options })
  const pending = new Map<number, PromiseWithResolvers<Float32Array[]>>()
  let nextId = 0
  let closed: Promise<void> | undefined
  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  }

  const ready = Promise.withResolvers<string>()
  worker.on('message', (reply: WorkerReply) => {
    if (reply.type === 'log') log?.(reply.line)
    else if (reply.type === 'ready') ready.resolve(reply.modelPath)
    else if (reply.type === 'vectors') {
      pending.get(reply.id)?.resolve(reply.vectors)
      pending.delete(reply.id)
    } else {
      const err = new SwarmdError((reply.code ?? 'EMBEDDER_MODEL_UNAVAILABLE') as SwarmdErrorCode, reply.message)
      if (reply.id === null) ready.reject(err)
      else {
        pending.get(reply.id)?.reject(err)
        pending.delete(reply.id)
      }
    }
  })
  worker.on('error', (err) => {
    const failed = new SwarmdError('EMBEDDER_MODEL_UNAVAILABLE', `the embedding worker failed: ${err.message}`)
    ready.reject(failed)
    failAll(failed)
  })
  worker.on('exit', () => {
    const gone = new SwarmdError('EMBEDDER_MODEL_UNAVAILABLE', 'the MiniLM embedder is closed: create a new one')
    ready.reject(gone)
    failAll(gone)
  })

  let modelPath: string
  try {
    modelPath = await ready.promise
  } catch (err) {
    await worker.terminate()
    throw err
  }

  return {
    dimensions: 384,
    modelPath,
    async embed (texts, opts = {}) {
      opts.signal?.throwIfAborted()
      if (closed !== undefined) throw new SwarmdError('EMBEDDER_MODEL_UNAVAILABLE', 'the MiniLM embedder is closed: create a new one')
      if (texts.length === 0) return []
      const id = nextId++
      const reply = Promise.withResolvers<Float32Array[]>()
      pending.set(id, reply)
      worker.postMessage({ id, texts } satisfies WorkerRequest)
      return reply.promise
    },
    async close () {
      closed ??= stopGracefully(worker)
      await closed
    }
  }
}

/** How long a worker may take to finish what it is doing and exit before it is terminated. */
const CLOSE_GRACE_MS = 30_000

/**
 * Ask the worker to stop and wait for it to exit by itself; terminate it only if it does not in
 * time (terminating it inside onnxruntime's native code aborts the process).
 */
async function stopGracefully (worker: Worker): Promise<void> {
  const exited = new Promise<void>((resolve) => { worker.once('exit', () => { resolve() }) })
  worker.postMessage({ close: true } satisfies WorkerRequest)
  const timer = setTimeout(() => { void worker.terminate() }, CLOSE_GRACE_MS)
  timer.unref()
  await exited
  clearTimeout(timer)
}
