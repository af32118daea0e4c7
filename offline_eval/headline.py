"""python -m offline_eval headline RUN [RUN ...]: one figure from several seeds, with its spread.

Each RUN is the folder of one `offline_eval simulate` (or `offline_eval.demo`'s OUT/simulate), its
summary.json read (the base row: the entry's defaults plus --entry-args). The runs must score the
same tasks, typically the same checkpoint and flags under different `--entry-args "--seed N"`.

Printed (and with --out written as headline.md and headline.json):
  - each run's pass@2 and its margin over the best rule on the same tasks;
  - the mean over runs, the sample standard deviation over runs and the range;
  - a 95% interval over tasks: the tasks resampled with replacement (a bootstrap, 10,000 draws, a
    fixed seed), each draw scoring the mean over runs of the mean over its tasks; the same draws
    for the margin, paired (the model and the best rule on the same resampled tasks). It says how
    much the figure would move on another set of tasks like these: with 41 tasks one task is 0.024;
  - the tasks solved (at least one test output) by how many of the runs, and by the best rule.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

DRAWS = 10_000


def load_run(folder: Path) -> dict:
    """The base row of a simulate folder's summary.json, with its per-task scores."""
    path = folder / "summary.json" if folder.is_dir() else folder
    if not path.is_file():
        raise ValueError(f"{folder}: no summary.json (pass the folder `offline_eval simulate --out` wrote)")
    rows = json.loads(path.read_text())
    row = rows[0] if isinstance(rows, list) and rows else None
    if not isinstance(row, dict) or "tasks" not in row or "best_rule_tasks" not in row:
        raise ValueError(f"{path}: no per-task scores (written by a kit older than 2026-12-04; rerun the simulation)")
    return {**row, "path": str(path)}


def pool(runs: list) -> dict:
    """The pooled figures of runs that scored the same tasks (see the module docstring)."""
    ids = sorted(runs[0]["tasks"])
    for r in runs[1:]:
        if sorted(r["tasks"]) != ids:
            raise ValueError(f"{r['path']} scored other tasks than {runs[0]['path']}: pool runs of the same tasks")
    if runs[0]["best_rule_tasks"].keys() != set(ids):
        raise ValueError(f"{runs[0]['path']}: the best rule's per-task scores cover other tasks")
    model = np.array([[r["tasks"][t] for t in ids] for r in runs], dtype=np.float64)  # (runs, tasks)
    rule = np.array([runs[0]["best_rule_tasks"][t] for t in ids], dtype=np.float64)  # (tasks,)
    scores = model.mean(axis=1)
    rule_score = float(rule.mean())
    per_task = model.mean(axis=0)  # (tasks,): each task's mean over runs
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(ids), size=(DRAWS, len(ids)))
    boot = per_task[picks].mean(axis=1)
    boot_margin = boot - rule[picks].mean(axis=1)
    solved_by = {t: int((model[:, i] > 0).sum()) for i, t in enumerate(ids) if (model[:, i] > 0).any()}
    return {
        "n_tasks": len(ids), "n_runs": len(runs), "runs": [r["path"] for r in runs],
        "flags": [r.get("flags", "") for r in runs], "protocol": runs[0].get("protocol", ""),
        "scores": [round(float(s), 4) for s in scores],
        "mean": round(float(scores.mean()), 4),
        "sd": round(float(scores.std(ddof=1)), 4) if len(runs) > 1 else None,
        "min": round(float(scores.min()), 4), "max": round(float(scores.max()), 4),
        "interval": [round(float(np.percentile(boot, 2.5)), 4), round(float(np.percentile(boot, 97.5)), 4)],
        "best_rule": runs[0]["best_rule"], "best_rule_score": round(rule_score, 4),
        "margin": round(float(scores.mean()) - rule_score, 4),
        "margin_interval": [round(float(np.percentile(boot_margin, 2.5)), 4),
                            round(float(np.percentile(boot_margin, 97.5)), 4)],
        "ratio": round(float(scores.mean()) / rule_score, 3) if rule_score > 0 else None,
        "solved_by_runs": solved_by, "solved_by_rule": sorted(t for i, t in enumerate(ids) if rule[i] > 0),
    }


def format_headline(h: dict) -> str:
    sd = "n/a (one run)" if h["sd"] is None else f"{h['sd']:.3f}"
    ratio = "" if h["ratio"] is None else f", {h['ratio']:.2f}x the rule"
    lines = [f"runs: {h['n_runs']} on the same {h['n_tasks']} tasks ({h['protocol'] or 'protocol not recorded'})"]
    for path, flags, s in zip(h["runs"], h["flags"], h["scores"]):
        lines.append(f"  {s:.3f}  margin {s - h['best_rule_score']:+.3f}  {path}  [{flags or 'entry defaults'}]")
    lines += [
        f"pass@2 mean {h['mean']:.3f}, sd over runs {sd}, range {h['min']:.3f}-{h['max']:.3f}; "
        f"95% interval over tasks {h['interval'][0]:.3f}-{h['interval'][1]:.3f}",
        f"best rule ({h['best_rule']}) {h['best_rule_score']:.3f}: margin {h['margin']:+.3f} "
        f"(95% interval over tasks {h['margin_interval'][0]:+.3f} to {h['margin_interval'][1]:+.3f}){ratio}",
        "tasks solved by the model (runs of " + str(h["n_runs"]) + "): "
        + (", ".join(f"{t} {n}" for t, n in sorted(h["solved_by_runs"].items())) or "-")
        + "; by the best rule: " + (", ".join(h["solved_by_rule"]) or "-"),
    ]
    return "\n".join(lines)


def add_headline_args(p: argparse.ArgumentParser):
    p.add_argument("runs", nargs="+", help="simulate output folders (or their summary.json), same tasks")
    p.add_argument("--out", default=None, help="folder to write headline.md and headline.json into")


def run_headline(args) -> int:
    try:
        h = pool([load_run(Path(r)) for r in args.runs])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = format_headline(h)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "headline.md").write_text(text + "\n")
        (out / "headline.json").write_text(json.dumps(h, indent=1))
    return 0
