"""python -m submission: the Kaggle entry. Reads the test challenges, writes submission.json.

On Kaggle (no --challenges): the test challenges are found at the first of
    $TRM_KAGGLE_INPUT/competitions/arc-prize-2026-arc-agi-2/arc-agi_test_challenges.json
    $TRM_KAGGLE_INPUT/arc-prize-2026*/arc-agi_test_challenges.json
    $TRM_KAGGLE_INPUT/competitions/arc-prize-2026*/arc-agi_test_challenges.json
    $TRM_KAGGLE_INPUT/arc-prize-2025/arc-agi_test_challenges.json
the checkpoint in the attached dataset named `trm-checkpoint` (KAGGLE_CHECKPOINT_DATASET), else the
first checkpoint folder found under $TRM_KAGGLE_INPUT (competition folders skipped), and the answer
goes to $TRM_KAGGLE_WORKING/submission.json, with --time-limit 43200 --margin 900 (12 h - 15 min).
TRM_KAGGLE_INPUT defaults to /kaggle/input, TRM_KAGGLE_WORKING to /kaggle/working.

Elsewhere:
    python -m submission --challenges C.json --checkpoint runs/x --output sub.json --time-limit 600

Only the challenges file is read; no solutions file is ever opened.

What happens, top to bottom (main()):
  1. arguments; environment (Kaggle paths, KAGGLE_IS_COMPETITION_RERUN);
  2. the challenges, read leniently: a malformed task gets a fallback answer and a warning;
  3. within seconds, a complete valid submission.json of fallbacks (the test input as both
     attempts) is on disk; every later write is atomic (writer.py), so a kill leaves a valid file;
  4. the checkpoint; test-time settings from its training arguments, overridden by flags;
  5. the plan: tasks split into shards (>= 4 per worker, for load balance), largest first; each
     shard's time budget is its share (tasks + test inputs) of the time left when a worker takes
     it, so the run ends --margin seconds before --time-limit; --task-cap bounds it further;
  6. workers: one process per GPU (torch.multiprocessing, spawn), each pinned to cuda:i; on a
     machine without GPUs one worker in this process (--workers N for N CPU processes). A worker
     asks for the next shard when it is free (the shared queue lives here, so a worker that dies
     cannot take a queue lock with it), runs test-time training and inference (solve.py) and sends
     each task's answers back as they are ready; they are written at once;
  7. a worker that dies (out of memory, a bad task) costs only its current shard: its tasks keep
     their fallbacks and are named; one replacement is started per device while shards remain;
  8. the file is read back and validated; a summary closes the run.
"""
import argparse
import glob
import json
import math
import os
import queue
import sys
import threading
import time

from .tasks import TaskError, add_task_selection_args, load_challenges_lenient, select_tasks
from .writer import SubmissionFile

KAGGLE_CHECKPOINT_DATASET = "trm-checkpoint"  # attach the checkpoint as a Kaggle dataset of this name
KAGGLE_CHALLENGES = (  # newest competition first; paths relative to $TRM_KAGGLE_INPUT
    "competitions/arc-prize-2026-arc-agi-2/arc-agi_test_challenges.json",
    "arc-prize-2026*/arc-agi_test_challenges.json",
    "competitions/arc-prize-2026*/arc-agi_test_challenges.json",
    "arc-prize-2025/arc-agi_test_challenges.json",
)
KAGGLE_TIME_LIMIT, KAGGLE_MARGIN = 43200, 900
SHARDS_PER_WORKER = 4
PROGRESS_EVERY_S = 60.0


def log(text: str) -> None:
    print(text, flush=True)


# -----------------------------------------------------------------------------
# Environment: Kaggle paths (overridable so tests can fake the tree)


def kaggle_input() -> str:
    return os.environ.get("TRM_KAGGLE_INPUT", "/kaggle/input")


def kaggle_working() -> str:
    return os.environ.get("TRM_KAGGLE_WORKING", "/kaggle/working")


