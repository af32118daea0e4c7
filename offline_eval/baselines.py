"""python -m offline_eval baselines --data SPEC: what a figure must beat on a given task set.

A pass@2 of 0.02 means little on its own: some ARC tasks are "solved" by rules that read nothing of
the test input, or by one whole-grid transform read off the demonstrations. This module scores such
rules with the official scorer, on exactly the tasks a figure is measured on, and sets a model's
per-task scores beside them (`compare`), so every command that prints a score prints its margin
over the best rule as well (simulate, transfer, the trainer's held-out evaluation, the demo, the
report).

The rules, each giving two attempts per test input (the first two distinct answers of the fits, in
the order listed; one answer fills both attempts; a rule that fits no demonstration set answers the
test input itself, so no rule does worse than `identity`):

  identity               both attempts are the test input;
  demo outputs           the two most frequent demonstration outputs (a task whose answer is a fixed grid);
  demo dihedral          the dihedral transforms (of the 8) that map every demonstration input to its
                         output, applied to the test input;
  colour map             one colour substitution, the same for every demonstration (each input colour
                         always becomes one output colour, shapes unchanged), applied to the test input;
                         a colour no demonstration shows stays as it is;
  dihedral + colour map  a dihedral transform followed by such a substitution, fitting every
                         demonstration (the fits that change the fewest colours first, then
                         transforms in order 0..7: a rotation that fits with colours unchanged is
                         preferred to one that fits only by permuting them);
  upscale / tile         every cell blown up to an a x b block, or the whole grid repeated a x b times,
                         with a and b the output/input side ratios of the demonstrations (one pair for all).

Each is a one-line program with at most a few parameters read off the demonstrations: the floor a
learned model should clear. A task counts as solved by a rule when at least one of its test outputs is.
"""
import argparse
import json
from collections import Counter

import numpy as np

from offline_eval.scoring import score_submission
from submission.augment import N_DIHEDRAL, dihedral
from submission.tasks import (MAX_GRID_SIDE, NUM_COLOURS, TaskError, add_task_selection_args, select_from_args,
                              tasks_to_solutions)
from train.taskspec import load_tasks


def _two(answers: list, test_input: np.ndarray) -> list[np.ndarray]:
    """The first two distinct answers (one answer twice; none: the test input twice)."""
    distinct = []
    for a in answers:
        if not any(a.shape == b.shape and np.array_equal(a, b) for b in distinct):
            distinct.append(a)
        if len(distinct) == 2:
            break
    distinct = distinct or [test_input]
    return [distinct[0], distinct[-1]]


def identity(task) -> list[list[np.ndarray]]:
    return [[g, g] for g in task.test_inputs]


def demo_outputs(task) -> list[list[np.ndarray]]:
    counts = Counter((o.shape, o.tobytes()) for _, o in task.train)
    by_key = {(o.shape, o.tobytes()): o for _, o in task.train}
    top = [by_key[k] for k, _ in counts.most_common(2)]
    return [[top[0], top[-1]] for _ in task.test_inputs]


def demo_dihedral(task) -> list[list[np.ndarray]]:
    fits = [d for d in range(N_DIHEDRAL) if all(np.array_equal(dihedral(i, d), o) for i, o in task.train)]
    return [_two([dihedral(g, d) for d in fits], g) for g in task.test_inputs]


def fit_colour_map(pairs) -> np.ndarray | None:
    """The colour substitution every (input, output) pair obeys: a (10,) table, table[c] the output
    colour of input colour c (-1 where no input shows c); None when no single one fits (a shape
    changes, or one input colour becomes two colours)."""
    table = np.full(NUM_COLOURS, -1, np.int16)
    for x, y in pairs:
        if x.shape != y.shape:
            return None
        for c in np.unique(x):
            out = np.unique(y[x == c])
            if len(out) != 1 or table[c] not in (-1, out[0]):
                return None
            table[c] = out[0]
    return table


