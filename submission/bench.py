"""python -m submission.bench --checkpoint DIR: how long the Kaggle entry's work takes here, and a
projection to the Kaggle machine (4 x L4). A benchmark, not a test: it prints what it measured.

Measured through the entry's own code (solve.ShardSolver.solve_shard) on a synthetic shard whose
grids fill the checkpoint's whole canvas (the slowest case; real shards mix smaller canvases):
  - seconds per test-time training step (--ttt-batch-size rows, --ttt-mode);
  - seconds per test input: --views views, every supervision step run (--halt all).
A warm-up shard runs first and is not counted.

Projection: 240 tasks x --inputs-per-task test inputs; --ttt-steps steps per shard of
--tasks-per-shard tasks; time here x (this device's dense bf16 peak / the L4's 121 TFLOP/s) / 4
cards. Peaks used: H100 SXM / H200 989, H100 PCIe 756, A100 312, L4 121, A10G 70, T4 65 TFLOP/s;
an unknown GPU uses its measured bf16 matmul rate. On the CPU the ratio is the measured float32
matmul rate against 121 TFLOP/s: a rough projection only (different kernels, no bf16).
"""
import argparse
import json
import math
import threading
import time

import numpy as np
import torch

from .checkpoint import load_meta, resolve_checkpoint
from .model import train_step_flops
from .solve import SolveSettings, ShardSolver, forward_step_flops
from .tasks import Task

