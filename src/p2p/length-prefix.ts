import { lpStream } from '@libp2p/utils'
import { SwarmdError, isSwarmdError } from '../util/errors.js'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'

/** Bytes of an unsigned varint that encodes `value`. */
function varintLength (value: number): number {
  let bytes = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    bytes++
  }
  return bytes
}

/**
 * A varint length decoder that gives up once the prefix is longer than `maxDataLength` needs.
 * @libp2p/utils' `lpStream` reads a prefix one byte at a time and treats every decode failure
 * as "need more bytes", and its `maxLengthLength` check only runs after a successful decode:
 * a peer that sends 0xFF bytes forever keeps the reader spinning (measured: ~1.2 s of event
 * loop per stream). Throwing a non-RangeError makes the read fail at the first byte too many.
 */
export function boundedLengthDecoder (maxDataLength: number): (data: { byteLength: number, get(index: number): number }) => number {
  const maxLengthLength = varintLength(maxDataLength)
  return (data) => {
    let value = 0
    let scale = 1
    for (let i = 0; i < data.byteLength; i++) {
      // [REJECT] a length prefix longer than the largest frame we accept can need
      if (i >= maxLengthLength) throw new SwarmdError('CODEC_MALFORMED', `length prefix longer than ${maxLengthLength} bytes; frames here are at most ${maxDataLength} bytes`)
      const byte = data.get(i)
      value += (byte & 0x7f) * scale
      if (byte < 0x80) return value
      scale *= 0x80
    }
    // Not a failure yet: lpStream reads another byte on a RangeError.
    throw new RangeError('length prefix incomplete')
  }
}

/** `lpStream` for peer input: frames of at most `maxDataLength` bytes, prefixes of bounded length. */
export function boundedLpStream<T extends Stream> (stream: T, maxDataLength: number): LengthPrefixedStream<T> {
  return lpStream(stream, { maxDataLength, lengthDecoder: boundedLengthDecoder(maxDataLength) })
}

/** Errors of `lpStream` that a peer's bytes prove (a bad length, an oversize frame), beside our own CODEC_MALFORMED. */
const MALFORMED_FRAME_ERRORS = new Set(['InvalidMessageLengthError', 'InvalidDataLengthError', 'InvalidDataLengthLengthError'])

/**
 * Whether reading or decoding a frame failed on the peer's bytes, and not because the stream ended,
 * was reset or timed out: those prove nothing (its process was killed, the link broke).
 */
export function isMalformedFrame (err: unknown): boolean {
  return isSwarmdError(err, 'CODEC_MALFORMED') || (err instanceof Error && MALFORMED_FRAME_ERRORS.has(err.name))
}