def find_challenges(input_dir: str) -> list[str]:
    """Every Kaggle test challenges file under input_dir, preferred first."""
    found = []
    for pattern in KAGGLE_CHALLENGES:
        for path in sorted(glob.glob(os.path.join(input_dir, pattern))):
            if os.path.isfile(path) and path not in found:
                found.append(path)
    return found


def find_checkpoint(input_dir: str):
    """The checkpoint folder in input_dir/KAGGLE_CHECKPOINT_DATASET, else the first folder under
    input_dir (sorted walk, competition folders skipped) that resolve_checkpoint accepts; or None."""
    from .checkpoint import resolve_checkpoint

    def first_under(root, skip_competitions):
        top = os.path.abspath(root).count(os.sep)
        for dirpath, dirnames, _ in os.walk(root, followlinks=True):
            dirnames.sort()
            if os.path.abspath(dirpath).count(os.sep) - top >= 6:
                dirnames[:] = []  # deep enough; also stops symlink loops
            if skip_competitions and os.path.abspath(dirpath) == os.path.abspath(input_dir):
                dirnames[:] = [d for d in dirnames if d != "competitions" and not d.startswith("arc-prize")]
            try:
                return resolve_checkpoint(dirpath)
            except FileNotFoundError:
                continue
        return None

    named = os.path.join(input_dir, KAGGLE_CHECKPOINT_DATASET)
    if os.path.isdir(named):
        found = first_under(named, False)
        if found is not None:
            return found
    return first_under(input_dir, True) if os.path.isdir(input_dir) else None


# -----------------------------------------------------------------------------
# Arguments


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m submission", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("files and time")
    g.add_argument("--challenges", help="challenges .json (default: the Kaggle test challenges)")
    g.add_argument("--checkpoint", help="checkpoint folder or run folder (default: found under the Kaggle input)")
    g.add_argument("--output", help="submission .json to write (default: $TRM_KAGGLE_WORKING/submission.json on "
                                    "Kaggle, ./submission.json elsewhere)")
    g.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help=f"wall-clock limit counted from this command's start (default {KAGGLE_TIME_LIMIT} on "
                        "Kaggle, 600 elsewhere; a notebook that spent time before should pass what is left)")
    g.add_argument("--margin", type=float, default=None, metavar="SECONDS",
                   help=f"plan to finish this long before the limit (default {KAGGLE_MARGIN} on Kaggle, "
                        "10%% of the limit elsewhere)")
    add_task_selection_args(p)
    g = p.add_argument_group("test-time training (defaults: the checkpoint's training arguments)")
    g.add_argument("--ttt-mode", choices=("full", "embeddings"), default="full",
                   help="full: fine-tune every weight and the new puzzle rows; embeddings: the new rows only")
    g.add_argument("--ttt-steps", type=int, default=None, help="cap on training steps per shard (default: the time budget)")
    g.add_argument("--num-aug", type=int, default=None,
                   help="augmentations (puzzle ids) per task (default: from the budget, at most the checkpoint's num_aug)")
    g.add_argument("--ttt-batch-size", type=int, default=None, help="rows per training step (default: the checkpoint's, at most 128)")
    g.add_argument("--lr", type=float, default=None)
    g.add_argument("--puzzle-lr", type=float, default=None)
    g.add_argument("--warmup-steps", type=int, default=None, help="default: a tenth of the planned steps")
    g.add_argument("--ema", type=float, default=None, help="weight EMA during training, used to predict (0: off)")
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("inference and voting")
    g.add_argument("--views", type=int, default=None, help="cap on augmented views per test input (default: the augmentations trained)")
    g.add_argument("--halt", choices=("act", "all"), default="act",
                   help="act: a row stops when its halt logit says so; all: every supervision step runs")
    g.add_argument("--vote", choices=("votes", "poe"), default="votes",
                   help="votes: vote count, ties by mean halt confidence; poe: summed log-probability over the views")
    g.add_argument("--poe-top", type=int, default=8, help="candidates (by votes) re-scored under --vote poe")
    g.add_argument("--candidates", metavar="PATH",
                   help="also write the top candidates of every test input with votes, mean halt confidence and "
                        "PoE score (both rankings, for offline study) to this .json")
    g.add_argument("--infer-batch-size", type=int, default=256, help="view rows per inference batch")
    g.add_argument("--infer-share", type=float, default=0.25, help="at most this share of a shard's budget goes to inference")
    g = p.add_argument_group("workers")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    g.add_argument("--workers", type=int, default=None, help="worker count (default: one per GPU; one on the CPU)")
    g.add_argument("--tasks-per-shard", type=int, default=None,
                   help=f"default: enough shards for {SHARDS_PER_WORKER} per worker")
    g.add_argument("--task-cap", type=float, default=None, metavar="SECONDS",
                   help="at most this many seconds per task in a shard's budget (default: no cap beyond the fair share)")
    return p


