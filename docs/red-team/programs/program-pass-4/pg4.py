"""Program builder for the new (SWARMD-PROGRAM/1) format."""
import sys, torch
sys.path.insert(0, "/tmp/rt4/swarmd/train")
import prepare
F32 = {"dtype": "float32"}; I64 = {"dtype": "int64"}
class G:
    def __init__(self): self.nodes, self.tensors = [], {}
    def _add(self, n): self.nodes.append(n); return {"node": len(self.nodes) - 1}
    def input(self): return self._add({"input": True})
    def tensor(self, t, name=None):
        name = name or f"t{len(self.tensors)}"; self.tensors[name] = t; return self._add({"tensor": name})
    def op(self, name, *args, **kw):
        full = name if name.startswith("aten.") else "aten." + (name if "." in name else name + ".default")
        return self._add({"op": full, "args": list(args), "kwargs": kw})
    def get(self, r, i): return self._add({"op": "getitem", "args": [r, i], "kwargs": {}})
    def output(self, r): self._add({"output": r})
    def bytes(self): return prepare.write_program({"device": "cpu", "batch": prepare.EVAL_BATCH, "context": prepare.CONTEXT, "nodes": self.nodes}, self.tensors)
    def save(self, path):
        open(path, "wb").write(self.bytes()); return path
