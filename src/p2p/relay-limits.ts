/**
 * A relay's bounds unless configured: 32 slots (libp2p's default is 15; a bootstrap daemon serves
 * a swarm's home nodes), 32 MiB per relayed connection (two of the largest blobs, the only thing
 * swarmd sends over one) for at most 2 minutes (a fetch that needs more dials again), and relayed
 * connections worth 1 GiB an hour from one address range, 8 GiB an hour in all: without a budget,
 * fakes that passed for members relayed 1.6 GiB in 45 s over 72 connections (an outside attack).
 * Each connection is charged what it may carry when it opens (libp2p's relay counts the bytes
 * inside its pipe, out of reach), so connections that carry nothing use the budget up too: a
 * range that does so shuts itself out, and the budget in all is high enough that taking it needs
 * eight ranges (with 256 MiB and 1 GiB, empty connections from one range shut out its neighbours
 * after 8 and from four ranges everyone after 32, an outside attack).
 */
export const RELAY_SERVER_DEFAULTS: RelayServerLimits & RelayByteBudgets = { maxReservations: 32, maxBytes: 32 * 1024 * 1024, maxDurationMs: 120_000, bytesPerRangePerHour: 1024 * 1024 * 1024, bytesPerHour: 8 * 1024 * 1024 * 1024 }

/** What one relay gives the peers it forwards for (`--relay`). */
export interface RelayServerLimits {
  /** Peers that may hold a slot at once. */
  maxReservations: number
  /** Bytes one relayed connection may carry, both ways together, before the relay closes it. */
  maxBytes: number
  /** How long one relayed connection may stay open, ms. */
  maxDurationMs: number
}

/** What relayed connections may carry per hour, in all and per source (src/p2p/relay-gate.ts). */
export interface RelayByteBudgets {
  /**
   * Bytes the relayed connections opened by peers of one address range (IPv4 /24, IPv6 /48) may
   * carry per hour. Each connection is charged `maxBytes` when it opens, what it may carry at most.
   */
  bytesPerRangePerHour: number
  /** The same for every relayed connection together: what a relay gives all the swarm's home nodes per hour. */
  bytesPerHour: number
}

/**
 * How long a relay's slot lasts unless refreshed, ms: 15 minutes (libp2p's default is 2 hours, and a
 * slot outlives its holder's connection, so throwaway identities that reserve and leave held every
 * slot for 2 hours). Holders refresh theirs 5 minutes before it runs out.
 */
export const RELAY_RESERVATION_TTL_MS = 15 * 60_000

/** Slots one address range (IPv4 /24, IPv6 /48) may hold on one relay at once: a lab behind one NAT gets a few. */
export const RELAY_SLOTS_PER_RANGE = 4
