/**
 * A synthetic swarm history: claims, heartbeats, releases and results of many authors over many
 * experiments, signed for real. The claim-check bench checks candidates against it; the join bench
 * has a new daemon catch up on it.
 */
import * as Y from 'yjs'
import { sha256Hex } from '../../src/util/hash.js'
import { makeReplica } from '../../test/helpers/replica.js'
import { progress } from '../harness.js'
import { freeIdea, knobIdea, KNOBS, pick } from './ideas.js'
import type { Idea } from './ideas.js'
import type { ClaimBody, ResultBody } from '../../src/state/record-kinds.js'
import type { UpdateStore } from '../../src/state/update-store.js'
import type { Rng } from '../../src/util/rng.js'
import type { Replica } from '../../test/helpers/replica.js'

/** The harness name every result of the history carries. */
export const HARNESS = 'bench'
const RUN_MS = 5 * 60_000
const TTL_MS = 3 * RUN_MS
/** Claim → result: the budget plus start-up, data and eval (bench:overhead measured ~2.3 s on CPU; a GPU run's eval is longer). */
const CYCLE_MS = RUN_MS + 30_000
const T0 = 1_760_000_000_000

/** A store that keeps nothing: the authors (and the claim bench's measured node) live in memory only. */
export class DiscardStore implements UpdateStore {
  async open (): Promise<void> {}
  async load (): Promise<Uint8Array | null> { return null }
  async append (): Promise<void> {}
  async close (): Promise<void> {}
}

export interface ParentInfo {
  id: string | null
  config: Map<string, number>
  tried: Set<string>
  /** Live dedup entries of each idea on this parent, for picking duplicates to check. */
  done: Array<{ idea: Idea, wording: string, codeHash: string | null, resultCodeHash: string | undefined }>
}

export interface HistoryOptions {
  /** Experiments to run (claims); about 94 % end in a result. */
  experiments: number
  /** Peers that write the history, each running experiments back to back. */
  authors: number
  /** Expected length of the lineage (kept results experiments build on). */
  parents: number
}

/** A written history: each author's replica still holds its records, until `handOver`. */
export interface WrittenHistory {
  authors: Replica[]
  parents: ParentInfo[]
  /** The time just after the last claim: "now" for whoever reads the history. */
  now: number
  counts: Record<string, number>
}

/**
 * `authors` peers each run experiments back to back (5 min budget, claim ttl 15 min, one heartbeat
 * per run, 3 % aborted, 2 % yielded, 1 % left to expire, 2 % crash), always on the best result known
 * when they claim: a kept result becomes the parent of the experiments claimed after it arrived, so
 * the lineage grows to about `parents` results, with later parents carrying more experiments.
 * Each author signs with its own identity into its own SwarmState replica.
 */
