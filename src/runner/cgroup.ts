import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SwarmdError } from '../util/errors.js'
import { isAlive } from '../util/process-alive.js'

/**
 * What this machine's cgroups let the daemon enforce on a run: `v2` (one unified hierarchy, where
 * the daemon owns a delegated subtree) or `v1` (one hierarchy per controller, as on this project's
 * CI machines). `none` says why not.
 */
export type CgroupSupport =
  | { version: 'v1', memory: string, pids: string, cpu?: string, swapAccounted: boolean }
  | { version: 'v2', base: string, cpu: boolean }
  | { version: 'none', why: string }

/** Limits of one run's cgroup. */
export interface CgroupLimits {
  /** Memory of the whole run, MiB: every process, shared memory and its tmpfs files (RAM) together. */
  memoryMb: number
  /** Processes and threads of the whole run at once (pids.max). */
  maxProcesses: number
  /** CPU weight relative to the daemon's other work, 1-10000 (v2 cpu.weight; v1 cpu.shares = weight x 1024 / 100). */
  cpuWeight: number
}

interface Mount { path: string, type: string, options: string[], root: string }

async function mounts (): Promise<Mount[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8')
  return text.trim().split('\n').map((line) => {
    const [left, right = ''] = line.split(' - ')
    const fields = left!.split(' ')
    const [type = '', , superOptions = ''] = right.split(' ')
    return { root: fields[3] ?? '/', path: fields[4] ?? '', type, options: superOptions.split(',') }
  })
}

/** This process's cgroup path in each v1 controller's hierarchy, and in v2 (key ''). */
async function ownCgroups (): Promise<Map<string, string>> {
  const own = new Map<string, string>()
  for (const line of (await readFile('/proc/self/cgroup', 'utf8')).trim().split('\n')) {
    const [, , controllers = '', path = '/'] = /^(\d+):([^:]*):(.*)$/.exec(line) ?? []
    for (const c of controllers.split(',')) own.set(c, path)
  }
  return own
}

async function writable (dir: string): Promise<boolean> {
  const probe = join(dir, `swarmd-probe-${process.pid}`)
  try {
    await mkdir(probe)
    await rmdir(probe)
    return true
  } catch {
    return false
  }
}

/** Where a v1 controller's groups for this daemon's runs go: under its own group, `swarmd-runs/d<pid>`. */
function v1Base (all: Mount[], own: Map<string, string>, controller: string): string | undefined {
  const mount = all.find((m) => m.type === 'cgroup' && m.options.includes(controller))
  if (mount === undefined) return undefined
  const ownPath = own.get(controller) ?? '/'
  // The mount may show a sub-tree (a container's view): strip its root from our path.
  const relative = mount.root !== '/' && ownPath.startsWith(mount.root) ? ownPath.slice(mount.root.length) : ownPath
  return join(mount.path, relative, 'swarmd-runs', daemonGroup())
}

/** This daemon's own group under `swarmd-runs`: several daemons on one machine never touch each other's runs. */
function daemonGroup (pid = process.pid): string {
  return `d${pid}`
}

/**
 * Remove the groups of daemons that are gone (killed with -9, say: their runs died with them,
 * by PR_SET_PDEATHSIG, but the groups stay), killing anything left in them first.
 */
async function sweepDeadDaemons (runsDir: string): Promise<void> {
  let names: string[]
  try { names = await readdir(runsDir) } catch { return }
  for (const name of names) {
    const pid = /^d(\d+)$/.exec(name)?.[1]
    if (pid === undefined || Number(pid) === process.pid || isAlive(Number(pid))) continue
    await killAndRemove(join(runsDir, name))
  }
}


async function killAndRemove (dir: string): Promise<void> {
  let entries: Array<{ name: string, isDirectory: () => boolean }> = []
  try { entries = await readdir(dir, { withFileTypes: true }) } catch { return }
  for (const entry of entries) if (entry.isDirectory()) await killAndRemove(join(dir, entry.name))
  const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')
  for (const pid of procs.split('\n')) if (pid.trim() !== '') { try { process.kill(Number(pid), 'SIGKILL') } catch {} }
  await removeGroup(dir)
}

/**
 * Find what this daemon can enforce. v2: the daemon's own cgroup must be writable with the memory
 * and pids controllers available (root, or a delegated subtree such as `systemd-run --user --scope
 * -p Delegate=yes`); the daemon then moves itself into a leaf (`daemon`) so its runs' groups can
 * take those controllers (cgroup v2 lets no group hold processes and delegate controllers at once).
 * v1: the memory and pids hierarchies must be mounted and writable (root).
 */
