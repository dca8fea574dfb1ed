import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { describeConfinement } from '../../src/runner/confinement.js'
import { allowedInRun, runEnvironment } from '../../src/runner/run-environment.js'
import type { CgroupSupport } from '../../src/runner/cgroup.js'

const sandbox = { bwrap: 'bwrap', readOnly: [] }
const v1: CgroupSupport = { version: 'v1', memory: '/sys/fs/cgroup/memory/x', pids: '/sys/fs/cgroup/pids/x', swapAccounted: true }
const none: CgroupSupport = { version: 'none', why: 'not root' }

describe('what confines peers\' code, as doctor and the page say it', () => {
  it('runs peers\' code only with the sandbox and a cgroup, or with the matching opt-out', () => {
    assert.equal(describeConfinement({ sandbox, cgroups: v1, runUid: 61184, isRoot: true }).foreignCode.runs, true)
    const noCgroup = describeConfinement({ sandbox, cgroups: none, runUid: 61184, isRoot: false })
    assert.equal(noCgroup.foreignCode.runs, false)
    assert.match(noCgroup.foreignCode.why, /--unsafe-no-cgroup/)
    assert.deepEqual(noCgroup.protections.filter((p) => !p.holds).map((p) => p.name), ['memory', 'process count'])
    assert.equal(describeConfinement({ sandbox, cgroups: none, runUid: 61184, unsafeNoCgroup: true }).foreignCode.runs, true)
    const noSandbox = describeConfinement({ sandbox: undefined, cgroups: v1, runUid: 61184 })
    assert.equal(noSandbox.foreignCode.runs, false)
    assert.match(noSandbox.foreignCode.why, /bubblewrap/)
    assert.equal(describeConfinement({ sandbox: undefined, cgroups: none, runUid: 61184, unsafeNoSandbox: true }).foreignCode.runs, true)
  })

  it('names the run\'s uid under a root daemon, the user\'s own otherwise', () => {
    const user = (isRoot: boolean): string => describeConfinement({ sandbox, cgroups: v1, runUid: 61184, isRoot }).protections.find((p) => p.name === 'user')!.how
    assert.match(user(true), /uid 61184/)
    assert.match(user(false), /your own uid/)
  })
})

describe('a run\'s environment', () => {
  it('is rebuilt from the allow-list: keys and tokens of the daemon never reach it', () => {
    const env = runEnvironment({
      python: '/opt/venv/bin/python',
      home: '/work/run-1',
      harness: { SWARMD_PROFILE: 'cpu' },
      from: { HF_TOKEN: 'hf_x', AWS_SECRET_ACCESS_KEY: 'k', OPENAI_API_KEY: 'k', SSH_AUTH_SOCK: '/run/ssh', LD_LIBRARY_PATH: '/usr/local/cuda/lib64', OPENBLAS_CORETYPE: 'Haswell', PATH: '/home/me/bin:/usr/bin', HOME: '/home/me' }
    })
    assert.deepEqual(env, {
      LD_LIBRARY_PATH: '/usr/local/cuda/lib64',
      OPENBLAS_CORETYPE: 'Haswell',
      PATH: '/opt/venv/bin:/usr/local/bin:/usr/bin:/bin',
      HOME: '/work/run-1',
      TMPDIR: '/tmp',
      USER: 'swarmd-run',
      LOGNAME: 'swarmd-run',
      SWARMD_PROFILE: 'cpu'
    })
    for (const name of ['HF_TOKEN', 'GITHUB_TOKEN', 'ANTHROPIC_API_KEY', 'AWS_ACCESS_KEY_ID', 'GOOGLE_APPLICATION_CREDENTIALS', 'SSH_AUTH_SOCK', 'DBUS_SESSION_BUS_ADDRESS']) assert.equal(allowedInRun(name), false, name)
  })
})
