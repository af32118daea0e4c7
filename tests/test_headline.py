"""`python -m offline_eval headline`: simulate runs of several seeds pooled into one figure.

The oracle is a hand-worked case (three runs, four tasks, figures computed on paper below), and two
properties of a bootstrap that need no formula: tasks that all score alike give an interval of zero
width at that score, and the interval never leaves the range of the per-task means.
"""
import json

import pytest

from offline_eval.__main__ import main

RULE = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 1.0}  # the best rule solves d only: 0.25


def write_run(folder, tasks, seed):
    folder.mkdir(parents=True)
    row = {"name": "base", "flags": f"--seed {seed}", "protocol": "unseen tasks: test", "score": sum(tasks.values()) / 4,
           "best_rule": "demo outputs", "best_rule_score": 0.25, "tasks": tasks, "best_rule_tasks": RULE}
    (folder / "summary.json").write_text(json.dumps([row]))
    return folder


def test_headline_pools_seeds_as_worked_by_hand(tmp_path, capsys):
    runs = [write_run(tmp_path / "s0", {"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0}, 0),    # 0.25
            write_run(tmp_path / "s1", {"a": 1.0, "b": 0.5, "c": 0.0, "d": 0.0}, 1),    # 0.375
            write_run(tmp_path / "s2", {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0}, 2)]    # 0.0
    assert main(["headline", *map(str, runs), "--out", str(tmp_path / "h")]) == 0
    h = json.loads((tmp_path / "h" / "headline.json").read_text())
    # By hand: mean (0.25 + 0.375 + 0) / 3 = 0.2083; deviations 0.0417, 0.1667, -0.2083, squares summed
    # 0.0729, / (3 - 1) = 0.0365, sd 0.1909; margin 0.2083 - 0.25 = -0.0417.
    assert h["scores"] == [0.25, 0.375, 0.0]
    assert h["mean"] == pytest.approx(0.2083, abs=1e-4) and h["sd"] == pytest.approx(0.1909, abs=1e-4)
    assert (h["min"], h["max"]) == (0.0, 0.375)
    assert h["margin"] == pytest.approx(-0.0417, abs=1e-4) and h["ratio"] == pytest.approx(0.833, abs=1e-3)
    # Per-task means over runs: a 2/3, b 1/6, c 0, d 0; a draw's mean lies between 0 and 2/3.
    lo, hi = h["interval"]
    assert 0.0 <= lo < h["mean"] < hi <= 2 / 3
    mlo, mhi = h["margin_interval"]
    assert -1.0 <= mlo < h["margin"] < mhi <= 2 / 3
    assert h["solved_by_runs"] == {"a": 2, "b": 1} and h["solved_by_rule"] == ["d"]
    out = capsys.readouterr().out
    assert "pass@2 mean 0.208, sd over runs 0.191, range 0.000-0.375" in out and "margin -0.042" in out


def test_headline_interval_is_a_point_when_every_task_scores_alike(tmp_path):
    runs = [write_run(tmp_path / f"s{i}", {t: 0.5 for t in "abcd"}, i) for i in range(3)]
    assert main(["headline", *map(str, runs), "--out", str(tmp_path / "h")]) == 0
    h = json.loads((tmp_path / "h" / "headline.json").read_text())
    assert h["interval"] == [0.5, 0.5] and h["sd"] == 0.0 and h["margin"] == 0.25


def test_headline_refuses_runs_of_other_tasks_and_old_summaries(tmp_path, capsys):
    a = write_run(tmp_path / "a", {t: 0.0 for t in "abcd"}, 0)
    b = write_run(tmp_path / "b", {t: 0.0 for t in "abce"}, 1)
    assert main(["headline", str(a), str(b)]) == 2
    assert "scored other tasks" in capsys.readouterr().err
    old = tmp_path / "old"
    old.mkdir()
    (old / "summary.json").write_text(json.dumps([{"name": "base", "score": 0.1}]))
    assert main(["headline", str(old)]) == 2
    assert "no per-task scores" in capsys.readouterr().err
