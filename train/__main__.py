"""Pretrain a Tiny Recursive Model on ARC tasks.

    python -m train                                   # cpu-small preset on built-in defaults
    python -m train --preset paper-arc1 --out runs/arc1
    torchrun --nproc_per_node 4 -m train --preset paper-arc1 --out runs/arc1

Every pair of the --data tasks is trained on. The --eval-data tasks contribute their demonstrations
to training and have their test pairs held out and scored (pass@1 / pass@2 by voting over
augmented views): the paper's protocol. Reads top to bottom: arguments, compute, data, model,
optimizers, resume, loop. Checkpoints: OUT/last (resumable, with optimizer and trainer state) and
OUT/best (best held-out pass@2 so far); OUT/metrics.jsonl has one JSON object per logged step. The
rule baselines (offline_eval/baselines.py) are scored once on the held-out tasks ("event": "baselines")
and every evaluation reports its margin over the best of them and which tasks only it, only a rule,
or both solve.
"""
import argparse
import hashlib
import inspect
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from offline_eval.baselines import compare, margin_line, marks_line, rules_line, score_baselines, summary_fields
from submission.checkpoint import FORMAT, load_file, load_meta, resolve_checkpoint, save_checkpoint, write_json
from submission.data import Sampler, build_puzzle_set, choose_buckets, pair_sides, predict_side, token_budget_rows
from submission.engine import AdamAtan2, Carry, act_step, batch_to_device, lr_at, sparse_sign_sgd_
from submission.inference import predict_items, solved_at, task_views
from submission.model import TRM, TRMConfig, count_parameters, train_step_flops
from submission.runtime import compute_cleanup, compute_init, print0
from submission.tasks import ContentIndex, TaskError, add_task_selection_args, select_tasks
from train.presets import PRESETS
from train.taskspec import content_record, load_tasks, record_index

# -----------------------------------------------------------------------------
# Arguments: a preset fills every default; flags given on the command line win.
parser = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
g = parser.add_argument_group("run")
g.add_argument("--preset", default="cpu-small", choices=sorted(PRESETS), help="named settings (train/presets.py)")
g.add_argument("--data", action="append", help="task spec(s) trained on entirely: arc1/train, arc2/train, a folder, a challenges .json, SPEC:dev or SPEC:test (a fixed half, train/splits.py) (repeatable; 'none' for none)")
g.add_argument("--eval-data", action="append", help="task spec(s) whose demonstrations are trained on and test pairs held out and scored, e.g. arc1/eval:dev; each evaluation prints its margin over the rule baselines (repeatable; 'none' for no held-out set)")
g.add_argument("--exclude", action="append", metavar="SPEC",
               help="leave out every --data and --eval-data task that a task of SPEC duplicates or shares a "
                    "demonstration pair or test input with (or holds by id): a pretraining kept free of tasks to "
                    "be scored later, e.g. --data arc2/train --exclude arc1/eval (375 ARC-AGI-2 training tasks are "
                    "ARC-AGI-1 evaluation tasks); each task left out is named (repeatable)")
g.add_argument("--out", default="runs/cpu-small", help="run folder: metrics.jsonl, last/, best/")
g.add_argument("--max-minutes", type=float, default=None, help="end cleanly (evaluate + checkpoint) after this many minutes")
g.add_argument("--resume", action="store_true", help="continue from OUT/last exactly")
g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
g.add_argument("--compile", action="store_true",
               help="torch.compile the model's supervision step, batch and sequence axes dynamic: one compile "
                    "for training and one for evaluation, whatever the buckets (off by default: see docs/benchmarks.md)")
g.add_argument("--compile-static", action="store_true",
               help="with --compile: one graph per canvas side instead (each side compiles on first use)")
g.add_argument("--seed", type=int, default=0)
g.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
g.add_argument("--encoder-steps", type=int, default=0,
               help="after training, fit the demonstration encoder (train/encoder.py) for this many steps into "
                    "best/ and last/, for the Kaggle entry's new puzzle rows (--row-init auto uses it when present; default 0: none)")
add_task_selection_args(parser, first_help="keep only the first K --data tasks and the first K --eval-data tasks "
                        "after the other filters, each counted over all their specs in order (so at most 2K tasks)")
FLAG_HELP = {
    "pos_encoding": "rope2d (row/column rotary), rope1d (the reference's, full canvas) or rope2d-d8 (a kit addition: "
                    "each head's keys at a dihedral image of their cell in the input grid; submission/model.py d8_rope)",
    "edge_features": "F > 0: each cell's distances to the input grid's edges as F sinusoids (a kit addition; 0: off)",
    "eval_every": "steps between held-out evaluations (0: only at the end)",
    "checkpoint_every": "steps between last/ checkpoints (0: only at the end)",
    "puzzle_lr": "sign-SGD step of the puzzle rows",
    "translate_prob": "with --translate-mode fresh: the probability that a sample is moved (refused with fixed, "
                      "which moves every pair of a puzzle but one; the paper presets keep 0.76 / 0.77, the share "
                      "fixed moves on their data, for --translate-mode fresh)",
}
g = parser.add_argument_group("model (preset defaults)")
for name, typ in [("hidden_size", int), ("num_heads", int), ("mlp_inner", int), ("num_layers", int), ("H_cycles", int),
                  ("L_cycles", int), ("halt_max_steps", int), ("halt_exploration_prob", float),
                  ("puzzle_emb_len", int), ("canvas_side", int), ("mixer", str), ("pos_encoding", str),
                  ("edge_features", int)]:
    g.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, help=FLAG_HELP.get(name))
