import { readFile, readdir } from 'node:fs/promises'
import { totalmem } from 'node:os'

/**
 * Resource limits of one experiment run. The kernel enforces them for the whole run through a
 * cgroup per run where the machine allows (cgroup.ts), and per process through rlimits set
 * before train.py starts; the runner also watches the process count from outside.
 */
export interface RunLimits {
  /**
   * Processes (and threads) the run may have at once: the cgroup's pids.max for the whole run,
   * whatever sessions or groups its processes make. RLIMIT_NPROC too, which never binds root.
   */
  maxProcesses: number
  /**
   * Memory, MiB: of the whole run (the memory cgroup counts every process, shared memory and the
   * files in its tmpfs mounts), and of each process (RLIMIT_DATA: heap and private writable
   * mappings, which gives a clean MemoryError first). 0: none.
   */
  maxMemoryMb: number
  /** Largest file the run may write (RLIMIT_FSIZE), MiB; 0: none. */
  maxFileMb: number
  /** Size of each private tmpfs in the sandbox (/tmp, /dev/shm), MiB: they live in RAM. */
  tmpfsMb: number
  /** Size of the sandboxed run's workspace (a tmpfs: all its files together), MiB. */
  workspaceMb: number
}

/**
 * Defaults. 512 processes: a cpu run has ~5 threads (OMP_NUM_THREADS=1), a gpu run with
 * torch.compile forks one inductor worker per core (32 on a big box) of a few threads each;
 * a fork bomb reaches 512 in well under a second. Memory 0 means 75% of this machine's RAM
 * (see `resolveRunLimits`): the daemon and the desktop keep the rest. 4 GiB per file is
 * above any checkpoint of the gpu profile's models. 512 MiB tmpfs: nothing in the harness
 * writes to /tmp; the cap stops a run from filling RAM through it. 8 GiB workspace: twice the
 * largest file, room for a checkpoint and its predecessor.
 */
export const DEFAULT_RUN_LIMITS: RunLimits = { maxProcesses: 512, maxMemoryMb: 0, maxFileMb: 4096, tmpfsMb: 512, workspaceMb: 8192 }

/** Fill in the machine-dependent defaults: memory 0 becomes 75% of physical RAM. */
export function resolveRunLimits (limits: Partial<RunLimits> = {}): RunLimits {
  const merged = { ...DEFAULT_RUN_LIMITS, ...limits }
  if (merged.maxMemoryMb === 0) merged.maxMemoryMb = Math.floor(totalmem() / 2 ** 20 * 0.75)
  return merged
}

/** What the confining program does before it execs the next command (see `confineProgram`). */
export interface ConfineSteps {
  /** cgroup.procs files to write its own pid into first: the run's cgroups. */
  cgroupProcs?: string[]
  /** rlimits to set, inherited by everything it execs and forks. */
  limits?: RunLimits
  /** Become this uid and gid (with no supplementary groups): a daemon running as root runs peers' code as nobody of its own. */
  dropTo?: { uid: number, gid: number }
  /** Exit instead when the parent is no longer this pid (it died before PR_SET_PDEATHSIG was set). */
  parentPid?: number
  /**
   * Close every file descriptor from this one up before the exec: whatever the daemon inherited
   * from its own parent (a shell's, a supervisor's) would otherwise reach the run (found by the
   * red team: a root-only file open in the daemon's parent was read, another written, from inside).
   * 4 outside the sandbox (bubblewrap reads its seccomp filter from fd 3), 3 inside.
   */
  closeFrom: number
}

/**
 * A Python program run as `python -S -c PROGRAM STEPS_JSON command...`: it takes the steps in
 * order, then execs the command. Python rather than prlimit(1) or setpriv(1) because the
 * interpreter is there wherever a run can happen. It runs twice per sandboxed run: outside the
 * sandbox to join the run's cgroups (so bubblewrap and all it starts are inside from the first
 * instruction), and inside to set the rlimits, set no_new_privs (no setuid binary can give root
 * back) and drop root. RLIMIT_DATA rather than RLIMIT_AS: CUDA reserves huge address ranges it
 * never touches, which an address-space limit would count. PR_SET_PDEATHSIG (kept across exec)
 * makes the kernel kill the run when its parent dies: a daemon killed mid-run left train.py and
 * the evaluator running, the evaluator waiting on its channel forever (measured).
 */
export function confineProgram (): string {
  return [
    'import json, os, resource, sys',
    'steps = json.loads(sys.argv[1])',
    'for path in steps.get("cgroupProcs", []):',
    '    with open(path, "w") as f:',
    '        f.write(str(os.getpid()))',
    'for name, value in steps.get("rlimits", []):',
    '    resource.setrlimit(getattr(resource, name), (value, value))',
    'import ctypes, signal',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG',
    'if "parentPid" in steps and os.getppid() != steps["parentPid"]:',
    '    os._exit(1)',
    'drop = steps.get("dropTo")',
    'if drop is not None:',
    '    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS',
    '        sys.exit("swarmd: cannot set no_new_privs")',
    '    os.setgroups([])',
    '    os.setresgid(drop["gid"], drop["gid"], drop["gid"])',
    '    os.setresuid(drop["uid"], drop["uid"], drop["uid"])',
    '    if os.getuid() == 0 or os.geteuid() == 0:',
    '        sys.exit("swarmd: still root after dropping privileges")',
    '    libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # a uid change clears it',
    'os.closerange(steps["closeFrom"], 1 << 20)',
    'os.execvp(sys.argv[2], sys.argv[2:])'
  ].join('\n')
}

/** The steps' JSON argument for `confineProgram`. */
export function confineSteps (steps: ConfineSteps): string {
  const mib = 2 ** 20
  const rlimits: Array<[string, number]> = steps.limits === undefined
    ? []
    : ([
        ['RLIMIT_NPROC', steps.limits.maxProcesses],
        ['RLIMIT_DATA', steps.limits.maxMemoryMb * mib],
        ['RLIMIT_FSIZE', steps.limits.maxFileMb * mib]
      ] as Array<[string, number]>).filter(([, v]) => v > 0)
  return JSON.stringify({
    ...(steps.cgroupProcs !== undefined ? { cgroupProcs: steps.cgroupProcs } : {}),
    rlimits,
    ...(steps.dropTo !== undefined ? { dropTo: steps.dropTo } : {}),
    ...(steps.parentPid !== undefined ? { parentPid: Math.floor(steps.parentPid) } : {}),
    closeFrom: steps.closeFrom
  })
}

/**
 * How many processes belong to the run started as `leader` (detached: its own session and
 * process group). A process that leaves both escapes the count, but not the sandbox's pid
 * namespace, which dies with the run.
 */
export async function countRunProcesses (leader: number): Promise<number> {
  let count = 0
  let names: string[]
  try { names = await readdir('/proc') } catch { return 0 }
  await Promise.all(names.filter((n) => /^\d+$/.test(n)).map(async (pid) => {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
      // Fields after the command name, which may itself hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const pgrp = Number(fields[2])
      const session = Number(fields[3])
      if (pgrp === leader || session === leader) count++
    } catch {}
  }))
  return count
}
