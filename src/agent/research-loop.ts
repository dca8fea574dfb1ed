import { setTimeout as sleepFor } from 'node:timers/promises'
import { ProposalError } from './proposer.js'
import { precedes } from '../claims/research-ledger.js'
import { bestView } from '../claims/lineage.js'
import { sha256Hex } from '../util/hash.js'
import { deadline } from '../util/deadline.js'
import { codeChange } from '../source/code-change.js'
import type { Proposal, Proposer, ProposalContext } from './proposer.js'
import type { ClaimBook, ClaimCandidate, ClaimRequest, DuplicateHit } from '../claims/claim-book.js'
import type { ClaimEntry } from '../claims/research-ledger.js'
import type { SourceBlobs } from '../claims/claim-request.js'
import type { HypothesisBook } from '../claims/hypotheses.js'
import type { ResultEntry } from '../claims/research-ledger.js'
import type { TrustLedger } from '../trust/trust-ledger.js'
import type { CrashReason } from '../runner/classify.js'
import type { ExperimentRunner, ExperimentSpec, RunOutcome } from '../runner/experiment-runner.js'
import type { ResultPublisher } from '../claims/publish.js'
import { randomBytes } from 'node:crypto'
import { compareFreshSample } from '../runner/fresh-sample.js'
import { PROFILE_BUDGET_S, PROFILE_TOLERANCE } from '../runner/harness.js'
import { runProgressReporter } from './run-progress.js'
import type { RunBudget } from './run-progress.js'
import type { Profile } from '../runner/harness.js'
import type { FreshComparison } from '../runner/fresh-sample.js'
import { saneMetrics } from '../state/record-kinds.js'
import { publishableCrash, verificationReport, verifiedMetrics } from '../runner/publishable.js'
import type { ClaimJournal } from './claim-journal.js'
import type { EnvironmentBody, Tier } from '../state/record-kinds.js'
import type { SwarmState } from '../state/swarm-state.js'
import type { Clock } from '../util/clock.js'

export interface ResearchLoopComponents {
  state: SwarmState
  blobs: SourceBlobs
  runner: ExperimentRunner
  proposer: Proposer
  clock: Clock
  log: (line: string) => void
  /** Claims with the dedup pipeline (exact, structured, semantic), settle window and heartbeats. */
  claims: ClaimBook
  hypotheses: HypothesisBook
  /** Which results this node trusts; the baseline is the best trusted one. */
  trust: TrustLedger
  /** The one way a result enters the swarm (the agent API publishes through it too). */
  publisher: ResultPublisher
  /** The seed of a verification's fresh validation sample: unpredictable (default: 128 random bits from the OS). */
  freshSeed?: () => string
  /** Where the claims this loop runs under are noted, so a restart after a crash releases them. */
  journal?: Pick<ClaimJournal, 'add'>
  /** Told of each training run it finished or stopped for a peer's claim (the daemon's `/metrics`). */
  onRun?: (report: RunReport) => void
}

/** One training run a loop finished, or stopped because a peer's claim won. */
export interface RunReport {
  /** `experiment`: a run of this node's own proposal; `verification`: a peer's result re-run here. */
  kind: 'experiment' | 'verification'
  /**
   * experiment: the result's `keep`, `discard` or `crash`; verification: `ok` (it ran to the end),
   * `crash`, or `inconclusive` (it could not run here); either: `yielded` (stopped, a peer's claim won).
   */
  status: 'keep' | 'discard' | 'crash' | 'ok' | 'inconclusive' | 'yielded'
  /** Wall time of the training run, in seconds. */
  seconds: number
}

export interface ResearchLoopInit {
  profile: Profile
  tier: Tier
  hardware: { gpu: string, vramGb: number }
  /** The PyTorch version runs use, recorded in results and verifications (src/trust keys standing by it). */
  environment?: EnvironmentBody
  /** The swarm's harness id: results are only compared within one harness. */
  harness: string
  /** The harness's default train.py: the first baseline. */
  defaultSource: string
  /** Fixed step budget instead of the time budget (tests, quick demos). */
  maxSteps?: number
  /** A claim without a heartbeat expires after this long. Default 3x the run's kill time. */
  claimTtlMs: number
  /** Stop after this many experiments (0: run until stopped). */
  maxExperiments?: number
  /** Wait between cycles after a failure, in ms. Default 5 s. */
  retryMs?: number
  /** The CUDA device this loop's runs use (one loop per GPU); none on CPU. */
  gpu?: number
  /**
   * Take part in verification: re-run a peer's better result while it wants verifiers (claimed,
   * about `quorum` nodes per result). Off: never re-run; build on what peers verified. Default true.
   */
  verifyBeforeAdopt?: boolean
  /** Build only on results reproduced here, re-running every better peer result (the strict mode). Default false. */
  adoptOnlyReproducedHere?: boolean
  /**
   * At most this share of the loop's runs re-runs peers' results (a doubted baseline excepted, and
   * not in the strict mode); past it, the loop experiments, adopting what peers verified. Default 1.
   */
  maxVerifyShare?: number
  /**
   * Build only on this node's own results and propose from them alone; the swarm still shares
   * claims (bench:swarm's claims-only policy). Default false.
   */
  ownResultsOnly?: boolean
}

