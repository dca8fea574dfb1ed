import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMiniLmEmbedder } from '../../src/embedding/minilm-onnx.js'
import { SemanticDedup, canonicalNumbers, expandDescription, numbersIn, targetValues } from '../../src/claims/semantic.js'
import type { MiniLmEmbedder } from '../../src/embedding/minilm-onnx.js'

describe('semantic dedup: expansion and numbers', () => {
  it('spells out shorthand and constant names', () => {
    assert.equal(expandDescription('LR 0.04 -> 0.06'), 'learning rate 0.04 to 0.06')
    assert.equal(expandDescription('WARMUP_STEPS = 200'), 'warmup steps to 200')
    assert.equal(expandDescription('use 2x BS'), 'use double batch size')
  })
  it('reads the values a description sets, not the ones it moves away from, in any order', () => {
    assert.deepEqual(targetValues(expandDescription('LR 0.04 -> 0.06')), [0.06])
    assert.deepEqual(targetValues(expandDescription('clip at 0.5 instead of 1.0')), [0.5])
    assert.deepEqual(targetValues(expandDescription('raise depth from 2 to 4 and width from 64 to 96')), [4, 96])
    assert.deepEqual(targetValues(expandDescription('width 96, depth 4')), [4, 96])
    assert.equal(expandDescription('MLP_RATIO = 2'), 'feed forward ratio to 2')
  })
  it('normalises numbers: exponents, percentages, multipliers', () => {
    assert.deepEqual(numbersIn(expandDescription('lr 1e-3')), [0.001])
    assert.deepEqual(numbersIn('decay to 10% of peak'), [0.1])
    assert.deepEqual(numbersIn('end at 0.1x'), [0.1])
  })
  it('writes one value one way however it is written: powers, k/M/B counts, percent spelt out, trailing zeros', () => {
    assert.equal(canonicalNumbers('batch of 2**16 tokens'), 'batch of 65536 tokens')
    assert.equal(canonicalNumbers('batch of 2^16 tokens'), 'batch of 65536 tokens')
    assert.equal(canonicalNumbers('train 250k steps, 3.5m params, 1b tokens'), 'train 250000 steps, 3500000 params, 1000000000 tokens')
    assert.equal(canonicalNumbers('dropout 10 percent'), 'dropout 10%')
    assert.equal(canonicalNumbers('wd 0.0500 or 5e-2'), 'wd 0.05 or 0.05')
    // Digits inside names are not numbers.
    assert.equal(canonicalNumbers('adam beta2 and gpt2 style, layer3'), 'adam beta2 and gpt2 style, layer3')
    assert.deepEqual(targetValues(expandDescription('grad accumulation to 2**3')), [8])
  })
})

