import { SwarmdError } from '../util/errors.js'
import type { Embedder } from './embedder.js'

export interface ClosableEmbedder extends Embedder {
  close?(): Promise<void>
}

/**
 * An embedder that loads its model on first use: a coordination-only daemon that never
 * checks a claim never pays the model's memory. A failed load is retried on the next call.
 */
export class LazyEmbedder implements Embedder {
  private loading: Promise<ClosableEmbedder> | undefined
  private closed = false

  /** `onLoaded` is told once the model has loaded (what embeds ahead of use starts then). */
  constructor (readonly dimensions: number, private readonly load: () => Promise<ClosableEmbedder>, private readonly onLoaded: () => void = () => {}) {}

  /** Whether the model is loaded (or loading). */
  get loaded (): boolean { return this.loading !== undefined }

  async embed (texts: string[], options?: { signal?: AbortSignal }): Promise<Float32Array[]> {
    // A late caller (a background duplicate-mark update) must not load the model again after
    // close: its worker would keep a stopped daemon's process alive.
    if (this.closed) throw new SwarmdError('EMBEDDER_MODEL_UNAVAILABLE', 'the embedder is closed (the daemon is stopping)')
    this.loading ??= this.load().then((loaded) => {
      this.onLoaded()
      return loaded
    }, (err: unknown) => {
      this.loading = undefined
      throw err
    })
    return (await this.loading).embed(texts, options)
  }

  async close (): Promise<void> {
    this.closed = true
    const loading = this.loading
    this.loading = undefined
    if (loading === undefined) return
    await (await loading.catch(() => undefined))?.close?.()
  }
}
