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
    """Each canvas position's input is sqrt(D) x (its token's embedding + edge_proj of its cell's
    features), the features written out here in numpy from the recipe (model.edge_embedding's doc):
    the signed distances to the grid's edges, worked by hand; sin then cos of 2 pi d / period for
    each edge (edge-major) at F periods spaced geometrically from 2 to 4 x canvas_side; the
    inside-the-grid flag last."""
    torch.manual_seed(0)
    S, F, D = 8, 4, 32
    cfg = TRMConfig(hidden_size=D, num_heads=2, mlp_inner=64, canvas_side=S, puzzle_emb_len=2, edge_features=F)
    m = TRM(cfg)
    tokens = _canvas(S, [[1, 2], [3, 4]], (1, 1))  # the grid covers rows 1..2 and columns 1..2
    with torch.no_grad():
        x = m.input_embedding(tokens, torch.zeros(1, D))[0].double().numpy()  # (P + S*S, D)
    W = m.edge_proj.weight.detach().double().numpy()  # (D, 8F + 1)
    E = m.embed.weight.detach().double().numpy()  # (VOCAB_SIZE, D)
    periods = 2.0 * (2.0 * S) ** (np.arange(F) / (F - 1))  # 2, 2 * 16^(1/3), 2 * 16^(2/3), 32
    # cell (row, col) -> (from the top, to the bottom, from the left, to the right), by hand
    cells = {(0, 0): (-1, 2, -1, 2), (1, 1): (0, 1, 0, 1), (2, 2): (1, 0, 1, 0), (2, 1): (1, 0, 0, 1),
             (5, 7): (4, -3, 6, -5)}
    for (r, c), dist in cells.items():
        ang = 2 * np.pi * np.array(dist, float)[:, None] / periods  # (4 edges, F)
        inside = float(min(dist) >= 0)
        feats = np.concatenate([np.sin(ang).ravel(), np.cos(ang).ravel(), [inside]])  # (8F + 1,)
        want = math.sqrt(D) * (E[int(tokens[0, r * S + c])] + W @ feats)
        assert np.allclose(x[2 + r * S + c], want, atol=1e-5), (r, c)
        assert np.abs(W @ feats).max() > 0.01  # the edge term is not lost in the tolerance
    assert np.array_equal(x[:2], np.zeros((2, D)))  # the prefix (a zero puzzle row) gets no edge term


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
    # auto (the default) takes the encoder's rows when there is an encoder, the mean row when not.
    solver = ShardSolver(with_enc, torch.device("cpu"), SolveSettings(ttt_steps=0), log)
    solver.reset(ps.num_puzzles)
    solver.init_rows(ps)
    assert torch.allclose(solver.model.puzzle_emb[1:], want)
    solver = ShardSolver(plain, torch.device("cpu"), SolveSettings(ttt_steps=0), log)
    solver.reset(ps.num_puzzles)
    solver.init_rows(ps)
    assert torch.allclose(solver.model.puzzle_emb[1:], solver.mean_row.expand(len(ids), -1))
    # The Kaggle export carries the encoder, and auto uses it there too.
    from train.export import export
    export(with_enc, tmp_path / "export")
    solver = ShardSolver(tmp_path / "export", torch.device("cpu"), SolveSettings(ttt_steps=0), log)
    solver.reset(ps.num_puzzles)
    solver.init_rows(ps)
    assert torch.allclose(solver.model.puzzle_emb[1:], want)
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


# -----------------------------------------------------------------------------
# rope2d-d8: keys at the dihedral images of their cells


def _d8_numpy(name, x):
    """The eight transforms by numpy's own functions (the oracle): rot90 is clockwise."""
    return {"identity": x, "flip_lr": np.fliplr(x), "flip_ud": np.flipud(x), "transpose": x.T,
            "rot180": np.rot90(x, 2), "rot90": np.rot90(x, -1), "rot270": np.rot90(x, 1),
            "anti_transpose": np.rot90(x, 2).T}[name]


