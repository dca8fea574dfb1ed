import { multiaddr } from '@multiformats/multiaddr'
import { backoffDelay } from '../util/backoff.js'
import type { SwarmdLibp2p } from './libp2p-node.js'
import type { Rng } from '../util/rng.js'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface BootstrapDialerInit {
  /** First retry after up to this long, in ms. Default 1 s. */
  baseDelayMs?: number
  /** Retries never wait longer than this, in ms. Default 60 s. */
  maxDelayMs?: number
}

/**
 * Keeps bootstrap peers connected: dials each one, and redials with exponential backoff
 * and full jitter whenever it is not connected (restarted peer, network back after a cut).
 */
export class BootstrapDialer {
  private readonly targets: Array<{ addr: Multiaddr, peer: string | undefined, attempt: number }>
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly baseDelayMs: number
  private readonly maxDelayMs: number
  private stopped = true
  private readonly controller = new AbortController()

  constructor (private readonly components: { libp2p: SwarmdLibp2p, rng: Rng }, addrs: string[], init: BootstrapDialerInit = {}) {
    this.targets = addrs.map((text) => {
      const addr = multiaddr(text)
      return { addr, peer: addr.getComponents().findLast((c) => c.name === 'p2p')?.value, attempt: 0 }
    })
    this.baseDelayMs = init.baseDelayMs ?? 1_000
    this.maxDelayMs = init.maxDelayMs ?? 60_000
  }

  start (): void {
    this.stopped = false
    for (const target of this.targets) this.schedule(target, 0)
  }

  stop (): void {
    this.stopped = true
    this.controller.abort()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  private schedule (target: BootstrapDialerTarget, delayMs: number): void {
    if (this.stopped) return
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      void this.tick(target)
    }, delayMs)
    timer.unref()
    this.timers.add(timer)
  }

  private async tick (target: BootstrapDialerTarget): Promise<void> {
    const libp2p = this.components.libp2p
    if (target.peer === libp2p.peerId.toString()) return
    const connected = target.peer !== undefined && libp2p.getConnections().some((c) => c.remotePeer.toString() === target.peer)
    if (connected) {
      target.attempt = 0
      this.schedule(target, this.maxDelayMs / 6)
      return
    }
    try {
      await libp2p.dial(target.addr, { signal: AbortSignal.any([this.controller.signal, AbortSignal.timeout(10_000)]) })
      target.attempt = 0
      this.schedule(target, this.maxDelayMs / 6)
    } catch {
      this.schedule(target, backoffDelay(target.attempt++, this.components.rng.next(), this.baseDelayMs, this.maxDelayMs))
    }
  }
}

type BootstrapDialerTarget = BootstrapDialer['targets'][number]
