import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { cosine } from './embedder.js'
import type { Embedder } from './embedder.js'

export const WEATHER = 'The weather is lovely today.'
export const SUNNY = "It's so sunny outside!"
export const STADIUM = 'He drove to the stadium.'

/** A vector's length. */
function norm (v: Float32Array): number {
  return Math.sqrt(v.reduce((sum, x) => sum + x * x, 0))
}

/** The largest difference between two vectors' components. */
export function maxAbsDiff (a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length)
  return a.reduce((max, x, i) => Math.max(max, Math.abs(x - b[i]!)), 0)
}

/**
 * The contract every Embedder meets, real or fake: node:test cases for a test file to register
 * (as automerge-repo exports its storage adapters' suite). `get` is called inside each test,
 * after the caller's `before` hook has built the embedder.
 */
export function runEmbedderTests (name: string, get: () => Embedder): void {
  describe(`Embedder conformance: ${name}`, () => {
    it('has 384 dimensions and returns vectors of that length', async () => {
      const embedder = get()
      assert.equal(embedder.dimensions, 384)
      const [v] = await embedder.embed([WEATHER])
      assert.equal(v!.length, 384)
    })

    it('returns unit-norm vectors, the empty text included', async () => {
      for (const v of await get().embed([WEATHER, SUNNY, '', 'a'])) {
        assert.ok(Math.abs(norm(v) - 1) < 1e-5, `norm ${norm(v)}`)
      }
    })

    it('is deterministic: the same text twice gives the identical vector', async () => {
      const [a] = await get().embed([STADIUM])
      const [b] = await get().embed([STADIUM])
      assert.deepEqual(a, b)
    })

    it('scores a text ~1 with itself', async () => {
      const [a] = await get().embed([SUNNY])
      assert.ok(Math.abs(cosine(a!, a!) - 1) < 1e-5)
    })

    it('scores a paraphrase higher than an unrelated text', async () => {
      const [base, paraphrase, unrelated] = await get().embed([
        'Increase the learning rate to 0.01 for faster convergence.',
        'Raise the learning rate to 0.01 so training converges faster.',
        'Swap the optimizer for Lion and add weight decay.'
      ])
      const near = cosine(base!, paraphrase!)
      const far = cosine(base!, unrelated!)
      assert.ok(near > far + 0.1, `paraphrase ${near} vs unrelated ${far}`)
    })

    it('embeds a batch exactly as one by one, in order', async () => {
      const texts = [WEATHER, SUNNY, STADIUM, 'A much longer sentence about doubling the model width and halving the depth of the network.']
      const batch = await get().embed(texts)
      assert.equal(batch.length, texts.length)
      for (const [i, text] of texts.entries()) {
        const [single] = await get().embed([text])
        // Padding to the batch's longest text changes the kernels' shapes, not the result beyond float noise.
        assert.ok(maxAbsDiff(batch[i]!, single!) < 1e-5, `text ${i} differs by ${maxAbsDiff(batch[i]!, single!)}`)
      }
    })

    it('returns [] for no texts', async () => {
      assert.deepEqual(await get().embed([]), [])
    })
  })
}
