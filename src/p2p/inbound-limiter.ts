import { getNetConfig, isNetworkAddress } from '@libp2p/utils'
import type { MultiaddrConnection } from '@libp2p/interface'

export interface InboundLimiterInit {
  /** Inbound connections from one IP address that may be mid-upgrade at once (config `maxPendingPerIp`). */
  maxPendingPerIp: number
}

/**
 * Caps half-open inbound connections per remote IP. libp2p counts pending inbound upgrades
 * against one node-wide limit (`maxIncomingPendingConnections`, default 10), so ten TCP sockets
 * that connect and then say nothing lock every new peer out until the upgrade timeout (10 s by
 * default) frees them. With a per-IP cap an attacker must bring that many addresses, and one
 * address can never take more than its share. Used from the connection gater: `admit` at
 * `denyInboundConnection`, released when the upgrade finishes or the socket closes.
 */
export class InboundLimiter {
  private readonly pending = new Map<string, number>()
  private readonly open = new Map<MultiaddrConnection, string>()
  readonly stats = { refused: 0 }

  constructor (private readonly init: InboundLimiterInit) {}

  /** Count `maConn` against its IP; false when that IP already has its share mid-upgrade. */
  admit (maConn: MultiaddrConnection): boolean {
    if (!isNetworkAddress(maConn.remoteAddr)) return true
    const ip = getNetConfig(maConn.remoteAddr).host
    const count = this.pending.get(ip) ?? 0
    if (count >= this.init.maxPendingPerIp) {
      this.stats.refused++
      return false
    }
    this.pending.set(ip, count + 1)
    this.open.set(maConn, ip)
    maConn.addEventListener('close', () => { this.release(maConn) }, { once: true })
    return true
  }

  /** The upgrade of `maConn` is over (done or failed); safe to call more than once. */
  release (maConn: MultiaddrConnection): void {
    const ip = this.open.get(maConn)
    if (ip === undefined) return
    this.open.delete(maConn)
    const count = (this.pending.get(ip) ?? 1) - 1
    if (count <= 0) this.pending.delete(ip)
    else this.pending.set(ip, count)
  }

  /** Upgrades in progress from `ip`. */
  pendingFrom (ip: string): number {
    return this.pending.get(ip) ?? 0
  }
}