def solve_settings(meta: dict, args):
    """Test-time settings: the checkpoint's training arguments, then the flags."""
    from .solve import SolveSettings
    a = meta.get("args", {})
    pick = lambda flag, key, default: flag if flag is not None else a.get(key, default)
    return SolveSettings(
        ttt_mode=args.ttt_mode, ttt_steps=args.ttt_steps, num_aug=args.num_aug,
        max_aug=max(1, int(a.get("num_aug", 1000))),
        batch_size=args.ttt_batch_size or min(int(a.get("global_batch_size", 64)), 128),
        lr=pick(args.lr, "lr", 1e-4), puzzle_lr=pick(args.puzzle_lr, "puzzle_lr", 1e-2),
        weight_decay=a.get("weight_decay", 0.1), puzzle_weight_decay=a.get("puzzle_weight_decay", 0.1),
        warmup_steps=args.warmup_steps, max_warmup=int(a.get("warmup_steps", 2000)),
        grad_clip=a.get("grad_clip", 1.0) or 0.0, ema=pick(args.ema, "ema", 0.0) or 0.0,
        translate_prob=a.get("translate_prob", 0.5), max_buckets=int(a.get("max_buckets", 8)),
        keep_black=bool(a.get("keep_black", True)), views=args.views, halt=args.halt, vote=args.vote,
        poe_top=args.poe_top, report_candidates=10 if args.candidates else 0,
        infer_batch_size=args.infer_batch_size, infer_share=args.infer_share, seed=args.seed)


def make_shards(tasks: list, per_shard: int) -> list[list]:
    """Largest tasks first (they run on the biggest canvases), cut into shards of per_shard."""
    order = sorted(tasks, key=lambda t: (-t.max_side(), -len(t.train)))
    return [order[i:i + per_shard] for i in range(0, len(order), per_shard)]


# -----------------------------------------------------------------------------
# The run


