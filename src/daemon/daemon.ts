import { mkdir } from 'node:fs/promises'
import { dataPaths } from '../config/data-dir.js'
import { ApiServer } from '../http/api-server.js'
import { BlobStore } from '../p2p/blob-store.js'
import { loadOrCreateIdentity } from '../p2p/identity.js'
import { SwarmNetwork } from '../p2p/swarm-network.js'
import { SwarmState } from '../state/swarm-state.js'
import { LevelUpdateStore } from '../state/update-store.js'
import { systemClock } from '../util/clock.js'
import { systemRng } from '../util/rng.js'
import { loadOrCreateApiToken } from './api-token.js'
import { removeDaemonInfo, writeDaemonInfo } from './daemon-info.js'
import type { Config } from '../config/config.js'
import type { Identity } from '../p2p/identity.js'
import type { Clock } from '../util/clock.js'
import type { Rng } from '../util/rng.js'

export interface DaemonOptions {
  dataDir: string
  config: Config
  clock?: Clock
  rng?: Rng
  /** Progress and warnings for the operator. Default: stderr. */
  log?: (line: string) => void
}

/**
 * The composition root: builds every service from config, starts them in dependency
 * order (state, network, API) and stops them in reverse.
 */
export class Daemon {
  readonly paths
  private identityValue: Identity | undefined
  private stateValue: SwarmState | undefined
  private networkValue: SwarmNetwork | undefined
  private api: ApiServer | undefined
  private readonly clock: Clock
  private readonly rng: Rng
  private readonly log: (line: string) => void
  private stopping: Promise<void> | undefined
  /** Set once this daemon wrote daemon.json: only then is the file its own to remove. */
  private wroteInfo = false

  constructor (private readonly options: DaemonOptions) {
    this.paths = dataPaths(options.dataDir)
    this.clock = options.clock ?? systemClock
    this.rng = options.rng ?? systemRng()
    this.log = options.log ?? ((line) => { process.stderr.write(line + '\n') })
  }

  get config (): Config { return this.options.config }
  get identity (): Identity { return this.need(this.identityValue) }
  get state (): SwarmState { return this.need(this.stateValue) }
  get network (): SwarmNetwork { return this.need(this.networkValue) }
  get apiUrl (): string { return this.need(this.api).url }

  async start (): Promise<void> {
    const { config } = this.options
    await mkdir(this.paths.root, { recursive: true, mode: 0o700 })
    const identity = await loadOrCreateIdentity(this.paths.identity)
    this.identityValue = identity
    const token = await loadOrCreateApiToken(this.paths.apiToken)

    this.stateValue = new SwarmState({
      store: new LevelUpdateStore(this.paths.state(config.swarm), config.swarm),
      privateKey: identity.privateKey,
      peerId: identity.peerId.toString(),
      clock: this.clock,
      rng: this.rng
    }, { maxClockSkewMs: config.maxClockSkewMs })
    await this.stateValue.start()

    const blobStore = new BlobStore(this.paths.blobs, { maxBlobBytes: config.maxBlobBytes })
    this.networkValue = new SwarmNetwork({ privateKey: identity.privateKey, replica: this.stateValue, blobStore, clock: this.clock, rng: this.rng }, {
      swarm: config.swarm,
      listen: config.listen,
      bootstrap: config.bootstrap,
      mdns: config.mdns,
      maxConnections: config.maxConnections,
      maxIncomingPendingConnections: config.maxIncomingPendingConnections,
      antiEntropyMs: config.antiEntropyMs,
      strikeLimit: config.strikeLimit,
      blockMs: config.blockMs
    })
    await this.networkValue.start()
    const network = this.networkValue
    this.stateValue.on('local-update', (update) => { void network.gossip.publish(update) })

    this.api = new ApiServer({ daemon: this, token, clock: this.clock }, { host: config.httpHost, port: config.httpPort })
    await this.api.start()
    if (!isLoopback(config.httpHost)) this.log(`warning: the API listens on ${config.httpHost}, not loopback; anyone who can reach it can read the status (mutations still need the token)`)

    await writeDaemonInfo(this.paths.daemonInfo, {
      pid: process.pid,
      peerId: identity.peerId.toString(),
      swarm: config.swarm,
      api: this.api.url,
      listen: this.listenAddrs(),
      startedAt: this.clock.now()
    })
    this.wroteInfo = true
  }

  /** Stop everything in reverse order; safe to call twice. */
  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      await this.api?.stop()
      await this.networkValue?.stop()
      await this.stateValue?.stop()
      // A start that failed (e.g. the data dir is in use) must not delete the running daemon's file.
      if (this.wroteInfo) await removeDaemonInfo(this.paths.daemonInfo)
    })()
    return this.stopping
  }

  listenAddrs (): string[] {
    return this.network.libp2p.getMultiaddrs().map((ma) => ma.toString())
  }

  private need<T> (value: T | undefined): T {
    if (value === undefined) throw new Error('daemon is not started')
    return value
  }
}

function isLoopback (host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost'
}
