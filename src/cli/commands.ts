import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { configFromEnv, readConfigFile, resolveConfig, shippedBootstrapPeers } from '../config/config.js'
import { dataPaths } from '../config/data-dir.js'
import { DEFAULTS } from '../config/defaults.js'
import { byArea, configTableMarkdown } from '../config/settings.js'
import { loadOrCreateApiToken } from '../daemon/api-token.js'
import { assertNoRunningDaemon } from '../daemon/daemon-info.js'
import { loadOrCreateIdentity } from '../p2p/identity.js'
import { ApiClient } from './api-client.js'
import { bestReply, blobReply, connectReply, peersReply, resultsReply, statusReply } from '../http/api-contract.js'
import { resultsTsv } from './results-tsv.js'
import { budgetLabel } from '../claims/budget.js'
import { existingFile, readUserFile, writeUserFile } from './user-files.js'
import { CliError, EXIT } from './exit-codes.js'
import { SwarmdError } from '../util/errors.js'
import { sha256Hex } from '../util/hash.js'
import type { PartialConfig } from '../config/config.js'
import type { ResultJson } from '../http/api-contract.js'
import type { Daemon } from '../daemon/daemon.js'
import type { DaemonLog } from '../daemon/daemon-log.js'

type Print = (line: string) => void

export async function initCommand (dataDir: string, print: Print): Promise<void> {
  const paths = dataPaths(dataDir)
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const identity = await loadOrCreateIdentity(paths.identity)
  await loadOrCreateApiToken(paths.apiToken)
  const existing = await readFile(paths.config, 'utf8').catch(() => undefined)
  if (existing === undefined) {
    const starter = { listen: DEFAULTS.listen, bootstrap: [], httpPort: DEFAULTS.httpPort, mdns: DEFAULTS.mdns, swarm: DEFAULTS.swarm }
    await writeFile(paths.config, JSON.stringify(starter, null, 2) + '\n')
  } else {
    await readConfigFile(paths.config)
  }
  print(`${identity.created ? 'created' : 'kept'} identity ${identity.peerId.toString()}`)
  print(`data dir ${dataDir} (config: ${paths.config})`)
  print('next: swarmd start')
}

export interface StartFlags extends PartialConfig {}

/**
 * The configuration `swarmd start` would run with here (defaults < config.json < SWARMD_*), by
 * area; `table`: every setting as the README's markdown table.
 */
export async function configCommand (dataDir: string, opts: { table: boolean }, print: Print): Promise<void> {
  if (opts.table) return print(configTableMarkdown().trimEnd())
  const paths = dataPaths(dataDir)
  const config = resolveConfig({ file: await readConfigFile(paths.config), env: configFromEnv(), flags: {}, shippedBootstrap: await shippedBootstrapPeers() })
  print(JSON.stringify(byArea(config), null, 2))
}

/** A started daemon and its log (the CLI logs its own lines, such as the stop, there too). */
export interface Started {
  daemon: Daemon
  log: DaemonLog
}

/**
 * Start the daemon for `dataDir`; its log lines go to `<data dir>/logs/swarmd.log` as JSON and to
 * `print`, human (time, level, message) when `human` (stdout is a TTY), else the message alone.
 */
export async function startCommand (dataDir: string, flags: StartFlags, print: Print, opts: { human?: boolean } = {}): Promise<Started> {
  const paths = dataPaths(dataDir)
  await assertNoRunningDaemon(paths.daemonInfo)
  const config = resolveConfig({
    file: await readConfigFile(paths.config),
    env: configFromEnv(),
    flags,
    shippedBootstrap: await shippedBootstrapPeers()
  })
  // Loaded here, not at the top: the other commands stay quick without the libp2p stack.
  const { Daemon } = await import('../daemon/daemon.js')
  const { DaemonLog } = await import('../daemon/daemon-log.js')
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const log = new DaemonLog({ file: paths.logFile, echo: print, human: opts.human === true })
  const daemon = new Daemon({ dataDir, config, log: log.log })
  try {
    await daemon.start()
  } catch (err) {
    log.record('error', `start failed: ${err instanceof Error ? err.message : String(err)}`)
    await daemon.stop().catch(() => {})
    log.close()
    throw err
  }
  log.log(`swarmd ${daemon.identity.peerId.toString()} in swarm "${config.swarm}"`)
  for (const addr of daemon.listenAddrs()) log.log(`  listening ${addr}`)
  log.log(`  status page ${daemon.apiUrl}/ (Prometheus metrics at ${daemon.apiUrl}/metrics)`)
  log.log(`  bootstrap peers: ${config.bootstrap.length === 0 ? 'none (use --bootstrap or mDNS to find others)' : config.bootstrap.length}`)
  log.log(`  log ${paths.logFile} (\`swarmd logs --follow\`)`)
  // One line, last of the start-up, that scripts can wait for.
  log.log(`ready ${daemon.apiUrl}`)
  return { daemon, log }
}

