/**
 * Poll `predicate` until it holds or `timeoutMs` passes; never a fixed sleep. `what` names the
 * condition in the timeout error; as a function it is read at the timeout, to show the state then.
 */
export async function waitFor (predicate: () => boolean | Promise<boolean>, opts: { timeoutMs?: number, intervalMs?: number, what?: string | (() => string) } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000)
  for (;;) {
    if (await predicate()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${(typeof opts.what === 'function' ? opts.what() : opts.what) ?? 'condition'}`)
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 25))
  }
}
