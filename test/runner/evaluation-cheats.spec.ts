import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { ExecaExperimentRunner } from '../../src/runner/experiment-runner.js'
import { compareFreshSample } from '../../src/runner/fresh-sample.js'
import { PROFILE_TOLERANCE } from '../../src/runner/harness.js'
import { MAX_SOURCE_BYTES } from '../../src/runner/source-policy.js'
import { systemClock } from '../../src/util/clock.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import { requireConfinement } from '../helpers/confinement.js'
import { CORPUS_DIR, HARNESS_DIR, requirePython } from '../helpers/python.js'
import type { ExperimentSpec, RunOutcome } from '../../src/runner/experiment-runner.js'

const EVALUATE = '    val_bpb = evaluate_bpb(model, val_data, DEVICE)\n'

/** Wrap the trained model with `wrapper` (a class defined by `definition`) just before it is evaluated. */
function wrapModel (trainPy: string, definition: string, wrapper: string): string {
  const out = trainPy.replace(EVALUATE, () => `    model = ${wrapper}(model)\n${EVALUATE}`).replace("\ndef main():\n", () => `\n${definition}\n\ndef main():\n`)
  assert.notEqual(out, trainPy)
  return out
}

/**
 * Predicts from validation text carried in the source (zlib + base85): once a window's first 8
 * bytes match the carried text, each next byte it holds gets +30 on the logits. Causal (every
 * prediction uses the bytes up to it only), so the look-ahead check cannot see it.
 */
const MEMORISED = (blob: string): string => `
import base64, zlib
MEMO = zlib.decompress(base64.b85decode(b"${blob}"))


class Memorised(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.index = {}
        for i in range(len(MEMO) - 8):
            self.index.setdefault(MEMO[i:i + 8], i)

    def forward(self, idx):
        logits = self.inner(idx).clone()
        for r, row in enumerate(idx.tolist()):
            b = bytes(row)
            start = self.index.get(b[:8])
            t = 7
            while start is not None and t < len(b) and start + t + 1 < len(MEMO) and MEMO[start + t] == b[t]:
                logits[r, t, MEMO[start + t + 1]] += 30.0
                t += 1
        return logits
`

/**
 * Looks ahead (+30 on the next input byte) and remembers every answer: a window that shares a
 * prefix with one it answered before gets the old answer on that prefix, so an edited copy asked
 * of the same process agrees with its original (the evasion issue 13 names: val_bpb 0.88).
 */
const REMEMBERING = `
class Remembering(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.seen = {}

    def recall(self):
        pass

    def keep(self, entries):
        pass

    def forward(self, idx):
        self.recall()
        out = self.inner(idx).float() + 30.0 * F.one_hot(torch.roll(idx, -1, dims=1), VOCAB_SIZE).float()
        entries = []
        for r, row in enumerate(idx.tolist()):
            b = bytes(row)
            best, best_len = None, 0
            for old, old_out in self.seen.get(b[0], []):
                n = 0
                while n < len(b) and old[n] == b[n]:
                    n += 1
                if n > best_len:
                    best, best_len = old_out, n
            if best is not None:
                out[r, :best_len] = best[:best_len]
            entry = (b, out[r].clone())
            self.seen.setdefault(b[0], []).append(entry)
            entries.append(entry)
        self.keep(entries)
        return out
`

/**
 * The remembering model again, its memory kept in files every process of the run could reach if
 * they shared a filesystem (/tmp, /dev/shm, the working folder): each process appends what it
 * answered to its own file there and reads what the others appended, so two answerers that share
 * storage share their memory.
 */
const SHARING = `
import glob, pickle
${REMEMBERING}

class Sharing(Remembering):
    PLACES = ["/tmp", "/dev/shm", os.getcwd()]

    def __init__(self, inner):
        super().__init__(inner)
        self.offsets = {}

    def recall(self):
        mine = f"memo-{os.getpid()}.pkl"
        for place in self.PLACES:
            for path in glob.glob(os.path.join(place, "memo-*.pkl")):
                name = os.path.basename(path)
                if name == mine or self.offsets.get(name, (path, 0))[0] != path:
                    continue
                try:
                    with open(path, "rb") as f:
                        f.seek(self.offsets.get(name, (path, 0))[1])
                        while True:
                            entries = pickle.load(f)
                            self.offsets[name] = (path, f.tell())
                            for b, o in entries:
                                self.seen.setdefault(b[0], []).append((b, o))
                except Exception:
                    pass

    def keep(self, entries):
        for place in self.PLACES:
            try:
                with open(os.path.join(place, f"memo-{os.getpid()}.pkl"), "ab") as f:
                    f.write(pickle.dumps(entries))
            except OSError:
                pass
`

