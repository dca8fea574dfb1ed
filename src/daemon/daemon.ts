import { mkdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { dataPaths } from '../config/data-dir.js'
import { ApiServer } from '../http/api-server.js'
import { SwarmdMetrics } from '../http/metrics.js'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { BlobStore, parseBlobHash } from '../p2p/blob-store.js'
import { loadOrCreateIdentity } from '../p2p/identity.js'
import { MISBEHAVING_PEER_SCORE, STRIKE_SCORE } from '../p2p/gossip-score.js'
import { SwarmNetwork } from '../p2p/swarm-network.js'
import { cachedCorpus, climbmixAt, corpusIdentity, fetchWebCorpus, localCorpus, readShardList } from '../corpus/web-corpus.js'
import { progressPrinter } from '../corpus/progress.js'
import { RECORD_FORMAT } from '../state/records.js'
import { SwarmState } from '../state/swarm-state.js'
import { LevelUpdateStore } from '../state/update-store.js'
import { systemClock } from '../util/clock.js'
import { systemRng } from '../util/rng.js'
import { BuiltinProposer, frozenFor } from '../agent/builtin-proposer.js'
import { CommandProposer } from '../agent/command-proposer.js'
import { ClaimJournal } from '../agent/claim-journal.js'
import { ResearchLoop } from '../agent/research-loop.js'
import { runEta } from '../agent/run-progress.js'
import type { CurrentRun } from '../agent/research-loop.js'
import { ClaimBook } from '../claims/claim-book.js'
import { ResearchLedger } from '../claims/research-ledger.js'
import { ResultPublisher } from '../claims/publish.js'
import { HypothesisBook } from '../claims/hypotheses.js'
import { LazyEmbedder } from '../embedding/lazy-embedder.js'
import { SemanticDedup } from '../claims/semantic.js'
import { SemanticWarmer } from '../claims/semantic-warmer.js'
import { createWorkerEmbedder } from '../embedding/worker-embedder.js'
import { modelCacheDir } from '../embedding/model-cache-dir.js'
import { TrustLedger } from '../trust/trust-ledger.js'
import { sha256Hex } from '../util/hash.js'
import { ExecaExperimentRunner } from '../runner/experiment-runner.js'
import { DEFAULT_HARNESS_DIR, PROFILE_BUDGET_S, corpusDir, harnessId, killAfterMs, usesWebCorpus } from '../runner/harness.js'
import { SwarmdError } from '../util/errors.js'
import { findPython } from '../runner/python.js'
import { detectBubblewrap } from '../runner/sandbox.js'
import { describeCgroups, detectCgroups } from '../runner/cgroup.js'
import { describeConfinement } from '../runner/confinement.js'
import type { Confinement } from '../runner/confinement.js'
import { tierOf } from '../runner/tier.js'
import { loadOrCreateApiToken } from './api-token.js'
import { removeDaemonInfo, writeDaemonInfo } from './daemon-info.js'
import { byArea } from '../config/settings.js'
import { deriveSettings } from './derived-settings.js'
import type { Config } from '../config/config.js'
import type { ConfigByArea } from '../config/settings.js'
import type { DerivedSettings } from './derived-settings.js'
import type { SourceBlobs } from '../claims/claim-request.js'
import type { Identity } from '../p2p/identity.js'
import type { ExperimentRunner } from '../runner/experiment-runner.js'
import type { Profile } from '../runner/harness.js'
import type { CorpusManifest, CorpusProgress } from '../corpus/web-corpus.js'
import type { PythonInfo } from '../runner/python.js'
import type { EnvironmentBody } from '../state/record-kinds.js'
import type { Tier } from '../state/record-kinds.js'
import type { ApiServices, CurrentRunView, ResearchStatus } from '../http/api-ports.js'
import type { Clock } from '../util/clock.js'
import type { Rng } from '../util/rng.js'


export interface DaemonOptions {
  dataDir: string
  config: Config
  clock?: Clock
  rng?: Rng
  /** Progress and warnings for the operator. Default: stderr. */
  log?: (line: string) => void
  /** The experiment harness (prepare.py, train.py). Default: the one shipped in train/. */
  harnessDir?: string
  /**
   * Experiments through this runner instead of Python (bench:swarm's surrogate training): no
   * Python probe, no sandbox or cgroup, the agent runs as configured. Never set by `swarmd start`.
   */
  experiments?: InjectedExperiments
}

/** A runner standing in for Python's, and what results record as the environment it ran in. */
export interface InjectedExperiments {
  runner: ExperimentRunner
  environment: EnvironmentBody
  /** Build only on this node's own results, using the swarm for claims alone (bench:swarm's claims-only policy). Default false. */
  ownResultsOnly?: boolean
}

/** What this daemon researches on: profile, tier, harness, hardware. */
export interface ResearchSetup {
  profile: Profile
  tier: Tier
  harness: string
  /** The swarm key on the wire: name, profile, harness and (web corpus profiles) the corpus' identity together. */
  swarmKey: string
  /** The web corpus the harness trains and evaluates on (gpu profiles); undefined on cpu. */
  corpus: CorpusManifest | undefined
  hardware: { gpu: string, vramGb: number }
  /** What results and verifications record beside the hardware (src/trust keys standing by it); none without python. */
  environment: EnvironmentBody | undefined
  python: PythonInfo | undefined
  agent: 'none' | 'builtin' | 'command'
}

/** Whether a listen failed because the port is taken (libp2p reports it inside its own message). */
function inUse (err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE' || (err instanceof Error && err.message.includes('EADDRINUSE'))
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
  private researchValue: ResearchSetup | undefined
  private runnerValue: ExperimentRunner | undefined
  private confinementValue: Confinement | undefined
  private loopsValue: ResearchLoop[] = []
  private embedder: LazyEmbedder | undefined
  private warmer: SemanticWarmer | undefined
  private ledgerValue: ResearchLedger | undefined
  private claimsValue: ClaimBook | undefined
  private hypothesesValue: HypothesisBook | undefined
  private trustValue: TrustLedger | undefined
  private publisherValue: ResultPublisher | undefined
  private defaultSourceValue: string | undefined
  private derivedValue: DerivedSettings | undefined
  /** The config by area: each part the configuration of its services. */
  private readonly settings: ConfigByArea
  private readonly clock: Clock
  private readonly rng: Rng
  private readonly log: (line: string) => void
  /** What keeps this node from working fully, in words, for the status page. */
  private readonly problemsFound: string[] = []
  private readonly startedAt: number
  private stopping: Promise<void> | undefined
  /** Set once this daemon wrote daemon.json: only then is the file its own to remove. */
  private wroteInfo = false
  /** The claims the research loops run under, for `releaseInterruptedClaims` after a crash. */
  private readonly claimJournal: ClaimJournal
  /** `GET /metrics`: this daemon's registry (swarmd's, libp2p's and Node's metrics). */
  readonly metrics = new SwarmdMetrics()

  constructor (private readonly options: DaemonOptions) {
    this.paths = dataPaths(options.dataDir)
    this.claimJournal = new ClaimJournal(this.paths.ownClaims)
    this.settings = byArea(options.config)
    this.clock = options.clock ?? systemClock
    this.startedAt = this.clock.now()
    this.rng = options.rng ?? systemRng()
    this.log = options.log ?? ((line) => { process.stderr.write(line + '\n') })
  }

  get config (): Config { return this.options.config }
  get identity (): Identity { return this.need(this.identityValue) }
  get state (): SwarmState { return this.need(this.stateValue) }
  get network (): SwarmNetwork { return this.need(this.networkValue) }
  get apiUrl (): string { return this.need(this.api).url }
  get research (): ResearchSetup { return this.need(this.researchValue) }
  /** Claims: dedup, settle window, heartbeats, release (also the agent API's). */
  get claims (): ClaimBook { return this.need(this.claimsValue) }
  get hypotheses (): HypothesisBook { return this.need(this.hypothesesValue) }
  /** Which results this node trusts: its own, and those reproduced by itself or by peers with standing. */
  get trust (): TrustLedger { return this.need(this.trustValue) }
  /** The one way a result enters the swarm, for the research loops and the agent API. */
  get publisher (): ResultPublisher { return this.need(this.publisherValue) }
  /** The harness's default train.py: the baseline before any result. */
  get defaultSource (): string { return this.need(this.defaultSourceValue) }
  /** The settings whose 0 meant "derive it", resolved for this daemon's profile. */
  get derived (): DerivedSettings { return this.need(this.derivedValue) }
  /** The runner the research loops share, sandboxed where bubblewrap works; undefined when no agent runs. */
  get runner (): ExperimentRunner | undefined { return this.runnerValue }
  /** What confines peers' code on this machine; undefined when no agent runs experiments. */
  get confinement (): Confinement | undefined { return this.confinementValue }
  /** The research loops, one per GPU (one on CPU); empty when no agent runs. */
  get loops (): ResearchLoop[] { return this.loopsValue }
  get harnessDir (): string { return this.options.harnessDir ?? DEFAULT_HARNESS_DIR }

  async start (): Promise<void> {
    const { network, http } = this.settings
    await mkdir(this.paths.root, { recursive: true, mode: 0o700 })
    const identity = await loadOrCreateIdentity(this.paths.identity)
    this.identityValue = identity
    const token = await loadOrCreateApiToken(this.paths.apiToken)
    // The status page first: fetching the gpu corpus can take minutes, and the page shows its progress.
    this.api = new ApiServer({ token, clock: this.clock, metrics: this.metrics }, { host: http.httpHost, port: http.httpPort, maxBodyBytes: 2 * network.maxBlobBytes + 64 * 1024 })
    await this.api.start().catch((err: unknown) => {
      throw inUse(err) ? new SwarmdError('PORT_IN_USE', `the HTTP port ${http.httpPort} on ${http.httpHost} is in use (another swarmd on this host?): pass --http-port 0 for a free one, or another port (SWARMD_HTTP_PORT, "httpPort" in config.json)`) : err
    })
    if (!isLoopback(http.httpHost)) this.log(`warning: the API listens on ${http.httpHost}, not loopback; anyone who can reach it can read the status (mutations still need the token)`)
    const research = await this.detectResearch()
    this.researchValue = research
    this.derivedValue = deriveSettings(this.options.config, research.profile)
    this.defaultSourceValue = await readFile(join(this.harnessDir, 'train.py'), 'utf8')

    this.stateValue = new SwarmState({
      // Each record format keeps its own state: a peer of this format would refuse the records of another.
      store: new LevelUpdateStore(this.paths.state(`${research.swarmKey}-r${RECORD_FORMAT}`), research.swarmKey),
      privateKey: identity.privateKey,
      peerId: identity.peerId.toString(),
      clock: this.clock,
      rng: this.rng,
      // Peers with standing here (a result of theirs reproduced) store without a quota, as this node does.
      exemptFromQuota: (author) => this.trustValue?.state.standing.has(author) === true
    }, { maxClockSkewMs: network.maxClockSkewMs, maxBytesPerAuthor: network.maxBytesPerAuthor })
    await this.stateValue.start()
    this.startClaims(research)

    const blobStore = new BlobStore(this.paths.blobs, { maxBlobBytes: network.maxBlobBytes })
    // libp2p's own metrics (connections, streams, protocols' bytes) and Node's process metrics, in
    // this daemon's registry. The package keeps a process-wide cache of metrics by name, emptied
    // by each new instance (preserveExistingMetrics false): in a process with several daemons
    // (tests, benches) a metric libp2p registers late may land in the newest daemon's registry;
    // one daemon per process (`swarmd start`) is exact. It also clears prom-client's global
    // registry, which swarmd never uses.
    const libp2pMetrics = prometheusMetrics({ registry: this.metrics.registry, statfsLocation: this.paths.root })
    this.networkValue = new SwarmNetwork({
      privateKey: identity.privateKey,
      replica: this.stateValue,
      blobStore,
      clock: this.clock,
      rng: this.rng,
      appScore: (peer) => this.appScore(peer),
      log: this.log,
      onRejection: (rejection) => { this.metrics.rejection(rejection) },
      libp2pMetrics
    }, {
      ...network,
      swarm: research.swarmKey,
      blocklistPath: this.paths.blocklist
    })
    await this.networkValue.start().catch((err: unknown) => {
      throw inUse(err) ? new SwarmdError('PORT_IN_USE', `a p2p listen address (${network.listen.join(', ')}) is in use (another swarmd on this host?): pass --listen /ip4/0.0.0.0/tcp/0 for a free port, or another port (SWARMD_LISTEN, "listen" in config.json)`) : err
    })
    const swarmNetwork = this.networkValue
    this.stateValue.on('local-update', (update) => { void swarmNetwork.gossip.publish(update) })
    // Equivocation evidence (found here or by any peer) blocks its author on this node too.
    for (const author of this.stateValue.convicted()) swarmNetwork.banAuthor(author)
    this.stateValue.on('convicted', (author) => { swarmNetwork.banAuthor(author) })

    await this.releaseInterruptedClaims()
    if (research.agent !== 'none') await this.startResearch(research)
    const services = this.apiServices()
    this.metrics.serve(services)
    this.api.serve(services)

    await writeDaemonInfo(this.paths.daemonInfo, {
      pid: process.pid,
      peerId: identity.peerId.toString(),
      swarm: network.swarm,
      api: this.api.url,
      listen: this.listenAddrs(),
      startedAt: this.clock.now()
    })
    this.wroteInfo = true
  }

  /**
   * Stop everything, each part after what feeds it: the research loops, the API (it listens from
   * the start, for the start-up's progress, but takes no request once stopping), the network, then
   * the claims' ledger and embedder that gossip and the API fed, and the state last. Safe to call twice.
   */
  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(this.loopsValue.map(async (loop) => loop.stop()))
      await this.api?.stop()
      await this.networkValue?.stop()
      this.warmer?.stop()
      this.ledgerValue?.close()
      await this.embedder?.close()
      await this.stateValue?.stop()
      // A start that failed (e.g. the data dir is in use) must not delete the running daemon's file.
      if (this.wroteInfo) await removeDaemonInfo(this.paths.daemonInfo)
    })()
    return this.stopping
  }

  /**
   * The gpu profiles' corpus: from `--corpus DIR`, else what an earlier fetch left (no network
   * needed), else fetched now from its host (resumable, each shard checked against the sha256 the
   * host publishes), with progress in the log.
   */
  private async webCorpus (): Promise<CorpusManifest> {
    const config = this.settings.runner
    const dir = this.paths.webCorpus
    const print = progressPrinter(false, (text) => { this.log(text.trimEnd()) })
    const progress = (event: CorpusProgress): void => {
      print(event)
      if (event.phase === 'ready') return
      this.api?.reportStartup({ phase: 'corpus', corpus: event })
    }
    const spec = climbmixAt(config.corpusHub)
    if (config.corpus !== '') return await localCorpus(spec, config.corpus, dir, { onProgress: progress })
    if (config.corpusManifest === '') {
      const cached = await cachedCorpus(dir)
      if (cached !== undefined) return cached
    }
    this.log(`fetching the gpu profile's corpus into ${dir} (once; \`swarmd corpus fetch\` does it ahead of time); progress on ${this.apiUrl}/`)
    return await fetchWebCorpus(spec, dir, { onProgress: progress, ...(config.corpusManifest !== '' ? { shards: await readShardList(config.corpusManifest) } : {}) })
  }

  /** Profile, tier and harness; probes Python only when an agent will run experiments. */
  private async detectResearch (): Promise<ResearchSetup> {
    const { agent: config, runner, network } = this.settings
    let agent = config.agent
    let python: PythonInfo | undefined
    const injected = this.options.experiments
    if (agent !== 'none' && injected === undefined) {
      python = await findPython(runner.python)
      if (python === undefined) {
        this.problem('no Python with PyTorch: this node runs no experiments (`swarmd doctor` says what to install)')
        this.log('warning: no Python with PyTorch found, so this daemon runs no experiments (coordination only); run `swarmd doctor` for what to install, or pass --agent none')
        agent = 'none'
      }
    }
    const gpu = python?.gpus[0]
    let profile: Profile = config.profile === 'auto' ? (python?.cuda === true ? 'gpu' : 'cpu') : config.profile
    let corpus: CorpusManifest | undefined
    if (usesWebCorpus(profile)) {
      try {
        corpus = await this.webCorpus()
      } catch (err) {
        // `auto` found a GPU but cannot get its corpus: it still researches, on the cpu profile.
        if (config.profile !== 'auto') throw err
        this.problem(`the gpu profile's corpus is not fetched (${(err as Error).message}): this node runs the cpu profile; \`swarmd corpus fetch\` gets it`)
        this.log(`warning: the gpu profile's corpus is not available (${(err as Error).message}); running the cpu profile. \`swarmd corpus fetch\` (or --corpus DIR) gets it ahead of time`)
        profile = 'cpu'
      }
    }
    const tier = profile === 'gpu' && gpu !== undefined ? tierOf(gpu.vramGb) : 'cpu'
    const harness = await harnessId(this.harnessDir, profile)
    return {
      profile,
      tier,
      harness,
      swarmKey: `${network.swarm}-${profile}-${harness}${corpus !== undefined ? `-${corpusIdentity(corpus)}` : ''}`,
      corpus,
      hardware: profile === 'gpu' && gpu !== undefined ? { gpu: gpu.name, vramGb: gpu.vramGb } : { gpu: 'cpu', vramGb: 0 },
      environment: injected?.environment ?? (python === undefined ? undefined : { torch: python.torch }),
      python,
      agent
    }
  }

  /**
   * The claims the last run's research loops held and a crash (SIGKILL, power) left active,
   * released at once: the swarm would otherwise skip those experiments until their ttl ran out.
   */
  private async releaseInterruptedClaims (): Promise<void> {
    const ids = await this.claimJournal.load()
    const now = this.clock.now()
    let released = 0
    for (const id of ids) {
      const claim = this.claims.ledger.claim(id)
      if (claim === undefined || claim.author !== this.state.peerId || this.claims.ledger.status(claim, now) !== 'active') continue
      await this.claims.release(id, 'aborted')
      released++
    }
    if (released > 0) this.log(`research: released ${released} claim(s) of runs the last stop interrupted, so peers may take them up`)
    if (ids.length > 0) await this.claimJournal.clear()
  }

  private async startResearch (research: ResearchSetup): Promise<void> {
    const { agent } = this.settings
    const { maxSteps, claimTtlMs } = this.derived
    const workRoot = join(this.paths.root, 'work')
    const runner = this.options.experiments?.runner ?? await this.pythonRunner(research, killAfterMs(research.profile, maxSteps), workRoot)
    this.runnerValue = runner
    // Its first claim check needs the model: load it now, so the warmer embeds ahead of that check.
    this.embedder?.embed(['warm up']).catch(() => {})
    const proposer = research.agent === 'command'
      ? new CommandProposer({ command: agent.agentCommand, harnessDir: this.harnessDir, workRoot })
      : new BuiltinProposer({ rng: this.rng }, { frozen: frozenFor(research.profile) })
    // One worker per GPU (CUDA_VISIBLE_DEVICES), one on CPU.
    const gpuCount = research.profile === 'gpu' ? Math.max(1, research.python?.gpus.length ?? 1) : 0
    const workers: Array<number | undefined> = gpuCount === 0 ? [undefined] : Array.from({ length: gpuCount }, (_, i) => i)
    this.loopsValue = workers.map((gpu) => new ResearchLoop({
      state: this.state,
      blobs: this.blobs(),
      runner,
      proposer,
      clock: this.clock,
      log: gpu === undefined ? this.log : (line) => { this.log(`[gpu ${gpu}] ${line}`) },
      claims: this.claims,
      hypotheses: this.hypotheses,
      trust: this.trust,
      publisher: this.publisher,
      journal: this.claimJournal,
      onRun: (report) => { this.metrics.run(report) }
    }, {
      profile: research.profile,
      tier: research.tier,
      hardware: research.hardware,
      ...(research.environment !== undefined ? { environment: research.environment } : {}),
      harness: research.harness,
      defaultSource: this.defaultSource,
      ...(maxSteps !== undefined ? { maxSteps } : {}),
      ...(gpu !== undefined ? { gpu } : {}),
      claimTtlMs,
      verifyBeforeAdopt: agent.verifyBeforeAdopt,
      adoptOnlyReproducedHere: agent.adoptOnlyReproducedHere,
      maxVerifyShare: agent.maxVerifyShare,
      ownResultsOnly: this.options.experiments?.ownResultsOnly === true,
      maxExperiments: agent.maxExperiments
    }))
    void this.firstSync(agent.firstSyncWaitMs).then(() => {
      if (this.stopping === undefined) for (const loop of this.loopsValue) loop.start()
    })
    const runsOn = research.python !== undefined ? `python ${research.python.path}, torch ${research.python.torch}` : 'an injected runner'
    this.log(`research: ${research.agent} agent on the ${research.profile} profile (tier ${research.tier}, harness ${research.harness}, ${runsOn})`)
  }

  /**
   * Settles once this node first synced with a peer, or after `waitMs`: a daemon joining through
   * bootstrap peers sees the swarm's baseline, claims and best before its first experiment, rather
   * than repeating them. At once without bootstrap peers (a solo machine, or peers dialled later).
   */
  private async firstSync (waitMs: number): Promise<void> {
    if (waitMs === 0 || this.settings.network.bootstrap.length === 0) return
    this.log(`research: waiting up to ${Math.round(waitMs / 1000)} s for a first sync with the swarm before the first experiment`)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.network.sync.synced, new Promise<void>((resolve) => { timer = setTimeout(resolve, waitMs) })])
    clearTimeout(timer)
  }

  /** Python's runner, sandboxed where bubblewrap works and limited by a cgroup where the kernel allows; sets what confines runs here. */
  private async pythonRunner (research: ResearchSetup, killMs: number, workRoot: string): Promise<ExperimentRunner> {
    const config = this.settings.runner
    const bwrap = await detectBubblewrap()
    if (bwrap === undefined) {
      this.log(config.unsafeNoSandbox
        ? 'warning: no sandbox (bubblewrap is not available) and --unsafe-no-sandbox is set: peers\' train.py runs with your files and network exposed'
        : 'warning: bubblewrap is not available, so experiments run without a sandbox and peers\' code is refused (sudo apt-get install bubblewrap; `swarmd doctor`)')
    }
    // Runs see only what they need: the system's /usr, the interpreter's paths, their workspace and data split.
    const sandbox = bwrap === undefined ? undefined : { bwrap, readOnly: research.python!.paths }
    const cgroups = await detectCgroups()
    if (cgroups.version === 'none') {
      this.log(config.unsafeNoCgroup
        ? `warning: ${describeCgroups(cgroups)}; --unsafe-no-cgroup is set: peers' train.py runs with only per-process limits`
        : `warning: ${describeCgroups(cgroups)}; peers' code is refused until it can be limited (\`swarmd doctor\`)`)
    }
    this.confinementValue = describeConfinement({ sandbox, cgroups, runUid: config.runUid, unsafeNoSandbox: config.unsafeNoSandbox, unsafeNoCgroup: config.unsafeNoCgroup })
    const limits = { maxProcesses: config.runMaxProcesses, maxMemoryMb: config.runMaxMemoryMb, maxFileMb: config.runMaxFileMb, tmpfsMb: config.sandboxTmpfsMb, workspaceMb: config.runWorkspaceMb }
    return new ExecaExperimentRunner({ python: research.python!.path, harnessDir: this.harnessDir, corpusDir: corpusDir(), ...(research.corpus !== undefined ? { webCorpusDir: dirname(research.corpus.val.path) } : {}), workRoot, clock: this.clock, cgroups, ...(sandbox !== undefined ? { sandbox } : {}) }, { killAfterMs: killMs, limits, unsafeNoSandbox: config.unsafeNoSandbox, unsafeNoCgroup: config.unsafeNoCgroup, runUid: config.runUid })
  }

  /**
   * The research ledger and the books, for the research loop and the agent API alike. The semantic
   * layer's MiniLM model (converted to ONNX once, cached in the data dir) loads on first use, in a
   * worker thread so inference never stalls gossip or the API.
   */
  private startClaims (research: ResearchSetup): void {
    const { claims: config, trust } = this.settings
    const { maxSteps, claimMaxTtlMs, verifyTolerance } = this.derived
    const state = this.state
    // Once the model is loaded (by the first check, or at start for a research daemon), what checks will compare with is embedded ahead.
    const cacheDir = async (): Promise<string> => modelCacheDir(config.modelCacheDir, this.paths.root, this.log)
    this.embedder = new LazyEmbedder(384, async () => createWorkerEmbedder({ cacheDir: await cacheDir(), log: this.log }), () => { this.warmer?.start() })
    const semantic = new SemanticDedup(this.embedder)
    let warned = false
    const onSemanticError = (err: unknown): void => {
      if (warned) return
      warned = true
      this.problem(`the MiniLM model could not be used (${(err as Error).message}): claims are deduplicated by code and delta only`)
      this.log(`warning: the MiniLM model could not be used (${(err as Error).message}); claims are deduplicated by code and delta only`)
    }
    this.ledgerValue = new ResearchLedger(state, research.harness, {
      maxActivePerAuthor: config.maxActiveClaimsPerPeer,
      maxActiveWithoutStanding: config.maxActiveClaimsWithoutStanding,
      maxTtlMs: claimMaxTtlMs,
      maxLagMs: config.claimMaxLagMs,
      clock: this.clock,
      // Standing as trust earns it (src/trust): this node, and peers with a result reproduced.
      hasStanding: (author) => author === state.peerId || this.trustValue?.state.standing.has(author) === true
    })
    this.claimsValue = new ClaimBook({ state, ledger: this.ledgerValue, clock: this.clock, semantic, onSemanticError }, {
      settleMs: config.claimSettleMs,
      referenceCodeHashes: new Set([sha256Hex(Buffer.from(this.defaultSource))]),
      raceYieldsPerHour: config.claimRaceYieldsPerHour
    })
    this.hypothesesValue = new HypothesisBook({ state, ledger: this.ledgerValue, clock: this.clock, semantic }, { perHour: config.hypothesesPerHour })
    this.warmer = new SemanticWarmer(this.ledgerValue, semantic, this.clock, {}, onSemanticError)
    this.publisherValue = new ResultPublisher({ state, ledger: this.ledgerValue, blobs: this.blobs(), clock: this.clock, defaultSource: this.defaultSource }, {
      hardware: research.hardware,
      ...(research.environment !== undefined ? { environment: research.environment } : {}),
      tier: research.tier,
      harness: research.harness,
      ...(maxSteps !== undefined ? { maxSteps } : {}),
      timeBudgetS: PROFILE_BUDGET_S[research.profile]
    })
    this.trustValue = new TrustLedger(this.ledgerValue, {
      self: state.peerId,
      quorum: trust.quorum,
      reputationAfter: trust.reputationAfter,
      tolerance: verifyTolerance
    })
  }

  /**
   * What this node holds against a peer beyond the gossip messages gossipsub saw REJECTed, for
   * gossip scoring: caught reporting results that did not reproduce, publishing hypotheses beyond
   * the hourly allowance, or squatting on more claims than count (its records stay valid; its
   * score drops below the publish threshold); and each strike on any channel (sync, blob, libp2p).
   */
  private appScore (peer: string): number {
    const misbehaved = this.trustValue?.state.caught.has(peer) === true ||
      this.hypothesesValue?.spammers().has(peer) === true ||
      this.ledgerValue?.squatters(this.clock.now()).has(peer) === true
    const strikes = this.networkValue?.penalties.strikesOf(peer) ?? 0
    return (misbehaved ? MISBEHAVING_PEER_SCORE : 0) + STRIKE_SCORE * strikes
  }

  /** The blob service as claims, results and the API use it: hashes as hex strings, each checked. */
  private blobs (): SourceBlobs {
    return { add: async (bytes, options) => this.network.blobs.add(bytes, options), get: async (hash, options) => this.network.blobs.get(parseBlobHash(hash), options) }
  }

  /** The ports the local API serves from, once the daemon has joined its swarm. */
  private apiServices (): ApiServices {
    const research = this.research
    const { claimTtlMs, maxSteps } = this.derived
    return {
      swarm: this.settings.network.swarm,
      startedAt: this.startedAt,
      problems: () => [...this.problemsFound],
      network: { snapshot: () => this.network.snapshot(), connect: async (addr) => this.network.connect(addr) },
      research: () => this.researchStatus(),
      defaults: { tier: research.tier, claimTtlMs, defaultSource: this.defaultSource, maxSteps },
      counts: () => this.state.counts(),
      digest: () => this.state.contentDigest(),
      claims: this.claims,
      hypotheses: this.hypotheses,
      trust: this.trust,
      blobs: this.blobs(),
      publisher: this.publisher
    }
  }

  /** What this node researches on, and how its loops are doing: the status' `research`. */
  private researchStatus (): ResearchStatus {
    const r = this.research
    const loops = this.loopsValue
    const now = this.clock.now()
    const runningNow = loops.map((l) => l.current === undefined ? undefined : currentRunView(l.current, now))
    return {
      agent: r.agent,
      profile: r.profile,
      tier: r.tier,
      harness: r.harness,
      corpus: r.corpus === undefined ? null : { dataset: r.corpus.dataset, trainBytes: r.corpus.train.bytes, valBytes: r.corpus.val.bytes, valSha256: r.corpus.val.sha256 },
      hardware: r.hardware,
      python: r.python === undefined ? null : { path: r.python.path, torch: r.python.torch },
      maxSteps: this.derived.maxSteps ?? null,
      confinement: this.confinementValue ?? null,
      workers: loops.length,
      current: runningNow.find((c) => c !== undefined) ?? null,
      running: runningNow.filter((c) => c !== undefined),
      stats: loops.length === 0
        ? null
        : loops.reduce((sum, l) => ({
          experiments: sum.experiments + l.stats.experiments,
          crashes: sum.crashes + l.stats.crashes,
          failedProposals: sum.failedProposals + l.stats.failedProposals,
          duplicatesAvoided: sum.duplicatesAvoided + l.stats.duplicatesAvoided,
          verifications: sum.verifications + l.stats.verifications,
          verificationsLeft: sum.verificationsLeft + l.stats.verificationsLeft,
          lastOverheadMs: l.stats.lastOverheadMs ?? sum.lastOverheadMs
        }), { experiments: 0, crashes: 0, failedProposals: 0, duplicatesAvoided: 0, verifications: 0, verificationsLeft: 0, lastOverheadMs: null as number | null })
    }
  }

  private problem (text: string): void {
    if (!this.problemsFound.includes(text)) this.problemsFound.push(text)
  }

  listenAddrs (): string[] {
    return this.network.listenAddrs()
  }

  private need<T> (value: T | undefined): T {
    if (value === undefined) throw new SwarmdError('NOT_STARTED', 'the daemon is not started (call start() first)')
    return value
  }
}

/** A loop's run as the status shows it: how far it is and how long it has left. */
function currentRunView (run: CurrentRun, now: number): CurrentRunView {
  const { firstStep, ...shown } = run
  if (firstStep === null) return { ...shown, fraction: 0, leftMs: null }
  const { fraction, leftMs } = runEta({ budget: run.budget, firstAt: firstStep.at, firstStep: firstStep.step, step: run.step, now })
  return { ...shown, fraction, leftMs: leftMs ?? null }
}

function isLoopback (host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost'
}
