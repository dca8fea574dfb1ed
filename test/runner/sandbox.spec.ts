import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { access, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { execa } from 'execa'
import { join } from 'node:path'
import { ExecaExperimentRunner } from '../../src/runner/experiment-runner.js'
import { systemClock } from '../../src/util/clock.js'
import { requireConfinement } from '../helpers/confinement.js'
import { setSandboxBait } from '../helpers/sandbox-bait.js'
import type { SandboxBait } from '../helpers/sandbox-bait.js'
import { CORPUS_DIR, HARNESS_DIR } from '../helpers/python.js'
import type { ExecaRunnerComponents } from '../../src/runner/experiment-runner.js'

/** Experiments under bubblewrap (installed by scripts/install-system-deps.sh). */
describe('sandboxed runs (bubblewrap)', () => {
  let runner: ExecaExperimentRunner
  let runnerInit: ExecaRunnerComponents
  let workRoot: string
  let bait: SandboxBait
  let dataDir: string
  let n = 0
  const run = async (source: string, maxSteps?: number) => runner.run({ id: `sb-${++n}`, source, profile: 'cpu', ...(maxSteps !== undefined ? { maxSteps } : {}) })

  before(async () => {
    const { python, sandbox, cgroups } = await requireConfinement()
    // As the daemon lays it out: workspaces under the data dir, which holds the identity key.
    // Under /var/tmp: /tmp and the home are hidden anyway, this tests the data dir's own tmpfs.
    dataDir = await mkdtemp(join('/var/tmp', 'swarmd-sandbox-'))
    workRoot = join(dataDir, 'work')
    await mkdir(workRoot)
    await writeFile(join(dataDir, 'identity.key'), 'the daemon\'s private key')
    runnerInit = { python, harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot, clock: systemClock, sandbox, cgroups }
    runner = new ExecaExperimentRunner(runnerInit, { killAfterMs: 120_000 })
    bait = await setSandboxBait('sandbox-test')
  })
  after(async () => {
    await bait.remove()
    await rm(dataDir, { recursive: true, force: true })
  })

  it('the real train.py still trains: torch and the corpus are reachable', async () => {
    const outcome = await run(await readFile(join(HARNESS_DIR, 'train.py'), 'utf8'), 10)
    assert.equal(outcome.status, 'ok', outcome.logTail)
  })

  it('has no network: a connection to a server on this machine fails', async () => {
    const outcome = await run(`import socket\nsocket.create_connection(("127.0.0.1", ${bait.port}), timeout=5)\nprint("connected")\n`)
    assert.equal(outcome.reason, 'sandbox-denied', outcome.log)
    assert.doesNotMatch(outcome.log, /^connected$/m)
    assert.equal(bait.connections(), 0)
  })

  it('cannot see the volunteer\'s home', async () => {
    const outcome = await run(`print(open(${JSON.stringify(bait.secret)}).read())\n`)
    assert.equal(outcome.reason, 'exception')
    assert.match(outcome.logTail, /FileNotFoundError/)
    assert.doesNotMatch(outcome.log, /private file/)
  })

  it('cannot write outside its workspace or change prepare.py', async () => {
    const outside = await run('open("/usr/local/swarmd-sandbox-test", "w").write("x")\n')
    assert.equal(outside.reason, 'sandbox-denied')
    assert.match(outside.logTail, /Read-only file system|Permission denied/)
    const harness = await run('open("prep" + "are.py", "a").write("# tampered")\n')
    assert.equal(harness.status, 'crash')
    assert.match(harness.logTail, /Read-only file system|Permission denied/)
  })

  it('cannot see the daemon\'s data dir (its identity key) nor the other workspaces', async () => {
    const outcome = await run(`import os\nprint(sorted(os.listdir(${JSON.stringify(workRoot)})))\nprint(open(${JSON.stringify(join(dataDir, 'identity.key'))}).read())\n`)
    assert.equal(outcome.reason, 'exception', outcome.log)
    assert.match(outcome.logTail, /FileNotFoundError/)
    assert.doesNotMatch(outcome.log, /private key/)
    // Only its own workspace, its evaluation channel and its training split are listed (the siblings are hidden).
    assert.match(outcome.log, /^\['\.corpus', 'sb-\d+', 'sb-\d+\.eval'\]$/m)
  })

  it('cannot remount the system read-write, even when the daemon runs as root', async (t) => {
    // /etc: not among the Python paths bound read-only on their own (/usr is), so only / covers it.
    const target = `/etc/swarmd-remount-test-${process.pid}`
    t.after(async () => { await rm(target, { force: true }) })
    const outcome = await run(`import subprocess\nprint(subprocess.run(["mount", "-o", "remount,rw,bind", "/"]).returncode)\nopen(${JSON.stringify(target)}, "w").write("x")\n`)
    assert.equal(outcome.reason, 'sandbox-denied', outcome.log)
    await assert.rejects(stat(target))
  })

  it('reaches its own GPU\'s device nodes and no other GPU or device of the machine', async (t) => {
    // Stand-ins under the driver's names: character devices 1:5 (zero) as nvidia0 and nvidia1,
    // 1:3 (null) as nvidiactl and nvidia-uvm, a nvidia-caps folder; and 1:5 again as sda, a device
    // that must stay outside. The driver's folders say GPU 0 in PCI order is minor 1.
    const devices = await mkdtemp(join('/var/tmp', 'swarmd-devices-'))
    t.after(async () => { await rm(devices, { recursive: true, force: true }) })
    await mkdir(join(devices, 'dev', 'nvidia-caps'), { recursive: true })
    for (const [bus, minor] of [['0000:01:00.0', 1], ['0000:02:00.0', 0]] as const) {
      await mkdir(join(devices, 'gpus', bus), { recursive: true })
      await writeFile(join(devices, 'gpus', bus, 'information'), `Model: \t\t NVIDIA Stand-in\nDevice Minor: \t ${minor}\nBus Location: \t ${bus}\n`)
    }
    for (const [name, minor] of [['nvidia0', '5'], ['nvidia1', '5'], ['nvidiactl', '3'], ['nvidia-uvm', '3'], ['sda', '5']] as const) await execa('mknod', ['-m', '666', join(devices, 'dev', name), 'c', '1', minor]) // the driver's nodes are 0666
    const gpuRunner = new ExecaExperimentRunner({ ...runnerInit, sandbox: { ...runnerInit.sandbox!, deviceDir: join(devices, 'dev'), gpuInfoDir: join(devices, 'gpus') } }, { killAfterMs: 120_000 })
    const source = 'import os\nprint("devices", sorted(n for n in os.listdir("/dev") if n.startswith(("nvidia", "sda"))))\nprint("read", len(open("/dev/nvidia1", "rb").read(16)))\nopen("/dev/nvidiactl", "wb").write(b"x")\nprint("wrote")\n' +
      // /sys is there for CUDA's PCI topology, without what names the host: network interfaces, cgroups.
      'print("net", os.listdir("/sys/class/net"), [os.path.exists("/sys/class/net/" + n) for n in ("lo", "eth0")])\nprint("cgroups", os.listdir("/sys/fs"))\nprint("pci", len(os.listdir("/sys/bus/pci/devices")) > 0)\n'
    for (const gpu of [0, 1]) {
      const outcome = await gpuRunner.run({ id: `sb-${++n}`, profile: 'cpu', gpu, source: source.replaceAll('nvidia1', gpu === 0 ? 'nvidia1' : 'nvidia0') })
      assert.match(outcome.log, new RegExp(`^devices \\['nvidia-caps', 'nvidia-uvm', 'nvidia${gpu === 0 ? 1 : 0}', 'nvidiactl'\\]$`, 'm'), outcome.log)
      assert.match(outcome.log, /^read 16$/m)
      assert.match(outcome.log, /^wrote$/m)
      assert.match(outcome.log, /^net \[\] \[False, False\]$/m)
      assert.match(outcome.log, /^cgroups \[\]$/m)
      assert.match(outcome.log, /^pci True$/m)
    }
    // A run given no GPU gets no NVIDIA node at all.
    const cpu = await gpuRunner.run({ id: `sb-${++n}`, profile: 'cpu', source: 'import os\nprint("devices", sorted(n for n in os.listdir("/dev") if n.startswith(("nvidia", "sda"))))\n' })
    assert.match(cpu.log, /^devices \[\]$/m, cpu.log)
  })

  it('cannot reach sockets in /run (D-Bus, docker, databases): a read-only bind would not stop connect()', async (t) => {
    try { await access('/run', 2) } catch { t.skip('/run is not writable here, so no test socket can be put there'); return }
    const path = `/run/swarmd-sandbox-test-${process.pid}.sock`
    let reached = 0
    const unix = createServer((socket) => { reached++; socket.end() })
    await new Promise<void>((resolve) => unix.listen(path, resolve))
    try {
      const outcome = await run(`import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect(${JSON.stringify(path)})\nprint("reached")\n`)
      assert.equal(outcome.status, 'crash')
      assert.match(outcome.logTail, /FileNotFoundError|ConnectionRefused/)
      assert.equal(reached, 0)
    } finally {
      await new Promise((resolve) => unix.close(resolve))
    }
  })
})
