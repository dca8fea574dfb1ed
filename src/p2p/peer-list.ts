import type { ConnectionPath } from './reachability.js'
import type { Connection } from '@libp2p/interface'

/** One connected peer, however many connections it holds (for the status page and `swarmd peers`). */
export interface PeerView {
  peerId: string
  /** The address of its best connection (direct before hole-punched before relayed, then the oldest). */
  addr: string
  /** Who dialled that connection. */
  direction: 'inbound' | 'outbound'
  /** Through a relay, direct, or direct after a hole punch (src/p2p/reachability.ts). */
  path: ConnectionPath
  /** When its oldest open connection opened, ms since the epoch. */
  openedAt: number
  /** Open connections to it: two daemons that dial each other at once hold two. */
  connections: number
  /** Round trip of the best connection as libp2p's connection monitor last pinged it, ms; null before the first ping. */
  latencyMs: number | null
}

const PATH_RANK: Record<ConnectionPath, number> = { direct: 0, 'hole-punched': 1, relayed: 2 }

/** The connected peers, one entry each, oldest first. */
export function peerList (connections: Connection[], pathOf: (connection: Connection) => ConnectionPath): PeerView[] {
  const byPeer = new Map<string, Array<{ connection: Connection, path: ConnectionPath }>>()
  for (const connection of connections) {
    const key = connection.remotePeer.toString()
    let held = byPeer.get(key)
    if (held === undefined) byPeer.set(key, held = [])
    held.push({ connection, path: pathOf(connection) })
  }
  const peers: PeerView[] = []
  for (const [peerId, held] of byPeer) {
    held.sort((a, b) => PATH_RANK[a.path] - PATH_RANK[b.path] || a.connection.timeline.open - b.connection.timeline.open)
    const { connection: best, path } = held[0]!
    peers.push({
      peerId,
      addr: best.remoteAddr.toString(),
      direction: best.direction,
      path,
      openedAt: Math.min(...held.map((h) => h.connection.timeline.open)),
      connections: held.length,
      latencyMs: best.rtt === undefined ? null : Math.round(best.rtt * 10) / 10
    })
  }
  return peers.sort((a, b) => a.openedAt - b.openedAt)
}
