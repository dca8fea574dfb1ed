import { codeChange } from '../source/code-change.js'
import { diffConstants } from '../source/train-constants.js'
import { fatalLine, logTail } from '../runner/classify.js'
import { parseSummary } from '../runner/summary.js'
import { publishableLog } from '../runner/publishable.js'
import { saneMetrics } from '../state/record-kinds.js'
import { SwarmdError } from '../util/errors.js'
import { sha256Hex } from '../util/hash.js'
import { parentSource } from './claim-request.js'
import { findClaim } from './lookup.js'
import type { SourceBlobs } from './claim-request.js'
import type { ClaimEntry, ResearchLedger, ResultEntry } from './research-ledger.js'
import type { RunOutcome } from '../runner/experiment-runner.js'
import type { RunMetrics } from '../runner/summary.js'
import type { CodeChange } from '../source/code-change.js'
import type { DeltaEntry, EnvironmentBody, ResultBody, Tier } from '../state/record-kinds.js'
import type { SwarmState } from '../state/swarm-state.js'
import type { Clock } from '../util/clock.js'

export type ResultStatus = ResultBody['status']
export type CrashBody = NonNullable<ResultBody['crash']>

/**
 * How the run went, as the publisher is told it: `observed` when this node's harness ran it (the
 * research loop: the harness's verdict is final), `reported` when an agent ran it and hands in its
 * stdout (the agent API: the metrics come from the log's summary block).
 */
export type RunReport =
  | { observed: RunOutcome }
  | { reported: { log: string, status?: ResultStatus } }

/** A finished run to publish as the result of a claim this node holds. */
export interface PublishInput {
  /** The claim (or its id, or a unique prefix of at least 8 characters) the run belongs to. */
  claim: ClaimEntry | string
  /** The train.py as it ran. */
  code: string
  run: RunReport
}

export interface ResultPublisherComponents {
  state: SwarmState
  ledger: ResearchLedger
  blobs: SourceBlobs
  clock: Clock
  /** The harness's default train.py: the parent source of claims on parent null. */
  defaultSource: string
}

export interface ResultPublisherInit {
  hardware: { gpu: string, vramGb: number }
  /** The PyTorch version the daemon's python probe found; recorded beside the hardware. */
  environment?: EnvironmentBody
  tier: Tier
  harness: string
  /** Set when runs stop after a fixed step count instead of the time budget. */
  maxSteps?: number
  /** The profile's time budget, seconds: a run an agent reports must have trained to it when `maxSteps` is unset. */
  timeBudgetS?: number
}

/**
 * Why a run an agent ran itself does not compare with this daemon's runs: it trained to another
 * budget (a 268-step time-budget run was once stamped with the daemon's limit of 150 steps). A
 * step-limited run stops at exactly `maxSteps`; a time-budget run trains its whole budget (a run
 * under 90 % of it stopped early: a step limit, most likely a MAX_STEPS left set).
 */
export function budgetMismatch (metrics: RunMetrics, init: Pick<ResultPublisherInit, 'maxSteps' | 'timeBudgetS'>): string | undefined {
  if (init.maxSteps !== undefined) {
    if (metrics.num_steps === init.maxSteps) return undefined
    return `the run trained ${metrics.num_steps} steps, but this daemon compares runs of ${init.maxSteps} steps (it runs with --max-steps ${init.maxSteps}): train with MAX_STEPS=${init.maxSteps} (\`. ./env.sh\` in a \`swarmd workspace\` sets it) and publish that run`
  }
  if (init.timeBudgetS === undefined || metrics.training_seconds >= 0.9 * init.timeBudgetS) return undefined
  return `the run trained ${metrics.training_seconds} s of the ${init.timeBudgetS} s time budget this daemon's runs train for (${metrics.num_steps} steps: was MAX_STEPS set?): unset MAX_STEPS (\`. ./env.sh\` in a \`swarmd workspace\` does) and publish a run of the whole budget`
}