g.add_argument("--eos-corner", dest="eos_corner", choices=["on", "off"], default=None,
               help="canvas layout: on marks the EOS cell diagonal to the grid (the kit's first layout), off leaves "
                    "it PAD (the reference's; the paper presets)")
g = parser.add_argument_group("recipes of later recursive models (off by default; README, Recipes)")
g.add_argument("--mlp-conv", dest="mlp_conv", choices=["none", "1d", "2d"], default=None,
               help="a depthwise conv on the block MLP's gated product, then SiLU, before the down projection. "
                    "1d: URM's ConvSwiGLU (arXiv 2512.14693), causal along the flattened sequence, so a cell mixes "
                    "with its left neighbour; 2d: a kit variant over the canvas grid (k x k neighbours), the prefix "
                    "passed through. Starts as the identity. Default none")
g.add_argument("--mlp-conv-kernel", dest="mlp_conv_kernel", type=int, default=None,
               help="taps of the 1d conv (default 2, URM's) or side of the 2d one (odd; default 3)")
g.add_argument("--grad-updates", dest="grad_updates", type=int, default=None,
               help="K: only the last K of the H_cycles x (L_cycles + 1) net calls of a supervision step carry "
                    "gradients, the first run forward only (URM's truncated backprop through loops, arXiv "
                    "2512.14693; its best split leaves ~25%% gradient-free). 0 (default): the last cycle's "
                    "L_cycles + 1, TRM's")
g.add_argument("--dis-steps", dest="dis_steps", type=int, default=None,
               help="N > 0: deep improvement supervision (arXiv 2511.16886): every sample runs exactly N "
                    "supervision steps (no halting; sets --halt-max-steps N), step k trained on the input with "
                    "a random floor(k/N) of the output's differing cells switched to the output; inference runs "
                    "N steps. 0 (default): TRM's ACT halting")
g.add_argument("--dis-input", dest="dis_input", choices=["input", "prediction"], default=None,
               help="with --dis-steps, what steps 2..N read: input (default; the task's input again, as the DIS "
                    "paper's pseudocode) or prediction (the previous step's argmax answer, as the DIS code)")
g.add_argument("--step-embedding", dest="step_embedding", choices=["on", "off"], default=None,
               help="a learned embedding of the supervision step added to every position's input (DIS's step "
                    "conditioning). Default: on with --dis-steps, else off")
g = parser.add_argument_group("optimisation (preset defaults)")
for name, typ in [("global_batch_size", int), ("batch_tokens", int), ("lr", float), ("puzzle_lr", float), ("weight_decay", float),
                  ("puzzle_weight_decay", float), ("warmup_steps", int), ("lr_min_ratio", float), ("grad_clip", float),
                  ("ema", float), ("steps", int), ("num_aug", int), ("translate_prob", float), ("max_buckets", int),
                  ("eval_every", int), ("eval_views", int), ("log_every", int), ("checkpoint_every", int)]:
    g.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, help=FLAG_HELP.get(name))
g.add_argument("--translate-mode", dest="translate_mode", choices=["fresh", "fixed"], default=None,
               help="fresh: each sample moved with probability --translate-prob by an offset drawn afresh (a kit "
                    "choice); fixed: every pair of an augmented puzzle but one moved by an offset drawn once (the "
                    "reference's rule; the paper presets). Both within the bucket's slack")
args = parser.parse_args()
cfg_run = dict(PRESETS[args.preset])
if args.translate_prob is not None and (args.translate_mode or cfg_run["translate_mode"]) == "fixed":
    # The fixed rule (the reference's) has no probability: refused rather than silently ignored.
    parser.error("--translate-prob applies to --translate-mode fresh only; "
                 + ("--translate-mode fixed" if args.translate_mode else f"preset {args.preset}'s --translate-mode fixed")
                 + " moves every pair of a puzzle but one (use --translate-mode fresh to move each sample with a probability)")
for k, v in vars(args).items():
    if k not in ("data", "eval_data") and (v is not None or k not in cfg_run):
        cfg_run[k] = v
if args.data:
    cfg_run["data"] = args.data
if args.eval_data:
    cfg_run["eval_data"] = args.eval_data
if isinstance(cfg_run.get("eos_corner"), str):
    cfg_run["eos_corner"] = cfg_run["eos_corner"] == "on"
# The recipes' defaults, resolved so the values used are recorded (meta.json args and model_config).
if cfg_run["mlp_conv_kernel"] is None:
    cfg_run["mlp_conv_kernel"] = 3 if cfg_run["mlp_conv"] == "2d" else 2
if cfg_run["dis_steps"]:
    if args.halt_max_steps is not None and args.halt_max_steps != cfg_run["dis_steps"]:
        sys.exit(f"error: --dis-steps {cfg_run['dis_steps']} runs exactly that many supervision steps; "
                 f"drop --halt-max-steps {args.halt_max_steps}")
    cfg_run["halt_max_steps"] = cfg_run["dis_steps"]
