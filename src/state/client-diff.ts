import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'

/**
 * Largest part of one client's range, estimated from its records' texts. Under the smallest sync
 * byte budget (1 MiB), far under the largest update a receiver takes (64 MiB), and above the
 * largest record (evidence, 268 KiB): every part holds at least one record.
 */
export const CLIENT_DIFF_PART_BYTES = 512 * 1024

/**
 * One client's structs from `from` on, as Yjs v1 updates (what `Y.encodeStateAsUpdate` writes for
 * that client alone, with an empty delete set) of about `partBytes` at most each, in clock order:
 * each part starts where the one before ended, so a receiver applies them in turn. Nothing when
 * the client has nothing past `from`.
 *
 * Costs what it writes: encoding it through `encodeStateAsUpdate` walks every client of the doc,
 * and a sync answer of one update per client then grows with the square of the clients (6,000
 * clients: 19.6 s for one newcomer's request). And a client's whole range as one update could
 * outgrow what any receiver takes, so it is split.
 */
export function * clientDiffParts (client: number, structs: ReadonlyArray<Y.Item | Y.GC>, from: number, partBytes = CLIENT_DIFF_PART_BYTES): Generator<Uint8Array> {
  const last = structs[structs.length - 1]
  if (last === undefined || last.id.clock + last.length <= from) return
  let start = indexOfClock(structs, Math.max(from, structs[0]!.id.clock))
  let clock = Math.max(from, structs[0]!.id.clock)
  while (start < structs.length) {
    let end = start + 1
    let bytes = estimate(structs[start]!)
    while (end < structs.length && bytes + estimate(structs[end]!) <= partBytes) bytes += estimate(structs[end++]!)
    yield encodePart(client, structs, start, end, clock)
    start = end
    clock = structs[end - 1]!.id.clock + structs[end - 1]!.length
  }
}

function encodePart (client: number, structs: ReadonlyArray<Y.Item | Y.GC>, start: number, end: number, clock: number): Uint8Array {
  const encoder = new Y.UpdateEncoderV1()
  encoding.writeVarUint(encoder.restEncoder, 1)
  encoding.writeVarUint(encoder.restEncoder, end - start)
  encoder.writeClient(client)
  encoding.writeVarUint(encoder.restEncoder, clock)
  structs[start]!.write(encoder, clock - structs[start]!.id.clock)
  for (let i = start + 1; i < end; i++) structs[i]!.write(encoder, 0)
  // The delete set: no clients (the swarm's docs never delete).
  encoding.writeVarUint(encoder.restEncoder, 0)
  return encoder.toUint8Array()
}

/** About how many bytes a struct encodes to: its record text and map key, plus ids and flags. */
function estimate (struct: Y.Item | Y.GC): number {
  if (!(struct instanceof Y.Item)) return 16
  const content = struct.content
  const text = content instanceof Y.ContentAny && typeof content.arr[0] === 'string' ? content.arr[0] : ''
  return 32 + text.length * 3 + (struct.parentSub?.length ?? 0) * 3
}

/** The index of the struct that holds `clock` (structs are sorted and contiguous). */
function indexOfClock (structs: ReadonlyArray<Y.Item | Y.GC>, clock: number): number {
  let low = 0
  let high = structs.length - 1
  while (low < high) {
    const mid = (low + high + 1) >> 1
    if (structs[mid]!.id.clock <= clock) low = mid
    else high = mid - 1
  }
  return low
}
