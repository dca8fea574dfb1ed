import { DEFAULTS } from './defaults.js'
import type { Config } from './config.js'

/** Which part of the daemon a setting configures: each area is the `init` of its services. */
export type Area = 'network' | 'claims' | 'trust' | 'runner' | 'http' | 'agent'
export const AREAS: readonly Area[] = ['network', 'http', 'agent', 'runner', 'claims', 'trust']

/** How a setting is written as text (a flag's argument, an environment variable). */
export type SettingKind = 'list' | 'int' | 'number' | 'bool' | 'text'

export interface SettingSpec {
  area: Area
  kind: SettingKind
  /** One line for `--help` and the README's table. */
  doc: string
  /** The flag's argument name (`--listen <multiaddr>`); none for booleans. */
  arg?: string
  choices?: readonly string[]
  /** What the default means when it is a sentinel (`0: derived from the profile`). */
  defaultNote?: string
}

/**
 * Every setting, once: its area, how it is written, and what it does. The `swarmd start` flags
 * (`--kebab-case`), the `SWARMD_SNAKE_CASE` variables, `swarmd start --help` and the README's
 * configuration table (`swarmd config --table`) are all generated from it; `satisfies` makes a
 * setting without an entry a compile error.
 */
export const SETTINGS = {
  swarm: { area: 'network', kind: 'text', arg: 'name', doc: 'the swarm to join: daemons share state only within one' },
  listen: { area: 'network', kind: 'list', arg: 'multiaddr', doc: 'libp2p listen addresses (repeatable; comma-separated in the environment)' },
  bootstrap: { area: 'network', kind: 'list', arg: 'multiaddr', doc: 'bootstrap peers /ip4/…/tcp/…/p2p/<peerId>, added to bootstrap-peers.json\'s (repeatable)' },
  mdns: { area: 'network', kind: 'bool', doc: 'find peers on the local network by multicast DNS' },
  relay: { area: 'network', kind: 'text', arg: 'mode', choices: ['auto', 'on', 'off'], doc: 'serve as a circuit relay for peers behind NAT (auto: when this daemon is one of its own bootstrap peers)' },
  relayMaxReservations: { area: 'network', kind: 'int', arg: 'n', doc: 'peers holding a slot on this relay at once' },
  relayMaxBytes: { area: 'network', kind: 'int', arg: 'bytes', doc: 'bytes one relayed connection may carry before the relay closes it' },
  relayMaxDurationMs: { area: 'network', kind: 'int', arg: 'ms', doc: 'how long one relayed connection may stay open' },
  relayBytesPerRangePerHour: { area: 'network', kind: 'int', arg: 'bytes', doc: 'bytes of relayed connections peers of one address range may open per hour (each charged relayMaxBytes)' },
  relayBytesPerHour: { area: 'network', kind: 'int', arg: 'bytes', doc: 'bytes of relayed connections all peers together may open per hour' },
  upnp: { area: 'network', kind: 'bool', doc: 'ask the home router for a port mapping (UPnP / NAT-PMP) so peers can dial this node' },
  maxConnections: { area: 'network', kind: 'int', arg: 'n', doc: 'open connections at most' },
  maxIncomingPendingConnections: { area: 'network', kind: 'int', arg: 'n', doc: 'half-open inbound connections at once, all addresses together' },
  maxPendingPerIp: { area: 'network', kind: 'int', arg: 'n', doc: 'half-open inbound connections from one IP address' },
  maxPendingPerRange: { area: 'network', kind: 'int', arg: 'n', doc: 'the same for one address range (an IPv4 /24, an IPv6 /48)' },
  inboundUpgradeTimeoutMs: { area: 'network', kind: 'int', arg: 'ms', doc: 'an inbound connection must finish noise and yamux within this' },
  antiEntropyMs: { area: 'network', kind: 'int', arg: 'ms', doc: 'pull from one random peer this often, to repair what gossip lost' },
  syncIdleMs: { area: 'network', kind: 'int', arg: 'ms', doc: 'pace window: a sync pull bringing under 4 KiB/s over it (silence, a trickle) is dropped (no strike: lossy links are slow too)' },
  maxClockSkewMs: { area: 'network', kind: 'int', arg: 'ms', doc: 'records dated further ahead wait until the clock catches up' },
  maxBytesPerAuthor: { area: 'network', kind: 'int', arg: 'bytes', doc: 'bytes of records one author without standing here may store in this node\'s state' },
  strikeLimit: { area: 'network', kind: 'int', arg: 'n', doc: 'provably invalid messages from a peer before it is cut off' },
  blockMs: { area: 'network', kind: 'int', arg: 'ms', doc: 'how long a cut-off peer stays blocked (survives restarts)' },
  maxBlobBytes: { area: 'network', kind: 'int', arg: 'bytes', doc: 'largest blob (train.py, run log) stored or served' },
  gossipRecordsPerPeerPerMinute: { area: 'network', kind: 'int', arg: 'n', doc: 'gossiped records one author may publish per minute' },
  gossipRecordsPerLinkPerMinute: { area: 'network', kind: 'int', arg: 'n', doc: 'gossiped records one neighbour may deliver per minute' },
  gossipBytesPerLinkPerMinute: { area: 'network', kind: 'int', arg: 'bytes', doc: 'gossip bytes one neighbour may deliver per minute' },
  gossipIpColocationThreshold: { area: 'network', kind: 'int', arg: 'n', doc: 'peers from one IP before gossipsub\'s colocation penalty (raise behind a shared NAT)' },
  syncRequestsPerPeerPerMinute: { area: 'network', kind: 'int', arg: 'n', doc: 'sync requests answered per peer per minute (an address range: 4x)' },
  syncBytesPerPeerPerMinute: { area: 'network', kind: 'int', arg: 'bytes', doc: 'sync answer bytes sent per peer per minute (an address range: 4x)' },
  blobRequestsPerPeerPerMinute: { area: 'network', kind: 'int', arg: 'n', doc: 'blob requests answered per peer per minute' },
  blobIdleMs: { area: 'network', kind: 'int', arg: 'ms', doc: 'pace window: a blob fetch bringing under 4 KiB/s over it is dropped (no strike)' },
  httpHost: { area: 'http', kind: 'text', arg: 'host', doc: 'status page and API address; anything but loopback is exposed (writes still need the token)' },
  httpPort: { area: 'http', kind: 'int', arg: 'port', doc: 'status page and API port (0 picks a free one)' },
  agent: { area: 'agent', kind: 'text', arg: 'agent', choices: ['builtin', 'command', 'none'], doc: 'research agent: builtin (no LLM), command (a coding agent CLI), none (coordinate only)' },
  agentCommand: { area: 'agent', kind: 'text', arg: 'cmd', doc: 'shell command of the coding agent for --agent command (it edits train.py in its working directory)' },
  profile: { area: 'agent', kind: 'text', arg: 'profile', choices: ['auto', 'cpu', 'gpu', 'gpu-tiny'], doc: 'experiment profile: auto is gpu when a CUDA GPU is found; gpu-tiny is the gpu code path at a CPU\'s size, for tests' },
  maxSteps: { area: 'agent', kind: 'int', arg: 'n', doc: 'end each run after n steps instead of the time budget (demos, tests)', defaultNote: '0: the time budget' },
  maxExperiments: { area: 'agent', kind: 'int', arg: 'n', doc: 'stop researching after n experiments', defaultNote: '0: never' },
  firstSyncWaitMs: { area: 'agent', kind: 'int', arg: 'ms', doc: 'with bootstrap peers, wait this long for a first sync with the swarm before the first experiment (a joining daemon sees the swarm\'s baseline and best first)', defaultNote: '0: do not wait' },
  verifyBeforeAdopt: { area: 'agent', kind: 'bool', doc: 'take part in verification: re-run peers\' better results while fewer than a quorum of verifiers are on one (off: never re-run, adopt only what peers verified; only in a trusted private swarm)' },
  maxVerifyShare: { area: 'agent', kind: 'number', arg: 'share', doc: 'at most this share of this node\'s runs re-runs peers\' results, after a first one (a doubted baseline excepted); past it, the node experiments and adopts what peers verified' },
  adoptOnlyReproducedHere: { area: 'agent', kind: 'bool', doc: 'build only on results this node re-ran itself, re-running every better peer result (the strict, costly mode; by default a quorum of peers with standing suffices)' },
  python: { area: 'runner', kind: 'text', arg: 'path', doc: 'Python interpreter with PyTorch', defaultNote: '"": detect /usr/bin/python3, python3, python' },
  corpus: { area: 'runner', kind: 'text', arg: 'dir', doc: 'the gpu profile\'s corpus from this folder (the same parquet shards, or train.txt and val.txt)', defaultNote: '"": fetch it from its host' },
  corpusManifest: { area: 'runner', kind: 'text', arg: 'file', doc: 'a shard list {"shards": [{path, size, sha256}]} instead of the host\'s listing', defaultNote: '"": the host\'s' },
  corpusHub: { area: 'runner', kind: 'text', arg: 'url', doc: 'where the gpu corpus is fetched from (a mirror serves the same files and checksums)' },
  unsafeNoSandbox: { area: 'runner', kind: 'bool', doc: 'run peers\' train.py even without a working sandbox (bubblewrap): their code can read your files and use the network' },
  unsafeNoCgroup: { area: 'runner', kind: 'bool', doc: 'run peers\' train.py in the sandbox even where no cgroup limits the whole run: their code can use all your memory and processes' },
  runUid: { area: 'runner', kind: 'int', arg: 'uid', doc: 'the uid sandboxed runs take under a root daemon (owns nothing on the host)' },
  runMaxProcesses: { area: 'runner', kind: 'int', arg: 'n', doc: 'processes one run may have at once' },
  runMaxMemoryMb: { area: 'runner', kind: 'int', arg: 'MiB', doc: 'memory of a whole run (at least 1024: the evaluator imports torch under it)', defaultNote: '0: 75 % of RAM' },
  runMaxFileMb: { area: 'runner', kind: 'int', arg: 'MiB', doc: 'largest file a run may write' },
  sandboxTmpfsMb: { area: 'runner', kind: 'int', arg: 'MiB', doc: 'size of each private tmpfs in the sandbox (/tmp, /dev/shm)' },
  runWorkspaceMb: { area: 'runner', kind: 'int', arg: 'MiB', doc: 'size of a sandboxed run\'s workspace (a tmpfs, counted by its memory cgroup)' },
  claimSettleMs: { area: 'claims', kind: 'int', arg: 'ms', doc: 'a new claim waits this long for racing claims before it stands' },
  claimTtlMs: { area: 'claims', kind: 'int', arg: 'ms', doc: 'a claim without a heartbeat expires after this long (at most claimMaxTtlMs)', defaultNote: '0: 3x the run\'s time limit' },
  claimMaxTtlMs: { area: 'claims', kind: 'int', arg: 'ms', doc: 'the longest ttl any claim gets; the same on every node of a swarm', defaultNote: '0: 3x the longest run of the profile' },
  claimMaxLagMs: { area: 'claims', kind: 'int', arg: 'ms', doc: 'a claim arriving later than this after its date ranks by its arrival (keep it at least claimSettleMs)' },
  claimRaceYieldsPerHour: { area: 'claims', kind: 'int', arg: 'n', doc: 'claims an hour this node yields to racers without standing' },
  modelCacheDir: { area: 'claims', kind: 'text', arg: 'dir', doc: 'where the MiniLM model is built once and shared by every data dir of this machine', defaultNote: "'': $XDG_CACHE_HOME/swarmd/models or ~/.cache/swarmd/models" },
  hypothesesPerHour: { area: 'claims', kind: 'int', arg: 'n', doc: 'hypotheses one peer may publish per hour; the same on every node of a swarm' },
  maxActiveClaimsPerPeer: { area: 'claims', kind: 'int', arg: 'n', doc: 'active claims per peer that block others; the same on every node of a swarm' },
  maxActiveClaimsWithoutStanding: { area: 'claims', kind: 'int', arg: 'n', doc: 'active claims of peers without standing that block others, all together' },
  quorum: { area: 'trust', kind: 'int', arg: 'n', doc: 'reproductions by peers with standing that make a peer\'s result trusted' },
  reputationAfter: { area: 'trust', kind: 'int', arg: 'n', doc: 'a peer with this many trusted results needs one reproduction' },
  verifyTolerance: { area: 'trust', kind: 'number', arg: 'bpb', doc: 'largest val_bpb difference a re-run may show and still reproduce', defaultNote: '0: the profile\'s noise floor (cpu 0.01)' }
} as const satisfies Record<keyof Config, SettingSpec>

