import { join } from 'node:path'
import { execa } from 'execa'
import { SwarmdError } from '../util/errors.js'
import type { Profile } from './harness.js'

/**
 * The corpus as the sandboxes get it: the training split for train.py, the validation slice
 * for the harness's evaluator, in separate files so a run can be given one without the other.
 */
export interface CorpusSplits {
  /** Files of the training split, in order. */
  train: string[]
  /** The validation slice the evaluator scores on. */
  val: string
  valSha256: string
  /**
   * The fresh-sample pool, for the evaluator only: held-out text that is neither training text nor
   * the fixed slice, read from `offset` on (cpu: its own file; gpu: the validation shard after the slice).
   */
  pool: { path: string, offset: number }
  /** Where the whole corpus lives (both splits): concealed from every run. */
  sources: string[]
}

function isSplits (value: unknown): value is CorpusSplits {
  const v = value as Partial<CorpusSplits> | null
  return typeof v === 'object' && v !== null && Array.isArray(v.train) && v.train.every((f) => typeof f === 'string') &&
    typeof v.val === 'string' && typeof v.valSha256 === 'string' && /^[0-9a-f]{64}$/.test(v.valSha256) &&
    typeof v.pool === 'object' && v.pool !== null && typeof v.pool.path === 'string' && Number.isSafeInteger(v.pool.offset) && v.pool.offset >= 0 &&
    Array.isArray(v.sources) && v.sources.every((f) => typeof f === 'string')
}

/**
 * Run `prepare.py export-splits` (harness code, outside any sandbox: it checks the pinned cpu
 * corpus; the gpu profiles read the web corpus the daemon fetched, in `webCorpusDir`) into `directory`. Throws CORPUS_UNAVAILABLE, with the
 * harness's own reason, when the corpus is missing or not the pinned one.
 */
export async function exportCorpusSplits (options: { python: string, harnessDir: string, profile: Profile, sotuDir: string, webCorpusDir?: string | undefined, directory: string }): Promise<CorpusSplits> {
  const run = await execa(options.python, [join(options.harnessDir, 'prepare.py'), 'export-splits', options.directory], {
    env: { SWARMD_PROFILE: options.profile, SWARMD_SOTU_DIR: options.sotuDir, ...(options.webCorpusDir !== undefined ? { SWARMD_WEB_CORPUS_DIR: options.webCorpusDir } : {}), PYTHONDONTWRITEBYTECODE: '1' },
    reject: false,
    // Progress of a download shows in the daemon's output; the last line names a failure.
    stderr: ['pipe', 'inherit']
  })
  const last = run.stdout.trim().split('\n').pop() ?? ''
  let parsed: unknown
  try {
    const raw = JSON.parse(last) as Record<string, unknown>
    parsed = { train: raw.train, val: raw.val, valSha256: raw.val_sha256, pool: raw.pool, sources: raw.sources }
  } catch {}
  if (run.exitCode !== 0 || !isSplits(parsed)) {
    const failure = String(run.stderr).trim().split('\n').pop() ?? ''
    const why = (run.exitCode !== 0 ? failure : last).replace(/^FAIL: /, '') || `exit code ${String(run.exitCode)}`
    throw new SwarmdError('CORPUS_UNAVAILABLE', `the ${options.profile} profile's corpus could not be prepared: ${why}`)
  }
  return parsed
}