/**
 * How a re-run may end for a reason of the verifier's machine rather than the code, each one the
 * harness saw for itself (classify.ts): over this machine's memory or process limit (the cgroup's
 * events, its own watch: same tier, less RAM), over the harness's clock (the wall limit or the kill
 * deadline: a slower or busier machine, or code that trains past its budget), or with the harness's
 * own evaluator dead. Never a line train.py printed (a `MemoryError` it raises is its crash), nor a
 * signal the harness did not send. Such a re-run says nothing either way: it is published as
 * `inconclusive`, which keeps the result at most unverified on this node (never trusted, never
 * best, never pulled) without catching its author; any other crash is a re-run that did not reproduce.
 */
const INCONCLUSIVE_CRASHES: ReadonlySet<CrashReason> = new Set<CrashReason>(['resource-limit', 'timeout', 'evaluator-failed'])

/**
 * A peer's result whose code no reachable peer serves (its author went offline, or lied about a
 * hash) is tried again after this back-off, doubled per failure: meanwhile the loop does its own
 * research instead of asking for the same missing code every cycle.
 */
export const CODE_FETCH_BACKOFF_MS = { first: 60_000, max: 30 * 60_000 }

/** Re-runs a loop may make before `maxVerifyShare` applies. */
export const VERIFY_BURST = 1

/** Verifications one secret fresh sample (and its reference run) serves before a new one is drawn. */
export const FRESH_SAMPLE_USES = 8

/** Experiments in a row built on baselines adopted on peers' word, none improving, before this node re-runs its baseline itself. */
export const DOUBT_AFTER_CHILDREN = 5

export interface CurrentRun {
  claimId: string
  description: string
  startedAt: number
  step: number
  lossBpb: number | null
  budget: RunBudget
  /** When the first step was reported, and which: the pace, and so the time left, counts from it. */
  firstStep: { at: number, step: number } | null
}

export interface LoopStats {
  experiments: number
  crashes: number
  failedProposals: number
  /** Proposals dropped because the swarm already ran or is running the same experiment. */
  duplicatesAvoided: number
  /** Peers' results re-run here before building on them, and how many of those did not reproduce. */
  verifications: number
  refuted: number
  /** Verifications claimed and then left to the peers that claimed them first (enough verifiers). */
  verificationsLeft: number
  /** Wall time of the last cycle that was not the training run itself, in ms. */
  lastOverheadMs: number | null
  /** The same for the last 100 cycles, oldest first. */
  overheadsMs: number[]
}

/**
 * The research loop: baseline = this tier's best trusted result (the default train.py at
 * first) → propose → claim → run → publish the result with source and log → repeat.
 */
export class ResearchLoop {
  readonly stats: LoopStats = { experiments: 0, crashes: 0, failedProposals: 0, duplicatesAvoided: 0, verifications: 0, refuted: 0, verificationsLeft: 0, lastOverheadMs: null, overheadsMs: [] }
  current: CurrentRun | undefined
  private running: Promise<void> | undefined
  /** Peers' results whose re-run here ended for a reason of this machine's (INCONCLUSIVE_CRASHES): not tried again. */
  private readonly notRerunnableHere = new Set<string>()
  /** Peers' results whose code could not be fetched: when to ask again, and how often it failed. */
  private readonly codeMissing = new Map<string, { retryAt: number, failures: number }>()
  private readonly controller = new AbortController()
  private readonly defaultCodeHash: string
  /** The re-run noise (`rerunNoise`) as of `count` verifications. */
  private noise = { count: -1, value: 0 }
  /** This node's secret fresh sample (`freshSeedFor`) and its reference run once scored. */
  private freshSample: { seed: string, steps: number, uses: number, reference?: RunOutcome } | undefined

  constructor (private readonly components: ResearchLoopComponents, private readonly init: ResearchLoopInit) {
    this.defaultCodeHash = sha256Hex(Buffer.from(init.defaultSource))
  }

  start (): void {
    this.running ??= this.loop()
  }

  async stop (): Promise<void> {
    this.controller.abort()
    await this.running
  }

  /** Settles when the loop ends (maxExperiments reached or stopped). */
  get done (): Promise<void> { return this.running ?? Promise.resolve() }