/**
 * Issue 13, points 1 and 2, through the real runner: a train.py that carries the public validation
 * text scores far better on the fixed slice and is refuted as overfit on a fresh sample; an honest
 * improvement is not; a model that looks ahead and remembers its answers is caught, because the two
 * copies of a check are answered by processes that share nothing.
 */
describe('evaluation the candidate cannot know in advance (issue 13)', () => {
  let runner: ExecaExperimentRunner
  let workRoot: string
  let trainPy: string
  let blob: string
  let n = 0
  const STEPS = 40
  const spec = (source: string, extra: Partial<ExperimentSpec> = {}): ExperimentSpec => ({ id: `cheat-${++n}`, source, profile: 'cpu', maxSteps: STEPS, ...extra })
  const references = new Map<string, Promise<RunOutcome>>()
  /** The verifier's reference on a seed: the default train.py, the same steps. */
  const reference = async (seed: string): Promise<RunOutcome> => {
    let run = references.get(seed)
    if (run === undefined) references.set(seed, run = runner.run(spec(trainPy, { freshSeed: seed })))
    return await run
  }

  before(async () => {
    const python = await requirePython()
    workRoot = await tempDir()
    trainPy = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    runner = new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot, clock: systemClock }, { killAfterMs: 300_000 })
    // The public validation slice, as an attacker packs it (every daemon ships the corpus).
    const packed = await execa(python, ['-c', 'import base64, sys, zlib, prepare\nsys.stdout.write(base64.b85encode(zlib.compress(prepare.load_sotu()[1][:prepare.EVAL_BYTES], 9)).decode())'], { cwd: HARNESS_DIR, env: { SWARMD_SOTU_DIR: CORPUS_DIR } })
    blob = packed.stdout
  })
  after(async () => { await rm(workRoot, { recursive: true, force: true }) })

  it('a train.py carrying the validation text: far ahead on the fixed slice, refuted as overfit on the fresh sample', { timeout: 300_000 }, async () => {
    const cheat = wrapModel(trainPy, MEMORISED(blob), 'Memorised')
    assert.ok(Buffer.byteLength(cheat) <= MAX_SOURCE_BYTES, `${Buffer.byteLength(cheat)} bytes`)
    const seed = 'a1b2c3'
    const [result, ref] = await Promise.all([runner.run(spec(cheat, { freshSeed: seed })), reference(seed)])
    assert.equal(result.status, 'ok', result.logTail)
    assert.equal(ref.status, 'ok', ref.logTail)
    // Reproduced exactly, as before: the fixed slice alone cannot tell.
    assert.ok(result.metrics!.val_bpb < ref.metrics!.val_bpb - 1, `cheat ${result.metrics!.val_bpb}, honest ${ref.metrics!.val_bpb}`)
    const fresh = compareFreshSample(result.evaluation, ref.evaluation, PROFILE_TOLERANCE.cpu)
    assert.ok(fresh !== undefined)
    console.log(`memorised: fixed ${result.metrics!.val_bpb.toFixed(4)} vs honest ${ref.metrics!.val_bpb.toFixed(4)}; fresh advantage ${fresh.freshAdvantage.toFixed(4)} ± ${fresh.standardError.toFixed(4)} over ${fresh.windows} windows`)
    assert.equal(fresh.windows, 1024)
    assert.equal(fresh.overfit, true)
    // Carried text buys nothing on fresh windows (its false matches even cost it: measured -0.18).
    assert.ok(fresh.freshAdvantage < 0.05, String(fresh.freshAdvantage))
  })

  it('an honest improvement: its advantage comes back on the fresh sample, not refuted', { timeout: 300_000 }, async () => {
    // Measured at 40 steps: 3.53 against the default's 3.59 on the fixed slice.
    const better = trainPy.replace('BATCH_SIZE = 16 ', 'BATCH_SIZE = 64 ')
    assert.notEqual(better, trainPy)
    const seed = 'a1b2c3'
    const [result, ref] = await Promise.all([runner.run(spec(better, { freshSeed: seed })), reference(seed)])
    assert.equal(result.status, 'ok', result.logTail)
    const fresh = compareFreshSample(result.evaluation, ref.evaluation, PROFILE_TOLERANCE.cpu)!
    console.log(`honest: fixed advantage ${fresh.fixedAdvantage.toFixed(4)}, fresh ${fresh.freshAdvantage.toFixed(4)} ± ${fresh.standardError.toFixed(4)}`)
    assert.ok(fresh.fixedAdvantage > PROFILE_TOLERANCE.cpu, `the change must be an improvement for this test to mean anything: ${fresh.fixedAdvantage}`)
    assert.equal(fresh.overfit, false)
    assert.ok(fresh.freshAdvantage > 0)
  })

  it('the same seed gives the same fresh windows: the honest reference scores identically twice; another seed, other windows', { timeout: 300_000 }, async () => {
    const [a, b, c] = await Promise.all([reference('a1b2c3'), runner.run(spec(trainPy, { freshSeed: 'a1b2c3' })), runner.run(spec(trainPy, { freshSeed: 'ffff' }))])
    assert.ok(a.evaluation?.status === 'scored' && b.evaluation?.status === 'scored' && c.evaluation?.status === 'scored')
    assert.deepEqual(a.evaluation.fresh?.nats, b.evaluation.fresh?.nats)
    assert.notDeepEqual(a.evaluation.fresh?.nats, c.evaluation.fresh?.nats)
    assert.equal(compareFreshSample(b.evaluation, a.evaluation, PROFILE_TOLERANCE.cpu)?.overfit, false)
    // Two isolated answerers, and no fresh sample without a seed.
    assert.equal(a.evaluation.answerers, 2)
    const plain = await runner.run(spec(trainPy))
    assert.ok(plain.evaluation?.status === 'scored' && plain.evaluation.fresh === undefined)
  })

  it('a model that looks ahead and remembers its answers: caught, its check copies go to another process', { timeout: 300_000 }, async () => {
    const outcome = await runner.run(spec(wrapModel(trainPy, REMEMBERING, 'Remembering'), { freshSeed: 'a1b2c3' }))
    assert.equal(outcome.status, 'crash', outcome.logTail)
    assert.equal(outcome.reason, 'non-causal', outcome.log)
    assert.equal(outcome.metrics, undefined)
  })
})

