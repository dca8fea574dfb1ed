import { resolve } from 'node:path'
import { dataPaths } from '../config/data-dir.js'
import { BlobStore, parseBlobHash } from '../p2p/blob-store.js'
import { ApiClient, ApiError } from './api-client.js'
import { importOrder } from './lineage-commits.js'
import { importStream } from './lineage-import.js'
import { LineageRepo } from './lineage-repo.js'
import { bestReply, defaultSourceReply, resultsReply, statusReply } from '../http/api-contract.js'
import { TIERS } from '../state/record-kinds.js'
import { SwarmdError } from '../util/errors.js'
import { sha256Hex } from '../util/hash.js'
import type { ImportOutcome } from './lineage-import.js'
import type { ResultJson } from '../http/api-contract.js'
import type { Tier } from '../state/record-kinds.js'

type Print = (line: string) => void

const SHA256_HEX = /^[0-9a-f]{64}$/

/** What one `swarmd git` run did to the repository. */
export interface LineageSync {
  dir: string
  created: boolean
  /** The results the daemon listed, newest first. */
  results: ResultJson[]
  /** The commit of every result in the repository now, by result id. */
  commits: Map<string, string>
  /** Results committed by this run. */
  added: number
  /** Results left for a later run: their parent, or their source, has not reached this daemon yet. */
  waiting: number
  /** Refs that did not name their result and were written again. */
  repaired: number
  /** Each tier's branch: the best trusted result's commit, or null when the tier has none. */
  branches: Map<Tier, string | null>
  /** Tiers whose best result is not in the repository yet (it waits): their branches stay where they were. */
  bestWaiting: Tier[]
  /** Set when HEAD's branch moved but edits to train.py kept HEAD (detached) and the work tree where they were. */
  headKept?: string
}

/**
 * Bring the lineage repository in `dir` up to date with the daemon's results: commit those it
 * lacks, parents first, then point each tier's branch at the tier's best trusted result.
 * `progress` gets a line every 500 results of a long import.
 */
export async function syncLineage (client: ApiClient, dataDir: string, dir: string, progress: Print): Promise<LineageSync> {
  // The results first: a daemon still starting answers them with API_STARTING, its status with no swarm yet.
  const [{ results }, defaults] = await Promise.all([
    client.getJson('/api/results', resultsReply),
    client.getJson('/api/default-source', defaultSourceReply)
  ])
  const status = await client.getJson('/api/status', statusReply)
  const defaultSource = Buffer.from(defaults.code)
  if (sha256Hex(defaultSource) !== defaults.codeHash) throw new SwarmdError('BLOB_HASH_MISMATCH', 'the daemon\'s default train.py does not match its hash; nothing written')

  // Ids go into refs and fast-import's stream: only the daemon's own hex ids, nothing that could end a line.
  const bad = results.find((r) => !SHA256_HEX.test(r.id) || (r.parent !== null && !SHA256_HEX.test(r.parent)))
  if (bad !== undefined) throw new SwarmdError('API_REPLY_INVALID', `the daemon listed a result whose id or parent is not a sha256 (${JSON.stringify(bad.id.slice(0, 80))}); are the daemon and this command the same version?`)

  const { repo, created } = await LineageRepo.open(resolve(dir), status.swarm, status.research.tier)
  const before = await repo.resultCommits()
  const { ready, waiting } = importOrder(results, new Set(before.commits.keys()))
  const outcome: ImportOutcome = { marks: new Map(), skipped: new Set() }
  if (ready.length > 0) {
    const plan = { defaultSource, defaultCodeHash: defaults.codeHash, ready, known: before.commits }
    const local = new BlobStore(dataPaths(dataDir).blobs)
    const budget = new FetchBudget(SOURCE_FETCH_BUDGET_MS)
    await repo.importResults(importStream(plan, async (hash) => sourceOf(client, local, hash, budget), outcome), outcome, (line) => { progress(`git: ${line}`) })
    if (budget.spent) progress(`git: fetching sources from peers took the run's ${SOURCE_FETCH_BUDGET_MS / 1000} s; the results whose sources did not come wait for a later run`)
  }
  const { commits } = await repo.resultCommits()

  const branches = new Map<Tier, string | null>()
  const bestWaiting: Tier[] = []
  for (const tier of TIERS) {
    const { best } = await client.getJson(`/api/best?tier=${tier}`, bestReply)
    const commit = best === null ? null : commits.get(best.id)
    if (commit === undefined) bestWaiting.push(tier)
    else branches.set(tier, commit)
  }
  const { headKept } = await repo.setBranches(branches)
  return {
    dir: repo.dir,
    created,
    results,
    commits,
    added: outcome.marks.size,
    waiting: waiting.length + outcome.skipped.size,
    repaired: before.mismatched,
    branches,
    bestWaiting,
    ...(headKept !== undefined ? { headKept } : {})
  }
}

