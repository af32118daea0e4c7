"""python -m submission: the Kaggle entry. Reads the test challenges, writes submission.json.

On Kaggle (no --challenges) everything is found under $TRM_KAGGLE_INPUT (default /kaggle/input; see
discover.py for every mount layout): the test challenges (the 2026 and 2025 paths, else any
*test_challenges*.json), the checkpoint (the dataset or model named by --checkpoint-dataset, else
the newest format found); the answer goes to $TRM_KAGGLE_WORKING/submission.json (default
/kaggle/working). With KAGGLE_IS_COMPETITION_RERUN set (the scoring rerun) it runs the full job in
--time-limit 43200 --margin 900 (12 h - 15 min); without it (Save Version, an interactive run) it
runs a commit smoke test: --commit-tasks tasks in --commit-minutes, every GPU used, every other task
left with its fallback, the file complete and validated.

Elsewhere:
    python -m submission --challenges C.json --checkpoint runs/x --output sub.json --time-limit 600

Only the challenges file is read; no solutions file is ever opened, except in a commit run the
competition's evaluation solutions, after every prediction, to score the evaluation tasks it solved
(--commit-eval-tasks; their answers never enter the submission).

What happens, top to bottom (main(), then run()):
  1. arguments; the run mode, printed first, then the versions (python, torch, CUDA, numpy, numba,
     the devices); environment (Kaggle paths); what the machine can run: a commit run without a
     working numba, or on Kaggle without a usable GPU (and no --device cpu), stops here with exit
     code 4 (the notebook's cell fails: fix the accelerator before submitting); the scoring rerun
     says so loudly and does what it can;
  2. the challenges, read leniently: a malformed task gets a fallback answer and a warning;
  3. within seconds, a complete valid submission.json of fallbacks (the test input as both
     attempts) is on disk; every later write is atomic (writer.py), so a kill leaves a valid file;
     a second copy of the entry writing the same file is refused (writer.take_lock);
  4. the checkpoint (a full one or a Kaggle export, train/export.py); test-time settings from its
     training arguments, overridden by flags;
  5. the plan (plan.py): the tasks that run (all, or the commit run's few, plus a few evaluation
     tasks when the competition's evaluation files lie beside the test file) in shards, >= 4 per
     worker; each shard's budget is its fair share of the time left (plan.FairShare), so the run
     ends --margin seconds before --time-limit; --task-cap bounds it further;
  6. the workers (pool.py, worker.py): one process per GPU, each choosing its compute dtype
     (runtime.autocast_dtype), sizing its batches to its memory (memory.py), compiling the step
     with --compile, and solving shards (solve.py: test-time training, ttt.py; inference,
     predict.py) at the recursion depth of each phase; answers are written as they come; a worker
     that dies costs only its current shard;
  7. a commit run scores its evaluation tasks (pass@2, unseen tasks apart from those the checkpoint
     saw); the file is read back and validated; a summary (time and peak memory per phase, the
     compile's cold cost) closes the run, also written as JSON with --summary; the lock (in the
     scratch folder, never beside the output) is removed.
"""
import argparse
import dataclasses
import json
import math
import os
import sys
import time

from .discover import (EVALUATION_FILES, KAGGLE_CHECKPOINT_DATASET, challenges_searched, checkpoint_candidates,
                       choose_checkpoint, find_challenges, find_evaluation, kaggle_input, kaggle_working, run_mode)
from .plan import commit_tasks
from .tasks import ContentIndex, TaskError, add_task_selection_args, load_challenges_lenient, select_tasks
from .writer import SubmissionFile, fallback_entries, lock_path, release_lock, take_lock

KAGGLE_TIME_LIMIT, KAGGLE_MARGIN = 43200, 900
SHARDS_PER_WORKER = 4
EXIT_UNFIT = 4  # a commit run on a machine that cannot do the job (no GPU, no numba): the notebook's cell fails
CANDIDATES_PER_INPUT = 10  # --candidates: the top candidates written per test input


def log(text: str) -> None:
    print(text, flush=True)


