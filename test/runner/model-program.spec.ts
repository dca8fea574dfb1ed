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

def program_of(m, path="program.bin"):
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

  it('on a CPU every question is answered by a fork of the loaded answerer: what a call does to the process memory (as an operator writing out of bounds could) is gone by the next question', async () => {
    const out = await run(String.raw`
program = program_of(model)
# Stands for an operator that writes past its tensors into memory that outlives the call: the
# interpreter remembers every answer and gives the previous one instead.
remembered = []
honest = prepare.ModelProgram.__call__
def leaky(self, x):
    answer = honest(self, x)
    if remembered:
        answer = remembered[-1]
    remembered.append(answer.clone())
    return answer
prepare.ModelProgram.__call__ = leaky

def ask(fork, questions):
    folder = f"fifo-{fork}"
    os.mkdir(folder)
    for name in ("request", "answer"):
        os.mkfifo(os.path.join(folder, name))
    pid = os.fork()
    if pid == 0:
        request = open(os.path.join(folder, "request"), "rb", buffering=0)
        answer = open(os.path.join(folder, "answer"), "wb", buffering=0)
        prepare._answer(program, request, answer, fork=fork)
        os._exit(0)
    request = open(os.path.join(folder, "request"), "wb", buffering=0)
    answer = open(os.path.join(folder, "answer"), "rb", buffering=0)
    answers = []
    for q in questions:
        prepare._write_message(request, b"XBAT", EVAL_BATCH, CONTEXT, prepare._tensor_bytes(q.to(torch.uint8)))
        kind, rows, cols = prepare.HEADER.unpack(prepare._read_exactly(answer, prepare.HEADER.size))
        answers.append(torch.frombuffer(prepare._read_exactly(answer, rows * cols * VOCAB_SIZE * 4), dtype=torch.float32).view(rows, cols, VOCAB_SIZE))
    prepare._write_message(request, b"DONE", 0, 0, b"\0" * 8)
    os.waitpid(pid, 0)
    return answers

a, b = question(), question()
with torch.no_grad():
    truth = honest(program, b)
    _, in_process = ask(False, [a, b])
    _, forked = ask(True, [a, b])
print(json.dumps({"in_process": (in_process - truth).abs().max().item(), "forked": (forked - truth).abs().max().item()}))
`)
    assert.ok((out.in_process as number) > 1, `in one process the second answer is the first question's: ${String(out.in_process)}`)
    assert.equal(out.forked, 0)
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

  it('refuses programs that draw random numbers (off the allow-list), and models it cannot trace', async () => {
    const out = await run(String.raw`
class Noisy(nn.Module):
    def forward(self, idx):
        return torch.randn((idx.size(0), CONTEXT, VOCAB_SIZE))
class NotAModule:
    def __call__(self, idx):
        return model(idx)
print(json.dumps({"random": refusal(lambda: program_of(Noisy())), "plain": refusal(lambda: program_of(NotAModule()))}))
`)
    assert.match(String(out.random), /aten\.randn\.default, which is not among the operators the harness runs/)
    assert.match(String(out.plain), /torch\.nn\.Module/)
  })

  it('refuses hostile program files: a pickle, a TorchScript archive, operators off the allow-list, computed sizes, references forward, a wrong shape', async () => {
    const out = await run(String.raw`
import pickle
class Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))
with open("pickle.pt", "wb") as f:
    pickle.dump({"graph": Boom(), "tensors": {}}, f)
# torch.load would hand this archive to TorchScript, which runs the code inside it.
torch.jit.save(torch.jit.script(nn.Linear(2, 2)), "script.pt")

def forged(nodes, tensors=None, **extra):
    with open("forged.bin", "wb") as f:
        f.write(prepare.write_program({"device": "cpu", "batch": EVAL_BATCH, "context": CONTEXT, "nodes": nodes, **extra}, tensors or {}))
    return refusal(lambda: prepare.ModelProgram("forged.bin"))

call = lambda op, *args: {"op": op, "args": list(args), "kwargs": {}}
ref = lambda i: {"node": i}
x = {"input": True}
results = {
    "pickle": refusal(lambda: prepare.ModelProgram("pickle.pt")),
    "script": refusal(lambda: prepare.ModelProgram("script.pt")),
    "pwned": os.path.exists("pwned"),
    "python": forged([x, call("os.system", "true"), {"output": ref(1)}]),
    "dunder": forged([x, call("aten.__class__.default", ref(0)), {"output": ref(1)}]),
    "file": forged([x, call("aten.from_file.default", "/etc/passwd"), {"output": ref(1)}]),
    "plan cache": forged([x, call("aten._cufft_set_plan_cache_max_size.default", 0, 7), {"output": ref(0)}]),
    "scalar": forged([x, call("aten._local_scalar_dense.default", ref(0)), {"output": ref(0)}]),
    "strided": forged([x, call("aten.as_strided.default", ref(0), [8], [1]), {"output": ref(1)}]),
    "resize": forged([x, call("aten.resize.default", ref(0), [8]), {"output": ref(1)}]),
    "random": forged([x, call("aten.binomial.default", ref(0), ref(0)), {"output": ref(1)}]),
    "out form": forged([x, call("aten.add.out", ref(0), ref(0), ref(0)), {"output": ref(1)}]),
    "out form by another name": forged([x, call("aten.sort.values", ref(0), -1, False, ref(0), ref(0)), {"output": ref(1)}]),
    "computed size": forged([x, call("aten.sum.default", ref(0)), call("aten.view.default", ref(0), [ref(1)]), {"output": ref(2)}]),
    "pick from a tensor": forged([x, {"op": "getitem", "args": [ref(0), 0], "kwargs": {}}, {"output": ref(1)}]),
    "forward": forged([x, call("aten.add.Tensor", ref(0), ref(2)), call("aten.neg.default", ref(0)), {"output": ref(1)}]),
    "shape": forged([x, {"output": ref(0)}], batch=1),
    "two outputs": forged([x, {"output": ref(0)}, {"output": ref(0)}]),
    "object": forged([x, call("aten.neg.default", {"__class__": "x"}), {"output": ref(1)}]),
    "bytes": forged([x, {"tensor": "w"}, {"output": ref(0)}], {"w": torch.zeros(4)}) ,
}
with open("forged.bin", "rb") as f:
    data = bytearray(f.read())
data[-1:] = b""  # the last tensor's bytes cut short
with open("short.bin", "wb") as f:
    f.write(data)
results["short"] = refusal(lambda: prepare.ModelProgram("short.bin"))
print(json.dumps(results))
`)
    assert.match(String(out.pickle), /not a swarmd program file/)
    assert.match(String(out.script), /not a swarmd program file/)
    assert.equal(out.pwned, false)
    assert.match(String(out.python), /not one of PyTorch's aten operators/)
    for (const name of ['dunder', 'file', 'plan cache', 'scalar', 'strided', 'resize', 'random', 'out form']) assert.match(String(out[name]), /not among the operators the harness runs/, `${name}: ${String(out[name])}`)
    assert.match(String(out['out form by another name']), /writes into values, indices/)
    assert.match(String(out['computed size']), /takes its size from a computed value/)
    assert.match(String(out['pick from a tensor']), /not an operator's list of results/)
    assert.match(String(out.forward), /argument the harness does not read/)
    assert.match(String(out.shape), /traced for/)
    assert.match(String(out['two outputs']), /one output/)
    assert.match(String(out.object), /argument the harness does not read/)
    assert.equal(out.bytes, null, 'a well-formed program loads')
    assert.match(String(out.short), /outside its bytes/)
  })

  it('reshape as make_fx writes it (`_reshape_alias`, strides unchecked) runs as a checked view: strides in the file cannot reach past a tensor', async () => {
    const out = await run(String.raw`
call = lambda op, *args: {"op": op, "args": list(args), "kwargs": {}}
ref = lambda i: {"node": i}
nodes = [{"input": True}, call("aten._reshape_alias.default", ref(0), [EVAL_BATCH * CONTEXT], [1 << 40]),
         {"op": "aten._to_copy.default", "args": [ref(1)], "kwargs": {"dtype": {"dtype": "float32"}}},
         call("aten.view.default", ref(2), [EVAL_BATCH, CONTEXT, 1]), call("aten.expand.default", ref(3), [EVAL_BATCH, CONTEXT, VOCAB_SIZE]), {"output": ref(4)}]
with open("alias.bin", "wb") as f:
    f.write(prepare.write_program({"device": "cpu", "batch": EVAL_BATCH, "context": CONTEXT, "nodes": nodes}, {}))
program = prepare.ModelProgram("alias.bin")
x = question()
y = program(x)
print(json.dumps({"same": bool(torch.equal(y[:, :, 0], x.float()))}))
`)
    assert.equal(out.same, true)
  })
})
