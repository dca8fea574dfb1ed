import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, readFile, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { RunCgroup, detectCgroups } from '../../src/runner/cgroup.js'

/** The per-run cgroups on this machine's real cgroup filesystem (root; v1 here and in CI). */
describe('run cgroups', () => {
  it('the groups of a daemon killed with -9 are removed when the next daemon starts; a live one\'s stay', async () => {
    const first = await detectCgroups()
    if (first.version === 'none') throw new Error(`this test needs a cgroup per run and this machine gives none: ${first.why}`)
    const base = first.version === 'v2' ? first.base : first.memory
    const runs = join(base, '..')
    // A daemon that is gone: its pid is free, its group and a run's group inside are still there.
    const exited = execa('true')
    const dead = exited.pid!
    await exited
    const stale = join(runs, `d${dead}`)
    await mkdir(join(stale, 'run-stale'), { recursive: true })
    const mine = await RunCgroup.create(first, 'live-run', { memoryMb: 64, maxProcesses: 8, cpuWeight: 50 })
    try {
      await detectCgroups()
      assert.deepEqual((await readdir(runs)).filter((name) => name === `d${dead}`), [], 'the dead daemon\'s group is gone')
      assert.ok((await stat(join(base, 'live-run'))).isDirectory(), 'this daemon\'s run group stays')
    } finally {
      await mine.remove()
    }
    await assert.rejects(stat(join(base, 'live-run')))
  })

  it('makes its runs\' groups under the daemon\'s own memory cgroup: a limit an admin puts on the daemon binds its runs too', async (t) => {
    const support = await detectCgroups()
    if (support.version === 'none') throw new Error(`this test needs a cgroup per run and this machine gives none: ${support.why}`)
    if (support.version !== 'v1') {
      t.skip('written for cgroup v1 (this machine and CI); v2 places runs under the daemon\'s own group by construction (detectV2)')
      return
    }
    // This process's own memory group as the mount shows it: the folder whose cgroup.procs lists it
    // (a container's mount may show only the tail of the path /proc/self/cgroup gives).
    const parts = (/^\d+:[^:]*\bmemory\b[^:]*:(.*)$/m.exec(await readFile('/proc/self/cgroup', 'utf8'))?.[1] ?? '/').split('/').filter((p) => p !== '')
    let own: string | undefined
    for (let i = 0; i <= parts.length && own === undefined; i++) {
      const dir = join('/sys/fs/cgroup/memory', ...parts.slice(i))
      const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')
      if (procs.split('\n').includes(String(process.pid))) own = dir
    }
    assert.ok(own !== undefined, 'this process\'s memory group is found')
    assert.ok(support.memory.startsWith(join(own, 'swarmd-runs')), `${support.memory} is not under this process's own group ${own}`)
  })
})