def test_d8_images_say_where_numpy_puts_each_cell():
    from submission.model import D8_ORDER, d8_images
    rng = np.random.default_rng(0)
    for h, w in ((3, 5), (4, 4), (1, 6), (7, 2)):
        x = rng.permutation(h * w).reshape(h, w)  # distinct values: each tells its cell
        r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        images = d8_images(torch.from_numpy(r), torch.from_numpy(c), torch.tensor(h - 1), torch.tensor(w - 1))
        assert set(images) == set(D8_ORDER)
        for name, (ri, ci) in images.items():
            y = _d8_numpy(name, x)
            got = np.full(y.shape, -1)
            got[ri.numpy(), ci.numpy()] = x  # input cell (r, c) placed where the transform puts it
            assert np.array_equal(got, y), (name, h, w)


def test_d8_rope_aligns_each_output_cell_with_its_source_under_the_head_transform():
    """A query at output cell p and the key of head h at input cell q score as if unrotated exactly
    when head h's transform brings q to p; a translated grid gets the same tables."""
    from submission.model import D8_ORDER, TRMConfig, d8_rope, rotate_rows
    cfg = TRMConfig(hidden_size=64, num_heads=8, canvas_side=8, puzzle_emb_len=2, pos_encoding="rope2d-d8")
    g = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 1, 2, 3]]  # 3 x 4, drawn at (2, 1) and at (0, 0)
    rope = d8_rope(cfg, _canvas(8, g, (2, 1)))
    rope0 = d8_rope(cfg, _canvas(8, g, (0, 0)))
    P, hd = 2, 8
    v = torch.randn(hd, dtype=torch.float64).float()

    def at(r, c, r0, c0):  # sequence position of grid cell (r, c) drawn at (r0, c0)
        return P + (r + r0) * 8 + (c + c0)
    for h, name in enumerate(D8_ORDER):
        y = _d8_numpy(name, np.arange(12).reshape(3, 4))
        for (i, j), src in np.ndenumerate(y):
            r, c = divmod(int(src), 4)
            for tables, (r0, c0) in ((rope, (2, 1)), (rope0, (0, 0))):
                cq, sq, ck, sk = (t[0] for t in tables)
                qv = rotate_rows(v.view(1, 1, 1, hd), cq[at(i, j, r0, c0)].view(1, 1, 1, hd), sq[at(i, j, r0, c0)].view(1, 1, 1, hd))
                kv = rotate_rows(v.view(1, 1, 1, hd), ck[at(r, c, r0, c0), h].view(1, 1, 1, hd), sk[at(r, c, r0, c0), h].view(1, 1, 1, hd))
                assert torch.allclose((qv * kv).sum(), (v * v).sum(), atol=1e-5), (name, i, j)
        # and a key that the transform does not bring there scores differently
        i, j = 0, 0
        r, c = divmod(int(y[0, 0]), 4)
        other = (r, (c + 1) % 4)
        cq, sq, ck, sk = (t[0] for t in rope)
        qv = rotate_rows(v.view(1, 1, 1, hd), cq[at(i, j, 2, 1)].view(1, 1, 1, hd), sq[at(i, j, 2, 1)].view(1, 1, 1, hd))
        kv = rotate_rows(v.view(1, 1, 1, hd), ck[at(*other, 2, 1), h].view(1, 1, 1, hd), sk[at(*other, 2, 1), h].view(1, 1, 1, hd))
        assert not torch.allclose((qv * kv).sum(), (v * v).sum(), atol=1e-3), name
    for a, b in zip(rope, rope0):  # the grid's frame moves with the grid
        assert torch.allclose(a[0, P + 2 * 8 + 1], b[0, P + 0])


def test_d8_model_trains_and_predicts_on_any_side():
    from submission.model import TRM, TRMConfig
    cfg = TRMConfig(hidden_size=32, num_heads=4, mlp_inner=64, H_cycles=1, L_cycles=2, canvas_side=8,
                    puzzle_emb_len=2, pos_encoding="rope2d-d8", num_puzzles=3)
    m = TRM(cfg)
    assert not cfg.fixed_canvas
    for side in (4, 8):
        tokens = _canvas(side, [[1, 2], [3, 4], [5, 6]], (1, 0))
        y, z = m.initial_state(1, 2 + side * side, "cpu")
        labels = torch.where(tokens >= 2, tokens, torch.full_like(tokens, -100))
        out = m(tokens, torch.zeros(1, 32), y, z, labels)
        out["loss"].backward()
        assert out["logits"].shape == (1, side * side, 12) and m.blocks[0].attn.qkv.weight.grad is not None


