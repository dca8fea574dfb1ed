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

  constructor (readonly dimensions: number, private readonly load: () => Promise<ClosableEmbedder>) {}

  /** Whether the model is loaded (or loading). */
  get loaded (): boolean { return this.loading !== undefined }

  async embed (texts: string[], options?: { signal?: AbortSignal }): Promise<Float32Array[]> {
    this.loading ??= this.load().catch((err: unknown) => {
      this.loading = undefined
      throw err
    })
    return (await this.loading).embed(texts, options)
  }

  async close (): Promise<void> {
    const loading = this.loading
    this.loading = undefined
    if (loading === undefined) return
    await (await loading.catch(() => undefined))?.close?.()
  }
}
