/**
 * The semantic-dedup seam: turns texts (hypotheses, claim descriptions) into vectors whose cosine
 * says how alike two texts are. Every implementation passes one conformance suite
 * (`runEmbedderTests` in `embedder-conformance.ts`): the real all-MiniLM-L6-v2 model run by
 * onnxruntime (`minilm-onnx.ts`), in a worker (`worker-embedder.ts`), loaded on first use as the
 * daemon does (`lazy-embedder.ts`), and a fast deterministic hashing fake (`hashing-embedder.ts`).
 */
import { SwarmdError } from '../util/errors.js'

export interface Embedder {
  /** Length of every vector `embed` returns. */
  readonly dimensions: number

  /**
   * Embed each text. Returns one L2-normalised vector (length `dimensions`) per input, in input
   * order; the same text always gives the same vector. An empty array gives `[]`.
   */
  embed (texts: string[], options?: { signal?: AbortSignal }): Promise<Float32Array[]>
}

/**
 * Cosine similarity of two vectors of equal length, in [-1, 1]. A zero vector scores 0 with
 * everything. For the unit vectors an `Embedder` returns this equals the dot product.
 */
export function cosine (a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) {
    throw new SwarmdError('EMBEDDER_DIMENSION_MISMATCH',
      `cannot compare vectors of ${a.length} and ${b.length} dimensions: embed both with the same embedder`)
  }
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    dot += x * y
    na += x * x
    nb += y * y
  }
  if (na === 0 || nb === 0) return 0
  return dot / Math.sqrt(na * nb)
}

/** Scale `v` in place to unit L2 norm (a zero vector stays zero) and return it. */
export function l2Normalize (v: Float32Array): Float32Array {
  let sum = 0
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!
  if (sum === 0) return v
  const inv = 1 / Math.sqrt(sum)
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * inv
  return v
}
