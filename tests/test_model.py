"""Tests for submission/model.py, submission/engine.py's sparse sign-SGD and submission/checkpoint.py
(Adam-atan2, lr_at and act_step: test_engine.py).

Independent references: an analytic parameter count of the paper's configuration, the relative-
position property that rotary encodings must have, forward hooks counting which network calls
build a graph, a hand-parsed safetensors layout, and a slow loop implementation of sparse sign-SGD
written from its definition.
"""
import json
import math
import struct

import numpy as np
import pytest
import torch

from submission.checkpoint import load_file, load_model, model_tensors, save_checkpoint, save_file
from submission.engine import sparse_sign_sgd_
from submission.model import (IGNORE_LABEL, TRM, VOCAB_SIZE, Block, TRMConfig, apply_rotary,
                              compute_dtype, count_parameters, reference_inner, rotary_tables)


def tiny_cfg(**kw) -> TRMConfig:
    base = dict(hidden_size=32, num_heads=2, mlp_inner=64, num_layers=2, H_cycles=2, L_cycles=2,
                halt_max_steps=3, puzzle_emb_len=3, canvas_side=8, num_puzzles=6)
    base.update(kw)
    return TRMConfig(**base)


def make_batch(cfg: TRMConfig, B: int, side: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB_SIZE, (B, side * side), generator=g)
    labels = torch.randint(0, VOCAB_SIZE, (B, side * side), generator=g)
    labels[labels == 0] = IGNORE_LABEL
    ids = torch.randint(0, cfg.num_puzzles, (B,), generator=g)
    return tokens, labels, ids


def run_forward(model: TRM, tokens, ids, labels=None, track_grad=False):
    B, L = tokens.shape[0], model.cfg.puzzle_emb_len + tokens.shape[1]
    y, z = model.initial_state(B, L, tokens.device)
    rows = model.gather_puzzle_rows(ids, track_grad=track_grad)
    return model(tokens, rows, y, z, labels), rows


# -----------------------------------------------------------------------------
# Shapes, parameters, state


def test_output_shapes():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = TRM(cfg)
    for side in (3, 8):
        tokens, labels, ids = make_batch(cfg, 4, side)
        out, _ = run_forward(model, tokens, ids, labels)
        L = cfg.puzzle_emb_len + side * side
        assert out["logits"].shape == (4, side * side, VOCAB_SIZE)
        assert out["halt_logit"].shape == (4,)
        assert out["y"].shape == out["z"].shape == (4, L, cfg.hidden_size)
        assert not out["y"].requires_grad and not out["z"].requires_grad  # carried detached
        assert out["loss"].shape == () and torch.isfinite(out["loss"])
        assert out["exact"].shape == (4,) and out["exact"].dtype == torch.bool
    # The halt head starts silent: weight 0, bias -5.
    assert torch.allclose(out["halt_logit"], torch.full((4,), -5.0))


def test_count_parameters_paper_config():
    D, I, V = 512, 1536, 12
    per_block = D * 3 * D + D * D + D * 2 * I + I * D  # qkv, out, gate_up, down
    expected = V * D + 2 * per_block + D * V + (D + 1)  # embedding, 2 blocks, lm_head, q_head
    model = TRM(TRMConfig(hidden_size=512, num_heads=8, mlp_inner=1536, num_layers=2, num_puzzles=3))
    assert count_parameters(model) == expected == 6_828_545  # the paper's "~6.83M"
    # the puzzle table, y_init and z_init are buffers, not parameters
    names = {n for n, _ in model.named_parameters()}
    assert not names & {"puzzle_emb", "y_init", "z_init"}
    buffers = dict(model.named_buffers())
    assert buffers["puzzle_emb"].shape == (3, 512) and (buffers["puzzle_emb"] == 0).all()
    assert buffers["y_init"].shape == buffers["z_init"].shape == (512,)
    assert not torch.equal(buffers["y_init"], buffers["z_init"])
    assert abs(buffers["y_init"].std().item() - 1.0) < 0.15  # truncated normal rescaled to std 1


