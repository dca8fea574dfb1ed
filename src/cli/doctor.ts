import { access, constants, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { DEFAULT_HARNESS_DIR, corpusDir } from '../runner/harness.js'
import { findPython } from '../runner/python.js'
import { DEFAULTS } from '../config/defaults.js'
import { detectBubblewrap } from '../runner/sandbox.js'
import { detectCgroups } from '../runner/cgroup.js'
import { describeConfinement } from '../runner/confinement.js'
import { webCorpusDir } from './corpus-command.js'
import type { CorpusManifest } from '../corpus/web-corpus.js'

export interface Check {
  name: string
  ok: boolean
  /** What was found. */
  found: string
  /** What to do about it, when not ok. */
  fix?: string
  /** Without it the daemon cannot run experiments at all. */
  required: boolean
}

/** What a volunteer machine has for running experiments, and what to do about what is missing. */
export async function runDoctor (opts: { python?: string, dataDir: string }): Promise<Check[]> {
  const checks: Check[] = []
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number]
  checks.push({ name: 'node', ok: major > 20 || (major === 20 && minor >= 19), found: process.versions.node, fix: 'install Node.js 20.19 or newer', required: true })

  const python = await findPython(opts.python)
  checks.push(python === undefined
    ? { name: 'python + torch', ok: false, found: 'no interpreter that imports torch', fix: 'sudo apt-get install python3-torch libopenblas0-openmp (or point --python at an interpreter with CUDA PyTorch)', required: true }
    : { name: 'python + torch', ok: true, found: `${python.path}, torch ${python.torch}`, required: true })
  const gpus = python?.gpus ?? []
  checks.push({ name: 'gpu', ok: true, found: gpus.length === 0 ? 'none: experiments use the cpu profile' : gpus.map((g, i) => `${i}: ${g.name} ${g.vramGb} GB`).join(', '), required: false })

  if (python !== undefined) {
    const corpus = await execa(python.path, ['prepare.py'], { cwd: DEFAULT_HARNESS_DIR, env: { SWARMD_SOTU_DIR: corpusDir(), SWARMD_PROFILE: 'cpu' }, reject: false, timeout: 120_000 })
    checks.push(corpus.exitCode === 0
      ? { name: 'corpus (cpu profile)', ok: true, found: corpus.stdout.split('\n')[0] ?? 'ok', required: true }
      : { name: 'corpus (cpu profile)', ok: false, found: (corpus.stdout + corpus.stderr).trim().split('\n').pop() ?? 'failed', fix: 'run `npm ci` in the swarmd folder (it ships the pinned corpus)', required: true })
  }

  checks.push(await gpuCorpusCheck(opts.dataDir, gpus.length > 0))

  // Not required: a daemon without them still runs its own experiments, but refuses peers' code.
  const bwrap = await detectBubblewrap()
  checks.push(bwrap !== undefined
    ? { name: 'sandbox (bubblewrap)', ok: true, found: 'works', required: false }
    : {
        name: 'sandbox (bubblewrap)',
        ok: false,
        found: 'not installed, or cannot create namespaces here: peers\' train.py will be refused, only this daemon\'s own edits run (unconfined)',
        fix: 'sudo apt-get install bubblewrap; where it is installed but fails, allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu 24.04+ an AppArmor profile for bwrap). --unsafe-no-sandbox runs peers\' code anyway, with your files and network exposed',
        required: false
      })
  const cgroups = await detectCgroups()
  checks.push(cgroups.version !== 'none'
    ? { name: 'run limits (cgroup)', ok: true, found: `${cgroups.version}: memory (shared memory and tmpfs included) and process count of each whole run`, required: false }
    : { name: 'run limits (cgroup)', ok: false, found: cgroups.why, fix: 'run the daemon as root, or in a delegated cgroup: systemd-run --user --scope -p Delegate=yes swarmd start. --unsafe-no-cgroup runs peers\' code without whole-run limits', required: false })
  const confinement = describeConfinement({ sandbox: bwrap === undefined ? undefined : { bwrap, readOnly: [] }, cgroups, runUid: DEFAULTS.runUid })
  for (const p of confinement.protections) checks.push({ name: `  ${p.name}`, ok: p.holds, found: p.how, required: false })
  checks.push({ name: 'peers\' code', ok: confinement.foreignCode.runs, found: confinement.foreignCode.why, required: false })

  let writable = true
  try { await access(opts.dataDir, constants.W_OK) } catch { writable = false }
  checks.push({ name: 'data dir', ok: writable, found: opts.dataDir, fix: 'run `swarmd init` or pick a writable --data-dir', required: false })
  return checks
}

/** Exit status: non-zero when a daemon could not run experiments. */
export function doctorFailed (checks: Check[]): boolean {
  return checks.some((c) => c.required && !c.ok)
}

/** Which gpu corpus this machine holds (`swarmd corpus fetch`): required only where a GPU would use it. */
async function gpuCorpusCheck (dataDir: string, hasGpu: boolean): Promise<Check> {
  const dir = webCorpusDir(dataDir)
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'corpus.json'), 'utf8')) as CorpusManifest
    return { name: 'corpus (gpu profile)', ok: true, found: `${manifest.dataset}: train ${(manifest.train.bytes / 1e6).toFixed(0)} MB, validation sha256 ${manifest.val.sha256.slice(0, 16)}…`, required: false }
  } catch {
    return { name: 'corpus (gpu profile)', ok: !hasGpu, found: `not fetched (${dir})`, fix: 'swarmd corpus fetch (resumable; or --corpus DIR on a machine without internet)', required: false }
  }
}
