import { SwarmdError } from '../util/errors.js'
import { parseBlobHash } from './blob-store.js'
import type { BlobHash } from './blob-store.js'

/**
 * Wire format of `/swarmd/blob/1` (length-prefixed frames). Request: the blob hash as 64
 * ASCII hex bytes. Response: a header frame (status byte, then the size as a big-endian
 * uint32 when found), then data frames until `size` bytes have arrived.
 */
export const BlobStatus = { FOUND: 0, NOT_FOUND: 1 } as const

export type BlobHeader = { status: 'found', size: number } | { status: 'not-found' }

/** Data frames stay well under the ~4 MiB where libp2p frames vanish. */
export const BLOB_DATA_FRAME_BYTES = 256 * 1024

function malformed (why: string): SwarmdError {
  return new SwarmdError('CODEC_MALFORMED', `blob frame: ${why}`)
}

export function encodeBlobRequest (hash: BlobHash): Uint8Array {
  return new TextEncoder().encode(hash)
}

export function decodeBlobRequest (bytes: Uint8Array): BlobHash {
  if (bytes.byteLength !== 64) throw malformed('request must be 64 hex characters')
  try {
    return parseBlobHash(new TextDecoder().decode(bytes))
  } catch {
    throw malformed('request is not a blob hash')
  }
}

export function encodeBlobHeader (header: BlobHeader): Uint8Array {
  if (header.status === 'not-found') return Uint8Array.of(BlobStatus.NOT_FOUND)
  const out = new Uint8Array(5)
  out[0] = BlobStatus.FOUND
  new DataView(out.buffer).setUint32(1, header.size)
  return out
}

export function decodeBlobHeader (bytes: Uint8Array): BlobHeader {
  if (bytes.byteLength === 1 && bytes[0] === BlobStatus.NOT_FOUND) return { status: 'not-found' }
  if (bytes.byteLength === 5 && bytes[0] === BlobStatus.FOUND) {
    return { status: 'found', size: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1) }
  }
  throw malformed('bad header')
}