# -----------------------------------------------------------------------------
# Arguments


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m submission", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("files, time and mode")
    g.add_argument("--challenges", help="challenges .json (default: the Kaggle test challenges)")
    g.add_argument("--checkpoint", help="checkpoint folder, Kaggle export or run folder (default: found under the "
                                        "Kaggle input)")
    g.add_argument("--checkpoint-dataset", default=KAGGLE_CHECKPOINT_DATASET, metavar="NAME",
                   help="on Kaggle: the dataset (slug or owner/slug) or model name holding the checkpoint; it wins "
                        "when several checkpoints are attached (default %(default)s)")
    g.add_argument("--output", help="submission .json to write (default: $TRM_KAGGLE_WORKING/submission.json on "
                                    "Kaggle, ./submission.json elsewhere)")
    g.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help=f"wall-clock limit counted from this command's start (default {KAGGLE_TIME_LIMIT} on "
                        "Kaggle, 600 elsewhere; a notebook that spent time before should pass what is left)")
    g.add_argument("--margin", type=float, default=None, metavar="SECONDS",
                   help=f"plan to finish this long before the limit (default {KAGGLE_MARGIN} on Kaggle, "
                        "10%% of the limit elsewhere)")
    g.add_argument("--run-mode", choices=("auto", "commit", "full"), default="auto",
                   help="commit: a smoke run of --commit-tasks tasks in --commit-minutes, the rest keep their "
                        "fallbacks; full: every task; auto: commit on Kaggle when KAGGLE_IS_COMPETITION_RERUN is "
                        "unset (Save Version, interactive runs), full otherwise")
    g.add_argument("--summary", metavar="PATH",
                   help="also write the run's summary as JSON to PATH: the settings used (the recursion depth of "
                        "each phase, compilation), seconds per phase, each shard's stats, the fallbacks (default: "
                        "none; the log says the same)")
    g.add_argument("--commit-tasks", type=int, default=4, help="tasks a commit run solves (default %(default)s)")
    g.add_argument("--commit-minutes", type=float, default=20.0, help="a commit run's time limit (default %(default)s)")
    g.add_argument("--commit-eval-tasks", type=int, default=4, metavar="N",
                   help="a commit run also solves N of the competition's evaluation tasks when "
                        f"{EVALUATION_FILES[0]} and {EVALUATION_FILES[1]} lie beside the test challenges, tasks the "
                        "checkpoint never saw first (by id, and by content where its meta records it; any it saw are "
                        "labelled and scored apart), and prints their pass@2; their answers stay out of the "
                        "submission and the solutions are read only after every prediction (0: off; default "
                        "%(default)s)")
    add_task_selection_args(p)
    g = p.add_argument_group("test-time training (defaults: the checkpoint's training arguments)")
    g.add_argument("--ttt-mode", choices=("full", "embeddings"), default="full",
                   help="full: fine-tune every weight and the new puzzle rows; embeddings: the new rows only")
    g.add_argument("--row-init", choices=("auto", "mean", "encoder"), default="auto",
                   help="where new puzzle rows start: the mean pretrained row, or the checkpoint's demonstration "
                        "encoder's guess from each task's demonstrations (train/encoder.py); auto (default): the "
                        "encoder when the checkpoint has one, else the mean (measured: docs/benchmarks.md, 2026-12-02)")
    g.add_argument("--embeddings-first", type=float, default=0.0, metavar="SHARE",
                   help="with --ttt-mode full: train only the new puzzle rows for this share of the planned steps "
                        "first, so the weights adapt to rows that already point at the task (default 0)")
    g.add_argument("--ttt-steps", type=int, default=None, help="cap on training steps per shard (default: the time budget)")
    g.add_argument("--num-aug", type=int, default=None,
                   help="augmentations (puzzle ids) per task (default: from the budget, at most the checkpoint's num_aug)")
    g.add_argument("--ttt-batch-size", type=int, default=None,
                   help="most rows per training step (default: the checkpoint's, at most 128); each canvas side "
                        "takes fewer when its memory estimate says so")
    g.add_argument("--lr", type=float, default=None)
    g.add_argument("--puzzle-lr", type=float, default=None)
    g.add_argument("--warmup-steps", type=int, default=None, help="default: a tenth of the planned steps")
    g.add_argument("--ema", type=float, default=None, help="weight EMA during training, used to predict (0: off)")
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group(
        "recursion depth (defaults: the checkpoint's)",
        "T cycles per supervision step (T - 1 of them without gradients), n latent updates per cycle,\n"
        "N supervision steps per sample; a step costs T x (n + 1) net calls. The first three apply to\n"
        "test-time training and inference, the --infer- ones to inference only. (NVARC fine-tuned its\n"
        "Kaggle TRM at T 4, N 10 instead of the pretrained 3 and 16.)")
    g.add_argument("--H-cycles", type=positive_int, default=None, metavar="T", help="cycles per supervision step")
    g.add_argument("--L-cycles", type=positive_int, default=None, metavar="n", help="latent updates per cycle")
    g.add_argument("--halt-max-steps", type=positive_int, default=None, metavar="N",
                   help="supervision steps per sample: the ACT cap in training, the steps inference runs")
    for field, meta in (("H_cycles", "T"), ("L_cycles", "n"), ("halt_max_steps", "N")):
        flag = field.replace("_", "-")
        g.add_argument(f"--infer-{flag}", dest=f"infer_{field}", type=positive_int, default=None, metavar=meta,
                       help=f"inference only (default: --{flag})")
    g = p.add_argument_group("inference and voting")
    g.add_argument("--views", type=int, default=None, help="cap on augmented views per test input (default: the augmentations trained)")
    g.add_argument("--halt", choices=("act", "all"), default="act",
                   help="act: a row stops when its halt logit says so; all: every supervision step runs")
    g.add_argument("--vote", choices=("votes", "poe"), default="votes",
                   help="votes: vote count, ties by mean halt confidence; poe: summed log-probability over the views")
    g.add_argument("--poe-top", type=int, default=8, help="candidates (by votes) re-scored under --vote poe")
    g.add_argument("--demo-check", choices=("off", "on"), default="off",
                   help="on: also predict every demonstration under each view; candidates from views that reproduce "
                        "all of their task's demonstrations rank first (a fit check, not leave-one-out: TTT saw "
                        "them); costs inference on the demonstrations")
    g.add_argument("--candidates", metavar="PATH",
                   help=f"also write the top {CANDIDATES_PER_INPUT} candidates of every test input with votes, mean halt "
                        "confidence and PoE score (both rankings, for offline study) to this .json; costs the PoE "
                        "scoring (a log-probability pass over every view) that --vote votes never does")
    g.add_argument("--infer-batch-size", type=int, default=256,
                   help="most view rows per inference batch (each canvas side takes fewer when memory says so)")
    g.add_argument("--infer-share", type=float, default=0.25, help="at most this share of a shard's budget goes to inference")
    g = p.add_argument_group("workers and memory")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: every GPU this torch build can run on, else the CPU; on Kaggle (no --challenges) a "
                        "commit run without a usable GPU fails (the accelerator is off) and the scoring rerun warns "
                        "and runs on the CPU; cpu: the CPU on purpose")
    g.add_argument("--workers", type=int, default=None, help="worker count (default: one per GPU; one on the CPU)")
    g.add_argument("--gpu-memory", type=float, default=None, metavar="GiB",
                   help="memory each worker may use, in GiB: on a GPU the allocator is capped there "
                        "(torch.cuda.set_per_process_memory_fraction; 22.5 emulates an L4 on a bigger card), on the "
                        "CPU it caps the host memory a worker plans for (default: what is free)")
    g.add_argument("--memory-share", type=float, default=0.8,
                   help="plan batches to fill this share of the worker's memory (default %(default)s)")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the supervision step for test-time training and inference (TRM.compile_step, "
                        "as python -m train --compile): batch and sequence axes dynamic, so every canvas side shares "
                        "one graph per grad mode; compiled at each worker's start, its cold cost (seconds) in the log "
                        "and the summary; a compiler error falls back to eager, loudly. Off by default: measured on "
                        "the CPU only so far (docs/benchmarks.md, 2026-12-04); a GPU measurement decides")
    g.add_argument("--compile-static", action="store_true",
                   help="--compile with one graph per canvas side instead of dynamic axes (each side compiled on "
                        "first use, its cost inside test-time training)")
    g.add_argument("--time-buckets", action="store_true",
                   help="time every TTT step (a device sync each) and report seconds per step by canvas side")
    g.add_argument("--tasks-per-shard", type=int, default=None,
                   help="tasks fine-tuned together from one reset of the pretrained weights (default: enough shards "
                        f"for {SHARDS_PER_WORKER} per worker; ceil(tasks / workers): one shard per worker, each model "
                        "fine-tuned jointly on its quarter of the tasks on 4 GPUs; the task count or more: one shard, "
                        "so one worker and the other GPUs idle)")
    g.add_argument("--task-cap", type=float, default=None, metavar="SECONDS",
                   help="at most this many seconds per task in a shard's budget (default: no cap beyond the fair share)")
    return p


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def recursion_depths(meta: dict, args) -> dict:
    """{"checkpoint", "ttt", "infer"}: each {H_cycles, L_cycles, halt_max_steps}. Test-time training
    takes the flags over the checkpoint's values, inference its --infer- flags over training's."""
    from .model import TRMConfig
    from .solve import RECURSION
    cfg = TRMConfig.from_dict(meta.get("model_config", {}))
    ckpt = {k: int(getattr(cfg, k)) for k in RECURSION}
    ttt = {k: getattr(args, k) if getattr(args, k) is not None else ckpt[k] for k in RECURSION}
    infer = {k: getattr(args, "infer_" + k) if getattr(args, "infer_" + k) is not None else ttt[k] for k in RECURSION}
    return {"checkpoint": ckpt, "ttt": ttt, "infer": infer}


