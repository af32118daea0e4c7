"""python -m offline_eval simulate: the Kaggle scoring rerun, on this machine.

For each configuration (the base one, then one per --sweep value):
  1. lay out a Kaggle-like tree OUT/<run>/kaggle/input/ holding only the test challenges
     (arc-prize-2025/arc-agi_test_challenges.json) and the checkpoint as the dataset trm-checkpoint;
     the solutions stay in this process's memory and are never written where the entry could look;
  2. run the entry as a separate process with KAGGLE_IS_COMPETITION_RERUN=1 and the paths pointed at
     that tree (`python -m submission`, or the generated notebook with --notebook), under a
     wall-clock limit: on timeout it is killed, as Kaggle would;
  3. validate and score whatever submission.json exists (a missing or invalid file scores 0, as
     on Kaggle), plus from the candidates file the pass@2 of both voting rules and the oracle
     pass@K (is the truth among the first K candidates at all);
  4. write OUT/report.html (the base run) and OUT/sweep.md (one row per configuration).

Before any of that, the checkpoint's meta is read: a scored task that its pretraining saw in any role
makes the simulation refuse (exit 2). Trained on entirely (test outputs included): always refused.
Held out (demonstrations trained on, augmentations drawn from its test inputs, best/ chosen by pass@2
on its test outputs): refused unless --paper-protocol says that protocol is intended, and then the
report's title and run facts say so, as do sweep.md and each summary.json row. A meta that does not
record what its pretraining saw (the puzzle map's task ids, the held-out list) is refused too.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from offline_eval import report, scoring
from offline_eval.render import line_plot_svg

REPO = Path(__file__).resolve().parents[1]
SWEEP_AXES = {  # --sweep AXIS=V1,V2,...  ->  the entry's flag
    "views": "--views", "vote": "--vote", "ttt-steps": "--ttt-steps",
    "halt": "--halt", "num-aug": "--num-aug", "ttt-mode": "--ttt-mode", "row-init": "--row-init",
    "embeddings-first": "--embeddings-first", "lr": "--lr", "puzzle-lr": "--puzzle-lr", "ema": "--ema", "demo-check": "--demo-check",
    "tasks-per-shard": "--tasks-per-shard",  # a shard's tasks are fine-tuned jointly from one reset
}


def add_simulate_args(p: argparse.ArgumentParser):
    from submission.tasks import add_task_selection_args
    p.add_argument("--checkpoint", required=True, help="checkpoint folder or run folder (best/ or last/ inside)")
    p.add_argument("--data", required=True, help="tasks to simulate as the hidden test set: arc1/eval, a challenges .json with solutions beside ...")
    p.add_argument("--solutions", default=None, help="solutions .json for a challenges file (else the tasks' own test outputs)")
    add_task_selection_args(p)
    p.add_argument("--time-limit", type=float, default=600, help="wall-clock limit of each entry run, seconds (Kaggle: 43200)")
    p.add_argument("--margin", type=float, default=None, help="the entry's safety margin, seconds (default: 10%% of the limit, at most 900)")
    p.add_argument("--out", default="runs/simulate", help="output folder: report.html, sweep.md, one folder per run")
    p.add_argument("--notebook", action="store_true", help="run the generated notebook (nbclient) instead of the module")
    p.add_argument("--sweep", action="append", default=[], metavar="AXIS=V1,V2",
                   help=f"also run once per value of an inference/TTT setting; axes: {', '.join(SWEEP_AXES)}")
    p.add_argument("--entry-args", default="", help="extra flags for every entry run, e.g. \"--ttt-steps 200 --views 8\"")
    p.add_argument("--title", default="Kaggle rerun simulation")
    p.add_argument("--paper-protocol", action="store_true",
                   help="allow scoring tasks the checkpoint held out in pretraining (their demonstrations trained "
                        "on, best/ chosen on their test outputs), as the TRM paper reports; the report says so. "
                        "Tasks it trained on entirely are refused even then")


RESUME_ONLY = ("optimizer.safetensors", "train_state.json")  # what only `python -m train --resume` reads


def _layout(run_dir: Path, challenges: dict, checkpoint: Path) -> tuple[Path, Path]:
    """The Kaggle-like tree: input/arc-prize-2025/<challenges>, input/trm-checkpoint/, working/."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    inp, work = run_dir / "kaggle" / "input", run_dir / "kaggle" / "working"
    (inp / "arc-prize-2025").mkdir(parents=True)
    work.mkdir(parents=True)
    with open(inp / "arc-prize-2025" / "arc-agi_test_challenges.json", "w") as f:
        json.dump(challenges, f)
    ck = inp / "trm-checkpoint"
    ck.mkdir()
    for f in checkpoint.iterdir():
        # Everything the entry may read (a full checkpoint's weights, table and encoder, or an
        # export's weights and ttt tensors); the resumable training state is not needed on Kaggle.
        if f.is_file() and f.name not in RESUME_ONLY:
            shutil.copy2(f, ck / f.name)
    return inp, work


