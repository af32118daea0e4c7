"""Tests for the Kaggle entry `python -m submission` (submission/__main__.py, solve.py, writer.py).

End-to-end runs use a tiny checkpoint trained in the session (`python -m train --preset tiny-test
--steps 10`) and three small real tasks (arc1/eval, max side <= 6). Checked against independent
facts: the competition's format rules (docs/reference.md, "The Kaggle competition"; re-checked here
by hand, not with the module's own validator) and the wall clock. (The entry's not reading a
solutions file beside the challenges is checked in tests/test_simulate.py.)
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from submission import writer
from submission.augment import Aug
from submission.encoding import encode_grid
from submission.inference import Candidate, ViewSet, rank_by_poe

ROOT = Path(__file__).resolve().parents[1]
# The tiny model runs fastest on one thread, and two threads per process oversubscribe the cores
# when the test runs two entries at once (or the machine is shared).
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


# -----------------------------------------------------------------------------
# Fixtures and helpers


def challenges_of(tasks) -> dict:
    from submission.tasks import tasks_to_challenges
    return tasks_to_challenges(tasks)


def start_entry(args, env=None):
    return subprocess.Popen([sys.executable, "-m", "submission", *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**ENV, **(env or {})})


def run_entry(args, env=None, timeout=120):
    t = time.time()
    proc = start_entry(args, env)
    out, _ = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, ""), time.time() - t


def is_grid(g) -> bool:
    return (isinstance(g, list) and 1 <= len(g) <= 30 and all(isinstance(r, list) for r in g)
            and 1 <= len(g[0]) <= 30 and all(len(r) == len(g[0]) for r in g)
            and all(type(v) is int and 0 <= v <= 9 for r in g for v in r))


def check_valid(path, challenges: dict):
    """Kaggle's rules, written out independently of writer.validate_submission."""
    sub = json.loads(Path(path).read_text())
    assert set(sub) == set(challenges)
    for tid, task in challenges.items():
        n = len(task["test"]) if isinstance(task, dict) and isinstance(task.get("test"), list) and task["test"] else 1
        assert len(sub[tid]) == n, tid
        for e in sub[tid]:
            assert set(e) == {"attempt_1", "attempt_2"}
            assert is_grid(e["attempt_1"]) and is_grid(e["attempt_2"])
    return sub


FIXED = ["--ttt-steps", "3", "--num-aug", "4", "--views", "2", "--seed", "0"]


# -----------------------------------------------------------------------------
# writer.py: fallbacks, atomic writes, validation


def test_fallback_is_the_test_input_and_bad_inputs_get_zero_grids():
    raw = {"ok": {"train": [], "test": [{"input": [[1, 2], [3, 4]]}, {"input": [[5]]}]},
           "bad_cell": {"test": [{"input": [[1, 12]]}, {"input": [[7]]}]},
           "no_test": {"train": []}}
    fb = writer.fallback_entries(raw)
    assert fb["ok"] == [{"attempt_1": [[1, 2], [3, 4]], "attempt_2": [[1, 2], [3, 4]]},
                        {"attempt_1": [[5]], "attempt_2": [[5]]}]
    assert fb["bad_cell"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}, {"attempt_1": [[7]], "attempt_2": [[7]]}]
    assert fb["no_test"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]


def test_make_entry_fills_a_missing_second_attempt_with_the_input():
    x = np.array([[1, 1]], np.uint8)
    e = writer.make_entry([np.array([[3]], np.uint8)], x)
    assert e == {"attempt_1": [[3]], "attempt_2": [[1, 1]]}
    assert writer.make_entry([], x) == {"attempt_1": [[1, 1]], "attempt_2": [[1, 1]]}


def test_validator_names_every_problem(tmp_path):
    expected = {"a": 2, "b": 1}
    good = {"a": [{"attempt_1": [[1]], "attempt_2": [[2]]}] * 2, "b": [{"attempt_1": [[0]], "attempt_2": [[0]]}]}
    assert writer.validate_submission(good, expected) == []
    bad = {"a": [{"attempt_1": [[1]]}], "c": []}
    problems = writer.validate_submission(bad, expected)
    assert any("'b': missing" in p for p in problems)
    assert any("1 entries for 2" in p for p in problems)
    assert any("missing attempt_2" in p for p in problems)
    assert any("'c': not in the challenges" in p for p in problems)
    assert writer.validate_submission({"a": [{"attempt_1": [[True]], "attempt_2": [[1, 2], [3]]}] * 2,
                                       "b": good["b"]}, expected)
    path = tmp_path / "s.json"
    writer.write_atomic(good, path)
    assert writer.validate_file(path, expected) == []
    assert not [p for p in os.listdir(tmp_path) if p != "s.json"]  # no temporary file left