export async function detectCgroups (): Promise<CgroupSupport> {
  let all: Mount[]
  let own: Map<string, string>
  try {
    all = await mounts()
    own = await ownCgroups()
  } catch (err) {
    return { version: 'none', why: `cannot read this process's cgroups: ${(err as Error).message}` }
  }
  const unified = all.find((m) => m.type === 'cgroup2' && m.path === '/sys/fs/cgroup')
  if (unified !== undefined) return await detectV2(unified.path, own.get('') ?? '/')
  const memory = v1Base(all, own, 'memory')
  const pids = v1Base(all, own, 'pids')
  if (memory === undefined || pids === undefined) return { version: 'none', why: `the cgroup v1 ${memory === undefined ? 'memory' : 'pids'} controller is not mounted` }
  for (const base of [memory, pids]) {
    await mkdir(base, { recursive: true }).catch(() => {})
    if (!await writable(base)) return { version: 'none', why: `cannot create cgroups under ${base}: the daemon needs root for cgroup v1 limits` }
  }
  const cpuBase = v1Base(all, own, 'cpu')
  const cpu = cpuBase !== undefined && await mkdir(cpuBase, { recursive: true }).then(async () => await writable(cpuBase), () => false) ? cpuBase : undefined
  for (const base of [memory, pids, cpu]) if (base !== undefined) await sweepDeadDaemons(join(base, '..'))
  const swapAccounted = await readFile(join(memory, '..', 'memory.memsw.limit_in_bytes'), 'utf8').then(() => true, () => false)
  return { version: 'v1', memory, pids, ...(cpu !== undefined ? { cpu } : {}), swapAccounted }
}

