import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_SYNC_FRAME_BYTES, UpdateAssembler, chunkUpdate, decodeSyncFrame, encodeSyncFrame } from '../../src/p2p/sync-codec.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { seededRng } from '../../src/util/rng.js'
import type { SyncFrame } from '../../src/p2p/sync-codec.js'

describe('sync codec /swarmd/<swarm>/sync/1', () => {
  it('round-trips every frame type', () => {
    const frames: SyncFrame[] = [
      { type: 'state-vector', stateVector: Uint8Array.of(1, 2, 3) },
      { type: 'update-part', last: true, bytes: Uint8Array.of(9, 8) },
      { type: 'update-part', last: false, bytes: new Uint8Array(0) },
      { type: 'done' },
      { type: 'done', more: true }
    ]
    for (const frame of frames) assert.deepEqual(decodeSyncFrame(encodeSyncFrame(frame)), frame)
  })

  it('writes a last page\'s done as one byte, and refuses any other flag or trailing byte after done', () => {
    assert.deepEqual(encodeSyncFrame({ type: 'done', more: false }), Uint8Array.of(3))
    for (const bad of [Uint8Array.of(3, 0), Uint8Array.of(3, 2), Uint8Array.of(3, 1, 0)]) {
      assert.throws(() => decodeSyncFrame(bad), (err: unknown) => isSwarmdError(err, 'CODEC_MALFORMED'), `done ${bad.join(',')}`)
    }
  })

  it('chunks a large update into frames under the limit and reassembles it exactly', () => {
    const update = new Uint8Array(3 * MAX_SYNC_FRAME_BYTES + 17).map((_, i) => i % 251)
    const parts = chunkUpdate(update)
    assert.equal(parts.length, 4)
    const assembler = new UpdateAssembler(10 * MAX_SYNC_FRAME_BYTES)
    let whole: Uint8Array | undefined
    for (const part of parts) {
      const bytes = encodeSyncFrame(part)
      assert.ok(bytes.byteLength <= MAX_SYNC_FRAME_BYTES)
      const decoded = decodeSyncFrame(bytes)
      assert.equal(decoded.type, 'update-part')
      if (decoded.type === 'update-part') whole = assembler.push(decoded) ?? whole
    }
    assert.deepEqual(whole, update)
  })

  it('refuses a reassembled update over the cap', () => {
    const assembler = new UpdateAssembler(1000)
    assert.throws(() => { for (const p of chunkUpdate(new Uint8Array(5000), 600)) if (p.type === 'update-part') assembler.push(p) },
      (err: unknown) => isSwarmdError(err, 'CODEC_MALFORMED'))
  })

  it('throws a typed error, never crashes, on garbage (seeded fuzz; seed printed on failure)', () => {
    const seed = 20261126
    const rng = seededRng(seed)
    let accepted = 0
    for (let i = 0; i < 5000; i++) {
      const bytes = new Uint8Array(rng.int(40)).map(() => rng.int(256))
      try {
        const frame = decodeSyncFrame(bytes)
        accepted++
        assert.deepEqual(decodeSyncFrame(encodeSyncFrame(frame)), frame, `seed ${seed} case ${i}`)
      } catch (err) {
        assert.ok(isSwarmdError(err, 'CODEC_MALFORMED'), `seed ${seed} case ${i}: ${String(err)}`)
      }
    }
    assert.ok(accepted > 0 && accepted < 5000)
    assert.throws(() => decodeSyncFrame(new Uint8Array(0)), (err: unknown) => isSwarmdError(err, 'CODEC_MALFORMED'))
    assert.throws(() => decodeSyncFrame(Uint8Array.of(3, 0)), (err: unknown) => isSwarmdError(err, 'CODEC_MALFORMED'))
    assert.throws(() => decodeSyncFrame(Uint8Array.of(2, 7)), (err: unknown) => isSwarmdError(err, 'CODEC_MALFORMED'))
    assert.throws(() => decodeSyncFrame(new Uint8Array(MAX_SYNC_FRAME_BYTES + 1).fill(1)), (err: unknown) => isSwarmdError(err, 'CODEC_MALFORMED'))
  })
})
