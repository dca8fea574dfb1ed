import { createHash } from 'node:crypto'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/** Bytes of a client's fingerprint: enough that a divergence goes unnoticed with odds of 2^-64. */
const FINGERPRINT_BYTES = 8

/**
 * What a replica holds, as it asks a peer for the rest: the Yjs state vector (client → next clock),
 * then, per client, a fingerprint of the records in its slots. Two replicas may hold the same
 * clocks and different records (an author showed each a different record for one slot); the
 * fingerprints let the server notice and send that client's records again, so the receiver sees
 * both sides of the lie (src/state/equivocation.ts). A bare state vector (no fingerprints) is a
 * valid request too.
 */
export interface SyncRequest {
  clocks: Map<number, number>
  fingerprints: Map<number, Uint8Array>
}

/** `fingerprintOf` may leave a client out (one this replica refuses: nothing to compare). */
export function encodeSyncRequest (clocks: Map<number, number>, fingerprintOf: (client: number) => Uint8Array | undefined): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, clocks.size)
  for (const [client, clock] of clocks) {
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, clock)
  }
  const prints: Array<[number, Uint8Array]> = []
  for (const client of clocks.keys()) {
    const print = fingerprintOf(client)
    if (print !== undefined) prints.push([client, print])
  }
  encoding.writeVarUint(encoder, prints.length)
  for (const [client, print] of prints) {
    encoding.writeVarUint(encoder, client)
    encoding.writeUint8Array(encoder, print)
  }
  return encoding.toUint8Array(encoder)
}

/** Throws on bytes that do not decode (the caller answers a peer's bad request with a strike). */
export function decodeSyncRequest (bytes: Uint8Array): SyncRequest {
  const decoder = decoding.createDecoder(bytes)
  const clocks = new Map<number, number>()
  const fingerprints = new Map<number, Uint8Array>()
  const count = decoding.readVarUint(decoder)
  for (let i = 0; i < count; i++) clocks.set(decoding.readVarUint(decoder), decoding.readVarUint(decoder))
  if (decoding.hasContent(decoder)) {
    const withPrints = decoding.readVarUint(decoder)
    for (let i = 0; i < withPrints; i++) {
      const client = decoding.readVarUint(decoder)
      if (decoder.pos + FINGERPRINT_BYTES > decoder.arr.length) throw new RangeError('truncated sync request')
      fingerprints.set(client, decoding.readUint8Array(decoder, FINGERPRINT_BYTES))
    }
  }
  if (decoding.hasContent(decoder)) throw new RangeError('trailing bytes in a sync request')
  return { clocks, fingerprints }
}

/**
 * Per client, a running hash of its records' texts in clock order, extended as the client grows
 * (each record is hashed once).
 */
export class SlotFingerprints {
  private readonly chains = new Map<number, { clock: number, hash: Buffer }>()

  constructor (private readonly textAt: (client: number, clock: number) => string | undefined) {}

  /** The fingerprint of `client`'s records below clock `state`. */
  of (client: number, state: number): Uint8Array {
    let chain = this.chains.get(client)
    if (chain === undefined || chain.clock > state) chain = { clock: 0, hash: Buffer.alloc(32) }
    while (chain.clock < state) {
      const text: string = this.textAt(client, chain.clock) ?? ''
      chain = { clock: chain.clock + 1, hash: createHash('sha256').update(chain.hash).update(text).digest() }
    }
    this.chains.set(client, chain)
    return chain.hash.subarray(0, FINGERPRINT_BYTES)
  }
}
