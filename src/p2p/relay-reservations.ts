import { RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2'
import { isPrivateIp } from '@libp2p/utils'
import type { Startable, PeerId, Logger, ComponentLogger, Connection } from '@libp2p/interface'
import type { AddressManager, Registrar, TransportManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Relays a node that cannot be dialled holds a slot on at once: one more than needed, for when one goes away. */
export const RELAY_RESERVATIONS = 2

export interface RelayReservationsComponents {
  registrar: Registrar
  transportManager: TransportManager
  addressManager: AddressManager
  logger: ComponentLogger
}

/**
 * How a node behind NAT becomes reachable (issue 17): when a connected peer speaks circuit relay
 * v2's hop protocol and no address of this node can be dialled from the internet (all private or
 * loopback; a UPnP mapping or a public interface makes one public), take a slot on that relay by
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
  /** Relays that refused or failed once: not asked again while this node runs. */
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
      onDisconnect: (peer) => { this.relays.delete(peer.toString()) }
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
    if (connection.limits !== undefined || isCircuit(connection.remoteAddr)) return
    if (dialableFromInternet(this.components.addressManager.getAddresses())) return
    this.relays.add(key)
    try {
      await this.components.transportManager.listen([connection.remoteAddr.encapsulate('/p2p-circuit')])
      this.log('reserved a slot on relay %p', relay)
    } catch (err) {
      this.relays.delete(key)
      this.refused.add(key)
      this.log.error('relay %p refused a reservation - %e', relay, err)
    }
  }
}

export function relayReservations (max = RELAY_RESERVATIONS): (components: RelayReservationsComponents) => RelayReservations {
  return (components) => new RelayReservations(components, max)
}

export function isCircuit (ma: Multiaddr): boolean {
  return ma.getComponents().some((c) => c.name === 'p2p-circuit')
}

/** An address others on the internet can dial: a public IP, not through a relay. */
export function isPublicAddress (ma: Multiaddr): boolean {
  if (isCircuit(ma)) return false
  const ip = ma.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')
  return ip?.value !== undefined && isPrivateIp(ip.value) === false
}

export function dialableFromInternet (addrs: Multiaddr[]): boolean {
  return addrs.some(isPublicAddress)
}
