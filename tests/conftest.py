"""Shared fixtures: one tiny checkpoint per test session and a few small real tasks."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The tiny model runs fastest on one thread; two threads per process oversubscribe the 2 cores
# when tests run entries side by side.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run folder of `python -m train --preset tiny-test --steps 10` (metrics.jsonl, best/, last/)."""
    out = tmp_path_factory.mktemp("ckpt") / "run"
    subprocess.run([sys.executable, "-m", "train", "--preset", "tiny-test", "--steps", "10", "--no-progress",
                    "--out", str(out)], cwd=ROOT, env=ENV, check=True, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="session")
def checkpoint(tiny_run):
    return tiny_run


@pytest.fixture(scope="session")
def small_tasks():
    """Three small real tasks (arc1/eval, every grid at most 6x6)."""
    from submission.tasks import load_tasks, select_tasks
    return select_tasks(load_tasks("arc1/eval"), max_side=6, first=3)
