import { execa } from 'execa'

/** The verdict on a candidate train.py: runnable, or refused with what it does. */
export type SourceVerdict = { ok: true } | { ok: false, detail: string }

/**
 * A static check, with Python's own parser (`ast`, nothing executed), that a candidate does
 * not reach into the evaluation path. Refused: redefining or shadowing `evaluate_bpb` or any
 * name imported from `prepare`; assigning to, deleting or mutating anything of the `prepare`
 * module (`prepare.EVAL_BYTES = 1`, `CONFIG.update(...)`, `evaluate_bpb.__code__ = ...`);
 * replacing functions the evaluation calls (`math.*`, `builtins.*`, `torch.<fn>`,
 * `torch.nn.functional.*`, `torch.Tensor.*`, `torch.nn.Module.*`); `setattr`/`delattr` on a
 * module, or passing the prepare module around; dynamic code and introspection (`exec`, `eval`, `compile`, `__import__`, `globals`,
 * `vars`, `sys.modules`, `ctypes`, `importlib`, `gc`, `inspect`, `__dict__`, `__code__`,
 * `__globals__`...); naming prepare.py, the corpus or /proc in a string.
 *
 * Limits: this raises the bar against an agent that "optimises" the metric instead of the
 * model, and refuses such code before it costs a run; it is not a proof. The guarantees are
 * elsewhere: val_bpb is measured by the harness's own evaluator process (evaluator.ts), which
 * holds the validation text and checks that the model does not look ahead; the sandbox binds
 * prepare.py and the training split read-only; verification re-runs results on other machines.
 */
/**
 * The largest train.py run here, bytes: 64 KiB, seven times the default (9 KB). It bounds what
 * text a train.py can carry to memorise: the cpu profile's fresh-sample pool (5.3 MB) packs into
 * 1.29 MB at lzma's best, 20 times this, so carried text covers about 5 % of a fresh sample at most
 * (prepare.py `sotu_pool`, fresh-sample.ts). At the former 512 KiB the whole cpu held-out split
 * would have fitted. (It also keeps the checker small: a 16 MB peer blob of one long list drove it
 * to 2.9 GiB and 30 s of CPU, found by the red team.)
 */
export const MAX_SOURCE_BYTES = 64 * 1024

export async function checkSource (python: string, source: string, options: { timeoutMs?: number } = {}): Promise<SourceVerdict> {
  const bytes = Buffer.byteLength(source)
  if (bytes > MAX_SOURCE_BYTES) return { ok: false, detail: `train.py is ${bytes} bytes, over the ${MAX_SOURCE_BYTES}-byte limit` }
  const run = await execa(python, ['-I', '-S', '-c', CHECKER], { input: source, reject: false, timeout: options.timeoutMs ?? 30_000 })
  const last = run.stdout.trim().split('\n').pop() ?? ''
  try {
    const parsed = JSON.parse(last) as { ok: boolean, detail?: string }
    return parsed.ok ? { ok: true } : { ok: false, detail: String(parsed.detail ?? 'refused') }
  } catch {
    // A source that defeats the parser (absurd nesting) is refused rather than run unchecked.
    return { ok: false, detail: `the source could not be checked: ${(run.stderr || run.stdout).trim().split('\n').pop() ?? `exit ${String(run.exitCode)}`}` }
  }
}

