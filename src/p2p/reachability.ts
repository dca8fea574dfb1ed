import { isPrivateIp } from '@libp2p/utils'
import type { Connection, Libp2p } from '@libp2p/interface'
import type { AddressManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * How peers reach this node: `public` (an address on the internet that peers dialled back:
 * AutoNAT confirmed it), `unconfirmed` (a public address no peer has dialled back yet: a fresh
 * node, or one behind a firewall), `relayed` (only through a slot on a relay: behind NAT), or
 * `private` (only peers on the same network, or those it dials itself).
 */
export type Reachability = 'public' | 'unconfirmed' | 'relayed' | 'private'

/**
 * How a connection reaches its peer: `relayed` through a circuit relay (bounded in bytes and
 * time), `direct`, or `hole-punched`: direct, opened while a relayed one to the same peer was
 * open (DCUtR upgrading it, or the two dialling each other once the relay introduced them).
 */
export type ConnectionPath = 'direct' | 'relayed' | 'hole-punched'

/** One of this node's addresses, and whether it is known to work (libp2p's address manager). */
export interface OwnAddress {
  multiaddr: Multiaddr
  /** Private and loopback addresses are taken as they are; a public one once a peer dialled it back. */
  verified: boolean
}

export function isCircuit (ma: Multiaddr): boolean {
  return ma.getComponents().some((c) => c.name === 'p2p-circuit')
}

/** An address others on the internet could dial: a public IP, not through a relay. */
export function isPublicAddress (ma: Multiaddr): boolean {
  if (isCircuit(ma)) return false
  const ip = ma.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')
  return ip?.value !== undefined && isPrivateIp(ip.value) === false
}

/** Whether peers on the internet are known to reach this node directly. */
export function confirmedPublic (addrs: readonly OwnAddress[]): boolean {
  return addrs.some((a) => a.verified && isPublicAddress(a.multiaddr))
}

export function reachabilityOf (addrs: readonly OwnAddress[]): Reachability {
  if (confirmedPublic(addrs)) return 'public'
  if (addrs.some((a) => isCircuit(a.multiaddr))) return 'relayed'
  return addrs.some((a) => isPublicAddress(a.multiaddr)) ? 'unconfirmed' : 'private'
}

/**
 * Every address of this node, confirmed or not: `getMultiaddrs()` leaves out a public address
 * until AutoNAT confirms it, so a bootstrap daemon on a server would list none at first.
 */
export function ownAddresses (libp2p: Libp2p): OwnAddress[] {
  const addressManager = (libp2p as unknown as { components?: { addressManager?: AddressManager } }).components?.addressManager
  if (addressManager === undefined) throw new Error('libp2p exposes no address manager (expected libp2p 3)')
  const self = libp2p.peerId.toString()
  const seen = new Set<string>()
  const addrs: OwnAddress[] = []
  for (const { multiaddr, verified } of addressManager.getAddressesWithMetadata()) {
    const ma = multiaddr.getComponents().at(-1)?.value === self ? multiaddr : multiaddr.encapsulate(`/p2p/${self}`)
    if (seen.has(ma.toString())) continue
    seen.add(ma.toString())
    addrs.push({ multiaddr: ma, verified })
  }
  return addrs
}

export function isRelayed (connection: Connection): boolean {
  return connection.limits !== undefined || isCircuit(connection.remoteAddr)
}

/** Remembers which direct connections replaced a relayed one, from libp2p's `connection:open` events. */
export class ConnectionPaths {
  private readonly holePunched = new WeakSet<Connection>()

  constructor (libp2p: Pick<Libp2p, 'addEventListener' | 'getConnections'>) {
    libp2p.addEventListener('connection:open', ({ detail: connection }) => {
      if (isRelayed(connection)) return
      const others = libp2p.getConnections(connection.remotePeer).filter((c) => c !== connection)
      if (others.some(isRelayed)) this.holePunched.add(connection)
    })
  }

  pathOf (connection: Connection): ConnectionPath {
    if (isRelayed(connection)) return 'relayed'
    return this.holePunched.has(connection) ? 'hole-punched' : 'direct'
  }
}