# -----------------------------------------------------------------------------
# Product-of-experts ranking, against a hand-made log-prob table


def test_poe_prefers_the_candidate_the_views_find_likely():
    side = 3
    g_a, g_b = np.array([[1, 2]], np.uint8), np.array([[3]], np.uint8)
    augs = [Aug(0), Aug(1, (0, 2, 1, 3, 4, 5, 6, 7, 8, 9))]
    vs = ViewSet(item=np.zeros(2, np.int64), puzzle_ids=np.arange(2), dihedrals=np.array([0, 1], np.uint8),
                 colours=np.stack([np.asarray(a.colours, np.uint8) for a in augs]),
                 sides=np.full(2, side), grid=np.zeros(2, np.int64))
    # Each view's log-probs: B's tokens get log 0.9, everything else log 0.01.
    logprobs = []
    for a in augs:
        lp = np.full((side * side, 12), np.log(0.01), np.float16)
        canvas = encode_grid(a.apply(g_b), side).ravel()
        lp[np.arange(side * side), canvas] = np.log(0.9)
        logprobs.append(lp)
    a = Candidate(g_a, votes=5, conf_sum=5.0, views=[0])  # more votes ...
    b = Candidate(g_b, votes=1, conf_sum=0.1, views=[1])  # ... but the views prefer b
    ranked = rank_by_poe([a, b], vs, logprobs, top=8)
    assert [c.grid.tolist() for c in ranked] == [[[3]], [[1, 2]]]
    assert ranked[0].score > ranked[1].score
    # only the top-1 by votes is re-scored: a stays first
    assert rank_by_poe([a, b], vs, logprobs, top=1)[0] is a


# -----------------------------------------------------------------------------
# Kaggle mode on a faked tree (every mount layout: tests/test_kaggle.py)


def test_kaggle_mode_without_arguments(tmp_path, checkpoint, small_tasks):
    inp, work = tmp_path / "input", tmp_path / "working"
    (inp / "arc-prize-2025").mkdir(parents=True)
    ch = challenges_of(small_tasks[:1])
    (inp / "arc-prize-2025/arc-agi_test_challenges.json").write_text(json.dumps(ch))
    os.symlink(checkpoint, inp / "trm-checkpoint")
    proc, _ = run_entry(["--ttt-steps", "2", "--views", "1", "--num-aug", "2", "--time-limit", "60", "--device", "cpu"],
                        env={"TRM_KAGGLE_INPUT": str(inp), "TRM_KAGGLE_WORKING": str(work)})  # CPU on purpose
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_valid(work / "submission.json", ch)
    assert "trm-checkpoint" in proc.stdout


# -----------------------------------------------------------------------------
# End to end


def model_answers(sub: dict, challenges: dict) -> int:
    """Test inputs whose answer is not the fallback copy of the input (so the model's; a model answer
    may equal the copy)."""
    return sum(e != {"attempt_1": t["input"], "attempt_2": t["input"]}
               for tid, task in challenges.items() for e, t in zip(sub[tid], task["test"]))


def fallbacks_reported(stdout: str) -> int:
    m = re.search(r"\[summary\] \d+ tasks, \d+ test inputs; fallbacks used for (\d+) test inputs", stdout)
    assert m, stdout
    return int(m.group(1))