if cfg_run["step_embedding"] is None:
    cfg_run["step_embedding"] = bool(cfg_run["dis_steps"])
elif isinstance(cfg_run["step_embedding"], str):
    cfg_run["step_embedding"] = cfg_run["step_embedding"] == "on"
C = argparse.Namespace(**cfg_run)  # the settings actually used
out_dir = Path(C.out)

# -----------------------------------------------------------------------------
# Compute: device, dtype, distributed.
compute = compute_init(C.device)
device, master = compute.device, compute.master
torch.manual_seed(C.seed)
if C.global_batch_size % compute.world_size:
    sys.exit(f"--global-batch-size {C.global_batch_size} is not divisible by the world size {compute.world_size}")
B = C.global_batch_size // compute.world_size  # rows per process

# -----------------------------------------------------------------------------
# Data: tasks -> puzzle ids (task x augmentation) -> per-bucket sample streams.
t0 = time.time()
spec_of = {}  # task id -> the spec it came from (for messages)
excluded = None  # --exclude: a ContentIndex of the tasks to keep out of this run, in any role
if C.exclude:
    try:
        excluded_tasks = [t for spec in C.exclude for t in load_tasks(spec)]
    except TaskError as e:
        sys.exit(f"error: --exclude: {e}")
    excluded = ContentIndex.of(excluded_tasks)
    excluded_ids = {t.id for t in excluded_tasks}
excluded_here = {}  # task id -> why --exclude left it out
def load(specs, test_outputs):
    """--max-side reads the demonstrations and test inputs only: the held-out tasks are chosen without
    their answers (a held-out answer larger than the canvas then counts as unsolved). The tasks trained
    on entirely also train on their test outputs, so those must fit too (test_outputs=True).
    --first K keeps the first K tasks of all the specs together, in their order."""
    out = []
    for spec in specs:
        if spec == "none":
            continue
        try:
            tasks = load_tasks(spec)
            # --tasks may name ids of several specs: each spec selects the ids it holds (none: it adds
            # nothing); ids no spec holds are reported below.
            ids = [i for i in C.tasks if i in {t.id for t in tasks}] if C.tasks else None
            tasks = [] if ids == [] else select_tasks(tasks, max_side=C.max_side, task_ids=ids,
                                                      test_outputs=test_outputs)
        except TaskError as e:
            sys.exit(f"error: {e}")
        if excluded is not None:
            why = {t.id: ("the same id" if t.id in excluded_ids else excluded.match(t)) for t in tasks}
            why = {tid: w for tid, w in why.items() if w}
            if why:
                print0(f"[data] --exclude: {len(why)} task(s) of {spec} left out, e.g. "
                       + ", ".join(f"{tid} ({w})" for tid, w in list(why.items())[:5]))
            tasks = [t for t in tasks if t.id not in why]
            excluded_here.update(why)
        out += tasks
        spec_of.update({t.id: spec for t in tasks})
    if C.first is not None:
        if C.first < 0:
            sys.exit(f"error: --first must be >= 0, got {C.first}")
        out = out[:C.first]
    return out
train_tasks, eval_tasks = load(C.data, test_outputs=True), load(C.eval_data, test_outputs=False)
if C.tasks:
    keep = set(C.tasks)  # already a list of ids (add_task_selection_args parses "a,b,c")
    missing = keep - {t.id for t in train_tasks + eval_tasks} - set(excluded_here)  # those were named above
    if missing:
        sys.exit(f"error: --tasks: unknown ids {sorted(missing)}")
if not train_tasks and not eval_tasks:
    sys.exit("error: no tasks selected (check --data/--eval-data and the selection options)")
eval_ids = {t.id for t in eval_tasks}
overlap = eval_ids & {t.id for t in train_tasks}
if overlap:
    sys.exit(f"error: {len(overlap)} held-out task(s) also in --data (e.g. {sorted(overlap)[:3]}): their test pairs would be trained on")
# A held-out task whose content a --data task holds under another id (ARC-AGI-1 evaluation 070dd51e is
# training 40853293), or shares a pair or a test input with one, would be scored on what is trained on:
# it is left out, by name.
trained_index = record_index(content_record(train_tasks, [])["trained"])
left_out = {t.id: match for t in eval_tasks if (match := trained_index.match(t))}
for tid, match in left_out.items():
    print0(f"[data] held-out task {tid} left out: --data task {match}, so its test pairs would be scored on what is trained on")
eval_tasks = [t for t in eval_tasks if t.id not in left_out]
eval_ids = {t.id for t in eval_tasks}
content = content_record(train_tasks, eval_tasks)  # meta.json["content"]: what this run trains on, by content

# Every grid the compiled encoder will see must fit the canvas: every grid of the --data tasks, the
# demonstrations and test inputs of the --eval-data tasks (a held-out answer is never encoded: one
# larger than the canvas counts as unsolved). Refused here, before anything is built: a user who asked
# for these tasks (--max-side above the canvas, or a canvas below a task) would not expect them dropped.
def largest_grid(task, test_outputs: bool) -> tuple:
    grids = [g for pair in task.train for g in pair] + list(task.test_inputs)
    grids += list(task.test_outputs or []) if test_outputs else []
    return max(grids, key=lambda g: max(g.shape)).shape
