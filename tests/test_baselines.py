"""offline_eval/baselines.py: each rule on hand-made tasks, a model's margin over the best rule and the
per-task marks on a hand-worked example, and the baselines printed where scores are printed
(the trainer's held-out evaluation, the demo's headline, the report).

Every expected grid below is written out by hand, not computed with numpy, and the expected solved
sets follow from reading each task (worked in the comments)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from offline_eval import baselines as bl
from submission.tasks import Task
from tests.conftest import ENV, ROOT


def task(tid, demos, tests):
    """A Task from lists: demos [(input, output)], tests [(input, truth)]."""
    a = lambda g: np.array(g, dtype=np.uint8)  # noqa: E731
    return Task(tid, [(a(i), a(o)) for i, o in demos], [a(i) for i, _ in tests], [a(o) for _, o in tests])


# Eight tasks; for each, which rules solve it (worked by hand):
TASKS = [
    # 1 -> 4, 2 -> 2, 3 -> 5 in every demonstration: the colour map answers [[2, 4, 5]]. No dihedral
    # fits (colours change), so demo dihedral answers the input; upscale/tile: factors 1x1 do not fit.
    task("colour", [([[1, 2], [2, 3]], [[4, 2], [2, 5]]), ([[3, 1]], [[5, 4]])], [([[2, 1, 3]], [[2, 4, 5]])]),
    # The transpose (rows become columns); its first test is solved, and the second's truth [[9]]
    # differs from the transpose [[8]]: half the task. Colour map: shapes change, no fit.
    task("transpose", [([[1, 2, 3], [4, 5, 6]], [[1, 4], [2, 5], [3, 6]]), ([[7, 8]], [[7], [8]])],
         [([[1, 0], [2, 3]], [[1, 2], [0, 3]]), ([[8]], [[9]])]),
    # The answer is always [[5, 5]]; the second test's truth is another grid: demo outputs solves half.
    task("constant", [([[1], [2]], [[5, 5]]), ([[3, 3, 3]], [[5, 5]])], [([[4]], [[5, 5]]), ([[4, 4]], [[6]])]),
    # Transpose, then 1 -> 7: only the combination fits.
    task("transpose+colour", [([[1, 2, 3], [4, 5, 6]], [[7, 4], [2, 5], [3, 6]]), ([[1, 1]], [[7], [7]])],
         [([[1, 2]], [[7], [2]])]),
    # Every cell becomes a 2x2 block.
    task("upscale", [([[1, 2]], [[1, 1, 2, 2], [1, 1, 2, 2]]), ([[3], [4]], [[3, 3], [3, 3], [4, 4], [4, 4]])],
         [([[5, 6], [7, 8]], [[5, 5, 6, 6], [5, 5, 6, 6], [7, 7, 8, 8], [7, 7, 8, 8]])]),
    # The grid repeated twice side by side.
    task("tile", [([[1, 2]], [[1, 2, 1, 2]]), ([[3, 4], [5, 6]], [[3, 4, 3, 4], [5, 6, 5, 6]])],
         [([[7, 8, 9]], [[7, 8, 9, 7, 8, 9]])]),
    # The test's answer is its input, though no demonstration is: identity solves it, and so does every
    # rule that fits nothing and falls back to the input (all but demo outputs).
    task("identity", [([[1, 2]], [[3]]), ([[4]], [[5, 6]])], [([[7]], [[7]])]),
    # A cell falls to the bottom of its column: no rule reads that (a colour map would send 0 to 0 and 1).
    task("gravity", [([[0], [1], [0]], [[0], [0], [1]]), ([[2], [0], [0]], [[0], [0], [2]])],
         [([[0], [3], [0]], [[0], [0], [3]])]),
]
N = len(TASKS)
SOLVED = {  # rule -> {task: its score}
    "identity": {"identity": 1.0},
    "demo outputs": {"constant": 0.5},
    "demo dihedral": {"transpose": 0.5, "identity": 1.0},
    "colour map": {"colour": 1.0, "identity": 1.0},
    "dihedral + colour map": {"colour": 1.0, "transpose": 0.5, "transpose+colour": 1.0, "identity": 1.0},
    "upscale / tile": {"upscale": 1.0, "tile": 1.0, "identity": 1.0},
}


def test_each_rule_solves_the_tasks_worked_by_hand():
    results = bl.score_baselines(TASKS)
    assert list(results) == list(SOLVED)
    for name, expected in SOLVED.items():
        got = {t: v for t, v in results[name]["tasks"].items() if v > 0}
        assert got == expected, name
        assert results[name]["score"] == pytest.approx(sum(expected.values()) / N), name


def test_rules_give_two_attempts_and_prefer_the_fit_with_fewest_colour_changes():
    # Transpose task: a rotation with a colour permutation also fits both demonstrations (rot90
    # counter-clockwise sends [[1,2,3],[4,5,6]] to [[3,6],[2,5],[1,4]], fixed by 3->1, 6->4, 1->3, 4->6,
    # and [[7,8]] to [[8],[7]] by 8->7, 7->8); the plain transpose changes no colour and comes first.
    attempts = bl.dihedral_colour_map(TASKS[1])
    assert attempts[0][0].tolist() == [[1, 2], [0, 3]]
    assert all(len(a) == 2 for rule in bl.BASELINES.values() for t in TASKS for a in rule(t))
    # Constant task: one distinct demonstration output fills both attempts.
    assert [g.tolist() for g in bl.demo_outputs(TASKS[2])[0]] == [[[5, 5]], [[5, 5]]]


def test_margin_ratio_and_marks_on_a_hand_example():
    # The model solves transpose wholly, constant half, upscale and gravity: (1 + 0.5 + 1 + 1) / 8.
    model = {"transpose": 1.0, "constant": 0.5, "upscale": 1.0, "gravity": 1.0, "tile": 0.0}
    c = bl.compare(model, TASKS)
    assert c["model"] == pytest.approx(3.5 / 8)
    # The best rule is dihedral + colour map: (1 + 0.5 + 1 + 1) / 8 = 3.5 / 8, a tie with the model.
    assert c["best_rule"] == "dihedral + colour map" and c["best_score"] == pytest.approx(3.5 / 8)
    assert c["margin"] == pytest.approx(0.0) and c["ratio"] == pytest.approx(1.0)
    assert c["model_only"] == ["gravity"]
    assert c["both"] == ["constant", "transpose", "upscale"]
    assert c["rule_only"] == ["colour", "identity", "tile", "transpose+colour"]
    assert c["rules_by_task"]["tile"] == ["upscale / tile"]
    # Without the gravity task's point: margin -1/8, ratio 2.5 / 3.5.
    c = bl.compare({**model, "gravity": 0.0}, TASKS, bl.score_baselines(TASKS))
    assert c["margin"] == pytest.approx(-1 / 8) and c["ratio"] == pytest.approx(2.5 / 3.5)
    assert "gravity" not in c["marks"]
    # A best rule at 0: the ratio is undefined, and said so.
    c = bl.compare({"gravity": 1.0}, TASKS[-1:])
    assert c["ratio"] is None and c["margin"] == pytest.approx(1.0)
    assert "ratio undefined" in bl.format_comparison(c)
    with pytest.raises(ValueError, match="outside the compared tasks"):
        bl.compare({"nope": 1.0}, TASKS)


def test_comparison_is_printed_with_every_rule_and_the_margin():
    c = bl.compare({"gravity": 1.0}, TASKS)
    text = bl.format_comparison(c, "score")
    for name, expected in SOLVED.items():
        assert f"{name} {sum(expected.values()) / N:.3f}" in text
    assert "score 0.125 against the best rule (dihedral + colour map) 0.438: margin -0.312 (0.29x)" in text
    assert "model only: 1 (gravity)" in text and "by both: -" in text


def test_baselines_command_prints_each_rule(tmp_path):
    challenges = {t.id: {"train": [{"input": i.tolist(), "output": o.tolist()} for i, o in t.train],
                         "test": [{"input": i.tolist()} for i in t.test_inputs]} for t in TASKS}
    solutions = {t.id: [o.tolist() for o in t.test_outputs] for t in TASKS}
    (tmp_path / "ch.json").write_text(json.dumps(challenges))
    (tmp_path / "sol.json").write_text(json.dumps(solutions))
    p = subprocess.run([sys.executable, "-m", "offline_eval", "baselines", "--data", str(tmp_path / "ch.json"),
                        "--solutions", str(tmp_path / "sol.json")], cwd=ROOT, env=ENV, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "upscale / tile        0.375  (3 tasks: identity, tile, upscale)" in p.stdout
    assert "demo outputs          0.062  (1 tasks: constant)" in p.stdout


# -----------------------------------------------------------------------------
# Where scores are printed: the trainer, the demo, the report


def test_trainer_logs_baselines_once_and_the_margin_at_each_evaluation(tmp_path):
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "train", "--preset", "tiny-test", "--device", "cpu", "--no-progress",
                        "--steps", "4", "--eval-every", "2", "--max-side", "5", "--first", "3", "--eval-data",
                        "arc1/eval", "--out", str(out)], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    base = [r for r in recs if r.get("event") == "baselines"]
    evals = [r for r in recs if r.get("event") == "eval"]
    assert len(base) == 1 and len(evals) == 2
    assert list(base[0]["baselines"]) == list(bl.BASELINES) and base[0]["eval_tasks"] == 3
    for r in evals:
        # margin = pass@2 - the best rule's score, both on the same held-out tasks
        assert r["margin"] == pytest.approx(r["pass2"] - base[0]["best_rule_score"], abs=1e-4)
        assert r["best_rule"] == base[0]["best_rule"] and len(r["task_pass2"]) == 3
        assert r["pass2"] == pytest.approx(np.mean(list(r["task_pass2"].values())))
        solved = {t for t, v in r["task_pass2"].items() if v > 0}
        by_rules = {t for ids in base[0]["baselines_solved"].values() for t in ids}
        assert (set(r["model_only"]), set(r["both"])) == (solved - by_rules, solved & by_rules)
        assert set(r["rule_only"]) == by_rules - solved
    assert p.stdout.count("[baselines] rule baselines on the same 3 tasks") == 1
    assert p.stdout.count("[eval] held-out pass@2") == 2 and "margin" in p.stdout


def test_demo_headline_is_the_margin(tmp_path):
    from offline_eval.demo import headline
    c = bl.compare({"gravity": 1.0, "constant": 0.5}, TASKS)
    row = {"name": "base", "score": round(c["model"], 4), **bl.summary_fields(c)}
    (tmp_path / "summary.json").write_text(json.dumps([row]))
    text = headline(tmp_path / "summary.json")
    # model (1 + 0.5) / 8 = 0.1875, best rule 3.5 / 8 = 0.4375: margin -0.25, ratio 0.43
    assert "on 8 unseen tasks" in text and "dihedral + colour map, 0.438" in text
    assert "margin -0.250 (0.43x the rule)" in text and "kit only 1, by a rule only 6, by both 1" in text


def test_report_shows_the_baseline_table_and_marks(tmp_path):
    from offline_eval.report import write_report
    from offline_eval.simulate import task_views
    from offline_eval.scoring import score_submission
    sub = {t.id: [{"attempt_1": o.tolist(), "attempt_2": o.tolist()} for o in t.test_outputs] if t.id == "gravity"
           else [{"attempt_1": [[0]], "attempt_2": [[0]]} for _ in t.test_inputs] for t in TASKS}
    scores = score_submission(sub, {t.id: [o.tolist() for o in t.test_outputs] for t in TASKS})
    c = bl.compare(scores["tasks"], TASKS)
    page = write_report(tmp_path, task_views(TASKS, sub, scores), scores, [], "t", {}, baselines=c).read_text()
    assert "<table id='baselines'>" in page and "margin over the best rule (dihedral + colour map)" in page
    assert "<tr class='best'><td>dihedral + colour map</td>" in page
    assert page.count("class='mark model-only'") == 2  # the task table's row and the task's heading
    assert page.count("class='mark rule-only'") == 2 * 7  # every task but gravity: some rule solves each
