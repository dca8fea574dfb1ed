import type { Stream } from '@libp2p/interface'

/**
 * Call `onBytes` each time `stream` receives data, consuming nothing: like the prefix guard
 * (src/p2p/prefix-guard.ts), it wraps `dispatchEvent`, because a 'message' listener added before
 * the protocol's reader would take the bytes the reader waits for. An idle timer reset here
 * measures silence (no bytes at all), not how long one frame takes: a 1 MiB sync frame over a slow
 * home uplink takes longer than any sane idle limit while every second brings bytes.
 */
export function onIncomingBytes (stream: Stream, onBytes: () => void): void {
  const dispatch = stream.dispatchEvent.bind(stream)
  stream.dispatchEvent = (event: Event): boolean => {
    if (event.type === 'message') onBytes()
    return dispatch(event)
  }
}
