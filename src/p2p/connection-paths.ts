import { dialableFromInternet, isCircuit } from './relay-reservations.js'
import type { Connection, Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * How a connection reaches its peer: `relayed` through a circuit relay (bounded in bytes and
 * time), `direct`, or `hole-punched`: direct, opened while a relayed one to the same peer was
 * open (DCUtR upgrading it, or the two dialling each other once the relay introduced them).
 */
export type ConnectionPath = 'direct' | 'relayed' | 'hole-punched'

/**
 * How peers reach this node: `public` (an address dialable from the internet: a public
 * interface, a UPnP mapping), `relayed` (a slot on a relay), or `private` (only peers on the same
 * network, or those it dials itself).
 */
export type Reachability = 'public' | 'relayed' | 'private'

export function reachabilityOf (addrs: Multiaddr[]): Reachability {
  if (dialableFromInternet(addrs)) return 'public'
  return addrs.some(isCircuit) ? 'relayed' : 'private'
}

export function isRelayed (connection: Connection): boolean {
  return connection.limits !== undefined || isCircuit(connection.remoteAddr)
}

/** Remembers which direct connections replaced a relayed one, from libp2p's `connection:open` events. */
export class ConnectionPaths {
  private readonly holePunched = new WeakSet<Connection>()

  constructor (private readonly libp2p: Pick<Libp2p, 'addEventListener' | 'getConnections'>) {
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