def apply_colour_map(table: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Substitute colours by `table`; a colour the table does not name stays as it is."""
    full = np.where(table >= 0, table, np.arange(NUM_COLOURS))  # (10,)
    return full[grid].astype(np.uint8)


def colour_map(task) -> list[list[np.ndarray]]:
    table = fit_colour_map(task.train)
    return [_two([] if table is None else [apply_colour_map(table, g)], g) for g in task.test_inputs]


def _colours_changed(table: np.ndarray) -> int:
    return int(sum(1 for c, v in enumerate(table) if v >= 0 and v != c))


def dihedral_colour_map(task) -> list[list[np.ndarray]]:
    fits = [(d, t) for d in range(N_DIHEDRAL)
            if (t := fit_colour_map([(dihedral(i, d), o) for i, o in task.train])) is not None]
    # The simplest fits first: a transform that needs no colour change before one that permutes them all.
    fits.sort(key=lambda fit: _colours_changed(fit[1]))  # stable: transforms in order 0..7 among equals
    return [_two([apply_colour_map(t, dihedral(g, d)) for d, t in fits], g) for g in task.test_inputs]


def _upscale(g, a, b):
    return np.repeat(np.repeat(g, a, axis=0), b, axis=1)


def _tile(g, a, b):
    return np.tile(g, (a, b))


def upscale_tile(task) -> list[list[np.ndarray]]:
    (h, w), (oh, ow) = task.train[0][0].shape, task.train[0][1].shape
    fits = []
    if oh % h == 0 and ow % w == 0:
        a, b = oh // h, ow // w
        fits = [f for f in (_upscale, _tile) if all(np.array_equal(f(i, a, b), o) for i, o in task.train)]
    # an answer larger than ARC's 30x30 cannot be right: left out
    return [_two([f(g, a, b) for f in fits if max(g.shape[0] * a, g.shape[1] * b) <= MAX_GRID_SIDE], g)
            for g in task.test_inputs]


# name -> rule(task) -> [[attempt_1, attempt_2] per test input]; ties for the best rule go to the first
BASELINES = {"identity": identity, "demo outputs": demo_outputs, "demo dihedral": demo_dihedral,
             "colour map": colour_map, "dihedral + colour map": dihedral_colour_map, "upscale / tile": upscale_tile}


def score_baselines(tasks) -> dict:
    """{name: score_submission result} for every baseline on these tasks (test outputs needed)."""
    solutions = tasks_to_solutions(tasks)
    out = {}
    for name, rule in BASELINES.items():
        submission = {t.id: [{"attempt_1": a.tolist(), "attempt_2": b.tolist()} for a, b in rule(t)] for t in tasks}
        out[name] = score_submission(submission, solutions)
    return out


# -----------------------------------------------------------------------------
# A model's scores beside the rules


def compare(model_tasks: dict, tasks, baselines: dict | None = None) -> dict:
    """A model's per-task scores ({task_id: fraction of its test outputs solved}; a task left out
    scores 0) beside the rule baselines on the same tasks. `baselines` is score_baselines(tasks),
    computed here when not given (a trainer computes it once and compares at every evaluation).

    Returns {"n_tasks", "model": the model's score (mean over the tasks), "rules": {name: {"score",
    "solved": [ids]}}, "best_rule", "best_score", "margin": model - best_score, "ratio": model /
    best_score (None when the best rule scores 0), "marks": {id: "model only" | "rule only" | "both"}
    for every task the model or any rule solves (at least one test output right), "rules_by_task":
    {id: [rules solving it]}, and "model_only", "rule_only", "both" as sorted id lists}."""
    ids = [t.id for t in tasks]
    unknown = sorted(set(model_tasks) - set(ids))
    if unknown:
        raise ValueError(f"model scores for {len(unknown)} task(s) outside the compared tasks: {unknown[:5]}")
    baselines = score_baselines(tasks) if baselines is None else baselines
    model = {tid: float(model_tasks.get(tid, 0.0)) for tid in ids}
    model_score = sum(model.values()) / len(ids) if ids else 0.0
    rules = {name: {"score": r["score"], "solved": sorted(tid for tid in ids if r["tasks"].get(tid, 0.0) > 0)}
             for name, r in baselines.items()}
    best = max(rules, key=lambda name: rules[name]["score"])  # the first of equals, in BASELINES order
    best_score = rules[best]["score"]
    rules_by_task = {tid: [name for name, r in rules.items() if tid in r["solved"]] for tid in ids}
    marks = {}
    for tid in ids:
        by_model, by_rule = model[tid] > 0, bool(rules_by_task[tid])
        if by_model or by_rule:
            marks[tid] = "both" if by_model and by_rule else "model only" if by_model else "rule only"
    return {"n_tasks": len(ids), "model": model_score, "rules": rules, "best_rule": best, "best_score": best_score,
            "margin": model_score - best_score, "ratio": model_score / best_score if best_score > 0 else None,
            "marks": marks, "rules_by_task": {t: r for t, r in rules_by_task.items() if r},
            **{m.replace(" ", "_"): sorted(t for t, v in marks.items() if v == m) for m in ("model only", "rule only", "both")}}


def summary_fields(c: dict) -> dict:
    """The comparison's figures for a JSON record (scores rounded; lists of ids kept)."""
    return {"n_tasks": c["n_tasks"], "baselines": {name: round(r["score"], 4) for name, r in c["rules"].items()},
            "best_rule": c["best_rule"], "best_rule_score": round(c["best_score"], 4),
            "margin": round(c["margin"], 4), "ratio": None if c["ratio"] is None else round(c["ratio"], 3),
            "model_only": c["model_only"], "rule_only": c["rule_only"], "both": c["both"]}