def solve_settings(meta: dict, args, workers_here: int):
    """Test-time settings: the checkpoint's training arguments, then the flags."""
    from .solve import SolveSettings
    a = meta.get("args", {})
    depth = recursion_depths(meta, args)
    pick = lambda flag, key, default: flag if flag is not None else a.get(key, default)
    return SolveSettings(
        ttt_mode=args.ttt_mode, row_init=args.row_init, embeddings_first=args.embeddings_first, ttt_steps=args.ttt_steps, num_aug=args.num_aug,
        max_aug=max(1, int(a.get("num_aug", 1000))),
        batch_size=args.ttt_batch_size or min(int(a.get("global_batch_size", 64)), 128),
        lr=pick(args.lr, "lr", 1e-4), puzzle_lr=pick(args.puzzle_lr, "puzzle_lr", 1e-2),
        weight_decay=a.get("weight_decay", 0.1), puzzle_weight_decay=a.get("puzzle_weight_decay", 0.1),
        warmup_steps=args.warmup_steps, max_warmup=int(a.get("warmup_steps", 2000)),
        grad_clip=a.get("grad_clip", 1.0) or 0.0, ema=pick(args.ema, "ema", 0.0) or 0.0,
        translate_prob=a.get("translate_prob", 0.5), translate_mode=a.get("translate_mode", "fresh"), max_buckets=int(a.get("max_buckets", 8)),
        keep_black=bool(a.get("keep_black", True)), views=args.views, halt=args.halt, vote=args.vote,
        poe_top=args.poe_top, demo_check=args.demo_check == "on", report_candidates=CANDIDATES_PER_INPUT if args.candidates else 0,
        infer_batch_size=args.infer_batch_size, infer_share=args.infer_share, gpu_memory=args.gpu_memory,
        memory_share=args.memory_share, workers_here=workers_here, time_buckets=args.time_buckets, seed=args.seed,
        ttt_depth=depth["ttt"], infer_depth=depth["infer"],
        compile="static" if args.compile_static else "dynamic" if args.compile else "off")


