import { l2Normalize, type Embedder } from './embedder.js'

/** Options for {@link createHashingEmbedder}. */
export interface HashingEmbedderInit {
  /** Vector length; default 384, the same as MiniLM so the two are interchangeable. */
  dimensions?: number
}

// Stands in for a text with no words, so that every returned vector has unit norm.
const EMPTY_FEATURE = '\u0000empty'

/** 32-bit FNV-1a over the UTF-16 code units of `s`. */
function fnv1a (s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** Lowercased word unigrams and adjacent-word bigrams of `text`. */
export function hashingFeatures (text: string): string[] {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+(?:[.'][\p{L}\p{N}]+)*/gu) ?? []
  const features = [...words]
  for (let i = 0; i + 1 < words.length; i++) features.push(`${words[i]} ${words[i + 1]}`)
  return features
}

/**
 * A deterministic, dependency-free {@link Embedder} for tests and machines without the model:
 * word unigrams + bigrams hashed (signed feature hashing) into `dimensions` buckets,
 * L2-normalised. Texts that share words score high; it knows nothing of synonyms.
 */
export function createHashingEmbedder (init: HashingEmbedderInit = {}): Embedder {
  const dimensions = init.dimensions ?? 384
  const embedOne = (text: string): Float32Array => {
    const v = new Float32Array(dimensions)
    const features = hashingFeatures(text)
    if (features.length === 0) features.push(EMPTY_FEATURE)
    for (const f of features) {
      // Separate hashes for bucket and sign keep collisions from biasing cosines upwards.
      const bucket = fnv1a(f, 0) % dimensions
      const sign = (fnv1a(f, 0x9e3779b9) & 1) === 0 ? 1 : -1
      v[bucket] = v[bucket]! + sign
    }
    // Signed collisions can cancel to an all-zero vector; it must still have unit norm.
    if (v.every(x => x === 0)) v[fnv1a(EMPTY_FEATURE, 0) % dimensions] = 1
    return l2Normalize(v)
  }
  return {
    dimensions,
    async embed (texts, options = {}) {
      options.signal?.throwIfAborted()
      return texts.map(embedOne)
    }
  }
}
