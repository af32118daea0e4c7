"""One training step under torch.profiler: the top kernels (CUDA) or operators (CPU) by self time,
and how the step's time splits between matmul/attention and everything else.

Used by `python -m train.bench --profile`. On a GPU the rows are device kernels (self device
time); on a CPU they are ATen operators (self CPU time). The split is by name (a heuristic, printed
with the figures): names containing gemm / mm / matmul / linear / cutlass / xmma / attention /
flash / fmha / sdpa count as matmul/attention, the rest (elementwise, norms, copies, reductions,
the optimizer) as "other": the memory-bound passes this kit tries to remove.
"""
from __future__ import annotations

import re

import torch
from torch.profiler import ProfilerActivity, profile

MATMUL_LIKE = re.compile(r"gemm|(^|[^a-z])mm|bmm|addmm|matmul|linear|cutlass|xmma|attention|flash|fmha|sdpa",
                         re.IGNORECASE)


def profile_step(fn, device: torch.device, top: int = 15) -> dict:
    """Run fn() once under the profiler (the caller warms it up first). Returns the top rows, the
    total self time, the matmul/attention share, and the profiler's own table as text."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    events = prof.key_averages()
    on_device = device.type == "cuda"

    def self_us(e) -> float:
        if on_device:
            # Only device-side time counts on a GPU (the CPU side runs ahead asynchronously), and
            # only the kernels' own rows (their operators would count the same time again).
            return float(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0.0)))
        return float(e.self_cpu_time_total)

    rows = [(e.key, self_us(e), int(e.count)) for e in events
            if not on_device or str(getattr(e, "device_type", "")).endswith("CUDA")]
    if on_device and not any(r[1] > 0 for r in rows):
        # No separate kernel rows in this torch: fall back to every event with device time (an
        # operator and its kernel may then both count).
        rows = [(e.key, self_us(e), int(e.count)) for e in events]
    rows = [r for r in rows if r[1] > 0]
    rows.sort(key=lambda r: -r[1])
    total = sum(r[1] for r in rows)
    matmul = sum(r[1] for r in rows if MATMUL_LIKE.search(r[0]))
    sort_by = "self_device_time_total" if on_device else "self_cpu_time_total"
    try:
        table = events.table(sort_by=sort_by, row_limit=top)
    except (KeyError, AttributeError):  # older torch names the device column self_cuda_time_total
        table = events.table(sort_by="self_cuda_time_total" if on_device else "self_cpu_time_total", row_limit=top)
    return {"time_basis": "self device time (kernels)" if on_device else "self CPU time (ATen operators)",
            "total_ms": total / 1e3, "matmul_attention_share": matmul / total if total else 0.0,
            "top": [{"name": n, "self_ms": t / 1e3, "share": t / total, "calls": c} for n, t, c in rows[:top]],
            "table": table}


def print_profile(label: str, res: dict, top: int = 15):
    print(f"   -- {label}: {res['total_ms']:.1f} ms of {res['time_basis']}; matmul/attention "
          f"{res['matmul_attention_share']:.2f}, other {1 - res['matmul_attention_share']:.2f}")
    print(f"      {'self ms':>9} {'share':>6} {'calls':>6}  name")
    for r in res["top"][:top]:
        name = r["name"] if len(r["name"]) <= 90 else r["name"][:87] + "..."
        print(f"      {r['self_ms']:9.2f} {r['share']:6.3f} {r['calls']:6d}  {name}")