// Pairs written for this test, not taken from the benchmark sample: the rule must generalise.
describe('semantic dedup with the real MiniLM model', () => {
  let embedder: MiniLmEmbedder
  let dedup: SemanticDedup
  const cacheDir = join(tmpdir(), `swarmd-semantic-test-${process.pid}`)
  before(async () => {
    embedder = await createMiniLmEmbedder({ cacheDir })
    dedup = new SemanticDedup(embedder)
  })
  after(async () => {
    await embedder.close()
    await rm(cacheDir, { recursive: true, force: true })
  })

  it('merges the same experiment in other words', async () => {
    for (const [a, b] of [
      ['raise the LR to 0.05', 'increase learning rate to 0.05'],
      ['set WEIGHT_DECAY = 0.01', 'weight decay 0.01'],
      ['use 8 attention heads', 'n_head 4 -> 8']
    ] as const) {
      const v = await dedup.compare(a, b)
      assert.equal(v.duplicate, true, `${a} | ${b}: ${JSON.stringify(v)}`)
    }
  })

  it('merges one value written two ways, and keeps two values apart however they are written', async () => {
    for (const [a, b] of [
      ['batch of 2**17 tokens per step', 'use a batch of 131072 tokens per step'],
      ['train for 20k steps', 'train for 20000 steps'],
      ['weight decay 1e-2', 'set weight decay to 0.01']
    ] as const) {
      const v = await dedup.compare(a, b)
      assert.equal(v.duplicate, true, `${a} | ${b}: ${JSON.stringify(v)}`)
    }
    for (const [a, b] of [['batch of 2**17 tokens per step', 'batch of 2**18 tokens per step'], ['train for 20k steps', 'train for 30000 steps']] as const) {
      assert.equal((await dedup.compare(a, b)).duplicate, false, `${a} | ${b}`)
    }
  })

  it('keeps taking a thing out apart from setting it to a value', async () => {
    for (const [a, b] of [['disable weight decay', 'weight decay 0.05'], ['no gradient clipping', 'clip gradients to 2.0']] as const) {
      const v = await dedup.compare(a, b)
      assert.equal(v.duplicate, false, `${a} | ${b}: ${JSON.stringify(v)}`)
    }
  })

  it('compares every value of a description that names two changes', async () => {
    assert.equal((await dedup.compare('width 96 and 4 layers', 'go to 4 layers and a width of 96')).duplicate, true)
    for (const other of ['go to 4 layers and a width of 128', 'use 4 layers']) {
      const apart = await dedup.compare('width 96 and 4 layers', other)
      assert.equal(apart.duplicate, false, other)
      if (apart.score >= 0.6) assert.equal(apart.guard, 'numbers', other)
    }
  })

  it('keeps apart what the embedding alone would merge: values, direction, a swapped term', async () => {
    const cases: Array<[string, string, string]> = [
      ['LR 0.04 -> 0.06', 'LR 0.04 -> 0.08', 'numbers'],
      ['double the learning rate', 'halve the learning rate', 'direction'],
      ['increase beta1 to 0.95', 'increase beta2 to 0.95', 'swapped-term'],
      ['use pre-norm residual blocks', 'use post-norm residual blocks', 'swapped-term']
    ]
    for (const [a, b, guard] of cases) {
      const v = await dedup.compare(a, b)
      assert.equal(v.duplicate, false, `${a} | ${b}: ${JSON.stringify(v)}`)
      if (v.score >= 0.7) assert.equal(v.guard, guard, `${a} | ${b}`)
    }
  })

  it('a side whose words give no value is held to the values its code sets', async () => {
    const words = 'double the learning rate'
    const other = 'raise the learning rate to 0.002'
    const apart = await dedup.compare(other, words, { b: [0.02] })
    assert.equal(apart.duplicate, false, JSON.stringify(apart))
    assert.equal(apart.guard, 'numbers')
    assert.equal((await dedup.compare(other, words, { b: [0.002] })).duplicate, true)
  })

  it('accepts a lower cosine when both name the same value, but not for different knobs with that value', async () => {
    for (const [a, b] of [['clip gradients at 0.5 instead of 1.0', 'GRAD_CLIP 1.0 -> 0.5'], ['less momentum: beta1 = 0.8', 'set the first Adam beta to 0.8']] as const) {
      const v = await dedup.compare(a, b)
      assert.equal(v.duplicate, true, `${a} | ${b}: ${JSON.stringify(v)}`)
    }
    for (const [a, b] of [
      ['add dropout 0.1', 'add weight decay 0.1'], ['context length 256', 'batch size 256'], ['z-loss 1e-4', 'weight decay 1e-4'],
      ['residual dropout 0.1', 'embedding dropout 0.1'], ['label smoothing 0.1', 'dropout 0.1']
    ] as const) {
      const v = await dedup.compare(a, b)
      assert.equal(v.duplicate, false, `${a} | ${b}: ${JSON.stringify(v)}`)
    }
  })

  it('does not merge unrelated changes', async () => {
    const v = await dedup.compare('add dropout 0.1 to attention', 'train with a longer context of 1024 tokens')
    assert.equal(v.duplicate, false)
    assert.ok(v.score < 0.7)
  })
})
