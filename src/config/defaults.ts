import { CORPUS_HUB } from '../corpus/hub-listing.js'
import { RELAY_SERVER_DEFAULTS } from '../p2p/relay-limits.js'
import { DEFAULT_MAX_BYTES_PER_AUTHOR } from '../state/author-quota.js'

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
  /**
   * Serve as a circuit relay for peers behind NAT: `auto` when this daemon is one of its own
   * bootstrap peers (bootstrap daemons are reachable, and every newcomer connects to them).
   */
  relay: 'auto' as 'auto' | 'on' | 'off',
  /** A relay's bounds (src/p2p/libp2p-node.ts `RELAY_SERVER_DEFAULTS` says why these). */
  relayMaxReservations: RELAY_SERVER_DEFAULTS.maxReservations,
  relayMaxBytes: RELAY_SERVER_DEFAULTS.maxBytes,
  relayMaxDurationMs: RELAY_SERVER_DEFAULTS.maxDurationMs,
  relayBytesPerRangePerHour: RELAY_SERVER_DEFAULTS.bytesPerRangePerHour,
  relayBytesPerHour: RELAY_SERVER_DEFAULTS.bytesPerHour,
  /** Ask the home router for a port mapping by UPnP / NAT-PMP, so peers can dial this node directly. */
  upnp: true,
  /** Daemons share state only within one swarm. */
  swarm: 'default',
  /** The research loop: `builtin` mutation search (no LLM), `command` (a coding-agent CLI) or `none` (coordination only). */
  agent: 'builtin' as 'none' | 'builtin' | 'command',
  /** Shell command of the coding agent for `agent: command`. */
  agentCommand: '',
  /** Experiment profile: `auto` picks gpu when a CUDA GPU is found, else cpu. */
  profile: 'auto' as 'auto' | 'cpu' | 'gpu' | 'gpu-tiny',
  /** Python interpreter with torch; empty: detect (/usr/bin/python3, python3, python). */
  python: '',
  /** The gpu profiles' corpus from a folder (the same parquet shards, or train.txt and val.txt) instead of its host; empty: fetch it. */
  corpus: '',
  /** A shard list ({"shards": [{path, size, sha256}]}) used instead of the host's listing; empty: the host's. */
  corpusManifest: '',
  corpusHub: CORPUS_HUB,
  /** Stop each run after this many steps instead of the time budget (0: use the budget). For tests and demos. */
  maxSteps: 0,
  /** Stop the research loop after this many experiments (0: never). */
  maxExperiments: 0,
  /**
   * How long a daemon with bootstrap peers waits for its first sync with the swarm before its first
   * experiment: joining, it sees the swarm's baseline and best first instead of repeating them.
   */
  firstSyncWaitMs: 20_000,
  /** Connection limits: a daemon talks to tens of peers; libp2p's default (300) is for relays. */
  maxConnections: 100,
  /** Half-open inbound connections allowed at once, all IPs together; each IP may hold `maxPendingPerIp` of them. */
  maxIncomingPendingConnections: 64,
  /** Anti-entropy pull from one random peer this often (ms). Gossip carries live updates; this only repairs losses. */
  antiEntropyMs: 30_000,
  /**
   * The pace window of a sync pull (ms): a pull that brings less than 4 KiB/s over it (silence, or a
   * peer trickling a byte at a time) is dropped, and that peer is left alone for a minute or until
   * it connects anew: pulls run one at a time, and a peer that never answered held them all for the
   * minute-long pull timeout. Not struck: under bench:chaos, strikes for silence (lossy, throttled
   * links) blocked honest peers for an hour and cut the swarm in three. The pace counts bytes, not
   * frames: a 1 MiB frame on a slow uplink is fine.
   */
  syncIdleMs: 15_000,
  /** Records dated further ahead are held back (DESIGN §3: 60 s). */
  maxClockSkewMs: 60_000,
  /** Bytes of records one author without standing may store here (src/state/author-quota.ts): 64 MiB. */
  maxBytesPerAuthor: DEFAULT_MAX_BYTES_PER_AUTHOR,
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
  /**
   * A claim that reaches this node more than this long after its own date (ms) takes its place in
   * the order from when it arrived, so it never beats a claim this node already held: a copycat
   * that re-dates a claim it saw on gossip an hour (or a second) earlier loses. An honest racing
   * claim arrives within the gossip p99 (70 ms with 10 daemons on 2 cores, BENCHMARKS.md) plus the
   * clock difference of two NTP-synced machines (tens of ms): 500 ms, the settle window, leaves
   * several times that. A racer whose clock is further behind is not stolen from either: both run
   * it and the merge marks the later result. Keep it at least `claimSettleMs`.
   */
  claimMaxLagMs: 500,
  /** A claim without a heartbeat expires after this long (ms); 0: 3x the profile's run time. Never above `claimMaxTtlMs`. */
  claimTtlMs: 0,
  /**
   * The longest ttl any claim gets, whatever its author asked (ms); heartbeats keep it alive for at
   * most twice this in all. 0: three times the longest a run of the profile may take (the runner's
   * kill time, 10 min for a step-limited run: 30 min), the most an honest daemon asks by default
   * (DESIGN §4: 15 min for a 5 min budget): a claim that asks for a day holds its experiment for
   * half an hour, an hour with heartbeats. Every node of a swarm must use the same value.
   */
  claimMaxTtlMs: 0,
  /**
   * Times an hour this node gives its new claim up for a racing claim by a peer without standing
   * (no result of it reproduced) that arrived after its own: the earlier claim wins an honest race,
   * but a copycat re-dating what it saw by a few ms is indistinguishable from one, so fresh keys
   * share this allowance and steal at most this many of this node's experiments an hour. Races are
   * rare (at most 2 of 135 duplicate runs in the simulated swarm, BENCHMARKS.md §7); beyond the
   * allowance a race costs one duplicate run, never a stolen experiment.
   */
  claimRaceYieldsPerHour: 10,
  /** Hypotheses one peer may publish per hour; beyond it they are hidden everywhere. */
  hypothesesPerHour: 20,
  /** Where the MiniLM model is built once per machine ('': `defaultModelCacheDir()`, src/embedding/model-cache-dir.ts). */
  modelCacheDir: '',
  /**
   * Active claims per peer that block others: one per GPU of a big node plus a few agents. A peer
   * claiming everything blocks only its earliest this many; the rest count as free. Every node of a
   * swarm must use the same value, or they disagree on which experiments are taken.
   */
  maxActiveClaimsPerPeer: 16,
  /**
   * Active claims by peers without standing (no result of theirs reproduced here) that count
   * against others, all such peers together: identities are free, so a per-peer limit alone lets
   * twenty fresh keys block 20 x 16 experiments. Sized for a swarm of newcomers: one claim per
   * daemon or GPU plus a few agents' (the 10-agent e2e swarm holds at most 10). Beyond it their
   * claims block nobody (they still run their own work); peers with standing are never pooled.
   * When full, each peer's first claim comes before anyone's second (a squatter cannot crowd out
   * a newcomer's one claim with many).
   */
  maxActiveClaimsWithoutStanding: 64,
  /**
   * Reproductions by peers with standing that make a peer's result trusted (volunteer computing
   * uses 2-3). This node's own re-run counts alone: with two honest daemons each trusts the other.
   */
  quorum: 2,
  /** A peer with this many trusted results needs one reproduction, not `quorum` (adaptive replication). */
  reputationAfter: 3,
  /** Largest val_bpb difference a re-run may show and still reproduce; 0: the profile's measured noise floor. */
  verifyTolerance: 0,
  /** Re-run a peer's result on this machine before building on it (DESIGN §4); off only for trusted private swarms. */
  verifyBeforeAdopt: true,
  adoptOnlyReproducedHere: false,
  /**
   * About one run in fourteen at most re-runs a peer's result; the rest research. bench:swarm (8
   * daemons, 2 seeds, 120 s): 0.2 reached the target in 46.4 s with 25 % of run time verifying,
   * 0.1 in 40.7 s (16.5 %), 0.07 in 33.5 s (14.3 %): past the first adoption a node gains more
   * from its own search on the model every result feeds than from re-running more of its peers'.
   */
  maxVerifyShare: 0.07,
  /** Largest blob accepted (bytes): train.py sources and run logs, not datasets. */
  maxBlobBytes: 16 * 1024 * 1024,
  /**
   * Gossip messages (each carries one record write) one author may publish per minute; the same
   * number may come at once. Beyond it they are ignored (not applied, not relayed; sync brings them
   * later) and the sender loses gossip score. An honest daemon writes a few records a minute (the
   * fastest CPU test loop about one a second); one hostile peer was measured pushing ~2,400 a second.
   * Benchmarks that write 20-50 records/s from one daemon must raise it.
   */
  gossipRecordsPerPeerPerMinute: 600,
  /** Records one neighbour may deliver per minute in gossip, all authors together: a relay forwards many authors. */
  gossipRecordsPerLinkPerMinute: 6_000,
  /**
   * Bytes one neighbour may deliver per minute in gossip, all authors together. Records are small
   * (a result ~2 KiB; 64 KiB at most): 32 MiB is thousands of honest records, while 21,000 records
   * in 10 messages were measured from one hostile peer.
   */
  gossipBytesPerLinkPerMinute: 32 * 1024 * 1024,
  /**
   * Sync requests one peer may make per minute (also its burst); beyond it a request is answered
   * with nothing. An honest daemon pulls on connect, when a gap shows, and every `antiEntropyMs`
   * from one random peer: a few a minute; a newcomer asks once per page of 2 MiB
   * (`SYNC_PAGE_BYTES`), so 60 pages a minute let it take the byte budget below whole.
   * One address range gets four times one peer's budget.
   */
  syncRequestsPerPeerPerMinute: 60,
  /**
   * Bytes this daemon sends one peer in sync answers per minute (also its burst); an answer over it
   * stops early and the puller takes the rest on a later pull. A newcomer's whole catch-up of a
   * swarm of 10,000 records is ~20 MiB, of 100,000 results (claims, heartbeats and all) ~230 MiB. One address range gets four times one peer's budget.
   */
  syncBytesPerPeerPerMinute: 128 * 1024 * 1024,
  /**
   * Peers from one IP address before gossipsub's colocation penalty (-1 x extra²) starts: many
   * identities behind one address look like a Sybil. Raise it for a lab of volunteers behind one NAT.
   */
  gossipIpColocationThreshold: 10,
  /**
   * Inbound connections from one IP address mid-upgrade at once. libp2p has only a node-wide cap
   * (`maxIncomingPendingConnections`): ten silent sockets from one host locked every new peer out
   * for 10 s (measured, BENCHMARKS.md "Attacks tried"). An honest peer needs one.
   */
  maxPendingPerIp: 4,
  /**
   * The same for one address range (an IPv4 /24, an IPv6 /48): a quarter of the node-wide limit,
   * so one host with many addresses leaves room for everyone else.
   */
  maxPendingPerRange: 16,
  /**
   * An inbound connection must finish noise + yamux within this (ms); libp2p's default is 10 s.
   * On loopback the upgrade takes a few ms; on a 300 ms round trip, about four round trips.
   */
  inboundUpgradeTimeoutMs: 5_000,
  /**
   * Run peers' train.py (or edits of one) even where no sandbox works. Off: such code is refused
   * (SANDBOX_REQUIRED) until bubblewrap is installed; on only by the explicit `--unsafe-no-sandbox`.
   */
  unsafeNoSandbox: false,
  /**
   * Run peers' train.py in the sandbox even where no cgroup limits the whole run (memory with
   * shared memory and tmpfs, the process count). Off: such code is refused (LIMITS_REQUIRED);
   * on only by the explicit `--unsafe-no-cgroup`.
   */
  unsafeNoCgroup: false,
  /** The uid (and gid) sandboxed runs take when the daemon runs as root: owns nothing on the host (src/runner/experiment-runner.ts). */
  runUid: 61184,
  /**
   * Processes one run may have at once. A cpu run has ~5 threads, a gpu run with torch.compile one
   * inductor worker per core; a fork bomb passes 512 in well under a second (src/runner/run-limits.ts).
   */
  runMaxProcesses: 512,
  /** Memory of a run, MiB: of all its processes, shared memory and tmpfs files together (cgroup), and per process (RLIMIT_DATA); 0: 75% of this machine's RAM, so the desktop survives. */
  runMaxMemoryMb: 0,
  /** Largest file a run may write, MiB: above any checkpoint of the gpu profile's models. */
  runMaxFileMb: 4096,
  /** Size of each private tmpfs in the sandbox (/tmp, /dev/shm), MiB: they live in RAM. */
  sandboxTmpfsMb: 512,
  /** Size of a sandboxed run's workspace, all its files together, MiB (a tmpfs: RAM, counted by the run's memory cgroup). */
  runWorkspaceMb: 8192,
  /**
   * Blob requests (`/swarmd/blob/1`, found or not) one peer may make per minute, also its burst;
   * beyond it the stream is reset unread. An honest daemon fetches two or three blobs per
   * experiment (the best's code, a candidate's code; logs are only written), i.e. a few a minute
   * at most: 120 leaves it 40x headroom while a flooder's disk reads are capped at 2/s.
   */
  blobRequestsPerPeerPerMinute: 120,
  /**
   * The pace window of a blob fetch (ms): a fetch that brings less than 4 KiB/s over it is dropped,
   * without a strike; three providers are asked at once, so a stalling one costs a lane, not the fetch.
   */
  blobIdleMs: 10_000
}

export type Defaults = typeof DEFAULTS
