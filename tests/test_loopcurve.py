"""Tests for `python -m offline_eval loopcurve` (issue 22, item 4): held-out pass@2 against inference
supervision steps. Oracles: separate inference runs of k steps (not the one run recorded at every
step that the command reads), a truth set by hand to one run's answer, the table's layout written out.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from submission.checkpoint import load_model
from submission.inference import predict_items

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
NO_AUTOCAST = torch.autocast("cpu", enabled=False)


@pytest.fixture(scope="module")
def heldout_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("loop") / "run"
    subprocess.run([sys.executable, "-m", "train", "--preset", "tiny-test", "--device", "cpu", "--no-progress",
                    "--steps", "10", "--max-side", "5", "--first", "4", "--eval-data", "arc1/eval", "--out", str(out)],
                   cwd=REPO, env=ENV, check=True, capture_output=True, timeout=300)
    return out


def test_loopcurve_reads_each_step_as_a_run_of_that_many_steps(heldout_run, monkeypatch):
    """The curve's answers at step k are those of a separate inference of k steps; with the first
    task's truth set to that run's top answer at step 1, pass@2 counts it solved there."""
    from offline_eval import loopcurve
    from submission.inference import solved_at

    model, meta, records = load_model(heldout_run)
    model.eval()
    tasks = loopcurve.run_heldout_tasks(meta)
    assert len(tasks) == 4
    items, views, sides, owners = loopcurve.heldout_items(model.cfg, meta, records, tasks, 2)
    ranked = {k: predict_items(model, items, views, sides, "cpu", NO_AUTOCAST, max_steps=k)["ranked"] for k in (1, 2, 4)}
    # The first task's test outputs become its step-1 answers (a task it then solves at step 1).
    t0 = tasks[0]
    t0.test_outputs = [ranked[1][j][0].grid for j, (t, _) in enumerate(owners) if t is t0]
    monkeypatch.setattr(loopcurve, "run_heldout_tasks", lambda meta: tasks)
    r = loopcurve.curve(heldout_run, [1, 2, 4], n_views=2)
    for k in (1, 2, 4):
        per_task = {}
        for (t, i), rk in zip(owners, ranked[k]):
            per_task.setdefault(t.id, []).append(solved_at(rk, t.test_outputs[i], 2))
        assert r["pass2"][k] == pytest.approx(np.mean([np.mean(v) for v in per_task.values()]))
    assert r["pass2"][1] >= 0.25 and r["train_steps"] == 3 and r["tasks"] == 4


def test_loopcurve_table_and_plot(heldout_run, tmp_path, capsys):
    from offline_eval.__main__ import main
    assert main(["loopcurve", str(heldout_run), str(heldout_run), "--steps", "1,3", "--views", "1",
                 "--out", str(tmp_path)]) == 0
    lines = (tmp_path / "loopcurve.md").read_text().splitlines()
    assert lines[0] == ("| run | training sup. steps | training s | held-out tasks | pass@2 @1 | pass@2 @3 | "
                        "pass@2 @training steps |")
    cells = lines[2].strip("|").split("|")
    assert cells[1].strip() == "3" and cells[3].strip() == "4" and cells[5].strip().endswith("*")
    svg = (tmp_path / "loopcurve.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<polyline") == 3  # two runs and the training-steps line
    data = json.loads((tmp_path / "loopcurve.json").read_text())
    assert data["steps"] == [1, 3] and len(data["runs"]) == 2
    assert main(["loopcurve", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
