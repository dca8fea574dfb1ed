import { multiaddr } from '@multiformats/multiaddr'
import { backoffDelay } from '../util/backoff.js'
import { deadline } from '../util/deadline.js'
import type { SwarmdLibp2p } from './libp2p-node.js'
import type { Rng } from '../util/rng.js'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface BootstrapDialerInit {
  /** First retry after up to this long, in ms. Default 1 s. */
  baseDelayMs?: number
  /** Retries never wait longer than this, in ms. Default 60 s. */
  maxDelayMs?: number
  /** While connected, check again this often, in ms. Default 10 s. */
  checkMs?: number
  /** Say so (once per outage) after this many failed dials in a row. Default 3. */
  warnAfter?: number
}

interface Target {
  addr: Multiaddr
  peer: string | undefined
  attempt: number
  timer: NodeJS.Timeout | undefined
  /** Why the last dial failed, while it is not reached. */
  lastError: string | undefined
}

/** One bootstrap peer as the status page and `swarmd status` show it. */
export interface BootstrapStatus {
  addr: string
  connected: boolean
  /** Failed dials in a row (0 once reached). */
  failures: number
  /** Why the last dial failed, while it is not reached. */
  lastError?: string
}

/**
 * Keeps bootstrap peers connected: dials each one, and redials with exponential backoff
 * and full jitter whenever it is not connected (restarted peer, network back after a cut).
 */
export class BootstrapDialer {
  private readonly targets: Target[]
  private readonly baseDelayMs: number
  private readonly maxDelayMs: number
  private readonly checkMs: number
  private stopped = true
  private readonly controller = new AbortController()
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const target = this.targets.find((t) => t.peer === evt.detail.toString())
    if (target !== undefined) this.schedule(target, backoffDelay(target.attempt, this.components.rng.next(), this.baseDelayMs, this.maxDelayMs))
  }

  private readonly warnAfter: number

  constructor (private readonly components: { libp2p: SwarmdLibp2p, rng: Rng, log?: (line: string) => void }, addrs: string[], init: BootstrapDialerInit = {}) {
    this.targets = addrs.map((text) => {
      const addr = multiaddr(text)
      return { addr, peer: addr.getComponents().findLast((c) => c.name === 'p2p')?.value, attempt: 0, timer: undefined, lastError: undefined }
    }).filter((t) => t.peer !== components.libp2p.peerId.toString())
    this.baseDelayMs = init.baseDelayMs ?? 1_000
    this.maxDelayMs = init.maxDelayMs ?? 60_000
    this.checkMs = init.checkMs ?? 10_000
    this.warnAfter = init.warnAfter ?? 3
  }

  /** Each bootstrap peer: reached now or not, and why not. */
  status (): BootstrapStatus[] {
    const connections = this.components.libp2p.getConnections()
    return this.targets.map((t) => ({
      addr: t.addr.toString(),
      connected: t.peer !== undefined && connections.some((c) => c.remotePeer.toString() === t.peer),
      failures: t.attempt,
      ...(t.lastError !== undefined ? { lastError: t.lastError } : {})
    }))
  }

  start (): void {
    this.stopped = false
    this.components.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
    for (const target of this.targets) this.schedule(target, 0)
  }

  stop (): void {
    this.stopped = true
    this.controller.abort()
    this.components.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
    for (const target of this.targets) clearTimeout(target.timer)
  }

  /** One pending timer per target: a new schedule replaces the old one. */
  private schedule (target: Target, delayMs: number): void {
    if (this.stopped) return
    clearTimeout(target.timer)
    target.timer = setTimeout(() => { void this.tick(target) }, delayMs)
    target.timer.unref()
  }

  private async tick (target: Target): Promise<void> {
    target.timer = undefined
    const libp2p = this.components.libp2p
    const connected = target.peer !== undefined && libp2p.getConnections().some((c) => c.remotePeer.toString() === target.peer)
    if (!connected) {
      const limit = deadline(10_000, this.controller.signal)
      try {
        await libp2p.dial(target.addr, { signal: limit.signal })
      } catch (err) {
        if (this.stopped) return
        target.lastError = limit.expired ? 'no answer within 10 s' : (err as Error).message
        if (++target.attempt === this.warnAfter) {
          this.components.log?.(`bootstrap: cannot reach ${target.addr.toString()} after ${target.attempt} tries (${target.lastError}); retrying with backoff up to ${Math.round(this.maxDelayMs / 1000)} s. Check the address (--bootstrap, bootstrap-peers.json) and that this machine can dial out`)
        }
        this.schedule(target, backoffDelay(target.attempt - 1, this.components.rng.next(), this.baseDelayMs, this.maxDelayMs))
        return
      } finally {
        limit.clear()
      }
    }
    if (target.attempt >= this.warnAfter) this.components.log?.(`bootstrap: reached ${target.addr.toString()} after ${target.attempt} failed tries`)
    target.attempt = 0
    target.lastError = undefined
    if (target.timer === undefined) this.schedule(target, this.checkMs)
  }
}