/** `swarmd git [DIR]`: the lineage as a git repository, brought up to date; a summary on stdout, progress on stderr. */
export async function gitCommand (dataDir: string, dir: string, print: Print, progress: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const sync = await syncLineage(client, dataDir, dir, progress)
  print(`${sync.created ? 'created' : 'updated'} ${sync.dir}: ${sync.commits.size} results, ${sync.added} new${sync.repaired > 0 ? ` (${sync.repaired} refs repaired)` : ''}`)
  if (sync.waiting > 0) print(`${sync.waiting} results wait for a parent or a source that has not reached this daemon yet: run \`swarmd git\` again later`)
  for (const [tier, commit] of sync.branches) if (commit !== null) print(`  ${tier.padEnd(10)} ${commit.slice(0, 12)}  (the tier's best trusted result)`)
  for (const tier of sync.bestWaiting) print(`  ${tier.padEnd(10)} stays: the tier's best result waits for its parent or source`)
  if (sync.headKept !== undefined) print(`the branch ${sync.headKept} moved, and HEAD, which was on it, stays where it was (detached) with your edits to train.py: commit or stash them, then \`git checkout ${sync.headKept}\` to follow it`)
}

/**
 * How long one run may spend fetching sources the daemon does not hold: a peer that accepts blob
 * requests and never answers made each run take 1.3 s per result of its (hours for its quota).
 * Past it, the results whose sources are not here wait for a later run.
 */
const SOURCE_FETCH_BUDGET_MS = 60_000
/** One source's fetch through the daemon, at most. */
const SOURCE_FETCH_MS = 15_000

/** The time a run has left for fetching sources, shared by the fetches it overlaps. */
class FetchBudget {
  private readonly deadline: number
  constructor (ms: number) { this.deadline = Date.now() + ms }
  get spent (): boolean { return Date.now() >= this.deadline }
  /** Aborts at the end of the budget, or after `SOURCE_FETCH_MS`, whichever comes first. */
  signal (): AbortSignal { return AbortSignal.timeout(Math.max(0, Math.min(SOURCE_FETCH_MS, this.deadline - Date.now()))) }
}

/**
 * A result's train.py, checked against its hash; undefined when no peer has it yet, or not within
 * the run's budget. Read from the daemon's blob store when it holds the source (its reads verify
 * the hash): through the API, each took 3 ms of the daemon's time, 15 s of a 5,000-result import;
 * the API fetches the rest from peers.
 */
async function sourceOf (client: ApiClient, local: BlobStore, codeHash: string, budget: FetchBudget): Promise<Uint8Array | undefined> {
  const held = await local.get(parseBlobHash(codeHash)).catch(() => undefined)
  if (held !== undefined) return held
  if (budget.spent) return undefined
  const signal = budget.signal()
  try {
    const bytes = await client.getBytes(`/api/blobs/${codeHash}`, { signal })
    if (sha256Hex(bytes) !== codeHash) throw new SwarmdError('BLOB_HASH_MISMATCH', `the source ${codeHash} the daemon returned does not match its hash; nothing written`)
    return bytes
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined
    if (signal.aborted) return undefined
    throw err
  }
}