def _run_entry(inp: Path, work: Path, flags: list, time_limit: float, margin: float, notebook: bool, log_path: Path) -> dict:
    env = dict(os.environ, TRM_KAGGLE_INPUT=str(inp), TRM_KAGGLE_WORKING=str(work), KAGGLE_IS_COMPETITION_RERUN="1",
               TRM_TIME_LIMIT=str(time_limit), TRM_MARGIN=str(margin), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if notebook:
        # The notebook reads its limit and margin from TRM_TIME_LIMIT / TRM_MARGIN and appends
        # TRM_ENTRY_ARGS to the entry's command line (after its own settings, so these win).
        env["TRM_ENTRY_ARGS"] = shlex.join(flags + ["--candidates", str(work / "candidates.json")])
        cmd = [sys.executable, "-m", "offline_eval.run_notebook", str(REPO / "notebooks" / "arc_submission.ipynb")]
    else:
        cmd = [sys.executable, "-m", "submission", "--time-limit", str(time_limit), "--margin", str(margin),
               "--candidates", str(work / "candidates.json")] + flags
    t0 = time.time()
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        timed_out, lines = False, []
        deadline = t0 + time_limit
        import threading
        def pump():
            for line in proc.stdout:
                logf.write(line)
                logf.flush()
                lines.append(line)
                print("  | " + line.rstrip(), flush=True)
        th = threading.Thread(target=pump, daemon=True)
        th.start()
        while proc.poll() is None:
            if time.time() > deadline:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)  # Kaggle stops the notebook at the limit, no grace
                break
            time.sleep(0.2)
        proc.wait()
        th.join(timeout=5)
    return {"exit_code": proc.returncode, "timed_out": timed_out, "wall_s": round(time.time() - t0, 1), "log": "".join(lines)}


def _oracle(cands: dict, solutions: dict) -> dict:
    """pass@K of the candidate lists (K = 1, 2, 5, all) and pass@2 of each ranking, per-task averaged."""
    ks = (1, 2, 5, 10_000)
    per_task = {f"oracle@{k if k < 10_000 else 'all'}": [] for k in ks}
    per_task.update({"votes@2": [], "poe@2": []})
    for tid, truths in solutions.items():
        lists = cands.get(tid) or [[] for _ in truths]
        hits = {k: [] for k in per_task}
        for i, truth in enumerate(truths):
            cl = lists[i] if i < len(lists) else []
            ok = [c["grid"] == truth for c in cl]
            for k in ks:
                hits[f"oracle@{k if k < 10_000 else 'all'}"].append(any(ok[:k]))
            by_votes = sorted(range(len(cl)), key=lambda j: (-cl[j]["votes"], -cl[j]["mean_conf"]))
            hits["votes@2"].append(any(ok[j] for j in by_votes[:2]))
            scored = [j for j in range(len(cl)) if cl[j].get("poe") is not None]
            by_poe = sorted(scored, key=lambda j: -cl[j]["poe"]) + [j for j in by_votes if j not in scored]
            hits["poe@2"].append(any(ok[j] for j in by_poe[:2]))
        for k in per_task:
            per_task[k].append(float(np.mean(hits[k])) if hits[k] else 0.0)
    return {k: round(float(np.mean(v)), 4) if v else 0.0 for k, v in per_task.items()}