export async function statusCommand (dataDir: string, json: boolean, print: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const status = await client.getJson('/api/status', statusReply)
  if (json) return print(JSON.stringify(status, null, 2))
  print(`peer     ${status.peerId}`)
  print(`swarm    ${status.swarm}`)
  print(`listen   ${status.listen.join(' ')}`)
  print(`reach    ${describeReachability(status.reachability, status.relays)}`)
  print(`peers    ${status.peers.length} connected (${describePaths(status.peers)}), ${status.topicPeers} on the swarm topic`)
  const reached = status.bootstrap.filter((b) => b.connected).length
  if (status.bootstrap.length > 0) print(`bootstrap ${reached} of ${status.bootstrap.length} reached${status.bootstrap.filter((b) => !b.connected && b.failures > 0).map((b) => `; ${b.addr} not reached after ${b.failures} tries (${b.lastError ?? 'no answer'})`).join('')}`)
  print(`records  ${Object.entries(status.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  const r = status.research
  const running = r.current === null ? '' : `; running "${r.current.description}" at step ${r.current.step}`
  print(`research ${r.agent === 'none' ? 'none (coordination only)' : `${r.agent} agent, ${r.profile} profile, tier ${r.tier}, ${r.stats?.experiments ?? 0} experiments${running}`}`)
  const own = status.self
  print(`work     ${own.runs} runs (${own.keeps} kept, ${own.discards} discarded, ${own.crashes} crashed), ${own.verifications} peers' results re-run, ${own.gpuHours.toFixed(1)} GPU hours; up ${upTime(status.time - status.startedAt)}`)
  for (const a of status.arenas) {
    const best = a.best === null ? 'no trusted result yet' : `${a.best.valBpb?.toFixed(6) ?? '?'} "${a.best.description}" by ${a.best.author === status.peerId ? 'this node' : a.best.author}${a.reproducedBy.length > 0 ? `, reproduced by ${a.reproducedBy.length}` : ''}`
    print(`best     ${a.tier}, ${a.budget} (${a.results} results): ${best}`)
  }
  print(`refused  ${status.rejections.reject} rejected, ${status.rejections.ignore} ignored; ${status.blocked.length} peers blocked`)
  for (const problem of status.problems) print(`problem  ${problem}`)
  print(`page     ${client.info.api}/`)
}

export async function peersCommand (dataDir: string, json: boolean, print: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const { peers } = await client.getJson('/api/peers', peersReply)
  if (json) return print(JSON.stringify(peers, null, 2))
  if (peers.length === 0) return print('no peers connected')
  for (const p of peers) print(`${p.peerId}  ${p.addr}  ${p.direction}  ${p.path}  ${p.latencyMs === null ? 'rtt -' : `rtt ${p.latencyMs} ms`}${p.connections > 1 ? `  (${p.connections} connections)` : ''}`)
}

/** 3,700,000 ms as "1 h 1 min". */
function upTime (ms: number): string {
  const minutes = Math.floor(ms / 60_000)
  if (minutes < 60) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} d ${hours % 24} h`
}

function describeReachability (reachability: 'public' | 'unconfirmed' | 'relayed' | 'private', relays: { holding: string[], serving: boolean }): string {
  const how = reachability === 'public'
    ? 'public: peers dial this node directly'
    : reachability === 'unconfirmed'
      ? 'a public address no peer has dialled back yet (if it stays so, a firewall may block the p2p port)'
      : reachability === 'relayed'
      ? `behind NAT, reachable through ${relays.holding.length} relay${relays.holding.length === 1 ? '' : 's'}`
      : 'private: only peers on this network (or that this node dials) reach it; no relay slot yet'
  return relays.serving ? `${how}; relaying for peers behind NAT` : how
}

function describePaths (peers: Array<{ path: 'direct' | 'relayed' | 'hole-punched' }>): string {
  const count = (path: string): number => peers.filter((p) => p.path === path).length
  return `${count('direct')} direct, ${count('relayed')} relayed, ${count('hole-punched')} hole-punched`
}

export async function connectCommand (dataDir: string, addr: string, print: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const { peerId, member } = await client.postJson('/api/connect', { addr }, connectReply)
  if (!member) throw new CliError(EXIT.FAILURE, 'CONNECT_NOT_MEMBER', `connected to ${peerId} at ${addr}, but it does not serve this swarm: a daemon of another swarm (--swarm), or not swarmd; check the address`)
  print(`connected to ${peerId}`)
}

export async function blobAddCommand (dataDir: string, file: string, print: Print): Promise<void> {
  const bytes = await readUserFile(file, 'the file to add')
  const client = await ApiClient.forDataDir(dataDir)
  const { hash } = await client.postBytes('/api/blobs', bytes, blobReply)
  print(hash)
}

export async function blobGetCommand (dataDir: string, hash: string, out: string | undefined, write: (bytes: Uint8Array) => void): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const bytes = await client.getBytes(`/api/blobs/${encodeURIComponent(hash)}`)
  if (out !== undefined) await writeUserFile(out, bytes, 'the blob to')
  else write(bytes)
}

export async function resultsCommand (dataDir: string, opts: { json: boolean, frontier: boolean }, print: Print): Promise<void> {
  const json = opts.json
  const client = await ApiClient.forDataDir(dataDir)
  const { results } = await client.getJson(`/api/results${opts.frontier ? '?frontier=1' : ''}`, resultsReply)
  if (json) return print(JSON.stringify(results, null, 2))
  if (results.length === 0) return print('no results yet')
  for (const r of results) {
    const score = r.metrics === null ? `crash (${r.crash?.reason ?? '?'})` : r.metrics.val_bpb.toFixed(4)
    const parent = r.parent === null ? 'default' : r.parent.slice(0, 12)
    print(`${r.id.slice(0, 12)}  on ${parent.padEnd(12)}  ${score.padEnd(10)} ${r.status.padEnd(8)} ${r.hardware.tier.padEnd(6)} ${budgetLabel(r.maxSteps).padEnd(11)} ${r.author.slice(-8)}  ${r.description}`)
  }
}

export async function bestCommand (dataDir: string, opts: { tier?: string, json: boolean, pull?: string, force?: boolean }, print: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const query = opts.tier !== undefined ? `?tier=${encodeURIComponent(opts.tier)}` : ''
  const { tier, budget, best } = await client.getJson(`/api/best${query}`, bestReply)
  if (best === null) throw new SwarmdError('RESULT_NOT_FOUND', `no trusted result on tier ${tier} at ${budget} yet: start from the harness's train.py (claims build on it until there is a best), or let the daemon run an experiment first`)
  if (opts.pull !== undefined) {
    const bytes = await client.getBytes(`/api/blobs/${best.codeHash}`)
    // Adoption checks the source against the hash the result names.
    if (sha256Hex(bytes) !== best.codeHash) throw new SwarmdError('BLOB_HASH_MISMATCH', `the source of ${best.id} does not match its hash; not written`)
    if (opts.force !== true) await refuseLocalEdits(client, opts.pull, bytes)
    await writeUserFile(opts.pull, bytes, 'the best train.py to')
  }
  if (opts.json) return print(JSON.stringify(best, null, 2))
  print(`best on ${tier}, ${budgetLabel(best.maxSteps)}: val_bpb ${best.metrics!.val_bpb.toFixed(6)}  ${best.description}  (result ${best.id.slice(0, 12)}, source ${best.codeHash.slice(0, 12)})`)
  if (opts.pull !== undefined) print(`wrote ${opts.pull}`)
}

