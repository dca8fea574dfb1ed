import type { Libp2p, PeerId } from '@libp2p/interface'

/**
 * Whether `peer` serves `protocol` (a swarm's sync protocol: only its members do), as identify
 * told this node. Identify runs right after a connection opens: wait up to `waitMs` for it while
 * the peer stays connected. Identify is the peer's own word, so membership this way is a hint
 * for routing and for telling the user, never a credential.
 */
export async function servesProtocol (node: Pick<Libp2p, 'peerStore' | 'getConnections'>, peer: PeerId, protocol: string, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const known = await node.peerStore.get(peer).catch(() => undefined)
    if (known?.protocols.includes(protocol) === true) return true
    if (Date.now() >= deadline || node.getConnections(peer).length === 0) return false
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
