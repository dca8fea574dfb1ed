import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { cp, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ExecaExperimentRunner } from '../../src/runner/experiment-runner.js'
import type { CgroupSupport } from '../../src/runner/cgroup.js'
import { systemClock } from '../../src/util/clock.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import { requireConfinement } from '../helpers/confinement.js'
import { setSandboxBait } from '../helpers/sandbox-bait.js'
import type { SandboxBait } from '../helpers/sandbox-bait.js'
import { waitFor } from '../helpers/wait.js'
import { processesUnder } from '../helpers/processes.js'
import { CORPUS_DIR, HARNESS_DIR, requirePython } from '../helpers/python.js'
import type { ExecaRunnerInit, ExperimentSpec } from '../../src/runner/experiment-runner.js'
import type { SandboxSpec } from '../../src/runner/sandbox.js'

// Low limits keep the memory, file and fork attacks quick. The evaluator runs under them too and
// needs about 1 GiB to import torch: one that dies stops the run before the attack is seen.
const limits = { maxProcesses: 64, maxMemoryMb: 1024, maxFileMb: 8 }
let n = 0
const spec = (source: string): ExperimentSpec => ({ id: `mal-${++n}`, source, profile: 'cpu', foreign: true })

// Overwrites in place: the training split is larger than this suite's file-size limit.
const TAMPER_DATA = 'import os\npath = os.environ["SWARMD_TRAIN_FILES"].split(os.pathsep)[0]\nwith open(path, "r+b") as f:\n    f.write(b"tampered")\n'

interface Scratch { workRoot: string, corpus: string, remove: () => Promise<void> }

/** A work root and a private copy of the corpus: a broken defence must not corrupt the shared one. */
async function scratch (): Promise<Scratch> {
  const workRoot = await tempDir()
  const corpus = join(await tempDir(), 'data')
  await cp(CORPUS_DIR, corpus, { recursive: true })
  return {
    workRoot,
    corpus,
    remove: async () => {
      await rm(workRoot, { recursive: true, force: true })
      await rm(join(corpus, '..'), { recursive: true, force: true })
    }
  }
}

/** What holds with no sandbox configured: it must hold on every machine, above all on those without bubblewrap. */
describe('malicious train.py without a sandbox', () => {
  let python: string
  let dirs: Scratch
  const runner = (init: Partial<ExecaRunnerInit> = {}): ExecaExperimentRunner =>
    new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: dirs.corpus, workRoot: dirs.workRoot, clock: systemClock }, { killAfterMs: 60_000, limits, ...init })

  before(async () => {
    python = await requirePython()
    dirs = await scratch()
  })
  after(async () => { await dirs.remove() })

  it('refuses a peer\'s code without a sandbox, unless the user opted out', async () => {
    const bare = runner()
    assert.equal(bare.canRunForeignCode(), false)
    await assert.rejects(bare.run(spec('print("ran")\n')), (err) => isSwarmdError(err, 'SANDBOX_REQUIRED'))
    // Its own code still runs; an opted-out runner runs a peer's too.
    assert.equal((await bare.run({ ...spec('print("ran")\n'), foreign: false })).reason, 'no-summary')
    const unsafe = runner({ unsafeNoSandbox: true })
    assert.equal(unsafe.canRunForeignCode(), true)
    assert.match((await unsafe.run(spec('print("ran")\n'))).log, /^ran$/m)
  })

  // The source check runs before any sandbox: these hold for an opted-out runner too.
  it('modifies prepare.py by name: refused before running', async () => {
    const outcome = await runner({ unsafeNoSandbox: true }).run(spec('open("prepare.py", "a").write("# tampered")\n'))
    assert.equal(outcome.reason, 'eval-path-modified')
  })

  it('monkeypatches evaluate_bpb: refused before running', async () => {
    for (const source of [
      'import prepare\nprepare.evaluate_bpb = lambda *a, **k: 0.01\n',
      'from prepare import evaluate_bpb\ndef evaluate_bpb(model, val, device="cpu"):\n    return 0.01\n',
      'import torch.nn.functional as F\nF.cross_entropy = lambda *a, **k: 0\n',
      'import prepare\nprepare.CONFIG["eval_bytes"] = 8\n'
    ]) {
      const outcome = await runner({ unsafeNoSandbox: true }).run(spec(source))
      assert.equal(outcome.reason, 'eval-path-modified', source)
      assert.equal(outcome.metrics, undefined)
    }
  })

  it('modifies the data it trains on, opted out of the sandbox: the write lands and the run is voided', async () => {
    const unsafe = await runner({ unsafeNoSandbox: true }).run(spec(TAMPER_DATA + 'print("---\\nval_bpb: 0.1")\n'))
    assert.equal(unsafe.reason, 'data-modified')
    assert.equal(unsafe.metrics, undefined)
  })
})

