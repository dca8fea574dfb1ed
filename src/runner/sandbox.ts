import { access, lstat, readdir, readlink, realpath } from 'node:fs/promises'
import { posix } from 'node:path'
import { execa } from 'execa'
import { gpuDeviceBinds } from './gpu-devices.js'

/** How experiments are confined: bubblewrap when it works here, else nothing (doctor warns). */
export interface SandboxSpec {
  /** The bwrap binary. */
  bwrap: string
  /** Read-only paths the run needs besides the system's /usr (the Python interpreter's prefix and sys.path). */
  readOnly: string[]
  /** Where the GPU's device nodes (`nvidia*`) are found; each bound one appears as /dev/<name> in the run. Default /dev. */
  deviceDir?: string
  /** The driver's per-GPU folders (`Device Minor` and `Bus Location` in each `information`). Default /proc/driver/nvidia/gpus. */
  gpuInfoDir?: string
  /** The uid and gid a run becomes when the daemon is root (set by the runner). */
  runAs?: { uid: number, gid: number }
}

/** What one run's sandbox binds, besides the fixed rules. */
export interface SandboxMounts {
  /** The run's writable folder, at this path inside. */
  workspace: string
  /**
   * How the workspace is made: a fresh tmpfs of `sizeMb` (all the run's files together, in RAM,
   * counted by its memory cgroup) with `files` (host paths) bound read-only into it under their
   * names; or the host folder itself bound read-write (the evaluator's channel).
   */
  workspaceFrom: { tmpfsMb: number, files: string[] } | { bind: true }
  /** Bound read-only after the workspace: the data split (and channel) this process may see. */
  data: string[]
  /** Made invisible after the read-only binds: the whole corpus, should a Python path hold it. */
  conceal?: string[]
  /** Size of each private tmpfs (/tmp, /dev/shm), MiB: they live in RAM. */
  tmpfsMb: number
  /** The GPU this run was given (CUDA index); only its device nodes are bound. */
  gpu?: number
  /** Generated /etc/passwd and /etc/group naming the run's user, bound read-only. */
  identityFiles?: { passwd: string, group: string }
  /** The fd (in bwrap's process) of the seccomp filter to load before the command starts (seccomp.ts). */
  seccompFd?: number
  /**
   * Mask the machine-wide counters of /proc (locks, load, process and memory figures, pressure):
   * an evaluation's answerer could read there what another process of the run changes.
   */
  maskGlobalProc?: boolean
}

/** Files of /proc that count what every process on the machine does (`maskGlobalProc`). */
const GLOBAL_PROC_FILES = ['/proc/locks', '/proc/loadavg', '/proc/stat', '/proc/meminfo', '/proc/vmstat', '/proc/pressure/cpu', '/proc/pressure/memory', '/proc/pressure/io']

/** Where the NVIDIA driver lists the machine's GPUs. */
const DRIVER_GPUS = '/proc/driver/nvidia/gpus'

/** bubblewrap, if installed and able to create namespaces on this machine. */
export async function detectBubblewrap (): Promise<string | undefined> {
  const probe = await execa('bwrap', ['--ro-bind', '/usr', '/usr', ...await systemLinks(), '--unshare-net', '--unshare-pid', '--cap-drop', 'ALL', '--die-with-parent', '/usr/bin/true'], { reject: false, timeout: 10_000 })
  return probe.exitCode === 0 ? 'bwrap' : undefined
}

/** The top-level system folders outside /usr: symlinks into it on merged-/usr systems, else bound. */
const SYSTEM_DIRS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']

async function systemLinks (): Promise<string[]> {
  const args: string[] = []
  for (const dir of SYSTEM_DIRS) {
    try {
      const info = await lstat(dir)
      if (info.isSymbolicLink()) args.push('--symlink', await readlink(dir), dir)
      else if (info.isDirectory()) args.push('--ro-bind', dir, dir)
    } catch {}
  }
  return args
}

/**
 * What of /etc a run reads: the dynamic loader's cache and config, Debian's alternatives (the
 * BLAS that torch loads is a symlink through /etc/alternatives), the time zone, Python's own
 * config. Nothing else of /etc (keys, credentials, shadow, host config) is there.
 */
const ETC_NEEDED = ['/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/ld.so.conf.d', '/etc/alternatives', '/etc/localtime', '/etc/python3', '/etc/python3.9', '/etc/python3.10', '/etc/python3.11', '/etc/python3.12', '/etc/python3.13']

/**
 * What of /sys a GPU run does not see: the network interfaces (MAC addresses, found by the red
 * team), cgroups (other runs' groups), kernel, firmware and block devices (serial numbers).
 */
async function sysMasks (): Promise<string[]> {
  const masks = new Set(['/sys/fs', '/sys/kernel', '/sys/firmware', '/sys/block', '/sys/class/net', '/sys/class/block', '/sys/devices/virtual/net', '/sys/devices/virtual/dmi'])
  try {
    for (const name of await readdir('/sys/class/net')) masks.add(posix.dirname(await realpath(posix.join('/sys/class/net', name))))
  } catch {}
  const present: string[] = []
  for (const path of masks) {
    try { if ((await lstat(path)).isDirectory()) present.push(path) } catch {}
  }
  return present
}

/** Builds the argument list, creating every folder a mount needs as 0755 (bwrap makes them 0700, which an unprivileged run cannot cross). */
class MountPlan {
  readonly args: string[] = []
  private readonly made = new Set<string>(['/'])