# -----------------------------------------------------------------------------
# The run


def main(argv=None) -> int:
    t_start = time.time()

    # ---- arguments, mode, versions and environment ----
    args = build_parser().parse_args(argv)
    on_kaggle = args.challenges is None
    mode, why = run_mode(args.run_mode, on_kaggle)
    if mode == "commit":
        log(f"[mode] commit run ({why}): {args.commit_tasks} task(s) in at most {args.commit_minutes:g} min on every "
            "worker, every other task keeps its fallback; the scoring rerun runs the full job")
    else:
        log(f"[mode] full run ({why})")
    from .runtime import numba_problem, software_report, usable_gpus
    log(f"[versions] {software_report()}")
    if on_kaggle:
        found = find_challenges(kaggle_input())
        if not found:
            log(f"error: no --challenges given and no test challenges found under {kaggle_input()}; searched:\n  "
                f"{challenges_searched(kaggle_input())}\nIs the competition's data attached to the notebook?")
            return 2
        challenges = found[0]
        if len(found) > 1:
            log(f"[env] {len(found)} challenges files found, using the first: {', '.join(found)}")
        output = args.output or os.path.join(kaggle_working(), "submission.json")
        time_limit = args.time_limit if args.time_limit is not None else KAGGLE_TIME_LIMIT
        margin = args.margin if args.margin is not None else KAGGLE_MARGIN
    else:
        challenges = args.challenges
        output = args.output or "submission.json"
        time_limit = args.time_limit if args.time_limit is not None else 600.0
        margin = args.margin if args.margin is not None else 0.1 * time_limit
    if mode == "commit" and time_limit > 60 * args.commit_minutes:
        time_limit = 60 * args.commit_minutes
        margin = min(margin, 0.1 * time_limit)
    log(f"[env] challenges {challenges}; output {output}; time limit {time_limit:.0f}s, margin {margin:.0f}s")

    # ---- what this machine can run: numba, the GPUs ----
    # The commit run is the check before a submission: on a machine that cannot do the job it fails
    # (exit EXIT_UNFIT, which the notebook turns into a failed cell). The scoring rerun does what it can.
    numba_broken = numba_problem()
    n_gpu, gpu_why = usable_gpus() if args.device != "cpu" else (0, "--device cpu")
    if args.device == "cuda" and not n_gpu:
        log(f"error: --device cuda, but no GPU can be used: {gpu_why}")
        return 2
    no_gpu = on_kaggle and args.device == "auto" and not n_gpu  # on Kaggle, a CPU run only when asked for
    if numba_broken:
        what = (f"numba is missing or broken ({numba_broken}); the entry's grid encoders are numba kernels, so no "
                "task can be solved without it. Kaggle's image ships numba: check that nothing installed over it "
                "(a wheel or a PYTHONPATH folder holding another numba)")
        if mode == "commit":
            log(f"error: {what}")
            return EXIT_UNFIT
        loud(f"{what}. Every task keeps its fallback answer.")
    if no_gpu:
        if mode == "commit":
            log(f"error: no usable GPU ({gpu_why}), and this commit run would pass on the CPU while the scoring "
                "rerun spent its 12 hours on one CPU worker. The notebook's accelerator is off or unusable: in the "
                "notebook editor set Settings > Accelerator > GPU L4 x4 (kernel-metadata.json: \"enable_gpu\": true, "
                f"\"machine_shape\": \"NvidiaL4\"), then Save Version again. To run on the CPU on purpose, pass "
                "--device cpu (in the notebook: DEVICE = \"cpu\").")
            return EXIT_UNFIT
        if not numba_broken:
            loud(f"NO USABLE GPU in the scoring rerun ({gpu_why}): running on the CPU with "
                 f"{args.workers or 1} worker(s); the tasks it cannot reach in time keep their fallback answers. "
                 "Check the notebook's accelerator (Settings > Accelerator > GPU L4 x4) before the next submission.")
    if n_gpu:
        devices = [f"cuda:{i % n_gpu}" for i in range(args.workers or n_gpu)]
    else:
        devices = ["cpu"] * (args.workers or 1)

    lock, holder = take_lock(output)
    if lock is None:
        log(f"error: another `python -m submission` (pid {holder}) is writing {output}; stop it first "
            f"(its lock: {lock_path(output)})")
        return 3
    try:
        return run(args, mode, challenges, output, devices, numba_broken, t_start, time_limit, margin)
    finally:
        release_lock(lock, output)  # no lock file outlives the run