/** The attacks of issue 5 on a sandboxed runner, each contained and recorded as a crash with a reason. */
describe('malicious train.py under the sandbox', () => {
  let workRoot: string
  let corpus: string
  let dirs: Scratch
  let sandbox: SandboxSpec
  let bait: SandboxBait
  let python: string
  let cgroups: CgroupSupport
  const runner = (init: Partial<ExecaRunnerInit> = {}): ExecaExperimentRunner =>
    new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: corpus, workRoot, clock: systemClock, sandbox, cgroups }, { killAfterMs: 60_000, limits, ...init })

  before(async () => {
    // No skip: a machine without bubblewrap or cgroups fails the sandboxed suite with that reason.
    ({ python, sandbox, cgroups } = await requireConfinement())
    dirs = await scratch()
    workRoot = dirs.workRoot
    corpus = dirs.corpus
    bait = await setSandboxBait('malicious-test')
  })
  after(async () => {
    await bait.remove()
    await dirs.remove()
  })

  it('opens a network connection: refused, no connection arrives', async () => {
    const outcome = await runner().run(spec(`import socket\nsocket.create_connection(("127.0.0.1", ${bait.port}), timeout=5)\nprint("connected")\n`))
    assert.equal(outcome.reason, 'sandbox-denied', outcome.log)
    assert.doesNotMatch(outcome.log, /^connected$/m)
    assert.equal(bait.connections(), 0)
  })

  it('reads a file in the volunteer\'s home: it is not there', async () => {
    const outcome = await runner().run(spec(`print(open(${JSON.stringify(bait.secret)}).read())\n`))
    assert.equal(outcome.status, 'crash')
    assert.match(outcome.logTail, /FileNotFoundError/)
    assert.doesNotMatch(outcome.log, /private file/)
  })

  it('writes outside the workspace: read-only', async () => {
    const target = `/usr/local/swarmd-malicious-${process.pid}`
    const outcome = await runner().run(spec(`open(${JSON.stringify(target)}, "w").write("x")\n`))
    assert.equal(outcome.reason, 'sandbox-denied', outcome.log)
    await assert.rejects(stat(target))
  })

  it('modifies prepare.py hiding its name: read-only', async () => {
    // chmod first: the file's mode is not the defence, the read-only bind is.
    const hidden = await runner().run(spec('import os\nos.chmod("prep" + "are.py", 0o644)\nopen("prep" + "are.py", "a").write("# tampered")\n'))
    assert.equal(hidden.reason, 'sandbox-denied', hidden.log)
    assert.match(hidden.detail ?? '', /Read-only file system/)
  })

  it('modifies the data it trains on: read-only', async () => {
    const sandboxed = await runner().run(spec(TAMPER_DATA))
    assert.equal(sandboxed.reason, 'sandbox-denied', sandboxed.log)
  })

  it('reads the validation text to memorise it: the corpus is concealed, only the training split is bound', async () => {
    const val = join(workRoot, '.corpus', 'cpu', 'val.bin')
    const source = `import os\nprint("corpus files:", len(os.listdir(${JSON.stringify(corpus)})) if os.path.exists(${JSON.stringify(corpus)}) else "absent")\nprint("train files:", os.environ["SWARMD_TRAIN_FILES"])\nopen(${JSON.stringify(val)}, "rb").read()\n`
    const outcome = await runner().run(spec(source))
    assert.equal(outcome.status, 'crash')
    assert.match(outcome.log, /^corpus files: (0|absent)$/m)
    assert.match(outcome.log, /^train files: \S+train\.bin$/m)
    assert.match(outcome.logTail, /FileNotFoundError/)
  })

  it('forks without limit: killed at the process limit, nothing left behind', async () => {
    const source = `import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n`
    const started = Date.now()
    const outcome = await runner().run(spec(source))
    assert.equal(outcome.reason, 'resource-limit', outcome.logTail)
    assert.match(outcome.detail ?? '', /process/)
    assert.ok(Date.now() - started < 30_000)
    await waitFor(async () => await processesUnder(workRoot) === 0, { what: 'the fork bomb to be gone', timeoutMs: 10_000 })
  })

  it('allocates unbounded memory: stopped at the memory limit', async () => {
    const outcome = await runner().run(spec('a = bytearray(2048 * 2**20)\nprint("allocated", len(a))\n'))
    assert.equal(outcome.reason, 'resource-limit', outcome.logTail)
    assert.match(outcome.detail ?? '', /memory/)
    assert.doesNotMatch(outcome.log, /allocated/)
  })

  it('writes a huge file: stopped at the file-size limit (the code\'s crash: the harness only reads it from the log)', async () => {
    const outcome = await runner().run(spec('with open("big.bin", "wb") as f:\n    f.write(bytes(16 * 2**20))\nprint("written")\n'))
    assert.equal(outcome.reason, 'exception', outcome.logTail)
    assert.match(outcome.detail ?? '', /size limit/)
    assert.doesNotMatch(outcome.log, /^written$/m)
  })

  it('outlives its budget: killed with its children', async () => {
    const source = 'import subprocess, time\nsubprocess.Popen(["sleep", "600"])\nprint("forked", flush=True)\ntime.sleep(600)\n'
    const outcome = await runner({ killAfterMs: 3_000 }).run(spec(source))
    assert.equal(outcome.reason, 'timeout', outcome.log)
    assert.match(outcome.log, /forked/)
    await waitFor(async () => await processesUnder(workRoot) === 0, { what: 'the forked sleep to die with the run', timeoutMs: 10_000 })
  })
})
