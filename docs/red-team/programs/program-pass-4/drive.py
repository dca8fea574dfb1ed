"""Drive the REAL answerer (`python prepare.py answer FOLDER PROGRAM`) over its FIFOs, as the evaluator does.
usage: drive.py PROGRAM [questions: letters]   prints the argmax-decoded answers; MAPS=1 dumps big mappings."""
import os, sys, struct, subprocess, tempfile, torch, time
sys.path.insert(0, "/tmp/rt4/swarmd/train"); import prepare
prog = os.path.abspath(sys.argv[1]); seq = sys.argv[2] if len(sys.argv) > 2 else "ABCA"
d = tempfile.mkdtemp(dir="/tmp/rt4"); os.mkfifo(d + "/request"); os.mkfifo(d + "/answer")
p = subprocess.Popen(["nice", "-n", "19", sys.executable, "prepare.py", "answer", d, prog], cwd="/tmp/rt4/swarmd/train")
req = open(d + "/request", "wb"); ans = open(d + "/answer", "rb", buffering=0)
H = prepare.HEADER
def maps():
    if os.environ.get("MAPS"):
        for l in open(f"/proc/{p.pid}/maps"):
            lo, hi = [int(v, 16) for v in l.split()[0].split("-")]
            if hi - lo > (20 << 20) or l.split()[1] == "---p": print("   ", l.strip(), f"{(hi-lo)>>10}K")
req.write(H.pack(b"LOAD", 0, 0)); req.flush()
g = torch.Generator().manual_seed(0)
qs = {k: torch.randint(0, 256, (64, 64), generator=g).to(torch.uint8) for k in "ABCDEFGH"}
out = []
for k in seq:
    req.write(H.pack(b"XBAT", 64, 64) + bytes(qs[k].numpy().tobytes()) if False else H.pack(b"XBAT", 64, 64) + bytes(prepare._tensor_bytes(qs[k]))); req.flush()
    kind, r, c = H.unpack(prepare._read_exactly(ans, 12))
    if kind != b"LOGT": print("got", kind); break
    logits = torch.frombuffer(prepare._read_exactly(ans, 64 * 64 * 256 * 4), dtype=torch.float32).view(64, 64, 256)
    pred = logits.argmax(-1).to(torch.uint8)
    who = [n for n in qs if torch.equal(pred, qs[n])]
    print(f"asked {k}: answer is the one-hot of question {who or '-'}", flush=True); maps()
req.write(H.pack(b"DONE", 0, 0) + struct.pack("<d", 1.0)); req.close()
print("answerer exit code", p.wait())
