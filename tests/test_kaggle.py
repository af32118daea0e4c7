"""The Kaggle entry on the real box: mount layouts, the commit run, memory-sized batches, the export,
fair time shares, the roofline counts.

Checked against independent facts: fake /kaggle trees laid out as Kaggle mounts them (docs/reference.md, the Kaggle competition),
the wall clock, a probe of what autograd really saves (against the shape count), the batch planner's
sum worked by hand on one config and held to the peak the CPU allocator records, the analytic FLOPs
of model.py (against the dispatch counter), a direct mean of the puzzle table (against the streamed
one), and a simulated clock with an independent definition of a fair share (against the planner).
"""
import heapq
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from submission import discover
from submission.plan import FairShare

ROOT = Path(__file__).resolve().parents[1]
ENV = {k: v for k, v in os.environ.items() if k != "KAGGLE_IS_COMPETITION_RERUN"}
ENV["OMP_NUM_THREADS"] = "1"


def challenges_of(tasks) -> dict:
    from submission.tasks import tasks_to_challenges
    return tasks_to_challenges(tasks)


def place_checkpoint(src: Path, dst: Path, fmt: str | None = None):
    """A copy of checkpoint folder src at dst (meta.json's format rewritten when given)."""
    shutil.copytree(src, dst)
    if fmt is not None:
        meta = json.loads((dst / "meta.json").read_text())
        meta["format"] = fmt
        (dst / "meta.json").write_text(json.dumps(meta))


def run_entry(args, env, timeout=120):
    t = time.time()
    proc = subprocess.run([sys.executable, "-m", "submission", *map(str, args)], cwd=ROOT, text=True,
                          capture_output=True, env={**ENV, **env}, timeout=timeout)
    return proc, time.time() - t


def is_grid(g) -> bool:
    return (isinstance(g, list) and 1 <= len(g) <= 30 and all(isinstance(r, list) for r in g)
            and 1 <= len(g[0]) <= 30 and all(len(r) == len(g[0]) for r in g)
            and all(type(v) is int and 0 <= v <= 9 for r in g for v in r))


# -----------------------------------------------------------------------------
# Discovery: every mount layout


def test_challenges_known_paths_then_anywhere(tmp_path):
    inp = tmp_path / "input"
    assert discover.find_challenges(str(inp)) == []  # no input folder at all
    searched = discover.challenges_searched(str(inp))
    assert "competitions/arc-prize-2026-arc-agi-2/arc-agi_test_challenges.json" in searched
    assert "arc-prize-2025/arc-agi_test_challenges.json" in searched and "*test_challenges*.json" in searched
    # an unknown place: found by the recursive search
    odd = inp / "someone-s-copy" / "v2" / "arc-agi_test_challenges.json"
    odd.parent.mkdir(parents=True)
    odd.write_text("{}")
    (inp / "someone-s-copy" / "v2" / "arc-agi_test_solutions.json").write_text("{}")  # never a candidate
    assert discover.find_challenges(str(inp)) == [str(odd)]
    # known paths win, the 2026 competition first, in either competition layout
    for rel in ("arc-prize-2025/arc-agi_test_challenges.json",
                "competitions/arc-prize-2026-arc-agi-2/arc-agi_test_challenges.json"):
        (inp / rel).parent.mkdir(parents=True)
        (inp / rel).write_text("{}")
    found = discover.find_challenges(str(inp))
    assert found == [str(inp / "competitions/arc-prize-2026-arc-agi-2/arc-agi_test_challenges.json"),
                     str(inp / "arc-prize-2025/arc-agi_test_challenges.json")]


@pytest.mark.parametrize("layout", ["old", "datasets", "models"])
def test_checkpoint_found_in_every_layout(tmp_path, checkpoint, layout):
    inp = tmp_path / "input"
    where = {"old": inp / "trm-checkpoint",
             "datasets": inp / "datasets" / "someone" / "trm-checkpoint",
             "models": inp / "models" / "someone" / "trm-checkpoint" / "pytorch" / "default" / "1"}[layout]
    place_checkpoint(checkpoint, where)  # a whole run folder: best/ and last/ inside
    (inp / "arc-prize-2025").mkdir(parents=True)  # competition folders are never candidates
    cands = discover.checkpoint_candidates(str(inp))
    assert [c.path for c in cands] == [str(where / "best")]
    chosen, why = discover.choose_checkpoint(cands, "trm-checkpoint")
    assert chosen.path == str(where / "best") and "only checkpoint" in why
    assert ("someone/trm-checkpoint" in chosen.source) == (layout != "old")


def test_two_checkpoints_named_one_wins_and_both_are_named(tmp_path, checkpoint):
    inp = tmp_path / "input"
    named = inp / "datasets" / "me" / "trm-checkpoint"
    other = inp / "aaa-other-checkpoint"  # sorts first: the old code took it silently
    place_checkpoint(checkpoint / "best", named, fmt="trm-arc-kit/1")
    place_checkpoint(checkpoint / "best", other)
    cands = discover.checkpoint_candidates(str(inp))
    assert {c.path for c in cands} == {str(named), str(other)}
    chosen, why = discover.choose_checkpoint(cands, "trm-checkpoint")
    assert chosen.path == str(named)  # the name beats the newer format
    assert str(named) in why and str(other) in why and "named 'trm-checkpoint'" in why
    assert discover.choose_checkpoint(cands, "me/trm-checkpoint")[0].path == str(named)  # owner/slug works too
    # nothing named as asked: the newest format wins, and the message says why
    chosen, why = discover.choose_checkpoint(cands, "not-attached")
    assert chosen.path == str(other) and "none is named 'not-attached'" in why