  private async loop (): Promise<void> {
    const signal = this.controller.signal
    while (!signal.aborted) {
      if (this.init.maxExperiments !== undefined && this.init.maxExperiments > 0 && this.stats.experiments >= this.init.maxExperiments) return
      try {
        await this.cycle(signal)
      } catch (err) {
        if (signal.aborted) return
        if (err instanceof ProposalError) this.stats.failedProposals++
        this.components.log(`research: ${err instanceof Error ? err.message : String(err)}; retrying`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.init.retryMs ?? 5_000)
          signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
        })
      }
    }
  }

  /** The baseline: this tier's best result this node may build on, else the harness's default train.py. */
  async baseline (): Promise<{ resultId: string | null, source: string, valBpb: number | null }> {
    const { blobs, trust } = this.components
    // Only a trusted result becomes a baseline: this node's own, or one reproduced here or (unless strict) by a quorum of peers with standing.
    const adoptable = this.init.adoptOnlyReproducedHere === true ? (id: string) => trust.reproducedHere(id) : (id: string) => trust.isTrusted(id)
    // A best whose code nobody serves is passed over (with a back-off) for the next best: withheld code never stalls the loop.
    const unavailable = new Set<string>()
    const waiting = (id: string): boolean => unavailable.has(id) || (this.codeMissing.get(id)?.retryAt ?? 0) > this.components.clock.now()
    for (;;) {
      const best = bestView(this.knownResults(), { tier: this.init.tier, trusted: (id) => adoptable(id) && !waiting(id), maxSteps: this.init.maxSteps })
      if (best === undefined) return { resultId: null, source: this.init.defaultSource, valBpb: null }
      // Adoption checks the source against the hash the result names (`fetchCandidateCode`).
      const bytes = best.author === this.components.state.peerId ? await blobs.get(best.body.codeHash, { signal: AbortSignal.timeout(60_000) }) : await this.fetchCandidateCode(best, this.controller.signal)
      if (bytes === undefined) { unavailable.add(best.id); continue }
      if (sha256Hex(bytes) !== best.body.codeHash) throw new Error(`best result ${best.id} has a source that does not match its hash`)
      return { resultId: best.id, source: Buffer.from(bytes).toString('utf8'), valBpb: best.body.metrics!.val_bpb }
    }
  }

  private context (baseline: ProposalContext['baseline']): ProposalContext {
    const { claims, hypotheses, clock } = this.components
    const now = clock.now()
    // Claims that count against others (a squatter's extra claims do not), results not discredited.
    const activeClaims = claims.ledger.activeClaims(now)
      .filter((c) => c.body.verifies === undefined && claims.ledger.blocks(c, now))
      .map((c) => ({ description: c.body.description, delta: c.body.delta, parent: c.body.parent, codeHash: c.body.codeHash }))
    const open = hypotheses.list().filter((h) => h.state === 'open').map((h) => ({ id: h.id, body: h.body }))
    return { baseline, results: this.knownResults().filter((r) => !this.discredited(r)), hypotheses: open, activeClaims }
  }

  /** A result whose re-runs here or by a quorum missed it, or whose author (or a voucher of a fake) was caught. */
  private discredited (result: ResultEntry): boolean {
    const { trust } = this.components
    const status = trust.status(result.id)
    return status === 'refuted' || status === 'not-reproduced' || trust.state.caught.has(result.author)
  }

  /** The results this loop builds and proposes on: the swarm's, or with `ownResultsOnly` this node's alone. */
  private knownResults (): ResultEntry[] {
    const all = this.components.claims.ledger.allResults()
    return this.init.ownResultsOnly === true ? all.filter((r) => r.author === this.components.state.peerId) : all
  }

  /** A proposal nobody in the swarm ran or is running (every dedup layer), with the candidate the check saw. */
  private async proposeNew (baseline: ProposalContext['baseline'], signal: AbortSignal): Promise<{ proposal: Proposal, candidate: ClaimCandidate }> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const proposal = await this.components.proposer.propose(this.context(baseline), { signal })
      const candidate = candidateOf(proposal, baseline)
      const hit = await this.components.claims.findDuplicate(candidate)
      if (hit === undefined) return { proposal, candidate }
      this.avoided(proposal.description, hit, 'proposing again')
    }
    throw new ProposalError('PROPOSAL_EXHAUSTED', 'eight proposals in a row duplicated work the swarm already did')
  }

  private avoided (description: string, hit: DuplicateHit, then: string): void {
    this.stats.duplicatesAvoided++
    const { conflict } = hit
    this.components.log(`research: "${description}" duplicates ${conflict.kind} ${conflict.id.slice(0, 12)} by ${conflict.author.slice(-8)} (${hit.layer}${hit.score !== undefined ? ` ${hit.score.toFixed(2)}` : ''}); ${then}`)
  }

  /**
   * The best peer result that beats the baseline, is not trusted here yet, and still wants a
   * verifier (`wantsVerifier`): what this node re-runs before building on it.
   */
  private candidateToVerify (baselineBpb: number | null): ResultEntry | undefined {
    const { trust, state, clock } = this.components
    const now = clock.now()
    // A lead within the noise of a re-run may be noise: not worth one (the strict mode re-runs every better result).
    const margin = this.init.adoptOnlyReproducedHere === true ? 0 : 2 * this.rerunNoise()
    return trust.notReproducedHere({ tier: this.init.tier, maxSteps: this.init.maxSteps, than: baselineBpb === null ? null : baselineBpb - margin })
      .find((r) => r.author !== state.peerId && !trust.verifiedBy(r.id, state.peerId) && !this.notRerunnableHere.has(r.id) && !((this.codeMissing.get(r.id)?.retryAt ?? 0) > now) && this.wantsVerifier(r, now))
  }

  /**
   * Whether this loop may re-run a peer's result now: `VERIFY_BURST` re-runs at once (a daemon
   * joining a swarm adopts its best first), then one more each time its experiments since pay for
   * a whole re-run at `maxVerifyShare` of its runs (after every fourteenth experiment at the default
   * 0.07). Earned in whole re-runs: a fraction of one let a young swarm's nodes re-run the leader's
   * newest result again after one experiment, chasing its lineage instead of researching
   * (bench:swarm, 3 seeds: 28.3 s to target against 31.0 s, 15 % of run time verifying against 21 %).
   */
  private withinVerifyShare (): boolean {
    const share = this.init.maxVerifyShare ?? 1
    if (this.init.adoptOnlyReproducedHere === true || share >= 1) return true
    const { verifications, experiments } = this.stats
    return verifications < VERIFY_BURST + Math.floor(experiments * share / (1 - share) + 1e-9)
  }

  /**
   * The baseline, when this node adopted it on its verifiers' word and its last
   * `DOUBT_AFTER_CHILDREN` experiments, all built on baselines adopted that way, never improved on
   * their parents: the cheap insurance against standing peers that vouched for a fake (nothing
   * built on a fake beats its number), counted across baselines so rotating fakes gain nothing.
   * Re-run here once; a plateau of an honest result costs that one run.
   */
  private doubtedBaseline (baselineId: string | null): ResultEntry | undefined {
    const { trust, claims: { ledger }, state, clock } = this.components
    if (baselineId === null || trust.reproducedHere(baselineId)) return undefined
    if (this.unimprovedOnPeersWord() < DOUBT_AFTER_CHILDREN || trust.verifiedBy(baselineId, state.peerId) || this.notRerunnableHere.has(baselineId)) return undefined
    if ((this.codeMissing.get(baselineId)?.retryAt ?? 0) > clock.now()) return undefined
    return ledger.result(baselineId)
  }

  /**
   * This node's latest experiments in a row (from its results, so a restart forgets nothing) built
   * on baselines it adopted on peers' word, none kept: what `doubtedBaseline` counts.
   */
  private unimprovedOnPeersWord (): number {
    const { trust, state } = this.components
    const own = this.knownResults().filter((r) => r.author === state.peerId)
    let streak = 0
    for (let i = own.length - 1; i >= 0; i--) {
      const { parent, status } = own[i]!.body
      if (parent === null || status === 'keep' || trust.reproducedHere(parent)) break
      streak++
    }
    return streak
  }

  /**
   * How far a re-run lands from the number its result reported, as the swarm measured it: the
   * robust standard deviation (1.4826 × the median absolute difference) over every verification
   * with a number, refutations included (the median ignores them). 0 until there are five.
   */
  private rerunNoise (): number {
    const { ledger } = this.components.claims
    const verifications = ledger.allVerifications()
    if (verifications.length === this.noise.count) return this.noise.value
    const { trust } = this.components
    const differences: number[] = []
    for (const v of verifications) {
      const result = ledger.result(v.body.result)
      const reported = result?.body.metrics?.val_bpb
      if (v.body.metrics === null || reported === undefined || v.body.inconclusive === true || v.author === result!.author) continue
      // Only re-runs whose word counts here, of this tier and step budget: a sybil's own junk re-runs move nothing.
      if (v.body.hardware.tier !== this.init.tier || v.body.maxSteps !== this.init.maxSteps || !trust.vouchCounts(result!.id, v.author)) continue
      differences.push(Math.abs(v.body.metrics.val_bpb - reported))
    }
    differences.sort((a, b) => a - b)
    const noise = differences.length < 5 ? 0 : 1.4826 * differences[Math.floor(differences.length / 2)]!
    // At most half the tolerance: a lead the verification rule can tell from noise is always worth a re-run.
    this.noise = { count: verifications.length, value: Math.min(noise, trust.policy.tolerance / 2) }
    return this.noise.value
  }

  /**
   * Verification is claimed work, like an experiment: about as many nodes re-run a result as it
   * needs reproductions (`quorum`, one for an author with a reputation), and the rest adopt it
   * once it is trusted. A slot is held by a verifier whose word counts here (a peer with standing
   * in the result's scope): its active claim to verify it (within its claim limit and its own ttl)
   * or its finished verification. Claims by peers without standing here hold nothing: their
   * verdicts would not count, so this node re-runs the result itself. A result still untrusted a
   * claim's ttl after it arrived is re-run here whatever the slots say: squatted slots delay an
   * adoption by one ttl at most.
   */
  private wantsVerifier (result: ResultEntry, now: number): boolean {
    const { claims: { ledger }, state } = this.components
    const { claims } = ledger.verificationWork(result.id)
    if (claims.some((c) => c.author === state.peerId && ledger.status(c, now) === 'active')) return false
    if (this.init.adoptOnlyReproducedHere === true) return true
    if (now - (ledger.firstSeen(result.id) ?? now) >= this.init.claimTtlMs) return true
    return this.slotsTaken(result, now).size < this.components.trust.reproductionsNeeded(result.id)
  }

  /** The peers holding a verification slot of `result` (see `wantsVerifier`); with `before`, only claims placed before it. */
  private slotsTaken (result: ResultEntry, now: number, before?: ClaimEntry): Set<string> {
    const { claims: { ledger }, trust, state } = this.components
    const { verifications, claims } = ledger.verificationWork(result.id)
    const holders = new Set<string>()
    for (const v of verifications) if (v.author !== state.peerId && v.body.inconclusive !== true && trust.vouchCounts(result.id, v.author)) holders.add(v.author)
    const mine = before === undefined ? undefined : ledger.placeOf({ kind: 'claim', id: before.id, author: before.author })
    for (const c of claims) {
      // Only a verifier whose word will count here holds a slot, and only for its claim's own ttl (heartbeats do not stretch it).
      if (c.author === state.peerId || !ledger.holdsVerifySlot(c, now) || now >= c.createdAt + ledger.ttlOf(c) || !trust.vouchCounts(result.id, c.author)) continue
      if (mine !== undefined && !precedes(ledger.placeOf({ kind: 'claim', id: c.id, author: c.author }), mine)) continue
      holders.add(c.author)
    }
    return holders
  }

  /**
   * After the settle window: whether this node's claim to verify `result` is within the slots it
   * needs (claims placed earlier, and verifications that count, leave one); else it yields.
   */
  private async keepsVerifySlot (claim: ClaimEntry, result: ResultEntry, signal: AbortSignal): Promise<boolean> {
    const { claims, clock } = this.components
    if (this.init.adoptOnlyReproducedHere === true) return true
    if (claims.settleMs > 0) await sleep(claims.settleMs, signal)
    const now = clock.now()
    if (now - (claims.ledger.firstSeen(result.id) ?? now) >= this.init.claimTtlMs) return true
    return this.slotsTaken(result, now, claim).size < this.components.trust.reproductionsNeeded(result.id)
  }

  /** The candidate's code, checked against its hash; undefined (and a back-off) when no peer delivers it. */
  private async fetchCandidateCode (candidate: ResultEntry, signal: AbortSignal): Promise<Uint8Array | undefined> {
    try {
      const limit = deadline(60_000, signal)
      const bytes = await this.components.blobs.get(candidate.body.codeHash, { signal: limit.signal }).finally(() => { limit.clear() })
      if (sha256Hex(bytes) !== candidate.body.codeHash) throw new Error('its source does not match its hash')
      this.codeMissing.delete(candidate.id)
      return bytes
    } catch (err) {
      if (signal.aborted) throw err
      const failures = (this.codeMissing.get(candidate.id)?.failures ?? 0) + 1
      const delayMs = Math.min(CODE_FETCH_BACKOFF_MS.max, CODE_FETCH_BACKOFF_MS.first * 2 ** (failures - 1))
      this.codeMissing.set(candidate.id, { retryAt: this.components.clock.now() + delayMs, failures })
      this.components.log(`research: cannot re-run ${candidate.id.slice(0, 12)} by ${candidate.author.slice(-8)}: its code is not to be had (${err instanceof Error ? err.message : String(err)}); asking again in ${Math.round(delayMs / 1000)} s, researching meanwhile`)
      return undefined
    }
  }

  /**
   * Re-run a peer's result: its exact train.py (fetched by hash) for the number of steps it
   * reported, then publish what came out as a verification; every node decides from it. The
   * claim's slot is checked after the settle window, beside the run (`keepsVerifySlot`): a claim
   * that lost the race stops its run and yields. False when nothing was re-run (no code, or yielded).
   */
  private async verify (candidate: ResultEntry, signal: AbortSignal, options: { doubted?: boolean } = {}): Promise<boolean> {
    const { state, blobs, claims, trust } = this.components
    const bytes = await this.fetchCandidateCode(candidate, signal)
    if (bytes === undefined) return false
    const steps = candidate.body.metrics!.num_steps
    const claim = await claims.append({
      description: `verify ${candidate.id}`,
      parent: candidate.body.parent,
      codeHash: candidate.body.codeHash,
      delta: candidate.body.delta,
      verifies: candidate.id,
      tier: this.init.tier,
      ttlMs: this.init.claimTtlMs
    })
    if (options.doubted === true) this.components.log(`research: ${this.unimprovedOnPeersWord()} experiments in a row on baselines adopted on peers' word and none improved; re-running ${candidate.id.slice(0, 12)} by ${candidate.author.slice(-8)} here, as its verifiers' word is all this node has`)
    else this.components.log(`research: re-running ${candidate.id.slice(0, 12)} by ${candidate.author.slice(-8)} ("${candidate.body.description}", val_bpb ${candidate.body.metrics!.val_bpb.toFixed(4)}) before building on it`)
    const run = new AbortController()
    const stopRun = (): void => { run.abort() }
    signal.addEventListener('abort', stopRun, { once: true })
    let yielded = false
    const slot = options.doubted === true
      ? Promise.resolve()
      : this.keepsVerifySlot(claim, candidate, run.signal).then((keeps) => { if (!keeps && !run.signal.aborted) { yielded = true; run.abort() } }, () => {})
    // Drawn here, never published: the result and the reference are scored on text neither could know in advance.
    const freshSeed = this.freshSeedFor(steps)
    const runStart = this.components.clock.now()
    let outcome: RunOutcome
    try {
      outcome = await this.runClaimed(claim, `verify ${candidate.id.slice(0, 12)}`, {
        freshSeed,
        id: `verify-${claim.id.slice(0, 16)}`,
        source: Buffer.from(bytes).toString('utf8'),
        profile: this.init.profile,
        maxSteps: steps,
        // A stranger's code: refused (SANDBOX_REQUIRED) unless it runs in the sandbox or the user opted out.
        foreign: true
      }, run.signal)
      await slot
    } finally {
      signal.removeEventListener('abort', stopRun)
    }
    const runSeconds = (this.components.clock.now() - runStart) / 1000
    if (yielded) {
      this.components.onRun?.({ kind: 'verification', status: 'yielded', seconds: runSeconds })
      await claims.release(claim.id, 'yielded').catch(() => {})
      this.stats.verificationsLeft++
      this.components.log(`research: enough peers are re-running ${candidate.id.slice(0, 12)} by ${candidate.author.slice(-8)}; run stopped, this node adopts it once it is trusted`)
      return false
    }
    if (await this.releasedOnStop(claim, signal)) return true
    const inconclusive = outcome.status === 'crash' && INCONCLUSIVE_CRASHES.has(outcome.reason!)
    const fresh = outcome.status === 'ok' ? await this.freshComparison(claim.id, steps, freshSeed, outcome, candidate.body.codeHash, signal) : undefined
    if (await this.releasedOnStop(claim, signal)) return true
    // Advantage on the fixed slice that vanished on fresh text: overfit (memorised), refuted.
    const overfit = fresh?.overfit === true
    const metrics = !overfit && outcome.status === 'ok' && saneMetrics(outcome.metrics) ? verifiedMetrics(outcome.metrics!, candidate.body.metrics!, { trainingMs: outcome.timing?.trainingMs ?? outcome.wallMs, steps }) : null
    // The crash kind, so every node can tell a failed import under another PyTorch from a lie.
    const crash = metrics === null ? (overfit ? { reason: 'overfit', detail: describeFresh(fresh!) } : outcome.status === 'ok' ? { reason: 'insane-metrics', detail: '' } : publishableCrash(outcome)) : undefined
    await state.append('verification', {
      result: candidate.id,
      claimId: claim.id,
      metrics,
      // The numbers measured here, never the stranger's output: it would carry back what its code could read.
      logHash: await blobs.add(Buffer.from(verificationReport(outcome, metrics, steps)), { announce: false }),
      hardware: { ...this.init.hardware, tier: this.init.tier },
      ...(this.init.environment !== undefined ? { environment: this.init.environment } : {}),
      harness: this.init.harness,
      maxSteps: steps,
      ...(crash !== undefined ? { crash } : {}),
      ...(fresh !== undefined ? { freshSample: roundFresh(fresh) } : {}),
      // Not on the code's account, nor on its author's: no vote, and at most unverified here.
      ...(inconclusive ? { inconclusive: true as const } : {})
    })
    this.components.onRun?.({ kind: 'verification', status: inconclusive ? 'inconclusive' : outcome.status === 'ok' ? 'ok' : 'crash', seconds: runSeconds })
    if (inconclusive) {
      this.notRerunnableHere.add(candidate.id)
      this.components.log(`research: could not re-run ${candidate.id.slice(0, 12)} here (${outcome.reason}: ${outcome.detail ?? ''}); published as inconclusive: it stays unverified here and this node will not build on it`)
      return true
    }
    this.stats.verifications++
    const verdict = trust.status(candidate.id)
    if (verdict === 'refuted') this.stats.refuted++
    this.components.log(`research: ${candidate.id.slice(0, 12)} ${verdict === 'refuted' ? 'did NOT reproduce' : verdict === 'not-reproduced' ? 'did not reproduce, by a small margin (nobody is blamed)' : 'reproduced'}: reported ${candidate.body.metrics!.val_bpb.toFixed(4)}, re-run ${metrics === null ? `crashed (${outcome.reason ?? 'unknown'})` : metrics.val_bpb.toFixed(4)}`)
    return true
  }

  /**
   * The fresh sample's seed for a verification of `steps` steps: this node's secret one, drawn
   * here and never published, serving `FRESH_SAMPLE_USES` verifications (and their one reference
   * run) before a new one is drawn. Secrecy is what makes a sample fresh to a result's author, not
   * its age: no verification record, log or run output carries the seed, and nothing a verified
   * run does outlives its workspace.
   */
  private freshSeedFor (steps: number): string {
    const held = this.freshSample
    if (held !== undefined && held.steps === steps && held.uses < FRESH_SAMPLE_USES) {
      held.uses++
      return held.seed
    }
    const seed = (this.components.freshSeed ?? (() => randomBytes(16).toString('hex')))()
    this.freshSample = { seed, steps, uses: 1 }
    return seed
  }

  /**
   * Score the reference (the harness's default train.py, the same steps) on the verification's
   * fresh seed and compare it with the result's run, window by window (fresh-sample.ts).
   * Undefined when the reference did not score (the comparison is then skipped, and said so).
   */
  private async freshComparison (claimId: string, steps: number, freshSeed: string, outcome: RunOutcome, codeHash: string, signal: AbortSignal): Promise<FreshComparison | undefined> {
    const held = this.freshSample
    // Re-running the default train.py itself (a peer's baseline), the run is its own reference.
    const reference = codeHash === this.defaultCodeHash
      ? outcome
      : held?.seed === freshSeed && held.reference !== undefined
        ? held.reference
        : await this.components.runner.run({
          id: `verify-${claimId.slice(0, 16)}-ref`,
          source: this.init.defaultSource,
          profile: this.init.profile,
          maxSteps: steps,
          freshSeed,
          ...(this.init.gpu !== undefined ? { gpu: this.init.gpu } : {})
        }, { signal })
    if (held?.seed === freshSeed && reference.status === 'ok' && codeHash !== this.defaultCodeHash) held.reference = reference
    const comparison = compareFreshSample(outcome.evaluation, reference.evaluation, PROFILE_TOLERANCE[this.init.profile])
    if (comparison === undefined && !signal.aborted) this.components.log(`research: no fresh-sample comparison for ${claimId.slice(0, 12)}: the reference run ${reference.status === 'ok' ? 'was not scored on the sample' : `crashed (${reference.reason ?? 'unknown'})`}`)
    return comparison
  }

  private async cycle (signal: AbortSignal): Promise<void> {
    const { state, blobs, clock, claims, publisher } = this.components
    const cycleStart = clock.now()
    const baseline = await this.baseline()
    // A peer's result that would beat the baseline is re-run here first: never build on numbers this node did not reproduce.
    if (this.init.verifyBeforeAdopt !== false && this.init.ownResultsOnly !== true) {
      // A verification that yielded (or found no code) leaves the cycle to an experiment.
      const candidate = this.withinVerifyShare() ? this.candidateToVerify(baseline.valBpb) : undefined
      if (candidate !== undefined && await this.verify(candidate, signal)) return
      const doubted = this.doubtedBaseline(baseline.resultId)
      if (doubted !== undefined && await this.verify(doubted, signal, { doubted: true })) return
    }
    const needsBaseline = baseline.resultId === null && !this.baselineTaken()
    // The baseline runs once in a swarm (others re-run it as a verification); proposals are checked.
    let proposal: Proposal
    let candidate: ClaimCandidate
    if (needsBaseline) {
      proposal = { source: baseline.source, description: 'baseline: the harness default train.py', delta: [] }
      candidate = candidateOf(proposal, baseline)
    } else {
      ({ proposal, candidate } = await this.proposeNew(baseline, signal))
    }

    // The code is stored once the claim stands: a claim refused as a duplicate leaves nothing behind.
    const request: ClaimRequest = {
      ...candidate,
      ...(proposal.hypothesis !== undefined ? { hypothesis: proposal.hypothesis } : {}),
      tier: this.init.tier,
      ttlMs: this.init.claimTtlMs
    }
    let claim: ClaimEntry
    if (needsBaseline) {
      claim = await claims.append(request)
      // Daemons starting together: the earliest baseline claim runs, the others yield to it.
      if (claims.settleMs > 0) await sleep(claims.settleMs, signal)
      if (this.baselineTaken(claim)) {
        await claims.release(claim.id, 'yielded').catch(() => {})
        this.stats.duplicatesAvoided++
        this.components.log('research: a peer runs the harness default train.py already; this node re-runs it as a verification or adopts it once trusted')
        return
      }
    } else {
      // Claimed at once; the settle window runs beside the first seconds of training.
      const outcome = await claims.claim(request, { settle: false })
      if ('duplicate' in outcome) return this.avoided(proposal.description, outcome.duplicate, 'skipped')
      claim = outcome.claimed
    }
    await blobs.add(Buffer.from(proposal.source))
    this.components.log(`research: running "${proposal.description}"`)
    const run = new AbortController()
    const stopRun = (): void => { run.abort() }
    signal.addEventListener('abort', stopRun, { once: true })
    let yielded: DuplicateHit | undefined
    const settled = needsBaseline
      ? Promise.resolve()
      : claims.settle(claim, run.signal).then((hit) => { if (hit !== undefined) { yielded = hit; run.abort() } }, () => {})
    const runStart = clock.now()
    let outcome: RunOutcome
    try {
      outcome = await this.runClaimed(claim, proposal.description, {
        id: `run-${claim.id.slice(0, 16)}`,
        source: proposal.source,
        profile: this.init.profile,
        ...(this.init.maxSteps !== undefined ? { maxSteps: this.init.maxSteps } : {})
      }, run.signal)
      await settled
    } finally {
      signal.removeEventListener('abort', stopRun)
    }
    const runMs = clock.now() - runStart
    if (yielded !== undefined) {
      this.components.onRun?.({ kind: 'experiment', status: 'yielded', seconds: runMs / 1000 })
      return this.avoided(proposal.description, yielded, 'an earlier claim won the race; run stopped')
    }
    if (await this.releasedOnStop(claim, signal)) return

    const result = await publisher.publish({ claim, code: proposal.source, run: { observed: outcome } })
    const { status, metrics, crash } = result.body
    this.stats.experiments++
    if (status === 'crash') this.stats.crashes++
    this.components.onRun?.({ kind: 'experiment', status, seconds: runMs / 1000 })
    this.stats.lastOverheadMs = clock.now() - cycleStart - runMs
    this.stats.overheadsMs.push(this.stats.lastOverheadMs)
    if (this.stats.overheadsMs.length > 100) this.stats.overheadsMs.shift()
    this.components.log(`research: ${proposal.description}: ${status}${metrics !== null ? ` val_bpb ${metrics.val_bpb.toFixed(4)}` : ` (${crash?.reason ?? ''})`}`)
  }

  /**
   * Whether the harness's default train.py, on this tier and step budget, has a result in the swarm
   * or a claim running (this node's or a peer's; with `before`, only those placed before that claim).
   */
  private baselineTaken (before?: ClaimEntry): boolean {
    const { claims: { ledger }, clock } = this.components
    const now = clock.now()
    const mine = before === undefined ? undefined : ledger.placeOf({ kind: 'claim', id: before.id, author: before.author })
    return ledger.withCode(this.defaultCodeHash).some((entry) => {
      if (entry.parent !== null || entry.delta.length > 0 || entry.id === before?.id || !ledger.live(entry, now)) return false
      if (this.init.ownResultsOnly === true && entry.author !== this.components.state.peerId) return false
      if (mine !== undefined && !precedes(ledger.placeOf(entry), mine)) return false
      if (entry.kind === 'claim') return ledger.claim(entry.id)?.body.tier === this.init.tier
      const result = ledger.result(entry.id)
      if (result === undefined || result.body.metrics === null || result.body.maxSteps !== this.init.maxSteps || result.body.hardware.tier !== this.init.tier) return false
      // A run of it that did not reproduce, or by a peer caught lying, takes nothing.
      return !this.discredited(result)
    })
  }

  /**
   * Run a claimed piece of work (an experiment or a re-run): the claim's heartbeat while it runs
   * (a third of its ttl), and its step and loss on the status page.
   */
  private async runClaimed (claim: ClaimEntry, description: string, spec: ExperimentSpec, signal: AbortSignal): Promise<RunOutcome> {
    const { runner, claims, clock, log, journal } = this.components
    // Noted until it no longer holds: a daemon killed during this run (or the reference run after it) releases it when it starts again.
    await journal?.add(claim.id, (id) => {
      const held = claims.ledger.claim(id)
      return held !== undefined && claims.ledger.status(held, clock.now()) === 'active'
    }).catch((err: unknown) => { log(`research: could not note claim ${claim.id.slice(0, 12)} in the journal (${(err as Error).message}); after a crash it expires by its ttl`) })
    const budget: RunBudget = spec.maxSteps !== undefined ? { steps: spec.maxSteps } : { seconds: PROFILE_BUDGET_S[spec.profile] }
    const current: CurrentRun = { claimId: claim.id, description, startedAt: clock.now(), step: 0, lossBpb: null, budget, firstStep: null }
    this.current = current
    const report = runProgressReporter({ label: description, budget, clock, log })
    const heartbeat = setInterval(() => {
      claims.heartbeat(claim.id).catch((err: unknown) => { log(`research: heartbeat for ${claim.id.slice(0, 12)} failed: ${(err as Error).message}`) })
    }, Math.max(1, Math.floor(this.init.claimTtlMs / 3)))
    try {
      return await runner.run({ ...spec, ...(this.init.gpu !== undefined ? { gpu: this.init.gpu } : {}) }, {
        signal,
        onProgress: (p) => {
          current.firstStep ??= { at: clock.now(), step: p.step }
          current.step = p.step
          current.lossBpb = p.lossBpb
          report(p)
        }
      })
    } finally {
      clearInterval(heartbeat)
      this.current = undefined
    }
  }

  /** When the loop is stopping: the claim released (others may take it up), and true. */
  private async releasedOnStop (claim: ClaimEntry, signal: AbortSignal): Promise<boolean> {
    if (!signal.aborted) return false
    await this.components.claims.release(claim.id, 'aborted').catch(() => {})
    return true
  }
}

