import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { backoffDelay } from '../../src/util/backoff.js'

describe('backoffDelay', () => {
  it('doubles the ceiling per attempt up to the maximum, with full jitter', () => {
    assert.equal(backoffDelay(0, 1, 1000, 60_000), 1000)
    assert.equal(backoffDelay(3, 1, 1000, 60_000), 8000)
    assert.equal(backoffDelay(20, 1, 1000, 60_000), 60_000)
    assert.equal(backoffDelay(5, 0, 1000, 60_000), 0)
    assert.equal(backoffDelay(2, 0.5, 1000, 60_000), 2000)
  })
})
