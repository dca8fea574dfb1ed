import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeBlobHeader, decodeBlobRequest, encodeBlobHeader, encodeBlobRequest } from '../../src/p2p/blob-codec.js'
import { blobHashOf } from '../../src/p2p/blob-store.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { seededRng } from '../../src/util/rng.js'

describe('blob codec /swarmd/blob/1', () => {
  it('round-trips requests and headers', () => {
    const hash = blobHashOf(Uint8Array.of(1, 2, 3))
    assert.equal(decodeBlobRequest(encodeBlobRequest(hash)), hash)
    assert.deepEqual(decodeBlobHeader(encodeBlobHeader({ status: 'found', size: 123456 })), { status: 'found', size: 123456 })
    assert.deepEqual(decodeBlobHeader(encodeBlobHeader({ status: 'not-found' })), { status: 'not-found' })
  })

  it('throws a typed error on garbage (seeded fuzz; seed printed on failure)', () => {
    const seed = 7
    const rng = seededRng(seed)
    for (let i = 0; i < 3000; i++) {
      const bytes = new Uint8Array(rng.int(70)).map(() => rng.int(256))
      for (const decode of [decodeBlobRequest, decodeBlobHeader] as Array<(b: Uint8Array) => unknown>) {
        try {
          decode(bytes)
        } catch (err) {
          assert.ok(isSwarmdError(err, 'CODEC_MALFORMED'), `seed ${seed} case ${i}: ${String(err)}`)
        }
      }
    }
    assert.throws(() => decodeBlobRequest(new TextEncoder().encode('Z'.repeat(64))), (err: unknown) => isSwarmdError(err, 'CODEC_MALFORMED'))
    assert.throws(() => decodeBlobHeader(Uint8Array.of(0, 1)), (err: unknown) => isSwarmdError(err, 'CODEC_MALFORMED'))
  })
})