def _ttt_losses(log: str) -> dict:
    """{shard: [(step, loss), ...]} from the entry's test-time training progress lines
    ("[ttt] shard 3: step 332/1098 loss 1.0776 ...")."""
    series: dict = {}
    for m in re.finditer(r"shard (\d+): step (\d+)\S* loss ([0-9.]+)", log):
        series.setdefault(f"shard {m.group(1)}", []).append((float(m.group(2)), float(m.group(3))))
    return series


def simulate_one(name: str, out: Path, challenges: dict, solutions: dict, checkpoint: Path, flags: list, args) -> dict:
    run_dir = out / name
    inp, work = _layout(run_dir, challenges, checkpoint)
    margin = args.margin if args.margin is not None else min(900.0, 0.1 * args.time_limit)
    print(f"[simulate] {name}: {len(challenges)} tasks, limit {args.time_limit:.0f}s (margin {margin:.0f}s), "
          f"flags {' '.join(flags) or '(none)'}", flush=True)
    res = _run_entry(inp, work, flags, args.time_limit, margin, args.notebook, run_dir / "entry.log")
    sub_path = work / "submission.json"
    row = {"name": name, "flags": " ".join(flags), **{k: res[k] for k in ("exit_code", "timed_out", "wall_s")}}
    sub = None
    if sub_path.is_file():
        try:
            sub = scoring.load_json(sub_path)
        except scoring.JsonLoadError as e:
            row["problems"] = [str(e)]
    if sub is None:
        row.update({"valid": False, "score": 0.0, "per_output": 0.0, "pass1": 0.0})
        row.setdefault("problems", ["no submission.json written"])
        return row
    problems = scoring.validate_submission(sub, challenges)
    row["valid"] = not problems
    row["problems"] = problems[:20]
    # Kaggle scores an invalid file as an error; we still show what it would have scored.
    sc = scoring.score_submission(sub, solutions)
    row.update({"score": sc["score"] if not problems else 0.0, "score_if_valid": sc["score"],
                "per_output": sc["per_output"], "pass1": sc["pass1"], "tasks": sc["tasks"]})
    cpath = work / "candidates.json"
    if cpath.is_file():
        row.update(_oracle(json.loads(cpath.read_text()), solutions))
    row["ttt_loss"] = _ttt_losses(res["log"])
    row["submission"] = sub
    return row


def task_views(tasks, sub: dict, scores: dict) -> list:
    """What the report draws for each task: demonstrations, test inputs, both attempts, the truth."""
    views = []
    for t in tasks:
        entries = sub.get(t.id) if isinstance(sub, dict) and isinstance(sub.get(t.id), list) else []
        attempts = [[e.get("attempt_1"), e.get("attempt_2")] if isinstance(e, dict) else [None, None] for e in entries]
        views.append({"id": t.id, "train": [(a.tolist(), b.tolist()) for a, b in t.train],
                      "test_inputs": [g.tolist() for g in t.test_inputs], "attempts": attempts,
                      "truth": [g.tolist() for g in t.test_outputs] if t.test_outputs is not None else None,
                      "score": scores.get("tasks", {}).get(t.id, 0.0)})
    return views


def add_report_args(p: argparse.ArgumentParser):
    from submission.tasks import add_task_selection_args
    p.add_argument("submission", help="submission.json")
    p.add_argument("data", help="the tasks it answers, with test outputs: arc1/eval, a folder, or a challenges .json")
    p.add_argument("--solutions", default=None, help="solutions .json for a challenges file")
    add_task_selection_args(p)
    p.add_argument("--out", default="runs/report", help="folder for report.html and png/")
    p.add_argument("--title", default="Submission report")


