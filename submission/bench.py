"""python -m submission.bench --checkpoint DIR: how long the Kaggle entry's work takes here, and a
roofline estimate of it on the Kaggle machine (4 x L4). A benchmark, not a test: it prints what it
measured and what it assumed.

Measured here, through the entry's own code (solve.ShardSolver.solve_shard), on a synthetic shard
whose grids fill the checkpoint's whole canvas (the slowest case): seconds per test-time training
step and per test input (--views views, every supervision step run). A warm-up shard runs first.

The estimate for an L4 (not a measurement, and not a bound). Per step, two terms:
    matmul FLOPs / (121 TFLOP/s x e_mm)  +  elementwise bytes / (300 GB/s x e_ew)
- the FLOPs and bytes are counted from one real step run under a dispatch counter (OpCounter):
  every matmul and attention op adds its FLOPs, every other op that moves data adds the bytes it
  reads and writes (views move nothing). The L4 runs bf16 autocast, so the counts are taken under
  bf16 autocast (on the CPU too: CPU autocast, whose op policy is close to CUDA's but not equal);
  they are per row, at two canvas sides, and scaled by rows and tokens to each bucket side;
- e_mm and e_ew, the fractions of peak the matmuls and the elementwise work reach, are calibrated
  on the device at hand: a profiled step splits its time into matmul and elementwise ops, and each
  class's count over its time is set against this device's peak (datasheet FLOP/s and bandwidth for
  known GPUs; on the CPU the measured matmul rate and copy bandwidth). The estimate assumes the L4
  reaches the same fractions; it leaves out kernel-launch gaps and host work (a CPU calibration is
  rough: other kernels, float32);
- per bucket side, the rows a 24 GB L4 takes (memory.BatchPlanner at --gpu-memory GiB usable, bf16),
  the estimated peak, and whether the checkpoint's batch would fit.
Projection: --tasks tasks x --inputs-per-task test inputs; --ttt-steps steps per shard of
--tasks-per-shard tasks at the full canvas (every grid at 30x30: real shards mix smaller canvases)
at the rows an L4 takes there; over 4 cards.
"""
import argparse
import json
import math
import threading

import numpy as np
import torch

from .checkpoint import load_meta, resolve_checkpoint
from .engine import AdamAtan2
from .memory import GiB, BatchPlanner, MemoryBudget, train_fixed_bytes
from .model import TRM, TRMConfig, train_step_flops
from .predict import forward_step_flops
from .roofline import count, device_peaks, infer_step, profile_split, train_step
from .solve import SolveSettings, ShardSolver
from .tasks import Task

L4_TFLOPS, L4_GBPS, L4_USABLE_GIB, L4_CARDS = 121.0, 300.0, 22.5, 4
ARC2_EVAL_SIDES = [13, 17, 19, 21, 23, 24, 26, 30]  # the entry's buckets for the 120 ARC-AGI-2 evaluation tasks


