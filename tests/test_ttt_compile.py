"""--compile in the Kaggle entry (solve.ShardSolver): the step compiled at the worker's start with its
cold cost reported, the same answers as eager, and a compiler failure, at the start or in the middle
of a shard, leaving the run eager (said loudly) with every task answered.

Dynamo runs with a backend written here instead of inductor: it returns the captured graph unchanged
(so the compiled step computes exactly what eager does, in seconds instead of inductor's minutes),
counts the graphs it is handed and fails on request. The oracle for "compiled" is that backend
having been called; for the answers, an eager solver on the same shard.
"""
import functools
import threading

import pytest
import torch

from submission.model import TRM
from submission.solve import ShardSolver, SolveSettings


class Backend:
    """A dynamo backend: runs the graph as captured; raises from the fail_from-th graph on."""

    def __init__(self, fail_from=None):
        self.graphs, self.fail_from = 0, fail_from

    def __call__(self, gm, example_inputs):
        self.graphs += 1
        if self.fail_from is not None and self.graphs >= self.fail_from:
            raise RuntimeError("simulated compiler failure")
        return gm.forward


@pytest.fixture
def backend(monkeypatch):
    """install(Backend): TRM.compile_step compiles with it."""
    torch._dynamo.reset()

    def install(b):
        monkeypatch.setattr(TRM, "compile_step", functools.partialmethod(TRM.compile_step, backend=b))
        return b
    yield install
    torch._dynamo.reset()


def settings(**kw):
    return SolveSettings(ttt_steps=3, num_aug=2, views=2, batch_size=4, halt="all", log_every_s=1e9, **kw)


def solve(solver, tasks, shard=0):
    answered = {}
    stats = solver.solve_shard(shard, tasks, 120.0, threading.Event(),
                               lambda tid, entries, predicted, info: answered.setdefault(tid, entries))
    return answered, stats


def test_compiled_at_start_with_its_cost_and_the_same_answers(checkpoint, small_tasks, backend):
    b = backend(Backend())
    logs = []
    solver = ShardSolver(checkpoint, torch.device("cpu"), settings(compile="dynamic"), log=logs.append)
    at_start = b.graphs
    # Training (gradients on) and inference (no_grad): two graphs before the first shard.
    assert at_start == 2 and solver.compiled, logs
    assert any(line.startswith("[compile] supervision step compiled") and "cold cost" in line for line in logs), logs
    answered, stats = solve(solver, small_tasks[:1])
    c = stats["compile"]
    assert c["mode"] == "dynamic" and c["compiled"] and c["error"] is None and c["compile_s"] > 0
    eager = ShardSolver(checkpoint, torch.device("cpu"), settings(), log=lambda _: None)
    assert not eager.compiled and b.graphs >= at_start
    reference, eager_stats = solve(eager, small_tasks[:1])
    assert eager_stats["compile"]["mode"] == "off"
    assert answered == reference


def test_a_compiler_failure_at_start_leaves_the_run_eager(checkpoint, small_tasks, backend):
    backend(Backend(fail_from=1))
    logs = []
    solver = ShardSolver(checkpoint, torch.device("cpu"), settings(compile="dynamic"), log=logs.append)
    assert not solver.compiled and not solver.model.use_compiled_step
    assert any("[compile] FAILED while compiling" in line and "EAGER" in line for line in logs), logs
    answered, stats = solve(solver, small_tasks[:1])
    assert set(answered) == {t.id for t in small_tasks[:1]}
    assert stats["ttt_steps"] == 3 and "simulated compiler failure" in stats["compile"]["error"]


@pytest.mark.parametrize("phase", ["training", "inference"])
def test_a_compiler_failure_inside_a_shard_goes_on_eager(checkpoint, small_tasks, backend, monkeypatch, phase):
    """The start compiles fine; then the shard's training (or its inference) needs a new graph
    (dynamo's caches cleared just before), whose compile fails: from there the shard runs eager,
    and every task is answered."""
    from submission import solve as solve_module
    b = backend(Backend(fail_from=3))  # the two graphs of the start compile, then failures
    logs = []
    solver = ShardSolver(checkpoint, torch.device("cpu"), settings(compile="dynamic"), log=logs.append)
    assert solver.compiled and b.graphs == 2
    if phase == "training":
        torch._dynamo.reset()  # the first training step compiles again
    else:
        real = solve_module.predict_shard

        def predict_shard(*a, **k):
            torch._dynamo.reset()  # the first inference batch compiles again
            return real(*a, **k)
        monkeypatch.setattr(solve_module, "predict_shard", predict_shard)
    answered, stats = solve(solver, small_tasks[:1])
    assert b.graphs == 3 and not solver.compiled
    assert any(f"[compile] FAILED shard 0, {phase} at side" in line for line in logs), logs
    assert set(answered) == {t.id for t in small_tasks[:1]} and stats["ttt_steps"] == 3


def test_compile_flags():
    from submission.__main__ import build_parser, solve_settings
    meta = {"model_config": {"H_cycles": 2, "L_cycles": 1, "halt_max_steps": 3}, "args": {}}
    mode = lambda *flags: solve_settings(meta, build_parser().parse_args(["--challenges", "c.json", *flags]), 1).compile  # noqa: E731
    assert (mode(), mode("--compile"), mode("--compile-static"), mode("--compile", "--compile-static")) == \
        ("off", "dynamic", "static", "static")
