"""python -m offline_eval baselines --data SPEC: what a figure must beat on a given task set.

A pass@2 of 0.02 means little on its own: some ARC tasks are "solved" by rules that read nothing of
the test input. This command scores three such rules with the official scorer, on exactly the tasks
a training run holds out or a simulation scores (the same --data and selection flags):

  identity       both attempts are the test input itself;
  demo outputs   the two most frequent demonstration outputs (tasks whose answer is a fixed grid);
  demo dihedral  the dihedral transforms (of the 8) that map every demonstration input to its
                 output, applied to the test input; the identity when none does. A one-rule
                 program search: the floor a learned model should clear on geometric tasks.

It prints each rule's score (per-task mean of solved test outputs, pass@2, Kaggle's rule) and the
task ids it solves, so a model's solved list can be compared against them.
"""
import argparse
import json
from collections import Counter

import numpy as np

from offline_eval.scoring import score_submission
from submission.augment import N_DIHEDRAL, dihedral
from submission.tasks import TaskError, add_task_selection_args, select_from_args, tasks_to_solutions
from train.taskspec import load_tasks


def identity(task) -> list[list[np.ndarray]]:
    return [[g, g] for g in task.test_inputs]


def demo_outputs(task) -> list[list[np.ndarray]]:
    counts = Counter((o.shape, o.tobytes()) for _, o in task.train)
    by_key = {(o.shape, o.tobytes()): o for _, o in task.train}
    top = [by_key[k] for k, _ in counts.most_common(2)]
    return [[top[0], top[-1]] for _ in task.test_inputs]


def demo_dihedral(task) -> list[list[np.ndarray]]:
    fits = [d for d in range(N_DIHEDRAL)
            if all(np.array_equal(dihedral(i, d), o) for i, o in task.train)] or [0]
    fits = (fits * 2)[:2]  # two attempts; one fitting transform fills both
    return [[dihedral(g, d) for d in fits] for g in task.test_inputs]


BASELINES = {"identity": identity, "demo outputs": demo_outputs, "demo dihedral": demo_dihedral}


def score_baselines(tasks) -> dict:
    """{name: score_submission result} for every baseline on these tasks (test outputs needed)."""
    solutions = tasks_to_solutions(tasks)
    out = {}
    for name, rule in BASELINES.items():
        submission = {t.id: [{"attempt_1": a.tolist(), "attempt_2": b.tolist()} for a, b in rule(t)] for t in tasks}
        out[name] = score_submission(submission, solutions)
    return out


def add_baselines_args(parser: argparse.ArgumentParser):
    parser.add_argument("--data", action="append", required=True,
                        help="task spec(s) with test outputs: arc1/train, arc1/eval, arc2/..., a folder, or a "
                             "challenges .json (its solutions beside it or via --solutions)")
    parser.add_argument("--solutions", default=None, help="solutions JSON for a challenges file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_task_selection_args(parser)


def run_baselines(args) -> int:
    try:
        tasks = [t for spec in args.data for t in load_tasks(spec, solutions=args.solutions)]
        tasks = select_from_args(tasks, args)
        results = score_baselines(tasks)
    except TaskError as e:
        print(f"error: {e}")
        return 2
    rows = {name: {"score": r["score"], "per_output": r["per_output"], "n_tasks": r["n_tasks"],
                   "solved": sorted(t for t, v in r["tasks"].items() if v > 0)} for name, r in results.items()}
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{len(tasks)} tasks from {', '.join(args.data)}; pass@2 score (per-task mean, Kaggle's rule):")
    for name, r in rows.items():
        shown = ", ".join(r["solved"][:12]) + (" ..." if len(r["solved"]) > 12 else "")
        print(f"  {name:<14} {r['score']:.3f}  ({len(r['solved'])} tasks{': ' + shown if shown else ''})")
    return 0