def run(args, mode, challenges, output, devices, numba_broken, t_start, time_limit, margin) -> int:
    """The job, with the output locked: fallbacks at once, then the checkpoint, the plan, the workers,
    the final validation. Returns the exit code."""
    phase = {}  # seconds per phase of the main process
    deadline = t_start + time_limit - margin  # workers plan to be done by then
    hard_stop = t_start + time_limit - margin / 2  # past this, unfinished work is abandoned

    # ---- challenges, read leniently; fallbacks on disk at once ----
    try:
        good, errors = load_challenges_lenient(challenges)
        with open(challenges, encoding="utf-8") as f:
            raw = json.load(f)
    except (TaskError, OSError, ValueError) as e:
        log(f"error: cannot read the challenges: {e}")
        return 2
    selecting = args.max_side is not None or args.tasks is not None or args.first is not None
    if selecting:
        named = set(args.tasks) if args.tasks is not None else None
        if named is not None:
            unknown = sorted(named - set(raw))
            if unknown:
                log(f"error: --tasks: unknown task id(s) {', '.join(unknown)}")
                return 2
        try:
            good = select_tasks(good, max_side=args.max_side, first=args.first,
                                task_ids=None if named is None else [t.id for t in good if t.id in named])
        except TaskError as e:
            log(f"error: {e}")
            return 2
        keep = {t.id for t in good} | {tid for tid in errors if named is not None and tid in named}
    else:
        keep = set(raw)
    errors = {tid: e for tid, e in errors.items() if tid in keep}
    sub = SubmissionFile(output, {tid: raw[tid] for tid in raw if tid in keep})
    sub.write()
    n_inputs = sum(sub.expected.values())
    log(f"[fallback] {len(sub.expected)} tasks, {n_inputs} test inputs: fallback answers written to {output} "
        f"({time.time() - t_start:.1f}s after start)")
    for tid, err in errors.items():
        log(f"[warning] task {tid}: bad input, keeps its fallback answer: {err}")
    phase["startup"] = time.time() - t_start
    if numba_broken:  # nothing can be solved (said loudly above); the file of fallbacks is complete
        summary(sub, errors, {}, [], phase, t_start, time_limit, final_ok=not sub.validate())
        return 2

    # ---- checkpoint and settings ----
    t = time.time()
    from .checkpoint import load_meta, resolve_checkpoint
    ckpt, why = None, ""
    if args.checkpoint:
        try:
            ckpt = resolve_checkpoint(args.checkpoint)
        except FileNotFoundError as e:
            why = str(e)
    else:
        chosen, why = choose_checkpoint(checkpoint_candidates(kaggle_input()), args.checkpoint_dataset)
        ckpt = chosen.path if chosen else None
        if chosen is None:
            why = (f"no checkpoint under {kaggle_input()} in any layout (attach a dataset or model named "
                   f"{args.checkpoint_dataset!r}, or pass --checkpoint)")
        elif why:
            log(f"[checkpoint] {why}")
    if ckpt is None:
        log(f"error: {why}; the submission keeps its fallback answers")
        summary(sub, errors, {}, [], phase, t_start, time_limit, final_ok=not sub.validate(),
                facts={"mode": mode, "checkpoint": None}, json_path=args.summary)
        return 2
    meta = load_meta(ckpt)
    canvas = int(meta["model_config"]["canvas_side"])

    # ---- the plan: the tasks the model can take, in shards ----
    in_process = devices == ["cpu"]
    settings = solve_settings(meta, args, workers_here=devices.count("cpu") or 1)
    depth = recursion_depths(meta, args)
    kind = "Kaggle export" if "export" in meta else "full checkpoint"
    show = lambda d: f"T={d['H_cycles']} n={d['L_cycles']} N={d['halt_max_steps']}"  # noqa: E731
    log(f"[checkpoint] {ckpt} ({kind}; step {meta.get('step', '?')}, preset {meta.get('preset', '?')}, canvas {canvas}); "
        f"TTT {settings.ttt_mode}, at most {settings.batch_size} rows/step, lr {settings.lr:g}, puzzle lr "
        f"{settings.puzzle_lr:g}, ema {settings.ema if settings.ttt_mode == 'full' else 'off'}; halt {settings.halt}, "
        f"vote {settings.vote}; recursion TTT {show(depth['ttt'])}, inference {show(depth['infer'])} (checkpoint "
        f"{show(depth['checkpoint'])})")
    facts = {"mode": mode, "challenges": str(challenges), "output": str(output), "checkpoint": str(ckpt),
             "devices": devices, "recursion": depth, "settings": dataclasses.asdict(settings)}

    from .plan import make_shards, shard_weight
    too_big = [t for t in good if t.max_side() > canvas]
    for task in too_big:
        log(f"[warning] task {task.id}: grids up to {task.max_side()} exceed the checkpoint's canvas {canvas}; "
            "keeps its fallback answer")
    runnable = [t for t in good if t.max_side() <= canvas]
    if mode == "commit":
        # With the default of 4 per worker's 4 shards, each task is a shard: every GPU gets one.
        runnable = commit_tasks(runnable, max(args.commit_tasks, 1))
        log(f"[commit] solving {len(runnable)} of {len(good)} tasks: {', '.join(t.id for t in runnable)}")
    # The commit run's own score: a few of the competition's evaluation tasks, solved like the others;
    # their answers never enter the submission and their solutions are read only after the workers end.
    eval_tasks, eval_roles, eval_solutions = [], {}, None
    if mode == "commit" and args.commit_eval_tasks > 0:
        eval_tasks, eval_roles, eval_solutions = commit_eval_plan(challenges, set(raw), meta, canvas,
                                                                  args.commit_eval_tasks)
        runnable = runnable + eval_tasks
    answers = CommitEvalAnswers(sub, [t.id for t in eval_tasks])
    per_shard = args.tasks_per_shard or max(1, math.ceil(len(runnable) / (SHARDS_PER_WORKER * len(devices))))
    shards = make_shards(runnable, per_shard)
    weights = [shard_weight(s) for s in shards]
    log(f"[plan] {len(runnable)} tasks in {len(shards)} shards of up to {per_shard}, {len(devices)} worker(s) on "
        f"{', '.join(sorted(set(devices)))}{' (in this process)' if in_process else ''}; "
        f"planned end {deadline - t_start:.0f}s after start")
    phase["checkpoint+plan"] = time.time() - t

    # ---- workers ----
    t = time.time()
    from .pool import run_workers
    shard_stats, failed = run_workers(str(ckpt), settings, devices, in_process, shards, weights, answers, deadline,
                                      hard_stop, task_cap=args.task_cap, candidates_path=args.candidates)
    phase["solving"] = time.time() - t
    if eval_tasks:
        score_commit_eval(eval_tasks, eval_roles, answers.entries, eval_solutions)
        failed = [(tid, why) for tid, why in failed if tid not in answers.ids]

    # ---- final validation ----
    t = time.time()
    sub.write()
    problems = sub.validate()
    if problems:
        log("[error] the written submission is invalid; writing fallbacks for the problem tasks:\n  "
            + "\n  ".join(problems[:20]))
        fb = fallback_entries({tid: raw[tid] for tid in sub.expected})
        for tid in sub.expected:
            if any(repr(tid) in p for p in problems):
                sub.entries[tid] = fb[tid]
                sub.fallback[tid] = [True] * sub.expected[tid]
        sub.write()
        problems = sub.validate()
    phase["final write+validate"] = time.time() - t
    summary(sub, errors, shard_stats, failed, phase, t_start, time_limit, final_ok=not problems,
            too_big=[t.id for t in too_big], cpu_only=devices[0] == "cpu", facts=facts,
            json_path=args.summary)
    return 0 if not problems else 1


