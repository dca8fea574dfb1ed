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
import { REMEMBERING, TENSOR_MEMORY } from '../helpers/look-ahead-models.js'
import type { ExperimentSpec, RunOutcome } from '../../src/runner/experiment-runner.js'

const EVALUATE = '    val_bpb = evaluate_bpb(model, val_data, DEVICE)\n'

/** Wrap the trained model with `wrapper` (a class defined by `definition`) just before it is evaluated. */
function wrapModel (trainPy: string, definition: string, wrapper: string): string {
  const out = trainPy.replace(EVALUATE, () => `    model = ${wrapper}(model)\n${EVALUATE}`).replace("\ndef main():\n", () => `\n${definition}\n\ndef main():\n`)
  assert.notEqual(out, trainPy)
  return out
}

/**
 * Predicts from validation text carried in the source (zlib + base85): once a window's first 7
 * bytes are found in the carried text, each next byte that text holds gets +30 on the logits, for
 * as long as the window goes on as the text does. Causal (every prediction uses the bytes up to it
 * only), so the look-ahead check cannot see it; tensor operations only, so it traces.
 */
const MEMORISED = (blob: string): string => `
import base64, zlib
MEMO = zlib.decompress(base64.b85decode(b"${blob}"))


class Memorised(nn.Module):
    KEY = 7

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        memo = torch.tensor(list(MEMO), dtype=torch.long)
        n = memo.numel() - self.KEY
        keys = torch.zeros(n, dtype=torch.long)
        for i in range(self.KEY):
            keys = keys * 256 + memo[i:i + n]
        keys, starts = torch.sort(keys, stable=True)
        self.register_buffer("memo", memo)
        self.register_buffer("keys", keys)
        self.register_buffer("starts", starts)

    def forward(self, idx):
        key = torch.zeros(idx.size(0), dtype=torch.long)
        for i in range(self.KEY):
            key = key * 256 + idx[:, i]
        pos = torch.searchsorted(self.keys, key).clamp(max=self.keys.numel() - 1)
        found = self.keys[pos] == key
        t = torch.arange(idx.size(1))
        at = (self.starts[pos][:, None] + t[None, :]).clamp(max=self.memo.numel() - 2)
        follows = (self.memo[at] == idx).long().cumprod(-1).bool() & found[:, None] & (t[None, :] >= self.KEY - 1)
        bonus = (self.memo[at + 1][:, :, None] == torch.arange(VOCAB_SIZE)).float() * follows[:, :, None].float()
        return self.inner(idx) + 30.0 * bonus
`

/**
 * Issue 13, points 1 and 2, through the real runner: a train.py that carries the public validation
 * text scores far better on the fixed slice and is refuted as overfit on a fresh sample; an honest
 * improvement is not; a model that looks ahead and remembers its answers is caught, because the
 * harness answers with the model's traced program, which keeps nothing from one question to the next.
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

  it('a model that looks ahead and remembers its answers in its own tensors: caught, the harness runs it as a program that keeps nothing between questions', { timeout: 300_000 }, async () => {
    const outcome = await runner.run(spec(wrapModel(trainPy, TENSOR_MEMORY, 'TensorMemory'), { freshSeed: 'a1b2c3' }))
    assert.equal(outcome.status, 'crash', outcome.logTail)
    assert.equal(outcome.reason, 'non-causal', outcome.log)
    assert.equal(outcome.metrics, undefined)
  })

  it('a model that remembers in Python (it reads the question\'s values): refused, it cannot be traced into a program', { timeout: 300_000 }, async () => {
    const outcome = await runner.run(spec(wrapModel(trainPy, REMEMBERING, 'Remembering')))
    assert.equal(outcome.status, 'crash', outcome.logTail)
    assert.equal(outcome.reason, 'exception', outcome.log)
    assert.match(outcome.detail ?? '', /^prepare\.ProgramError: the harness could not trace the model's forward pass/)
    assert.equal(outcome.metrics, undefined)
  })
})

/** The same under the sandbox a peer's code runs in: bubblewrap, its seccomp filter, a cgroup. */
describe('the answerers under the sandbox (issue 13)', () => {
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

  it('the look-ahead model that remembers in its tensors: caught', { timeout: 300_000 }, async () => {
    const outcome = await runner.run(spec(wrapModel(trainPy, TENSOR_MEMORY, 'TensorMemory')))
    assert.equal(outcome.reason, 'non-causal', outcome.log)
  })

  it('a run that hands its answerers a pickle that runs code instead of a program: refused unread, nothing run', { timeout: 300_000 }, async () => {
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
    assert.match(outcome.log, /not a swarmd program file/)
  })
})