too_large = [(t, largest_grid(t, kind == "--data"), kind)
             for kind, tasks in (("--data", train_tasks), ("--eval-data", eval_tasks)) for t in tasks
             if t.max_side(kind == "--data") > C.canvas_side]
if too_large:
    need = max(max(shape) for _, shape, _ in too_large)
    some = "; ".join(f"task {t.id!r} ({kind} {spec_of[t.id]}) has a {h}x{w} grid" for t, (h, w), kind in too_large[:3])
    sys.exit(f"error: {len(too_large)} selected task(s) have grids larger than the {C.canvas_side}x{C.canvas_side} "
             f"canvas (--canvas-side {C.canvas_side}{'' if args.canvas_side else ', preset ' + C.preset}): {some}"
             f"{'; ...' if len(too_large) > 3 else ''}; pass --max-side {C.canvas_side} to leave such tasks out, or "
             f"--canvas-side {need} to train on them (--data tasks count every grid, --eval-data tasks their "
             f"demonstrations and test inputs)")
ps = build_puzzle_set(train_tasks, eval_tasks, C.num_aug, seed=C.seed, keep_black=C.keep_black)
if C.mixer == "mlp" or C.pos_encoding == "rope1d":
    buckets = [C.canvas_side]  # fixed canvas
else:
    buckets = choose_buckets(pair_sides(ps, C.canvas_side), C.canvas_side, C.max_buckets)
# Rows per step for each bucket: --global-batch-size rows everywhere, or rows sized so that every
# bucket's step holds about --batch-tokens positions (small canvases take more rows). Every rank
# takes the same rows of the same bucket at each step (bucket_seed is shared), so the global batch
# of a step is rows[b] whatever the rank, and DDP's average is the mean over all its rows.
if C.batch_tokens:
    global_rows = token_budget_rows(buckets, C.puzzle_emb_len, C.batch_tokens, compute.world_size)
else:
    global_rows = [C.global_batch_size] * len(buckets)
rows = [r // compute.world_size for r in global_rows]  # per process
# One global sample stream (the reference's rule): every rank draws the step's rows with the same
# seed and keeps its slice, so the samples of a run do not depend on the number of processes.
def make_sampler(seed: int, bucket_seed: int) -> Sampler:
    return Sampler(ps, C.canvas_side, buckets, rows, seed=seed, translate_prob=C.translate_prob, bucket_seed=bucket_seed,
                   rank=compute.rank, world_size=compute.world_size, translate_mode=C.translate_mode,
                   translate_seed=C.seed, eos_corner=C.eos_corner)
sampler = make_sampler(C.seed * 1000, C.seed)
n_pairs = len(ps.pair_in)
print0(f"[data] {len(train_tasks)} training tasks + {len(eval_tasks)} held-out tasks ({len(ps.heldout_in)} held-out test pairs), "
       f"{n_pairs} training pairs, {ps.num_puzzles} puzzle ids, buckets {buckets} "
       f"(shares {np.round(sampler.bucket_weight, 3).tolist()}), built in {time.time() - t0:.1f}s")
seq = [C.puzzle_emb_len + s * s for s in buckets]
carry_gb = sum(r * L for r, L in zip(rows, seq)) * C.hidden_size * 4 * 2 / 1e9  # y and z, float32
print0(f"[batch] global rows per step by bucket {global_rows} "
       + (f"(token budget {C.batch_tokens:,}: tokens per step {[r * L for r, L in zip(global_rows, seq)]})"
          if C.batch_tokens else f"(fixed: --global-batch-size {C.global_batch_size})")
       + f"; ACT carries {carry_gb:.2f} GB per process")

# -----------------------------------------------------------------------------
# Model, EMA and optimizers.
mcfg = TRMConfig(**{k: cfg_run[k] for k in TRMConfig.__dataclass_fields__ if k in cfg_run}, num_puzzles=ps.num_puzzles)
try:
    raw = TRM(mcfg).to(device)
except ValueError as e:
    sys.exit(f"error: {e}")
model = raw
if C.compile:
    # The rotary tables are looked up outside the compiled step, so a canvas side is a size, not
    # a graph: with dynamic axes, one compile for training and one for no-grad; static, one per side.
    if C.compile_static:
        raw.allow_graphs(2 * len(buckets) + 2)
    raw.compile_step(dynamic=not C.compile_static)
    print0(f"[compile] supervision step compiled on first use ({'one graph per canvas side' if C.compile_static else 'batch and sequence axes dynamic'})")
if compute.distributed:
    # Buffers (the puzzle table, rotary tables) are kept equal by our own updates, not by DDP: no
    # per-forward buffer broadcast. Newer torch names that option forward_sync_buffers.
    ddp_params = inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
    no_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in ddp_params else {"broadcast_buffers": False}
    model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                                      **no_sync)