def test_train_fits_the_encoder_at_the_end_when_asked(tmp_path):
    import json
    import subprocess
    import sys
    from submission.checkpoint import ENCODER_FILE
    from tests.conftest import ENV, ROOT
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "train", "--preset", "tiny-test", "--steps", "4", "--no-progress",
                    "--encoder-steps", "2", "--out", str(out)], cwd=ROOT, env=ENV, check=True, capture_output=True,
                   timeout=300)
    for folder in ("best", "last"):
        assert (out / folder / ENCODER_FILE).is_file(), folder
        meta = json.loads((out / folder / "meta.json").read_text())
        assert meta["encoder"]["fit"]["steps"] == 2
    assert json.loads((out / "summary.json").read_text())["encoder_s"] >= 0


# -----------------------------------------------------------------------------
# --demo-check: candidates of views that reproduce the demonstrations first


def test_demo_check_ranks_the_candidates_of_fitting_views_first(checkpoint, small_tasks, monkeypatch):
    """With a stand-in fit that trusts only the last view of each test input, that view's candidate
    must be the first attempt; without the check the plain vote order stands. The real fit is
    checked against predicting the demonstrations directly."""
    import threading
    from submission import predict
    from submission.solve import ShardSolver, SolveSettings
    task = small_tasks[0]
    got = {}

    def solve(check, fits=None):
        solver = ShardSolver(checkpoint, torch.device("cpu"), SolveSettings(ttt_steps=2, num_aug=4, views=4, batch_size=8,
                                                                            demo_check=check, report_candidates=10),
                             log=lambda s: None)
        if fits is not None:
            monkeypatch.setattr(predict, "demo_fits", fits)
        solver.solve_shard(0, [task], 60.0, threading.Event(), lambda tid, e, p, i: got.update({check: (e, i)}))
        return solver

    solve(False)
    plain_entries, plain_info = got[False]
    last_view = {}

    def trust_last(solver, tasks, V, ps, vs, shard_id):
        fit = np.zeros(len(vs.item), bool)
        for item in np.unique(vs.item):
            fit[np.flatnonzero(vs.item == item)[-1]] = True
        last_view["vs"] = vs
        return fit
    solver = solve(True, trust_last)
    entries, info = got[True]
    assert info["demo_fit_views"] == [1] * len(task.test_inputs)
    # The trusted view's decoded answer, computed here on its own from the trained model:
    vs = last_view["vs"]
    from submission.inference import decode_views, run_views
    run = run_views(solver.model, vs, torch.device("cpu"), solver.autocast, halt=solver.S.halt)
    grids = decode_views(vs, run["pred"])
    for k in range(len(task.test_inputs)):
        g = grids[np.flatnonzero(vs.item == k)[-1]]
        if g is not None:
            assert entries[k]["attempt_1"] == g.tolist(), k
    # The fit itself, with decoding stubbed so that only augmentation j = 1 of the task gets every
    # demonstration right (and j = 2 all but the last): the expected fit is known by construction.
    monkeypatch.undo()
    seen = {}

    def stub_decode(vs, preds):
        out = []
        for v in range(len(vs.item)):
            d = int(vs.item[v])
            j = int(np.flatnonzero(vs.item == d).tolist().index(v))  # augmentation index of the view
            truth = task.train[d][1]
            good = j == 1 or (j == 2 and d < len(task.train) - 1)
            out.append(truth.copy() if good else np.zeros((1, 1), np.uint8))
        return out
    real = predict.demo_fits

    def spy(solver, tasks, V, ps, vs, shard_id):
        monkeypatch.setattr(predict, "decode_views", stub_decode)
        try:
            seen["fit"], seen["vs"], seen["V"] = real(solver, tasks, V, ps, vs, shard_id), vs, V
        finally:
            monkeypatch.undo()
        monkeypatch.setattr(predict, "demo_fits", spy)
        return seen["fit"]
    solve(True, spy)
    fit, vs = seen["fit"], seen["vs"]
    assert seen["V"] >= 3 and len(task.train) >= 2
    expect = [j == 1 for j in range(seen["V"])]
    for item in range(len(task.test_inputs)):
        assert fit[np.flatnonzero(vs.item == item)].tolist() == expect, item


