import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { BlobStore, blobCid, blobHashOf, parseBlobHash } from '../../src/p2p/blob-store.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { tempDir } from '../helpers/in-process-daemon.js'

describe('BlobStore', () => {
  it('addresses a blob by the sha256 of its bytes', async () => {
    const dir = await tempDir()
    try {
      const store = new BlobStore(dir)
      const bytes = new TextEncoder().encode('print("hello")\n')
      const hash = await store.put(bytes)
      assert.equal(hash, createHash('sha256').update(bytes).digest('hex'))
      assert.equal(hash, blobHashOf(bytes))
      assert.deepEqual(new Uint8Array((await store.get(hash))!), bytes)
      assert.deepEqual(new Uint8Array(await readFile(store.pathOf(hash))), bytes)
      assert.equal(await store.put(bytes), hash, 'storing twice is idempotent')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('announces a CIDv1 (raw, sha2-256) whose digest is the blob hash', () => {
    const hash = blobHashOf(Uint8Array.of(42))
    const cid = blobCid(hash)
    assert.equal(cid.version, 1)
    assert.equal(cid.code, 0x55)
    assert.equal(Buffer.from(cid.multihash.digest).toString('hex'), hash)
  })

  it('never returns a corrupted copy: detects it, removes it, says to fetch again', async () => {
    const dir = await tempDir()
    try {
      const store = new BlobStore(dir)
      const hash = await store.put(Uint8Array.of(1, 2, 3))
      await writeFile(store.pathOf(hash), Uint8Array.of(1, 2, 4))
      await assert.rejects(store.get(hash), (err: unknown) => isSwarmdError(err, 'BLOB_HASH_MISMATCH'))
      assert.equal(await store.has(hash), false)
      assert.equal(await store.get(hash), undefined)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses blobs over the size cap and malformed hashes', async () => {
    const dir = await tempDir()
    try {
      const store = new BlobStore(dir, { maxBlobBytes: 10 })
      await assert.rejects(store.put(new Uint8Array(11)), (err: unknown) => isSwarmdError(err, 'BLOB_TOO_LARGE'))
      assert.throws(() => parseBlobHash('../../etc/passwd'), (err: unknown) => isSwarmdError(err, 'BLOB_BAD_ID'))
      assert.throws(() => parseBlobHash('A'.repeat(64)), (err: unknown) => isSwarmdError(err, 'BLOB_BAD_ID'))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