param_names = {p: n for n, p in raw.named_parameters()}
opt = AdamAtan2(raw.parameters(), lr=C.lr, betas=(0.9, 0.95), weight_decay=C.weight_decay)
ema = {n: p.detach().clone().float() for n, p in raw.named_parameters()} if C.ema else None
eval_model = TRM(mcfg).to(device) if ema else raw  # holds EMA weights during evaluation
explore_gen = torch.Generator(device=device)
explore_gen.manual_seed(C.seed * 7919 + compute.rank)
carries = [Carry.empty(raw, rows[b], s, device) for b, s in enumerate(buckets)]
recipes = [f"mlp conv {mcfg.mlp_conv} k={mcfg.mlp_conv_kernel}" if mcfg.mlp_conv != "none" else "",
           f"gradients through the last {mcfg.grad_updates} of {mcfg.H_cycles * (mcfg.L_cycles + 1)} net calls" if mcfg.grad_updates else "",
           f"deep improvement supervision, {mcfg.dis_steps} steps" if mcfg.dis_steps else "",
           "step embedding" if mcfg.step_embedding else ""]
print0(f"[model] {count_parameters(raw):,} parameters + puzzle table {tuple(raw.puzzle_emb.shape)}; "
       f"T={mcfg.H_cycles} n={mcfg.L_cycles} steps={mcfg.halt_max_steps} canvas {mcfg.canvas_side} {mcfg.mixer}/{mcfg.pos_encoding}"
       + "".join(f"; {r}" for r in recipes if r))

# -----------------------------------------------------------------------------
# Resume: weights, optimizer, carries, sampler and RNG state, so the next losses match exactly.
# On another number of processes the sample stream still continues exactly (it is global: every rank
# holds the same state), while the per-rank state (ACT carries, exploration RNG) has no exact
# counterpart: carries start empty and the exploration RNG is re-derived from (seed, rank, step).
start_step, best, elapsed_before = 0, -1.0, 0.0
if C.resume:
    try:
        last = resolve_checkpoint(out_dir / "last")
    except FileNotFoundError:
        sys.exit(f"error: --resume: no checkpoint in {out_dir / 'last'} (run without --resume to start afresh)")
    meta = load_meta(last)
    if meta.get("format") != FORMAT:
        sys.exit(f"error: {last} was written in checkpoint format {meta.get('format')!r}; this kit writes {FORMAT!r} "
                 f"and resumes only its own format exactly (the checkpoint still loads for inference and TTT)")
    w = load_file(last / "model.safetensors", device)
    w["puzzle_emb"] = load_file(last / "puzzles.safetensors", device)["puzzle_emb"]
    raw.load_state_dict(w)
    if ema:
        loaded = load_file(last / "ema.safetensors", device)
        ema = {n: loaded[n].float() for n in ema}  # keep parameter order for the fused lerp
    st = load_file(last / "optimizer.safetensors")
    opt.load_state_tensors(st, param_names)
    js = json.loads((last / "train_state.json").read_text())
    start_step, best, elapsed_before = meta["step"], meta.get("best_pass2", -1.0), meta.get("elapsed_s", 0.0)
    saved_world = int(meta.get("world_size", 1))
    if bool(meta.get("model_config", {}).get("eos_corner", True)) != C.eos_corner:  # a meta without it: the first layout
        print0(f"[resume] canvas layout changes: {last} was trained with eos_corner "
               f"{not C.eos_corner}, this run continues with {C.eos_corner} (--eos-corner {'off' if C.eos_corner else 'on'} keeps it)")
    # Carries and sample queues are kept per bucket: only the same buckets on the same number of
    # processes continue them; otherwise the run continues as on another GPU count (below).
    saved_buckets = list(js["sampler"][0]["buckets"])
    if saved_world == compute.world_size and saved_buckets == sampler.buckets:
        r = compute.rank
        carries = [Carry.from_tensors(st, f"r{r}.carry{b}", device) for b in range(len(buckets))]
        if [c.steps.shape[0] for c in carries] != rows:
            sys.exit(f"error: {last} holds carries of {[c.steps.shape[0] for c in carries]} rows per bucket; this run "
                     f"asks for {rows}: resume with the same --global-batch-size / --batch-tokens")
        # An older kit's ranks each kept their own stream: every rank continues rank 0's, sliced.
        per_rank = saved_world > 1 and js["sampler"][0].get("stream") != "global"
        src = 0 if per_rank else r
        sampler.load_state({k[len(f"r{src}."):]: v.numpy() for k, v in st.items() if k.startswith(f"r{src}.sampler.")},
                           js["sampler"][src])  # same buckets (above) and rows per bucket (the carries): it fits
        explore_gen.set_state(st[f"r{r}.explore_rng"].to(torch.uint8).cpu())
        print0(f"[resume] from {last} at step {start_step}" + (
            ": its ranks kept their own sample streams (an older kit); every rank now continues rank 0's "
            "stream as one global stream" if per_rank else ""))
    else:
        # Empty carries (every row starts a new sample at the next step, as at step 0). The stream
        # continues from rank 0's state when it is a global one of the same global rows (every rank
        # of this kit writes the same; a one-process stream is global too); else a fresh one.
        sj = dict(js["sampler"][0])
        if saved_world == 1 and "batch_sizes" in sj:
            sj.setdefault("global_batch_sizes", sj["batch_sizes"])  # one process: its rows were the global rows
        try:
            if not (saved_world == 1 or sj.get("stream") == "global"):
                raise ValueError(f"its {saved_world} processes each kept their own sample stream (an older kit)")
            if "global_batch_sizes" not in sj:
                raise ValueError("its sampler state does not record its rows per bucket (an older kit)")
            sampler.load_state({k[len("r0."):]: v.numpy() for k, v in st.items() if k.startswith("r0.sampler.")}, sj)
            stream = "the sample stream continues exactly"
        except ValueError as e:
            sampler = make_sampler(int(np.random.SeedSequence([C.seed, start_step]).generate_state(1)[0]),
                                   int(np.random.SeedSequence([C.seed, start_step, 1]).generate_state(1)[0]))
            stream = f"the sample stream is drawn afresh ({e})"
        explore_gen.manual_seed(int(np.random.SeedSequence([C.seed, compute.rank, start_step]).generate_state(1)[0]))
        changed = (f"written by {saved_world} process(es), now {compute.world_size}" if saved_world != compute.world_size
                   else f"its canvas buckets were {saved_buckets}, now {sampler.buckets} (--max-buckets "
                        f"{meta.get('args', {}).get('max_buckets')} keeps them)")
        print0(f"[resume] from {last} at step {start_step}: {changed}. Weights, EMA, optimizer, step and schedule "
               f"continue exactly, and {stream}; "
               f"ACT carries start empty and each rank's exploration RNG is re-derived (seed, rank, step)")