# -----------------------------------------------------------------------------
# The commit run's evaluation score


class CommitEvalAnswers:
    """Where the workers' answers go (pool.run_workers calls set()): the commit run's evaluation tasks
    are kept here for scoring, every other task's answers go to the submission file."""

    def __init__(self, sub, eval_ids):
        self.sub, self.ids, self.entries = sub, set(eval_ids), {}

    def set(self, task_id, entries, predicted, write=True):
        if task_id in self.ids:
            self.entries[task_id] = entries
        else:
            self.sub.set(task_id, entries, predicted, write)


def trained_content(meta: dict):
    """A ContentIndex of every task the checkpoint's pretraining saw, in any role, from its meta's content
    record (meta.json["content"] = {"trained": {id: [fingerprint, part, ...]}, "heldout": {...}},
    written by the trainer), or None when the meta has none (older checkpoints: then 'seen' is decided
    by id only)."""
    record = meta.get("content")
    if not isinstance(record, dict):
        return None
    return ContentIndex.from_record({**record.get("heldout", {}), **record.get("trained", {})})


def pretraining_roles(tasks, meta: dict, content) -> dict:
    """{task id: how the checkpoint's pretraining saw it, in words, or None when it did not}: by id
    (the puzzle map's tasks, the held-out list), then by content where the meta records it."""
    pm, data = meta.get("puzzle_map", {}), meta.get("data", {})
    if "task_ids" not in pm:
        return {t.id: "unknown: the checkpoint's meta does not record what it trained on" for t in tasks}
    in_table, held = set(pm["task_ids"]), set(data.get("heldout_tasks", []))
    roles = {}
    for t in tasks:
        match = content.match(t) if content is not None else None
        roles[t.id] = ("held out in pretraining: its demonstrations trained on, best/ chosen on its test outputs"
                       if t.id in held else "trained on in pretraining, test outputs included" if t.id in in_table
                       else f"seen in pretraining under another id: {match}" if match else None)
    return roles