export async function writeHistory (opts: HistoryOptions, rng: Rng): Promise<WrittenHistory> {
  const authors: Replica[] = []
  for (let i = 0; i < opts.authors; i++) authors.push(await makeReplica({ seed: 1000 + i, store: new DiscardStore() }))
  const experiments = opts.experiments
  const spacing = CYCLE_MS / opts.authors
  // Chance that a result is kept falls as the model improves: keep(i) = q0 * e0 / (e0 + i),
  // with e0 chosen so that the expected number of keeps is --parents.
  const q0 = 0.2 // an assumption: early on, one run in five improves on its parent
  let e0 = 1
  while (q0 * e0 * Math.log(1 + experiments / e0) < opts.parents) e0 *= 1.05
  const counts: Record<string, number> = { claim: 0, result: 0, heartbeat: 0, release: 0, binding: opts.authors }
  const initial: ParentInfo = { id: null, config: new Map(KNOBS.map((k) => [k.name, k.init])), tried: new Set(), done: [] }
  const parents: ParentInfo[] = [initial]
  let current = initial
  /** Kept results not yet known to the swarm: they become the parent once their time has come. */
  const pendingKeeps: Array<{ at: number, parent: ParentInfo }> = []
  const lastClaimAt = Math.round(T0 + experiments * spacing)
  const now = lastClaimAt + 10_000
  const started = performance.now()
  let lastReport = started

  for (let i = 0; i < experiments; i++) {
    const at = Math.round(T0 + i * spacing) + rng.int(Math.floor(spacing))
    while (pendingKeeps.length > 0 && pendingKeeps[0]!.at <= at) current = pendingKeeps.shift()!.parent
    const author = authors[i % opts.authors]!
    const idea = (rng.next() < 0.3 ? freeIdea(rng, current.tried) : undefined) ?? knobIdea(rng, current.config, current.tried)
    if (idea === undefined) continue
    current.tried.add(idea.key)
    const wording = pick(rng, idea.wordings())
    const codeHash = sha256Hex(`train.py ${i}`)
    // Agents that claim an idea before writing code (the agent API without --code).
    const claimCode = idea.delta.length === 0 && rng.next() < 0.5 ? null : codeHash
    author.clock.set(at)
    const claimBody: ClaimBody = { description: wording, parent: current.id, codeHash: claimCode, delta: idea.delta, tier: 'vram24', ttlMs: TTL_MS }
    const claim = await author.state.append('claim', claimBody)
    counts.claim!++
    const fate = rng.next()
    const resultAt = at + CYCLE_MS - 5_000 + rng.int(10_000)
    const running = resultAt > now
    if (!running && fate < 0.02) {
      // yielded to an earlier claim at the end of the settle window
      author.clock.set(at + 500)
      await author.state.append('release', { claim: claim.id, reason: 'yielded' })
      counts.release!++
      continue
    }
    if (at + TTL_MS / 3 <= Math.min(resultAt, now)) {
      author.clock.set(at + TTL_MS / 3)
      await author.state.append('heartbeat', { claim: claim.id })
      counts.heartbeat!++
    }
    if (running) {
      current.done.push({ idea, wording, codeHash: claimCode, resultCodeHash: undefined })
      continue
    }
    if (fate < 0.05) {
      author.clock.set(at + 60_000 + rng.int(RUN_MS))
      await author.state.append('release', { claim: claim.id, reason: 'aborted' })
      counts.release!++
      continue
    }
    if (fate < 0.06) continue // the node died: the claim expires
    const crashed = fate < 0.08
    const kept = !crashed && rng.next() < q0 * e0 / (e0 + i)
    author.clock.set(resultAt)
    const resultBody: ResultBody = {
      claimId: claim.id,
      parent: current.id,
      codeHash,
      logHash: sha256Hex(`run.log ${i}`),
      description: wording,
      delta: idea.delta,
      status: crashed ? 'crash' : kept ? 'keep' : 'discard',
      metrics: crashed ? null : { val_bpb: 1 - i / (experiments * 10), training_seconds: 300, total_seconds: 325, peak_vram_mb: 18_000, mfu_percent: 38, total_tokens_M: 250, num_steps: 1200, num_params_M: 50, depth: 12 },
      crash: crashed ? { reason: 'oom', detail: 'CUDA out of memory' } : null,
      hardware: { gpu: 'RTX 4090', vramGb: 24, tier: 'vram24' },
      harness: HARNESS
    }
    const result = await author.state.append('result', resultBody)
    counts.result!++
    current.done.push({ idea, wording, codeHash: claimCode, resultCodeHash: codeHash })
    if (kept) {
      const config = new Map(current.config)
      for (const d of idea.delta) config.set(d.name, d.to as number)
      const next: ParentInfo = { id: result.id, config, tried: new Set(), done: [] }
      parents.push(next)
      pendingKeeps.push({ at: resultAt, parent: next })
      pendingKeeps.sort((a, b) => a.at - b.at)
    }
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now()
      progress(`writing the history: ${i}/${experiments} experiments, ${counts.claim! + counts.result!} claims + results, ${parents.length} parents, ${((performance.now() - started) / 1000).toFixed(0)} s`)
    }
  }
  progress(`wrote ${counts.claim} claims, ${counts.result} results, ${counts.heartbeat} heartbeats, ${counts.release} releases in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  // Parents without experiments (kept too late to be built on) are no place to check.
  return { authors, parents: parents.filter((p) => p.done.length > 0 || p === current), now, counts }
}

/**
 * Give each author's records, as one update (what a sync pull of that author would bring), to
 * `apply`, then drop the author's replica: the history then lives only where it was applied.
 */
export async function handOver (history: WrittenHistory, apply: (update: Uint8Array, author: number) => Promise<void>): Promise<void> {
  for (const [i, author] of history.authors.entries()) {
    await apply(Y.encodeStateAsUpdate(author.state.doc), i)
    await author.state.stop()
    author.state.doc.destroy()
  }
  history.authors.length = 0
}
