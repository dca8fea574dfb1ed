import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { SwarmdError } from '../util/errors.js'
import { DEFAULTS } from './defaults.js'
import { SETTINGS, envName, flagName, parseSettingText } from './settings.js'
import type { SettingKey } from './settings.js'

/** The least memory limit a run can work under, in MiB: torch alone needs about 512 MiB. */
export const MIN_RUN_MEMORY_MB = 1024

const multiaddrText = z.string().refine((text) => {
  try {
    multiaddr(text)
    return true
  } catch {
    return false
  }
}, { message: 'not a multiaddr' })

const bootstrapAddr = multiaddrText.refine((text) => text.includes('/p2p/'), { message: 'a bootstrap address must end in /p2p/<peerId>' })

/** Every setting a daemon reads; all optional in files and env, filled from DEFAULTS. */
export const configSchema = z.strictObject({
  listen: z.array(multiaddrText).min(1),
  bootstrap: z.array(bootstrapAddr),
  httpHost: z.string().min(1),
  httpPort: z.number().int().min(0).max(65535),
  mdns: z.boolean(),
  relay: z.enum(['auto', 'on', 'off']),
  relayMaxReservations: z.number().int().min(1).max(10_000),
  relayMaxBytes: z.number().int().min(64 * 1024),
  relayMaxDurationMs: z.number().int().min(1000),
  relayBytesPerRangePerHour: z.number().int().min(64 * 1024),
  relayBytesPerHour: z.number().int().min(64 * 1024),
  upnp: z.boolean(),
  swarm: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'swarm names are lowercase letters, digits and dashes'),
  agent: z.enum(['none', 'builtin', 'command']),
  agentCommand: z.string(),
  profile: z.enum(['auto', 'cpu', 'gpu', 'gpu-tiny']),
  python: z.string(),
  corpus: z.string(),
  corpusManifest: z.string(),
  corpusHub: z.string().url().refine((u) => /^https?:\/\//.test(u), 'an http(s) URL'),
  maxSteps: z.number().int().min(0),
  maxExperiments: z.number().int().min(0),
  firstSyncWaitMs: z.number().int().min(0),
  maxConnections: z.number().int().min(1),
  maxIncomingPendingConnections: z.number().int().min(1),
  antiEntropyMs: z.number().int().min(100),
  syncIdleMs: z.number().int().min(100),
  maxClockSkewMs: z.number().int().min(0),
  maxBytesPerAuthor: z.number().int().min(1024 * 1024),
  strikeLimit: z.number().int().min(1),
  blockMs: z.number().int().min(0),
  maxBlobBytes: z.number().int().min(1),
  claimSettleMs: z.number().int().min(0).max(60_000),
  claimMaxLagMs: z.number().int().min(0).max(3600_000),
  claimTtlMs: z.number().int().min(0).max(24 * 3600_000),
  claimMaxTtlMs: z.number().int().min(0).max(24 * 3600_000),
  claimRaceYieldsPerHour: z.number().int().min(0),
  hypothesesPerHour: z.number().int().min(1),
  modelCacheDir: z.string(),
  maxActiveClaimsPerPeer: z.number().int().min(1),
  maxActiveClaimsWithoutStanding: z.number().int().min(0),
  quorum: z.number().int().min(1).max(20),
  reputationAfter: z.number().int().min(1),
  verifyTolerance: z.number().min(0).max(10),
  verifyBeforeAdopt: z.boolean(),
  adoptOnlyReproducedHere: z.boolean(),
  maxVerifyShare: z.number().gt(0).max(1),
  gossipRecordsPerPeerPerMinute: z.number().int().min(1),
  gossipRecordsPerLinkPerMinute: z.number().int().min(1),
  gossipBytesPerLinkPerMinute: z.number().int().min(1024 * 1024),
  syncRequestsPerPeerPerMinute: z.number().int().min(1),
  syncBytesPerPeerPerMinute: z.number().int().min(1024 * 1024),
  gossipIpColocationThreshold: z.number().int().min(1),
  maxPendingPerIp: z.number().int().min(1),
  maxPendingPerRange: z.number().int().min(1),
  inboundUpgradeTimeoutMs: z.number().int().min(500).max(120_000),
  unsafeNoSandbox: z.boolean(),
  unsafeNoCgroup: z.boolean(),
  runUid: z.number().int().min(1).max(2 ** 31 - 2),
  runMaxProcesses: z.number().int().min(16),
  runMaxMemoryMb: z.number().int().refine((mb) => mb === 0 || mb >= MIN_RUN_MEMORY_MB, { message: `0 (75 % of RAM) or at least ${MIN_RUN_MEMORY_MB}: every run's harness evaluator imports torch under the same limit, which alone needs about 512 MiB` }),
  runMaxFileMb: z.number().int().min(0),
  sandboxTmpfsMb: z.number().int().min(1),
  runWorkspaceMb: z.number().int().min(16),
  blobRequestsPerPeerPerMinute: z.number().int().min(1),
  blobIdleMs: z.number().int().min(100)
})

