import { diffConstants } from '../source/train-constants.js'
import { fatalLine, logTail } from '../runner/classify.js'
import { parseSummary } from '../runner/summary.js'
import { publishableLog } from '../runner/publishable.js'
import { SwarmdError } from '../util/errors.js'
import { parentSource } from './claim-request.js'
import { findClaim } from './lookup.js'
import type { SourceBlobs } from './claim-request.js'
import type { ClaimEntry, ClaimLedger, ResultEntry } from './claim-ledger.js'
import type { RunMetrics } from '../runner/summary.js'
import type { EnvironmentBody, ResultBody, Tier } from '../state/record-kinds.js'
import type { SwarmState } from '../state/swarm-state.js'
import type { Clock } from '../util/clock.js'

export type ResultStatus = ResultBody['status']

/** What an agent publishes after a run (the agent API's `POST /api/results` body). */
export interface PublishInput {
  /** The claim id (or unique prefix of at least 8 characters) the run belongs to. */
  claim: string
  /** The run's full stdout: the metrics come from its summary block. */
  log: string
  /** The train.py as it ran. */
  code: string
  /** Default: crash without a summary, else keep when val_bpb beats the parent's, else discard. */
  status?: ResultStatus
}

export interface ResultPublisherComponents {
  state: SwarmState
  ledger: ClaimLedger
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
}

/**
 * Publishes the result of a claim this node holds: parses the metrics from the run's log,
 * stores code and log as blobs and appends the result record. A claim takes one result;
 * a claim that expired meanwhile still takes it (a zombie result is kept, DESIGN §4).
 */
export class ResultPublisher {
  /** Claims with a publish under way: a second publish for one of them is refused, not raced. */
  private readonly publishing = new Set<string>()

  constructor (private readonly components: ResultPublisherComponents, private readonly init: ResultPublisherInit) {}

  async publish (input: PublishInput, options: { signal?: AbortSignal } = {}): Promise<ResultEntry> {
    const { state, ledger, blobs } = this.components
    const claim = this.publishable(input.claim)
    const summary = parseSummary(input.log)
    const metrics = 'metrics' in summary ? summary.metrics : null
    if ('problem' in summary && input.status !== undefined && input.status !== 'crash') {
      throw new SwarmdError('RESULT_INVALID', `status ${input.status} needs the run's metrics, but the log has ${summary.problem === 'missing' ? 'no summary block' : `a broken summary (${summary.detail})`}; publish the full stdout of the run, or --status crash`)
    }
    this.publishing.add(claim.id)
    try {
      const before = await parentSource(this.components, claim.body.parent, options)
      const status = input.status ?? decideStatus(metrics, this.parentValBpb(claim))
      const codeHash = await blobs.add(Buffer.from(input.code))
      const logHash = await blobs.add(Buffer.from(publishableLog(input.log)))
      const body: ResultBody = {
        claimId: claim.id,
        parent: claim.body.parent,
        codeHash,
        logHash,
        description: claim.body.description,
        delta: diffConstants(before, input.code),
        status,
        // A crash carries no metrics, whatever it printed: nothing of it may rank as a best.
        metrics: status === 'crash' ? null : metrics,
        crash: status === 'crash' ? crashOf(input.log, metrics !== null) : null,
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
  private publishable (idOrPrefix: string): ClaimEntry {
    const { ledger, state, clock } = this.components
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

/** keep when the run beats its parent (or there is nothing to beat), discard when not, crash without metrics. */
export function decideStatus (metrics: RunMetrics | null, parentValBpb: number | null): ResultStatus {
  if (metrics === null) return 'crash'
  return parentValBpb === null || metrics.val_bpb < parentValBpb ? 'keep' : 'discard'
}

/** Why a published run counts as a crash, from its log alone (the agent ran it, not this node). */
export function crashOf (log: string, hadSummary: boolean): { reason: string, detail: string } {
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