/**
 * `best --pull FILE` over a file that holds work of the user's own: refused unless --force. A file
 * that is some result's source (an earlier pull, the harness's train.py once run) is no one's edits.
 */
async function refuseLocalEdits (client: ApiClient, file: string, incoming: Uint8Array): Promise<void> {
  const held = await existingFile(file)
  if (held === undefined || held.equals(incoming)) return
  const { results } = await client.getJson(`/api/results?codeHash=${sha256Hex(held)}`, resultsReply)
  if (results.length > 0) return
  throw new CliError(EXIT.USAGE, 'CLI_LOCAL_EDITS', `${file} holds edits that no result in the swarm has (not an earlier pull); pass --force to overwrite it, or --pull another file`)
}

/**
 * `swarmd export [FILE]`: the results as autoresearch's results.tsv. With `git`, the lineage
 * repository there is brought up to date first (progress on `progress`) and the commit column
 * holds its commit ids; results it cannot hold yet (parent or source not here) are left out.
 */
export async function exportCommand (dataDir: string, out: string | undefined, opts: { git?: string }, print: Print, progress: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  let results: ResultJson[]
  let commitOf: ((r: ResultJson) => string | undefined) | undefined
  if (opts.git === undefined) {
    results = (await client.getJson('/api/results', resultsReply)).results
  } else {
    const { syncLineage } = await import('./git-command.js')
    const sync = await syncLineage(client, dataDir, opts.git, progress)
    results = sync.results
    commitOf = (r) => sync.commits.get(r.id)
    const left = results.filter((r) => !sync.commits.has(r.id)).length
    if (left > 0) progress(`${left} results are not in ${sync.dir} yet (their parent or source has not reached this daemon) and are left out`)
  }
  const tsv = resultsTsv(results, commitOf)
  if (out === undefined) return print(tsv.trimEnd())
  await writeUserFile(out, tsv, 'the export to')
  print(`wrote ${tsv.split('\n').length - 2} results to ${out}`)
}
