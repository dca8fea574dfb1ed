import { getNetConfig, isNetworkAddress } from '@libp2p/utils'
import type { MultiaddrConnection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface InboundLimiterInit {
  /** Inbound connections from one IP address that may be mid-upgrade at once (config `maxPendingPerIp`). */
  maxPendingPerIp: number
  /** The same from one address range, an IPv4 /24 or an IPv6 /48 (config `maxPendingPerRange`). */
  maxPendingPerRange: number
}

/**
 * The range an address belongs to: its IPv4 /24 or its IPv6 /48, what one host or one customer
 * of a provider is likely to hold many addresses of.
 */
export function addressRange (ip: string): string {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.\d+$/i.exec(ip)
  if (v4 !== null) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`
  const [head = '', tail] = ip.toLowerCase().split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return `${groups.slice(0, 3).map((g) => String(parseInt(g, 16) || 0)).join(':')}::/48`
}

/** The address range of a connection's remote address; the address itself when it is not an IP one (a relay, say). */
export function rangeOf (remoteAddr: Multiaddr): string {
  return isNetworkAddress(remoteAddr) ? addressRange(getNetConfig(remoteAddr).host) : remoteAddr.toString()
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
  private readonly open = new Map<MultiaddrConnection, string[]>()
  readonly stats = { refused: 0 }

  constructor (private readonly init: InboundLimiterInit) {}

  /** Count `maConn` against its IP; false when that IP already has its share mid-upgrade. */
  admit (maConn: MultiaddrConnection): boolean {
    if (!isNetworkAddress(maConn.remoteAddr)) return true
    const ip = getNetConfig(maConn.remoteAddr).host
    const range = addressRange(ip)
    // Twenty addresses of one range, each under its own cap, filled libp2p's node-wide limit (64)
    // and left 2 of 25 honest dials succeeding (the hostile peer's measurement): ranges get a cap too.
    if ((this.pending.get(ip) ?? 0) >= this.init.maxPendingPerIp || (this.pending.get(range) ?? 0) >= this.init.maxPendingPerRange) {
      this.stats.refused++
      return false
    }
    for (const key of [ip, range]) this.pending.set(key, (this.pending.get(key) ?? 0) + 1)
    this.open.set(maConn, [ip, range])
    maConn.addEventListener('close', () => { this.release(maConn) }, { once: true })
    return true
  }

  /** The upgrade of `maConn` is over (done or failed); safe to call more than once. */
  release (maConn: MultiaddrConnection): void {
    const keys = this.open.get(maConn)
    if (keys === undefined) return
    this.open.delete(maConn)
    for (const key of keys) {
      const count = (this.pending.get(key) ?? 1) - 1
      if (count <= 0) this.pending.delete(key)
      else this.pending.set(key, count)
    }
  }

  /** Upgrades in progress from `ip`. */
  pendingFrom (ip: string): number {
    return this.pending.get(ip) ?? 0
  }
}