L4_TFLOPS = 121.0
PEAK_TFLOPS = [("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("A100", 312.0), ("L4", 121.0),
               ("A10G", 70.0), ("T4", 65.0)]


def matmul_rate(device, dtype, n=2048, reps=5) -> float:
    """Measured dense matmul FLOP/s (best of reps)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(reps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.time()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.time() - t)
    return 2 * n ** 3 / best


def device_peak(device) -> tuple[float, str]:
    """(FLOP/s used for scaling, how it was obtained)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, tf in PEAK_TFLOPS:
            if key in name:
                return tf * 1e12, f"{name}: dense bf16 peak {tf:g} TFLOP/s (datasheet)"
        r = matmul_rate(device, torch.bfloat16, 4096)
        return r, f"{name}: measured bf16 matmul {r / 1e12:.1f} TFLOP/s (not in the peak table)"
    r = matmul_rate(device, torch.float32)
    return r, f"CPU, {torch.get_num_threads()} threads: measured float32 matmul {r / 1e9:.1f} GFLOP/s"


def synthetic_tasks(n: int, side: int, n_train: int = 3, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    grid = lambda: rng.integers(0, 10, (side, side)).astype(np.uint8)
    return [Task(f"bench{i}", [(grid(), grid()) for _ in range(n_train)], [grid()]) for i in range(n)]


def _hms(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m submission.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--steps", type=int, default=6, help="training steps measured")
    p.add_argument("--views", type=int, default=8, help="views per test input measured")
    p.add_argument("--ttt-batch-size", type=int, default=None, help="default: the checkpoint's, at most 128")
    p.add_argument("--ttt-mode", choices=("full", "embeddings"), default="full")
    p.add_argument("--bench-tasks", type=int, default=4, help="tasks in the synthetic shard")
    p.add_argument("--tasks", type=int, default=240, help="projection: hidden tasks")
    p.add_argument("--inputs-per-task", type=float, default=1.4, help="projection: test inputs per task")
    p.add_argument("--ttt-steps", type=int, default=2000, help="projection: training steps per shard")
    p.add_argument("--tasks-per-shard", type=int, default=15, help="projection: tasks per shard (240/16 on 4 workers)")
    p.add_argument("--json", help="also write the numbers here")
    args = p.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    ckpt = resolve_checkpoint(args.checkpoint)
    meta = load_meta(ckpt)
    a = meta.get("args", {})
    B = args.ttt_batch_size or min(int(a.get("global_batch_size", 64)), 128)
    settings = SolveSettings(ttt_mode=args.ttt_mode, num_aug=args.views, max_aug=args.views, batch_size=B,
                             lr=a.get("lr", 1e-4), puzzle_lr=a.get("puzzle_lr", 1e-2), views=args.views,
                             halt="all", max_buckets=1, infer_share=0.0, log_every_s=1e9)
    solver = ShardSolver(ckpt, device, settings, log=lambda s: None)
    cfg = solver.cfg
    side = cfg.canvas_side - 1 if cfg.canvas_side > 1 else 1  # + EOS row/column = the full canvas
    tasks = synthetic_tasks(args.bench_tasks, side)
    stop = threading.Event()
    emit = lambda *a: None

    # Warm-up (allocations, kernels, caches), then the measured shard.
    settings.ttt_steps, settings.views = 2, 1
    solver.solve_shard(0, tasks, 1e9, stop, emit)
    settings.ttt_steps, settings.views = args.steps + 1, args.views
    st = solver.solve_shard(1, tasks, 1e9, stop, emit)
    step_s = st["ttt_step_s"]
    input_s = st["infer_s"] / sum(len(t.test_inputs) for t in tasks)

    train_gflops = train_step_flops(cfg, st["batch_size"], cfg.canvas_side) / step_s / 1e9
    infer_gflops = forward_step_flops(cfg, args.views, cfg.canvas_side) * cfg.halt_max_steps / input_s / 1e9
    peak, peak_how = device_peak(device)
    ratio = peak / (L4_TFLOPS * 1e12)
    n_inputs = args.tasks * args.inputs_per_task
    n_shards = math.ceil(args.tasks / args.tasks_per_shard)
    ttt_here = n_shards * args.ttt_steps * step_s
    inf_here = n_inputs * input_s
    proj = lambda s: s * ratio / 4
    res = {"device": peak_how, "canvas_side": cfg.canvas_side, "hidden_size": cfg.hidden_size,
           "halt_max_steps": cfg.halt_max_steps, "ttt_mode": args.ttt_mode, "ttt_batch_size": st["batch_size"],
           "ttt_step_s": step_s, "views": args.views, "test_input_s": input_s, "ratio_here_to_L4": ratio,
           "train_gflops_achieved": train_gflops, "infer_gflops_achieved": infer_gflops,
           "projection": {"tasks": args.tasks, "test_inputs": n_inputs, "shards": n_shards,
                          "ttt_steps_per_shard": args.ttt_steps, "ttt_s_4xL4": proj(ttt_here),
                          "inference_s_4xL4": proj(inf_here), "total_s_4xL4": proj(ttt_here + inf_here)}}
    print(f"[bench] {peak_how}")
    print(f"[bench] checkpoint {ckpt}: hidden {cfg.hidden_size}, canvas {cfg.canvas_side}, "
          f"T={cfg.H_cycles} n={cfg.L_cycles}, {cfg.halt_max_steps} supervision steps")
    print(f"[bench] test-time training ({args.ttt_mode}, {st['batch_size']} rows at the full canvas): "
          f"{step_s:.3f} s/step ({train_gflops:.1f} GFLOP/s achieved)")
    print(f"[bench] inference ({args.views} views x {cfg.halt_max_steps} steps at the full canvas): "
          f"{input_s:.3f} s per test input ({infer_gflops:.1f} GFLOP/s achieved)")
    rough = " (rough: CPU float32 vs GPU bf16)" if device.type == "cpu" else ""
    print(f"[bench] projection for {args.tasks} tasks ({n_inputs:.0f} test inputs) on 4 x L4, "
          f"time here x {ratio:.4g} (peak here / {L4_TFLOPS:g} TFLOP/s) / 4{rough}:")
    print(f"[bench]   TTT {n_shards} shards x {args.ttt_steps} steps: {_hms(proj(ttt_here))}; "
          f"inference: {_hms(proj(inf_here))}; total {_hms(proj(ttt_here + inf_here))} "
          f"(upper bound: every grid at the full canvas)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
