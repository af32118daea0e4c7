"""python -m offline_eval loopcurve RUN [RUN ...]: the refinement-loop curve.

Held-out pass@2 of each run's checkpoint against the number of supervision steps run at inference
(default 1, 2, 4, 8, 16; inference may run more steps than training did: every row runs them all,
halting ignored, and the answer read at step k is the prediction of step k). Several runs trained
with different --halt-max-steps (or --dis-steps) give the curve against training supervision steps
too: each run's pass@2 at its own training step count, beside its training seconds so runs of equal
wall clock can be compared. The ARC Prize's analysis of HRM found this outer loop drives the score
(arcprize.org/blog/hrm-analysis).

The held-out tasks are the run's own (meta: data.eval and data.heldout_tasks), the paper protocol:
their demonstrations were trained on, their test outputs never; each test input is predicted under
the task's first --views pretrained augmentations (default: the run's --eval-views) and the answers
ranked by votes, as the trainer's evaluation does. Writes OUT/loopcurve.md (a markdown table),
OUT/loopcurve.svg (the plot) and OUT/loopcurve.json.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np


def heldout_items(cfg, meta: dict, records: dict, tasks: list, n_views: int) -> tuple:
    """Each held-out test input of `tasks` (trained on by the run that wrote meta) with its task's first
    n_views pretrained augmentations (puzzle id, dihedral, colours) and its canvas side:
    (items, views, sides, owners)."""
    from submission.data import predict_side
    from submission.inference import task_views

    pm = meta["puzzle_map"]
    index = {tid: i for i, tid in enumerate(pm["task_ids"])}
    dih, col = records["dihedrals"].numpy(), records["colours"].numpy()
    items, views, sides, owners = [], [], [], []
    for t in tasks:
        i = index[t.id]
        for k, x in enumerate(t.test_inputs):
            items.append(x)
            views.append(task_views(dih, col, pm["task_base"][i], pm["task_count"][i], n_views))
            sides.append(predict_side(cfg, t.train, x))
            owners.append((t, k))
    return items, views, sides, owners


def run_heldout_tasks(meta: dict) -> list:
    """The tasks a run held out (test pairs scored, demonstrations trained on), with their answers."""
    from submission.tasks import load_tasks

    ids = set(meta.get("data", {}).get("heldout_tasks", []))
    tasks = [t for spec in meta.get("data", {}).get("eval", []) if spec != "none" for t in load_tasks(spec)
             if t.id in ids and t.test_outputs is not None]
    return sorted({t.id: t for t in tasks}.values(), key=lambda t: t.id)


def curve(checkpoint, steps: list, n_views: int | None = None, batch_size: int = 64) -> dict:
    """pass@1 and pass@2 on the run's held-out tasks at every inference step count in `steps` (and at
    the training step count), from one inference pass of max(steps) supervision steps."""
    import torch
    from submission.checkpoint import load_model, resolve_checkpoint
    from submission.inference import predict_items, solved_at

    ckpt = resolve_checkpoint(checkpoint)
    model, meta, records = load_model(ckpt, "cpu")
    model.eval()
    cfg = model.cfg
    tasks = run_heldout_tasks(meta)
    if not tasks:
        raise ValueError(f"{ckpt}: the run held out no task with known test outputs (meta data.heldout_tasks); "
                         f"train with --eval-data")
    n_views = n_views or int(meta.get("args", {}).get("eval_views", 8))
    items, views, sides, owners = heldout_items(cfg, meta, records, tasks, n_views)
    record = sorted(set(steps) | {cfg.halt_max_steps})
    res = predict_items(model, items, views, sides, torch.device("cpu"), torch.autocast("cpu", enabled=False),
                        batch_size=batch_size, max_steps=max(record), halt="all", record_steps=tuple(record))
    pass1, pass2 = {}, {}
    for k in record:
        per_task: dict = {}
        for (t, i), ranked in zip(owners, res["per_step"][k]):
            truth = t.test_outputs[i]
            per_task.setdefault(t.id, []).append((solved_at(ranked, truth, 1), solved_at(ranked, truth, 2)))
        pass1[k] = float(np.mean([np.mean([a for a, _ in v]) for v in per_task.values()]))
        pass2[k] = float(np.mean([np.mean([b for _, b in v]) for v in per_task.values()]))
    return {"run": str(checkpoint), "checkpoint": str(ckpt), "train_steps": cfg.halt_max_steps,
            "dis_steps": cfg.dis_steps, "step": meta.get("step"), "elapsed_s": meta.get("elapsed_s"),
            "tasks": len(tasks), "outputs": len(items), "views": n_views, "pass1": pass1, "pass2": pass2}


def markdown_table(results: list, steps: list) -> str:
    """One row per run: its training supervision steps and seconds, pass@2 at each inference step
    count (the training step count's cell marked *)."""
    head = ["run", "training sup. steps", "training s", "held-out tasks"] + [f"pass@2 @{k}" for k in steps]
    if len(results) > 1:
        head.append("pass@2 @training steps")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r["run"], f"{r['train_steps']}" + (" (DIS)" if r["dis_steps"] else ""),
                 "" if r["elapsed_s"] is None else f"{r['elapsed_s']:.0f}", str(r["tasks"])]
        cells += [f"{r['pass2'][k]:.3f}" + ("*" if k == r["train_steps"] else "") for k in steps]
        if len(results) > 1:
            cells.append(f"{r['pass2'][r['train_steps']]:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n* = the inference step count equals the training one.\n"


def plot(results: list, steps: list) -> str:
    """SVG: pass@2 against inference steps, one line per run; with several runs, also each run's
    pass@2 at its own training step count against that count."""
    from offline_eval.render import line_plot_svg

    series = {}
    for i, r in enumerate(results):
        name = f"{Path(r['run']).name} (trained {r['train_steps']})"
        series[name if name not in series else f"{name} #{i + 1}"] = [(k, r["pass2"][k]) for k in steps]
    if len(results) > 1:
        series["at the training steps"] = [(r["train_steps"], r["pass2"][r["train_steps"]]) for r in results]
    return line_plot_svg(series, "refinement-loop curve", "supervision steps", "held-out pass@2", width=520,
                         height=320, logx=True)


def add_loopcurve_args(parser: argparse.ArgumentParser):
    parser.add_argument("runs", nargs="+", help="run folders (best/ then last/) or checkpoint folders")
    parser.add_argument("--steps", default="1,2,4,8,16",
                        help="inference supervision step counts, comma-separated (default 1,2,4,8,16)")
    parser.add_argument("--views", type=int, default=None,
                        help="augmented views per test input (default: each run's --eval-views)")
    parser.add_argument("--out", default="runs/loopcurve", help="folder for loopcurve.md, .svg, .json")


def run_loopcurve(args) -> int:
    try:
        steps = sorted({int(s) for s in str(args.steps).split(",") if s.strip()})
        if not steps or steps[0] < 1:
            raise ValueError
    except ValueError:
        print(f"error: --steps {args.steps!r}: give positive step counts, e.g. 1,2,4,8,16", file=sys.stderr)
        return 2
    results = []
    for run in args.runs:
        try:
            r = curve(run, steps, args.views)
        except (FileNotFoundError, ValueError, KeyError) as e:
            print(f"error: {run}: {e}", file=sys.stderr)
            return 2
        results.append(r)
        print(f"[loopcurve] {run}: trained {r['train_steps']} supervision steps; held-out pass@2 by inference steps "
              + ", ".join(f"{k}: {r['pass2'][k]:.3f}" for k in steps) + f" ({r['tasks']} tasks)", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(results, steps)
    (out / "loopcurve.md").write_text(table)
    (out / "loopcurve.svg").write_text(plot(results, steps))
    (out / "loopcurve.json").write_text(json.dumps({"steps": steps, "runs": results}, indent=1))
    print(table)
    print(f"[loopcurve] wrote {out / 'loopcurve.md'}, {out / 'loopcurve.svg'}, {out / 'loopcurve.json'}")
    return 0