# -----------------------------------------------------------------------------
# The entry on fake Kaggle trees


def test_commit_run_ends_in_its_limit_and_writes_every_task(tmp_path, checkpoint):
    """No KAGGLE_IS_COMPETITION_RERUN: a smoke run of a few tasks in minutes (here 15 s), not 12 h;
    the file holds every task (fallbacks for the rest). The 2026 competition layout, a model mount."""
    from submission.tasks import load_tasks, select_tasks
    tasks = select_tasks(load_tasks("arc1/eval"), max_side=6, first=5)
    inp, work = tmp_path / "input", tmp_path / "working"
    comp = inp / "competitions" / "arc-prize-2026-arc-agi-2"
    comp.mkdir(parents=True)
    ch = challenges_of(tasks)
    (comp / "arc-agi_test_challenges.json").write_text(json.dumps(ch))
    place_checkpoint(checkpoint / "best", inp / "models" / "me" / "trm-checkpoint" / "pytorch" / "default" / "1")
    limit = 15  # seconds; start-up (torch, numba, the checkpoint) takes a few of them on a busy machine
    proc, wall = run_entry(["--commit-tasks", "2", "--commit-minutes", limit / 60, "--time-buckets", "--device", "cpu"],
                           {"TRM_KAGGLE_INPUT": str(inp), "TRM_KAGGLE_WORKING": str(work)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("[mode] commit run"), proc.stdout[:300]
    assert wall < limit + 6, f"took {wall:.1f}s for a {limit}s commit run"
    sub = json.loads((work / "submission.json").read_text())
    assert set(sub) == set(ch)
    for tid, task in ch.items():
        assert len(sub[tid]) == len(task["test"])
        assert all(set(e) == {"attempt_1", "attempt_2"} and is_grid(e["attempt_1"]) and is_grid(e["attempt_2"])
                   for e in sub[tid])
    assert "[commit] solving 2 of 5 tasks" in proc.stdout
    assert "2/2 tasks predicted" in proc.stdout and "valid" in proc.stdout.splitlines()[-1]
    assert "model me/trm-checkpoint/pytorch/default/1" in proc.stdout
    timed = proc.stdout.split("[summary] TTT by canvas side: ")[1].splitlines()[0]  # --time-buckets
    assert "steps/s at" in timed, timed


def test_no_challenges_lists_every_place_searched(tmp_path):
    inp = tmp_path / "input"
    (inp / "some-dataset").mkdir(parents=True)
    proc, _ = run_entry([], {"TRM_KAGGLE_INPUT": str(inp), "TRM_KAGGLE_WORKING": str(tmp_path / "w")}, timeout=60)
    assert proc.returncode == 2
    for rel in discover.KNOWN_CHALLENGES:
        assert str(inp / rel) in proc.stdout
    assert f"every *test_challenges*.json below {inp}" in proc.stdout
    assert not (tmp_path / "w" / "submission.json").exists()


def test_a_second_copy_is_refused(tmp_path, small_tasks):
    from submission.writer import take_lock
    (tmp_path / "c.json").write_text(json.dumps(challenges_of(small_tasks)))
    out = tmp_path / "s.json"
    fd, _ = take_lock(out)  # a first copy, running
    try:
        proc, _ = run_entry(["--challenges", tmp_path / "c.json", "--output", out], {}, timeout=60)
    finally:
        os.close(fd)
    assert proc.returncode == 3 and f"pid {os.getpid()}" in proc.stdout and "is writing" in proc.stdout
    assert not out.exists()


# -----------------------------------------------------------------------------
# What the machine can run: the GPUs, numba; the versions first


@pytest.mark.parametrize("capability, arch, ok", [
    ((6, 0), ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90"], False),  # a P100 under a build for Volta and newer
    ((8, 9), ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90"], True),   # an L4: sm_86 cubins run on 8.9
    ((7, 5), ["sm_70", "sm_75", "sm_80"], True),                     # a T4
    ((9, 0), ["sm_80", "sm_86"], False),                             # newer major, no PTX to compile
    ((9, 0), ["sm_80", "sm_86", "compute_86"], True),                # ... PTX for 8.6 compiles for 9.0
    ((8, 0), ["sm_86"], False),                                      # a cubin never runs on a lower minor
    ((9, 0), ["sm_90a"], True),                                      # feature suffix
    ((6, 0), [], True),                                              # the build does not say: not refused
])
def test_arch_supported_follows_cudas_compatibility_rule(capability, arch, ok):
    """CUDA's published rule: a cubin for sm_XY runs on capability X.y with y >= Y; PTX for compute_XY
    compiles for any capability >= X.Y."""
    from submission.runtime import arch_supported
    assert arch_supported(capability, arch) is ok


def test_usable_gpus_counts_a_gpu_without_kernels_as_none(monkeypatch):
    """torch sees a P100 but this build has no kernels for it: no usable GPU, and the reason names it."""
    from submission import runtime
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_70", "sm_80", "sm_90"])
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Tesla P100-PCIE-16GB")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: (6, 0))
    n, why = runtime.usable_gpus()
    assert n == 0 and "Tesla P100" in why and "6.0" in why and "sm_70" in why, why
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA L4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: (8, 9))
    assert runtime.usable_gpus() == (2, "2 x NVIDIA L4")


def kaggle_tree(tmp_path, checkpoint, test_tasks, eval_tasks=None, eval_solutions=None):
    """A fake /kaggle: the 2026 competition folder (test challenges, and the evaluation files when
    given), the checkpoint as the dataset trm-checkpoint. Returns the env that points the entry at it."""
    inp = tmp_path / "input"
    comp = inp / "competitions" / "arc-prize-2026-arc-agi-2"
    comp.mkdir(parents=True)
    (comp / "arc-agi_test_challenges.json").write_text(json.dumps(challenges_of(test_tasks)))
    if eval_tasks is not None:
        (comp / "arc-agi_evaluation_challenges.json").write_text(json.dumps(challenges_of(eval_tasks)))
        (comp / "arc-agi_evaluation_solutions.json").write_text(json.dumps(eval_solutions))
    shutil.copytree(checkpoint, inp / "trm-checkpoint")
    return {"TRM_KAGGLE_INPUT": str(inp), "TRM_KAGGLE_WORKING": str(tmp_path / "working"),
            "TRM_KAGGLE_TEMP": str(tmp_path / "temp"), "CUDA_VISIBLE_DEVICES": ""}  # no GPU, even on a GPU host


def kit_files_left(tmp_path) -> tuple[list, list]:
    """(what the working folder holds, every file left under the scratch folder's lock folder)."""
    work, locks = tmp_path / "working", tmp_path / "temp" / "trm_locks"
    return (sorted(p.name for p in work.iterdir()) if work.is_dir() else [],
            sorted(p.name for p in locks.iterdir()) if locks.is_dir() else [])


def test_commit_run_without_a_gpu_fails_naming_the_accelerator(tmp_path, checkpoint, small_tasks):
    """On Kaggle, no usable GPU and no --device cpu: the commit run stops at once (exit 4) and says which
    setting to fix, before writing anything. The versions come first, after the mode."""
    import numba
    import numpy
    env = kaggle_tree(tmp_path, checkpoint / "best", small_tasks)
    proc, _ = run_entry([], env, timeout=60)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("[mode] commit run") and lines[1].startswith("[versions] "), lines[:2]
    for name, version in (("torch", torch.__version__), ("numpy", numpy.__version__), ("numba", numba.__version__)):
        assert f"{name} {version}" in lines[1], lines[1]
    assert "devices: no usable GPU" in lines[1] and "python " in lines[1]
    err = next(line for line in lines if line.startswith("error: "))
    assert "no usable GPU" in err and "Settings > Accelerator > GPU L4 x4" in err and "--device cpu" in err, err
    assert kit_files_left(tmp_path) == ([], [])  # nothing written, no lock left


def test_rerun_without_a_gpu_warns_solves_on_the_cpu_and_leaves_only_the_submission(tmp_path, checkpoint, small_tasks):
    """The scoring rerun without a GPU keeps going: a loud warning, every task still solved on the CPU;
    /kaggle/working holds submission.json and nothing else, and the lock is gone."""
    env = kaggle_tree(tmp_path, checkpoint / "best", small_tasks)
    proc, _ = run_entry(["--time-limit", 60, "--margin", 6, "--ttt-steps", 3, "--num-aug", 2, "--views", 2],
                        {**env, "KAGGLE_IS_COMPETITION_RERUN": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    banner = [line for line in proc.stdout.splitlines() if line.startswith("[WARNING]")]
    assert len(banner) == 3 and "NO USABLE GPU in the scoring rerun" in banner[1], banner
    assert f"{len(small_tasks)}/{len(small_tasks)} tasks predicted" in proc.stdout
    assert "[summary] ran on the CPU only" in proc.stdout
    assert kit_files_left(tmp_path) == (["submission.json"], [])
    sub = json.loads((tmp_path / "working" / "submission.json").read_text())
    assert set(sub) == {t.id for t in small_tasks}


def test_broken_numba_fails_the_commit_run_and_keeps_the_fallbacks_in_the_rerun(tmp_path, checkpoint, small_tasks):
    """A numba that cannot be imported (a package of that name earlier on the path that raises, as a
    wheel installed over Kaggle's would): the commit run exits 4 with the cause; the rerun writes the
    complete file of fallbacks, warns, and exits 2."""
    shim = tmp_path / "shim" / "numba"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('simulated broken numba')\n")
    env = {**kaggle_tree(tmp_path, checkpoint / "best", small_tasks), "PYTHONPATH": str(tmp_path / "shim")}
    proc, _ = run_entry(["--device", "cpu"], env, timeout=60)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "numba BROKEN (ImportError)" in proc.stdout.splitlines()[1]
    err = next(line for line in proc.stdout.splitlines() if line.startswith("error: "))
    assert "numba is missing or broken (ImportError: simulated broken numba)" in err, err
    assert not (tmp_path / "working" / "submission.json").exists()
    proc, _ = run_entry(["--device", "cpu"], {**env, "KAGGLE_IS_COMPETITION_RERUN": "1"}, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "[WARNING] numba is missing or broken" in proc.stdout and "Every task keeps its fallback" in proc.stdout
    sub = json.loads((tmp_path / "working" / "submission.json").read_text())
    assert sub == {t.id: [{"attempt_1": x.tolist(), "attempt_2": x.tolist()} for x in t.test_inputs] for t in small_tasks}
    assert kit_files_left(tmp_path) == (["submission.json"], [])


# -----------------------------------------------------------------------------
# The commit run's evaluation score


def test_commit_run_scores_evaluation_tasks_seen_apart(tmp_path, checkpoint, small_tasks):
    """Evaluation files beside the test challenges: the commit run also solves the evaluation tasks and
    prints pass@2, unseen tasks apart from those the checkpoint saw (by id, and by content under another
    id). The truths are built so the score is known whatever the model answers: with one view a test
    input gets one candidate, so attempt_2 is the test input itself; a truth equal to the test input is
    solved, a 9x9 truth (the canvas is 8) never is. Unseen: one of each, 0.500. Seen: both solved, 1.000.
    None of their answers enters submission.json."""
    import numpy as np
    from submission.tasks import Task, load_tasks, select_tasks, task_fingerprint
    meta = json.loads((checkpoint / "best" / "meta.json").read_text())
    trained = [t for t in select_tasks(load_tasks("arc1/train"), max_side=6) if t.id in set(meta["puzzle_map"]["task_ids"])]
    by_id, by_content = trained[0], trained[1]
    copy = Task("c0ffee00", by_content.train, by_content.test_inputs)  # the same task under an id never trained
    fresh = [t for t in select_tasks(load_tasks("arc1/eval"), max_side=6, first=6) if t.id not in {s.id for s in small_tasks}][:2]
    solved, unsolvable = fresh
    evals = [solved, unsolvable, by_id, copy]
    truths = {t.id: [x.tolist() for x in t.test_inputs] for t in (solved, by_id, copy)}
    truths[unsolvable.id] = [np.full((9, 9), 3).tolist() for _ in unsolvable.test_inputs]
    ck = tmp_path / "ck"
    shutil.copytree(checkpoint / "best", ck)
    # The content record the trainer writes (train/taskspec.py): {"trained": {id: [fingerprint, part, ...]}}.
    meta["content"] = {"trained": {by_content.id: [task_fingerprint(by_content)]}, "heldout": {}}
    (ck / "meta.json").write_text(json.dumps(meta))
    env = kaggle_tree(tmp_path, ck, small_tasks[:1], evals, truths)
    proc, _ = run_entry(["--device", "cpu", "--commit-tasks", 1, "--commit-minutes", 1, "--ttt-steps", 3,
                         "--num-aug", 2, "--views", 1], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"task {by_id.id} (trained on in pretraining" in out, out
    assert f"task c0ffee00 (seen in pretraining under another id: {by_content.id} (same content))" in out, out
    assert f"task {solved.id} (unseen): pass@2 1.000" in out and f"task {unsolvable.id} (unseen): pass@2 0.000" in out
    score = next(line for line in out.splitlines() if line.startswith("[commit-eval] score: "))
    assert score.startswith("[commit-eval] score: pass@2 0.500 on 2 unseen evaluation task(s); "
                            "1.000 on 2 seen evaluation task(s)"), score
    sub = json.loads((tmp_path / "working" / "submission.json").read_text())
    assert set(sub) == {small_tasks[0].id}  # the evaluation answers stay out
    assert kit_files_left(tmp_path) == (["submission.json"], [])


def test_pass_at_2_by_hand():
    from submission.__main__ import pass_at_2
    a, b, c = [[1]], [[2, 2]], [[3], [3]]
    assert pass_at_2([{"attempt_1": a, "attempt_2": b}], [b]) == 1.0  # the second attempt counts
    assert pass_at_2([{"attempt_1": a, "attempt_2": b}], [[[2], [2]]]) == 0.0  # same cells, other shape
    assert pass_at_2([{"attempt_1": a, "attempt_2": a}, {"attempt_1": c, "attempt_2": b}], [a, b]) == 1.0
    assert pass_at_2([{"attempt_1": a, "attempt_2": a}, {"attempt_1": c, "attempt_2": a}], [a, b]) == 0.5
    assert pass_at_2([{"attempt_1": a, "attempt_2": a}], [a, b]) == 0.5  # a missing entry scores nothing


def test_the_lock_lives_in_the_scratch_folder_and_stale_files_are_cleared(tmp_path, monkeypatch):
    """The lock of /kaggle/working/submission.json is never in /kaggle/working; it is refused while
    held, gone when released; after a killed writer, its lock and its half-written temporary file are
    cleared, a live writer's temporary file is not."""
    from submission.writer import clear_stale_files, lock_path, release_lock, take_lock
    monkeypatch.setenv("TRM_KAGGLE_TEMP", str(tmp_path / "temp"))
    out = tmp_path / "working" / "submission.json"
    assert Path(lock_path(out)).parent == tmp_path / "temp" / "trm_locks"
    fd, _ = take_lock(out)
    assert fd is not None and take_lock(out) == (None, os.getpid())  # a second open file is refused
    release_lock(fd, out)
    assert not Path(lock_path(out)).exists()
    out.parent.mkdir()
    dead = out.parent / ".submission.json.999999999.tmp"  # no such process
    live = out.parent / f".submission.json.{os.getpid()}.tmp"
    for f in (dead, live, Path(lock_path(out))):
        f.write_text("x")  # the lock file as a killed holder leaves it: present, not held
    removed = clear_stale_files(out)
    assert sorted(removed) == sorted([str(dead), lock_path(out)]) and live.exists() and not dead.exists()


# -----------------------------------------------------------------------------
# Fair shares of the time, on a simulated clock


def simulate(weights, workers=4, T=1000.0, use=lambda budget: budget):
    """Workers take the next shard (heaviest first, as pool.py) when free; a shard runs use(budget)
    seconds. Returns (budget per shard, when each started, shards left to start after it, last end)."""
    fs = FairShare(weights, T)
    pending = sorted(range(len(weights)), key=lambda s: -weights[s])
    free = [(0.0, w, None) for w in range(workers)]
    budgets, starts, after, end = {}, {}, {}, 0.0
    while free:
        t, w, done = heapq.heappop(free)
        if done is not None:
            fs.finish(done)
        end = max(end, t)
        if not pending:
            continue
        sid = pending.pop(0)
        budgets[sid] = fs.start(sid, pending, t, workers)
        starts[sid], after[sid] = t, len(pending)
        heapq.heappush(free, (t + use(budgets[sid]), w, sid))
    return budgets, starts, after, end


def test_fair_share_4_workers_16_equal_shards():
    budgets, _, _, end = simulate([1.0] * 16)
    fair = 4 * 1000.0 / 16  # each shard's share of the workers' time
    assert all(abs(b - fair) <= 0.1 * fair for b in budgets.values()), sorted(budgets.values())
    assert end <= 1000.0 + 1e-6


def test_fair_share_uneven_shards():
    # Shards of 4 tasks with 1-3 test inputs each (weights as plan.shard_weight gives them).
    weights = [14, 13, 13, 12, 12, 12, 12, 11, 11, 10, 10, 10, 10, 10, 9, 8]
    budgets, _, after, end = simulate(weights)
    assert end <= 1000.0 + 1e-6
    for sid, b in budgets.items():
        fair = 4 * 1000.0 * weights[sid] / sum(weights)
        assert b >= 0.9 * fair, (sid, b, fair)
        if after[sid] >= 4 - 1:  # not the last wave, which may take time the idle workers cannot use
            assert b <= 1.1 * fair, (sid, b, fair)
    # Strongly uneven: no split is exact, the run still ends in time and nobody gets under 0.9 of fair.
    skewed = [5, 5, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1]
    budgets, _, _, end = simulate(skewed)
    assert end <= 1000.0 + 1e-6
    assert all(b >= 0.9 * 4000.0 * skewed[s] / sum(skewed) for s, b in budgets.items()), budgets
    # Shards ending early hand their time on; nobody is starved and the run still ends in time.
    budgets, _, _, end = simulate(weights, use=lambda b: 0.8 * b)
    assert end <= 1000.0 + 1e-6
    assert all(b >= 0.9 * 4000.0 * weights[s] / sum(weights) for s, b in budgets.items())


# -----------------------------------------------------------------------------
# Memory: the shape count against a probe, the planner against a fake budget, the OOM back-off


@pytest.mark.parametrize("bf16", [False, True])
def test_saved_bytes_shape_count_matches_a_probe(bf16):
    """The count from the shapes equals, byte for byte, what autograd saves in a real step (the probe),
    over configs that move every term: heads, layers, latent updates, prefix length, 1-D rotary."""
    from submission.memory import probe_per_row, saved_bytes_per_row
    from submission.model import TRM, TRMConfig
    ac = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.autocast("cpu", enabled=False)
    for cfg, sides in ((TRMConfig(hidden_size=64, num_heads=2, mlp_inner=192, H_cycles=2, L_cycles=2, num_puzzles=2),
                        (3, 9)),
                       (TRMConfig(hidden_size=32, num_heads=2, mlp_inner=96, H_cycles=1, L_cycles=3, num_layers=1,
                                  puzzle_emb_len=4, num_puzzles=2), (2, 9)),
                       (TRMConfig(hidden_size=48, num_heads=4, mlp_inner=128, H_cycles=3, L_cycles=1, num_layers=3,
                                  puzzle_emb_len=1, num_puzzles=2), (2, 6)),
                       (TRMConfig(hidden_size=32, num_heads=2, mlp_inner=64, H_cycles=1, L_cycles=2, puzzle_emb_len=4,
                                  edge_features=5, canvas_side=8, num_puzzles=2), (3, 8)),
                       (TRMConfig(hidden_size=32, num_heads=1, mlp_inner=64, H_cycles=2, L_cycles=2, puzzle_emb_len=8,
                                  pos_encoding="rope1d", canvas_side=5, num_puzzles=2), (5,)),
                       (TRMConfig(hidden_size=64, num_heads=4, mlp_inner=128, H_cycles=1, L_cycles=2, puzzle_emb_len=4,
                                  pos_encoding="rope2d-d8", canvas_side=8, num_puzzles=2), (3, 8)),
                       # the recipes (tests/test_recipes.py): MLP convs, gradients through more or fewer
                       # net calls, the step embedding
                       (TRMConfig(hidden_size=32, num_heads=2, mlp_inner=64, H_cycles=2, L_cycles=2, puzzle_emb_len=4,
                                  mlp_conv="1d", mlp_conv_kernel=3, grad_updates=5, num_puzzles=2), (2, 5)),
                       (TRMConfig(hidden_size=32, num_heads=2, mlp_inner=64, H_cycles=3, L_cycles=1, puzzle_emb_len=2,
                                  mlp_conv="2d", mlp_conv_kernel=3, grad_updates=2, dis_steps=3, halt_max_steps=3,
                                  step_embedding=True, num_puzzles=2), (2, 5))):
        model = TRM(cfg)
        for side in sides:
            assert saved_bytes_per_row(cfg, side, bf16) == probe_per_row(model, side, ac, torch.device("cpu")), \
                (cfg.hidden_size, cfg.num_heads, side)


@pytest.mark.parametrize("bf16", [False, True])
def test_paper_row_at_the_full_canvas_matches_the_probe(bf16):
    """The figure the README and the benchmark log quote (bytes saved per full 30x30 row at the paper
    shape) is the count's; here the count is held to the probe at the paper shape itself. Probing
    the full canvas takes ~10 s a dtype, so the probe runs at sides 3 and 5 and is extended to side
    30 on its own: the saved bytes of a row are affine in the side's square (every saved tensor is
    per token, per cell of the canvas, or per row, and L = P + S*S)."""
    from submission.memory import probe_per_row, saved_bytes_per_row
    from submission.model import TRM, TRMConfig
    ac = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.autocast("cpu", enabled=False)
    cfg = TRMConfig(num_puzzles=2)  # hidden 512, 8 heads, inner 1536, 2 layers, n = 4, P = 16
    model = TRM(cfg)
    p3, p5 = (probe_per_row(model, s, ac, torch.device("cpu")) for s in (3, 5))
    per_cell = (p5 - p3) / (25 - 9)
    full = p3 + per_cell * (900 - 9)
    assert per_cell == int(per_cell) and saved_bytes_per_row(cfg, 30, bf16) == full
    print(f"paper shape, {'bf16' if bf16 else 'float32'}: {full / 2 ** 20:.2f} MiB per full row, "
          f"{full / 916 / 1024:.1f} KiB per token")


def test_batch_planner_fits_a_fake_budget():
    from submission.memory import BatchPlanner, MemoryBudget, infer_row_bytes, train_row_bytes
    from submission.model import TRMConfig
    cfg = TRMConfig()  # the paper's shape
    budget = MemoryBudget(usable=int(22.5 * 2 ** 30), share=0.8, how="an L4")
    fixed = 200 * 2 ** 20
    planner = BatchPlanner(cfg, True, budget, train_cap=128, infer_cap=256, train_fixed=fixed)
    for side in (7, 12, 20, 30):
        rows = planner.train_rows(side)
        need = lambda r: fixed + r * train_row_bytes(cfg, side, True)  # noqa: E731
        assert need(rows) <= budget.target and (rows == 128 or need(rows + 1) > budget.target), side
        irows = planner.infer_rows(side)
        ineed = lambda r: r * infer_row_bytes(cfg, side, True)  # noqa: E731
        assert ineed(irows) <= budget.target and (irows == 256 or ineed(irows + 1) > budget.target), side
    assert planner.train_rows(30) < 128  # the checkpoint's 128 full rows would not fit an L4
    assert planner.train_rows(7) == 128  # a small canvas is not cut
    # out of memory: half the rows, kept; below one row it gives up
    r = planner.train_rows(30)
    assert planner.halve("train", 30) == r // 2 and planner.train_rows(30) == r // 2
    tiny = BatchPlanner(cfg, True, MemoryBudget(2 ** 20, 0.8, "1 MiB"), 128, 256)
    assert tiny.train_rows(30) == 1
    with pytest.raises(MemoryError):
        tiny.halve("train", 30)


def measured_step_peak(model, side: int, rows: int) -> int:
    """Peak bytes the CPU allocator held during one real training supervision step (engine.act_step,
    then backward) of `rows` rows, above what existed before it (weights, gradients): the allocator's
    own events, +bytes on each allocation and -bytes on each free (torch.profiler with
    profile_memory), summed in time order."""
    from torch.profiler import ProfilerActivity, profile
    from submission.engine import Carry, act_step

    def step():
        gen = torch.Generator().manual_seed(0)
        carry = Carry.empty(model, rows, side, "cpu")
        fresh = {"tokens": torch.randint(2, 12, (rows, side * side), generator=gen),
                 "labels": torch.randint(2, 12, (rows, side * side), generator=gen),
                 "puzzle_ids": torch.zeros(rows, dtype=torch.int64)}
        out = act_step(model, model, carry, fresh, torch.autocast("cpu", enabled=False), gen, training=True)
        out["loss"].backward()

    step()  # the gradients exist from here on, as in training
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    assert events, "the profiler recorded no allocation"
    live = peak = 0
    for _, n in events:
        live += n
        peak = max(peak, live)
    return peak


def test_batch_planner_by_hand_and_against_a_measured_peak():
    """One small config worked by hand (float32, the CPU's dtype: the planner's whole sum), then the
    hand figures held to a real training step: the probe of what autograd saves, and the peak the
    allocator saw at the planner's batch."""
    from submission.memory import BatchPlanner, MemoryBudget, probe_per_row
    from submission.model import TRM, TRMConfig
    cfg = TRMConfig(hidden_size=32, num_heads=2, mlp_inner=64, num_layers=1, H_cycles=1, L_cycles=1,
                    puzzle_emb_len=2, canvas_side=4, num_puzzles=2)
    side = 4  # L = 2 + 16 = 18 tokens, 16 cells; D 32, I 64, H 2
    # One block call saves per token (memory.py's list), float32: 4 * (4I + 8D) = 4 * (256 + 256) = 2,048
    # of activations, 4 * 2D = 256 for the two pre-norm sums, 4 * 2 = 8 for their rsqrt, 4H = 8 for the
    # attention's log-sum-exp: 2,320 bytes.
    # Saved per row: (L_cycles + 1) x num_layers = 2 block calls, 2 * 18 * 2,320 = 83,520; the ids
    # 18 * 8 = 144; the final y 18 * 32 * 4 = 2,304; the head 16 * (32 * 4 + 12 * 4 + 8) = 2,944; 16 of
    # per-row scalars: 88,928.
    # Training peak per row: saved 88,928 + a working set of two block calls 2 * 18 * 2,320 = 83,520 +
    # the carry 2 * 18 * 32 * 4 + 4 * 16 * 8 = 5,120: 177,568.
    # Inference per row: x, y, z 3 * 18 * 32 * 4 = 6,912 + the working set 83,520 + logits and
    # log-probs 16 * 12 * (4 + 4 + 2 + 2) = 2,304 + tokens 16 * 8 * 3 = 384: 93,120.
    # Budget 10 MiB at share 0.8: target 8,388,608; training room 8,388,608 - 1,000,000 fixed = 7,388,608:
    # 7,388,608 // 177,568 = 41 rows (41.6); inference 8,388,608 // 93,120 = 90 rows (90.08).
    planner = BatchPlanner(cfg, False, MemoryBudget(10 * 2 ** 20, 0.8, "by hand"), train_cap=128, infer_cap=256,
                           train_fixed=1_000_000)
    assert planner.train_cost(side).per_row == 177_568 and planner.train_rows(side) == 41
    assert planner.infer_cost(side).per_row == 93_120 and planner.infer_rows(side) == 90
    # The probe: autograd saves what the hand count says.
    torch.manual_seed(0)
    model = TRM(cfg)
    assert probe_per_row(model, side, torch.autocast("cpu", enabled=False), torch.device("cpu")) == 88_928
    # The measured peak of a real step at the planner's 41 rows fits the estimate's per-row part (the
    # fixed part, weights and optimizer state, exists before the step), and the estimate is within 2x
    # of the measured bytes per row (seen: 101,158 measured against 177,568 estimated).
    assert measured_step_peak(model, side, 41) <= 41 * 177_568
    per_row = (measured_step_peak(model, side, 16) - measured_step_peak(model, side, 8)) / 8
    assert per_row <= 177_568 <= 2 * per_row, per_row


def test_out_of_memory_halves_the_batch_and_keeps_it(checkpoint, small_tasks, monkeypatch):
    """Simulated CUDA out-of-memory above 3 inference rows and 4 training rows: the shard still answers
    every task, and the next shard starts from the sizes that worked."""
    from submission import predict, ttt
    from submission.solve import ShardSolver, SolveSettings
    calls, real_run, real_step = [], predict.run_views, ttt.act_step

    def run_views(*a, batch_size, **k):
        calls.append(("infer", batch_size))
        if batch_size > 3:
            raise torch.OutOfMemoryError("simulated")
        return real_run(*a, batch_size=batch_size, **k)

    def act_step(model, raw, carry, *a, **k):
        calls.append(("train", carry.y.shape[0]))
        if carry.y.shape[0] > 4:
            raise torch.OutOfMemoryError("simulated")
        return real_step(model, raw, carry, *a, **k)

    monkeypatch.setattr(predict, "run_views", run_views)
    monkeypatch.setattr(ttt, "act_step", act_step)
    logs = []
    # One training bucket (the canvas), and the same tasks twice: the second shard needs only sizes
    # the first one found.
    settings = SolveSettings(ttt_steps=3, num_aug=4, views=4, batch_size=8, infer_batch_size=16, max_buckets=1,
                             log_every_s=1e9)
    solver = ShardSolver(checkpoint, torch.device("cpu"), settings, log=logs.append)
    answered = {}
    emit = lambda tid, entries, predicted, info: answered.setdefault(tid, entries)  # noqa: E731
    st = solver.solve_shard(0, small_tasks[:2], 60.0, threading.Event(), emit)
    assert set(answered) == {t.id for t in small_tasks[:2]}
    assert st["ttt_steps"] == 3 and all(r <= 4 for r in st["batch_sizes"].values())
    # Every step done is on the loss curve (the steps lost to the out-of-memory retries are not steps).
    assert [s for s, _ in st["loss_curve"]] == [1, 2, 3]
    assert sum("shard 0: loss curve" in line for line in logs) == 1
    assert any("out of memory" in line and "now 2 rows" in line for line in logs), logs  # 16 -> 8 -> 4 -> 2
    assert ("infer", 16) in calls and ("train", 8) in calls
    calls.clear()
    logs.clear()
    answered.clear()
    solver.solve_shard(1, small_tasks[:2], 60.0, threading.Event(), emit)
    assert calls and all(n <= (3 if kind == "infer" else 4) for kind, n in calls), calls
    assert not any("out of memory" in line for line in logs)
    assert set(answered) == {t.id for t in small_tasks[:2]}


# -----------------------------------------------------------------------------
# The Kaggle export


def test_export_is_small_and_trains_the_same(tmp_path, checkpoint, small_tasks):
    from submission.checkpoint import TTT_MEAN_ROW, load_file, load_for_ttt, load_model
    from submission.solve import ShardSolver, SolveSettings
    from train.export import main as export_main
    out = tmp_path / "kaggle-ckpt"
    assert export_main(["--run", str(checkpoint), "--out", str(out)]) == 0
    assert sorted(f.name for f in out.iterdir()) == ["meta.json", "model.safetensors", "ttt.safetensors"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["export"]["weights"] == "ema" and meta["format"] == "trm-arc-kit/2"
    assert "puzzle_emb" not in load_file(out / "model.safetensors")
    full = sum(f.stat().st_size for f in (checkpoint / "best").iterdir())
    assert sum(f.stat().st_size for f in out.iterdir()) < full
    with pytest.raises(ValueError, match="Kaggle export"):
        load_model(out)
    # The mean row: computed here directly from the full table (rows 1..; row 0 is the blank id).
    table = load_file(checkpoint / "best" / "puzzles.safetensors")["puzzle_emb"]
    m_exp, _, t_exp = load_for_ttt(out)
    m_full, _, t_full = load_for_ttt(checkpoint)
    torch.testing.assert_close(t_exp[TTT_MEAN_ROW], table[1:].double().mean(0, keepdim=True).float(), rtol=1e-7, atol=0)
    assert torch.equal(t_exp[TTT_MEAN_ROW], t_full[TTT_MEAN_ROW])
    assert m_exp.puzzle_emb.shape == (1, m_exp.cfg.hidden_size)  # the pretrained table is never loaded
    for (n, a), (_, b) in zip(m_exp.state_dict().items(), m_full.state_dict().items()):
        assert torch.equal(a, b), n
    # Test-time training from either gives the same answers.
    answers = []
    for ck in (out, checkpoint):
        got = {}
        solver = ShardSolver(ck, torch.device("cpu"), SolveSettings(ttt_steps=3, num_aug=4, views=2, batch_size=8),
                             log=lambda s: None)
        solver.solve_shard(0, small_tasks[:1], 60.0, threading.Event(), lambda tid, e, p, i: got.update({tid: e}))
        answers.append(got)
    assert answers[0] == answers[1] and answers[0]


def test_row_mean_streams_the_table(tmp_path):
    from submission.checkpoint import row_mean, save_file
    t = torch.randn(1000, 7)
    save_file({"table": t, "other": torch.arange(3)}, tmp_path / "t.safetensors")
    got = row_mean(tmp_path / "t.safetensors", "table", first_row=1, chunk_rows=300)  # 4 chunks, the last short
    torch.testing.assert_close(got, t[1:].double().mean(0, keepdim=True).float())


# -----------------------------------------------------------------------------
# The roofline's counts


def test_op_counter_counts_the_analytic_flops():
    from submission.roofline import count, infer_step, train_step
    from submission.model import TRM, TRMConfig, train_step_flops
    from submission.predict import forward_step_flops
    cfg = TRMConfig(hidden_size=64, num_heads=2, mlp_inner=192, H_cycles=2, L_cycles=2, puzzle_emb_len=4,
                    num_puzzles=2)
    model, ac, cpu = TRM(cfg), torch.autocast("cpu", enabled=False), torch.device("cpu")
    B, side, D = 3, 7, cfg.hidden_size
    heads = B * 2 * (side * side * D * 12 + D)  # lm_head and q_head, not in the analytic block count
    f, b = count(lambda: infer_step(model, B, side, ac, cpu))
    assert f == forward_step_flops(cfg, B, side) + heads and b > 0
    f, _ = count(lambda: train_step(model, B, side, ac, cpu))
    assert f == train_step_flops(cfg, B, side) + 3 * heads  # backward: twice the forward
