import type { ResultEntry } from '../claims/research-ledger.js'
import type { ResultBody, VerificationBody } from '../state/record-kinds.js'

export interface TrustVerification {
  id: string
  author: string
  body: VerificationBody
}

export interface TrustPolicy {
  /** This node: its own results and its own re-runs are trusted without anyone else. */
  self: string
  /** Independent reproductions by peers with standing that make a peer's result trusted. */
  quorum: number
  /** Largest |val_bpb difference| that still counts as reproduced. */
  tolerance: number
  /** A peer with this many trusted results needs only one reproduction (adaptive replication). */
  reputationAfter: number
  /** A re-run worse by less than this many tolerances only marks the result not reproduced. Default `TRUST_BOUNDS.nearMargin` (3). */
  nearMargin?: number
  /** A re-run worse by at least this many tolerances (or a crash) exposes a liar, for good. Default `TRUST_BOUNDS.liarMargin` (10). */
  liarMargin?: number
  /** New identities one peer with standing may sponsor per scope. Default `TRUST_BOUNDS.sponsorBudget` (4). */
  sponsorBudget?: number
}

/**
 * The bounds of trust (DESIGN §4, issue 13):
 * - `nearMargin` 3: the "small margin". Fixed-step re-runs of honest code land within
 *   1.3e-4 on cpu (BENCHMARKS §9), so a miss under 3 tolerances (0.03 on cpu) is a train.py
 *   that is not deterministic (a seed from the clock), not a lie worth remembering.
 * - `liarMargin` 10: a miss of 0.1 val_bpb or more on cpu, or a re-run that crashed, is a lie
 *   (the fakes seen: 0.91 reported, 6.83 re-run). Between 3 and 10 tolerances the result is
 *   refuted and its author and vouchers lose standing until this node reproduces a later result
 *   of theirs itself, but they are not branded liars (a clock-seeded honest author misses by
 *   0.01-0.05 on cpu).
 * - `sponsorBudget` 4 and two levels: standing is level 1 when this node reproduced a result
 *   itself, level 2 when `quorum` level-1 peers reproduced it, each spending one of its
 *   `sponsorBudget` sponsorships in that scope; level 2 sponsors nobody. So n colluding level-1
 *   identities mint at most floor(n x sponsorBudget / quorum) new standing identities, and those
 *   mint none: two sybils with standing (quorum 2) mint at most 4, whatever chain they build.
 */
export const TRUST_BOUNDS = { nearMargin: 3, liarMargin: 10, sponsorBudget: 4, levels: 2 } as const

/** `not-reproduced`: re-runs missed by a small margin (nobody is blamed); `refuted`: they missed by more. */
export type TrustStatus = 'self' | 'trusted' | 'refuted' | 'not-reproduced' | 'unverified'

/**
 * What one verification says about the result it names: `reproduced` within the tolerance;
 * `near` missed by under `nearMargin` tolerances, or came out better than reported (nobody
 * understates a result to gain); `refutes` worse by up to `liarMargin`; `exposes` worse by more,
 * or crashed in the result's own environment; `inconclusive` says nothing (the verifier's
 * machine, or an import/attribute error under another PyTorch or GPU); `void` does not count
 * (another tier, harness or step count, or the author re-running itself).
 */
export type Verdict = 'reproduced' | 'near' | 'refutes' | 'exposes' | 'inconclusive' | 'void'

export interface TrustState {
  status: Map<string, TrustStatus>
  /** Peers with standing in some scope (and this node): their reproductions count towards a quorum there. */
  standing: Set<string>
  /** Peers exposed reporting numbers that did not reproduce, and their vouchers: no standing, ever, on this node. */
  caught: Set<string>
  /** Peers that lost standing to a refutation by a moderate margin, not branded: author → the refuted result's date. */
  suspect: Map<string, number>
  /** result id → peers with standing (and this node) whose re-run reproduced it. */
  reproducedBy: Map<string, Set<string>>
}

const IMPORT_ERROR = /\b(ImportError|ModuleNotFoundError|AttributeError)\b/

/**
 * Where a peer's standing holds: the tier, the GPU model, the PyTorch version's major.minor and the
 * regime of the result (`maxSteps`: timed when left out). A step-limited run's steps are the
 * code's word (a step may hide any amount of work, up to the harness's wall limit): a result that
 * reproduces under a step limit proves nothing about a timed one, so standing earned there holds
 * only for that step count. Standing earned on a timed result holds under any step limit too
 * (`standingScopes`).
 */