def test_end_to_end_in_time(tmp_path, checkpoint, small_tasks):
    ch = challenges_of(small_tasks)
    (tmp_path / "c.json").write_text(json.dumps(ch))
    limit = 20
    proc, wall = run_entry(["--challenges", tmp_path / "c.json", "--checkpoint", checkpoint,
                            "--output", tmp_path / "s.json", "--time-limit", limit])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sub = check_valid(tmp_path / "s.json", ch)
    assert wall < limit + 5, f"took {wall:.1f}s for a {limit}s limit"
    assert "[summary]" in proc.stdout and "valid" in proc.stdout
    # The model answered: the summary counts fewer fallbacks than test inputs (a test input whose views
    # decode to no grid keeps its fallback), and the file agrees: at least one answer is not the copy
    # of its test input, and no more of them than the summary's model answers.
    n_inputs = sum(len(t["test"]) for t in ch.values())
    fallbacks = fallbacks_reported(proc.stdout)
    assert fallbacks < n_inputs, proc.stdout
    assert 1 <= model_answers(sub, ch) <= n_inputs - fallbacks


def test_sigkill_inside_a_write_leaves_the_old_or_the_new_file(tmp_path, checkpoint, small_tasks):
    """The entry is killed half way through writing its first model answer (tests/kill_in_write.py
    pauses inside that write, half the bytes on disk): the submission file must parse, validate, and
    hold the complete file from before that write or the one being written. The control: the same
    kill against a writer that writes the file in place leaves it broken, so the kill does land
    inside the write."""
    ch = challenges_of(small_tasks)
    (tmp_path / "c.json").write_text(json.dumps(ch))
    fallbacks = writer.fallback_entries(ch)
    procs = {}
    for mode in ("atomic", "in-place"):
        d = tmp_path / mode
        d.mkdir()
        procs[mode] = (d, subprocess.Popen(
            [sys.executable, "-m", "tests.kill_in_write", d / "note.json", mode, "--challenges", tmp_path / "c.json",
             "--checkpoint", checkpoint, "--output", d / "s.json", "--time-limit", "120", *FIXED],
            cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        for mode, (d, proc) in procs.items():
            t = time.time()
            while not (d / "note.json").exists() and proc.poll() is None and time.time() - t < 90:
                time.sleep(0.05)
            assert proc.poll() is None, f"{mode}: the entry ended (exit {proc.returncode}) before its first model answer"
            assert (d / "note.json").exists(), f"{mode}: no model answer written within 90s"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    d = tmp_path / "atomic"
    note = json.loads((d / "note.json").read_text())
    assert note["old"] == fallbacks and note["new"] != fallbacks  # the write carried a model answer
    sub = check_valid(d / "s.json", ch)
    assert sub in (note["old"], note["new"])
    assert note["file"] != str(d / "s.json")  # the write went to a temporary file
    # The control: the in-place writer was killed at the same point, its file half written.
    text = (tmp_path / "in-place" / "s.json").read_text()
    assert json.loads((tmp_path / "in-place" / "note.json").read_text())["file"] == str(tmp_path / "in-place" / "s.json")
    try:
        json.loads(text)
        broken = False
    except ValueError:
        broken = True
    assert broken and text, "the in-place control was not cut inside its write"


def test_bad_input_gets_fallbacks_and_is_named(tmp_path, checkpoint, small_tasks):
    """Bad tasks get fallbacks and are named, the good ones are predicted. (That a solutions file beside
    the challenges changes nothing is tests/test_simulate.py's
    test_entry_does_not_read_solutions_beside_the_challenges.)"""
    ch = challenges_of(small_tasks)
    ch["bad_colour"] = {"train": [{"input": [[1, 11]], "output": [[1]]}], "test": [{"input": [[2, 2]]}, {"input": [[3]]}]}
    ch["too_big"] = {"train": [{"input": [[1] * 31], "output": [[1]]}], "test": [{"input": [[1] * 40]}]}
    ch["no_test"] = {"train": [{"input": [[1]], "output": [[1]]}]}
    (tmp_path / "arc-agi_test_challenges.json").write_text(json.dumps(ch))
    proc = start_entry(["--challenges", tmp_path / "arc-agi_test_challenges.json", "--checkpoint", checkpoint,
                        "--output", tmp_path / "s.json", "--time-limit", "120", *FIXED])
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout
    sub = check_valid(tmp_path / "s.json", ch)
    for tid in ("bad_colour", "too_big", "no_test"):
        assert f"task {tid}: bad input" in stdout
    assert "3/3 tasks predicted" in stdout, stdout
    assert sub["bad_colour"] == [{"attempt_1": [[2, 2]], "attempt_2": [[2, 2]]},
                                 {"attempt_1": [[3]], "attempt_2": [[3]]}]
    assert sub["too_big"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]
    assert sub["no_test"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]


# -----------------------------------------------------------------------------
# Recursion depth at test time


def count_net_calls(monkeypatch):
    """Count the shared net's calls by phase (test-time training, inference) in this process: a
    wrapper around TRM.net, whatever the code computes the count to be."""
    from submission import solve
    from submission.model import TRM
    calls, phase = {"ttt": 0, "infer": 0}, {"now": None}
    real_net, real_train, real_predict = TRM.net, solve.train_shard, solve.predict_shard

    def net(self, *a, **k):
        calls[phase["now"]] += 1
        return real_net(self, *a, **k)

    def in_phase(name, fn):
        def run(*a, **k):
            phase["now"] = name
            try:
                return fn(*a, **k)
            finally:
                phase["now"] = None
        return run

    monkeypatch.setattr(TRM, "net", net)
    monkeypatch.setattr(solve, "train_shard", in_phase("ttt", real_train))
    monkeypatch.setattr(solve, "predict_shard", in_phase("infer", real_predict))
    return calls


def test_recursion_flags_set_the_net_calls_and_the_summary_records_them(tmp_path, checkpoint, small_tasks, monkeypatch):
    """One task with one test input, 2 TTT steps, one view, every supervision step run (--halt all):
    a supervision step is T cycles of n latent updates and one answer update, T x (n + 1) net calls;
    training runs 2 of them, inference N. Counted with the checkpoint's depth and with flags that
    change every field (inference taking the shared --L-cycles and its own T and N). The entry runs
    in this process (one CPU worker thread), so the counter sees its calls."""
    from submission.__main__ import main
    task = next(t for t in small_tasks if len(t.test_inputs) == 1)
    (tmp_path / "c.json").write_text(json.dumps(challenges_of([task])))
    ckpt = json.loads((Path(checkpoint) / "best" / "meta.json").read_text())["model_config"]
    T0, n0, N0 = ckpt["H_cycles"], ckpt["L_cycles"], ckpt["halt_max_steps"]
    base = ["--challenges", tmp_path / "c.json", "--checkpoint", checkpoint, "--time-limit", "60", "--ttt-steps", "2",
            "--num-aug", "2", "--views", "1", "--halt", "all"]
    runs = {"checkpoint's": ([], (2 * T0 * (n0 + 1), N0 * T0 * (n0 + 1)),
                             {"H_cycles": T0, "L_cycles": n0, "halt_max_steps": N0},
                             {"H_cycles": T0, "L_cycles": n0, "halt_max_steps": N0}),
            "flags": (["--H-cycles", "3", "--L-cycles", "2", "--halt-max-steps", "4", "--infer-H-cycles", "1",
                       "--infer-halt-max-steps", "5"], (2 * 3 * 3, 5 * 1 * 3),
                      {"H_cycles": 3, "L_cycles": 2, "halt_max_steps": 4}, {"H_cycles": 1, "L_cycles": 2, "halt_max_steps": 5})}
    for name, (flags, (ttt_calls, infer_calls), ttt_depth, infer_depth) in runs.items():
        calls = count_net_calls(monkeypatch)
        out = tmp_path / name
        code = main([str(a) for a in base + flags + ["--output", out / "s.json", "--summary", out / "summary.json"]])
        assert code == 0
        assert calls == {"ttt": ttt_calls, "infer": infer_calls}, (name, calls)
        summary = json.loads((out / "summary.json").read_text())
        assert summary["recursion"]["ttt"] == ttt_depth and summary["recursion"]["infer"] == infer_depth, summary["recursion"]
        assert summary["recursion"]["checkpoint"] == {"H_cycles": T0, "L_cycles": n0, "halt_max_steps": N0}
        shard = summary["shards"]["0"]
        assert shard["recursion"] == {"ttt": ttt_depth, "infer": infer_depth} and shard["ttt_steps"] == 2
        monkeypatch.undo()


def test_recursion_flag_must_be_positive(capsys):
    from submission.__main__ import build_parser
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--infer-H-cycles", "0"])
    assert "--infer-H-cycles: expected a whole number >= 1, got '0'" in capsys.readouterr().err
