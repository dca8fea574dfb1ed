import { RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2'
import { confirmedPublic, isRelayed } from './reachability.js'
import type { Startable, PeerId, Logger, ComponentLogger, Connection } from '@libp2p/interface'
import type { AddressManager, ConnectionManager, Registrar, TransportManager } from '@libp2p/interface-internal'

/** Relays a node that cannot be dialled holds a slot on at once: one more than needed, for when one goes away. */
export const RELAY_RESERVATIONS = 2

export interface RelayReservationsComponents {
  registrar: Registrar
  transportManager: TransportManager
  addressManager: AddressManager
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

/**
 * How a node behind NAT becomes reachable (issue 17): when a connected peer speaks circuit relay
 * v2's hop protocol and no public address of this node is confirmed (AutoNAT: peers dialled it
 * back; a UPnP mapping or a public interface gives one to confirm), take a slot on that relay by
 * listening on its `/p2p-circuit` address. The relay then forwards dials to this node, and the
 * circuit address is what identify, the DHT and the peer store hand out.
 *
 * Only relays this node is already connected to (its bootstrap peers, by default relays) are asked:
 * the circuit transport's own search (`/p2p-circuit` alone) walks the DHT without pause until it
 * finds one, which in a swarm without relays never ends.
 */
export class RelayReservations implements Startable {
  private readonly log: Logger
  private topologyId: string | undefined
  /** Relays this node listens on (a reservation held or being made). */
  private readonly relays = new Set<string>()
  /** Relays that refused every attempt: not asked again until they reconnect. */
  private readonly refused = new Set<string>()

  constructor (private readonly components: RelayReservationsComponents, private readonly max = RELAY_RESERVATIONS) {
    this.log = components.logger.forComponent('swarmd:relay-reservations')
  }

  readonly [Symbol.toStringTag] = 'swarmd/relay-reservations'

  async start (): Promise<void> {
    this.topologyId = await this.components.registrar.register(RELAY_V2_HOP_CODEC, {
      // The relay's own connection is direct: a circuit cannot carry a reservation.
      filter: undefined,
      onConnect: (peer, connection) => { void this.consider(peer, connection) },
      onDisconnect: (peer) => {
        this.relays.delete(peer.toString())
        this.refused.delete(peer.toString())
      }
    })
  }

  async stop (): Promise<void> {
    if (this.topologyId !== undefined) this.components.registrar.unregister(this.topologyId)
    this.topologyId = undefined
    this.relays.clear()
  }

  /** Relays this node holds (or is making) a reservation on. */
  held (): string[] { return [...this.relays] }

  private async consider (relay: PeerId, connection: Connection): Promise<void> {
    const key = relay.toString()
    if (this.relays.has(key) || this.refused.has(key) || this.relays.size >= this.max) return
    if (isRelayed(connection)) return
    if (confirmedPublic(this.components.addressManager.getAddressesWithMetadata())) return
    this.relays.add(key)
    const addr = connection.remoteAddr.encapsulate('/p2p-circuit')
    for (let attempt = 1; ; attempt++) {
      try {
        await this.components.transportManager.listen([addr])
        this.log('reserved a slot on relay %p', relay)
        return
      } catch (err) {
        // Transient refusals happen: the circuit transport's own discovery may be asking the same
        // relay at this moment and give it up as not needed (this listen joins that attempt), or a
        // relay that just started resets the stream. Try again, backing off.
        const connected = this.components.connectionManager.getConnections(relay).length > 0
        if (attempt < LISTEN_ATTEMPTS && connected && this.topologyId !== undefined) {
          await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt))
          continue
        }
        this.relays.delete(key)
        this.refused.add(key)
        this.log.error('relay %p refused a reservation - %e', relay, err)
        return
      }
    }
  }
}

/** Tries of one relay before it counts as refusing. */
const LISTEN_ATTEMPTS = 4

export function relayReservations (max = RELAY_RESERVATIONS): (components: RelayReservationsComponents) => RelayReservations {
  return (components) => new RelayReservations(components, max)
}