export function scopeOf (body: { hardware: ResultBody['hardware'], environment?: ResultBody['environment'] }, maxSteps: number | undefined): string {
  const torch = body.environment?.torch.match(/^\d+\.\d+/)?.[0] ?? '?'
  const environment = `${body.hardware.tier}/${body.hardware.gpu}/torch ${torch}`
  return maxSteps === undefined ? environment : `${environment}/${maxSteps} steps`
}

/** The scopes whose standing counts in `scope`: itself, then (for a step-limited scope) the timed one of its environment. */
function standingScopes (scope: string): string[] {
  const steps = scope.lastIndexOf('/')
  return scope.endsWith(' steps') ? [scope, scope.slice(0, steps)] : [scope]
}

function sameEnvironment (result: ResultBody, verification: VerificationBody): boolean {
  return result.environment !== undefined && verification.environment !== undefined &&
    result.environment.torch === verification.environment.torch && result.hardware.gpu === verification.hardware.gpu
}

/** Whether a verification's re-run reproduced the result it names, within the tolerance. */
export function reproduces (result: ResultBody, verification: VerificationBody, tolerance: number): boolean {
  if (result.metrics === null || verification.metrics === null) return false
  return Math.abs(result.metrics.val_bpb - verification.metrics.val_bpb) <= tolerance
}

/** What `verification` says about `result` under `policy` (see `Verdict`); `verifier` and `author` sign them. */
export function verdictOf (result: ResultEntry, verification: TrustVerification, policy: TrustPolicy): Verdict {
  const r = result.body
  const v = verification.body
  if (verification.author === result.author || r.metrics === null) return 'void'
  if (v.hardware.tier !== r.hardware.tier || v.harness !== r.harness || v.maxSteps !== r.metrics.num_steps) return 'void'
  if (v.inconclusive === true) return 'inconclusive'
  if (v.metrics === null) {
    // Code written for another PyTorch (or GPU) that fails to import there says nothing about the number.
    if (v.crash !== undefined && IMPORT_ERROR.test(`${v.crash.reason} ${v.crash.detail}`) && !sameEnvironment(r, v)) return 'inconclusive'
    // A run that diverged may do so by its seed: not a lie on its own.
    return v.crash?.reason === 'nan' ? 'refutes' : 'exposes'
  }
  const worse = v.metrics.val_bpb - r.metrics.val_bpb
  if (Math.abs(worse) <= policy.tolerance) return 'reproduced'
  if (worse < policy.tolerance * (policy.nearMargin ?? TRUST_BOUNDS.nearMargin)) return 'near'
  return worse < policy.tolerance * (policy.liarMargin ?? TRUST_BOUNDS.liarMargin) ? 'refutes' : 'exposes'
}

/** The worse of two verdicts by one verifier on one result: a verifier that says both is held to the worse. */
const RANK: Record<Verdict, number> = { void: 0, reproduced: 1, inconclusive: 2, near: 3, refutes: 4, exposes: 5 }

interface Vote { verdict: Verdict, scope: string }

interface ResultNode {
  r: ResultEntry
  scope: string
  createdAt: number
  /** verifier → its (worst) verdict, non-void only. */
  votes: Map<string, Vote>
  status: TrustStatus
}

type Entry = { kind: 'result', r: ResultEntry } | { kind: 'verification', v: TrustVerification }

/**
 * Which results this node trusts (DESIGN §4), kept up to date record by record. Identities are
 * free, so a reproduction only counts from a peer with standing, and standing starts from this
 * node's own re-runs and travels at most one hop (`TRUST_BOUNDS`):
 * - this node's results are trusted, and so is a result this node re-ran and reproduced (its
 *   author gets level-1 standing in the result's scope: tier, GPU model, PyTorch version, step limit);
 * - a peer's result is trusted when `quorum` distinct peers with standing in the scope they re-ran
 *   in reproduced it (one when the author already has `reputationAfter` trusted results); when
 *   `quorum` of those have level 1 and sponsorships left, its author gets level 2;
 * - this node's own verdict overrides peers': not reproduced, refuted, or (inconclusive) at most
 *   unverified;
 * - a refuted result costs its author and every peer that said it reproduced (its vouchers) their
 *   standing: for good (`caught`) when the miss exposes a lie, else until this node reproduces a
 *   later result of theirs (`suspect`). A quorum of standing peers refutes too; one cannot frame.
 *
 * Cost: a new result or verification re-judges the result it names, and a change of standing
 * re-judges only the results the peer verified (its vouches start or stop counting), a change of
 * reputation only the author's results. Standing never falls in that path; when a peer that had
 * standing or trusted results is caught, what rested on it is withdrawn by replaying the records
 * in arrival order (`rebuild`): each replay costs the swarm an identity with standing, which are
 * bounded, so it cannot be had per record.
 */
