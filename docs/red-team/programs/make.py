"""Build hostile train.py files: the default train.py with a wrapper model inserted (like test wrapModel)."""
import sys
BASE = open("/tmp/redteam/swarmd/train/train.py").read()
EVALUATE = "    val_bpb = evaluate_bpb(model, val_data, DEVICE)\n"

def wrap(definition, wrapper, out):
    src = BASE.replace(EVALUATE, f"    model = {wrapper}(model)\n{EVALUATE}")
    src = src.replace("\ndef main():\n", f"\n{definition}\n\ndef main():\n")
    assert src != BASE
    open(out, "w").write(src)
    print(out, len(src.encode()))

if __name__ == "__main__":
    definition = open(sys.argv[1]).read()
    wrap(definition, sys.argv[2], sys.argv[3])
