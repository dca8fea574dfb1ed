import { detectCgroups } from '../../src/runner/cgroup.js'
import { findPython } from '../../src/runner/python.js'
import { detectBubblewrap } from '../../src/runner/sandbox.js'
import type { CgroupSupport } from '../../src/runner/cgroup.js'
import type { SandboxSpec } from '../../src/runner/sandbox.js'

/**
 * What the sandboxed suites need of this machine: a Python with torch, a working bubblewrap and a
 * cgroup per run. Missing any, they fail with what to install; they never skip.
 */
export async function requireConfinement (): Promise<{ python: string, sandbox: SandboxSpec, cgroups: Exclude<CgroupSupport, { version: 'none' }> }> {
  const info = await findPython(process.env.SWARMD_PYTHON)
  if (info === undefined) throw new Error('no python with torch: run `bash scripts/install-system-deps.sh`')
  const bwrap = await detectBubblewrap()
  if (bwrap === undefined) throw new Error('bubblewrap is missing or cannot create namespaces: run `bash scripts/install-system-deps.sh --test`')
  const cgroups = await detectCgroups()
  if (cgroups.version === 'none') throw new Error(`the sandboxed runs need a cgroup per run and this machine gives none: ${cgroups.why}`)
  return { python: info.path, sandbox: { bwrap, readOnly: info.paths }, cgroups }
}
