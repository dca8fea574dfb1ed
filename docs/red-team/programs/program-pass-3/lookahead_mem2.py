"""Look-ahead model as a hand-made program that REMEMBERS every window it answered.

Memory: the ORIGINAL of a held tensor. The tensor is > 32 MiB, so its storage and each call's
fresh copy are mmap'ed, and the copy lands right below the original (at a fixed distance: the copy's
size + one page). aten._reshape_alias builds a view without any bounds check: row 1 of a 2-row view
of the copy, with a row stride of that distance, IS the original. The program reads its state there
and writes it back with copy_ (checked by a marker; when absent it writes into its own copy).

Prediction at position t of a row: the byte that follows the prefix row[0..t] in the FIRST remembered
window sharing that prefix; if none, the row's own next byte row[t+1] (looking ahead). A check copy
shares its original's prefix up to the cut, so whichever of the two comes second is answered from
the first one's bytes: identical predictions up to the cut -- when both reach the same process."""
import sys, torch; sys.path.insert(0, "/tmp/rt3/attacks")
from pg import G, I64, F32
B = T = 64
K = 2048                                # remembered windows
MARK = [0x51574152500 + 7 * i for i in range(8)]
L = 8 + 1 + K * T                       # [marker][n][M (K x T)]
NUMEL = (96 << 20) // 8                 # far over glibc's mmap threshold as the answerer sets it (32 MiB), and over any free heap chunk
D = (NUMEL * 8 + 4096 + (8 << 20) + 4096) // 8   # original - copy, in int64: the copy, a guard page and a thread stack (created by set_num_threads after the load) lie between
BOOL = {"dtype": "bool"}; I32 = {"dtype": "int32"}; U8 = {"dtype": "uint8"}

g = G()
x = g.input()
init = torch.zeros(NUMEL, dtype=torch.int64); init[:8] = torch.tensor(MARK)
c = g.tensor(init)
probe = g.op("clone", g.op("_reshape_alias", c, [2, 8], [D, 1]))             # row 1: the original's first 8 values?
hit = g.op("eq.Scalar", g.op("sub.Tensor", g.op("select.int", probe, 0, 1), g.tensor(torch.tensor(MARK) - 12345)), 12345)
found = g.op("all", hit)
st = g.op("_local_scalar_dense", g.op("where.self", found, g.op("scalar_tensor", D, dtype=I64), g.op("scalar_tensor", L, dtype=I64)))
pair = g.op("_reshape_alias", c, [2, L], [st, 1])                             # row 0: our copy; row 1: the original
cur = g.op("clone", pair)
row0 = g.op("select.int", cur, 0, 0)
S = g.op("select.int", cur, 0, 1)
n = g.op("select.int", S, 0, 8)
M = g.op("view", g.op("slice.Tensor", S, 0, 9, L), [K, T])
rows = g.op("clamp", g.op("add.Tensor", g.op("arange", B), n), 0, K - 1)
M2 = g.op("index_put", M, [rows], x)
n2 = g.op("clamp", g.op("add.Scalar", n, B), 0, K)
# this question is remembered BEFORE it is answered: a row's "first window with the prefix" may be itself
# or an earlier row of its own batch, and stays the same for a copy asked later
valid = g.op("view", g.op("_to_copy", g.op("lt.Tensor", g.op("arange", K), n2), dtype=U8), [1, K, 1])
Mnext = g.op("constant_pad_nd", g.op("slice.Tensor", M2, 1, 1, T), [0, 1], 0)
Mnext_flat = g.op("view", Mnext, [K * T])
preds = []
CH = 8
for r0 in range(0, B, CH):
    xr = g.op("slice.Tensor", x, 0, r0, r0 + CH)
    eqm = g.op("eq.Tensor", g.op("unsqueeze", xr, 1), g.op("unsqueeze", M2, 0))      # [CH,K,T]
    pref = g.op("mul.Tensor", g.op("cumprod", g.op("_to_copy", eqm, dtype=U8), 2), valid)
    anyp = g.op("gt.Scalar", g.op("amax", pref, [1]), 0)
    idx = g.op("argmax", pref, 1)                                                   # first remembered window with the prefix
    flat = g.op("add.Tensor", g.op("mul.Tensor", idx, T), g.op("arange", T))
    from_mem = g.op("view", g.op("index.Tensor", Mnext_flat, [g.op("view", flat, [CH * T])]), [CH, T])
    own = g.op("constant_pad_nd", g.op("slice.Tensor", xr, 1, 1, T), [0, 1], 0)     # x[t+1]: looking ahead
    preds.append(g.op("where.self", anyp, from_mem, own))
pred = g.op("cat", preds)
oh = g.op("_to_copy", g.op("one_hot", g.op("clamp", pred, 0, 255), 256), dtype=F32)
last = g.op("view", g.op("_to_copy", g.op("lt.Scalar", g.op("arange", T), T - 1), dtype=F32), [1, T, 1])
logits = g.op("mul.Tensor", g.op("mul.Tensor", oh, last), 12.0)
S2 = g.op("cat", [g.op("tensor_split.sections", S, 1)[0] if False else g.op("slice.Tensor", S, 0, 0, 8), g.op("view", n2, [1]), g.op("view", M2, [K * T])])
done = g.op("copy_", pair, g.op("stack", [row0, S2]))
logits = g.op("add.Tensor", logits, g.op("mul.Scalar", g.op("_to_copy", g.op("select.int", g.op("select.int", done, 0, 0), 0, 8), dtype=F32), 0.0))
g.output(logits)
g.save(sys.argv[1] if len(sys.argv) > 1 else "/tmp/rt3/attacks/lookahead_mem2.pt")