export type SettingKey = keyof typeof SETTINGS

/** The settings of one area: the `init` its services are built from. */
export type AreaSettings<A extends Area> = { [K in SettingKey as (typeof SETTINGS)[K]['area'] extends A ? K : never]: Config[K] }
export type ConfigByArea = { [A in Area]: AreaSettings<A> }

/** `claimSettleMs` → `--claim-settle-ms`. */
export function flagName (key: SettingKey): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
}

/** `claimSettleMs` → `SWARMD_CLAIM_SETTLE_MS`. */
export function envName (key: SettingKey): string {
  return `SWARMD_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`
}

/** A setting's value from its text (an environment variable); zod checks it afterwards. */
export function parseSettingText (kind: SettingKind, text: string): unknown {
  switch (kind) {
    case 'list': return text.split(',').map((s) => s.trim()).filter((s) => s !== '')
    // Anything else stays text, and the schema refuses it naming the variable: a typo never turns a switch on or off.
    case 'bool': {
      const word = text.trim().toLowerCase()
      return ['1', 'true', 'yes', 'on'].includes(word) ? true : ['0', 'false', 'no', 'off'].includes(word) ? false : text
    }
    case 'int':
    case 'number': return text.trim() === '' ? Number.NaN : Number(text)
    case 'text': return text
  }
}