def run_report(args) -> int:
    """python -m offline_eval report SUBMISSION DATA: score and draw an existing submission."""
    from submission.tasks import TaskError, select_tasks, tasks_to_solutions
    from train.taskspec import load_tasks
    try:
        sub = scoring.load_json(args.submission)
        tasks = load_tasks(args.data, solutions=args.solutions)
        ids = [t for t in (sub if isinstance(sub, dict) else {})]
        tasks = select_tasks(tasks, max_side=args.max_side, first=args.first)
        wanted = set(args.tasks) if args.tasks else set(ids)  # --tasks arrives as a list of ids
        tasks = [t for t in tasks if t.id in wanted]
        solutions = tasks_to_solutions(tasks)
    except (scoring.JsonLoadError, TaskError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    scores = scoring.score_submission(sub, solutions)
    path = report.write_report(Path(args.out), task_views(tasks, sub, scores), scores, [], args.title,
                               {"submission": args.submission, "tasks": f"{len(tasks)} from {args.data}"})
    print(f"score {scores['score']:.4f} on {len(tasks)} tasks; report: {path}")
    return 0


def seen_in_pretraining(meta: dict, task_ids) -> tuple[list, list]:
    """The scored tasks a checkpoint's pretraining saw, by role, from its meta: (trained on entirely,
    held out: demonstrations trained on and test outputs scored, which chose best/).
    Raises ValueError when the meta does not record both, so nothing can pass as unseen by omission."""
    missing = [k for k, ok in (("puzzle_map.task_ids", "task_ids" in meta.get("puzzle_map", {})),
                               ("data.heldout_tasks", "heldout_tasks" in meta.get("data", {}))) if not ok]
    if missing:
        raise ValueError(f"its meta.json lacks {' and '.join(missing)}, so simulate cannot tell which tasks its "
                         "pretraining saw; score it with a checkpoint written by this kit's `python -m train`")
    heldout = set(meta["data"]["heldout_tasks"])
    in_table = set(meta["puzzle_map"]["task_ids"])
    whole = sorted(t for t in task_ids if t in in_table and t not in heldout)
    held = sorted(t for t in task_ids if t in heldout)
    return whole, held


def _some(ids: list) -> str:
    return ", ".join(ids[:10]) + (f" ... ({len(ids)} in all)" if len(ids) > 10 else "")


def run_simulate(args) -> int:
    from submission.checkpoint import load_meta, resolve_checkpoint
    from submission.tasks import TaskError, select_from_args, tasks_to_challenges, tasks_to_solutions
    from train.taskspec import load_tasks
    try:
        tasks = select_from_args(load_tasks(args.data, solutions=args.solutions), args)
        checkpoint = resolve_checkpoint(args.checkpoint).resolve()
    except (TaskError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not tasks:
        print("error: no tasks selected", file=sys.stderr)
        return 2
    try:
        solutions = tasks_to_solutions(tasks)
    except TaskError as e:
        print(f"error: scoring needs the test outputs: {e}", file=sys.stderr)
        return 2
    # Evaluation integrity: a score is an unseen-task score only when pretraining never saw the tasks.
    meta = load_meta(checkpoint)
    try:
        whole, held = seen_in_pretraining(meta, [t.id for t in tasks])
    except ValueError as e:
        print(f"error: {checkpoint}: {e}", file=sys.stderr)
        return 2
    if whole:
        print(f"error: {len(whole)} of the {len(tasks)} scored tasks were trained on entirely by {checkpoint} "
              f"(demonstrations and test outputs): {_some(whole)}. Their score would measure memorisation; "
              "score tasks the checkpoint never trained on.", file=sys.stderr)
        return 2
    if held and not args.paper_protocol:
        print(f"error: {len(held)} of the {len(tasks)} scored tasks were held out in the pretraining of {checkpoint} "
              f"(demonstrations trained on, augmentations drawn from their test inputs, best/ chosen by pass@2 on "
              f"their test outputs): {_some(held)}. Their score is not an unseen-task score. Score tasks the "
              "checkpoint never saw (e.g. arc1/eval with a checkpoint pretrained on arc1/train only), or pass "
              "--paper-protocol to score them as the TRM paper does (the report then says so).", file=sys.stderr)
        return 2
    if held:
        protocol = (f"paper protocol: the checkpoint pretrained on the demonstrations of {len(held)} of these "
                    f"{len(tasks)} tasks and chose best/ on their test outputs; not an unseen-task score")
        args.title = f"{args.title} [paper protocol, not unseen tasks]"
        print(f"[simulate] {protocol}", flush=True)
    else:
        protocol = "unseen tasks: none of them appears in the checkpoint's pretraining"
    challenges = tasks_to_challenges(tasks)
    out = Path(args.out).resolve()  # the entry runs in its own working folder: paths must be absolute
    out.mkdir(parents=True, exist_ok=True)
    base_flags = args.entry_args.split() if args.entry_args else []
    configs = [("base", base_flags)]
    for sw in args.sweep:
        axis, _, values = sw.partition("=")
        if axis not in SWEEP_AXES or not values:
            print(f"error: --sweep {sw!r}: expected AXIS=V1,V2 with AXIS one of {', '.join(SWEEP_AXES)}", file=sys.stderr)
            return 2
        for v in values.split(","):
            configs.append((f"{axis}-{v}", base_flags + [SWEEP_AXES[axis], v]))
    rows = [simulate_one(name, out, challenges, solutions, checkpoint, flags, args) for name, flags in configs]

    # ---- report of the base run, sweep table of all ----
    base = rows[0]
    plots = []
    if base.get("ttt_loss"):
        plots.append(line_plot_svg(base["ttt_loss"], "Test-time training loss per shard", "step", "loss"))
    for axis in SWEEP_AXES:
        pts = [(float(r["name"].split("-", 1)[1]), r["score"]) for r in rows[1:]
               if r["name"].startswith(axis + "-") and re.fullmatch(r"[0-9.]+", r["name"].split("-", 1)[1])]
        if len(pts) >= 2:
            plots.append(line_plot_svg({"score": sorted(pts)}, f"Score against {axis}", axis, "score",
                                       logx=axis in ("views", "ttt-steps")))
    sub = base.get("submission") or {}
    scores = scoring.score_submission(sub, solutions)
    views = task_views(tasks, sub, scores)
    run_meta = {"protocol": protocol,
                "tasks": f"{len(tasks)} from {args.data} (selection: max_side={args.max_side}, first={args.first})",
                "checkpoint": str(checkpoint), "trained on": f"{meta.get('data', {}).get('train')} + demos of "
                f"{meta.get('data', {}).get('eval')}, {meta.get('step')} steps, preset {meta.get('preset')}",
                "budget": f"{args.time_limit:.0f}s wall-clock per run on this machine", "entry": "notebook" if args.notebook else "python -m submission",
                "valid": base["valid"], "timed out": base["timed_out"], "exit code": base["exit_code"]}
    for k in ("votes@2", "poe@2", "oracle@1", "oracle@2", "oracle@5", "oracle@all"):
        if k in base:
            run_meta[k] = base[k]
    path = report.write_report(out, views, scores, plots, args.title, run_meta)
    cols = ["name", "valid", "timed_out", "wall_s", "score", "per_output", "pass1", "votes@2", "poe@2", "oracle@2", "oracle@all"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    table = "\n".join(lines)
    # The protocol travels with every copy of the figures: a sweep table or summary row read alone
    # must still say whether these tasks were unseen.
    (out / "sweep.md").write_text(f"{args.title}\n\n{protocol}\n\n{table}\n")
    summary = [{"protocol": protocol, **{k: v for k, v in r.items() if k not in ("submission", "tasks")}}
               for r in rows]
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(table)
    print(f"[simulate] base: score {base['score']:.4f} (per-output {base.get('per_output', 0):.4f}, pass@1 "
          f"{base.get('pass1', 0):.4f}), valid {base['valid']}, {base['wall_s']}s; report: {path}")
    return 0
