import { readFile, readdir } from 'node:fs/promises'
import { totalmem } from 'node:os'

/**
 * Resource limits of one experiment run, applied to the interpreter before train.py starts
 * (setrlimit, inherited by everything it forks) and watched from outside by the runner.
 */
export interface RunLimits {
  /**
   * Processes the run may have at once. The kernel's RLIMIT_NPROC also counts threads, and
   * counts only inside the sandbox's user namespace; it does not apply to root at all, so the
   * runner also polls the run's processes and kills it past this many.
   */
  maxProcesses: number
  /** Memory per process (RLIMIT_DATA: heap and private writable mappings), MiB; 0: none. */
  maxMemoryMb: number
  /** Largest file the run may write (RLIMIT_FSIZE), MiB; 0: none. */
  maxFileMb: number
  /** Size of each private tmpfs in the sandbox (/tmp, the hidden home, /run), MiB: they live in RAM. */
  tmpfsMb: number
}

/**
 * Defaults. 512 processes: a cpu run has ~5 threads (OMP_NUM_THREADS=1), a gpu run with
 * torch.compile forks one inductor worker per core (32 on a big box) of a few threads each;
 * a fork bomb reaches 512 in well under a second. Memory 0 means 75% of this machine's RAM
 * (see `resolveRunLimits`): the daemon and the desktop keep the rest. 4 GiB per file is
 * above any checkpoint of the gpu profile's models. 512 MiB tmpfs: nothing in the harness
 * writes to /tmp; the cap stops a run from filling RAM through it.
 */
export const DEFAULT_RUN_LIMITS: RunLimits = { maxProcesses: 512, maxMemoryMb: 0, maxFileMb: 4096, tmpfsMb: 512 }

/** Fill in the machine-dependent defaults: memory 0 becomes 75% of physical RAM. */
export function resolveRunLimits (limits: Partial<RunLimits> = {}): RunLimits {
  const merged = { ...DEFAULT_RUN_LIMITS, ...limits }
  if (merged.maxMemoryMb === 0) merged.maxMemoryMb = Math.floor(totalmem() / 2 ** 20 * 0.75)
  return merged
}

/**
 * A Python program that sets the limits and execs `argv[1:]`: run as `python -S -c LIMITER
 * python train.py`. Python rather than prlimit(1) because the interpreter is there wherever
 * a run can happen. RLIMIT_DATA rather than RLIMIT_AS: CUDA reserves huge address ranges it
 * never touches, which an address-space limit would count. It also asks the kernel to kill the
 * run when its parent dies (PR_SET_PDEATHSIG, kept across exec): a daemon killed mid-run left
 * train.py and the evaluator running, the evaluator waiting on its channel forever (measured).
 * `parentPid` (unsandboxed runs) closes the race of a parent that died before the request: then
 * the program exits instead. Under bubblewrap, --die-with-parent does the same for the sandbox.
 */
export function limiterProgram (limits: RunLimits, parentPid?: number): string {
  const mib = 2 ** 20
  const pairs: Array<[string, number]> = [
    ['RLIMIT_NPROC', limits.maxProcesses],
    ['RLIMIT_DATA', limits.maxMemoryMb * mib],
    ['RLIMIT_FSIZE', limits.maxFileMb * mib]
  ]
  return [
    'import os, resource, sys',
    `for name, value in ${JSON.stringify(pairs.filter(([, v]) => v > 0))}:`,
    '    resource.setrlimit(getattr(resource, name), (value, value))',
    'try:',
    '    import ctypes, signal',
    '    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG',
    'except Exception:',
    '    pass',
    ...(parentPid !== undefined ? [`if os.getppid() != ${Math.floor(parentPid)}:`, '    os._exit(1)'] : []),
    'os.execv(sys.argv[1], sys.argv[1:])'
  ].join('\n')
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