/** The flat config split by area, each part for the services of that area. */
export function byArea (config: Config): ConfigByArea {
  const out = Object.fromEntries(AREAS.map((area) => [area, {}])) as Record<Area, Record<string, unknown>>
  for (const key of Object.keys(SETTINGS) as SettingKey[]) out[SETTINGS[key].area][key] = config[key]
  return out as unknown as ConfigByArea
}

/** The README's configuration table: every setting by area, with its default, variable and flag. */
export function configTableMarkdown (): string {
  const lines = ['| area | key | default | env | flag | what it does |', '|---|---|---|---|---|---|']
  for (const area of AREAS) {
    for (const key of Object.keys(SETTINGS) as SettingKey[]) {
      const spec: SettingSpec = SETTINGS[key]
      if (spec.area !== area) continue
      const value = JSON.stringify(DEFAULTS[key])
      const shown = spec.defaultNote !== undefined ? `\`${value}\` (${spec.defaultNote})` : `\`${value}\``
      const flag = spec.kind === 'bool' && DEFAULTS[key] === true ? `\`${flagName(key)}\`, \`--no-${flagName(key).slice(2)}\`` : `\`${flagName(key)}\``
      lines.push(`| ${area} | \`${key}\` | ${shown.replace(/\|/g, '\\|')} | \`${envName(key)}\` | ${flag} | ${spec.doc.replace(/\|/g, '\\|')} |`)
    }
  }
  return lines.join('\n') + '\n'
}