export class TrustEngine {
  private readonly log: Entry[] = []
  private readonly results = new Map<string, ResultNode>()
  private readonly orphans = new Map<string, TrustVerification[]>()
  private readonly byAuthor = new Map<string, ResultNode[]>()
  private readonly byVerifier = new Map<string, Set<ResultNode>>()
  /** Every author that published a verification of a result, whatever it said. */
  private readonly verifiersOf = new Map<string, Set<string>>()
  /** author → scope → level (1: reproduced here; 2: sponsored by level-1 peers). */
  private readonly levels = new Map<string, Map<string, 1 | 2>>()
  private readonly sponsorships = new Map<string, number>()
  private readonly trustedCount = new Map<string, number>()
  private readonly queue: ResultNode[] = []
  private readonly queued = new Set<ResultNode>()
  private replayNeeded = false
  private readonly sponsorBudget: number
  /** Replays done since the engine was made (a measure for tests and benchmarks). */
  rebuilds = 0

  readonly state: TrustState = { status: new Map(), standing: new Set(), caught: new Set(), suspect: new Map(), reproducedBy: new Map() }

  constructor (readonly policy: TrustPolicy) {
    this.sponsorBudget = policy.sponsorBudget ?? TRUST_BOUNDS.sponsorBudget
    this.state.standing.add(policy.self)
  }

  addResult (r: ResultEntry): void {
    this.log.push({ kind: 'result', r })
    this.applyResult(r)
    this.settle()
  }

  addVerification (v: TrustVerification): void {
    this.log.push({ kind: 'verification', v })
    this.applyVerification(v)
    this.settle()
  }

  /** Forget every record of these authors (convicted of equivocation) and replay the rest. */
  forget (authors: ReadonlySet<string>): void {
    const kept = this.log.filter((e) => !authors.has(e.kind === 'result' ? e.r.author : e.v.author))
    this.log.length = 0
    this.log.push(...kept)
    this.replayNeeded = true
    this.settle()
  }

  status (resultId: string): TrustStatus {
    return this.state.status.get(resultId) ?? 'unverified'
  }

  /** Whether `author` has standing in `scope` (any scope when left out); this node always has. */
  hasStanding (author: string, scope?: string): boolean {
    if (author === this.policy.self) return true
    if (this.state.caught.has(author)) return false
    const levels = this.levels.get(author)
    return levels !== undefined && (scope === undefined ? levels.size > 0 : this.heldScope(author, scope) !== undefined)
  }

  /** The scope in which `author`'s standing counts for `scope` (`standingScopes`), undefined without. */
  private heldScope (author: string, scope: string): string | undefined {
    const levels = this.levels.get(author)
    if (levels === undefined) return undefined
    return standingScopes(scope).find((s) => levels.has(s))
  }

  /** The level of `author`'s standing in `scope` (0 for this node), undefined without. */
  levelOf (author: string, scope: string): number | undefined {
    if (author === this.policy.self) return 0
    const held = this.heldScope(author, scope)
    return held === undefined ? undefined : this.levels.get(author)?.get(held)
  }

  /** Reproductions by peers with standing that `resultId` needs to be trusted here: `quorum`, or one once its author has a reputation. */
  reproductionsNeeded (resultId: string): number {
    const node = this.results.get(resultId)
    return node === undefined ? this.policy.quorum : this.need(node)
  }

  /** Whether a verification of `resultId` by `author` counts towards its trust here: this node's, or a peer's with standing in the result's scope. */
  vouchCounts (resultId: string, author: string): boolean {
    const node = this.results.get(resultId)
    return node !== undefined && this.counts(author, node.scope)
  }

  /** Whether `author` published a verification of `resultId`, whatever it said. */
  verifiedBy (resultId: string, author: string): boolean {
    return this.verifiersOf.get(resultId)?.has(author) ?? false
  }

