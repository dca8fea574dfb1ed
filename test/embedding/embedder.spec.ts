import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cosine } from '../../src/embedding/embedder.js'
import { STADIUM, SUNNY, WEATHER, maxAbsDiff, runEmbedderTests } from '../../src/embedding/embedder-conformance.js'
import { LazyEmbedder } from '../../src/embedding/lazy-embedder.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { createHashingEmbedder } from '../../src/embedding/hashing-embedder.js'
import { createMiniLmEmbedder, type MiniLmEmbedder } from '../../src/embedding/minilm-onnx.js'
import { createWorkerEmbedder } from '../../src/embedding/worker-embedder.js'

describe('MiniLM ONNX embedder', () => {
  let cacheDir: string
  let embedder: MiniLmEmbedder
  const logged: string[] = []

  before(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'swarmd-embedder-'))
    embedder = await createMiniLmEmbedder({ cacheDir, log: line => logged.push(line) })
  })

  after(async () => {
    await embedder?.close()
    if (cacheDir !== undefined) await rm(cacheDir, { recursive: true, force: true })
  })

  it('builds the ONNX file once, logging progress, and reuses the cache', async () => {
    assert.ok(logged.some(line => line.includes('building')), logged.join('\n'))
    const again: string[] = []
    const second = await createMiniLmEmbedder({ cacheDir, log: line => again.push(line) })
    try {
      assert.equal(second.modelPath, embedder.modelPath)
      assert.deepEqual(again, [])
    } finally {
      await second.close()
    }
  })

  it('matches the sentence-transformers quick-start cosines', async () => {
    const [weather, sunny, stadium] = await embedder.embed([WEATHER, SUNNY, STADIUM])
    const expect = (actual: number, expected: number): void => {
      assert.ok(Math.abs(actual - expected) <= 0.001, `cosine ${actual.toFixed(4)}, expected ${expected}`)
    }
    expect(cosine(weather!, sunny!), 0.6660)
    expect(cosine(weather!, stadium!), 0.1046)
    expect(cosine(sunny!, stadium!), 0.1411)
  })

  it('truncates texts beyond 128 tokens instead of failing', async () => {
    const long = 'learning rate '.repeat(200)
    const [a, b] = await embedder.embed([long, long + ' and then something else entirely'])
    assert.equal(a!.length, 384)
    assert.deepEqual(a, b)
  })

  runEmbedderTests('MiniLM ONNX', () => embedder)
})

describe('MiniLM in a worker thread', () => {
  let cacheDir: string
  let embedder: MiniLmEmbedder

  before(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'swarmd-embedder-worker-'))
    embedder = await createWorkerEmbedder({ cacheDir })
  })

  after(async () => {
    await embedder?.close()
    if (cacheDir !== undefined) await rm(cacheDir, { recursive: true, force: true })
  })

  it('gives the same vectors as the in-thread embedder', async () => {
    const inThread = await createMiniLmEmbedder({ cacheDir })
    try {
      const texts = [WEATHER, SUNNY, STADIUM]
      const [a, b] = [await embedder.embed(texts), await inThread.embed(texts)]
      for (const i of texts.keys()) assert.ok(maxAbsDiff(a[i]!, b[i]!) < 1e-6)
    } finally {
      await inThread.close()
    }
  })

  it('leaves the calling thread free while it embeds', async () => {
    const texts = Array.from({ length: 96 }, (_, i) => `raise the learning rate to 0.0${i} and warm up for ${i} steps`)
    let ticks = 0
    let longestGap = 0
    let last = performance.now()
    const timer = setInterval(() => {
      const now = performance.now()
      longestGap = Math.max(longestGap, now - last)
      last = now
      ticks++
    }, 2)
    const started = performance.now()
    await embedder.embed(texts)
    const took = performance.now() - started
    clearInterval(timer)
    // In-thread, 96 texts block the loop for three ~300 ms stretches; here timers keep firing.
    assert.ok(ticks >= took / 50, `${ticks} ticks in ${took.toFixed(0)} ms`)
    assert.ok(longestGap < Math.max(100, took / 6), `the loop stalled for ${longestGap.toFixed(0)} ms of ${took.toFixed(0)} ms`)
  })

  it('closes while it embeds: the work asked for before is answered, the process lives on (terminating it in native code aborted the process)', async () => {
    const third = await createWorkerEmbedder({ cacheDir })
    const texts = Array.from({ length: 64 }, (_, i) => `halve the weight decay and try warmup of ${i} steps`)
    const busy = third.embed(texts)
    await new Promise((resolve) => setTimeout(resolve, 20))
    await third.close()
    assert.equal((await busy).length, texts.length)
    await assert.rejects(third.embed([WEATHER]), (err: unknown) => isSwarmdError(err, 'EMBEDDER_MODEL_UNAVAILABLE'))
  })

  it('refuses work after close with EMBEDDER_MODEL_UNAVAILABLE', async () => {
    const second = await createWorkerEmbedder({ cacheDir })
    await second.close()
    await assert.rejects(second.embed([WEATHER]), (err: unknown) => isSwarmdError(err, 'EMBEDDER_MODEL_UNAVAILABLE'))
  })

  runEmbedderTests('MiniLM worker', () => embedder)
})

describe('the daemon\'s embedder: MiniLM in a worker, loaded on first use', () => {
  let cacheDir: string
  let embedder: LazyEmbedder

  before(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'swarmd-embedder-lazy-'))
    // As the daemon builds it (src/daemon/daemon.ts).
    embedder = new LazyEmbedder(384, async () => await createWorkerEmbedder({ cacheDir }))
  })

  after(async () => {
    await embedder?.close()
    if (cacheDir !== undefined) await rm(cacheDir, { recursive: true, force: true })
  })

  it('loads no model until it is asked for a vector', () => {
    assert.equal(embedder.loaded, false)
  })

  runEmbedderTests('LazyEmbedder over the worker', () => embedder)
})

runEmbedderTests('hashing', () => createHashingEmbedder())

describe('cosine', () => {
  it('is 1 for parallel, 0 for orthogonal or zero, -1 for opposite vectors', () => {
    const x = new Float32Array([3, 4])
    assert.ok(Math.abs(cosine(x, new Float32Array([6, 8])) - 1) < 1e-12)
    assert.equal(cosine(x, new Float32Array([-4, 3])), 0)
    assert.equal(cosine(x, new Float32Array(2)), 0)
    assert.ok(Math.abs(cosine(x, new Float32Array([-3, -4])) + 1) < 1e-12)
  })

  it('refuses vectors of different lengths with EMBEDDER_DIMENSION_MISMATCH', () => {
    assert.throws(() => cosine(new Float32Array(384), new Float32Array(256)),
      (err: unknown) => isSwarmdError(err, 'EMBEDDER_DIMENSION_MISMATCH'))
  })
})
