"""Write a self-contained HTML report of a scored run, plus one PNG per task.

out_dir/report.html holds, top to bottom: the run's meta (which tasks, checkpoint, training data,
budget), the summary scores, the rule baselines on the same tasks with the margin over the best one
(when given: offline_eval/baselines.py compare), the plots, a per-task table (each task marked
solved by the model only, a rule only, or both), then every task: its demonstrations
(input -> output) and, for each test input, attempt 1 and attempt 2 framed green (right) or red
(wrong) beside the truth. Grids are inline SVG, so the file needs nothing else to open.
out_dir/png/<task_id>.png shows the same task in the same layout, for sharing one task.

A tasks_view item is
    {"id": str, "train": [(input, output), ...], "test_inputs": [grid, ...],
     "attempts": [[attempt_1, attempt_2], ...], "truth": [grid, ...] or None, "score": float}
with grids as lists of lists.
"""

import html
import json
import re
from pathlib import Path

from offline_eval.render import FRAME_RIGHT, FRAME_WRONG, as_grid_array, grid_svg, task_png
from offline_eval.scoring import grids_equal

CSS = """
body { font-family: sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 16px; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; font-size: 13px; }
th { background: #f3f3f3; }
td.num { text-align: right; font-family: monospace; }
.row { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 14px; margin: 6px 0 12px; }
figure { margin: 0; display: inline-flex; flex-direction: column; align-items: center; }
figcaption { font-size: 11px; color: #555; margin-top: 2px; }
.pair { display: inline-flex; align-items: center; gap: 6px; padding: 4px; border: 1px solid #eee; }
.arrow { font-size: 18px; color: #888; }
section.task { border-top: 2px solid #ddd; padding-top: 8px; margin-top: 20px; }
.right { color: #1E9E3E; } .wrong { color: #E0281B; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
tr.best td, tr.best th { font-weight: bold; }
.mark { font-size: 12px; padding: 1px 5px; border-radius: 3px; background: #eee; }
.mark.model-only { background: #d6f1dc; } .mark.rule-only { background: #f6dcd9; } .mark.both { background: #fdf0c4; }
"""


def safe_name(task_id):
    """A file-name-safe version of a task id (ARC ids are hex, but do not rely on it)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(task_id))


def _task_grids(view):
    """Every grid a task view holds, for sizing its cells."""
    grids = [g for pair in view.get("train", []) for g in pair]
    grids += list(view.get("test_inputs", []))
    grids += [a for pair in view.get("attempts", []) for a in pair]
    grids += list(view.get("truth") or [])
    return grids


def _max_side(view):
    sides = [max(a.shape) for a in map(as_grid_array, _task_grids(view)) if a is not None]
    return max(sides, default=3)


def _attempts_and_frames(view, i):
    """(attempt_1, attempt_2) of test i, and a frame colour for each (None without truth)."""
    attempts = view.get("attempts") or []
    pair = list(attempts[i]) if i < len(attempts) and attempts[i] is not None else []
    pair = (pair + [None, None])[:2]  # a missing attempt shows as a placeholder
    truth = view.get("truth")
    if truth is None or i >= len(truth):
        return pair, [None, None]
    return pair, [FRAME_RIGHT if grids_equal(a, truth[i]) else FRAME_WRONG for a in pair]


def _verdict(frame):
    return "" if frame is None else (" (right)" if frame == FRAME_RIGHT else " (wrong)")


def _figure(svg, caption):
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _fmt(x):
    return f"{x:.4f}" if isinstance(x, float) else html.escape(str(x))


# -----------------------------------------------------------------------------
# Pieces of the page


def _meta_html(meta):
    rows = []
    for key, value in meta.items():
        text = value if isinstance(value, str) else json.dumps(value)
        rows.append(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(text)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>" if rows else ""


def _summary_html(scores):
    labels = [
        ("score", "score (mean over tasks of the fraction of test outputs solved)"),
        ("per_output", "per output (mean over all test outputs)"),
        ("pass1", "pass@1 (attempt_1 only, per task)"),
        ("pass1_per_output", "pass@1 per output"),
        ("n_tasks", "tasks"),
        ("n_outputs", "test outputs"),
    ]
    rows = [f"<tr><th>{html.escape(label)}</th><td class='num'>{_fmt(scores[key])}</td></tr>"
            for key, label in labels if key in scores]
    missing = scores.get("missing") or []
    if missing:
        rows.append(f"<tr><th>missing from submission</th><td>{html.escape(' '.join(missing))}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def mark_html(baselines, tid):
    """The task's mark (model only / rule only / both) and the rules that solve it, or ''."""
    mark = (baselines or {}).get("marks", {}).get(tid)
    if mark is None:
        return ""
    rules = baselines.get("rules_by_task", {}).get(tid, [])
    return (f"<span class='mark {mark.replace(' ', '-')}'>{html.escape(mark)}</span>"
            + (f" <small>{html.escape(', '.join(rules))}</small>" if rules else ""))


