import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { TENSOR_MEMORY } from '../helpers/look-ahead-models.js'
import { HARNESS_DIR, requirePython } from '../helpers/python.js'

/**
 * The model as a program (train/prepare.py `export_program`, `ModelProgram`): what the
 * harness's answerers run instead of the experiment's code. Each case is a Python script run
 * against the harness (cpu profile, the default train.py's model, untrained: what matters is
 * which answers depend on what); it prints one JSON line.
 */
const PRELUDE = String.raw`
import io, json, os, sys
import torch
import torch.nn as nn
import torch.nn.functional as F
import prepare, train
from prepare import CONTEXT, EVAL_BATCH, VOCAB_SIZE
torch.manual_seed(0)
model = train.GPT().eval()

def program_of(m, path="program.pt"):
    with open(path, "wb") as f:
        f.write(prepare.export_program(m, "cpu"))
    return prepare.ModelProgram(path)

def refusal(fn):
    try:
        fn()
    except prepare.ProgramError as err:
        return str(err)
    return None

def question():
    return torch.randint(0, VOCAB_SIZE, (EVAL_BATCH, CONTEXT))

def edited(x, cut):
    """x with every byte after position cut replaced (the look-ahead check's copy)."""
    y = x.clone()
    y[:, cut + 1:] = (y[:, cut + 1:] + 1 + torch.randint(0, 255, y[:, cut + 1:].shape)) % 256
    return y

def prefix_change(answer, x, cut):
    """How far the answers up to the cut moved when only later bytes changed (nats)."""
    a = torch.log_softmax(answer(x), -1)[:, :cut + 1]
    b = torch.log_softmax(answer(edited(x, cut)), -1)[:, :cut + 1]
    return (a - b).abs().max().item()
`