export type Config = z.infer<typeof configSchema>
export type PartialConfig = Partial<Config>

/** Every problem at once, each named as the user wrote it (a key, a `SWARMD_*` variable): fixing one to meet the next wastes starts. */
function invalid (where: string, err: z.ZodError, nameOf: (key: string) => string = (key) => key): SwarmdError {
  const problems = err.issues.map((issue) => {
    const path = issue.path.map((p, i) => (i === 0 ? nameOf(String(p)) : String(p))).join('.')
    return `${path === '' ? '' : `${path}: `}${issue.message}`
  })
  return new SwarmdError('CONFIG_INVALID', `${where}: ${problems.length === 0 ? 'invalid' : problems.join('; ')}`)
}

/** Read `config.json` of a data dir; a missing file is an empty config. */
export async function readConfigFile (path: string): Promise<PartialConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new SwarmdError('CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new SwarmdError('CONFIG_INVALID', `${path} is not valid JSON; fix it or delete it to use the defaults`)
  }
  const parsed = configSchema.partial().safeParse(json)
  if (!parsed.success) throw invalid(path, parsed.error)
  return parsed.data
}

/** Settings from `SWARMD_*` environment variables: one per setting (src/config/settings.ts), lists comma-separated. */
export function configFromEnv (env: NodeJS.ProcessEnv = process.env): PartialConfig {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(SETTINGS) as SettingKey[]) {
    const text = env[envName(key)]
    if (text !== undefined) out[key] = parseSettingText(SETTINGS[key].kind, text)
  }
  const parsed = configSchema.partial().safeParse(out)
  if (!parsed.success) throw invalid('environment (SWARMD_*)', parsed.error, (key) => envName(key as SettingKey))
  return parsed.data
}

/** The bootstrap list shipped with swarmd (`bootstrap-peers.json` at the package root). */
export async function shippedBootstrapPeers (path = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bootstrap-peers.json')): Promise<string[]> {
  let json: unknown
  try {
    json = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new SwarmdError('CONFIG_INVALID', `cannot read the bootstrap list ${path}: ${(err as Error).message}`)
  }
  const parsed = z.strictObject({ version: z.literal(1), peers: z.array(bootstrapAddr) }).safeParse(json)
  if (!parsed.success) throw invalid(path, parsed.error)
  return parsed.data.peers
}

/**
 * defaults < config file < environment < flags. Bootstrap peers add up: the shipped
 * list plus every layer's own.
 */
export function resolveConfig (layers: { file: PartialConfig, env: PartialConfig, flags: PartialConfig, shippedBootstrap: string[] }): Config {
  // The flags on their own first, so a bad one is named as typed (`--listen`), not as a config key.
  const flags = configSchema.partial().safeParse(layers.flags)
  if (!flags.success) throw invalid('flags', flags.error, (key) => flagName(key as SettingKey))
  const merged = { ...DEFAULTS, ...layers.file, ...layers.env, ...layers.flags }
  merged.bootstrap = [...new Set([
    ...layers.shippedBootstrap,
    ...(layers.file.bootstrap ?? []),
    ...(layers.env.bootstrap ?? []),
    ...(layers.flags.bootstrap ?? [])
  ])]
  const parsed = configSchema.safeParse(merged)
  if (!parsed.success) throw invalid('configuration', parsed.error)
  if (parsed.data.agent === 'command' && parsed.data.agentCommand.trim() === '') {
    throw new SwarmdError('CONFIG_INVALID', 'configuration: agent "command" needs agentCommand (--agent-command "…"), the coding agent to run')
  }
  return parsed.data
}
