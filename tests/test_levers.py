"""The test-time-training levers of issue 9: grid-edge features, an embeddings-only phase first,
and new puzzle rows from the demonstration encoder."""
import math
import shutil

import numpy as np
import pytest
import torch

from submission.augment import Aug
from submission.data import build_puzzle_set
from submission.encoding import encode_grid
from submission.model import TRM, TRMConfig, edge_distances
from submission.tasks import Task


# -----------------------------------------------------------------------------
# Grid-edge features


def _canvas(side, grid, offset):
    return torch.from_numpy(encode_grid(np.asarray(grid, np.uint8), side, offset).reshape(1, -1)).long()


def test_edge_distances_by_hand():
    # A 2x3 grid at offset (1, 2) on a 6x6 canvas: rows 1..2, cols 2..4.
    d = edge_distances(_canvas(6, [[1, 2, 3], [4, 5, 6]], (1, 2)))[0]  # (6, 6, 4)
    assert d.shape == (6, 6, 4)
    # cell (1, 2), the grid's top-left: 0 from the top, 1 to the bottom, 0 from the left, 2 to the right
    assert d[1, 2].tolist() == [0, 1, 0, 2]
    # cell (2, 4), the bottom-right
    assert d[2, 4].tolist() == [1, 0, 2, 0]
    # cell (0, 0), outside: one row above the top, two columns left of the left edge
    assert d[0, 0].tolist() == [-1, 2, -2, 4]
    # cell (5, 5): below and right of the grid
    assert d[5, 5].tolist() == [4, -3, 3, -1]


def test_edge_features_move_with_the_grid_and_are_off_by_default():
    torch.manual_seed(0)
    cfg = TRMConfig(hidden_size=32, num_heads=2, mlp_inner=64, canvas_side=8, puzzle_emb_len=2, edge_features=4)
    m = TRM(cfg)
    g = [[1, 0, 2], [3, 3, 0]]
    a = m.edge_embedding(_canvas(8, g, (0, 0))).view(8, 8, -1)
    b = m.edge_embedding(_canvas(8, g, (3, 2))).view(8, 8, -1)
    # Translation-invariant on the grid's cells (the same distances), different elsewhere.
    assert torch.allclose(a[0:2, 0:3], b[3:5, 2:5], atol=1e-6)
    assert not torch.allclose(a[0:2, 0:3], b[0:2, 0:3])
    # A flip maps each cell's (left, right) distances onto the mirrored cell's (right, left):
    # the features of two mirrored cells differ, so attention can tell them apart.
    assert not torch.allclose(a[0, 0], a[0, 2])
    assert not hasattr(TRM(TRMConfig(hidden_size=32, num_heads=2, mlp_inner=64, canvas_side=8)), "edge_proj")


def test_edge_features_reach_the_input_embedding():
    torch.manual_seed(0)
    cfg = TRMConfig(hidden_size=32, num_heads=2, mlp_inner=64, canvas_side=8, puzzle_emb_len=2, edge_features=4)
    m = TRM(cfg)
    tokens = _canvas(8, [[1, 2], [3, 4]], (1, 1))
    x = m.input_embedding(tokens, torch.zeros(1, 32))  # (1, L, D)
    with torch.no_grad():
        m.edge_proj.weight.zero_()
    x0 = m.input_embedding(tokens, torch.zeros(1, 32))
    diff = (x - x0)[0, 2:]  # canvas positions
    expect = m.edge_proj.weight.new_zeros(0)  # with zero weights the features add nothing
    assert diff.abs().sum() > 0 and expect.numel() == 0
    # and the difference is exactly sqrt(D) x the edge embedding of the original weights
    torch.manual_seed(0)
    m2 = TRM(cfg)
    assert torch.allclose(diff, math.sqrt(32) * m2.edge_embedding(tokens)[0], atol=1e-5)


# -----------------------------------------------------------------------------
# The demonstration encoder


def _tasks():
    rng = np.random.default_rng(0)
    def grid(h, w):
        return rng.integers(0, 10, (h, w)).astype(np.uint8)
    t1 = Task("flip", [(g, g[:, ::-1].copy()) for g in (grid(2, 3), grid(3, 3))], [grid(2, 2)], [grid(2, 2)])
    t2 = Task("same", [(g, g.copy()) for g in (grid(4, 2),)], [grid(3, 3)], [grid(3, 3)])
    return [t1, t2]


def test_pair_groups_encode_each_puzzles_pairs_under_its_augmentation():
    from submission.encoder import pair_groups
    tasks = _tasks()
    ps = build_puzzle_set([], tasks, 3, seed=1)
    ids = np.arange(1, ps.num_puzzles)
    groups = pair_groups(ps, ids, 8, "cpu")
    seen = {}
    for inputs, outputs, owner in groups:
        side = int(round(math.sqrt(inputs.shape[1])))
        for k in range(len(owner)):
            seen.setdefault(int(owner[k]), []).append((side, inputs[k].numpy(), outputs[k].numpy()))
    # Oracle: every pair of the puzzle's task, augmented by Aug.apply and drawn by encode_grid.
    for k, pid in enumerate(ids):
        t = int(np.searchsorted(ps.task_base, pid, side="right") - 1)
        aug = Aug(int(ps.dihedrals[pid]), tuple(int(c) for c in ps.colours[pid]))
        want = []
        for a, b in tasks[t].train:
            A, Bg = aug.apply(a), aug.apply(b)
            side = max(A.shape + Bg.shape) + 1
            want.append((side, encode_grid(A, side).ravel(), encode_grid(Bg, side).ravel()))
        got = seen[k]
        assert len(got) == len(want)
        for (s1, i1, o1) in want:
            assert any(s1 == s2 and np.array_equal(i1, i2) and np.array_equal(o1, o2) for s2, i2, o2 in got)


