import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { deadline } from '../../src/util/deadline.js'

/** A full garbage collection, even without --expose-gc. */
function collectGarbage (): void {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
}

describe('deadline', () => {
  it('fires after a garbage collection (AbortSignal.timeout inside AbortSignal.any does not on Node 20)', async () => {
    const stop = new AbortController()
    const { signal } = deadline(200, stop.signal)
    collectGarbage()
    await new Promise((resolve) => setTimeout(resolve, 400))
    collectGarbage()
    assert.equal(signal.aborted, true)
    assert.equal((signal.reason as Error).name, 'TimeoutError')
  })

  it('aborts with any signal given, says the deadline did not expire, and stops its timer on clear', async () => {
    const stop = new AbortController()
    const limit = deadline(10_000, undefined, stop.signal)
    stop.abort(new Error('stopping'))
    assert.equal(limit.signal.aborted, true)
    assert.equal(limit.expired, false)
    assert.equal((limit.signal.reason as Error).message, 'stopping')
    const cleared = deadline(50)
    cleared.clear()
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(cleared.signal.aborted, false)
  })

  it('is aborted at once by a signal that already was', () => {
    assert.equal(deadline(10_000, AbortSignal.abort()).signal.aborted, true)
  })
})
