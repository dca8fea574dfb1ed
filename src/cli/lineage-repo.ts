import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CliError, EXIT } from './exit-codes.js'
import { GitBinary } from './git-binary.js'
import { IMPORT_REF, RESULT_REF_PREFIX } from './lineage-import.js'
import type { ImportOutcome } from './lineage-import.js'
import type { Tier } from '../state/record-kinds.js'

/** The file in `.git/` that marks a repository as one `swarmd git` keeps, and for which swarm. */
const MARKER = 'swarmd-lineage.json'

interface Marker { format: 1, swarm: string }

/**
 * The repository `swarmd git DIR` keeps: an ordinary git repository with a work tree, whose
 * commits are the swarm's results. It is ours when `.git/swarmd-lineage.json` names the swarm;
 * anything else in DIR is someone's own and is never written to.
 */
export class LineageRepo {
  private constructor (readonly dir: string, readonly git: GitBinary) {}

  /**
   * The repository in `dir`, created when `dir` is missing or empty (HEAD on `headTier`'s branch).
   * Refuses a non-empty `dir` that is not a lineage repository (CLI_GIT_NOT_OURS), and one kept
   * for another swarm (CLI_GIT_OTHER_SWARM): their results would mix.
   */
  static async open (dir: string, swarm: string, headTier: Tier): Promise<{ repo: LineageRepo, created: boolean }> {
    const repo = new LineageRepo(dir, new GitBinary(dir))
    const marker = await readMarker(dir)
    if (marker !== undefined) {
      if (marker.swarm !== swarm) throw new CliError(EXIT.USAGE, 'CLI_GIT_OTHER_SWARM', `${dir} holds the lineage of swarm "${marker.swarm}", and this daemon is in swarm "${swarm}": name another directory`)
      return { repo, created: false }
    }
    const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return []
      throw new CliError(EXIT.USAGE, 'CLI_GIT_NOT_OURS', `cannot use ${dir} for the lineage repository: ${err.code === 'ENOTDIR' ? 'it is a file' : err.message}`)
    })
    if (entries.length > 0) throw new CliError(EXIT.USAGE, 'CLI_GIT_NOT_OURS', `${dir} is not empty and is not a repository \`swarmd git\` made (no .git/${MARKER}); it is left alone: name a new or empty directory`)
    await mkdir(dir, { recursive: true })
    await repo.git.run(['init', '--quiet'])
    await repo.git.run(['symbolic-ref', 'HEAD', `refs/heads/${headTier}`])
    const created: Marker = { format: 1, swarm }
    await writeFile(join(dir, '.git', MARKER), JSON.stringify(created) + '\n')
    return { repo, created: true }
  }

  /**
   * The commit of each result, read from `refs/results/<id>`. A ref whose commit does not name its
   * result (its `Result:` trailer) is left out, so the import writes that result's commit again.
   */
  async resultCommits (): Promise<{ commits: Map<string, string>, mismatched: number }> {
    const out = await this.git.run(['for-each-ref', '--format=%(objectname) %(refname) %(trailers:key=Result,valueonly,separator=%x20)', RESULT_REF_PREFIX])
    const commits = new Map<string, string>()
    let mismatched = 0
    for (const line of out.split('\n')) {
      if (line === '') continue
      const [commit, ref, named] = line.split(' ')
      const id = ref!.slice(RESULT_REF_PREFIX.length)
      if (named === id) commits.set(id, commit!)
      else mismatched++
    }
    return { commits, mismatched }
  }

  /**
   * Run an import stream (`importStream`), then point `refs/results/<id>` at each result's commit,
   * all in one transaction. `onProgress` gets the stream's progress lines as git reaches them.
   */
  async importResults (stream: AsyncIterable<Uint8Array>, outcome: ImportOutcome, onProgress: (line: string) => void): Promise<void> {
    const marksFile = join(this.dir, '.git', 'swarmd-import-marks')
    await this.git.fastImport(stream, marksFile, onProgress)
    const commitOfMark = new Map<number, string>()
    for (const line of (await readFile(marksFile, 'utf8')).split('\n')) {
      const m = /^:(\d+) ([0-9a-f]{40,64})$/.exec(line)
      if (m !== null) commitOfMark.set(Number(m[1]), m[2]!)
    }
    const updates = [...outcome.marks].map(([id, mark]) => `update ${RESULT_REF_PREFIX}${id} ${commitOfMark.get(mark)!}`)
    updates.push(`delete ${IMPORT_REF}`)
    await this.git.run(['update-ref', '--stdin'], { input: updates.join('\n') + '\n' })
    await rm(marksFile, { force: true })
  }

  /**
   * Point each tier's branch (`refs/heads/<tier>`) at its commit, or delete it (null). When HEAD is
   * on a branch that moves, the work tree follows as `git checkout` would, keeping edits that do
   * not touch train.py; with edits to train.py in the way, HEAD stays where it was, detached, with
   * the edits (the answer names the branch).
   */
  async setBranches (branches: Map<Tier, string | null>): Promise<{ headKept?: string }> {
    const head = await this.git.tryRun(['symbolic-ref', '-q', 'HEAD'])
    const updates: string[] = []
    let headKept: string | undefined
    for (const [tier, commit] of branches) {
      const ref = `refs/heads/${tier}`
      const old = await this.git.tryRun(['rev-parse', '-q', '--verify', `${ref}^{commit}`])
      if (old === (commit ?? undefined)) continue
      if (ref === head && commit !== null && old !== undefined && !(await this.follow(old, commit))) {
        await this.git.run(['update-ref', '--no-deref', 'HEAD', old])
        headKept = tier
      } else if (ref === head && commit !== null && old === undefined) {
        await this.follow(undefined, commit)
      }
      updates.push(commit === null ? `delete ${ref}` : `update ${ref} ${commit}`)
    }
    if (updates.length > 0) await this.git.run(['update-ref', '--stdin'], { input: updates.join('\n') + '\n' })
    return headKept === undefined ? {} : { headKept }
  }

  /** Move the index and work tree from `old` to `next` (two-tree read-tree, as checkout does); false when local edits are in the way. */
  private async follow (old: string | undefined, next: string): Promise<boolean> {
    const args = old === undefined ? ['read-tree', '-m', '-u', next] : ['read-tree', '-m', '-u', old, next]
    return (await this.git.tryRun(args)) !== undefined
  }
}

async function readMarker (dir: string): Promise<Marker | undefined> {
  const text = await readFile(join(dir, '.git', MARKER), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const marker = JSON.parse(text) as Partial<Marker>
    if (marker.format === 1 && typeof marker.swarm === 'string') return { format: 1, swarm: marker.swarm }
  } catch {}
  return undefined
}