def test_encoder_learns_a_row_that_depends_on_the_demonstrations():
    # Rows that are a function of the rule (flip vs copy) are learnable: R^2 on the training ids
    # must rise far above the mean row's 0. (A sanity check that fitting works, not a claim that
    # real puzzle rows are this predictable: docs/benchmarks.md has the measured figures.)
    from submission.encoder import EncoderConfig, predict_rows
    from train.encoder import fit_encoder
    rng = np.random.default_rng(0)
    tasks = []
    for i in range(12):
        flip = i % 2 == 0
        pairs = []
        for _ in range(3):
            g = rng.integers(1, 10, (3, 4)).astype(np.uint8)
            pairs.append((g, g[:, ::-1].copy() if flip else g.copy()))
        tasks.append(Task(f"t{i}", pairs, [pairs[0][0]], [pairs[0][1]]))
    ps = build_puzzle_set(tasks, [], 1, seed=0)
    D = 8
    table = torch.zeros(ps.num_puzzles, D)
    for t in range(len(tasks)):
        table[ps.task_base[t]] = torch.full((D,), 1.0 if t % 2 == 0 else -1.0)
    enc, stats = fit_encoder(table, ps, 6, EncoderConfig(hidden_size=16, num_heads=2, num_layers=1, out_size=D,
                                                          canvas_side=6), steps=150, batch=11, lr=3e-3, log=lambda s: None)
    ids = np.arange(1, ps.num_puzzles)
    pred = predict_rows(enc, ps, ids, 6, "cpu")
    r2 = 1 - float(((pred - table[1:]) ** 2).mean() / table[1:].var(0).mean())
    assert r2 > 0.8, r2


def test_new_rows_start_from_the_encoder_when_asked_and_from_the_mean_otherwise(checkpoint, small_tasks, tmp_path):
    from submission.checkpoint import resolve_checkpoint
    from submission.encoder import EncoderConfig, predict_rows
    from submission.solve import ShardSolver, SolveSettings
    from train.encoder import fit_encoder, rebuild_puzzle_set, save_encoder
    src = resolve_checkpoint(checkpoint)
    plain = tmp_path / "plain"
    shutil.copytree(src, plain)
    with_enc = tmp_path / "enc"
    shutil.copytree(src, with_enc)
    from submission.checkpoint import load_meta
    meta = load_meta(with_enc)
    ps_pre, table = rebuild_puzzle_set(with_enc, meta)
    mc = meta["model_config"]
    enc, _ = fit_encoder(table, ps_pre, mc["canvas_side"], EncoderConfig(hidden_size=16, num_layers=1,
                         out_size=mc["hidden_size"], canvas_side=mc["canvas_side"]), steps=3, log=lambda s: None)
    save_encoder(with_enc, enc, {"steps": 3})

    log = lambda s: None
    tasks = [t for t in small_tasks if t.max_side() < mc["canvas_side"]][:2]
    ps = build_puzzle_set([], tasks, 2, seed=0)
    ids = np.arange(1, ps.num_puzzles)
    # With the encoder: the first rows are its predictions (checked against the loaded encoder).
    solver = ShardSolver(with_enc, torch.device("cpu"), SolveSettings(row_init="encoder", ttt_steps=0), log)
    solver.reset(ps.num_puzzles)
    solver.init_rows(ps)
    want = predict_rows(solver.encoder, ps, ids, mc["canvas_side"], "cpu")
    assert torch.allclose(solver.model.puzzle_emb[1:], want)
    assert not torch.allclose(want, solver.mean_row.expand_as(want))
    # Mean init: every new row is the mean row, encoder or not.
    for ck in (with_enc, plain):
        solver = ShardSolver(ck, torch.device("cpu"), SolveSettings(row_init="mean", ttt_steps=0), log)
        solver.reset(ps.num_puzzles)
        solver.init_rows(ps)
        assert torch.allclose(solver.model.puzzle_emb[1:], solver.mean_row.expand(len(ids), -1))
    # Asking for the encoder of a checkpoint without one is an error that says how to get one.
    with pytest.raises(ValueError, match="train.encoder"):
        ShardSolver(plain, torch.device("cpu"), SolveSettings(row_init="encoder"), log)


# -----------------------------------------------------------------------------
# Embeddings first


def test_embeddings_first_keeps_the_weights_until_its_share_is_done(checkpoint, small_tasks):
    from submission.solve import ShardSolver, SolveSettings
    from submission.ttt import train_shard
    import threading
    log = lambda s: None
    tasks = small_tasks[:2]
    for share, weights_move in ((1.0, False), (0.5, True)):
        solver = ShardSolver(checkpoint, torch.device("cpu"), SolveSettings(ttt_steps=6, embeddings_first=share,
                                                                           num_aug=2, batch_size=4), log)
        ps = build_puzzle_set([], tasks, 2, seed=0)
        solver.reset(ps.num_puzzles)
        solver.test_sides = [solver.side(t, x) for t in tasks for x in t.test_inputs]
        rows0 = solver.model.puzzle_emb.clone()
        import time
        train_shard(solver, 0, ps, ps.task_count.copy(), time.time(), time.time() + 60, threading.Event(), 0)
        moved = any(not torch.equal(p, solver.base_weights[n]) for n, p in solver.model.named_parameters())
        assert moved == weights_move, share
        assert not torch.equal(solver.model.puzzle_emb, rows0)  # the rows learn in both phases