def commit_eval_plan(challenges: str, test_ids: set, meta: dict, canvas: int, n: int):
    """The commit run's evaluation tasks: n of the evaluation challenges beside the test file, spread
    over the sizes, tasks the checkpoint never saw first (those it saw only fill up, labelled).
    Returns (tasks, {id: role or None}, the solutions' path); the solutions are not opened here."""
    found = find_evaluation(challenges)
    if found is None:
        log(f"[commit-eval] no {' and '.join(EVALUATION_FILES)} beside {challenges}: this commit run prints no score")
        return [], {}, None
    eval_path, solutions_path = found
    try:
        tasks, _ = load_challenges_lenient(eval_path)
    except (TaskError, OSError, ValueError) as e:
        log(f"[commit-eval] cannot read {eval_path} ({e}): this commit run prints no score")
        return [], {}, None
    pool = [t for t in tasks if t.id not in test_ids and t.max_side() <= canvas]  # test ids: one answer each
    content = trained_content(meta)
    roles = pretraining_roles(pool, meta, content)
    unseen = [t for t in pool if roles[t.id] is None]
    seen = [t for t in pool if roles[t.id] is not None]
    chosen = commit_tasks(unseen, n) if unseen else []
    if len(chosen) < n and seen:
        chosen += commit_tasks(seen, n - len(chosen))
    log(f"[commit-eval] solving {len(chosen)} of the {len(tasks)} tasks of {eval_path} as well ({len(unseen)} of the "
        f"{len(pool)} that fit the canvas {canvas} unseen by the checkpoint"
        f"{'' if content is not None else ', by id: its meta records no content of its training tasks'}); their "
        f"answers stay out of the submission: {', '.join(t.id for t in chosen) or 'none'}")
    return chosen, {t.id: roles[t.id] for t in chosen}, solutions_path


def pass_at_2(entries: list, truths: list) -> float:
    """ARC Prize's per-task score: the share of the task's test outputs that attempt_1 or attempt_2
    matches exactly (shape and cells)."""
    solved = sum(isinstance(e, dict) and truth in (e.get("attempt_1"), e.get("attempt_2"))
                 for e, truth in zip(entries, truths))
    return solved / len(truths)


def score_commit_eval(tasks, roles: dict, answers: dict, solutions_path: str) -> None:
    """Read the evaluation solutions (now, after every prediction) and print pass@2 per task and over
    the unseen tasks, apart from those the checkpoint saw."""
    try:
        with open(solutions_path, encoding="utf-8") as f:
            solutions = json.load(f)
        if not isinstance(solutions, dict):
            raise ValueError(f"top level is {type(solutions).__name__}, expected {{task_id: [grid, ...]}}")
    except (OSError, ValueError) as e:
        log(f"[commit-eval] cannot read {solutions_path} ({e}): no score")
        return
    scores = {"unseen": [], "seen": []}
    for t in tasks:
        truths = solutions.get(t.id)
        if not isinstance(truths, list) or len(truths) != len(t.test_inputs):
            log(f"[commit-eval] task {t.id}: {solutions_path} has no {len(t.test_inputs)} test output(s) for it; not scored")
            continue
        entries = answers.get(t.id)
        score = pass_at_2(entries, truths) if entries else 0.0
        scores["unseen" if roles[t.id] is None else "seen"].append(score)
        log(f"[commit-eval] task {t.id} ({roles[t.id] or 'unseen'}): pass@2 {score:.3f}"
            f"{'' if entries else ' (not predicted: its shard was lost or out of time)'}")
    parts = [f"{sum(v) / len(v):.3f} on {len(v)} {k} evaluation task(s)" for k, v in scores.items() if v]
    if parts:
        log("[commit-eval] score: pass@2 " + "; ".join(parts)
            + (" (seen: trained on or held out by the checkpoint, not an accuracy estimate)" if scores["seen"] else ""))