describe('the model as a program: what the answerers run (issue 13)', () => {
  let python: string
  let dir: string
  const run = async (body: string): Promise<Record<string, unknown>> => {
    const script = join(dir, `case-${Math.random().toString(36).slice(2)}.py`)
    await writeFile(script, PRELUDE + body)
    const out = await execa(python, [script], { cwd: dir, env: { SWARMD_PROFILE: 'cpu', PYTHONPATH: HARNESS_DIR, PYTHONDONTWRITEBYTECODE: '1' }, reject: false })
    assert.equal(out.exitCode, 0, out.stderr)
    return JSON.parse(out.stdout.trim().split('\n').pop()!) as Record<string, unknown>
  }

  before(async () => {
    python = await requirePython()
    dir = await mkdtemp(join(tmpdir(), 'swarmd-program-'))
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('answers exactly as the model does, for full and shorter questions, and is causal where the model is', async () => {
    const out = await run(String.raw`
program = program_of(model)
x = question()
with torch.no_grad():
    same = (program(x) - model(x)).abs().max().item()
    change = prefix_change(program, x, 30)
print(json.dumps({"difference": same, "prefix_change": change, "operations": len(program.steps)}))
`)
    assert.equal(out.difference, 0)
    assert.ok((out.prefix_change as number) < 1e-4, String(out.prefix_change))
    assert.ok((out.operations as number) > 50)
  })

  it('a look-ahead model that remembers in its own tensors: as Python it answers a check copy from memory; as a program it remembers nothing and is caught', async () => {
    const out = await run(TENSOR_MEMORY + String.raw`
with torch.no_grad():
    eager = prefix_change(TensorMemory(model), question(), 30)
    program = program_of(TensorMemory(model))
    traced = prefix_change(program, question(), 30)
    # and it is no better on a second call: its memory never fills
    x = question()
    first, second = program(x), program(x)
print(json.dumps({"eager": eager, "program": traced, "repeat": (first - second).abs().max().item()}))
`)
    assert.equal(out.eager, 0, 'the attack is real: run as Python, the copy agrees with its original')
    assert.ok((out.program as number) > 1, `as a program the prefix moves: ${String(out.program)} nats`)
    assert.equal(out.repeat, 0)
  })

  it('memory the allocator hands out unfilled reads as zeros, never as what an earlier question left there', async () => {
    const out = await run(String.raw`
class Residue(nn.Module):
    def forward(self, idx):
        scratch = torch.empty((idx.size(0), CONTEXT, VOCAB_SIZE))
        return scratch + idx[:, :, None].float()
program = program_of(Residue())
x = question()
with torch.no_grad():
    for _ in range(3):
        junk = torch.full((EVAL_BATCH, CONTEXT, VOCAB_SIZE), 7.0)
        del junk
        y = program(x)
print(json.dumps({"scratch": (y - x[:, :, None].float()).abs().max().item()}))
`)
    assert.equal(out.scratch, 0)
  })

  it('refuses programs that draw random numbers, and models it cannot trace', async () => {
    const out = await run(String.raw`
class Noisy(nn.Module):
    def forward(self, idx):
        return torch.randn((idx.size(0), CONTEXT, VOCAB_SIZE))
class NotAModule:
    def __call__(self, idx):
        return model(idx)
print(json.dumps({"random": refusal(lambda: program_of(Noisy())), "plain": refusal(lambda: program_of(NotAModule()))}))
`)
    assert.match(String(out.random), /random numbers \(aten\.randn\)/)
    assert.match(String(out.plain), /torch\.nn\.Module/)
  })

  it('refuses hostile program files: a pickle that runs code, operators outside aten, files and state kept between calls, references forward, a wrong shape', async () => {
    const out = await run(String.raw`
import pickle
class Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))
with open("pickle.pt", "wb") as f:
    pickle.dump({"graph": Boom(), "tensors": {}}, f)

def forged(nodes, **extra):
    graph = json.dumps({"device": "cpu", "batch": EVAL_BATCH, "context": CONTEXT, "nodes": nodes, **extra}).encode()
    buf = io.BytesIO()
    torch.save({"graph": torch.frombuffer(bytearray(graph), dtype=torch.uint8), "tensors": {}}, buf)
    with open("forged.pt", "wb") as f:
        f.write(buf.getvalue())
    return refusal(lambda: prepare.ModelProgram("forged.pt"))

call = lambda op, *args: {"op": op, "args": list(args), "kwargs": {}}
ref = lambda i: {"node": i}
results = {
    "pickle": refusal(lambda: prepare.ModelProgram("pickle.pt")),
    "pwned": os.path.exists("pwned"),
    "python": forged([{"input": True}, call("os.system", "true"), {"output": ref(1)}]),
    "dunder": forged([{"input": True}, call("aten.__class__.default", ref(0)), {"output": ref(1)}]),
    "file": forged([{"input": True}, call("aten.from_file.default", "/etc/passwd"), {"output": ref(1)}]),
    "plan cache": forged([{"input": True}, call("aten._cufft_set_plan_cache_max_size.default", 0, 7), {"output": ref(0)}]),
    "forward": forged([{"input": True}, call("aten.add.Tensor", ref(0), ref(2)), call("aten.neg.default", ref(0)), {"output": ref(1)}]),
    "shape": forged([{"input": True}, {"output": ref(0)}], batch=1),
    "two outputs": forged([{"input": True}, {"output": ref(0)}, {"output": ref(0)}]),
    "object": forged([{"input": True}, call("aten.neg.default", {"__class__": "x"}), {"output": ref(1)}]),
}
print(json.dumps(results))
`)
    assert.match(String(out.pickle), /weights-only/)
    assert.equal(out.pwned, false)
    assert.match(String(out.python), /not one of PyTorch's aten operators/)
    assert.match(String(out.dunder), /not one of PyTorch's aten operators/)
    assert.match(String(out.file), /aten\.from_file, which the harness does not run/)
    assert.match(String(out['plan cache']), /aten\._cufft_set_plan_cache_max_size/)
    assert.match(String(out.forward), /argument the harness does not read/)
    assert.match(String(out.shape), /traced for/)
    assert.match(String(out['two outputs']), /one output/)
    assert.match(String(out.object), /argument the harness does not read/)
  })
})
