import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { findDuplicate } from '../../src/claims/dedup.js'
import type { DedupEntry } from '../../src/claims/dedup.js'

const h = (n: number): string => n.toString(16).padStart(64, '0')
const entry = (over: Partial<DedupEntry>): DedupEntry => ({ kind: 'claim', id: h(1), author: 'peerA', description: 'd', codeHash: h(100), parent: h(7), delta: [{ name: 'LEARNING_RATE', from: 0.01, to: 0.02 }], ...over })

describe('exact and structured dedup', () => {
  it('exact: the same train.py hash, claimed or finished, whatever the description', () => {
    const hit = findDuplicate({ codeHash: h(100), parent: null, delta: [] }, [entry({ kind: 'result' })])
    assert.equal(hit?.layer, 'exact')
    assert.equal(hit?.conflict.kind, 'result')
  })

  it('structured: the same constants to the same values on the same parent, in any order', () => {
    const known = [entry({ delta: [{ name: 'WIDTH', from: 64, to: 96 }, { name: 'DEPTH', from: 2, to: 3 }] })]
    const hit = findDuplicate({ codeHash: h(200), parent: h(7), delta: [{ name: 'DEPTH', from: 2, to: 3 }, { name: 'WIDTH', from: 64, to: 96 }] }, known)
    assert.equal(hit?.layer, 'structured')
  })

  it('misses: another value, another parent, another knob, or no change at all', () => {
    const known = [entry({})]
    assert.equal(findDuplicate({ codeHash: h(201), parent: h(7), delta: [{ name: 'LEARNING_RATE', from: 0.01, to: 0.03 }] }, known), undefined)
    assert.equal(findDuplicate({ codeHash: h(202), parent: h(8), delta: [{ name: 'LEARNING_RATE', from: 0.01, to: 0.02 }] }, known), undefined)
    assert.equal(findDuplicate({ codeHash: h(203), parent: h(7), delta: [{ name: 'BETA2', from: 0.99, to: 0.02 }] }, known), undefined)
    assert.equal(findDuplicate({ codeHash: h(204), parent: h(7), delta: [] }, [entry({ delta: [] })]), undefined)
  })
})
