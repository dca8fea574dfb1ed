import { readdir } from 'node:fs/promises'
import { homedir } from 'node:os'
import { execa } from 'execa'

/** How experiments are confined: bubblewrap when it works here, else nothing (doctor warns). */
export interface SandboxSpec {
  /** The bwrap binary. */
  bwrap: string
  /** Read-only paths the run needs even where the home folder is hidden (Python prefix, corpus). */
  readOnly: string[]
}

/** bubblewrap, if installed and able to create namespaces on this machine. */
export async function detectBubblewrap (): Promise<string | undefined> {
  const probe = await execa('bwrap', ['--ro-bind', '/', '/', '--unshare-net', '--unshare-pid', '--die-with-parent', 'true'], { reject: false, timeout: 10_000 })
  return probe.exitCode === 0 ? 'bwrap' : undefined
}

async function gpuDeviceNodes (): Promise<string[]> {
  try {
    return (await readdir('/dev')).filter((n) => /^nvidia/.test(n)).map((n) => `/dev/${n}`)
  } catch {
    return []
  }
}

/**
 * bwrap arguments for one run: the system read-only, no network, a private /tmp and pid
 * namespace, the volunteer's home hidden, only the workspace writable, prepare.py read-only
 * inside it, GPU device nodes bound.
 */
export async function bubblewrapArgs (sandbox: SandboxSpec, workspace: string): Promise<string[]> {
  const args = ['--ro-bind', '/', '/', '--dev', '/dev']
  for (const node of await gpuDeviceNodes()) args.push('--dev-bind', node, node)
  args.push('--proc', '/proc', '--tmpfs', '/tmp', '--tmpfs', homedir())
  for (const path of sandbox.readOnly) args.push('--ro-bind-try', path, path)
  args.push(
    '--bind', workspace, workspace,
    '--ro-bind', `${workspace}/prepare.py`, `${workspace}/prepare.py`,
    '--unshare-net', '--unshare-pid', '--unshare-ipc', '--unshare-uts',
    '--die-with-parent',
    '--setenv', 'HOME', workspace,
    '--chdir', workspace
  )
  return args
}
