import type { Embedder } from '../../src/embedding/embedder.js'

/**
 * An embedder whose similarities the test chooses: each listed text is a unit vector at the given
 * cosine to an anchor text; every other text (a swapped term the guards embed) is one vector of
 * its own kind, so two unknown texts compare as synonyms (cosine 1). For the grey band's edges,
 * which real MiniLM cannot be steered to.
 */
export function fixedSimilarityEmbedder (anchor: string, cosines: Record<string, number>): Embedder {
  const vector = (cos: number): Float32Array => Float32Array.from([cos, Math.sqrt(1 - cos * cos), 0])
  return {
    dimensions: 3,
    embed: async (texts) => texts.map((t) => {
      if (t === anchor) return vector(1)
      const cos = cosines[t]
      return cos !== undefined ? vector(cos) : Float32Array.from([0, 0, 1])
    })
  }
}
