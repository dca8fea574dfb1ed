import type { ResultJson } from '../http/api-contract.js'

/**
 * What `swarmd git` commits for each result, as pure functions of the result: two machines given
 * the same results write the same commits, byte for byte, so they get the same commit ids. Nothing
 * here depends on this node's view (trust, duplicate marks) or on the time of the import.
 */

/** A commit's author and committer (both the same): a name, an email and a time in seconds, UTC. */
export interface CommitIdent {
  name: string
  email: string
  seconds: number
}

/** The file every commit holds: the result's train.py. */
export const TRAIN_PY = 'train.py'

/** The root commit's ident: the harness, at the epoch (its source has no author or date of its own). */
export const DEFAULT_SOURCE_IDENT: CommitIdent = { name: 'swarmd harness', email: 'harness@swarmd', seconds: 0 }

/** The root commit's message: the harness's default train.py, which every result with parent null built on. */
export function defaultSourceMessage (codeHash: string): string {
  return `the harness's default train.py\n\nSource-Sha256: ${codeHash}\n`
}

/** The result's author (its peer id) at the time it was published. */
export function resultIdent (r: ResultJson): CommitIdent {
  const name = identPart(r.author)
  return { name, email: `${name}@swarmd`, seconds: Math.max(0, Math.floor(r.createdAt / 1000)) }
}

/**
 * The commit message: the description (a stranger's text, cleaned of control characters), a
 * line with val_bpb and status as autoresearch shows them, then trailers (`git log
 * --format='%(trailers:key=Val-Bpb,valueonly)'`) with the run's budget, tier and ids.
 */
export function resultMessage (r: ResultJson): string {
  const description = cleanText(r.description).replace(/\n{3,}/g, '\n\n').trim() || '(no description)'
  const crashed = r.status === 'crash' || r.metrics === null
  const summary = crashed
    ? `crash: ${r.crash === null ? 'no metrics' : `${oneLine(r.crash.reason)}: ${oneLine(r.crash.detail)}`}`
    : `val_bpb ${r.metrics!.val_bpb.toFixed(6)}, ${r.status}`
  const trailers: Array<[string, string]> = [
    ['Val-Bpb', crashed ? 'none' : r.metrics!.val_bpb.toFixed(6)],
    ['Status', r.status],
    ...(r.crash !== null ? [['Crash', oneLine(r.crash.reason)] as [string, string]] : []),
    ...(crashed ? [] : [['Memory-Gb', (r.metrics!.peak_vram_mb / 1024).toFixed(1)] as [string, string]]),
    ['Budget', r.maxSteps === undefined ? 'time (the profile\'s training budget)' : `${r.maxSteps} steps`],
    ['Tier', r.hardware.tier],
    ['Gpu', oneLine(r.hardware.gpu)],
    ['Harness', oneLine(r.harness)],
    ['Result', r.id],
    ['Parent', r.parent ?? 'default'],
    ['Author', identPart(r.author)]
  ]
  return `${description}\n\n${summary}\n\n${trailers.map(([k, v]) => `${k}: ${v}`).join('\n')}\n`
}

/**
 * The order to commit results in: each after its parent. `known` holds the results already in the
 * repository; a result whose parent is neither known nor among `results` waits (its parent has not
 * synced here yet), and so does everything built on it.
 */
export function importOrder (results: ResultJson[], known: ReadonlySet<string>): { ready: ResultJson[], waiting: ResultJson[] } {
  const children = new Map<string | null, ResultJson[]>()
  const todo = results.filter((r) => !known.has(r.id)).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
  for (const r of todo) {
    const siblings = children.get(r.parent) ?? []
    siblings.push(r)
    children.set(r.parent, siblings)
  }
  const ready: ResultJson[] = []
  const placed = new Set<string>()
  // Breadth first from the default source and from every result already committed.
  const queue: Array<string | null> = [null, ...known]
  for (let i = 0; i < queue.length; i++) {
    for (const child of children.get(queue[i]!) ?? []) {
      if (placed.has(child.id)) continue
      placed.add(child.id)
      ready.push(child)
      queue.push(child.id)
    }
  }
  return { ready, waiting: todo.filter((r) => !placed.has(r.id)) }
}

/**
 * A stranger's text with control characters (NUL, escapes, CR, C1), bidi controls (which make
 * `git log` show a val_bpb backwards) and Unicode line separators made visible as U+FFFD; newlines
 * and tabs kept.
 */
function cleanText (text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g, '\uFFFD')
}

/** A stranger's text on one line, for a trailer. */
function oneLine (text: string): string {
  return cleanText(text).replace(/\s+/g, ' ').trim()
}

/** A name or email part git accepts: no angle brackets, no line breaks. */
function identPart (text: string): string {
  return oneLine(text).replace(/[<>]/g, '') || 'unknown'
}