def rules_table_html(rules, best):
    """A table of rule baselines ({name: {"score", "solved"}}), the best one in bold."""
    rows = ["<tr><th>rule (2 attempts)</th><th>score</th><th>tasks solved</th><th>which</th></tr>"]
    for name, r in rules.items():
        cls = " class='best'" if name == best else ""
        rows.append(f"<tr{cls}><td>{html.escape(name)}</td><td class='num'>{r['score']:.4f}</td>"
                    f"<td class='num'>{len(r['solved'])}</td><td>{html.escape(', '.join(r['solved']))}</td></tr>")
    return "<table id='baselines'>" + "".join(rows) + "</table>"


def _baselines_html(c):
    """The rule baselines on the same tasks, the best one in bold, and the model's margin over it."""
    ratio = f"{c['ratio']:.2f}x" if c["ratio"] is not None else "ratio undefined: the best rule scores 0"
    counts = ", ".join(f"{m} {len(c[m.replace(' ', '_')])}" for m in ("model only", "rule only", "both"))
    return (f"<p id='margin'><b>margin over the best rule ({html.escape(c['best_rule'])}): "
            f"{c['model']:.4f} - {c['best_score']:.4f} = {c['margin']:+.4f}</b> ({html.escape(ratio)}), on the same "
            f"{c['n_tasks']} tasks. Tasks solved by {html.escape(counts)} (marked in the table below).</p>"
            + rules_table_html(c["rules"], c["best_rule"]))


def _task_table_html(tasks_view, scores, baselines=None):
    pass1 = scores.get("tasks_pass1", {})
    outputs = scores.get("outputs", {})
    rules_col = "<th>model / rules</th>" if baselines else ""
    rows = [f"<tr><th>task</th><th>score</th><th>pass@1</th><th>outputs</th>{rules_col}<th>png</th></tr>"]
    for view in tasks_view:
        tid = str(view["id"])
        marks = "".join("1" if o["attempt_1_correct"] else "2" if o["attempt_2_correct"] else "-"
                        for o in outputs.get(tid, []))
        p1 = pass1.get(tid)
        rows.append(
            f"<tr><td><a href='#task-{html.escape(tid)}'>{html.escape(tid)}</a></td>"
            f"<td class='num'>{_fmt(float(view.get('score', 0.0)))}</td>"
            f"<td class='num'>{_fmt(float(p1)) if p1 is not None else ''}</td>"
            f"<td class='num'>{marks}</td>"
            + (f"<td>{mark_html(baselines, tid)}</td>" if baselines else "")
            + f"<td><a href='png/{safe_name(tid)}.png'>png</a></td></tr>")
    legend = "<p>outputs: 1 = attempt_1 right, 2 = only attempt_2 right, - = neither"
    if baselines:
        legend += ("; model / rules: solved (at least one test output right) by the model only, by a rule "
                   "only (the rules named), or by both")
    legend += "</p>"
    return legend + "<table>" + "".join(rows) + "</table>"