/**
 * The one way a result enters the swarm, for the research loop and the agent API alike: it checks
 * the metrics (numbers no honest run can produce are a crash), classifies a crash, decides keep or
 * discard against the parent, stores code and log as blobs and appends the result record. A claim
 * takes one result; a claim that expired meanwhile still takes it (a zombie result is kept, DESIGN §4).
 */
export class ResultPublisher {
  /** Claims with a publish under way: a second publish for one of them is refused, not raced. */
  private readonly publishing = new Set<string>()

  constructor (private readonly components: ResultPublisherComponents, private readonly init: ResultPublisherInit) {}

  private async changeFromParent (claim: ClaimEntry, code: string, options: { signal?: AbortSignal }): Promise<{ delta: DeltaEntry[], change: CodeChange }> {
    const before = await parentSource(this.components, claim.body.parent, options)
    return { delta: diffConstants(before, code), change: codeChange(before, code) }
  }

  async publish (input: PublishInput, options: { signal?: AbortSignal } = {}): Promise<ResultEntry> {
    const { state, ledger, blobs } = this.components
    const claim = this.publishable(input.claim)
    const verdict = judge(input.run)
    // The daemon's own runs are given their budget; a run an agent reports is checked against it.
    const mismatch = 'reported' in input.run && verdict.metrics !== null ? budgetMismatch(verdict.metrics, this.init) : undefined
    if (mismatch !== undefined) throw new SwarmdError('RESULT_INVALID', mismatch)
    this.publishing.add(claim.id)
    try {
      const status = verdict.crash !== null ? 'crash' : verdict.status ?? decideStatus(verdict.metrics, this.parentValBpb(claim))
      const codeHash = sha256Hex(Buffer.from(input.code))
      // The claim's delta and change when it ran the code it claimed; else the code's own from the parent.
      const { delta, change } = claim.body.codeHash === codeHash
        ? { delta: claim.body.delta, change: claim.body.change }
        : await this.changeFromParent(claim, input.code, options)
      await blobs.add(Buffer.from(input.code))
      const logHash = await blobs.add(Buffer.from(publishableLog(logOf(input.run))), { announce: false })
      const body: ResultBody = {
        claimId: claim.id,
        parent: claim.body.parent,
        codeHash,
        logHash,
        description: claim.body.description,
        delta,
        ...(change !== undefined ? { change } : {}),
        status,
        // A crash carries no metrics, whatever it printed: nothing of it may rank as a best.
        metrics: status === 'crash' ? null : verdict.metrics,
        crash: verdict.crash,
        hardware: { ...this.init.hardware, tier: this.init.tier },
        ...(this.init.environment !== undefined ? { environment: this.init.environment } : {}),
        harness: this.init.harness,
        ...(this.init.maxSteps !== undefined ? { maxSteps: this.init.maxSteps } : {})
      }
      const rec = await state.append('result', body)
      return ledger.result(rec.id) ?? { id: rec.id, author: rec.record.author, createdAt: rec.record.createdAt, body }
    } finally {
      this.publishing.delete(claim.id)
    }
  }

  /** The claim, if this node may publish its result now. */
  private publishable (claimOrId: ClaimEntry | string): ClaimEntry {
    const { ledger, state, clock } = this.components
    const idOrPrefix = typeof claimOrId === 'string' ? claimOrId : claimOrId.id
    const claim = findClaim(ledger, idOrPrefix)
    if (claim === undefined) throw new SwarmdError('CLAIM_NOT_FOUND', `no claim ${idOrPrefix} is known to this daemon; publish with the id \`swarmd claim\` printed`)
    if (claim.author !== state.peerId) throw new SwarmdError('CLAIM_NOT_OWN', `claim ${claim.id} belongs to ${claim.author}; only its author can publish its result`)
    const status = ledger.status(claim, clock.now())
    if (status === 'finished' || this.publishing.has(claim.id)) throw new SwarmdError('CLAIM_CLOSED', `claim ${claim.id} already has a result; claim the next experiment`)
    if (status === 'released') throw new SwarmdError('CLAIM_CLOSED', `claim ${claim.id} was released (${ledger.releaseReason(claim) ?? ''}); claim the experiment again before publishing`)
    return claim
  }

