import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { detectBubblewrap } from '../../src/runner/sandbox.js'
import { DaemonProcess, SWARMD_BIN, cleanupDaemons, describeRun, e2eTempDir, eventually, fileExists, runCli } from '../helpers/daemon-process.js'
import { requirePython } from '../helpers/python.js'
import { generateIdentity } from '../../src/p2p/identity.js'
import type { Check as DoctorCheck } from '../../src/cli/doctor.js'

describe('e2e: the CLI tells the user what went wrong', { timeout: 120_000 }, () => {
  after(async () => { await cleanupDaemons() })

  it('status with no daemon running exits 4 and says to run `swarmd start`', async () => {
    const dataDir = await e2eTempDir()
    const run = await runCli(['--data-dir', dataDir, 'status'])
    assert.equal(run.code, 4, describeRun(run))
    assert.match(run.stderr, /swarmd start/, describeRun(run))
    assert.match(run.stderr, /DAEMON_NOT_RUNNING/)
    assert.equal(run.stdout, '')
  })

  it('refuses a hypothesis with an empty title (exit 5) and stores nothing', async () => {
    const daemon = await DaemonProcess.start({ name: 'cli' })
    for (const title of ['', '   ']) {
      const run = await daemon.cli(['hypothesis', 'add', title, '--text', 'no title'])
      assert.equal(run.code, 5, `title ${JSON.stringify(title)}: ${describeRun(run)}`)
      assert.match(run.stderr, /title/, 'the message names the bad field')
      assert.match(run.stderr, /API_BAD_REQUEST/)
    }
    assert.deepEqual(await daemon.hypothesisIds(), [])
    // The same command with a title works: the refusal was about the title, not the setup.
    const ok = await daemon.cli(['hypothesis', 'add', 'a real title', '--text', 'fine'])
    assert.equal(ok.code, 0, describeRun(ok))
    assert.deepEqual(await daemon.hypothesisIds(), [ok.stdout.trim()])
  })

  it('a second `start` on a data dir in use fails and leaves the running daemon reachable', async () => {
    const daemon = await DaemonProcess.start({ name: 'first' })
    // Start-up ends with one line scripts can wait for: `ready` and the API's address.
    await eventually(async () => /^ready http:\/\/\S+$/m.test(daemon.output), 'the ready line')
    const second = await daemon.cli(['start', '--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', '0', '--no-mdns'])
    assert.notEqual(second.code, 0, describeRun(second))
    assert.match(second.stderr, /data dir/, `the refusal says the data dir is taken\n${describeRun(second)}`)
    // The failed start must not have removed the first daemon's daemon.json: the CLI still finds it.
    const status = await daemon.cli(['status', '--json'])
    assert.equal(status.code, 0, describeRun(status))
    assert.equal((JSON.parse(status.stdout) as { peerId: string }).peerId, daemon.peerId)
  })

  it('a second daemon on one host: a p2p or HTTP port in use exits 2 naming the flag to change', async () => {
    const first = await DaemonProcess.start({ name: 'first' })
    const p2p = first.addr.replace(/\/p2p\/.*$/, '')
    const http = new URL(first.info.api).port
    const cases = [
      { args: ['--listen', p2p, '--http-port', '0'], flag: /--listen .*SWARMD_LISTEN/ },
      { args: ['--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', http], flag: /--http-port .*SWARMD_HTTP_PORT/ }
    ]
    for (const { args, flag } of cases) {
      const dataDir = await e2eTempDir()
      const run = await runCli(['--data-dir', dataDir, 'start', '--no-mdns', '--agent', 'none', ...args])
      assert.equal(run.code, 2, describeRun(run))
      assert.match(run.stderr, /is in use .*\(PORT_IN_USE\)/, describeRun(run))
      assert.match(run.stderr, flag, describeRun(run))
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace')
      assert.ok(!fileExists(join(dataDir, 'daemon.json')), 'no daemon was left running')
    }
    assert.ok(first.running, 'the first daemon runs on')
  })

  it('connect to a daemon of another swarm: the dial works, but the CLI says it is not a member (exit 1)', async () => {
    const ours = await DaemonProcess.start({ name: 'ours' })
    const theirs = await DaemonProcess.start({ name: 'theirs', args: ['--swarm', 'another-swarm'] })
    const run = await ours.cli(['connect', theirs.addr])
    assert.equal(run.code, 1, describeRun(run))
    assert.match(run.stderr, /does not serve this swarm.*\(CONNECT_NOT_MEMBER\)/, describeRun(run))
    const member = await DaemonProcess.start({ name: 'member' })
    const ok = await ours.cli(['connect', member.addr])
    assert.equal(ok.code, 0, describeRun(ok))
    assert.equal(ok.stdout.trim(), `connected to ${member.peerId}`)
  })

  it('a bootstrap peer out of reach: the daemon says so after a few tries, and status shows why', async () => {
    const nobody = (await generateIdentity()).peerId.toString()
    const addr = `/ip4/127.0.0.1/tcp/9/p2p/${nobody}`
    const daemon = await DaemonProcess.start({ name: 'lonely', bootstrap: [addr] })
    await eventually(() => /bootstrap: cannot reach \/ip4\/127\.0\.0\.1\/tcp\/9\/p2p\/\w+ after 3 tries \(.+\); retrying/.test(daemon.output), 'the warning', { timeoutMs: 30_000, diagnose: () => daemon.output })
    const status = await daemon.cli(['status'])
    assert.equal(status.code, 0, describeRun(status))
    assert.match(status.stdout, new RegExp(`bootstrap 0 of 1 reached; ${addr.replace(/\//g, '\\/')} not reached after \\d+ tries`), describeRun(status))
    assert.match(status.stdout, /^work {5}0 runs \(0 kept, 0 discarded, 0 crashed\), 0 peers' results re-run, 0\.0 GPU hours; up \d+ min$/m, describeRun(status))
    assert.match(status.stdout, /^problem {2}bootstrap peer \/ip4\/127\.0\.0\.1\/tcp\/9\/p2p\/\w+ unreachable after \d+ tries/m, 'the problem in words, as on the page')
  })

  it('--help lists the commands', async () => {
    const run = await runCli(['--help'])
    assert.equal(run.code, 0, describeRun(run))
    for (const command of ['init', 'start', 'doctor', 'status', 'peers', 'connect', 'hypothesis', 'hypotheses', 'results', 'best', 'export', 'git', 'blob']) {
      assert.match(run.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `--help lists "${command}"\n${run.stdout}`)
    }
  })

  it('start with an invalid config.json exits 2 and names the file', async () => {
    const dataDir = await e2eTempDir()
    const config = join(dataDir, 'config.json')
    await writeFile(config, '{ "listen": [\n')
    const run = await runCli(['--data-dir', dataDir, 'start', '--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', '0', '--no-mdns'])
    assert.equal(run.code, 2, describeRun(run))
    assert.ok(run.stderr.includes(config), `the message names ${config}\n${describeRun(run)}`)
    assert.match(run.stderr, /CONFIG_INVALID/)
    assert.ok(!fileExists(join(dataDir, 'daemon.json')), 'no daemon was left running')
  })

  it('--version prints the version of package.json', async () => {
    const run = await runCli(['--version'])
    assert.equal(run.code, 0, describeRun(run))
    const { version } = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
    assert.equal(run.stdout.trim(), version)
  })

  it('piped into a reader that stops at once (`| head`), a command ends quietly with 0, not an EPIPE trace', async () => {
    const run = await execa('bash', ['-c', `set -o pipefail; "${process.execPath}" "${SWARMD_BIN}" --data-dir "${await e2eTempDir()}" config | true`], { reject: false })
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`)
    assert.doesNotMatch(run.stderr, /EPIPE|Unhandled/)
  })

  it('start names a malformed address by the flag it came in', async () => {
    const dataDir = await e2eTempDir()
    const run = await runCli(['--data-dir', dataDir, 'start', '--listen', 'not-a-multiaddr', '--bootstrap', '/ip4/127.0.0.1/tcp/4717', '--http-port', '0'])
    assert.equal(run.code, 2, describeRun(run))
    assert.match(run.stderr, /--listen\.0: not a multiaddr/, describeRun(run))
    assert.match(run.stderr, /--bootstrap\.0: .*\/p2p\/<peerId>/, describeRun(run))
  })

  it('a data dir that is a file: every command exits 2 and says to pass a directory', async () => {
    const file = join(await e2eTempDir(), 'not-a-dir')
    await writeFile(file, 'x')
    for (const args of [['status'], ['doctor'], ['start', '--http-port', '0']]) {
      const run = await runCli(['--data-dir', file, ...args])
      assert.equal(run.code, 2, describeRun(run))
      assert.match(run.stderr, /is a file, not a directory: pass --data-dir/, describeRun(run))
    }
  })

  it('start names every bad SWARMD_* variable at once, and takes no typo for a switch', async () => {
    const dataDir = await e2eTempDir()
    const run = await runCli(['--data-dir', dataDir, 'start', '--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', '0'], { env: { SWARMD_MDNS: 'maybe', SWARMD_HTTP_PORT: 'abc' } })
    assert.equal(run.code, 2, describeRun(run))
    assert.match(run.stderr, /SWARMD_MDNS: .*expected boolean/, describeRun(run))
    assert.match(run.stderr, /SWARMD_HTTP_PORT: /, describeRun(run))
    assert.ok(!fileExists(join(dataDir, 'daemon.json')), 'no daemon was left running')
  })

  it('doctor reports what this machine has, and exits non-zero when it cannot run experiments', async () => {
    const dataDir = await e2eTempDir()
    const ok = await runCli(['--data-dir', dataDir, 'doctor', '--json'], { timeoutMs: 120_000 })
    assert.equal(ok.code, 0, describeRun(ok))
    const checks = JSON.parse(ok.stdout) as DoctorCheck[]
    assert.ok(checks.find((c) => c.name === 'python + torch')?.ok)
    assert.ok(checks.find((c) => c.name === 'corpus (cpu profile)')?.ok)
    // Where the runner finds a working bubblewrap (here), doctor says the sandbox works.
    assert.equal(checks.find((c) => c.name === 'sandbox (bubblewrap)')?.ok, await detectBubblewrap() !== undefined, describeRun(ok))
    const broken = await runCli(['--data-dir', dataDir, 'doctor', '--python', '/nonexistent/python3'], { timeoutMs: 120_000 })
    assert.equal(broken.code, 1, describeRun(broken))
    assert.match(broken.stdout, /FAIL python \+ torch/)
    assert.match(broken.stdout, /apt-get install python3-torch/)
  })

  it('doctor on a machine without bubblewrap warns that peers\' code will be refused and says what to install', async () => {
    const dataDir = await e2eTempDir()
    // An empty PATH: no bwrap; node and python are named by their full paths.
    const python = (await execa(await requirePython(), ['-c', 'import sys; print(sys.executable)'])).stdout.trim()
    const run = await runCli(['--data-dir', dataDir, 'doctor', '--json', '--python', python], { timeoutMs: 120_000, env: { PATH: await e2eTempDir() } })
    assert.equal(run.code, 0, `a missing sandbox alone does not stop experiments\n${describeRun(run)}`)
    const sandbox = (JSON.parse(run.stdout) as DoctorCheck[]).find((c) => c.name === 'sandbox (bubblewrap)')
    assert.equal(sandbox?.ok, false, describeRun(run))
    assert.match(sandbox?.fix ?? '', /apt-get install bubblewrap/)
    assert.match(sandbox?.fix ?? '', /--unsafe-no-sandbox/)
  })

  it('start --profile gpu without its corpus (no host reachable, no folder given) fails with what to do', async () => {
    const dataDir = await e2eTempDir()
    const run = await runCli(['--data-dir', dataDir, 'start', '--profile', 'gpu', '--agent', 'none', '--corpus', join(dataDir, 'no-such-folder'), '--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', '0', '--no-mdns'])
    assert.notEqual(run.code, 0, describeRun(run))
    assert.match(run.stderr, /CORPUS_UNAVAILABLE/)
    assert.match(run.stderr, /no-such-folder/)
    assert.ok(!fileExists(join(dataDir, 'daemon.json')))
  })
})
