# In one process: answer a window, then its edited copy (bytes after a cut replaced); compare up to the cut.
import sys, torch; sys.path.insert(0, "/tmp/rt3/swarmd/train")
import prepare
prepare._keep_freed_memory(); torch.set_num_threads(1)
p = prepare.ModelProgram(sys.argv[1])
g = torch.Generator().manual_seed(0)
val = torch.randint(0, 256, (20, 64, 65), generator=g)
worst, nats = 0.0, []
with torch.no_grad():
    for b in range(12):
        X = val[b, :, :-1]
        lp = torch.log_softmax(p(X), -1)
        nats.append(-lp.gather(-1, val[b, :, 1:].unsqueeze(-1)).mean().item())
        if b % 3 == 2:
            cut = torch.randint(0, 63, (64,), generator=g)
            E = X.clone()
            for r in range(64):
                E[r, cut[r] + 1:] = torch.randint(0, 256, (63 - cut[r],), generator=g)
                E[r, cut[r] + 1] = (X[r, cut[r] + 1] + 1) % 256
            lp2 = torch.log_softmax(p(E), -1)
            for r in range(64):
                worst = max(worst, (lp2[r, :cut[r] + 1] - lp[r, :cut[r] + 1]).abs().max().item())
print("mean nats/byte", sum(nats) / len(nats), "bpb", sum(nats) / len(nats) / 0.6931, "worst change up to cut", worst)
