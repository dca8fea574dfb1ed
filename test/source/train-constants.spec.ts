import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { applyDelta, diffConstants, parseConstants } from '../../src/source/train-constants.js'
import { HARNESS_DIR } from '../helpers/python.js'

describe('train.py module-level constants', () => {
  it('finds the hyperparameters of the shipped train.py', async () => {
    const source = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    const names = parseConstants(source).map((c) => c.name)
    for (const name of ['DEPTH', 'WIDTH', 'LEARNING_RATE', 'BATCH_SIZE', 'SEED']) assert.ok(names.includes(name), name)
    assert.ok(!names.includes('ON_GPU'), 'computed values are not constants')
    const lr = parseConstants(source).find((c) => c.name === 'LEARNING_RATE')!
    assert.equal(lr.kind, 'float')
  })

  it('rewrites only the named constants, keeping comments, and diffs back to the same delta', () => {
    const source = 'import torch\nDEPTH = 2  # blocks\nLR = 0.01\nNAME = "adamw"\nUSE = True\n    DEPTH = 9\n'
    const delta = [{ name: 'DEPTH', from: 2, to: 3 }, { name: 'LR', from: 0.01, to: 0.02 }, { name: 'NAME', from: 'adamw', to: 'sgd' }, { name: 'USE', from: true, to: false }]
    const edited = applyDelta(source, delta)
    assert.equal(edited, 'import torch\nDEPTH = 3  # blocks\nLR = 0.02\nNAME = "sgd"\nUSE = False\n    DEPTH = 9\n')
    assert.deepEqual(diffConstants(source, edited), delta)
    assert.throws(() => applyDelta(source, [{ name: 'MISSING', from: 1, to: 2 }]), /MISSING/)
  })
})
