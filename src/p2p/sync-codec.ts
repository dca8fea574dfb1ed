import { SwarmdError } from '../util/errors.js'

/**
 * Wire format of `/swarmd/<swarm>/sync/1`: length-prefixed frames, each one type byte
 * then a payload. A pull: the puller sends STATE_VECTOR; the responder answers with the
 * updates the puller lacks, each split into UPDATE_PART frames (the last one flagged),
 * then DONE. A DONE flagged `more` ends a page: the answer stopped at its size limit with more
 * to send, and the puller asks again with its new state vector.
 */
export const SyncFrameType = {
  STATE_VECTOR: 1,
  UPDATE_PART: 2,
  DONE: 3
} as const

export type SyncFrame =
  | { type: 'state-vector', stateVector: Uint8Array }
  | { type: 'update-part', last: boolean, bytes: Uint8Array }
  /** `more`: the answer stopped at its page size, not at the end of what the puller lacks. */
  | { type: 'done', more?: boolean }

/** Largest sync frame: far below the ~4 MiB where libp2p frames start to vanish. */
export const MAX_SYNC_FRAME_BYTES = 1024 * 1024
const PART_HEADER = 2

export function encodeSyncFrame (frame: SyncFrame): Uint8Array {
  switch (frame.type) {
    case 'state-vector': {
      const out = new Uint8Array(1 + frame.stateVector.byteLength)
      out[0] = SyncFrameType.STATE_VECTOR
      out.set(frame.stateVector, 1)
      return out
    }
    case 'update-part': {
      const out = new Uint8Array(PART_HEADER + frame.bytes.byteLength)
      out[0] = SyncFrameType.UPDATE_PART
      out[1] = frame.last ? 1 : 0
      out.set(frame.bytes, PART_HEADER)
      return out
    }
    case 'done':
      return frame.more === true ? Uint8Array.of(SyncFrameType.DONE, 1) : Uint8Array.of(SyncFrameType.DONE)
  }
}

function malformed (why: string): SwarmdError {
  return new SwarmdError('CODEC_MALFORMED', `sync frame: ${why}`)
}

export function decodeSyncFrame (bytes: Uint8Array): SyncFrame {
  if (bytes.byteLength === 0) throw malformed('empty')
  if (bytes.byteLength > MAX_SYNC_FRAME_BYTES) throw malformed('too large')
  switch (bytes[0]) {
    case SyncFrameType.STATE_VECTOR:
      return { type: 'state-vector', stateVector: bytes.subarray(1) }
    case SyncFrameType.UPDATE_PART: {
      if (bytes.byteLength < PART_HEADER) throw malformed('truncated update part')
      const flag = bytes[1]
      if (flag !== 0 && flag !== 1) throw malformed('bad flag')
      return { type: 'update-part', last: flag === 1, bytes: bytes.subarray(PART_HEADER) }
    }
    case SyncFrameType.DONE:
      if (bytes.byteLength === 1) return { type: 'done' }
      if (bytes.byteLength > 2 || bytes[1] !== 1) throw malformed('trailing bytes after done')
      return { type: 'done', more: true }
    default:
      throw malformed(`unknown type ${bytes[0]}`)
  }
}

/** Split an update into UPDATE_PART frames that each fit in one sync frame. */
export function chunkUpdate (update: Uint8Array, maxFrameBytes = MAX_SYNC_FRAME_BYTES): SyncFrame[] {
  const room = maxFrameBytes - PART_HEADER
  const frames: SyncFrame[] = []
  for (let at = 0; at < update.byteLength || frames.length === 0; at += room) {
    const end = Math.min(update.byteLength, at + room)
    frames.push({ type: 'update-part', last: end === update.byteLength, bytes: update.subarray(at, end) })
  }
  return frames
}

/** Reassembles UPDATE_PART frames into whole updates, refusing anything over `maxUpdateBytes`. */
export class UpdateAssembler {
  private parts: Uint8Array[] = []
  private size = 0

  constructor (private readonly maxUpdateBytes: number) {}

  /** Add a part; returns the whole update when `last` completes one. */
  push (part: { last: boolean, bytes: Uint8Array }): Uint8Array | undefined {
    this.size += part.bytes.byteLength
    if (this.size > this.maxUpdateBytes) throw malformed(`update exceeds ${this.maxUpdateBytes} bytes`)
    this.parts.push(part.bytes.slice())
    if (!part.last) return undefined
    const whole = new Uint8Array(this.size)
    let at = 0
    for (const p of this.parts) { whole.set(p, at); at += p.byteLength }
    this.parts = []
    this.size = 0
    return whole
  }

  get midUpdate (): boolean { return this.parts.length > 0 }
}
