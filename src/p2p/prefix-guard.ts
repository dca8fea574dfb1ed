import { SwarmdError } from '../util/errors.js'
import type { Connection, Libp2p, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'

/** libp2p's stream handler table: public in the registrar, not on the `Libp2p` interface (libp2p 3.3). */
interface Registrar {
  getHandler(protocol: string): { handler: StreamHandler, options: StreamHandlerOptions }
}

/** Bytes of an unsigned varint that encodes `value`. */
function varintLength (value: number): number {
  let bytes = 1
  for (; value >= 0x80; bytes++) value = Math.floor(value / 0x80)
  return bytes
}

/**
 * Watch the varint-length-prefixed frames arriving on `stream` before any reader sees them, and
 * reset the stream at the first prefix longer than a `maxFrameBytes` frame needs or declaring a
 * larger frame. libp2p's own protocols (kad-dht, identify) read with `pbStream` from
 * @libp2p/utils, whose length decoder treats every failure as "need one more byte": an endless
 * 0xFF prefix kept the event loop busy ~1.5 s per 2 MiB, and none of their options bound it.
 * Intercepting `dispatchEvent` (instead of adding a 'message' listener) consumes nothing: the
 * protocol's reader gets every byte of a well-formed stream, and none of a bad one.
 */
export function guardLengthPrefixes (stream: Stream, maxFrameBytes: number, onViolation: () => void = () => {}): void {
  const maxPrefixBytes = varintLength(maxFrameBytes)
  let prefixBytes = 0
  let length = 0
  let scale = 1
  let remaining = 0
  let violated = false
  const dispatch = stream.dispatchEvent.bind(stream)
  const check = (bytes: Uint8Array): boolean => {
    let i = 0
    while (i < bytes.byteLength) {
      if (remaining > 0) {
        const skip = Math.min(remaining, bytes.byteLength - i)
        remaining -= skip
        i += skip
        continue
      }
      const byte = bytes[i++]!
      // [REJECT] a length prefix longer than the largest frame of this protocol can need
      if (++prefixBytes > maxPrefixBytes) return false
      length += (byte & 0x7f) * scale
      scale *= 0x80
      if (byte >= 0x80) continue
      // [REJECT] a frame larger than the protocol accepts
      if (length > maxFrameBytes) return false
      remaining = length
      prefixBytes = 0
      length = 0
      scale = 1
    }
    return true
  }
  stream.dispatchEvent = (event: Event): boolean => {
    if (event.type === 'message' && !violated) {
      const data = (event as Event & { data: Uint8Array | { subarray(): Uint8Array } }).data
      if (!check(data instanceof Uint8Array ? data : data.subarray())) {
        violated = true
        onViolation()
        stream.abort(new SwarmdError('CODEC_MALFORMED', `length prefix on ${stream.protocol ?? 'a stream'} longer than ${maxPrefixBytes} bytes or frame over ${maxFrameBytes} bytes; stream reset`))
        return false
      }
    }
    return dispatch(event)
  }
}

/**
 * Re-register the handlers that libp2p's services installed for `protocols`, each stream passing
 * `guardLengthPrefixes` first. Call after `libp2p.start()` (services register on start). Not
 * `libp2p.use()`: in libp2p 3.3 the registrar hands out its stored middleware array and each
 * inbound stream pushes its handler onto it, so a registered middleware list grows per stream.
 */
export async function guardProtocolPrefixes (libp2p: Libp2p, protocols: Record<string, number>, onViolation: (protocol: string, peer: string) => void = () => {}): Promise<void> {
  for (const [protocol, maxFrameBytes] of Object.entries(protocols)) {
    await wrapHandler(libp2p, protocol, (original) => (stream, connection) => {
      guardLengthPrefixes(stream, maxFrameBytes, () => { onViolation(protocol, connection.remotePeer.toString()) })
      return original(stream, connection)
    })
  }
}

/**
 * Replace the handler a libp2p service registered for `protocol` with `wrap(original)`, keeping its
 * options; nothing when this node does not serve `protocol`. Call after `libp2p.start()`.
 */
export async function wrapHandler (libp2p: Libp2p, protocol: string, wrap: (original: StreamHandler) => StreamHandler): Promise<void> {
  const registrar = (libp2p as unknown as { components?: { registrar?: Registrar } }).components?.registrar
  if (registrar === undefined) throw new Error('libp2p exposes no registrar (expected libp2p 3)')
  let original: { handler: StreamHandler, options: StreamHandlerOptions }
  try {
    original = registrar.getHandler(protocol)
  } catch {
    return // not served by this node
  }
  await libp2p.handle(protocol, wrap(original.handler), { ...original.options, force: true })
}

/**
 * Guard the outbound side too: wrap `newStream` of every connection as it opens, so that each
 * stream we open for one of `protocols` passes `guardLengthPrefixes` before the caller reads it.
 * Every outbound stream goes through it: kad-dht's queries (through the connection manager's
 * `openStream`) and identify's request. Unguarded, a peer we query over kad-dht answered with an
 * endless 0xFF length prefix and the daemon read 392 KiB of it until its 5 s query timeout, 8.3 s
 * of event loop stalls in all; guarded, it resets after 12 KiB with no stall over 20 ms
 * (test/integration/hostile-limits.spec.ts). Bytes that arrive during negotiation wait in the
 * stream's read buffer until a reader listens, and reach it through `dispatchEvent`: the guard
 * sees them all. `onOpen` runs after the wrap: identify must start there, not in its own
 * 'connection:open' listener, which runs before this one and would open its stream unguarded
 * (build the node with identify's `runOnConnectionOpen` off). Call before `libp2p.start()`.
 */
export function guardOutboundPrefixes (libp2p: Libp2p, protocols: Record<string, number>, onViolation: (protocol: string, peer: string) => void = () => {}, onOpen: (connection: Connection) => void = () => {}): void {
  const limits = new Map(Object.entries(protocols))
  libp2p.addEventListener('connection:open', ({ detail: connection }) => {
    const newStream = connection.newStream.bind(connection)
    const peer = connection.remotePeer.toString()
    connection.newStream = async (...args: Parameters<Connection['newStream']>): Promise<Stream> => {
      const stream = await newStream(...args)
      const protocol = stream.protocol ?? ''
      const maxFrameBytes = limits.get(protocol)
      if (maxFrameBytes !== undefined) guardLengthPrefixes(stream, maxFrameBytes, () => { onViolation(protocol, peer) })
      return stream
    }
    onOpen(connection)
  })
}
