"""Measure what one machine does with this kit: matmul peak, training steps, data pipeline, inference.

    python -m train.bench --quick                         # smoke test, well under a minute on 2 cores
    python -m train.bench --preset tiny-ref               # the reference's tiny shape (docs/reference.md)
    python -m train.bench --preset paper-arc1 --steps 3 --warmup 1
    python -m train.bench --preset paper-arc1 --device cuda --json bench.json

What is measured, in the order it runs (every number comes from this run, on this machine):
1. Peak: a float32 2048^3 matmul on CPU (bf16 8192^3 on CUDA), median GFLOP/s; the "of peak" figures
   below divide by it, which makes them comparable across noisy runs and machines.
2. Data: the ARC-AGI-1 puzzle set the reference builds (training + evaluation tasks, 1000
   augmentations each): wall time, size of the records, puzzle ids, fp32 puzzle table at hidden 512;
   then Sampler.batch (numba canvas encoding) and batch_to_device throughput.
3. Training on a FIXED full canvas (side = canvas_side) with random tokens: s/step, samples/s,
   tokens/s, analytic GFLOP/step (model.train_step_flops), achieved GFLOP/s, fraction of the peak.
4. Training on the real ARC-AGI-1 distribution: per-bucket canvases as the trainer chooses them,
   batches from the Sampler. Each bucket is timed separately and weighted by its share of the
   samples (the trainer draws bucket b with that probability), which is the expected trainer
   throughput with far less noise than a handful of randomly drawn steps (the full-canvas bucket
   reuses the time of 3, the same shape). The ratio to 3 is the "do less work" speedup.
5. Inference: run_views at the full canvas, samples/s for halt_max_steps supervision steps.

One training "step" is exactly the step of train/__main__.py: act_step + backward + grad clip (when
the preset clips) + AdamAtan2 + sparse_sign_sgd_ on the puzzle table + EMA lerp. CPU timings vary by
+-15% from run to run, and far more while other processes share the cores (each timing prints
its "CPU share": process CPU time / (wall x threads), 1.0 when the cores are ours alone): compare
ratios measured in one run. The reference's own figures (docs/reference.md, "The reference measured
on this project's CPU machine") are printed beside ours for --preset paper-arc1 and tiny-ref on CPU.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import time

import numpy as np
import torch

from submission.data import Sampler, build_puzzle_set, choose_buckets, pair_sides
from submission.engine import AdamAtan2, Carry, act_step, batch_to_device, sparse_sign_sgd_
from submission.inference import make_viewset, run_views
from submission.model import TRM, TRMConfig, VOCAB_SIZE, count_parameters, flops_per_token_block, train_step_flops
from submission.runtime import compute_init, synchronize
from submission.tasks import TaskError, conceptarc_folder, load_tasks, select_tasks
from train.presets import PRESETS

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
parser.add_argument("--compile", action="store_true", help="torch.compile the model (each new canvas side recompiles)")
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
machine = {"device": str(device), "cpu": cpu_name(), "cuda": torch.cuda.get_device_name(device) if on_cuda else None,
           "load_avg_start": os.getloadavg()[0], "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
           "dtype": "bf16 autocast" if compute.autocast_dtype else "float32", "compile": args.compile}
results = {"preset": args.preset, "quick": args.quick, "machine": machine,
           "settings": {"batch": B, "infer_batch": B_inf, "infer_steps": infer_steps, "steps": args.steps,
                        "warmup": args.warmup, "bucket_steps": bucket_steps, "build_aug": args.build_aug, "num_aug": C.num_aug}}
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
def load(specs):
    return [t for spec in specs if spec != "none" for t in select_tasks(load_tasks(spec), max_side=C.max_side)]
if C.data == ["arc1/train"] and C.eval_data == ["arc1/eval"] and C.max_side is None and C.num_aug == args.build_aug:
    train_tasks, eval_tasks, ps = arc1_train, arc1_eval, ps_full
else:
    train_tasks, eval_tasks = load(C.data), load(C.eval_data)
    ps = build_puzzle_set(train_tasks, eval_tasks, C.num_aug, seed=args.seed, keep_black=C.keep_black)
    del ps_full
cfg = TRMConfig(**{k: v for k, v in vars(C).items() if k in TRMConfig.__dataclass_fields__}, num_puzzles=ps.num_puzzles)
buckets = [C.canvas_side] if cfg.fixed_canvas else choose_buckets(pair_sides(ps, C.canvas_side), C.canvas_side, C.max_buckets)
sampler = Sampler(ps, C.canvas_side, buckets, B, seed=args.seed, translate_prob=C.translate_prob)

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
# Fill the rotary cache for every canvas side used below: under torch.compile, a cache insert inside
# forward changes a guarded dict and costs an extra recompile per side. Even so, each canvas side
# compiles once and inference (no_grad) once more: raise dynamo's recompile limit (8) above that,
# or the last buckets and inference would silently run eager.
for side in set(buckets) | {C.canvas_side}:
    raw.rope(side, device)
model = raw
if args.compile:
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, len(buckets) + 4)
    model = torch.compile(raw)
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


# -----------------------------------------------------------------------------
# 3. Training on a fixed full canvas with random tokens.
S = C.canvas_side
g = torch.Generator().manual_seed(args.seed)
fixed = {"tokens": torch.randint(2, VOCAB_SIZE, (B, S * S), generator=g).to(device),     # (B, S*S) colours
         "labels": torch.randint(2, VOCAB_SIZE, (B, S * S), generator=g).to(device),     # (B, S*S)
         "puzzle_ids": torch.randint(1, max(ps.num_puzzles, 2), (B,), generator=g).to(device)}
carry = Carry.empty(raw, B, S, device)
times, share = timed(lambda: train_step(carry, fixed), args.warmup, args.steps)
s_step = statistics.median(times)
flop = train_step_flops(cfg, B, S)
fixed_res = {"side": S, "seq_len": seq_len(S), "batch": B, "s_per_step": s_step, "samples_per_s": B / s_step,
             "tokens_per_s": B * seq_len(S) / s_step, "gflop_per_step": flop / 1e9, "gflops": flop / s_step / 1e9,
             "of_peak": flop / s_step / 1e9 / peak, "step_times": times, "cpu_share": share}
results["train_fixed"] = fixed_res
print(f"\n== 3. training, fixed {S}x{S} canvas ({seq_len(S)} positions), batch {B}, random tokens")
print(f"   {s_step:.4g} s/step (range {min(times):.4g}-{max(times):.4g}), {B / s_step:,.2f} samples/s, "
      f"{B * seq_len(S) / s_step:,.0f} tokens/s; {flop / 1e9:,.1f} GFLOP/step -> {fixed_res['gflops']:,.1f} GFLOP/s "
      f"= {fixed_res['of_peak']:.2f} of peak" + ("" if on_cuda else f"; CPU share {share:.2f}"))
del carry

# -----------------------------------------------------------------------------
# 4. Training on the real ARC-AGI-1 distribution: every bucket timed with Sampler batches, then
#    weighted by the probability that the trainer steps it (its share of the samples).
#    Each other bucket: 1 warm-up step (the first call at a new side) and --bucket-steps timed ones.
#    The full-canvas bucket has the shape of section 3, whose time it takes (the costliest bucket;
#    the content of the tokens does not change the work).
per_bucket = []
for b, side in enumerate(buckets):
    if side == S:
        times, share = fixed_res["step_times"], fixed_res["cpu_share"]
    else:
        carry = Carry.empty(raw, B, side, device)
        # The trainer draws and copies the batch inside its step, so it is timed here too.
        times, share = timed(lambda: train_step(carry, batch_to_device(sampler.batch(b), device)), min(args.warmup, 1), bucket_steps)
        del carry
    per_bucket.append({"side": side, "share": float(sampler.bucket_weight[b]), "seq_len": seq_len(side),
                       "s_per_step": statistics.median(times), "gflop_per_step": train_step_flops(cfg, B, side) / 1e9,
                       "from_fixed": side == S, "step_times": times, "cpu_share": share})
w = np.asarray([r["share"] for r in per_bucket])
s_step_real = float(w @ [r["s_per_step"] for r in per_bucket])       # expected s per trainer step
flop_real = float(w @ [r["gflop_per_step"] for r in per_bucket])     # expected GFLOP per trainer step
mean_len = float(w @ [r["seq_len"] for r in per_bucket])             # padded positions per sample
# The positions a sample needs without buckets: its own side (grid + EOS), plus the prefix.
natural_len = float(np.mean(C.puzzle_emb_len + sampler.pair_side.astype(np.float64) ** 2))
real_res = {"batch": B, "buckets": per_bucket, "s_per_step": s_step_real, "samples_per_s": B / s_step_real,
            "tokens_per_s": B * mean_len / s_step_real, "mean_seq_len": mean_len, "natural_seq_len": natural_len,
            "gflop_per_step": flop_real, "gflops": flop_real / s_step_real, "of_peak": flop_real / s_step_real / peak,
            "speedup_vs_fixed": fixed_res["s_per_step"] / s_step_real,
            "analytic_speedup": fixed_res["gflop_per_step"] / flop_real}
results["train_real"] = real_res
print(f"\n== 4. training, real ARC-AGI-1 distribution ({len(sampler.pair_side):,} training pairs), batch {B}, "
      f"{bucket_steps} timed steps per bucket")
print("   side  share  positions  s/step   GFLOP/step  CPU share")
for r in per_bucket:
    print(f"   {r['side']:4d}  {r['share']:.3f}  {r['seq_len']:9d}  {r['s_per_step']:7.4g}  {r['gflop_per_step']:9.2f}"
          f"  {r['cpu_share']:9.2f}"
          + ("  (section 3's time)" if r["from_fixed"] else ""))
print(f"   expected {s_step_real:.4g} s/step, {real_res['samples_per_s']:,.2f} samples/s, "
      f"{real_res['tokens_per_s']:,.0f} tokens/s, {real_res['gflops']:,.1f} GFLOP/s = {real_res['of_peak']:.2f} of peak")
print(f"   mean positions per sample {mean_len:.1f} (needed without buckets {natural_len:.1f}, fixed canvas {seq_len(S)}); "
      f"samples/s vs the fixed canvas: {real_res['speedup_vs_fixed']:.2f}x measured, "
      f"{real_res['analytic_speedup']:.2f}x by FLOPs")

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
print(f"\n== 5. inference, {S}x{S} canvas, batch {B_inf}, {C.halt_max_steps} supervision steps per sample"
      + (f" (timed {infer_steps}, scaled)" if infer_steps < C.halt_max_steps else ""))
print(f"   {infer_res['samples_per_s']:,.4g} samples/s ({infer_res['s_per_sample']:.3g} s per sample), "
      f"{infer_res['gflops']:,.1f} GFLOP/s = {infer_res['of_peak']:.2f} of peak"
      + ("" if on_cuda else f"; CPU share {inf_share:.2f}"))

# -----------------------------------------------------------------------------
# Summary, and the reference's figures beside ours where docs/reference.md has the same configuration.
print(f"\n== summary: {args.preset} on {machine['cuda'] or machine['cpu']}, {machine['threads']} threads, torch {machine['torch']}")
rows = [("matmul peak GFLOP/s", f"{peak:,.1f}"),
        (f"train fixed {S}x{S}: s/step (batch {B})", f"{fixed_res['s_per_step']:.4g}"),
        ("train fixed: samples/s", f"{fixed_res['samples_per_s']:,.3f}"),
        ("train fixed: GFLOP/s (of peak)", f"{fixed_res['gflops']:,.1f} ({fixed_res['of_peak']:.2f})"),
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
           (f"train fixed canvas samples/s (batch {ref['batch']}|{B})", r["samples_per_s"], fixed_res["samples_per_s"]),
           ("train fixed canvas fraction of peak", r["of_peak"], fixed_res["of_peak"]),
           ("train real ARC-AGI-1 samples/s vs ref fixed", r["samples_per_s"], real_res["samples_per_s"]),
           (f"inference samples/s (batch {ref['infer_batch']}|{B_inf})", r["infer_samples_per_s"], infer_res["samples_per_s"])]
    if args.build_aug == 1000:
        cmp.append(("ARC-AGI-1 build wall s", REFERENCE["build"]["wall_s"], build_s))
    for k, theirs, ours in cmp:
        print(f"   {k:<42} {theirs:>11.4g} {ours:>11.4g} {ours / theirs:>8.3g}x")
    print(f"   peak-normalised training (our of-peak / theirs): fixed {fixed_res['of_peak'] / r['of_peak']:.2f}x, "
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
