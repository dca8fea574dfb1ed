import { setMaxListeners } from 'node:events'

/** A signal that aborts at a deadline or with any of the signals given, and its cleanup. */
export interface Deadline {
  readonly signal: AbortSignal
  /** Whether the deadline itself (not one of the other signals) ended it. */
  readonly expired: boolean
  /** Stop the timer and forget the other signals: call once the work is done. */
  clear(): void
}

/**
 * Aborts after `ms`, or as soon as one of `signals` does. Use it instead of
 * `AbortSignal.any([..., AbortSignal.timeout(ms)])`: on Node 20 the timeout signal inside `any` is
 * held only weakly, and once a garbage collection has run it never fires, so a sync pull that a
 * peer trickled stayed open long past its limit. Here the timer holds the controller.
 */
export function deadline (ms: number, ...signals: Array<AbortSignal | undefined>): Deadline {
  const controller = new AbortController()
  let expired = false
  const sources = signals.filter((s): s is AbortSignal => s !== undefined)
  const onAbort = (event: Event): void => { controller.abort((event.target as AbortSignal).reason) }
  const timer = setTimeout(() => {
    expired = true
    controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError'))
  }, ms)
  const clear = (): void => {
    clearTimeout(timer)
    for (const s of sources) s.removeEventListener('abort', onAbort)
  }
  for (const s of sources) {
    if (s.aborted) {
      controller.abort(s.reason)
      continue
    }
    // A service's stop signal is shared by all its transfers at once, each listener removed by
    // `clear`: many at a time are expected, not a leak for Node to warn about.
    setMaxListeners(0, s)
    s.addEventListener('abort', onAbort, { once: true })
  }
  controller.signal.addEventListener('abort', clear, { once: true })
  return { signal: controller.signal, get expired () { return expired }, clear }
}