def ids_text(ids: list, limit: int = 8) -> str:
    return "-" if not ids else f"{len(ids)} ({', '.join(ids[:limit])}{' ...' if len(ids) > limit else ''})"


def ratio_text(c: dict) -> str:
    return f"{c['ratio']:.2f}x" if c["ratio"] is not None else "ratio undefined: the best rule scores 0"


def rules_line(c: dict) -> str:
    return (f"rule baselines on the same {c['n_tasks']} tasks (pass@2): "
            + ", ".join(f"{name} {r['score']:.3f}" for name, r in c["rules"].items()))


def margin_line(c: dict, who: str = "model") -> str:
    return (f"{who} {c['model']:.3f} against the best rule ({c['best_rule']}) {c['best_score']:.3f}: "
            f"margin {c['margin']:+.3f} ({ratio_text(c)})")


def marks_line(c: dict) -> str:
    return (f"tasks solved by the model only: {ids_text(c['model_only'])}; by a rule only: {ids_text(c['rule_only'])}; "
            f"by both: {ids_text(c['both'])}")


def format_comparison(c: dict, who: str = "model") -> str:
    """Three lines: every rule's score, the margin over the best one, which tasks each side solves."""
    return "\n".join([rules_line(c), margin_line(c, who), marks_line(c)])


# -----------------------------------------------------------------------------
# python -m offline_eval baselines


def add_baselines_args(parser: argparse.ArgumentParser):
    parser.add_argument("--data", action="append", required=True,
                        help="task spec(s) with test outputs: arc1/train, arc1/eval, arc1/eval:test, arc2/..., a "
                             "folder, or a challenges .json (its solutions beside it or via --solutions)")
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
    width = max(map(len, rows))
    for name, r in rows.items():
        shown = ", ".join(r["solved"][:12]) + (" ..." if len(r["solved"]) > 12 else "")
        print(f"  {name:<{width}} {r['score']:.3f}  ({len(r['solved'])} tasks{': ' + shown if shown else ''})")
    return 0
