import { lstat, readdir } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'

/** How experiments are confined: bubblewrap when it works here, else nothing (doctor warns). */
export interface SandboxSpec {
  /** The bwrap binary. */
  bwrap: string
  /** Read-only paths the run needs even where the home folder is hidden (Python prefix, corpus). */
  readOnly: string[]
  /** Paths made invisible (an empty tmpfs over them): the daemon's data dir, with its identity key. */
  hidden?: string[]
  /** Where the GPU's device nodes (`nvidia*`) are found; each appears as /dev/<name> in the run. Default /dev. */
  deviceDir?: string
}

/** What one run's sandbox binds, besides the fixed rules. */
export interface SandboxMounts {
  /** The run's workspace: the only writable folder that outlives the run. */
  workspace: string
  /** Bound read-only after the workspace: the data split (and channel) this process may see. */
  data: string[]
  /** Made invisible after the read-only binds, before the workspace and data: the whole corpus. */
  conceal?: string[]
  /** Size of each private tmpfs, MiB (they live in RAM). */
  tmpfsMb: number
}

/** bubblewrap, if installed and able to create namespaces on this machine. */
export async function detectBubblewrap (): Promise<string | undefined> {
  const probe = await execa('bwrap', ['--ro-bind', '/', '/', '--unshare-net', '--unshare-pid', '--cap-drop', 'ALL', '--die-with-parent', 'true'], { reject: false, timeout: 10_000 })
  return probe.exitCode === 0 ? 'bwrap' : undefined
}

/** NVIDIA's device nodes in `deviceDir` (nvidia0.., nvidiactl, nvidia-uvm, the nvidia-caps folder). */
async function gpuDeviceNames (deviceDir: string): Promise<string[]> {
  try {
    return (await readdir(deviceDir)).filter((n) => /^nvidia/.test(n))
  } catch {
    return []
  }
}

async function isRealDirectory (path: string): Promise<boolean> {
  try { return (await lstat(path)).isDirectory() } catch { return false }
}

/**
 * bwrap arguments for one run: the system read-only, no network, a private /tmp and pid
 * namespace, the volunteer's home and /run (where D-Bus, docker and database sockets live:
 * a read-only bind does not stop connect()) hidden, every capability dropped (root keeps
 * CAP_SYS_ADMIN otherwise, and remounts / read-write), only the workspace writable,
 * prepare.py and the data read-only, the rest of the corpus concealed, GPU device nodes bound.
 */
export async function bubblewrapArgs (sandbox: SandboxSpec, mounts: SandboxMounts): Promise<string[]> {
  const { workspace } = mounts
  const args = ['--ro-bind', '/', '/', '--dev', '/dev']
  const deviceDir = sandbox.deviceDir ?? '/dev'
  for (const name of await gpuDeviceNames(deviceDir)) args.push('--dev-bind', join(deviceDir, name), `/dev/${name}`)
  const size = String(mounts.tmpfsMb * 2 ** 20)
  args.push('--proc', '/proc')
  for (const path of ['/tmp', '/run', homedir(), ...(sandbox.hidden ?? [])]) args.push('--size', size, '--tmpfs', path)
  if (await isRealDirectory('/var/run')) args.push('--size', size, '--tmpfs', '/var/run')
  for (const path of sandbox.readOnly) args.push('--ro-bind-try', path, path)
  for (const path of mounts.conceal ?? []) {
    if (await isRealDirectory(path)) args.push('--size', size, '--tmpfs', path)
  }
  args.push('--bind', workspace, workspace, '--ro-bind', `${workspace}/prepare.py`, `${workspace}/prepare.py`)
  for (const path of mounts.data) args.push('--ro-bind', path, path)
  args.push(
    '--unshare-net', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    '--cap-drop', 'ALL',
    '--die-with-parent',
    '--setenv', 'HOME', workspace,
    '--chdir', workspace
  )
  return args
}