  dirsFor (dest: string): this {
    const parts = posix.normalize(dest).split('/').filter((p) => p !== '')
    let path = ''
    for (const part of parts.slice(0, -1)) {
      path += `/${part}`
      if (this.made.has(path)) continue
      this.made.add(path)
      this.args.push('--perms', '0755', '--dir', path)
    }
    return this
  }

  add (...args: string[]): this {
    this.args.push(...args)
    return this
  }

  /** A mount whose destination is its last argument. */
  mount (...args: string[]): this {
    return this.dirsFor(args[args.length - 1]!).add(...args)
  }
}

/**
 * bwrap arguments for one run. The filesystem is built from what the run needs, not from the
 * host's root: /usr (and its top-level links), the few /etc files above, the interpreter's paths,
 * a fresh /dev with a sized /dev/shm and only the given GPU's nodes, a private /proc in a new pid
 * namespace, sized tmpfs /tmp, the workspace, the data. The volunteer's home, /root, /var, /run,
 * /srv, /opt and the rest of /etc are simply absent, and with them every host socket outside the
 * bound folders. No network, every capability dropped (root keeps CAP_SYS_ADMIN otherwise and
 * remounts read-write), except that a root daemon keeps SETUID and SETGID for the confining
 * program to become `runAs` and give them up (with no_new_privs) before train.py starts.
 */
export async function bubblewrapArgs (sandbox: SandboxSpec, mounts: SandboxMounts): Promise<string[]> {
  const plan = new MountPlan()
  const size = String(mounts.tmpfsMb * 2 ** 20)
  plan.mount('--ro-bind', '/usr', '/usr').add(...await systemLinks())
  plan.add('--perms', '0755', '--dir', '/etc')
  for (const path of ETC_NEEDED) plan.mount('--ro-bind-try', path, path)
  if (mounts.identityFiles !== undefined) {
    plan.mount('--ro-bind', mounts.identityFiles.passwd, '/etc/passwd').mount('--ro-bind', mounts.identityFiles.group, '/etc/group')
  }
  plan.add('--dev', '/dev', '--perms', '1777', '--size', size, '--tmpfs', '/dev/shm')
  const infoDir = sandbox.gpuInfoDir ?? DRIVER_GPUS
  const gpu = await gpuDeviceBinds({ deviceDir: sandbox.deviceDir ?? '/dev', infoDir, gpu: mounts.gpu })
  for (const [source, dest] of gpu.devices) plan.add('--dev-bind', source, dest)
  plan.add('--proc', '/proc')
  // The boot id names this machine until its next boot: a run could hand it out (found by the red team).
  plan.add('--ro-bind', '/dev/null', '/proc/sys/kernel/random/boot_id')
  if (mounts.maskGlobalProc === true) {
    // Only those this kernel has (no /proc/pressure without PSI): bwrap cannot create a file in /proc.
    for (const path of GLOBAL_PROC_FILES) if (await exists(path)) plan.add('--ro-bind', '/dev/null', path)
    // The file system's machine-wide counts (open files, inodes, AIO contexts, ptys), found by the second red team.
    plan.add('--tmpfs', '/proc/sys/fs')
    if (await exists('/proc/sys/kernel/pty/nr')) plan.add('--ro-bind', '/dev/null', '/proc/sys/kernel/pty/nr')
  }
  // The driver lists every GPU of the machine under /proc: only the given one is left.
  if (gpu.infoDirs !== undefined && infoDir === DRIVER_GPUS) {
    plan.add('--tmpfs', DRIVER_GPUS)
    for (const dir of gpu.infoDirs) plan.add('--ro-bind', dir, posix.join(DRIVER_GPUS, posix.basename(dir)))
  }
  // CPU topology for os.cpu_count() and torch; a GPU run's CUDA also reads PCI topology, so it
  // gets /sys with what identifies the host or other runs masked.
  if (mounts.gpu !== undefined) {
    plan.mount('--ro-bind', '/sys', '/sys')
    for (const path of await sysMasks()) plan.add('--tmpfs', path)
  } else {
    plan.mount('--ro-bind-try', '/sys/devices/system/cpu', '/sys/devices/system/cpu')
  }
  plan.add('--perms', '1777', '--size', size, '--tmpfs', '/tmp')
  for (const path of sandbox.readOnly) plan.mount('--ro-bind-try', path, path)
  const { workspace } = mounts
  if ('bind' in mounts.workspaceFrom) {
    plan.mount('--bind', workspace, workspace)
  } else {
    plan.mount('--perms', '1777', '--size', String(mounts.workspaceFrom.tmpfsMb * 2 ** 20), '--tmpfs', workspace)
    for (const file of mounts.workspaceFrom.files) plan.add('--ro-bind', file, posix.join(workspace, posix.basename(file)))
  }
  for (const path of mounts.data) plan.mount('--ro-bind', path, path)
  // Only where a bound path covers it: elsewhere it is absent anyway.
  for (const path of mounts.conceal ?? []) {
    if (sandbox.readOnly.some((dir) => path === dir || path.startsWith(`${dir}/`))) plan.add('--tmpfs', path)
  }
  plan.add(
    '--unshare-net', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    // The host's name is not the run's business (the red team read it from inside).
    '--hostname', 'swarmd-run',
    ...(mounts.seccompFd !== undefined ? ['--seccomp', String(mounts.seccompFd)] : []),
    '--cap-drop', 'ALL',
    ...(sandbox.runAs !== undefined ? ['--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID'] : []),
    '--die-with-parent',
    '--chdir', workspace
  )
  return plan.args
}

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}