async function detectV2 (mountPath: string, ownPath: string): Promise<CgroupSupport> {
  const own = join(mountPath, ownPath)
  let controllers: string[]
  try {
    controllers = (await readFile(join(own, 'cgroup.controllers'), 'utf8')).trim().split(/\s+/)
  } catch (err) {
    return { version: 'none', why: `cannot read ${own}/cgroup.controllers: ${(err as Error).message}` }
  }
  if (!controllers.includes('memory') || !controllers.includes('pids')) {
    return { version: 'none', why: `this process's cgroup (${ownPath}) has no memory and pids controllers to give its runs: start the daemon as root, or in a delegated scope (systemd-run --user --scope -p Delegate=yes swarmd start)` }
  }
  if (!await writable(own)) return { version: 'none', why: `this process's cgroup (${ownPath}) is not writable: start the daemon as root, or in a delegated scope (systemd-run --user --scope -p Delegate=yes swarmd start)` }
  const runs = join(own, 'swarmd-runs')
  const base = join(runs, daemonGroup())
  try {
    // No internal processes: the daemon moves into a leaf, then the parent can delegate.
    const leaf = join(own, 'daemon')
    await mkdir(leaf, { recursive: true })
    const procs = (await readFile(join(own, 'cgroup.procs'), 'utf8')).trim().split('\n').filter((p) => p !== '')
    for (const pid of procs) await writeFile(join(leaf, 'cgroup.procs'), pid).catch(() => {})
    const wanted = ['memory', 'pids', ...(controllers.includes('cpu') ? ['cpu'] : [])]
    await writeFile(join(own, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '))
    await mkdir(base, { recursive: true })
    for (const dir of [runs, base]) await writeFile(join(dir, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '))
    await sweepDeadDaemons(runs)
    return { version: 'v2', base, cpu: controllers.includes('cpu') }
  } catch (err) {
    return { version: 'none', why: `cannot delegate the memory and pids controllers under ${own}: ${(err as Error).message}` }
  }
}

/** In words, for `swarmd doctor` and the status page. */
export function describeCgroups (support: CgroupSupport): string {
  if (support.version === 'none') return `no per-run cgroup: ${support.why}`
  if (support.version === 'v1') return `cgroup v1: memory (shared memory and tmpfs included${support.swapAccounted ? ', swap too' : ''}), process count${support.cpu !== undefined ? ', cpu shares' : ''}`
  return `cgroup v2: memory (shared memory and tmpfs included), process count${support.cpu ? ', cpu weight' : ''}`
}

/**
 * One run's cgroup(s). `procsFiles` are what the launcher writes its own pid into before it
 * execs the sandbox, so everything the run ever starts is inside from its first instruction.
 */
export class RunCgroup {
  private constructor (private readonly support: Exclude<CgroupSupport, { version: 'none' }>, private readonly dirs: string[], private readonly limits: CgroupLimits) {}

  /** Create the groups for run `id` and set their limits. Throws CGROUP_FAILED. */
  static async create (support: Exclude<CgroupSupport, { version: 'none' }>, id: string, limits: CgroupLimits): Promise<RunCgroup> {
    if (!/^[A-Za-z0-9_.-]{1,160}$/.test(id)) throw new SwarmdError('CGROUP_FAILED', `bad cgroup name ${id}`)
    const bytes = String(limits.memoryMb * 2 ** 20)
    try {
      if (support.version === 'v2') {
        const dir = join(support.base, id)
        await removeGroup(dir)
        await mkdir(dir)
        await writeFile(join(dir, 'memory.max'), bytes)
        await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => {})
        await writeFile(join(dir, 'pids.max'), String(limits.maxProcesses))
        if (support.cpu) await writeFile(join(dir, 'cpu.weight'), String(limits.cpuWeight))
        return new RunCgroup(support, [dir], limits)
      }
      const memory = join(support.memory, id)
      const pids = join(support.pids, id)
      const dirs = [memory, pids]
      for (const dir of dirs) {
        await removeGroup(dir)
        await mkdir(dir)
      }
      await writeFile(join(memory, 'memory.limit_in_bytes'), bytes)
      if (support.swapAccounted) await writeFile(join(memory, 'memory.memsw.limit_in_bytes'), bytes)
      await writeFile(join(pids, 'pids.max'), String(limits.maxProcesses))
      if (support.cpu !== undefined) {
        const cpu = join(support.cpu, id)
        await removeGroup(cpu)
        await mkdir(cpu)
        await writeFile(join(cpu, 'cpu.shares'), String(Math.max(2, Math.round(limits.cpuWeight * 1024 / 100))))
        dirs.push(cpu)
      }
      return new RunCgroup(support, dirs, limits)
    } catch (err) {
      throw new SwarmdError('CGROUP_FAILED', `cannot set up the run's cgroup ${id}: ${(err as Error).message}`)
    }
  }

  /** The cgroup.procs files the run's launcher joins. */
  get procsFiles (): string[] {
    return this.dirs.map((dir) => join(dir, 'cgroup.procs'))
  }

  /** Processes (and threads) in the run now. */
  async processCount (): Promise<number> {
    const dir = this.support.version === 'v2' ? this.dirs[0]! : this.dirs[1]!
    return Number((await readFile(join(dir, 'pids.current'), 'utf8').catch(() => '0')).trim()) || 0
  }

  /** Whether a fork or clone was refused at pids.max. */
  async processLimitHit (): Promise<boolean> {
    const dir = this.support.version === 'v2' ? this.dirs[0]! : this.dirs[1]!
    return eventCount(await readFile(join(dir, 'pids.events'), 'utf8').catch(() => ''), 'max') > 0
  }

  /** How many processes the kernel killed for the memory limit. */
  async oomKills (): Promise<number> {
    const [dir] = this.dirs
    const file = this.support.version === 'v2' ? 'memory.events' : 'memory.oom_control'
    return eventCount(await readFile(join(dir!, file), 'utf8').catch(() => ''), 'oom_kill')
  }

  /** The most memory the run held at once, MiB (v1 only keeps it; v2 kernels from 5.19 as memory.peak). */
  async peakMemoryMb (): Promise<number | undefined> {
    const [dir] = this.dirs
    const file = this.support.version === 'v2' ? 'memory.peak' : 'memory.max_usage_in_bytes'
    const text = await readFile(join(dir!, file), 'utf8').catch(() => undefined)
    return text === undefined ? undefined : Math.round(Number(text.trim()) / 2 ** 20)
  }

  get memoryLimitMb (): number { return this.limits.memoryMb }

  /** SIGKILL every process in the run (cgroup.kill where the kernel has it; else each pid, until none is left). */
  async killAll (): Promise<void> {
    if (this.support.version === 'v2') {
      if (await writeFile(join(this.dirs[0]!, 'cgroup.kill'), '1').then(() => true, () => false)) return
    }
    for (let round = 0; round < 50; round++) {
      const pids = await this.pids()
      if (pids.length === 0) return
      for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  /** Kill what is left and remove the groups. */
  async remove (): Promise<void> {
    await this.killAll()
    for (const dir of this.dirs) await removeGroup(dir)
  }

  private async pids (): Promise<number[]> {
    const seen = new Set<number>()
    for (const file of this.procsFiles) {
      const text = await readFile(file, 'utf8').catch(() => '')
      for (const line of text.split('\n')) if (line.trim() !== '') seen.add(Number(line))
    }
    return [...seen]
  }
}

function eventCount (text: string, key: string): number {
  const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(text)
  return match === null ? 0 : Number(match[1])
}

/** rmdir a group (and any child a run made, v2 only), retrying while its last processes exit. */
async function removeGroup (dir: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) await removeGroup(join(dir, entry.name))
      }
      await rmdir(dir)
      return
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return
      if (code !== 'EBUSY') return
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
}