def synthetic_tasks(n: int, side: int, n_train: int = 3, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    grid = lambda: rng.integers(0, 10, (side, side)).astype(np.uint8)
    return [Task(f"bench{i}", [(grid(), grid()) for _ in range(n_train)], [grid()]) for i in range(n)]


def bucket_sides(spec: str, canvas: int, max_buckets: int) -> list[int]:
    """'7,11,30' -> those sides; a task spec (arc2/eval) -> the buckets the entry would choose for its
    demonstration pairs."""
    if all(p.strip().isdigit() for p in spec.split(",")):
        return sorted({min(int(p), canvas) for p in spec.split(",")} | {canvas})
    from .data import build_puzzle_set, choose_buckets, pair_sides
    from .tasks import TaskError, load_tasks
    try:
        ps = build_puzzle_set([], load_tasks(spec), 1)
    except (TaskError, ImportError) as e:
        print(f"[bench] cannot read {spec} ({e}); using the sides arc2/eval gives: {ARC2_EVAL_SIDES}")
        return sorted({min(s, canvas) for s in ARC2_EVAL_SIDES} | {canvas})
    return choose_buckets(pair_sides(ps, canvas), canvas, max_buckets)


def _hms(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m submission.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="checkpoint, Kaggle export or run folder")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--memory-only", action="store_true",
                   help="only the per-bucket memory report for an L4 (runs nothing; seconds on a CPU)")
    p.add_argument("--steps", type=int, default=6, help="training steps measured")
    p.add_argument("--views", type=int, default=8, help="views per test input measured")
    p.add_argument("--ttt-batch-size", type=int, default=None,
                   help="most rows per step measured here (default: the checkpoint's, at most 128, as the entry; "
                        "fewer when memory says so); the L4 report always uses the entry's default")
    p.add_argument("--ttt-mode", choices=("full", "embeddings"), default="full")
    p.add_argument("--bench-tasks", type=int, default=4, help="tasks in the synthetic shard")
    p.add_argument("--gpu-memory", type=float, default=L4_USABLE_GIB, metavar="GiB",
                   help="usable memory of one L4 for the report (default %(default)s)")
    p.add_argument("--memory-share", type=float, default=0.8, help="as the entry's flag (default %(default)s)")
    p.add_argument("--sides", default="arc2/eval",
                   help="bucket sides for the per-bucket report: a list (7,11,30) or a task spec whose "
                        "demonstrations choose them as the entry would (default %(default)s)")
    p.add_argument("--launch-us", type=float, default=5.0,
                   help="assumed seconds per kernel launch (microseconds): a step takes at least kernels x this")
    p.add_argument("--tasks", type=int, default=240, help="projection: hidden tasks")
    p.add_argument("--inputs-per-task", type=float, default=1.08, help="projection: test inputs per task")
    p.add_argument("--ttt-steps", type=int, default=2000, help="projection: training steps per shard")
    p.add_argument("--tasks-per-shard", type=int, default=15, help="projection: tasks per shard (240/16 on 4 workers)")
    p.add_argument("--json", help="also write the numbers here")
    args = p.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    ckpt = resolve_checkpoint(args.checkpoint)
    meta = load_meta(ckpt)
    a = meta.get("args", {})
    cfg = TRMConfig.from_dict(meta["model_config"])
    canvas = cfg.canvas_side
    want_rows = min(int(a.get("global_batch_size", 64)), 128)  # the entry's default cap, as on Kaggle
    ema = float(a.get("ema", 0.0) or 0.0) > 0

    # ---- memory on one L4: rows per bucket side, the estimated peak, the checkpoint's batch ----
    sides = bucket_sides(args.sides, canvas, int(a.get("max_buckets", 8)))
    cfg1 = TRMConfig.from_dict({**cfg.to_dict(), "num_puzzles": 1})
    n_params = sum(prm.numel() for prm in TRM(cfg1).parameters())
    budget = MemoryBudget(int(args.gpu_memory * GiB), args.memory_share, f"{args.gpu_memory:g} GiB (one L4)")
    planner = BatchPlanner(cfg, True, budget, want_rows, 256,
                           train_fixed_bytes(n_params, args.ttt_mode == "full", ema, True))
    buckets = []
    for side in sides:
        rows, cost = planner.train_rows(side), planner.train_cost(side)
        buckets.append({"side": side, "rows": rows, "peak_gib": round(cost.peak(rows) / GiB, 2),
                        "checkpoint_rows": want_rows, "checkpoint_rows_gib": round(cost.peak(want_rows) / GiB, 2),
                        "checkpoint_rows_fit": cost.peak(want_rows) <= budget.target,
                        "infer_rows": planner.infer_rows(side),
                        "infer_peak_gib": round(planner.infer_cost(side).peak(planner.infer_rows(side)) / GiB, 2)})
    res = {"checkpoint": str(ckpt), "canvas_side": canvas, "hidden_size": cfg.hidden_size, "parameters": n_params,
           "l4_usable_gib": args.gpu_memory, "memory_share": args.memory_share, "sides_from": args.sides,
           "l4_buckets": buckets}
    print(f"[bench] checkpoint {ckpt}: hidden {cfg.hidden_size}, canvas {canvas}, T={cfg.H_cycles} n={cfg.L_cycles}, "
          f"{cfg.halt_max_steps} supervision steps, {n_params:,} parameters")
    print(f"[bench] memory per bucket side on one L4 ({args.gpu_memory:g} GiB usable, planned to "
          f"{args.memory_share:.0%}, bf16 autocast; estimates from the shapes, memory.py), sides from {args.sides}:")
    print(f"[bench]   side  TTT rows  est. peak   {want_rows} rows would need        inference rows  est. peak")
    for bk in buckets:
        print(f"[bench]   {bk['side']:4d}  {bk['rows']:8d}  {bk['peak_gib']:6.2f} GiB  {bk['checkpoint_rows_gib']:7.2f} GiB "
              f"({'within' if bk['checkpoint_rows_fit'] else 'over'} {budget.target / GiB:.1f})  {bk['infer_rows']:14d}  "
              f"{bk['infer_peak_gib']:6.2f} GiB")
    if args.memory_only:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1)
        return res

    # ---- measured here, through the entry's code: warm-up shard, then the measured one ----
    settings = SolveSettings(ttt_mode=args.ttt_mode, num_aug=args.views, max_aug=args.views,
                             batch_size=args.ttt_batch_size or want_rows,
                             lr=a.get("lr", 1e-4), puzzle_lr=a.get("puzzle_lr", 1e-2), views=args.views,
                             halt="all", max_buckets=1, infer_share=0.0, log_every_s=1e9)
    solver = ShardSolver(ckpt, device, settings, log=lambda s: None)
    model = solver.model
    tasks = synthetic_tasks(args.bench_tasks, max(1, canvas - 1))  # + the EOS row/column = the full canvas
    stop, emit = threading.Event(), (lambda *a: None)
    settings.ttt_steps, settings.views = 2, 1
    solver.solve_shard(0, tasks, 1e9, stop, emit)
    settings.ttt_steps, settings.views = args.steps + 1, args.views
    st = solver.solve_shard(1, tasks, 1e9, stop, emit)
    rows_here = st["batch_sizes"][canvas]
    step_s = st["ttt_step_s"]
    input_s = st["infer_s"] / sum(len(t.test_inputs) for t in tasks)

    # ---- counts per row, bf16 as on the L4 ----
    solver.reset(2)
    for prm in model.parameters():
        prm.requires_grad_(args.ttt_mode == "full")
    opt = AdamAtan2(model.parameters(), lr=0.0) if args.ttt_mode == "full" else None
    bf16 = torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    small = max(3, canvas // 3)
    per_row, kernels = {}, {}  # (kind, side) -> (FLOPs, bytes) of one row; -> data-moving ops per step
    for side in (small, canvas):
        f1, b1, kernels[("train", side)] = count(lambda: train_step(model, 1, side, bf16, device, opt), kernels=True)
        f2, b2 = count(lambda: train_step(model, 2, side, bf16, device, opt))
        per_row[("train", side)] = (f2 - f1, b2 - b1)
        f1, b1, kernels[("infer", side)] = count(lambda: infer_step(model, 1, side, bf16, device), kernels=True)
        f2, b2 = count(lambda: infer_step(model, 2, side, bf16, device))
        per_row[("infer", side)] = (f2 - f1, b2 - b1)
    # Per step, whatever the rows: the optimizer's update of every weight.
    update_b = count(lambda: train_step(model, 1, small, bf16, device, opt))[1] - count(
        lambda: train_step(model, 1, small, bf16, device))[1]

    def per_row_at(kind, side):
        """(FLOPs, bytes, kernels) of one row at `side`: matmul FLOPs as counted at the full canvas, scaled
        by the analytic count; bytes linear in the tokens between the two counted sides."""
        (fa, ba), (fb, bb) = per_row[(kind, small)], per_row[(kind, canvas)]
        La, Lb, L = (cfg.puzzle_emb_len + s * s for s in (small, canvas, side))
        analytic = train_step_flops if kind == "train" else forward_step_flops
        flops = fb * analytic(cfg, 1, side) / analytic(cfg, 1, canvas)
        return flops, ba + (bb - ba) * (L - La) / (Lb - La), kernels[(kind, canvas)]

    # ---- calibration: this device's split of a real step's time ----
    here_ac = solver.autocast
    train_step(model, rows_here, canvas, here_ac, device, opt)  # warm
    split = profile_split(lambda: train_step(model, rows_here, canvas, here_ac, device, opt), device)
    f_here, b_here = count(lambda: train_step(model, rows_here, canvas, here_ac, device, opt))
    peak_f, peak_b, peak_how = device_peaks(device)
    e_mm = min(1.0, f_here / max(split["matmul"], 1e-9) / peak_f)
    e_ew = min(1.0, b_here / max(split["elementwise"], 1e-9) / peak_b)

    def l4_seconds(flops, nbytes, n_kernels):
        roof = flops / (L4_TFLOPS * 1e12 * e_mm) + nbytes / (L4_GBPS * 1e9 * e_ew)
        return max(roof, n_kernels * args.launch_us * 1e-6)

    # ---- estimates per bucket side, and the projection: 240 tasks on 4 x L4 ----
    for bk in buckets:
        f, b, k = per_row_at("train", bk["side"])
        bk["l4_step_s"] = l4_seconds(f * bk["rows"], b * bk["rows"] + update_b, k)
        bk["l4_samples_per_s"] = bk["rows"] / bk["l4_step_s"]
    full = next(bk for bk in buckets if bk["side"] == canvas)
    fi, bi, ki = per_row_at("infer", canvas)
    l4_input_s = l4_seconds(fi * args.views, bi * args.views, ki) * cfg.halt_max_steps
    n_inputs = args.tasks * args.inputs_per_task
    n_shards = math.ceil(args.tasks / args.tasks_per_shard)
    ttt_l4 = n_shards * args.ttt_steps * full["l4_step_s"] / L4_CARDS
    inf_l4 = n_inputs * l4_input_s / L4_CARDS
    res.update({
        "device": peak_how, "ttt_mode": args.ttt_mode,
        "measured_here": {"ttt_rows": rows_here, "ttt_step_s": step_s, "views": args.views, "test_input_s": input_s,
                          "train_gflops": train_step_flops(cfg, rows_here, canvas) / step_s / 1e9},
        "calibration": {"split_s": split, "matmul_flops": f_here, "elementwise_bytes": b_here, "e_mm": e_mm,
                        "e_ew": e_ew, "launch_us": args.launch_us},
        "per_row_bf16": {f"{k}@{s}": v for (k, s), v in per_row.items()},
        "kernels_per_step": {f"{k}@{s}": v for (k, s), v in kernels.items()},
        "projection": {"tasks": args.tasks, "test_inputs": n_inputs, "shards": n_shards,
                       "ttt_steps_per_shard": args.ttt_steps, "ttt_rows": full["rows"], "l4_step_s": full["l4_step_s"],
                       "l4_test_input_s": l4_input_s, "ttt_s_4xL4": ttt_l4, "inference_s_4xL4": inf_l4,
                       "total_s_4xL4": ttt_l4 + inf_l4}})
    print(f"[bench] {peak_how}")
    print(f"[bench] measured here: TTT ({args.ttt_mode}, {rows_here} rows at the full canvas) {step_s:.3f} s/step "
          f"({res['measured_here']['train_gflops']:.1f} GFLOP/s); inference ({args.views} views x {cfg.halt_max_steps} "
          f"steps) {input_s:.3f} s per test input")
    print(f"[bench] calibration (one step of {rows_here} rows profiled here): matmul {f_here / 1e9:.2f} GFLOP in "
          f"{split['matmul']:.3f} s -> {e_mm:.2f} of peak; elementwise {b_here / 1e9:.2f} GB in "
          f"{split['elementwise']:.3f} s -> {e_ew:.2f} of bandwidth (view ops {split['view']:.3f} s)")
    print(f"[bench] estimated L4 step per bucket side (roofline: {L4_TFLOPS:g} TFLOP/s x {e_mm:.2f}, {L4_GBPS:g} GB/s "
          f"x {e_ew:.2f}, at least {kernels[('train', canvas)]} kernels x {args.launch_us:g} us):")
    for bk in buckets:
        print(f"[bench]   side {bk['side']:2d}: {bk['rows']:4d} rows, {bk['l4_step_s']:.4f} s/step, "
              f"{bk['l4_samples_per_s']:.0f} samples/s")
    print(f"[bench] estimate for {args.tasks} tasks ({n_inputs:.0f} test inputs) on 4 x L4, every grid at the full "
          f"canvas, {full['rows']} rows per TTT step (host work not modelled):")
    print(f"[bench]   TTT {n_shards} shards x {args.ttt_steps} steps: {_hms(ttt_l4)}; inference "
          f"({args.views} views): {_hms(inf_l4)}; total {_hms(ttt_l4 + inf_l4)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