def _task_html(view, png=None, baselines=None):
    """One task drawn; `png` is the href of its PNG (default png/<task id>.png)."""
    tid = str(view["id"])
    png = png or f"png/{safe_name(tid)}.png"
    cell = max(6, min(20, 200 // _max_side(view)))  # one cell size per task so grids compare
    score = float(view.get("score", 0.0))
    parts = [f"<section class='task' id='task-{html.escape(tid)}'>",
             f"<h2>{html.escape(tid)} <small>score {score:.3f} · "
             f"<a href='{html.escape(png)}'>png</a></small> {mark_html(baselines, tid)}</h2>",
             "<h3>demonstrations</h3><div class='row'>"]
    for k, (inp, out) in enumerate(view.get("train", [])):
        parts.append(f"<div class='pair'>{_figure(grid_svg(inp, cell), f'input {k}')}"
                     f"<span class='arrow'>&rarr;</span>{_figure(grid_svg(out, cell), f'output {k}')}</div>")
    parts.append("</div>")
    truth = view.get("truth")
    for i, test_in in enumerate(view.get("test_inputs", [])):
        (a1, a2), (f1, f2) = _attempts_and_frames(view, i)
        parts.append(f"<h3>test {i}</h3><div class='row'>")
        parts.append(_figure(grid_svg(test_in, cell), "test input"))
        parts.append(_figure(grid_svg(a1, cell, border=f1), "attempt 1" + _verdict(f1)))
        parts.append(_figure(grid_svg(a2, cell, border=f2), "attempt 2" + _verdict(f2)))
        if truth is not None and i < len(truth):
            parts.append(_figure(grid_svg(truth[i], cell), "truth"))
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _task_png(view, path):
    """Same layout as the HTML: one row per demonstration (input, output), then one row per
    test input (input, attempt 1, attempt 2, truth)."""
    cell = max(4, min(16, 320 // _max_side(view)))
    rows, borders = [], []
    for inp, out in view.get("train", []):
        rows.append([inp, out])
        borders.append([None, None])
    truth = view.get("truth")
    for i, test_in in enumerate(view.get("test_inputs", [])):
        (a1, a2), (f1, f2) = _attempts_and_frames(view, i)
        rows.append([test_in, a1, a2])
        borders.append([None, f1, f2])
        if truth is not None and i < len(truth):
            rows[-1].append(truth[i])
            borders[-1].append(None)
    task_png(rows, path, cell=cell, borders=borders)


# -----------------------------------------------------------------------------
# The report


def write_report(out_dir, tasks_view, scores, plots, title, meta, baselines=None):
    """Write out_dir/report.html and out_dir/png/<task_id>.png; return the HTML path.

    scores: a score_submission result (missing keys are left out of the summary).
    plots: SVG strings (e.g. from render.line_plot_svg), shown under the summary.
    meta: what the run was, shown first: {"tasks": ..., "checkpoint": ..., "trained on": ..., ...}.
    baselines: offline_eval.baselines.compare of these scores on the same tasks, or None.
    """
    out_dir = Path(out_dir)
    png_dir = out_dir / "png"
    png_dir.mkdir(parents=True, exist_ok=True)

    body = [f"<h1>{html.escape(title)}</h1>", _meta_html(meta),
            "<h2>summary</h2>", _summary_html(scores)]
    if baselines:
        body += ["<h2>rule baselines</h2>", _baselines_html(baselines)]
    if plots:
        body.append("<div class='plots'>" + "".join(plots) + "</div>")
    body += ["<h2>tasks</h2>", _task_table_html(tasks_view, scores, baselines)]
    for view in tasks_view:
        body.append(_task_html(view, baselines=baselines))
        _task_png(view, png_dir / f"{safe_name(view['id'])}.png")

    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>")
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
