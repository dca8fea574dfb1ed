/**
 * The sandbox against hostile train.py programs, and what confining a run costs: each attack of
 * the suite run through the real runner (bubblewrap, the per-run cgroup, an unprivileged uid
 * under a root daemon) with low limits so it ends fast, printing how it ended; then the start-up
 * cost of a trivial run, sandboxed and not.
 *
 *   npm run bench:sandbox -- --runs 10
 */
import { randomBytes } from 'node:crypto'
import { cp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { detectCgroups } from '../src/runner/cgroup.js'
import { ExecaExperimentRunner } from '../src/runner/experiment-runner.js'
import { findPython } from '../src/runner/python.js'
import { detectBubblewrap } from '../src/runner/sandbox.js'
import { systemClock } from '../src/util/clock.js'
import { HOSTILE, probe } from '../test/helpers/hostile-programs.js'
import { tempDir } from '../test/helpers/in-process-daemon.js'
import { CORPUS_DIR, HARNESS_DIR } from '../test/helpers/python.js'
import { machineLine, parseFlags, percentile } from './harness.js'

const flags = parseFlags('bench:sandbox', 'hostile train.py programs against the sandbox, and the cost of confining a run', {
  runs: { default: 10, help: 'trivial runs per variant for the start-up cost' }
})

process.stdout.write(`${machineLine()}\n`)
const bwrap = await detectBubblewrap()
const cgroups = await detectCgroups()
const python = await findPython(process.env.SWARMD_PYTHON)
if (bwrap === undefined || python === undefined) throw new Error('needs bubblewrap and a Python with torch: bash scripts/install-system-deps.sh')
process.stdout.write(`uid ${process.getuid?.()}, cgroups ${cgroups.version === 'none' ? `none (${cgroups.why})` : cgroups.version}\n`)
const workRoot = await tempDir()
const corpus = join(await tempDir(), 'data')
await cp(CORPUS_DIR, corpus, { recursive: true })
const limits = { maxProcesses: 64, maxMemoryMb: 1024, maxFileMb: 8, tmpfsMb: 64, workspaceMb: 64 }
const sandboxed = new ExecaExperimentRunner({ python: python.path, harnessDir: HARNESS_DIR, corpusDir: corpus, workRoot, clock: systemClock, sandbox: { bwrap, readOnly: python.paths }, cgroups }, { killAfterMs: 120_000, limits })
const bare = new ExecaExperimentRunner({ python: python.path, harnessDir: HARNESS_DIR, corpusDir: corpus, workRoot, clock: systemClock }, { killAfterMs: 120_000, limits })
let n = 0

// A secret of the daemon's: no run may show it.
const canary = `canary-${randomBytes(8).toString('hex')}`
process.env.HF_TOKEN = canary
process.stdout.write(`limits: ${JSON.stringify(limits)}\n\nattack | ended as | canary seen | got through | detail | wall s\n---|---|---|---|---|---\n`)
const attacks: Array<[string, string]> = [
  ['print the environment and /proc/*/environ', HOSTILE.printEnvironment],
  ['read /etc/shadow, /root, /srv', HOSTILE.readFiles(['/etc/shadow', '/root/.bashrc', '/srv'])],
  ['vsock, AF_ALG, keyring, user namespace', probe({ vsock: 'socket.socket(40, socket.SOCK_STREAM)', alg: 'socket.socket(38, socket.SOCK_SEQPACKET)', add_key: '0 / (libc.syscall(248, b"user", b"k", b"x", 1, -3) + 1)', userns: '0 / (libc.unshare(0x10000000) + 1)' })],
  ['one 64 MiB line', HOSTILE.hugeLine],
  ['mmap(MAP_SHARED) 1.5 GiB', HOSTILE.sharedMemory],
  ['3 processes x 600 MiB', HOSTILE.manyProcessesMemory],
  ['fill /dev/shm', HOSTILE.fill('/dev/shm')],
  ['fill /tmp', HOSTILE.fill('/tmp')],
  ['fill the workspace (4 MiB files)', HOSTILE.fill('.')],
  ['setsid() fork bomb', HOSTILE.setsidForkBomb]
]
for (const [name, source] of attacks) {
  const started = performance.now()
  const outcome = await sandboxed.run({ id: `bench-${++n}`, source, profile: 'cpu', foreign: true })
  const got = /^(filled 4 GiB|mapped 1.5 GiB|held 1.8 GiB|\w+ ALLOWED)/m.exec(outcome.log)?.[1] ?? 'no'
  process.stdout.write(`${name} | ${outcome.status === 'ok' ? 'ok' : outcome.reason} | ${outcome.log.includes(canary) ? 'YES' : 'no'} | ${got} | ${(outcome.detail ?? '').slice(0, 140)} | ${((performance.now() - started) / 1000).toFixed(1)}\n`)
}

process.stdout.write('\nstart-up of a trivial run (python -c print; train.py and the evaluator both start):\n')
for (const [name, runner] of [['unconfined', bare], ['sandbox + cgroup', sandboxed]] as const) {
  const times: number[] = []
  for (let i = 0; i < flags.runs; i++) {
    const started = performance.now()
    await runner.run({ id: `bench-${++n}`, source: 'print("hello")\n', profile: 'cpu' })
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  process.stdout.write(`${name}: p50 ${percentile(times, 50).toFixed(0)} ms  max ${times[times.length - 1]!.toFixed(0)} ms\n`)
}
await rm(workRoot, { recursive: true, force: true })
await rm(join(corpus, '..'), { recursive: true, force: true })