def main(argv=None) -> int:
    t_start = time.time()
    phase = {}  # seconds per phase of the main process

    # ---- arguments and environment ----
    args = build_parser().parse_args(argv)
    on_kaggle = args.challenges is None
    rerun = bool(os.environ.get("KAGGLE_IS_COMPETITION_RERUN"))
    if on_kaggle:
        found = find_challenges(kaggle_input())
        if not found:
            log(f"error: no --challenges given and no Kaggle test challenges under {kaggle_input()} "
                f"(looked for {', '.join(KAGGLE_CHALLENGES)})")
            return 2
        challenges = found[0]
        output = args.output or os.path.join(kaggle_working(), "submission.json")
        time_limit = args.time_limit if args.time_limit is not None else KAGGLE_TIME_LIMIT
        margin = args.margin if args.margin is not None else KAGGLE_MARGIN
        run_kind = ("Kaggle scoring rerun (hidden test tasks)" if rerun
                    else "Kaggle, interactive run (the visible test file is a placeholder)")
        if len(found) > 1:
            run_kind += f"; other challenges files ignored: {', '.join(found[1:])}"
    else:
        challenges = args.challenges
        output = args.output or "submission.json"
        time_limit = args.time_limit if args.time_limit is not None else 600.0
        margin = args.margin if args.margin is not None else 0.1 * time_limit
        run_kind = "local run"
    deadline = t_start + time_limit - margin  # workers plan to be done by then
    hard_stop = t_start + time_limit - margin / 2  # past this, unfinished work is abandoned
    log(f"[env] {run_kind}; challenges {challenges}; output {output}; "
        f"time limit {time_limit:.0f}s, margin {margin:.0f}s")

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

    # ---- checkpoint and settings ----
    t = time.time()
    from .checkpoint import load_meta, resolve_checkpoint
    try:
        ckpt = resolve_checkpoint(args.checkpoint) if args.checkpoint else find_checkpoint(kaggle_input())
    except FileNotFoundError as e:
        ckpt, why = None, str(e)
    else:
        why = (f"no checkpoint under {kaggle_input()} (attach a dataset named {KAGGLE_CHECKPOINT_DATASET!r} "
               "or pass --checkpoint)")
    if ckpt is None:
        log(f"error: {why}; the submission keeps its fallback answers")
        summary(sub, errors, {}, [], phase, t_start, time_limit, final_ok=not sub.validate())
        return 2
    meta = load_meta(ckpt)
    settings = solve_settings(meta, args)
    canvas = int(meta["model_config"]["canvas_side"])
    log(f"[checkpoint] {ckpt} (step {meta.get('step', '?')}, preset {meta.get('preset', '?')}, canvas {canvas}); "
        f"TTT {settings.ttt_mode}, batch {settings.batch_size}, lr {settings.lr:g}, puzzle lr {settings.puzzle_lr:g}, "
        f"ema {settings.ema if settings.ttt_mode == 'full' else 'off'}; halt {settings.halt}, vote {settings.vote}")

    # ---- plan: the tasks the model can take, in shards ----
    too_big = [t for t in good if t.max_side() > canvas]
    for task in too_big:
        log(f"[warning] task {task.id}: grids up to {task.max_side()} exceed the checkpoint's canvas {canvas}; "
            "keeps its fallback answer")
    runnable = [t for t in good if t.max_side() <= canvas]

    import torch
    use_cuda = args.device != "cpu" and torch.cuda.is_available()
    if args.device == "cuda" and not use_cuda:
        log("error: --device cuda but CUDA is not available")
        return 2
    if use_cuda:
        n_gpu = torch.cuda.device_count()
        devices = [f"cuda:{i % n_gpu}" for i in range(args.workers or n_gpu)]
    else:
        devices = ["cpu"] * (args.workers or 1)
    in_process = devices == ["cpu"]
    per_shard = args.tasks_per_shard or max(1, math.ceil(len(runnable) / (SHARDS_PER_WORKER * len(devices))))
    shards = make_shards(runnable, per_shard)
    weights = [len(s) + sum(len(t.test_inputs) for t in s) for s in shards]  # training + inference units
    log(f"[plan] {len(runnable)} tasks in {len(shards)} shards of up to {per_shard}, {len(devices)} worker(s) on "
        f"{', '.join(sorted(set(devices)))}{' (in this process)' if in_process else ''}; "
        f"planned end {deadline - t_start:.0f}s after start")
    phase["checkpoint+plan"] = time.time() - t

    # ---- workers ----
    t = time.time()
    shard_stats, failed = run_workers(args, settings, str(ckpt), devices, in_process, shards, weights, sub,
                                      deadline, hard_stop)
    phase["solving"] = time.time() - t

    # ---- final validation ----
    t = time.time()
    sub.write()
    problems = sub.validate()
    if problems:
        log("[error] the written submission is invalid; writing fallbacks for the problem tasks:\n  "
            + "\n  ".join(problems[:20]))
        from .writer import fallback_entries
        fb = fallback_entries({tid: raw[tid] for tid in sub.expected})
        for tid in sub.expected:
            if any(repr(tid) in p for p in problems):
                sub.entries[tid] = fb[tid]
                sub.fallback[tid] = [True] * sub.expected[tid]
        sub.write()
        problems = sub.validate()
    phase["final write+validate"] = time.time() - t
    summary(sub, errors, shard_stats, failed, phase, t_start, time_limit, final_ok=not problems,
            too_big=[t.id for t in too_big])
    return 0 if not problems else 1


