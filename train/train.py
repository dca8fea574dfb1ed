"""
swarmd experiment: the file agents edit.

A small GPT on bytes. Every hyperparameter is a module-level constant below; change them (or the
model, or the optimizer) and run `python train.py`. The run trains for the profile's fixed time
budget (or MAX_STEPS steps), evaluates bits per byte on the fixed validation slice, and ends with a
summary block that the daemon parses:

---
val_bpb: ...
training_seconds: ...
...

Runs on PyTorch 1.13 on a CPU and on PyTorch 2.x with CUDA (fused attention, bf16 autocast and
torch.compile when available). Do not edit prepare.py: it is the fixed harness.
"""
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import prepare
from prepare import CONTEXT, MAX_STEPS, TIME_BUDGET, VOCAB_SIZE, evaluate_bpb, get_batch, load_data

# ---------------------------------------------------------------------------------------------
# Hyperparameters (the cpu profile's defaults; the gpu profile scales the model below).

DEPTH = 2  # transformer blocks
WIDTH = 64  # model dimension
HEADS = 4  # attention heads
MLP_RATIO = 4  # hidden width of the MLP, as a multiple of WIDTH
BATCH_SIZE = 16  # sequences per optimizer step
LEARNING_RATE = 0.01  # peak AdamW learning rate
WEIGHT_DECAY = 0.0
BETA2 = 0.99
WARMUP_STEPS = 20  # linear warm-up, then constant, then linear decay over the last part
DECAY_FRACTION = 0.3  # fraction of the budget spent decaying the learning rate to zero
GRAD_CLIP = 1.0
ROTARY_BASE = 10000.0
SEED = 1337

# gpu profile: its own sizes (the cpu ones above do not apply there; agents change these on a GPU).
GPU_DEPTH = 12
GPU_WIDTH = 768
GPU_HEADS = 6
GPU_LEARNING_RATE = 0.003
GPU_BATCH_SCALE = 1.0  # the batch (sequences of 1,024 bytes per step), as a multiple of GPU_TIER_BATCH
# A batch per VRAM tier (the daemon's tiers: up to 16, 24, 48 GB, more) that keeps the card busy
# without running out of memory: estimates until `bench/gpu-checks.sh` measures them per card.
GPU_TIER_BATCH = {"vram16": 8, "vram24": 16, "vram48": 32, "vram48plus": 64}
# Dense bf16 peak of known cards, FLOP/s, for MFU (SWARMD_GPU_PEAK_FLOPS overrides; unknown: no MFU).
GPU_PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L40": 181e12, "A10": 125e12, "4090": 165e12, "3090": 71e12, "A6000": 155e12}

# ---------------------------------------------------------------------------------------------

ON_GPU = prepare.PROFILE == "gpu" and torch.cuda.is_available()


def vram_tier(gib):
    return "vram16" if gib <= 16 else "vram24" if gib <= 24 else "vram48" if gib <= 48 else "vram48plus"


GPU_TIER = vram_tier(torch.cuda.get_device_properties(0).total_memory / 2**30) if ON_GPU else None
if prepare.PROFILE == "gpu":
    DEPTH, WIDTH, HEADS, LEARNING_RATE = GPU_DEPTH, GPU_WIDTH, GPU_HEADS, GPU_LEARNING_RATE
    BATCH_SIZE = max(1, round(GPU_TIER_BATCH[GPU_TIER or "vram16"] * GPU_BATCH_SCALE))
elif prepare.PROFILE == "gpu-tiny":
    # The gpu recipe at a size a CPU trains in seconds (what CI runs): the same knobs, scaled down.
    DEPTH, WIDTH, LEARNING_RATE = max(1, GPU_DEPTH // 6), max(4, GPU_WIDTH // 12), GPU_LEARNING_RATE
    HEADS = 4 if WIDTH % 4 == 0 else 1
    BATCH_SIZE = max(1, round(8 * GPU_BATCH_SCALE))
DEVICE = "cuda" if ON_GPU else "cpu"
if ON_GPU and hasattr(torch, "compile"):
    # torch.compile builds kernels with Triton, which needs a C compiler: where it cannot, run eager
    # rather than crash every run of this machine.
    import torch._dynamo
    if hasattr(torch._dynamo.config, "suppress_errors"):
        torch._dynamo.config.suppress_errors = True
HAS_SDPA = hasattr(F, "scaled_dot_product_attention")
if not ON_GPU:
    # One thread: on 2 cores, two threads made step counts swing 976-1559 in 20 s.
    torch.set_num_threads(1)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotary_tables(length, head_dim, device):
    inv = 1.0 / (ROTARY_BASE ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim))
    freqs = torch.outer(torch.arange(length, device=device).float(), inv)
    return freqs.cos()[None, None], freqs.sin()[None, None]


