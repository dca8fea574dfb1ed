import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { closeSync, openSync } from 'node:fs'
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { DEFAULT_RUN_UID, ExecaExperimentRunner } from '../../src/runner/experiment-runner.js'
import { systemClock } from '../../src/util/clock.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import { requireConfinement } from '../helpers/confinement.js'
import { HOSTILE, probe } from '../helpers/hostile-programs.js'
import { processesOfUid } from '../helpers/processes.js'
import { CORPUS_DIR, HARNESS_DIR } from '../helpers/python.js'
import { waitFor } from '../helpers/wait.js'
import type { CgroupSupport } from '../../src/runner/cgroup.js'
import type { ExecaRunnerInit, ExperimentSpec } from '../../src/runner/experiment-runner.js'
import type { RunOutcome } from '../../src/runner/experiment-runner.js'
import type { SandboxSpec } from '../../src/runner/sandbox.js'

/**
 * Hostile train.py files against the real runner, with real bubblewrap and the kernel's cgroups
 * (issue 11): nothing secret inside, no limit escaped. Each attack ends as a crash with a clear
 * kind, and the runner researches on afterwards. No skips: a machine without bubblewrap or
 * cgroups fails here with that reason.
 */
describe('hostile train.py: secrets and whole-run limits', () => {
  // Low limits keep the attacks quick. The evaluator needs about 1 GiB to import torch.
  const limits = { maxProcesses: 64, maxMemoryMb: 1024, maxFileMb: 8, tmpfsMb: 64, workspaceMb: 64 }
  const canary = `canary-${randomBytes(12).toString('hex')}`
  let python: string
  let sandbox: SandboxSpec
  let cgroups: CgroupSupport
  let workRoot: string
  let corpus: string
  let hostDir: string
  let n = 0
  const spec = (source: string): ExperimentSpec => ({ id: `atk-${++n}`, source, profile: 'cpu', foreign: true })
  const runner = (init: Partial<ExecaRunnerInit> = {}, extra: Partial<SandboxSpec> = {}): ExecaExperimentRunner =>
    new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: corpus, workRoot, clock: systemClock, sandbox: { ...sandbox, ...extra }, cgroups }, { killAfterMs: 60_000, limits, ...init })
  const noCanary = (outcome: RunOutcome): void => {
    assert.ok(!outcome.log.includes(canary), `the canary leaked into the log:\n${outcome.log.slice(-2000)}`)
  }

  before(async () => {
    ({ python, sandbox, cgroups } = await requireConfinement())
    workRoot = await tempDir()
    corpus = join(await tempDir(), 'data')
    await cp(CORPUS_DIR, corpus, { recursive: true })
    // Secrets where the old sandbox (the whole root read-only, named folders hidden) showed them:
    // a root-only file in a folder of the system, and the daemon's environment.
    process.env.SWARMD_TEST_SECRET_TOKEN = canary
    process.env.HF_TOKEN = canary
    hostDir = await mkdtemp('/srv/swarmd-attack-')
    await writeFile(join(hostDir, 'secret'), canary)
    await chmod(join(hostDir, 'secret'), 0o600)
    await writeFile(join('/etc', `swarmd-attack-${process.pid}`), canary, { mode: 0o600 })
  })
  after(async () => {
    delete process.env.SWARMD_TEST_SECRET_TOKEN
    delete process.env.HF_TOKEN
    await rm(hostDir, { recursive: true, force: true })
    await rm(join('/etc', `swarmd-attack-${process.pid}`), { force: true })
    await rm(workRoot, { recursive: true, force: true })
    await rm(join(corpus, '..'), { recursive: true, force: true })
  })

  it('prints its environment: none of the daemon\'s variables are there', async () => {
    const outcome = await runner().run(spec(HOSTILE.printEnvironment))
    assert.match(outcome.log, /^done$/m, outcome.log)
    noCanary(outcome)
    assert.match(outcome.log, /^USER swarmd-run$/m)
    assert.doesNotMatch(outcome.log, /^(HF_TOKEN|SWARMD_TEST_SECRET_TOKEN) /m)
  })

  it('reads root-only files in system folders that were not hidden: they are absent, and unreadable even when bound', async () => {
    const read = HOSTILE.readFiles([join(hostDir, 'secret'), join('/etc', `swarmd-attack-${process.pid}`), '/etc/shadow', '/etc/ssh'])
    const outcome = await runner().run(spec(read + 'import os\nprint("etc", sorted(os.listdir("/etc")))\nprint("root", sorted(os.listdir("/")))\n'))
    noCanary(outcome)
    assert.match(outcome.log, /secret FileNotFoundError$/m, outcome.log)
    assert.match(outcome.log, /^\/etc\/shadow FileNotFoundError$/m)
    assert.doesNotMatch(outcome.log, /^root .*'(home|root|var|srv|run|opt)'/m)
    // A folder bound by mistake: the run is not root, the 0600 file stays closed.
    const mistaken = await runner({}, { readOnly: [...sandbox.readOnly, hostDir] }).run(spec(read + 'import os\nprint("uid", os.getuid(), os.geteuid())\n'))
    noCanary(mistaken)
    assert.match(mistaken.log, /secret PermissionError$/m, mistaken.log)
    if (process.getuid?.() === 0) assert.match(mistaken.log, new RegExp(`^uid ${DEFAULT_RUN_UID} ${DEFAULT_RUN_UID}$`, 'm'))
  })

  it('connects to a host service\'s Unix socket outside the old hidden folders: it is not there', async (t) => {
    let reached = 0
    const path = join(hostDir, 'control.sock')
    const server = createServer((socket) => { reached++; socket.end(canary) })
    await new Promise<void>((resolve) => server.listen(path, resolve))
    t.after(async () => { await new Promise((resolve) => server.close(resolve)) })
    const outcome = await runner().run(spec(HOSTILE.connectUnix(path)))
    assert.equal(outcome.status, 'crash')
    assert.match(outcome.logTail, /FileNotFoundError|ConnectionRefused|PermissionError/)
    noCanary(outcome)
    assert.equal(reached, 0)
  })

  it('maps shared memory past the limit (RLIMIT_DATA does not count it): killed at the run\'s memory limit', async () => {
    const outcome = await runner().run(spec(HOSTILE.sharedMemory))
    assert.equal(outcome.reason, 'resource-limit', outcome.log)
    assert.match(outcome.detail ?? '', /memory/)
    assert.doesNotMatch(outcome.log, /mapped 1.5 GiB/)
  })

  it('splits its memory over several processes, each under the per-process limit: killed at the run\'s total', async () => {
    const outcome = await runner().run(spec(HOSTILE.manyProcessesMemory))
    assert.equal(outcome.reason, 'resource-limit', outcome.log)
    assert.match(outcome.detail ?? '', /memory/)
    assert.doesNotMatch(outcome.log, /held 1.8 GiB/)
  })

  it('fills /dev/shm and /tmp: each is a sized tmpfs, the write fails', async () => {
    for (const dir of ['/dev/shm', '/tmp']) {
      const outcome = await runner().run(spec(HOSTILE.fill(dir)))
      // The full tmpfs is read from the log only: the code's crash, never the verifier's problem.
      assert.equal(outcome.reason, 'exception', outcome.log)
      assert.match(outcome.detail ?? '', /No space left|full/)
      assert.doesNotMatch(outcome.log, /filled 4 GiB/)
    }
  })

  it('fills its workspace with many files under the per-file limit: the workspace is full at its size', async () => {
    const outcome = await runner().run(spec(HOSTILE.fill('.')))
    assert.equal(outcome.reason, 'exception', outcome.log)
    assert.match(outcome.detail ?? '', /No space left|full/)
    assert.doesNotMatch(outcome.log, /filled 4 GiB/)
  })

  it('forks a bomb whose children each leave the session (setsid): stopped at the process limit, nothing left', async () => {
    const started = Date.now()
    const outcome = await runner().run(spec(HOSTILE.setsidForkBomb))
    assert.equal(outcome.reason, 'resource-limit', outcome.log)
    assert.match(outcome.detail ?? '', /process/)
    assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`)
    if (process.getuid?.() === 0) await waitFor(async () => await processesOfUid(DEFAULT_RUN_UID) === 0, { what: 'the bomb\'s processes to be gone', timeoutMs: 10_000 })
  })

  it('reaches past the namespaces through the kernel: vsock and other socket families, keyrings, new namespaces are refused', async () => {
    // The red team reached the hypervisor's vsock ports from inside, and left a key in the uid's keyring for the next run.
    const outcome = await runner().run(spec(probe({
      vsock: 'socket.socket(40, socket.SOCK_STREAM)',
      alg: 'socket.socket(38, socket.SOCK_SEQPACKET)',
      packet: 'socket.socket(17, socket.SOCK_RAW)',
      add_key: '(libc.syscall(248, b"user", b"left-behind", b"x", 1, -3), ctypes.get_errno())',
      keyctl: '(libc.syscall(250, 0, -3, 0), ctypes.get_errno())',
      userns: '(libc.unshare(0x10000000), ctypes.get_errno())',
      io_uring: '(libc.syscall(425, 8, 0), ctypes.get_errno())',
      hostname: 'socket.gethostname()',
      inet: 'socket.socket(socket.AF_INET, socket.SOCK_STREAM).close() or "ok"',
      // The thread does nothing and is joined: one that printed could interleave with this line.
      threads: '(lambda t: (t.start(), t.join(), "ok")[2])(__import__("threading").Thread(target=int))'
    })))
    assert.ok(process.arch === 'x64', 'these syscall numbers are x86-64\'s')
    for (const family of ['vsock', 'alg', 'packet']) assert.match(outcome.log, new RegExp(`^${family} refused OSError$`, 'm'), outcome.log)
    // -1 with EPERM (1) from the filter.
    for (const call of ['add_key', 'keyctl', 'userns', 'io_uring']) assert.match(outcome.log, new RegExp(`^${call} ALLOWED \\(-1, 1\\)$`, 'm'), outcome.log)
    assert.match(outcome.log, /^hostname ALLOWED swarmd-run$/m)
    // What training needs still works: sockets inside its own network namespace, threads.
    assert.match(outcome.log, /^inet ALLOWED ok$/m)
    assert.match(outcome.log, /^threads ALLOWED ok$/m)
  })

  it('prints one 64 MiB line: the runner reads it at pipe speed and keeps only the tail', async () => {
    const started = Date.now()
    const outcome = await runner().run(spec(HOSTILE.hugeLine))
    assert.match(outcome.log, /^printed 64 MiB$/m)
    assert.ok(Buffer.byteLength(outcome.log) < 5 * 2 ** 20, 'the log keeps at most 4 MiB of it')
    assert.notEqual(outcome.reason, 'timeout', `took ${Date.now() - started} ms`)
  })

  it('two runs at once (one per GPU) get different uids: one cannot use up the other\'s per-user allowances', { skip: process.getuid?.() !== 0 ? 'runs take distinct uids only under a root daemon' : false }, async () => {
    const shared = runner()
    const uidOf = (outcome: RunOutcome): string | undefined => /^uid (\d+)$/m.exec(outcome.log)?.[1]
    const source = 'import os, time\nprint("uid", os.getuid())\ntime.sleep(3)\n'
    const [a, b] = await Promise.all([shared.run(spec(source)), shared.run(spec(source))])
    assert.ok(uidOf(a) !== undefined && uidOf(b) !== undefined, a.log + b.log)
    assert.notEqual(uidOf(a), uidOf(b))
    // Threads held in one run do not count against the other (its cgroup counts its own).
    const [held, other] = await Promise.all([shared.run(spec(HOSTILE.holdThreads(4))), (async () => { await new Promise((resolve) => setTimeout(resolve, 1500)); return await shared.run(spec(HOSTILE.holdThreads(1))) })()])
    assert.match(held.log, /^held 40 threads$/m, held.log)
    assert.match(other.log, /^held 40 threads$/m, other.log)
  })

  it('reads and writes file descriptors the daemon inherited from its parent: closed before the run starts', async (t) => {
    // A separate Node process plays a daemon started with two extra open files (as a shell's
    // `exec 5<secret 6<>log` or a supervisor's would leave them): fd 5 a root-only file, fd 6 a host file.
    const root = await tempDir()
    t.after(async () => { await rm(root, { recursive: true, force: true }) })
    const secret = join(hostDir, 'inherited-secret')
    await writeFile(secret, canary, { mode: 0o600 })
    const hostLog = join(root, 'host.log')
    await writeFile(hostLog, '')
    const module = (path: string): string => JSON.stringify(fileURLToPath(new URL(path, import.meta.url)))
    const script = join(root, 'daemon.mjs')
    await writeFile(script, [
      `import { ExecaExperimentRunner } from ${module('../../src/runner/experiment-runner.js')}`,
      `import { detectCgroups } from ${module('../../src/runner/cgroup.js')}`,
      `import { systemClock } from ${module('../../src/util/clock.js')}`,
      `const runner = new ExecaExperimentRunner({ python: ${JSON.stringify(python)}, harnessDir: ${JSON.stringify(HARNESS_DIR)}, corpusDir: ${JSON.stringify(corpus)}, workRoot: ${JSON.stringify(join(root, 'work'))}, clock: systemClock, sandbox: ${JSON.stringify(sandbox)}, cgroups: await detectCgroups() }, { killAfterMs: 60000, limits: ${JSON.stringify(limits)} })`,
      `const outcome = await runner.run({ id: 'fds', source: ${JSON.stringify(probe({ fds: 'sorted(os.listdir("/pro" + "c/self/fd"))', read: 'os.pread(5, 200, 0)', write: 'os.write(6, b"written from the sandbox")' }))}, profile: 'cpu', foreign: true })`,
      'process.stdout.write(outcome.log)'
    ].join('\n'))
    const secretFd = openSync(secret, 'r')
    const logFd = openSync(hostLog, 'r+')
    let log: string
    try {
      // node:child_process, not execa: execa does not pass raw descriptors through.
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit', 'ignore', 'ignore', secretFd, logFd] })
      let out = ''
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
      await once(child, 'exit')
      log = out
    } finally {
      closeSync(secretFd)
      closeSync(logFd)
    }
    assert.match(log, /^fds ALLOWED \['0', '1', '2', '3'\]$/m, log)
    assert.match(log, /^read refused OSError$/m)
    assert.match(log, /^write refused OSError$/m)
    assert.ok(!log.includes(canary))
    assert.equal(await readFile(hostLog, 'utf8'), '')
  })

  it('reads what names the machine: the boot id is empty, uevent netlink refused', async () => {
    const outcome = await runner().run(spec(probe({
      boot_id: 'open("/pro" + "c/sys/kernel/random/boot_id").read() or "empty"',
      uevent: 'socket.socket(16, socket.SOCK_DGRAM, 15)',
      route: 'socket.socket(16, socket.SOCK_RAW, 0).close() or "ok"'
    })))
    assert.match(outcome.log, /^boot_id (ALLOWED empty|refused PermissionError)$/m, outcome.log)
    assert.match(outcome.log, /^uevent refused OSError$/m)
    assert.match(outcome.log, /^route ALLOWED ok$/m)
  })

  it('after all of it: no run cgroup is left, and a real train.py still trains', async () => {
    // A workspace a daemon killed with -9 left behind goes at the next runner's first run.
    const stale = join(workRoot, 'run-left-by-a-killed-daemon')
    await mkdir(join(stale, 'big'), { recursive: true })
    await utimes(stale, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000))
    const base = cgroups.version === 'v2' ? cgroups.base : cgroups.version === 'v1' ? cgroups.memory : ''
    const left = (await readdir(base)).filter((name) => name.startsWith('atk-'))
    assert.deepEqual(left, [])
    const outcome = await runner().run({ ...spec(await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')), maxSteps: 10 })
    assert.equal(outcome.status, 'ok', outcome.logTail)
    await assert.rejects(stat(stale))
  })

  it('refuses a peer\'s code where no cgroup can limit the run, unless the volunteer opted out', async () => {
    const none: CgroupSupport = { version: 'none', why: 'test: no cgroup' }
    const bare = new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: corpus, workRoot, clock: systemClock, sandbox, cgroups: none }, { killAfterMs: 60_000, limits })
    assert.equal(bare.canRunForeignCode(), false)
    await assert.rejects(bare.run(spec('print("ran")\n')), (err: Error & { code?: string }) => err.code === 'LIMITS_REQUIRED')
    const optedOut = new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: corpus, workRoot, clock: systemClock, sandbox, cgroups: none }, { killAfterMs: 60_000, limits, unsafeNoCgroup: true })
    assert.match((await optedOut.run(spec('print("ran")\n'))).log, /^ran$/m)
  })
})