# -----------------------------------------------------------------------------
# The canvas layout a checkpoint was trained on reaches every encoding of the Kaggle entry


def test_entry_encodes_with_the_checkpoints_eos_corner(checkpoint, small_tasks, tmp_path, monkeypatch):
    """A checkpoint trained with the reference's layout (model_config eos_corner false) is fine-tuned
    (data.Sampler), predicted (inference.run_views) and voted by product of experts
    (inference.candidate_logprob) on canvases whose corner cell is PAD; one whose meta has no such key
    (written before the option) is read as the kit's first layout. The encoders are wrapped to record
    the corner they were given; what each layout writes is checked in test_encoding.py against
    hand-drawn canvases."""
    import json
    import threading
    import time
    import submission.data as data_mod
    import submission.inference as inf_mod
    from submission.checkpoint import resolve_checkpoint
    from submission.predict import predict_shard
    from submission.solve import ShardSolver, SolveSettings
    from submission.ttt import train_shard

    seen = []
    def wrap(mod, name):
        real = getattr(mod, name)
        def rec(*a):
            corner = a[10] if len(a) > 10 else True
            real(*a)
            seen.append((name, bool(corner)))
        monkeypatch.setattr(mod, name, rec)
    wrap(data_mod, "encode_batch")
    wrap(inf_mod, "encode_batch")
    real_grid = inf_mod.encode_grid
    monkeypatch.setattr(inf_mod, "encode_grid", lambda *a, **k: (seen.append(("encode_grid", bool(k.get("corner", True)))), real_grid(*a, **k))[1])

    src = resolve_checkpoint(checkpoint)
    tasks = small_tasks[:2]
    for label, edit, want in (("reference", lambda mc: mc.update(eos_corner=False), False),
                              ("old meta", lambda mc: mc.pop("eos_corner", None), True)):
        ck = tmp_path / label.replace(" ", "_")
        shutil.copytree(src, ck)
        meta = json.loads((ck / "meta.json").read_text())
        edit(meta["model_config"])
        (ck / "meta.json").write_text(json.dumps(meta))
        seen.clear()
        solver = ShardSolver(ck, torch.device("cpu"), SolveSettings(ttt_steps=3, num_aug=2, batch_size=4, vote="poe"),
                             lambda s: None)
        ps = build_puzzle_set([], tasks, 2, seed=0)
        solver.reset(ps.num_puzzles)
        solver.test_sides = [solver.side(t, x) for t in tasks for x in t.test_inputs]
        train_shard(solver, 0, ps, ps.task_count.copy(), time.time(), time.time() + 60, threading.Event(), 0)
        out = []
        predict_shard(solver, 0, tasks, ps, 2, time.time() + 60, threading.Event(), lambda *a: out.append(a))
        assert len(out) == len(tasks)
        names = {n for n, _ in seen}
        assert {"encode_batch", "encode_grid"} <= names, (label, names)
        assert all(c == want for _, c in seen), (label, [(n, c) for n, c in seen if c != want][:3])


def test_entry_fine_tunes_with_the_checkpoints_translation_rule():
    """The Kaggle entry's fine-tuning translates by the rule the checkpoint was pretrained with (its saved
    args), and by the kit's first rule for a checkpoint saved before the option."""
    from submission.__main__ import build_parser, solve_settings

    args = build_parser().parse_args([])
    assert solve_settings({"args": {"translate_mode": "fixed"}}, args, 1).translate_mode == "fixed"
    assert solve_settings({"args": {"translate_mode": "fresh"}}, args, 1).translate_mode == "fresh"
    assert solve_settings({"args": {}}, args, 1).translate_mode == "fresh"
