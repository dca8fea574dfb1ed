/**
 * Look-ahead models that remember their answers: the evasion of the look-ahead check that issue 13
 * names (an edited copy of a window, asked later, gets the answer its original got). Each is a
 * class definition for `wrapModel`, in train.py's namespace.
 */

/**
 * Looks ahead (+30 on the next input byte) and remembers every answer: a window that shares a
 * prefix with one it answered before gets the old answer on that prefix, so an edited copy asked
 * of the same process agrees with its original (the evasion issue 13 names: val_bpb 0.88). Its
 * memory is Python and reads the question's values (`tolist`): it cannot be traced into a program.
 */
export const REMEMBERING = `
class Remembering(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.seen = {}

    def forward(self, idx):
        out = self.inner(idx).float() + 30.0 * F.one_hot(torch.roll(idx, -1, dims=1), VOCAB_SIZE).float()
        for r, row in enumerate(idx.tolist()):
            b = bytes(row)
            best, best_len = None, 0
            for old, old_out in self.seen.get(b[0], []):
                n = 0
                while n < len(b) and old[n] == b[n]:
                    n += 1
                if n > best_len:
                    best, best_len = old_out, n
            if best is not None:
                out[r, :best_len] = best[:best_len]
            self.seen.setdefault(b[0], []).append((b, out[r].clone()))
        return out
`

/**
 * Looks ahead (+30 on the next input byte) and remembers, in buffers of its own written in place
 * (tensor operations only: it survives tracing), every row it was asked and what it predicted; a
 * row gets, on the prefix it shares with the remembered row closest to it, what was said there.
 * Run as Python, it answers a check's edited copy exactly as it answered the original.
 */
export const TENSOR_MEMORY = String.raw`
class TensorMemory(nn.Module):
    SLOTS = 512

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.register_buffer("rows", torch.full((self.SLOTS, CONTEXT), -1, dtype=torch.long))
        self.register_buffer("said", torch.zeros((self.SLOTS, CONTEXT), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def forward(self, idx):
        ahead = torch.roll(idx, -1, dims=1)
        same = (idx[:, None, :] == self.rows[None, :, :]).long().cumprod(-1)
        best = same.sum(-1).argmax(dim=1)
        known = same[torch.arange(idx.size(0)), best].bool()
        said = torch.where(known, self.said[best], ahead)
        slots = (self.count + torch.arange(idx.size(0))) % self.SLOTS
        self.rows.index_copy_(0, slots, idx)
        self.said.index_copy_(0, slots, said)
        self.count.add_(idx.size(0))
        return self.inner(idx) + 30.0 * (said[:, :, None] == torch.arange(VOCAB_SIZE)).float()
`