  private applyResult (r: ResultEntry): void {
    if (this.results.has(r.id)) return
    const node: ResultNode = { r, scope: scopeOf(r.body, r.body.maxSteps), createdAt: r.createdAt, votes: new Map(), status: 'unverified' }
    this.results.set(r.id, node)
    push(this.byAuthor, r.author, node)
    for (const v of this.orphans.get(r.id) ?? []) this.attach(node, v)
    this.orphans.delete(r.id)
    this.enqueue(node)
  }

  private applyVerification (v: TrustVerification): void {
    let verifiers = this.verifiersOf.get(v.body.result)
    if (verifiers === undefined) this.verifiersOf.set(v.body.result, verifiers = new Set())
    verifiers.add(v.author)
    const node = this.results.get(v.body.result)
    if (node === undefined) {
      push(this.orphans, v.body.result, v)
      return
    }
    this.attach(node, v)
    this.enqueue(node)
  }

  private attach (node: ResultNode, v: TrustVerification): void {
    const verdict = verdictOf(node.r, v, this.policy)
    if (verdict === 'void') return
    const before = node.votes.get(v.author)
    if (before !== undefined && RANK[before.verdict] >= RANK[verdict]) return
    // A re-run counts in the result's regime: every verification re-runs a step count, timed result or not.
    node.votes.set(v.author, { verdict, scope: scopeOf(v.body, node.r.body.maxSteps) })
    let nodes = this.byVerifier.get(v.author)
    if (nodes === undefined) this.byVerifier.set(v.author, nodes = new Set())
    nodes.add(node)
  }

  private enqueue (node: ResultNode): void {
    if (this.queued.has(node)) return
    this.queued.add(node)
    this.queue.push(node)
  }

  /** Judge what is queued; replay when a catch withdrew standing something rested on. */
  private settle (): void {
    for (;;) {
      for (let node = this.queue.shift(); node !== undefined; node = this.queue.shift()) {
        this.queued.delete(node)
        this.judge(node)
      }
      if (!this.replayNeeded) return
      this.replay()
    }
  }

  /** Everything but `caught` and `suspect` (which only grow) from scratch, in arrival order. */
  private replay (): void {
    this.replayNeeded = false
    this.rebuilds++
    this.results.clear()
    this.orphans.clear()
    this.byAuthor.clear()
    this.byVerifier.clear()
    this.verifiersOf.clear()
    this.levels.clear()
    this.sponsorships.clear()
    this.trustedCount.clear()
    this.queue.length = 0
    this.queued.clear()
    this.state.status.clear()
    this.state.reproducedBy.clear()
    this.state.standing.clear()
    this.state.standing.add(this.policy.self)
    for (const e of this.log) {
      if (e.kind === 'result') this.applyResult(e.r)
      else this.applyVerification(e.v)
      for (let node = this.queue.shift(); node !== undefined; node = this.queue.shift()) {
        this.queued.delete(node)
        this.judge(node)
      }
    }
  }

  private counts (author: string, scope: string): boolean {
    return author === this.policy.self || (!this.state.caught.has(author) && this.heldScope(author, scope) !== undefined)
  }

  private judge (node: ResultNode): void {
    const { r } = node
    const { self, quorum } = this.policy
    const caught = this.state.caught
    const ok = new Set<string>()
    let status: TrustStatus
    let refuters = 0
    let exposers = 0
    let near = 0
    const mine = node.votes.get(self)?.verdict
    if (r.author === self) {
      status = 'self'
    } else if (r.body.metrics === null) {
      status = 'unverified'
    } else {
      for (const [author, vote] of node.votes) {
        if (!this.counts(author, vote.scope)) continue
        if (vote.verdict === 'reproduced') ok.add(author)
        else if (vote.verdict === 'near') near++
        else if (vote.verdict === 'refutes' || vote.verdict === 'exposes') {
          if (author === self) continue
          refuters++
          if (vote.verdict === 'exposes') exposers++
        }
      }
      const peersOk = ok.size - (ok.has(self) ? 1 : 0)
      if (mine !== undefined) {
        status = mine === 'reproduced' ? 'trusted' : mine === 'near' ? 'not-reproduced' : mine === 'inconclusive' ? 'unverified' : 'refuted'
      } else if (refuters >= quorum && refuters > peersOk) {
        // Framing an honest peer takes as many standing voices as vouching for a liar: a quorum.
        status = 'refuted'
      } else if (refuters + near >= quorum && refuters + near > peersOk) {
        status = 'not-reproduced'
      } else {
        status = !caught.has(r.author) && peersOk >= this.need(node) ? 'trusted' : 'unverified'
      }
    }
    const before = node.status
    node.status = status
    this.state.status.set(r.id, status)
    this.state.reproducedBy.set(r.id, ok)
    if ((before === 'trusted') !== (status === 'trusted')) this.countTrusted(r.author, status === 'trusted' ? 1 : -1)
    if (status === 'refuted' && before !== 'refuted') {
      const gross = mine !== undefined ? mine === 'exposes' : exposers >= quorum
      this.blame(r.author, gross, node.createdAt)
      for (const [author, vote] of node.votes) if (vote.verdict === 'reproduced' && author !== self) this.blame(author, gross, node.createdAt)
      return
    }
    if (r.author === self || caught.has(r.author)) return
    const suspectUntil = this.state.suspect.get(r.author)
    if (mine === 'reproduced' && (suspectUntil === undefined || node.createdAt > suspectUntil)) this.grant(r.author, node.scope, 1)
    if (status === 'trusted' && suspectUntil === undefined && this.heldScope(r.author, node.scope) === undefined) this.sponsor(node, ok)
  }

