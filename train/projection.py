"""GPU-hours to a paper-size checkpoint, projected from per-bucket training figures.

Used by `python -m train.bench`. The model of the projection, every part of it printed beside the
figures (assumptions()):
- Work: the preset's optimizer steps (the paper's ~520K) of one bucket each, bucket b drawn with
  the sampler's step weight w_b, rows[b] global rows per step; FLOPs per step from the analytic
  model.train_step_flops (forward of every cycle + backward of the last).
- Speed of a GPU kind: FLOPs / (fraction of peak x achievable peak). The achievable peak is the
  datasheet dense bf16 peak x the matmul efficiency (measured bf16 matmul / datasheet peak on the
  measuring GPU when it is a known kind, else an assumed value, printed). The fraction of peak per
  bucket is either the one measured in this run (on a CPU: the CPU's fraction of its own float32
  matmul rate, a different machine entirely: labelled CPU-derived) or an assumed constant.
- N GPUs: the per-GPU batch is rows / N and the fraction is assumed to hold at that batch; the
  gradient all-reduce (7M weights) and the puzzle-row all-gather are assumed hidden. So GPU-hours
  do not depend on N and the wall time is GPU-hours / N.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# Dense bf16 tensor-core peaks (datasheets, without sparsity), TFLOP/s. H100 = the SXM part.
DATASHEET_TFLOPS = {"H100": 989.0, "H200": 989.0, "H100 PCIe": 756.0, "A100": 312.0, "L4": 121.0}
# The reference's README (docs/reference.md, the run row): ~3 days on 4 x H100 per data set (ARC-AGI-1; the same stated for ARC-AGI-2).
REFERENCE = {"days": 3.0, "gpus": 4, "kind": "H100"}
# When the measuring device is not a known GPU: the matmul efficiency assumed for the target (one
# H200's measured bf16 matmul, 766 of 989 TFLOP/s, docs/benchmarks.md 2026-11-28). Not measured here.
DEFAULT_MATMUL_EFFICIENCY = 0.774


def datasheet_kind(device_name: str | None) -> str | None:
    """The DATASHEET_TFLOPS key a CUDA device name matches (longest key first), or None."""
    if not device_name:
        return None
    words = set(re.split(r"[^A-Za-z0-9]+", device_name))  # "NVIDIA L40S" is not an L4
    for k in sorted(DATASHEET_TFLOPS, key=len, reverse=True):
        if all(part in words for part in k.split()):
            return k
    return None


@dataclass
class BucketWork:
    side: int
    weight: float          # probability that a step is this bucket's (Sampler.bucket_step_weight)
    rows: int              # global rows per step
    flops: float           # analytic FLOPs of one global step of this bucket
    fraction: float        # fraction of the achievable peak this bucket's step reaches


def gpu_seconds_per_step(work: list[BucketWork], achievable_flops: float) -> float:
    """Expected single-GPU seconds per optimizer step (all rows of the step on one GPU's clock)."""
    return float(sum(b.weight * b.flops / (b.fraction * achievable_flops) for b in work))


def rows_per_step(work: list[BucketWork]) -> float:
    return float(sum(b.weight * b.rows for b in work))


def interpolate_fraction(sides_measured: list[int], fractions: list[float], prefix: int, side: int) -> float:
    """Fraction of peak for a canvas side that was not measured: linear in sequence length between
    the measured sides, clamped at the ends."""
    L = np.asarray([s * s + prefix for s in sides_measured], dtype=np.float64)
    order = np.argsort(L)
    return float(np.interp(side * side + prefix, L[order], np.asarray(fractions, dtype=np.float64)[order]))


def project(work: list[BucketWork], steps: int, kind: str, gpus: int, matmul_efficiency: float,
            paper_rows: int | None = None) -> dict:
    """GPU-hours and wall days on `gpus` GPUs of `kind` for `steps` optimizer steps; with paper_rows,
    also for as many row-steps as the paper's steps x paper_rows (differs from steps when the rows
    per step vary by bucket: token-budget batches)."""
    achievable = DATASHEET_TFLOPS[kind] * 1e12 * matmul_efficiency
    s_step = gpu_seconds_per_step(work, achievable)
    out = {"kind": kind, "gpus": gpus, "achievable_tflops": achievable / 1e12, "gpu_s_per_step": s_step,
           "rows_per_step": rows_per_step(work), "steps": steps,
           "gpu_hours": steps * s_step / 3600, "wall_days": steps * s_step / 3600 / gpus / 24}
    if paper_rows:
        steps_same_rows = steps * paper_rows / out["rows_per_step"]
        out["steps_for_paper_rows"] = steps_same_rows
        out["gpu_hours_paper_rows"] = steps_same_rows * s_step / 3600
        out["wall_days_paper_rows"] = out["gpu_hours_paper_rows"] / gpus / 24
    return out


def reference_implied_fraction(paper_flops_per_step: float, steps: int) -> float:
    """The fraction of the H100 datasheet peak the paper's own run implies: its FLOPs (our analytic
    count on the full 30x30 canvas) over 3 days x 4 GPUs x 989 TFLOP/s."""
    seconds = REFERENCE["days"] * 24 * 3600 * REFERENCE["gpus"]
    return paper_flops_per_step * steps / (seconds * DATASHEET_TFLOPS[REFERENCE["kind"]] * 1e12)


def assumptions(steps: int, paper_rows: int, efficiency: float, efficiency_how: str, fraction_how: str) -> list[str]:
    return [
        f"work: {steps:,} optimizer steps (the preset's; the paper ~520K), one bucket per step drawn by the sampler's "
        f"weights; the paper's row-steps = {steps:,} x {paper_rows} rows",
        "FLOPs: analytic (model.train_step_flops: forward of all cycles + backward of the last), not counted by a profiler",
        f"achievable peak = datasheet dense bf16 x {efficiency:.3f} matmul efficiency ({efficiency_how})",
        "datasheet dense bf16 TFLOP/s: " + ", ".join(f"{k} {v:g}" for k, v in DATASHEET_TFLOPS.items()),
        f"fraction of peak per bucket: {fraction_how}",
        "N GPUs: per-GPU batch rows/N at the same fraction; all-reduce and all-gather hidden; GPU-hours independent of N",
        f"reference: the paper, ~{REFERENCE['days']:g} days on {REFERENCE['gpus']} x {REFERENCE['kind']} = "
        f"{REFERENCE['days'] * 24 * REFERENCE['gpus']:g} GPU-hours per data set (the reference's README; docs/reference.md)",
    ]
