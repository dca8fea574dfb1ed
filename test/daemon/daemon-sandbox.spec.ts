import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { execa } from 'execa'
import { isSwarmdError } from '../../src/util/errors.js'
import { startInProcessDaemon, stopAndRemove, tempDir } from '../helpers/in-process-daemon.js'
import { requirePython } from '../helpers/python.js'
import type { PartialConfig } from '../../src/config/config.js'
import type { Daemon } from '../../src/daemon/daemon.js'
import type { ExperimentSpec } from '../../src/runner/experiment-runner.js'

/** `unsafeNoSandbox` (`--unsafe-no-sandbox`) from config to the runner the daemon builds, where bubblewrap cannot be found. */
describe('a daemon on a machine without bubblewrap', () => {
  let python: string
  let noBwrap: string
  const daemons: Daemon[] = []
  let n = 0
  const peerCode = (): ExperimentSpec => ({ id: `peer-${++n}`, source: 'print("ran")\n', profile: 'cpu', foreign: true })

  /** A research daemon whose start sees a PATH without bwrap; one experiment of one step keeps its own loop short. */
  async function startWithoutBwrap (flags: PartialConfig = {}): Promise<Daemon> {
    const path = process.env.PATH
    process.env.PATH = noBwrap
    try {
      const daemon = await startInProcessDaemon({ agent: 'builtin', python, maxSteps: 1, maxExperiments: 1, ...flags })
      daemons.push(daemon)
      return daemon
    } finally {
      if (path === undefined) delete process.env.PATH
      else process.env.PATH = path
    }
  }

  before(async () => {
    // The full path: the daemon must find python with PATH emptied.
    python = (await execa(await requirePython(), ['-c', 'import sys; print(sys.executable)'])).stdout.trim()
    noBwrap = await tempDir()
  })
  after(async () => {
    await stopAndRemove(...daemons)
    await rm(noBwrap, { recursive: true, force: true })
  })

  it('refuses a peer\'s code with SANDBOX_REQUIRED by default', async () => {
    const daemon = await startWithoutBwrap()
    assert.ok(daemon.runner !== undefined)
    assert.equal(daemon.runner.canRunForeignCode(), false)
    await assert.rejects(daemon.runner.run(peerCode()), (err) => isSwarmdError(err, 'SANDBOX_REQUIRED'))
  })

  it('runs a peer\'s code when the user opted out with unsafeNoSandbox', async () => {
    const daemon = await startWithoutBwrap({ unsafeNoSandbox: true })
    assert.ok(daemon.runner !== undefined)
    assert.equal(daemon.runner.canRunForeignCode(), true)
    assert.match((await daemon.runner.run(peerCode())).log, /^ran$/m)
  })
})