/** Wait `ms`, or less when `signal` aborts (the caller checks it). */
async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  await sleepFor(ms, undefined, { signal }).catch(() => {})
}

/** The fresh-sample comparison as published: bits per byte to 1e-4. */
function roundFresh (fresh: FreshComparison): FreshComparison {
  const r = (v: number): number => Math.round(v * 1e4) / 1e4
  return { windows: fresh.windows, fixedAdvantage: r(fresh.fixedAdvantage), freshAdvantage: r(fresh.freshAdvantage), standardError: r(fresh.standardError), overfit: fresh.overfit }
}

function describeFresh (fresh: FreshComparison): string {
  return `ahead of the default train.py by ${fresh.fixedAdvantage.toFixed(4)} bpb on the fixed slice but by ${fresh.freshAdvantage.toFixed(4)} ± ${fresh.standardError.toFixed(4)} on ${fresh.windows} fresh windows: overfit to the fixed slice`
}

/** A proposal as the claim book sees it: its code hashed, and what the code does beyond its delta. */
function candidateOf (proposal: Proposal, baseline: ProposalContext['baseline']): ClaimCandidate {
  return {
    description: proposal.description,
    parent: baseline.resultId,
    codeHash: sha256Hex(proposal.source),
    delta: proposal.delta,
    change: codeChange(baseline.source, proposal.source)
  }
}
