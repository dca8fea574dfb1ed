import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, readdir, stat } from 'node:fs/promises'
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
})