def test_grow_puzzle_table():
    torch.manual_seed(0)
    model = TRM(tiny_cfg(num_puzzles=5))
    model.puzzle_emb.normal_()
    old = model.puzzle_emb.clone()
    new_ids = model.grow_puzzle_table(3)
    assert list(new_ids) == [5, 6, 7]
    assert model.puzzle_emb.shape == (8, 32) and model.cfg.num_puzzles == 8
    assert torch.equal(model.puzzle_emb[:5], old)
    mean = old[1:].sum(0) / 4  # blank row 0 excluded
    for i in new_ids:
        torch.testing.assert_close(model.puzzle_emb[i], mean)
    # still a registered buffer (saved in state_dict), and rows are independent copies
    assert model.state_dict()["puzzle_emb"].shape == (8, 32)
    model.puzzle_emb[5] += 1
    assert torch.equal(model.puzzle_emb[6], model.puzzle_emb[7])
    # zero init, and a table holding only the blank row grows with zeros
    model.grow_puzzle_table(2, init="zero")
    assert (model.puzzle_emb[8:] == 0).all()
    small = TRM(tiny_cfg(num_puzzles=1))
    small.grow_puzzle_table(2)
    assert small.puzzle_emb.shape == (3, 32) and (small.puzzle_emb == 0).all()


# -----------------------------------------------------------------------------
# Rotary position encoding


def test_rope2d_same_tables_for_a_cell_at_any_side():
    cfg = tiny_cfg(hidden_size=64, num_heads=2)
    P = cfg.puzzle_emb_len
    c5, s5 = rotary_tables(cfg, 5, "cpu")
    c9, s9 = rotary_tables(cfg, 9, "cpu")
    assert c5.shape == (P + 25, 32) and c9.shape == (P + 81, 32)
    assert torch.equal(c5[:P], c9[:P]) and torch.equal(s5[:P], s9[:P])
    for r in range(5):
        for c in range(5):
            assert torch.equal(c5[P + r * 5 + c], c9[P + r * 9 + c]), (r, c)
            assert torch.equal(s5[P + r * 5 + c], s9[P + r * 9 + c]), (r, c)
    # 1-D rotary depends on the flat index, so it does not have this property
    c5, _ = rotary_tables(tiny_cfg(pos_encoding="rope1d"), 5, "cpu")
    c9, _ = rotary_tables(tiny_cfg(pos_encoding="rope1d"), 9, "cpu")
    assert not torch.equal(c5[P + 5], c9[P + 9])


def test_rope2d_scores_depend_on_relative_position_only():
    """<R(p1) q, R(p2) k> must depend only on p2 - p1 (per axis): the defining property of rotary."""
    cfg = tiny_cfg(hidden_size=64, num_heads=2)  # head dim 32
    side, P = 9, cfg.puzzle_emb_len
    cos, sin = rotary_tables(cfg, side, "cpu")
    cos, sin = cos.double(), sin.double()
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(32, generator=g, dtype=torch.float64), torch.randn(32, generator=g, dtype=torch.float64)
    L = cos.shape[0]
    rq = apply_rotary(q.expand(1, L, 32), cos, sin)[0]  # (L, hd): q placed at every position
    rk = apply_rotary(k.expand(1, L, 32), cos, sin)[0]
    pos = lambda r, c: P + r * side + c
    score = lambda a, b: float(rq[pos(*a)] @ rk[pos(*b)])
    ref = score((1, 2), (3, 1))
    assert score((4, 5), (6, 4)) == pytest.approx(ref, abs=1e-5)  # float32 tables
    assert score((0, 7), (2, 6)) == pytest.approx(ref, abs=1e-5)
    # both a row offset alone and a column offset alone change the score, and differently
    same = score((1, 2), (1, 2))
    assert same == pytest.approx(float(q @ k), abs=1e-5)  # no offset, no rotation
    assert abs(score((1, 2), (1, 4)) - same) > 1e-3
    assert abs(score((1, 2), (3, 2)) - same) > 1e-3
    assert abs(score((1, 2), (1, 4)) - score((1, 2), (3, 2))) > 1e-3
    # rotation keeps norms
    torch.testing.assert_close(rq.norm(dim=-1), q.norm().expand(L))