# -----------------------------------------------------------------------------
# Helpers used by the loop: evaluation, checkpoint writing.
items, item_views, item_sides, item_truth, item_task = [], [], [], [], []
task_index = {tid: i for i, tid in enumerate(ps.task_ids)}
for task in eval_tasks:
    ti = task_index[task.id]
    for k, test_in in enumerate(task.test_inputs):
        if task.test_outputs is None:
            continue
        items.append(test_in)
        item_views.append(task_views(ps.dihedrals, ps.colours, int(ps.task_base[ti]), int(ps.task_count[ti]), C.eval_views))
        item_sides.append(predict_side(mcfg, task.train, test_in))  # the entry's rule: full canvas when fixed
        item_truth.append(task.test_outputs[k])
        item_task.append(task.id)
# The rule baselines on the held-out tasks, once: every evaluation prints its margin over the best.
scored_tasks = [t for t in eval_tasks if t.test_outputs is not None]
rule_scores = score_baselines(scored_tasks) if scored_tasks else None


def evaluate() -> dict:
    """pass@1 / pass@2 on the held-out test pairs with the EMA weights. Every rank predicts its strided
    share of the test inputs (items rank, rank + W, ...) at once and the per-item results are gathered,
    so under torchrun no rank waits out a whole evaluation in a collective (whose timeout is
    $TRM_COLLECTIVE_TIMEOUT_MIN, 60 minutes by default) and every rank returns the same figures."""
    if ema:
        eval_model.load_state_dict({**ema, "puzzle_emb": raw.puzzle_emb, "y_init": raw.y_init, "z_init": raw.z_init}, strict=False)
        eval_model.puzzle_emb = raw.puzzle_emb
    eval_model.eval()
    mine = list(range(compute.rank, len(items), compute.world_size))
    results = {}  # item index -> (solved at 1, solved at 2, the top two answers as lists)
    if mine:
        res = predict_items(eval_model, [items[i] for i in mine], [item_views[i] for i in mine],
                            [item_sides[i] for i in mine], device, compute.autocast(), batch_size=max(B, 64), halt="all")
        for i, ranked in zip(mine, res["ranked"]):
            results[i] = (solved_at(ranked, item_truth[i], 1), solved_at(ranked, item_truth[i], 2),
                          [c.grid.tolist() for c in ranked[:2]])
    shares = [len(mine)]
    if compute.distributed:
        gathered = [None] * compute.world_size
        dist.all_gather_object(gathered, results)
        results = {i: v for part in gathered for i, v in part.items()}
        shares = [len(part) for part in gathered]
    # Per-task score = fraction of its test outputs solved, averaged over tasks (ARC Prize's rule).
    per_task: dict = {}
    for i, tid in enumerate(item_task):
        per_task.setdefault(tid, []).append(results[i][:2])
    pass1 = float(np.mean([np.mean([a for a, _ in v]) for v in per_task.values()]))
    pass2 = float(np.mean([np.mean([b for _, b in v]) for v in per_task.values()]))
    # A fingerprint of every answer given, in item order: two evaluations of the same weights agree on
    # it whatever the number of processes (tests/test_train.py checks that on the CPU), unless float
    # rounding that depends on how the inputs are batched flips an answer.
    answers = hashlib.sha1(json.dumps([results[i][2] for i in range(len(items))]).encode()).hexdigest()
    return {"pass1": pass1, "pass2": pass2, "eval_tasks": len(per_task), "eval_outputs": len(items),
            "solved_tasks": sorted(t for t, v in per_task.items() if all(b for _, b in v)),
            "task_pass2": {t: float(np.mean([b for _, b in v])) for t, v in per_task.items()},
            "answers_sha1": answers, "eval_sides": sorted(set(item_sides)), "eval_items_per_rank": shares}


