import { randomUUID, webcrypto } from 'node:crypto'
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { SwarmdError } from '../util/errors.js'
import { isSha256Hex, sha256Hex } from '../util/hash.js'

/** A blob's address: sha256 (hex) of its bytes. */
export type BlobHash = string & { readonly __brand: 'BlobHash' }

/** Default cap on one blob: room for a train.py and a long run log, not for datasets. */
export const DEFAULT_MAX_BLOB_BYTES = 16 * 1024 * 1024

const SHA2_256 = 0x12

export function blobHashOf (bytes: Uint8Array): BlobHash {
  return sha256Hex(bytes) as BlobHash
}

/** `blobHashOf` in the thread pool: a 16 MiB blob's hash held the event loop ~50 ms. */
async function blobHashOffLoop (bytes: Uint8Array): Promise<BlobHash> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', bytes)).toString('hex') as BlobHash
}

export function parseBlobHash (value: string): BlobHash {
  if (!isSha256Hex(value)) throw new SwarmdError('BLOB_BAD_ID', `"${value}" is not a blob hash (64 lowercase hex characters)`)
  return value as BlobHash
}

/** The CID announced in the DHT for a blob: CIDv1, raw codec, sha2-256. */
export function blobCid (hash: BlobHash): CID {
  return CID.createV1(raw.code, createDigest(SHA2_256, Buffer.from(hash, 'hex')))
}

export interface BlobStoreInit {
  maxBlobBytes?: number
}

/**
 * Content-addressed files under `<dataDir>/blobs/ab/<hash>`. Reads verify the hash, so a
 * blob corrupted on disk is never served or used.
 */
export class BlobStore {
  readonly maxBlobBytes: number

  constructor (private readonly dir: string, init: BlobStoreInit = {}) {
    this.maxBlobBytes = init.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES
  }

  pathOf (hash: BlobHash): string {
    return join(this.dir, hash.slice(0, 2), hash)
  }

  async put (bytes: Uint8Array): Promise<BlobHash> {
    if (bytes.byteLength > this.maxBlobBytes) {
      throw new SwarmdError('BLOB_TOO_LARGE', `blob of ${bytes.byteLength} bytes exceeds the ${this.maxBlobBytes}-byte limit`)
    }
    const hash = blobHashOf(bytes)
    const path = this.pathOf(hash)
    if (await this.has(hash)) return hash
    await mkdir(join(this.dir, hash.slice(0, 2)), { recursive: true })
    // Unique per call: two puts of the same bytes at once (two agents, one code) must not share a temp file.
    const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`
    await writeFile(tmp, bytes)
    await rename(tmp, path)
    return hash
  }

  async has (hash: BlobHash): Promise<boolean> {
    try {
      await stat(this.pathOf(hash))
      return true
    } catch {
      return false
    }
  }

  /** The blob's bytes, verified; undefined when absent. A corrupt copy is deleted and reported. */
  async get (hash: BlobHash): Promise<Uint8Array | undefined> {
    let bytes: Buffer
    try {
      bytes = await readFile(this.pathOf(hash))
    } catch {
      return undefined
    }
    if (await blobHashOffLoop(bytes) !== hash) {
      await rm(this.pathOf(hash), { force: true })
      throw new SwarmdError('BLOB_HASH_MISMATCH', `local copy of blob ${hash} was corrupt and has been removed; fetch it again from a peer`)
    }
    return bytes
  }
}