def loud(text: str) -> None:
    """A warning that must not be missed in a 12-hour log."""
    bar = "[WARNING] " + "=" * 90
    log(f"{bar}\n[WARNING] {text}\n{bar}")


def plain(x):
    """x with every dict key a string, numpy and torch scalars Python numbers and NaN None: plain JSON."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def summary(sub, errors, shard_stats, failed, phase, t_start, time_limit, final_ok, too_big=(), cpu_only=False,
            facts=None, json_path=None):
    """Log the run's summary; with json_path, write it (and `facts`: the settings used) there as JSON."""
    if json_path:
        from .writer import write_atomic
        record = {**(facts or {}), "valid": final_ok, "tasks": len(sub.expected), "test_inputs": sum(sub.expected.values()),
                  "fallbacks_used": sub.fallbacks_used(), "bad_input": sorted(errors), "too_big": list(too_big),
                  "lost": [{"task": tid, "reason": why} for tid, why in failed],
                  "phase_s": {k: round(v, 2) for k, v in phase.items()}, "total_s": round(time.time() - t_start, 2),
                  "time_limit_s": time_limit,
                  # summed over shards: what `offline_eval transfer` sets beside the pretraining's seconds
                  "ttt_s": round(sum(s["ttt_s"] for s in shard_stats.values()), 2),
                  "ttt_steps": sum(s["ttt_steps"] for s in shard_stats.values()),
                  "infer_s": round(sum(s["infer_s"] for s in shard_stats.values()), 2),
                  "shards": {str(k): v for k, v in sorted(shard_stats.items())}}
        write_atomic(plain(record), json_path)
    n_tasks, n_inputs = len(sub.expected), sum(sub.expected.values())
    stats = shard_stats.values()
    # TTT seconds per shard: its puzzle ids and rows built, then the training loop (solve.py)
    ttt, inf = sum(s["ttt_s"] for s in stats), sum(s["infer_s"] for s in stats)
    steps = sum(s["ttt_steps"] for s in stats)
    log(f"[summary] {n_tasks} tasks, {n_inputs} test inputs; fallbacks used for {sub.fallbacks_used()} test inputs "
        f"({len(errors)} bad-input tasks, {len(too_big)} too large for the canvas, {len(failed)} lost to failures or time)")
    if errors:
        log(f"[summary] bad input: {', '.join(errors)}")
    if failed:
        log(f"[summary] lost: {', '.join(tid for tid, _ in failed)}")
    log("[summary] time: " + ", ".join(f"{k} {v:.1f}s" for k, v in phase.items())
        + f"; summed over shards: TTT {ttt:.1f}s ({steps} steps), inference {inf:.1f}s; "
          f"total {time.time() - t_start:.1f}s of {time_limit:.0f}s")
    timed = {}  # side -> [steps, seconds, rows] over every shard (--time-buckets)
    for s in stats:
        for side, (n, sec) in s.get("bucket_steps", {}).items():
            t = timed.setdefault(side, [0, 0.0, s["batch_sizes"][side]])
            t[0], t[1], t[2] = t[0] + n, t[1] + sec, min(t[2], s["batch_sizes"][side])
    if timed:
        log("[summary] TTT by canvas side: " + ", ".join(
            f"{side}: {n / sec:.2f} steps/s at {rows} rows ({n} steps)" for side, (n, sec, rows) in sorted(timed.items())))
    compiles = [s["compile"] for s in stats if s.get("compile", {}).get("mode", "off") != "off"]
    if compiles:
        failed_compiles = [c["error"] for c in compiles if c["error"]]
        log(f"[summary] compiled step ({compiles[0]['mode']}): cold compile {max(c['compile_s'] for c in compiles):.1f}s "
            f"(the slowest worker's, before its first shard), {max(c['graphs'] for c in compiles)} graph(s) in a worker; "
            + (f"FELL BACK TO EAGER: {'; '.join(sorted(set(failed_compiles)))}" if failed_compiles else "no fallback to eager"))
    peaks = [(s["peak_ttt_gib"], s["peak_infer_gib"]) for s in stats if s.get("peak_ttt_gib") is not None]
    if peaks:
        log(f"[summary] peak GPU memory of any shard: TTT {max(p[0] for p in peaks):.2f} GiB, "
            f"inference {max(p[1] for p in peaks):.2f} GiB")
    elif stats:
        import resource
        log(f"[summary] peak memory: not measured per phase on the CPU (this process's peak RSS "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB)")
    if cpu_only:
        log("[summary] ran on the CPU only (no GPU used: see [versions] above)")
    log(f"[summary] {sub.path}: {'valid' if final_ok else 'INVALID'}")


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # A worker thread stuck in a long computation must not keep the process alive past the limit.
    os._exit(code)