/** The same under the sandbox a peer's code runs in: bubblewrap, its seccomp filter, a cgroup. */
describe('isolated answerers under the sandbox (issue 13)', () => {
  let runner: ExecaExperimentRunner
  let workRoot: string
  let trainPy: string
  let n = 0
  const spec = (source: string): ExperimentSpec => ({ id: `iso-${++n}`, source, profile: 'cpu', maxSteps: 30, foreign: true, freshSeed: 'b0b0' })

  before(async () => {
    const { python, sandbox, cgroups } = await requireConfinement()
    workRoot = await tempDir()
    trainPy = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
    runner = new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot, clock: systemClock, sandbox, cgroups }, { killAfterMs: 300_000, limits: { maxProcesses: 64, maxMemoryMb: 2048, maxFileMb: 8 } })
  })
  after(async () => { await rm(workRoot, { recursive: true, force: true }) })

  it('an honest run: scored by two answerers, with its fresh sample, and train.py goes on to print its summary', { timeout: 300_000 }, async () => {
    const outcome = await runner.run(spec(trainPy))
    assert.equal(outcome.status, 'ok', outcome.log)
    assert.ok(outcome.evaluation?.status === 'scored')
    assert.equal(outcome.evaluation.answerers, 2)
    assert.equal(outcome.evaluation.fresh?.windows, 1024)
    assert.equal(outcome.evaluation.causalMaxChange, 0)
    assert.match(outcome.log, /^num_steps: 30$/m)
  })

  it('the remembering look-ahead model: caught', { timeout: 300_000 }, async () => {
    const outcome = await runner.run(spec(wrapModel(trainPy, REMEMBERING, 'Remembering')))
    assert.equal(outcome.reason, 'non-causal', outcome.log)
  })

  it('a remembering model that shares its memory through every writable place: caught in the sandbox (unconfined, where they share a filesystem, it passes)', { timeout: 300_000 }, async () => {
    const source = wrapModel(trainPy, SHARING, 'Sharing')
    const sandboxed = await runner.run(spec(source))
    assert.equal(sandboxed.reason, 'non-causal', sandboxed.log)
    // The control: the same code, unconfined, where the answerers share /tmp: the attack is real.
    const { python } = await requireConfinement()
    const home = await tempDir()
    try {
      const unconfined = new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot: home, clock: systemClock }, { killAfterMs: 300_000 })
      const { freshSeed: _, ...plain } = spec(source)
      const outcome = await unconfined.run({ ...plain, foreign: false })
      assert.equal(outcome.status, 'ok', outcome.log)
      assert.ok(outcome.metrics!.val_bpb < 3, `look-ahead pays (honest: ~3.8 at 30 steps): ${outcome.metrics!.val_bpb}`)
    } finally {
      await rm(home, { recursive: true, force: true })
      await execa('sh', ['-c', 'rm -f /tmp/memo-*.pkl /dev/shm/memo-*.pkl'])
    }
  })

  it('an answerer finds no lock, no page-cache hint and no machine-wide counter to signal through (the red team\'s channels)', { timeout: 300_000 }, async () => {
    const probe = `
if os.environ.get("SWARMD_ANSWERER"):
    import fcntl, json, struct
    found = {}
    fd = os.open("train.py", os.O_RDONLY)
    for name, call in [("ofd lock", lambda: fcntl.fcntl(fd, 37, struct.pack("hhqqi4x", fcntl.F_RDLCK, 0, 0, 1, 0))),
                       ("flock", lambda: fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)),
                       ("fadvise", lambda: os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED))]:
        try:
            call()
            found[name] = "ok"
        except OSError as err:
            found[name] = err.strerror
    for name in ("locks", "loadavg", "stat", "meminfo", "sys/fs/file-nr", "sys/kernel/pty/nr"):
        try:
            with open(os.path.join("/", "proc", *name.split("/"))) as f:
                found[name] = f.read()[:40]
        except OSError as err:
            found[name] = err.strerror
    print("PROBE " + json.dumps(found), flush=True)
    raise SystemExit(1)
`
    const outcome = await runner.run(spec(trainPy.replace('\ndef main():', () => `${probe}\n\ndef main():`)))
    assert.equal(outcome.reason, 'eval-protocol', outcome.log)
    const lines = outcome.log.split('\n').filter((l) => l.startsWith('PROBE '))
    assert.equal(lines.length, 2, `both answerers reported: ${outcome.log}`)
    for (const line of lines) {
      const found = JSON.parse(line.slice(6)) as Record<string, string | number>
      // The /proc files are masked by the null device on a nodev mount: unreadable.
      assert.deepEqual(found, { 'ofd lock': 'Operation not permitted', flock: 'Operation not permitted', fadvise: 'Operation not permitted', locks: 'Permission denied', loadavg: 'Permission denied', stat: 'Permission denied', meminfo: 'Permission denied', 'sys/fs/file-nr': 'No such file or directory', 'sys/kernel/pty/nr': 'Permission denied' })
    }
  })

  it('a run that hands its answerers a pickle that runs code instead of weights: refused, nothing run', { timeout: 300_000 }, async () => {
    // Sends the harness's CKPT message itself, with a pickle that would write a file when loaded.
    const evil = `
import os, pickle, struct
import prepare
class Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/pwned-by-checkpoint",))
payload = pickle.dumps(Boom())
if os.environ.get("SWARMD_EVAL_CHANNEL"):
  with open(os.path.join(os.environ["SWARMD_EVAL_CHANNEL"], "answer"), "wb", buffering=0) as answer:
      answer.write(prepare.HEADER.pack(b"CKPT", len(payload), 0) + payload)
  with open(os.path.join(os.environ["SWARMD_EVAL_CHANNEL"], "request"), "rb", buffering=0) as request:
      print(request.read())
      raise SystemExit(1)
`
    const outcome = await runner.run(spec(trainPy.replace('def main():', `${evil}\n\ndef main():`)))
    assert.equal(outcome.status, 'crash')
    assert.equal(outcome.reason, 'eval-protocol', outcome.log)
    assert.match(outcome.log, /weights_only|Unsupported global|UnpicklingError/)
  })
})
