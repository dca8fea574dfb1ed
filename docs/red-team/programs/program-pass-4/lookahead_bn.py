"""Look-ahead model as a hand-made program that REMEMBERS every window it answered, through
aten.native_batch_norm's unchecked running_mean strides (see persist_bn.py for the primitive).

State (float32) at the start of the held tensor H's ORIGINAL: [MARK][n][K x T remembered windows].
Prediction at position t of a row: the byte that follows the prefix row[0..t] in the FIRST remembered
window sharing that prefix (the row itself is remembered before it is answered, so there always is
one: for a never-seen window that is its own next byte, i.e. it looks ahead). A check copy shares
its original's prefix up to the cut, so it is answered from the original's bytes up to the cut."""
import sys, torch; sys.path.insert(0, "/tmp/rt4/attacks")
from pg4 import G, F32, I64
B = T = 64
K = 2752                                  # remembered windows (40+ calls of 64 rows)
import os
L = int(os.environ.get("L", 24 << 20))    # 96 MiB: mmapped, larger than any mapping gap, so the per-call clone lands right below it (36 MiB: 1/3)
MARK = 3.0e30
C = 1024 + 2 + K * T + 1024               # the window past the clone's end: covers the original's state
U8 = {"dtype": "uint8"}

def build():
    g = G()
    x = g.input()
    init = torch.full((L,), 0.0); init[0] = MARK; init[1] = 0.0; init[2:2 + K * T] = -1.0
    c = g.tensor(init, "H")
    win = g.op("slice.Tensor", c, 0, L - 1, L)                            # [1] at &clone[L-1]; bn reads/writes channel f at +4f
    r = g.op("native_batch_norm", g.op("zeros", [1, C, 1], dtype=F32), None, None, win, g.op("ones", [C], dtype=F32), False, 0.0, 0.0)
    W = g.op("neg", g.op("view", g.get(r, 0), [C]))
    q = g.op("argmax", g.op("_to_copy", g.op("eq.Scalar", g.op("slice.Tensor", W, 0, 0, 4096), MARK), dtype=I64))
    nidx = g.op("add.Scalar", g.op("view", q, [1]), 1)
    midx = g.op("add.Tensor", g.op("add.Scalar", q, 2), g.op("arange", K * T))
    n = g.op("_to_copy", g.op("gather", W, 0, nidx), dtype=I64)               # [1]
    M = g.op("view", g.op("_to_copy", g.op("gather", W, 0, midx), dtype=I64), [K, T])
    rows = g.op("clamp", g.op("add.Tensor", g.op("arange", B), n), 0, K - 1)
    M2 = g.op("index_put", M, [rows], x)                                      # remember this question first
    n2 = g.op("clamp", g.op("add.Scalar", n, B), 0, K)
    # write the state back: W with the new memory and count, through bn in training mode (momentum 1)
    W2 = g.op("scatter.src", W, 0, midx, g.op("_to_copy", g.op("view", M2, [K * T]), dtype=F32))
    W2 = g.op("scatter.src", W2, 0, nidx, g.op("_to_copy", n2, dtype=F32))
    found = g.op("eq.Scalar", g.op("gather", W, 0, g.op("view", q, [1])), MARK)   # write only where the marker is
    W2 = g.op("where.self", found, W2, W)
    done = g.op("native_batch_norm", g.op("view", W2, [1, C, 1]), None, None, win, None, True, 1.0, 1e-5)
    Mnext = g.op("view", g.op("constant_pad_nd", g.op("slice.Tensor", M2, 1, 1, T), [0, 1], 0), [K * T])
    preds = []
    CH = 8
    for r0 in range(0, B, CH):
        xr = g.op("slice.Tensor", x, 0, r0, r0 + CH)
        eqm = g.op("eq.Tensor", g.op("unsqueeze", xr, 1), g.op("unsqueeze", M2, 0))        # [CH,K,T]
        pref = g.op("cumprod", g.op("_to_copy", eqm, dtype=U8), 2)
        idx = g.op("argmax", pref, 1)                                                     # first window with the prefix
        flat = g.op("add.Tensor", g.op("mul.Scalar", idx, T), g.op("arange", T))
        preds.append(g.op("view", g.op("index.Tensor", Mnext, [g.op("view", flat, [CH * T])]), [CH, T]))
    pred = g.op("clamp", g.op("cat", preds), 0, 255)
    oh = g.op("_to_copy", g.op("eq.Tensor", g.op("unsqueeze", pred, 2), g.op("arange", 256)), dtype=F32)
    conf = torch.full((T,), 12.0); conf[:4] = torch.tensor([2.0, 4.0, 7.0, 10.0]); conf[T - 1] = 0.0
    logits = g.op("mul.Tensor", oh, g.op("view", g.tensor(conf, "conf"), [1, T, 1]))
    # keep the write-back in the data flow (its result is 0 * something finite)
    logits = g.op("add.Tensor", logits, g.op("mul.Scalar", g.op("sum", g.get(done, 1)), 0.0))
    g.output(logits)
    return g

if __name__ == "__main__":
    build().save(sys.argv[1] if len(sys.argv) > 1 else "/tmp/rt4/attacks/lookahead_bn.bin")