def test_rotary_of_bf16_inputs_is_computed_in_float32():
    """The reference rotates q and k in float32 and casts back: every element must equal the exact
    (float64) rotation rounded once to bf16. Rotating in bf16 rounds each product and the sum, which
    misses that value for about a third of the elements."""
    g = torch.Generator().manual_seed(0)
    L, hd = 50, 16
    ang = torch.rand(L, hd // 2, generator=g) * 20
    ang = torch.cat([ang, ang], dim=1)
    cos, sin = ang.cos(), ang.sin()  # float32 tables, as rotary_tables gives
    x = torch.randn(2, L, 3, hd, generator=g).bfloat16()
    got = apply_rotary(x, cos, sin)
    assert got.dtype == torch.bfloat16
    xd = x.double()
    c, s = cos.double()[None, :, None], sin.double()[None, :, None]
    x1, x2 = xd[..., :hd // 2], xd[..., hd // 2:]
    exact = torch.cat([x1 * c[..., :hd // 2] - x2 * s[..., :hd // 2], x2 * c[..., hd // 2:] + x1 * s[..., hd // 2:]], dim=-1)
    assert (got != exact.bfloat16()).float().mean() < 1e-3


# -----------------------------------------------------------------------------
# Dtypes and the token-mixing MLP


def test_states_follow_the_compute_dtype():
    """As in the reference (one forward dtype for input, states and residual stream): under bf16
    autocast the returned states are bf16 (and become the carries); without autocast, float32.
    The halt logit is float32 either way."""
    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = TRM(cfg)
    tokens, labels, ids = make_batch(cfg, 2, 4)
    out, _ = run_forward(model, tokens, ids, labels)
    assert out["y"].dtype == out["z"].dtype == torch.float32
    assert compute_dtype(torch.device("cpu")) == torch.float32
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        assert compute_dtype(torch.device("cpu")) == torch.bfloat16
        out16, _ = run_forward(model, tokens, ids, labels)
    assert out16["y"].dtype == out16["z"].dtype == torch.bfloat16
    assert out16["halt_logit"].dtype == torch.float32 and torch.isfinite(out16["loss"])
    # Same model, same input: bf16 logits stay close to float32's.
    assert (out16["logits"].float() - out["logits"]).abs().max() < 0.25


def test_token_mixer_is_the_references():
    # Inner size: round(4 * n * 2 / 3) up to a multiple of 256, by hand.
    assert reference_inner(512) == 1536      # 1365.3 -> 1365 -> 1536
    assert reference_inner(916) == 2560      # 2442.7 -> 2443 -> 2560 (30x30 canvas + 16 prefix)
    assert reference_inner(128) == 512       # 341.3 -> 341 -> 512
    assert reference_inner(18) == 256        # 48 -> 256
    cfg = tiny_cfg(mixer="mlp", canvas_side=4, puzzle_emb_len=2)  # L = 18
    block = Block(cfg)
    assert block.token_mlp.gate_up.weight.shape == (2 * 256, 18)
    # With both MLPs silenced (down projections zero) the block is the two norms alone: the first
    # over the sequence axis (the reference's mlp_t branch normalises while transposed), the second
    # over the hidden axis.
    with torch.no_grad():
        block.token_mlp.down.weight.zero_()
        block.mlp.down.weight.zero_()
    h = torch.randn(2, 18, cfg.hidden_size, generator=torch.Generator().manual_seed(0)) * 3
    got = block(h, None).detach().double().numpy()
    a = h.double().numpy()
    a = a / np.sqrt((a ** 2).mean(axis=1, keepdims=True) + cfg.rms_eps)   # over L
    a = a / np.sqrt((a ** 2).mean(axis=2, keepdims=True) + cfg.rms_eps)   # over D
    np.testing.assert_allclose(got, a, rtol=1e-5, atol=1e-5)


# -----------------------------------------------------------------------------
# Recursion and gradients


def test_only_last_cycle_builds_a_graph():
    """T cycles of (n latent updates + 1 answer update): T*(n+1) net calls, of which only the last
    n+1 record gradients, and backward runs through exactly n+1 of them."""
    T, n = 3, 4
    torch.manual_seed(0)
    cfg = tiny_cfg(H_cycles=T, L_cycles=n)
    model = TRM(cfg)
    grad_enabled, backward_calls = [], []
    model.blocks[0].register_forward_hook(lambda m, i, o: grad_enabled.append(torch.is_grad_enabled()))
    model.blocks[0].register_full_backward_hook(lambda m, gi, go: backward_calls.append(1))
    tokens, labels, ids = make_batch(cfg, 2, 4)
    out, rows = run_forward(model, tokens, ids, labels, track_grad=True)
    assert grad_enabled == [False] * ((T - 1) * (n + 1)) + [True] * (n + 1)
    out["loss"].backward()
    assert len(backward_calls) == n + 1
    # every parameter gets a gradient, the puzzle rows too; the start states are buffers
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert rows.grad is not None and rows.grad.shape == (2, cfg.hidden_size)
    assert model.y_init.grad is None and not model.y_init.requires_grad
    assert model.puzzle_emb.grad is None


def test_more_cycles_change_the_output():
    torch.manual_seed(0)
    m1 = TRM(tiny_cfg(H_cycles=1))
    m2 = TRM(tiny_cfg(H_cycles=2))
    m2.load_state_dict(m1.state_dict())
    tokens, _, ids = make_batch(m1.cfg, 2, 4)
    with torch.no_grad():
        o1, _ = run_forward(m1, tokens, ids)
        o2, _ = run_forward(m2, tokens, ids)
        o1b, _ = run_forward(m1, tokens, ids)
    assert torch.equal(o1["logits"], o1b["logits"])  # deterministic
    assert not torch.allclose(o1["logits"], o2["logits"])
    # H_cycles=2 equals two supervision steps of H_cycles=1 carrying y and z
    with torch.no_grad():
        rows = m1.gather_puzzle_rows(ids, False)
        y, z = m1.initial_state(2, m1.cfg.puzzle_emb_len + 16, "cpu")
        a = m1(tokens, rows, y, z)
        b = m1(tokens, rows, a["y"], a["z"])
    torch.testing.assert_close(b["logits"], o2["logits"])


def test_puzzle_row_changes_the_output():
    torch.manual_seed(0)
    model = TRM(tiny_cfg())
    model.puzzle_emb.normal_()
    tokens, _, _ = make_batch(model.cfg, 2, 4)
    with torch.no_grad():
        a, _ = run_forward(model, tokens, torch.tensor([1, 1]))
        b, _ = run_forward(model, tokens, torch.tensor([2, 1]))
    assert not torch.allclose(a["logits"][0], b["logits"][0])
    torch.testing.assert_close(a["logits"][1], b["logits"][1])  # rows do not leak across the batch


def test_loss_ignores_pad_and_exact_flags():
    logits = torch.full((2, 4, VOCAB_SIZE), -10.0)
    labels = torch.tensor([[2, 3, IGNORE_LABEL, 1], [2, 3, 4, IGNORE_LABEL]])
    for b in range(2):
        for t in range(4):
            logits[b, t, 5] = 10.0  # predict token 5 everywhere ...
    for t, lab in enumerate([2, 3, 9, 1]):
        logits[0, t, lab] = 20.0  # ... except row 0, right on every supervised cell (cell 2 is PAD)
    out = TRM.loss(logits, torch.zeros(2), labels)
    assert out["exact"].tolist() == [True, False]
    # lm loss by hand: mean over rows of the mean CE over supervised cells
    ce = lambda row, cells: np.mean([float(torch.nn.functional.cross_entropy(logits[row, t][None],
                                     labels[row, t][None])) for t in cells])
    lm = (ce(0, [0, 1, 3]) + ce(1, [0, 1, 2])) / 2
    bce = math.log(2)  # halt logit 0 against any target
    assert float(out["loss"]) == pytest.approx(lm + 0.5 * bce, rel=1e-5)


# -----------------------------------------------------------------------------
# safetensors


def parse_safetensors(path):
    """An independent reader: header, offsets and bytes as numpy sees them."""
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    return n, header, data[8 + n:]


ALL_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32,
              torch.int16, torch.int8, torch.uint8, torch.bool]


def test_safetensors_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    tensors = {}
    for dt in ALL_DTYPES:
        name = str(dt).split(".")[1]
        base = torch.randn(3, 5, generator=g) * 50
        tensors[name] = base.to(dt) if dt != torch.bool else base > 0
        tensors[name + "_scalar"] = torch.tensor(7).to(dt)  # 0-dim
        tensors[name + "_empty"] = torch.zeros(0, dtype=dt)
        tensors[name + "_empty2d"] = torch.zeros(4, 0, dtype=dt)
    tensors["noncontig"] = torch.arange(20, dtype=torch.float32).reshape(4, 5).T
    tensors["numpy"] = np.arange(6, dtype=np.int32).reshape(2, 3)
    path = tmp_path / "t.safetensors"
    save_file(tensors, path, metadata={"step": 3})
    back = load_file(path)
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        v = torch.from_numpy(v) if isinstance(v, np.ndarray) else v
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        assert torch.equal(back[k], v), k
    # the layout, read independently: 8-byte aligned header, contiguous data, little-endian bytes
    n, header, blob = parse_safetensors(path)
    assert n % 8 == 0 and header["__metadata__"] == {"step": "3"}
    spans = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    assert spans[0][0] == 0 and spans[-1][1] == len(blob)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    a, b = header["int32"]["data_offsets"]
    assert header["int32"]["dtype"] == "I32" and header["int32"]["shape"] == [3, 5]
    assert np.array_equal(np.frombuffer(blob[a:b], dtype="<i4").reshape(3, 5), tensors["int32"].numpy())
    a, b = header["float32_scalar"]["data_offsets"]
    assert header["float32_scalar"]["shape"] == [] and np.frombuffer(blob[a:b], "<f4").tolist() == [7.0]
    assert header["bfloat16"]["dtype"] == "BF16"


def rewrite_header(src, dst, edit):
    _, header, blob = parse_safetensors(src)
    edit(header)
    hb = json.dumps(header).encode()
    hb += b" " * (-len(hb) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + blob)


def test_load_file_rejects_bad_files(tmp_path):
    good = tmp_path / "good.safetensors"
    save_file({"a": torch.arange(4, dtype=torch.int64), "b": torch.ones(2, 2)}, good)
    bad = tmp_path / "bad.safetensors"

    def claim_more(h):  # data beyond the end of the file
        h["a"]["shape"] = [1000]
        h["a"]["data_offsets"] = [h["a"]["data_offsets"][0], h["a"]["data_offsets"][0] + 8000]
    rewrite_header(good, bad, claim_more)
    with pytest.raises(ValueError):
        load_file(bad)

    def all_beyond(h):  # a tensor lying wholly past the end must not read as zeros
        h["b"]["data_offsets"] = [10_000, 10_016]
    rewrite_header(good, bad, all_beyond)
    with pytest.raises(ValueError):
        load_file(bad)

    def wrong_size(h):  # offsets inside the file but not shape x dtype bytes
        h["a"]["shape"] = [3]
    rewrite_header(good, bad, wrong_size)
    with pytest.raises(ValueError):
        load_file(bad)

    # header length beyond the file, and a truncated file
    bad.write_bytes(struct.pack("<Q", 10 ** 6) + b"{}")
    with pytest.raises(ValueError):
        load_file(bad)
    bad.write_bytes(b"abc")
    with pytest.raises(ValueError):
        load_file(bad)
    bad.write_bytes(good.read_bytes()[:-4])  # data cut short
    with pytest.raises(ValueError):
        load_file(bad)


# -----------------------------------------------------------------------------
# Checkpoints


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = tiny_cfg(num_puzzles=7)
    model = TRM(cfg)
    model.puzzle_emb.normal_()
    # EMA weights as the trainer keeps them: parameters only, different values
    ema = {n: p.detach().clone() + 0.01 for n, p in model.named_parameters()}
    rec = {"dihedrals": np.arange(7, dtype=np.uint8) % 8, "colours": np.tile(np.arange(10, dtype=np.uint8), (7, 1))}
    save_checkpoint(tmp_path / "run" / "last", model, {"step": 42, "puzzle_map": {"blank_id": 0}},
                    ema=ema, puzzle_records=rec)
    tokens, _, ids = make_batch(cfg, 3, 5)

    raw, meta, puzzles = load_model(tmp_path / "run", use_ema=False)  # a run folder resolves to last/
    assert meta["step"] == 42 and meta["model_config"] == cfg.to_dict()
    assert np.array_equal(puzzles["dihedrals"].numpy(), rec["dihedrals"])
    assert "puzzle_emb" not in puzzles
    with torch.no_grad():
        a, _ = run_forward(model, tokens, ids)
        b, _ = run_forward(raw, tokens, ids)
    assert torch.equal(a["logits"], b["logits"]) and torch.equal(a["halt_logit"], b["halt_logit"])
    assert torch.equal(raw.puzzle_emb, model.puzzle_emb)

    # with EMA: the EMA parameters, and the buffers (y_init, z_init, puzzle table) of the model
    m_ema, _, _ = load_model(tmp_path / "run" / "last", use_ema=True)
    ref = TRM(cfg)
    ref.load_state_dict({**model.state_dict(), **ema})
    with torch.no_grad():
        c, _ = run_forward(m_ema, tokens, ids)
        d, _ = run_forward(ref, tokens, ids)
    assert torch.equal(c["logits"], d["logits"])
    assert not torch.allclose(c["logits"], a["logits"])
    assert torch.equal(m_ema.y_init, model.y_init)
    # model.safetensors holds no puzzle table
    assert "puzzle_emb" not in load_file(tmp_path / "run" / "last" / "model.safetensors")
    assert set(load_file(tmp_path / "run" / "last" / "model.safetensors")) == set(model_tensors(model))


def test_puzzle_row_enters_scaled_like_the_tokens():
    # The reference multiplies the whole input (puzzle prefix and tokens) by sqrt(D).
    cfg = tiny_cfg()
    model = TRM(cfg)
    tokens, _, _ = make_batch(cfg, 2, 4)
    rows = torch.randn(2, cfg.hidden_size)
    x = model.input_embedding(tokens, rows)
    P, s = cfg.puzzle_emb_len, math.sqrt(cfg.hidden_size)
    torch.testing.assert_close(x[:, 0], rows * s)
    assert (x[:, 1:P] == 0).all()
    torch.testing.assert_close(x[:, P:], model.embed.weight[tokens] * s)


def test_format1_checkpoint_loads_as_the_same_model(tmp_path):
    # Format /1 fed puzzle rows unscaled: a /1 table T is the /2 table T / sqrt(D).
    torch.manual_seed(1)
    cfg = tiny_cfg(num_puzzles=5)
    model = TRM(cfg)
    model.puzzle_emb.normal_()
    ck = tmp_path / "ck"
    save_checkpoint(ck, model, {"step": 1})
    meta = json.loads((ck / "meta.json").read_text())
    assert meta["format"] == "trm-arc-kit/2"
    meta["format"] = "trm-arc-kit/1"
    (ck / "meta.json").write_text(json.dumps(meta))
    save_file({"puzzle_emb": model.puzzle_emb * math.sqrt(cfg.hidden_size)}, ck / "puzzles.safetensors")
    old, _, _ = load_model(ck, use_ema=False)
    tokens, _, ids = make_batch(cfg, 3, 5)
    with torch.no_grad():
        a, _ = run_forward(model, tokens, ids)
        b, _ = run_forward(old, tokens, ids)
    torch.testing.assert_close(b["logits"], a["logits"])
    meta["format"] = "someone-else/7"
    (ck / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format"):
        load_model(ck)


def test_load_model_without_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path)


# -----------------------------------------------------------------------------
# Optimizers


def ref_sparse_sign_sgd(table, ids, grads, lr, wd):
    out = table.clone()
    for i in sorted(set(ids.tolist())):
        gsum = sum(grads[k].double() for k in range(len(ids)) if ids[k] == i)
        out[i] = (table[i].double() * (1 - lr * wd) - lr * torch.sign(gsum)).float()
    return out


def test_sparse_sign_sgd_matches_reference():
    g = torch.Generator().manual_seed(0)
    N, D = 20, 6
    for trial in range(5):
        table = torch.randn(N, D, generator=g)
        ids = torch.randint(0, N // 2, (16,), generator=g)  # many duplicates, rows N//2.. untouched
        grads = torch.randn(16, D, generator=g)
        if trial == 0:
            # opposite gradients for one duplicated id sum to exactly zero: decay only
            ids[:2] = 3
            grads[1] = -grads[0]
            ids[2:] = torch.where(ids[2:] == 3, 4, ids[2:])
        expected = ref_sparse_sign_sgd(table, ids, grads, lr=0.01, wd=0.1)
        got = table.clone()
        sparse_sign_sgd_(got, ids, grads, lr=0.01, wd=0.1)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
        untouched = sorted(set(range(N)) - set(ids.tolist()))
        assert torch.equal(got[untouched], table[untouched])
        if trial == 0:
            torch.testing.assert_close(got[3], table[3] * (1 - 0.001))
