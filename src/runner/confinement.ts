import { describeCgroups } from './cgroup.js'
import type { CgroupSupport } from './cgroup.js'
import type { SandboxSpec } from './sandbox.js'

/** One protection of a run, and whether it holds on this machine. */
export interface Protection {
  name: string
  holds: boolean
  /** How it holds, or why not. */
  how: string
}

/** What confines a run of a peer's train.py on this machine, for `swarmd doctor`, the status page and /api/status. */
export interface Confinement {
  protections: Protection[]
  /** Whether peers' code runs here, and why not when it does not. */
  foreignCode: { runs: boolean, why: string }
}

/**
 * Which protections hold here. Peers' code runs only with both the sandbox and the per-run
 * cgroup, or where the volunteer opted out of the missing one (`unsafeNoSandbox`, `unsafeNoCgroup`).
 */
export function describeConfinement (options: { sandbox: SandboxSpec | undefined, cgroups: CgroupSupport, runUid: number, unsafeNoSandbox?: boolean, unsafeNoCgroup?: boolean, isRoot?: boolean }): Confinement {
  const sandboxed = options.sandbox !== undefined
  const kernel = options.cgroups.version !== 'none'
  const isRoot = options.isRoot ?? process.getuid?.() === 0
  const noSandbox = 'no sandbox: install bubblewrap (sudo apt-get install bubblewrap)'
  const protections: Protection[] = [
    { name: 'environment', holds: true, how: 'cleared: only the variables Python, PyTorch and CUDA need (no tokens or keys)' },
    { name: 'filesystem', holds: sandboxed, how: sandboxed ? 'only /usr, the interpreter\'s paths, the workspace and the training split; home, /root, /etc, /var and /run absent' : noSandbox },
    { name: 'network', holds: sandboxed, how: sandboxed ? 'none (own network namespace), host sockets absent' : noSandbox },
    { name: 'user', holds: sandboxed, how: sandboxed ? (isRoot ? `uid ${options.runUid}, no capabilities, no_new_privs` : `your own uid, no capabilities`) : 'runs as the daemon\'s user' },
    { name: 'memory', holds: kernel, how: describeCgroups(options.cgroups) },
    { name: 'process count', holds: kernel, how: kernel ? 'pids.max of the run\'s cgroup, whatever sessions it makes' : 'only per process group and session, which a run can leave' },
    { name: 'disk (sized tmpfs)', holds: sandboxed, how: sandboxed ? '/tmp, /dev/shm and the workspace are sized tmpfs' : noSandbox },
    { name: 'gpu', holds: sandboxed, how: sandboxed ? 'only the device node of the run\'s own GPU' : noSandbox },
    { name: 'per-process limits', holds: true, how: 'RLIMIT_DATA, RLIMIT_FSIZE, RLIMIT_NPROC' }
  ]
  let foreignCode: { runs: boolean, why: string }
  if (!sandboxed) {
    foreignCode = options.unsafeNoSandbox === true
      ? { runs: true, why: 'runs UNSANDBOXED (--unsafe-no-sandbox): peers\' code can read your files and use the network' }
      : { runs: false, why: 'refused: no sandbox (install bubblewrap, or --unsafe-no-sandbox)' }
  } else if (!kernel) {
    foreignCode = options.unsafeNoCgroup === true || options.unsafeNoSandbox === true
      ? { runs: true, why: 'runs in the sandbox without whole-run limits (--unsafe-no-cgroup)' }
      : { runs: false, why: 'refused: no per-run cgroup (run as root or in a delegated cgroup, or --unsafe-no-cgroup)' }
  } else {
    foreignCode = { runs: true, why: 'runs in the sandbox, under the kernel\'s limits' }
  }
  return { protections, foreignCode }
}
