"""Real answerer (`prepare.py answer`): ask batch A, other batches, then an edited copy of A (bytes after a
random cut replaced, as the evaluator does); report max |logp change| up to the cut and the bpb of A."""
import os, sys, struct, subprocess, tempfile, torch, math
sys.path.insert(0, "/tmp/rt4/swarmd/train"); import prepare
prog = os.path.abspath(sys.argv[1])
d = tempfile.mkdtemp(dir="/tmp/rt4"); os.mkfifo(d + "/request"); os.mkfifo(d + "/answer")
p = subprocess.Popen(["nice", "-n", "19", sys.executable, "prepare.py", "answer", d, prog], cwd="/tmp/rt4/swarmd/train")
req = open(d + "/request", "wb"); ans = open(d + "/answer", "rb", buffering=0); H = prepare.HEADER
req.write(H.pack(b"LOAD", 0, 0)); req.flush()
_, val = prepare.load_sotu(); win = prepare.eval_windows(torch.frombuffer(bytearray(val), dtype=torch.uint8))
bs = prepare.eval_batches(win.size(0))
def ask(x):
    n = x.size(0)
    req.write(H.pack(b"XBAT", n, 64) + bytes(prepare._tensor_bytes(x.contiguous()))); req.flush()
    kind, r, c = H.unpack(prepare._read_exactly(ans, 12)); assert kind == b"LOGT", kind
    return torch.log_softmax(torch.frombuffer(prepare._read_exactly(ans, n*64*256*4), dtype=torch.float32).view(n, 64, 256), -1)
g = torch.Generator().manual_seed(1)
A = win[bs[0]]; lpA = ask(A[:, :-1])
nats = -lpA.gather(-1, A[:, 1:].long().unsqueeze(-1)).sum().item()
print("bpb of batch A:", nats / A[:, 1:].numel() / math.log(2))
for j in range(1, 4): ask(win[bs[j]][:, :-1])
x = A[:, :-1].clone(); cuts = torch.randint(0, 63, (A.size(0),), generator=g).tolist()
donor = win[bs[5]][:, :-1]
for row, cut in enumerate(cuts):
    x[row, cut + 1:] = donor[row, cut + 1:]; x[row, cut + 1] = (int(A[row, cut + 1]) + 1 + row) % 256
lpC = ask(x)
print("max change up to the cut:", max((lpC[r, :c + 1] - lpA[r, :c + 1]).abs().max().item() for r, c in enumerate(cuts)))
req.write(H.pack(b"DONE", 0, 0) + struct.pack("<d", 1.0)); req.close(); print("answerer exit", p.wait())
