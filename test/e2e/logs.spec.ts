import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DaemonProcess, SWARMD_BIN, cleanupDaemons, describeRun, e2eTempDir, eventually, runCli } from '../helpers/daemon-process.js'

/** `swarmd start` logs to its data dir; `swarmd logs` prints that log, `--follow` as it grows. */
describe('swarmd logs', () => {
  after(async () => { await cleanupDaemons() })

  it('prints the JSON log a real daemon writes, human or raw, and --follow shows what it writes later', async () => {
    const daemon = await DaemonProcess.start({ name: 'logger' })
    const file = join(daemon.dataDir, 'logs', 'swarmd.log')
    // stdout is a pipe here: the plain lines scripts read, as before.
    await eventually(() => daemon.output.includes(`\nready ${daemon.info.api}\n`), 'the ready line on stdout')
    const entries = (await readFile(file, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { level: string, time: string, msg: string, pid: number })
    const ready = entries.find((e) => e.msg === `ready ${daemon.info.api}`)
    assert.ok(ready !== undefined && ready.level === 'info' && ready.pid === daemon.pid, JSON.stringify(entries))

    const human = await daemon.cli(['logs'])
    assert.equal(human.code, 0, describeRun(human))
    assert.match(human.stdout, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z INFO  ready ${daemon.info.api.replace(/[.]/g, '\\.')}$`, 'm'))
    const raw = await daemon.cli(['logs', '--json', '--lines', '1'])
    assert.equal(raw.code, 0, describeRun(raw))
    assert.deepEqual(raw.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg), [entries.at(-1)!.msg])

    const follower = spawn(process.execPath, [SWARMD_BIN, '--data-dir', daemon.dataDir, 'logs', '--follow'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let followed = ''
    follower.stdout.setEncoding('utf8').on('data', (chunk: string) => { followed += chunk })
    try {
      await eventually(() => followed.includes(`INFO  ready ${daemon.info.api}`), 'the follower to print what is there')
      // Written after the follower started: the daemon's stop.
      await daemon.stop()
      await eventually(() => /INFO {2}SIGTERM: stopping…\n.*INFO {2}stopped\n/.test(followed), 'the follower to print the stop', { diagnose: () => followed })
    } finally {
      if (follower.pid !== undefined && follower.exitCode === null) process.kill(follower.pid, 'SIGTERM')
    }
  })

  it('without a log file, says where it looked and how to start a daemon (exit 6)', async () => {
    const dir = await e2eTempDir()
    const result = await runCli(['--data-dir', dir, 'logs'])
    assert.equal(result.code, 6, describeRun(result))
    assert.ok(result.stderr.includes(join(dir, 'logs', 'swarmd.log')) && result.stderr.includes('swarmd start') && result.stderr.includes('LOG_NOT_FOUND'), result.stderr)
  })
})
