"""Tiny builder for hand-made swarmd programs (format of train/prepare.py export_program)."""
import io, json, torch

class G:
    def __init__(self, batch=64, context=64, device="cpu"):
        self.nodes, self.tensors = [], {}
        self.batch, self.context, self.device = batch, context, device
    def input(self):
        self.nodes.append({"input": True}); return {"node": len(self.nodes) - 1}
    def tensor(self, t):
        name = f"t{len(self.tensors)}"; self.tensors[name] = t.detach().cpu().contiguous()
        self.nodes.append({"tensor": name}); return {"node": len(self.nodes) - 1}
    def op(self, name, *args, **kwargs):
        if "." not in name: name += ".default"
        self.nodes.append({"op": name if name == "getitem" else "aten." + name, "args": list(args), "kwargs": kwargs})
        return {"node": len(self.nodes) - 1}
    def getitem(self, v, i):
        self.nodes.append({"op": "getitem", "args": [v, i], "kwargs": {}}); return {"node": len(self.nodes) - 1}
    def output(self, v):
        self.nodes.append({"output": v})
    def save(self, path=None, pad=0):
        graph = (json.dumps({"device": self.device, "batch": self.batch, "context": self.context, "nodes": self.nodes}) + " " * pad).encode()
        out = io.BytesIO()
        torch.save({"graph": torch.frombuffer(bytearray(graph), dtype=torch.uint8), "tensors": self.tensors}, out)
        data = out.getvalue()
        if path: open(path, "wb").write(data)
        return data

I64 = {"dtype": "int64"}; F32 = {"dtype": "float32"}