def apply_rotary(x, cos, sin):
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH, bias=False)
        self.proj = nn.Linear(WIDTH, WIDTH, bias=False)

    def forward(self, x, cos, sin):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(WIDTH, dim=2)
        q, k, v = (z.view(b, t, HEADS, c // HEADS).transpose(1, 2) for z in (q, k, v))
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if HAS_SDPA:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = att @ v
        return self.proj(y.transpose(1, 2).contiguous().view(b, t, c))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = RMSNorm(WIDTH)
        self.attn = Attention()
        self.norm2 = RMSNorm(WIDTH)
        self.mlp = nn.Sequential(nn.Linear(WIDTH, MLP_RATIO * WIDTH, bias=False), nn.GELU(), nn.Linear(MLP_RATIO * WIDTH, WIDTH, bias=False))

    def forward(self, x, cos, sin):
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB_SIZE, WIDTH)
        self.blocks = nn.ModuleList(Block() for _ in range(DEPTH))
        self.norm = RMSNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB_SIZE, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def forward(self, idx):
        cos, sin = rotary_tables(idx.size(1), WIDTH // HEADS, idx.device)
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.head(self.norm(x))


def learning_rate(step, elapsed):
    """Warm-up by steps, decay by the fraction of the budget used (steps when MAX_STEPS is set)."""
    if step < WARMUP_STEPS:
        return LEARNING_RATE * (step + 1) / WARMUP_STEPS
    progress = step / MAX_STEPS if MAX_STEPS else elapsed / TIME_BUDGET
    if progress < 1 - DECAY_FRACTION:
        return LEARNING_RATE
    return LEARNING_RATE * max(0.0, (1 - progress) / DECAY_FRACTION)


def main():
    t0 = time.time()
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    train_data, val_data = load_data()
    model = GPT().to(DEVICE)
    num_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, betas=(0.9, BETA2), weight_decay=WEIGHT_DECAY)
    step_model = torch.compile(model) if ON_GPU and hasattr(torch, "compile") else model
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if ON_GPU else torch.autocast("cpu", enabled=False)
    if ON_GPU:
        torch.cuda.reset_peak_memory_stats()

    step, training_seconds, tokens = 0, 0.0, 0
    last_report = 0.0
    while True:
        if MAX_STEPS is not None and step >= MAX_STEPS:
            break
        if MAX_STEPS is None and training_seconds >= TIME_BUDGET:
            break
        started = time.time()
        x, y = get_batch(train_data, BATCH_SIZE, CONTEXT, generator, DEVICE)
        lr = learning_rate(step, training_seconds)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with autocast:
            logits = step_model(x)
            loss = F.cross_entropy(logits.float().view(-1, VOCAB_SIZE), y.view(-1))
        if not torch.isfinite(loss):
            print(f"FAIL: loss is {loss.item()} at step {step}", flush=True)
            raise SystemExit(1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if GRAD_CLIP > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        if ON_GPU:
            torch.cuda.synchronize()
        training_seconds += time.time() - started
        tokens += x.numel()
        step += 1
        if training_seconds - last_report >= 1.0 or step == 1:
            last_report = training_seconds
            budget = f"{step}/{MAX_STEPS} steps" if MAX_STEPS else f"{training_seconds:.1f}/{TIME_BUDGET:.0f}s"
            print(f"progress: step {step} loss {loss.item() / math.log(2):.4f} bpb lr {lr:.2e} {budget}", flush=True)

    val_bpb = evaluate_bpb(model, val_data, DEVICE)
    if not math.isfinite(val_bpb):
        print(f"FAIL: val_bpb is {val_bpb}", flush=True)
        raise SystemExit(1)
    total_seconds = time.time() - t0
    peak_vram_mb = torch.cuda.max_memory_allocated() / 2**20 if ON_GPU else 0.0
    flops_per_token = 6 * num_params + 12 * DEPTH * WIDTH * CONTEXT
    mfu = 0.0
    if ON_GPU and training_seconds > 0:
        name = torch.cuda.get_device_name(0)
        peak = float(os.environ.get("SWARMD_GPU_PEAK_FLOPS") or next((v for k, v in GPU_PEAK_FLOPS.items() if k in name), 0))
        mfu = 100.0 * flops_per_token * tokens / training_seconds / peak if peak else 0.0
    print("---")
    print(f"val_bpb: {val_bpb:.6f}")
    print(f"training_seconds: {training_seconds:.1f}")
    print(f"total_seconds: {total_seconds:.1f}")
    print(f"peak_vram_mb: {peak_vram_mb:.1f}")
    print(f"mfu_percent: {mfu:.2f}")
    print(f"total_tokens_M: {tokens / 1e6:.3f}")
    print(f"tokens_per_second: {tokens / training_seconds if training_seconds > 0 else 0:.0f}")
    print(f"num_steps: {step}")
    print(f"num_params_M: {num_params / 1e6:.3f}")
    print(f"depth: {DEPTH}")


if __name__ == "__main__":
    main()
