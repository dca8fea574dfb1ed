/**
 * The one defaults object: config file, environment and CLI flags all resolve through it.
 */
export const DEFAULTS = {
  /** libp2p listen multiaddrs. 4717 is swarmd's port; 0.0.0.0 so LAN peers can reach us. */
  listen: ['/ip4/0.0.0.0/tcp/4717'],
  /** Extra bootstrap multiaddrs, added to bootstrap-peers.json's list. */
  bootstrap: [] as string[],
  /** The status page and API: loopback only unless the user says otherwise. */
  httpHost: '127.0.0.1',
  httpPort: 4718,
  /** Find peers on the local network by multicast DNS. */
  mdns: true,
  /** Daemons share state only within one swarm. */
  swarm: 'default',
  /** The research loop: `builtin` mutation search (no LLM), `command` (a coding-agent CLI) or `none` (coordination only). */
  agent: 'builtin' as 'none' | 'builtin' | 'command',
  /** Shell command of the coding agent for `agent: command`. */
  agentCommand: '',
  /** Experiment profile: `auto` picks gpu when a CUDA GPU is found, else cpu. */
  profile: 'auto' as 'auto' | 'cpu' | 'gpu',
  /** Python interpreter with torch; empty: detect (/usr/bin/python3, python3, python). */
  python: '',
  /** Stop each run after this many steps instead of the time budget (0: use the budget). For tests and demos. */
  maxSteps: 0,
  /** Stop the research loop after this many experiments (0: never). */
  maxExperiments: 0,
  /** Connection limits: a daemon talks to tens of peers; libp2p's default (300) is for relays. */
  maxConnections: 100,
  /** Half-open inbound connections allowed at once. */
  maxIncomingPendingConnections: 10,
  /** Anti-entropy pull from one random peer this often (ms). Gossip carries live updates; this only repairs losses. */
  antiEntropyMs: 30_000,
  /** Records dated further ahead are held back (DESIGN §3: 60 s). */
  maxClockSkewMs: 60_000,
  /** Provably invalid messages from one peer before it is cut off. */
  strikeLimit: 5,
  /** How long a cut-off peer stays blocked (ms). */
  blockMs: 60 * 60 * 1000,
  /**
   * How long a new claim waits before it stands (ms). A racing claim for the same experiment made
   * elsewhere arrives within the gossip p99 (13 ms with 3 daemons, 70 ms with 10 on 2 cores, see
   * BENCHMARKS.md); after the window the earlier claim by (createdAt, author) wins everywhere.
   */
  claimSettleMs: 500,
  /** A claim without a heartbeat expires after this long (ms); 0: 3x the profile's run time. */
  claimTtlMs: 0,
  /** Hypotheses one peer may publish per hour; beyond it they are hidden everywhere. */
  hypothesesPerHour: 20,
  /** Largest blob accepted (bytes): train.py sources and run logs, not datasets. */
  maxBlobBytes: 16 * 1024 * 1024
}

export type Defaults = typeof DEFAULTS