def run_workers(args, settings, ckpt, devices, in_process, shards, weights, sub, deadline, hard_stop):
    """Start the workers, hand out shards on request, write answers as they come, watch for deaths.
    Returns (shard stats {shard_id: stats}, [(task_id, reason)] for tasks that lost their shard)."""
    import torch.multiprocessing as mp
    from .solve import worker_main

    ctx = mp.get_context("spawn")
    outbox = queue.Queue() if in_process else ctx.Queue()
    stop = threading.Event() if in_process else ctx.Event()
    # Worker processes share the cores (CPU workers compute on them; GPU workers feed their card).
    threads = None if in_process else max(1, (os.cpu_count() or 1) // len(devices))
    workers = {}  # wid -> dict(device, handle, inbox, state, shard, restarts)

    def start(wid, device, restarts=0):
        inbox = queue.Queue() if in_process else ctx.Queue()
        argv = (wid, device, ckpt, settings, inbox, outbox, stop, threads)
        if in_process:
            handle = threading.Thread(target=worker_main, args=argv, daemon=True)
        else:
            handle = ctx.Process(target=worker_main, args=argv, daemon=True)
        handle.start()
        workers[wid] = {"device": device, "handle": handle, "inbox": inbox, "state": "starting",
                        "shard": None, "restarts": restarts}

    for wid, device in enumerate(devices):
        start(wid, device)

    pending = list(range(len(shards)))
    unstarted_weight = float(sum(weights))
    done_tasks, shard_stats, failed, candidates = set(), {}, [], {}
    n_tasks = sum(len(s) for s in shards)
    last_progress = time.time()

    def live():
        return [w for w in workers.values() if w["state"] in ("starting", "idle", "busy")]

    def dispatch(wid):
        nonlocal unstarted_weight
        w = workers[wid]
        left = deadline - time.time()
        if not pending or left <= 0:
            w["inbox"].put(None)
            w["state"] = "finishing"
            return
        sid = pending.pop(0)
        share = left * len(live()) * weights[sid] / max(unstarted_weight, weights[sid])
        budget = min(left, share)
        if args.task_cap:
            budget = min(budget, args.task_cap * len(shards[sid]))
        unstarted_weight -= weights[sid]
        w["inbox"].put((sid, shards[sid], budget))
        w["state"], w["shard"] = "busy", sid

    def lose_shard(wid, reason):
        sid = workers[wid]["shard"]
        if sid is None:
            return
        lost = [t.id for t in shards[sid] if t.id not in done_tasks]
        for tid in lost:
            failed.append((tid, reason))
        if lost:
            log(f"[warning] worker {wid}: shard {sid} failed ({reason.splitlines()[0]}); "
                f"tasks keeping their fallbacks: {', '.join(lost)}")
        workers[wid]["shard"] = None

    while True:
        now = time.time()
        if now >= hard_stop:
            log(f"[warning] hard stop {now - deadline:.0f}s past the planned end; abandoning unfinished work")
            break
        if not live() or (not pending and not any(w["state"] == "busy" for w in workers.values())):
            break  # nothing left to do (a replacement still loading is not waited for)
        try:
            msg = outbox.get(timeout=0.5)
        except queue.Empty:
            msg = None
        if msg is not None:
            kind, wid = msg[0], msg[1]
            w = workers[wid]
            if kind == "log":
                log(f"  [w{wid}] {msg[2]}")
            elif kind == "ready":
                log(f"[worker {wid}] ready on {msg[2]['device']} (model loaded in {msg[2]['load_s']}s)")
                dispatch(wid)
            elif kind == "shard_start":
                log(f"[worker {wid}] shard {msg[2]}: {len(shards[msg[2]])} tasks, budget {msg[3]:.0f}s")
            elif kind == "task":
                _, _, sid, tid, entries, predicted, info = msg
                if "ranked" in info:
                    candidates[tid] = info["ranked"]
                try:
                    sub.set(tid, entries, predicted)
                    done_tasks.add(tid)
                except ValueError as e:
                    log(f"[warning] task {tid}: answer rejected, keeps its fallback: {e}")
            elif kind == "shard_done":
                shard_stats[msg[2]] = msg[3]
                w["shard"] = None
                st = msg[3]
                log(f"[worker {wid}] shard {msg[2]} done: {st['ttt_steps']} TTT steps in {st['ttt_s']:.0f}s "
                    f"(loss {st['loss']}, {st['num_aug']} augmentations), inference {st['infer_s']:.0f}s "
                    f"(views {st['views']}); {len(done_tasks)}/{n_tasks} tasks predicted, "
                    f"{deadline - time.time():.0f}s to the planned end")
                dispatch(wid)
            elif kind == "shard_error":
                lose_shard(wid, msg[3])
                dispatch(wid)
            elif kind == "worker_error":
                log(f"[warning] worker {wid} could not start: {msg[2].strip().splitlines()[-1]}")
                w["state"] = "dead"
            elif kind == "exit":
                w["state"] = "exited"
        # Deaths: a process gone without saying so (killed, out of memory, crashed). Checked only
        # when the outbox is drained, so a worker's last messages are never mistaken for losses.
        for wid, w in (list(workers.items()) if msg is None else []):
            h = w["handle"]
            if w["state"] in ("starting", "idle", "busy", "finishing") and not h.is_alive():
                code = getattr(h, "exitcode", None)
                lose_shard(wid, f"worker died (exit code {code})")
                w["state"] = "dead"
                if pending and w["restarts"] < 1 and time.time() < deadline:
                    log(f"[worker {wid}] died (exit code {code}); starting a replacement on {w['device']}")
                    start(wid, w["device"], w["restarts"] + 1)
        if time.time() - last_progress >= PROGRESS_EVERY_S:
            log(f"[progress] {len(done_tasks)}/{n_tasks} tasks predicted, {len(shard_stats)}/{len(shards)} shards "
                f"done, {deadline - time.time():.0f}s to the planned end")
            last_progress = time.time()

    # Wind down: tell everyone to stop, give them a moment, then end the processes.
    stop.set()
    for wid, w in workers.items():
        if w["state"] in ("starting", "idle", "busy"):
            lose_shard(wid, "stopped at the time limit")
    for w in workers.values():
        w["handle"].join(timeout=5)
        if not in_process and w["handle"].is_alive():
            w["handle"].kill()
    for sid in pending:
        for t in shards[sid]:
            failed.append((t.id, "not started before the time limit"))
    if pending:
        log(f"[warning] {len(pending)} shard(s) never started; their tasks keep their fallbacks: "
            + ", ".join(t.id for sid in pending for t in shards[sid]))
    if args.candidates:
        from .writer import write_atomic
        write_atomic(candidates, args.candidates)
        log(f"[candidates] {len(candidates)} tasks written to {args.candidates}")
    return shard_stats, failed


def summary(sub, errors, shard_stats, failed, phase, t_start, time_limit, final_ok, too_big=()):
    n_tasks, n_inputs = len(sub.expected), sum(sub.expected.values())
    ttt = sum(s["ttt_s"] for s in shard_stats.values())
    inf = sum(s["infer_s"] for s in shard_stats.values())
    steps = sum(s["ttt_steps"] for s in shard_stats.values())
    log(f"[summary] {n_tasks} tasks, {n_inputs} test inputs; fallbacks used for {sub.fallbacks_used()} test inputs "
        f"({len(errors)} bad-input tasks, {len(too_big)} too large for the canvas, {len(failed)} lost to failures or time)")
    if errors:
        log(f"[summary] bad input: {', '.join(errors)}")
    if failed:
        log(f"[summary] lost: {', '.join(tid for tid, _ in failed)}")
    log("[summary] time: " + ", ".join(f"{k} {v:.1f}s" for k, v in phase.items())
        + f"; summed over shards: TTT {ttt:.1f}s ({steps} steps), inference {inf:.1f}s; "
          f"total {time.time() - t_start:.1f}s of {time_limit:.0f}s")
    log(f"[summary] {sub.path}: {'valid' if final_ok else 'INVALID'}")


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # A worker thread stuck in a long computation must not keep the process alive past the limit.
    os._exit(code)