  private parentValBpb (claim: ClaimEntry): number | null {
    if (claim.body.parent === null) return null
    return this.components.ledger.result(claim.body.parent)?.body.metrics?.val_bpb ?? null
  }
}

/** What a run report comes to: sane metrics, or a crash; and the status an agent asked for, if any. */
type Verdict =
  | { metrics: RunMetrics, crash: null, status?: Exclude<ResultStatus, 'crash'> }
  | { metrics: null, crash: CrashBody, status?: undefined }

const insane = (metrics: RunMetrics): CrashBody => ({ reason: 'insane-metrics', detail: `val_bpb ${metrics.val_bpb} (or another figure) is outside the sanity bounds no honest run leaves` })

/**
 * The same rule for both kinds of report: numbers no honest run can produce (a broken evaluation)
 * are an `insane-metrics` crash, not a result. A status an agent asks for must fit its log: keep or
 * discard need sane metrics (else RESULT_INVALID); crash drops whatever metrics there were.
 */
function judge (run: RunReport): Verdict {
  if ('observed' in run) {
    const outcome = run.observed
    if (outcome.status === 'crash') return { metrics: null, crash: { reason: outcome.reason ?? 'unknown', detail: (outcome.detail ?? '').slice(0, 2000) } }
    if (outcome.metrics === undefined || !saneMetrics(outcome.metrics)) return { metrics: null, crash: outcome.metrics === undefined ? { reason: 'no-summary', detail: 'the harness reported no metrics' } : insane(outcome.metrics) }
    return { metrics: outcome.metrics, crash: null }
  }
  const { log, status } = run.reported
  const summary = parseSummary(log)
  const metrics = 'metrics' in summary ? summary.metrics : null
  if (status === 'crash') return { metrics: null, crash: crashOf(log, metrics !== null) }
  if (metrics === null) {
    if (status !== undefined) throw new SwarmdError('RESULT_INVALID', `status ${status} needs the run's metrics, but the log has ${'problem' in summary && summary.problem === 'missing' ? 'no summary block' : `a broken summary (${'detail' in summary ? summary.detail : ''})`}; publish the full stdout of the run, or --status crash`)
    return { metrics: null, crash: crashOf(log, false) }
  }
  if (!saneMetrics(metrics)) {
    if (status !== undefined) throw new SwarmdError('RESULT_INVALID', `status ${status} needs sane metrics, but val_bpb ${metrics.val_bpb} (or another figure) is outside the sanity bounds; publish without a status (it is then a crash) or --status crash`)
    return { metrics: null, crash: insane(metrics) }
  }
  return { metrics, crash: null, ...(status !== undefined ? { status } : {}) }
}

function logOf (run: RunReport): string {
  return 'observed' in run ? run.observed.log : run.reported.log
}

/** keep when the run beats its parent (or there is nothing to beat), discard when not, crash without metrics. */
function decideStatus (metrics: RunMetrics | null, parentValBpb: number | null): ResultStatus {
  if (metrics === null) return 'crash'
  return parentValBpb === null || metrics.val_bpb < parentValBpb ? 'keep' : 'discard'
}

/** Why a published run counts as a crash, from its log alone (the agent ran it, not this node). */
function crashOf (log: string, hadSummary: boolean): CrashBody {
  if (hadSummary) return { reason: 'reported', detail: 'the agent reported the run as a crash' }
  const lines = log.split(/\r?\n/)
  const failLine = lines.find((line) => line.startsWith('FAIL'))
  const summary = parseSummary(log)
  if ((failLine !== undefined && /nan|inf/i.test(failLine)) || ('problem' in summary && summary.problem === 'nan')) {
    return { reason: 'nan', detail: (failLine ?? ('detail' in summary ? summary.detail : '')).trim().slice(0, 2000) }
  }
  if (/Traceback \(most recent call last\)/.test(log)) return { reason: 'exception', detail: fatalLine(log).line.slice(0, 2000) }
  const detail = 'problem' in summary ? summary.detail : 'no summary'
  return { reason: 'no-summary', detail: `${detail}; log ends: ${logTail(log, 3)}`.slice(0, 2000) }
}
