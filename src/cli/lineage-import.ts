import { DEFAULT_SOURCE_IDENT, TRAIN_PY, defaultSourceMessage, resultIdent, resultMessage } from './lineage-commits.js'
import type { CommitIdent } from './lineage-commits.js'
import type { ResultJson } from '../http/api-contract.js'

/** The ref each result's commit is kept under: the map from result id to commit that later runs read. */
export const RESULT_REF_PREFIX = 'refs/results/'
/** The ref of the root commit, the harness's default train.py. */
export const DEFAULT_SOURCE_REF = 'refs/swarmd/default'
/**
 * The one ref an import commits on; each result's ref is written after it, all in one
 * transaction. fast-import writing a ref per result took 13 s for 5,000 (each of its ref
 * updates rescans the others), `git update-ref --stdin` 0.5 s.
 */
export const IMPORT_REF = 'refs/swarmd/import'

/** A `progress` line every this many commits: a line every second or so at the measured pace. */
const PROGRESS_EVERY = 500

/** The sources an import reads: bytes checked against their hash, or undefined when no peer has them yet. */
export type SourceOf = (codeHash: string) => Promise<Uint8Array | undefined>

export interface ImportPlan {
  /** The default train.py: the root commit, parent of every result with parent null. */
  defaultSource: Uint8Array
  defaultCodeHash: string
  /** The results to commit, each after its parent (`importOrder`). */
  ready: ResultJson[]
  /** Commits already in the repository, by result id. */
  known: ReadonlyMap<string, string>
}

/** What an import stream wrote, filled in as git reads it. */
export interface ImportOutcome {
  /** The fast-import mark of each result committed, by result id (`--export-marks` gives their commit ids). */
  marks: Map<string, number>
  /** Results left out: their source is on no peer yet, or they build on such a result. */
  skipped: Set<string>
}

/**
 * A `git fast-import` stream committing `plan.ready`: the default source as the root, then each
 * result's train.py on its parent's commit, on `IMPORT_REF`. A result whose source no peer has
 * yet is left out, and so is everything built on it. Sources are fetched `lookAhead` results
 * ahead, so the fetches overlap git's work.
 */
export async function * importStream (plan: ImportPlan, sourceOf: SourceOf, outcome: ImportOutcome, lookAhead = 8): AsyncGenerator<Buffer> {
  const { marks: commitMarks, skipped } = outcome
  let nextMark = 1
  const rootBlob = nextMark++
  const rootMark = nextMark++
  yield blob(rootBlob, plan.defaultSource)
  yield Buffer.from(`reset ${DEFAULT_SOURCE_REF}\n`)
  yield commitHeader(DEFAULT_SOURCE_REF, rootMark, DEFAULT_SOURCE_IDENT, defaultSourceMessage(plan.defaultCodeHash))
  yield fileChange(rootBlob)

  const fetches = new Map<string, Promise<Uint8Array | undefined>>()
  const fetch = (codeHash: string): Promise<Uint8Array | undefined> => {
    let pending = fetches.get(codeHash)
    if (pending === undefined) {
      pending = sourceOf(codeHash)
      // Awaited in order below; a failure ahead of that must not surface as an unhandled rejection.
      pending.catch(() => {})
      fetches.set(codeHash, pending)
    }
    return pending
  }
  const blobMarks = new Map<string, number>([[plan.defaultCodeHash, rootBlob]])
  const unavailable = new Set<string>()
  const { ready } = plan
  for (const [i, r] of ready.entries()) {
    for (const ahead of ready.slice(i, i + lookAhead)) if (!blobMarks.has(ahead.codeHash) && !unavailable.has(ahead.codeHash)) void fetch(ahead.codeHash)
    const parent = r.parent === null ? `:${rootMark}` : commitMarks.has(r.parent) ? `:${commitMarks.get(r.parent)!}` : plan.known.get(r.parent)
    if (parent === undefined) {
      skipped.add(r.id)
      continue
    }
    let blobMark = blobMarks.get(r.codeHash)
    if (blobMark === undefined) {
      const bytes = unavailable.has(r.codeHash) ? undefined : await fetch(r.codeHash)
      fetches.delete(r.codeHash)
      if (bytes === undefined) {
        unavailable.add(r.codeHash)
        skipped.add(r.id)
        continue
      }
      blobMark = nextMark++
      blobMarks.set(r.codeHash, blobMark)
      yield blob(blobMark, bytes)
    }
    const mark = nextMark++
    commitMarks.set(r.id, mark)
    yield commitHeader(IMPORT_REF, mark, resultIdent(r), resultMessage(r))
    yield Buffer.from(`from ${parent}\n`)
    yield fileChange(blobMark)
    const done = i + 1
    if (done % PROGRESS_EVERY === 0 || (done === ready.length && done >= PROGRESS_EVERY)) yield Buffer.from(`progress ${done} of ${ready.length} results\n`)
  }
  yield Buffer.from('done\n')
}

function commitHeader (ref: string, mark: number, ident: CommitIdent, message: string): Buffer {
  const who = `${ident.name} <${ident.email}> ${ident.seconds} +0000`
  return Buffer.concat([Buffer.from(`commit ${ref}\nmark :${mark}\nauthor ${who}\ncommitter ${who}\n`), data(Buffer.from(message))])
}

/** fast-import's exact-length data: any bytes (NUL, a line reading `done`) pass through as they are. */
function data (bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`data ${bytes.byteLength}\n`), bytes, Buffer.from('\n')])
}

function blob (mark: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`blob\nmark :${mark}\n`), data(bytes)])
}

/** The commit's tree: train.py alone, whatever its parent held. */
function fileChange (blobMark: number): Buffer {
  return Buffer.from(`deleteall\nM 100644 :${blobMark} ${TRAIN_PY}\n\n`)
}
