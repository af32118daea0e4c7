"""`python -m offline_eval simulate` and `report` end to end on a tiny checkpoint and two small tasks.

Checked against independent facts: the Kaggle-like tree holds no solutions, the submission the
entry wrote validates, the reported score equals a direct rescoring of that file, and the report
draws every task.
"""
import json
import subprocess
import sys

from tests.conftest import ENV, ROOT


def test_simulate_end_to_end(tiny_run, tmp_path):
    out = tmp_path / "sim"
    # A relative --out, run from another folder: the entry runs in its own working folder, so
    # simulate must hand it absolute paths.
    p = subprocess.run([sys.executable, "-m", "offline_eval", "simulate", "--checkpoint", str(tiny_run),
                        "--data", "arc1/eval", "--max-side", "6", "--first", "2", "--time-limit", "40",
                        "--out", "sim", "--sweep", "vote=poe"],
                       cwd=tmp_path, env={**ENV, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    rows = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in rows] == ["base", "vote-poe"]
    assert all(r["valid"] and not r["timed_out"] for r in rows)
    # Nothing under the entry's input tree mentions the test outputs.
    inp = out / "base" / "kaggle" / "input"
    names = sorted(f.name for f in inp.rglob("*") if f.is_file())
    assert names == sorted(["arc-agi_test_challenges.json", "meta.json", "model.safetensors", "ema.safetensors",
                            "puzzles.safetensors"])
    chal = json.loads((inp / "arc-prize-2025" / "arc-agi_test_challenges.json").read_text())
    assert all("output" not in t for task in chal.values() for t in task["test"])
    # The reported score is the file's score.
    sub = out / "base" / "kaggle" / "working" / "submission.json"
    sol = tmp_path / "sol.json"
    from submission.tasks import load_tasks, select_tasks, tasks_to_solutions
    tasks = select_tasks(load_tasks("arc1/eval"), max_side=6, first=2)
    sol.write_text(json.dumps(tasks_to_solutions(tasks)))
    q = subprocess.run([sys.executable, "-m", "offline_eval", "score", str(sub), str(sol), "--json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert json.loads(q.stdout)["score"] == rows[0]["score"]
    html = (out / "report.html").read_text()
    assert all(t.id in html for t in tasks)
    assert (out / "sweep.md").read_text().count("\n") == 4  # header, rule, two rows
    # `report` draws an existing submission the same way.
    r = subprocess.run([sys.executable, "-m", "offline_eval", "report", str(sub), "arc1/eval", "--max-side", "6",
                        "--first", "2", "--out", str(tmp_path / "rep")], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rep" / "report.html").is_file() and len(list((tmp_path / "rep" / "png").glob("*.png"))) == 2


def test_simulate_refuses_without_outputs(tiny_run, tmp_path):
    chal = tmp_path / "c.json"
    from submission.tasks import load_tasks, select_tasks, tasks_to_challenges
    chal.write_text(json.dumps(tasks_to_challenges(select_tasks(load_tasks("arc1/eval"), max_side=6, first=1))))
    p = subprocess.run([sys.executable, "-m", "offline_eval", "simulate", "--checkpoint", str(tiny_run),
                        "--data", str(chal), "--out", str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "test outputs" in p.stderr


def test_ttt_loss_lines_are_grouped_by_shard():
    from offline_eval.simulate import _ttt_losses
    log = ("  [w0] [ttt] shard 0: step 10/40 loss 1.5000 exact 0.000, 3s of training left\n"
           "  [w1] [ttt] shard 2: step 5/9 loss 2.2500 exact 0.100, 1s of training left\n"
           "  [w0] [ttt] shard 0: step 20/40 loss 1.2500 exact 0.000, 1s of training left\n")
    assert _ttt_losses(log) == {"shard 0": [(10.0, 1.5), (20.0, 1.25)], "shard 2": [(5.0, 2.25)]}