const CHECKER = String.raw`
import ast, json, resource, sys
# Parsing is the only work here: 1 GiB of address space and 20 s of CPU are plenty for 64 KiB.
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
resource.setrlimit(resource.RLIMIT_CPU, (20, 20))

src = sys.stdin.read()
try:
    tree = ast.parse(src)
except SyntaxError:
    # Not ours to report: the run fails with the interpreter's own message.
    print(json.dumps({"ok": True}))
    sys.exit(0)

DYNAMIC_NAMES = {"exec", "eval", "compile", "__import__", "globals", "vars", "__builtins__"}
FORBIDDEN_MODULES = {"ctypes", "_ctypes", "importlib", "gc", "inspect", "builtins", "marshal"}
FORBIDDEN_ATTRS = {"__dict__", "__code__", "__globals__", "__builtins__", "__closure__", "__defaults__", "__kwdefaults__", "__subclasses__", "__bases__", "__mro__", "__loader__", "__spec__", "__file__", "__setattr__", "__getattribute__"}
MUTATORS = {"update", "pop", "popitem", "clear", "setdefault", "append", "extend", "insert", "remove", "sort", "reverse", "add", "discard", "__setitem__", "__delitem__", "copy_", "fill_", "zero_"}
FORBIDDEN_STRINGS = ["prepare.py", "SWARMD_SOTU_DIR", "SWARMD_WEB_CORPUS_DIR", "datasets-sotu", "/proc/"]

aliases = {}
prepare_names = set()
for node in ast.walk(tree):
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.asname:
                aliases[a.asname] = a.name
            else:
                top = a.name.split(".")[0]
                aliases[top] = top
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        for a in node.names:
            aliases[a.asname or a.name] = node.module + "." + a.name
            if node.module == "prepare":
                prepare_names.add(a.asname or a.name)


def path_of(expr):
    """The dotted path an expression names through the imports (x[...] becomes x.[]), or None."""
    parts = []
    while True:
        if isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        elif isinstance(expr, ast.Subscript):
            parts.append("[]")
            expr = expr.value
        elif isinstance(expr, ast.Name):
            root = aliases.get(expr.id)
            return None if root is None else ".".join([root] + parts[::-1])
        else:
            return None


def protected(path):
    """Why changing this path touches the evaluation, or None."""
    if path is None:
        return None
    seg = path.split(".")
    if seg[0] == "prepare":
        return "changes the harness (" + path + ")"
    if seg[0] in ("math", "builtins") and len(seg) == 2:
        return "replaces " + path + ", which the evaluation calls"
    if seg[0] == "torch" and len(seg) == 2:
        return "replaces " + path + ", which the evaluation may call"
    for prefix in ("torch.nn.functional.", "torch.Tensor.", "torch.nn.Module."):
        if path.startswith(prefix) and path.count(".") == prefix.count("."):
            return "replaces " + path + ", which the evaluation calls"
    return None


# Docstrings do nothing: a string that stands alone as a statement is not checked.
docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
# The prepare module may be used as prepare.X only, never passed around (setattr(m, ...) after m = prepare).
attribute_bases = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


def refuse(node, why):
    line = getattr(node, "lineno", "?")
    print(json.dumps({"ok": False, "detail": "line " + str(line) + ": " + why}))
    sys.exit(0)


for node in ast.walk(tree):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        if node.name == "evaluate_bpb" or node.name in prepare_names:
            refuse(node, "redefines " + node.name + " from the harness")
    elif isinstance(node, ast.Name):
        if isinstance(node.ctx, (ast.Store, ast.Del)) and (node.id == "evaluate_bpb" or node.id in prepare_names or aliases.get(node.id) == "prepare"):
            refuse(node, "rebinds " + node.id + ", a name of the harness")
        if isinstance(node.ctx, ast.Load) and aliases.get(node.id) == "prepare" and id(node) not in attribute_bases:
            refuse(node, "passes the harness module around (use prepare.NAME only)")
        if node.id in DYNAMIC_NAMES:
            refuse(node, "uses " + node.id + " (dynamic code or attribute access is not allowed in train.py)")
    elif isinstance(node, ast.Attribute):
        if node.attr in FORBIDDEN_ATTRS:
            refuse(node, "uses " + node.attr + " (introspection is not allowed in train.py)")
        if node.attr in FORBIDDEN_MODULES or node.attr == "sharedctypes":
            refuse(node, "reaches " + node.attr + " through another module (not allowed in train.py)")
        if node.attr == "modules" and path_of(node.value) == "sys":
            refuse(node, "uses sys.modules")
        path = path_of(node)
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            why = protected(path)
            if why:
                refuse(node, why)
        elif path is not None and path.startswith("prepare.") and node.attr.startswith("_"):
            refuse(node, "reads a private part of the harness (" + path + ")")
    elif isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
        why = protected(path_of(node))
        if why:
            refuse(node, why)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr") and node.args:
        target = path_of(node.args[0])
        if target is not None:
            refuse(node, node.func.id + " on " + target + " (monkeypatching a module is not allowed in train.py)")
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
        owner = path_of(node.func.value)
        if owner is not None and owner.startswith("prepare."):
            refuse(node, "mutates the harness (" + owner + "." + node.func.attr + ")")
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] + [a.name for a in node.names]
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES or "sharedctypes" in name.split(".") or name in FORBIDDEN_MODULES:
                refuse(node, "imports " + name + " (not allowed in train.py)")
        if isinstance(node, ast.ImportFrom) and node.module == "sys" and any(a.name == "modules" for a in node.names):
            refuse(node, "uses sys.modules")
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
        for s in FORBIDDEN_STRINGS:
            if s in node.value:
                refuse(node, "names " + s + ": train.py may not read or write the harness or the data directly")

print(json.dumps({"ok": True}))
`