def run_meta(step: int, metrics: dict, elapsed: float) -> dict:
    return {"preset": C.preset, "args": {k: v for k, v in cfg_run.items()}, "step": step, "elapsed_s": elapsed,
            "metrics": metrics, "best_pass2": best, "data": {"train": C.data, "eval": C.eval_data,
            "max_side": C.max_side, "train_tasks": len(train_tasks), "heldout_tasks": sorted(eval_ids),
            "heldout_left_out": left_out}, "content": content,
            "buckets": buckets, "bucket_rows": global_rows, "puzzle_map": ps.puzzle_map(), "world_size": compute.world_size,
            "device": str(device), "torch": torch.__version__}


def save(folder: str, step: int, metrics: dict, elapsed: float, resumable: bool):
    """Gather every rank's trainer state, then rank 0 writes the folder."""
    state, js = {}, None
    if resumable:
        mine = {k: v for b in range(len(buckets)) for k, v in carries[b].tensors(f"carry{b}").items()}
        arrays, sj = sampler.state()
        mine.update({k: torch.from_numpy(v) for k, v in arrays.items()})
        mine["explore_rng"] = explore_gen.get_state()
        if compute.distributed:
            gathered = [None] * compute.world_size
            dist.all_gather_object(gathered, ({k: v.cpu() for k, v in mine.items()}, sj))
        else:
            gathered = [(mine, sj)]
        for r, (m, _) in enumerate(gathered):
            state.update({f"r{r}.{k}": v for k, v in m.items()})
        state.update(opt.state_tensors(param_names))
        js = {"sampler": [s for _, s in gathered]}
    if master:
        rec = {"dihedrals": ps.dihedrals, "colours": ps.colours}
        save_checkpoint(out_dir / folder, raw, run_meta(step, metrics, elapsed), ema=ema, puzzle_records=rec,
                        optimizer_state=state if resumable else None, train_state=js)


# -----------------------------------------------------------------------------
# Training loop: evaluate and save at the top of an iteration; the step itself is fenced below.
out_dir.mkdir(parents=True, exist_ok=True)
metrics_file = open(out_dir / "metrics.jsonl", "a") if master else None
def log(obj):
    if master:
        metrics_file.write(json.dumps(obj) + "\n")
        metrics_file.flush()

# The rule baselines on the held-out tasks, logged once; each evaluation logs its margin over the best.
if rule_scores is not None:
    c = compare({}, scored_tasks, rule_scores)
    log({"step": start_step, "event": "baselines", "eval_tasks": c["n_tasks"], "best_rule": c["best_rule"],
         "best_rule_score": round(c["best_score"], 4), "baselines": {n: round(r["score"], 4) for n, r in c["rules"].items()},
         "baselines_solved": {n: r["solved"] for n, r in c["rules"].items()}})
    print0(f"[baselines] {rules_line(c)}; best: {c['best_rule']} {c['best_score']:.3f}")

bar = None
if master and not C.no_progress:
    try:
        from tqdm import tqdm
        bar = tqdm(total=C.steps, initial=start_step, dynamic_ncols=True, file=sys.stderr, mininterval=1.0)
    except ImportError:
        bar = None
t_start = time.time()
deadline = t_start + C.max_minutes * 60 if C.max_minutes else None
flops_per_step = [train_step_flops(mcfg, rows[b], s) for b, s in enumerate(buckets)]  # per process
def new_window():
    return {"loss": 0.0, "exact": 0.0, "tok_acc": 0.0, "n": 0, "samples": 0, "tokens": 0, "flops": 0.0, "t": time.time()}