  /** Reproductions a result needs from standing peers: one once its author has a reputation (not counting this result). */
  private need (node: ResultNode): number {
    const count = (this.trustedCount.get(node.r.author) ?? 0) - (node.status === 'trusted' ? 1 : 0)
    return count >= this.policy.reputationAfter ? 1 : this.policy.quorum
  }

  private countTrusted (author: string, by: 1 | -1): void {
    const before = this.trustedCount.get(author) ?? 0
    const after = before + by
    this.trustedCount.set(author, after)
    // The need of the author's results changes when the count passes reputationAfter (each result leaves itself out).
    const at = this.policy.reputationAfter
    if (Math.max(before, after) >= at && Math.min(before, after) <= at + 1) for (const node of this.byAuthor.get(author) ?? []) this.enqueue(node)
  }

  /**
   * Level 2 for the author of `node` when `quorum` of its level-1 reproducers have sponsorships
   * left in the scope where they hold it (one budget for a timed scope and every step limit under it).
   */
  private sponsor (node: ResultNode, ok: Set<string>): void {
    const sponsors: string[] = []
    for (const author of [...ok].sort()) {
      if (author === this.policy.self || author === node.r.author) continue
      const held = this.heldScope(author, node.votes.get(author)!.scope)
      if (held === undefined || this.levels.get(author)?.get(held) !== 1) continue
      const key = `${author} ${held}`
      if ((this.sponsorships.get(key) ?? 0) >= this.sponsorBudget) continue
      sponsors.push(key)
      if (sponsors.length === this.policy.quorum) break
    }
    if (sponsors.length < this.policy.quorum) return
    for (const key of sponsors) this.sponsorships.set(key, (this.sponsorships.get(key) ?? 0) + 1)
    this.grant(node.r.author, node.scope, 2)
  }

  private grant (author: string, scope: string, level: 1 | 2): void {
    let levels = this.levels.get(author)
    if (levels === undefined) this.levels.set(author, levels = new Map())
    const had = levels.get(scope)
    if (had !== undefined && had <= level) return
    levels.set(scope, level)
    this.state.standing.add(author)
    // Its reproductions start to count (or, at level 1, to sponsor): re-judge what it verified.
    for (const node of this.byVerifier.get(author) ?? []) this.enqueue(node)
  }

  /** `author` said a refuted result was right, or wrote it: it loses standing. */
  private blame (author: string, gross: boolean, at: number): void {
    if (author === this.policy.self || this.state.caught.has(author)) return
    const mattered = this.levels.has(author) || (this.trustedCount.get(author) ?? 0) > 0
    if (gross) {
      this.state.caught.add(author)
    } else {
      const until = this.state.suspect.get(author)
      if (until !== undefined && until >= at) return
      this.state.suspect.set(author, at)
    }
    // Without standing or trusted results nothing rested on it: its own results are judged again, nothing else.
    if (mattered) this.replayNeeded = true
    else for (const node of this.byAuthor.get(author) ?? []) this.enqueue(node)
  }
}

/**
 * Which results this node trusts, from records in the order given (the pure form of
 * `TrustEngine`, for tests and tools): results first, then verifications.
 */
export function computeTrust (results: ResultEntry[], verifications: TrustVerification[], policy: TrustPolicy): TrustState {
  const engine = new TrustEngine(policy)
  for (const r of results) engine.addResult(r)
  for (const v of verifications) engine.addVerification(v)
  return engine.state
}

function push<V> (map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}