window = new_window()
last_eval: dict = {}
step = start_step
while True:
    elapsed = elapsed_before + time.time() - t_start
    timed_out = deadline is not None and time.time() >= deadline
    if compute.distributed:
        flag = torch.tensor([float(timed_out)], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # every rank stops at the same step
        timed_out = bool(flag.item())
    last_step = step >= C.steps or timed_out

    periodic_eval = C.eval_every > 0 and step % C.eval_every == 0  # --eval-every 0: only at the end
    if (step > start_step or last_step) and (periodic_eval or last_step):
        if items:  # every rank evaluates its share; all get the same figures
            t_eval = time.time()
            last_eval = evaluate()
            last_eval["eval_s"] = round(time.time() - t_eval, 2)
            # The margin over the best rule on the same tasks (the rules' own scores are logged once, above).
            c = compare(last_eval["task_pass2"], scored_tasks, rule_scores)
            last_eval.update({k: v for k, v in summary_fields(c).items() if k not in ("baselines", "n_tasks")})
            log({"step": step, "elapsed_s": round(elapsed, 2), "event": "eval", **last_eval})
            print0(f"\n[eval] step {step}: held-out pass@1 {last_eval['pass1']:.3f} pass@2 {last_eval['pass2']:.3f} "
                   f"({last_eval['eval_tasks']} tasks, {last_eval['eval_outputs']} test outputs, {last_eval['eval_s']}s)\n"
                   f"[eval] {margin_line(c, 'held-out pass@2')}\n[eval] {marks_line(c)}")
            if last_eval["pass2"] > best:
                best = last_eval["pass2"]
                save("best", step, last_eval, elapsed, resumable=False)
        elif not items and last_step:
            save("best", step, {}, elapsed, resumable=False)  # nothing held out: best = last
    if (step > start_step and C.checkpoint_every > 0 and step % C.checkpoint_every == 0) or last_step:
        save("last", step, last_eval, elapsed, resumable=True)
    if last_step:
        break

    # ---- one training step: choose a bucket, refresh halted rows, supervise, update ----
    b = sampler.next_bucket()
    fresh = batch_to_device(sampler.batch(b), device)
    lr = lr_at(step, C.lr, C.warmup_steps, C.steps, C.lr_min_ratio)
    plr = lr_at(step, C.puzzle_lr, C.warmup_steps, C.steps, C.lr_min_ratio)
    for grp in opt.param_groups:
        grp["lr"] = lr
    out = act_step(model, raw, carries[b], fresh, compute.autocast(), explore_gen, training=True)
    out["loss"].backward()
    if C.grad_clip:
        torch.nn.utils.clip_grad_norm_(raw.parameters(), C.grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    sparse_sign_sgd_(raw.puzzle_emb, carries[b].puzzle_ids, out["rows"].grad, plr, C.puzzle_weight_decay,
                     compute.distributed)
    if ema:
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.values()), [p.detach().float() for p in raw.parameters()], 1 - C.ema)
    step += 1

    # ---- logging: the only host-device sync, every log_every steps ----
    window["loss"] += out["loss"].detach()
    window["exact"] += out["exact"].float().mean()
    window["tok_acc"] += out["tok_acc"]
    window["n"] += 1
    window["samples"] += global_rows[b]  # rows stepped (one supervision step each), all ranks
    window["tokens"] += global_rows[b] * seq[b]
    window["flops"] += flops_per_step[b] * compute.world_size
    if step % C.log_every == 0 or step == C.steps:
        dt = time.time() - window["t"]
        loss, exact = float(window["loss"]) / window["n"], float(window["exact"]) / window["n"]
        rate = window["n"] / dt
        rec = {"step": step, "loss": round(loss, 5), "exact": round(exact, 4),
               "tok_acc": round(float(window["tok_acc"]) / window["n"], 4), "lr": lr, "steps_per_s": round(rate, 3),
               "samples_per_s": round(window["samples"] / dt, 2), "tokens_per_s": round(window["tokens"] / dt, 1),
               "rows_per_step": round(window["samples"] / window["n"], 1), "gflops_per_s": round(window["flops"] / dt / 1e9, 2),
               "elapsed_s": round(elapsed_before + time.time() - t_start, 2)}
        log(rec)
        if bar is not None:
            bar.set_postfix_str(f"loss {loss:.3f} exact {exact:.3f} {rate:.2f} it/s"
                                + (f" pass@2 {last_eval['pass2']:.3f}" if last_eval else ""))
            bar.update(step - bar.n)
        elif master:
            left = (C.steps - step) / max(rate, 1e-9)
            print0(f"step {step}/{C.steps} loss {loss:.4f} exact {exact:.3f} {rate:.2f} steps/s ETA {left / 60:.1f} min")
        window = new_window()

if bar is not None:
    bar.close()
if compute.distributed:
    # Every rank must end with the same weights and puzzle table (DDP averages the dense gradients,
    # sparse_sign_sgd_ gathers the puzzle rows); a difference means a rank skipped or repeated an update.
    sums = torch.stack([sum(p.detach().double().sum() for p in raw.parameters()), raw.puzzle_emb.double().sum()])
    every = [torch.zeros_like(sums) for _ in range(compute.world_size)]
    dist.all_gather(every, sums)
    spread = max(float((e - every[0]).abs().max()) for e in every)
    print0(f"[ddp] {compute.world_size} ranks: weights and puzzle table "
           + ("identical" if spread == 0 else f"DIFFER (largest checksum gap {spread:.3g})"))
if master:
    metrics_file.close()
    summary = {"steps": step, "elapsed_s": round(elapsed_before + time.time() - t_start, 1), "best_pass2": best, **last_eval}
    if C.encoder_steps > 0:
        # The encoder learns the finished table (its own held-out tasks reported); its seconds are
        # pretraining compute too, counted in summary.json apart from the training's.
        from train.encoder import main as fit_encoder_main
        t_enc = time.time()
        if fit_encoder_main(["--run", str(out_dir), "--steps", str(C.encoder_steps), "--seed", str(C.seed)]) != 0:
            sys.exit("error: --encoder-steps: fitting the demonstration encoder failed (message above); the "
                     "checkpoints are written, fit it again with python -m train.encoder --run " + str(out_dir))
        summary["encoder_s"] = round(time.time() - t_enc, 1)
    write_json(summary, out_dir / "summary.json")
    print0(f"[done] {step} steps in {summary['elapsed_s']}s; held-out pass@2 {last_eval.get('pass2', float('nan')):.3f} "
           f"(best {best:.3f}) on {last_eval.get('eval_tasks', 0)} tasks; checkpoints in {out_dir}/best and {out_dir}/last")
compute_cleanup()
