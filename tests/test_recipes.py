"""Tests for the recipes of later recursive models (issue 22, item 3) and the refinement-loop curve
(item 4): the MLP convs (URM's causal 1-D ConvSwiGLU, the kit's 2-D variant), truncated backprop
through loops (--grad-updates), deep improvement supervision (--dis-steps: frames, fixed steps, step
embedding, prediction feedback); the refinement-loop curve is tests/test_loopcurve.py.

Independent oracles: convolutions worked by hand on a 4-position sequence and a 3x3 grid; the
pre-flag supervision step (train/legacy_hot_path.py) for the default; a hand-unrolled loop that
detaches the states at the cut and feeds the forward-only calls a detached input; forward hooks
counting which net calls record a graph; DIS frames worked by hand; FLOPs by hand.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from submission.checkpoint import load_model, save_checkpoint
from submission.engine import Carry, act_step, dis_frame
from submission.inference import make_viewset, run_views
from submission.model import (IGNORE_LABEL, TRM, VOCAB_SIZE, GridConv, SequenceConv, SwiGLU, TRMConfig,
                              count_parameters, train_step_flops)
from train import legacy_hot_path as legacy

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
NO_AUTOCAST = torch.autocast("cpu", enabled=False)


def tiny_cfg(**kw) -> TRMConfig:
    base = dict(hidden_size=32, num_heads=2, mlp_inner=64, num_layers=2, H_cycles=2, L_cycles=2,
                halt_max_steps=3, puzzle_emb_len=3, canvas_side=8, num_puzzles=6)
    base.update(kw)
    return TRMConfig(**base)


def batch(cfg: TRMConfig, B: int, side: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB_SIZE, (B, side * side), generator=g)
    labels = torch.randint(0, VOCAB_SIZE, (B, side * side), generator=g)
    labels[labels == 0] = IGNORE_LABEL
    ids = torch.randint(1, cfg.num_puzzles, (B,), generator=g)
    return tokens, labels, ids


# -----------------------------------------------------------------------------
# The MLP convs


def test_sequence_conv_by_hand():
    # Two channels over 4 positions; out[t] = w0 * h[t-1] + w1 * h[t] + b, h[-1] = 0.
    conv = SequenceConv(2, 2)
    with torch.no_grad():
        conv.weight[:] = torch.tensor([[[0.5, 2.0]], [[-1.0, 1.0]]])
        conv.bias[:] = torch.tensor([1.0, 0.0])
    h = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, -1.0]]).T[None]  # (1, 4, 2)
    out = conv(h)[0].T  # (2, 4)
    # channel 0: 2*1+1, 0.5*1+2*2+1, 0.5*2+2*3+1, 0.5*3+2*4+1
    assert out[0].tolist() == [3.0, 5.5, 8.0, 10.5]
    # channel 1: the difference from the left neighbour
    assert out[1].tolist() == [0.0, 1.0, -1.0, -1.0]


def test_grid_conv_by_hand():
    # One prefix position, a 3x3 canvas holding 1..9, one channel.
    conv = GridConv(1, 3, prefix=1)
    h = torch.tensor([100.0] + [float(v) for v in range(1, 10)]).view(1, 10, 1)
    with torch.no_grad():
        conv.weight.fill_(1.0)  # the 3x3 neighbourhood sum
        conv.bias.fill_(0.5)
    out = conv(h)[0, :, 0]
    assert out[0] == 100.0  # the prefix passes through
    sums = [12, 21, 16, 27, 45, 33, 24, 39, 28]  # worked by hand, zeros beyond the edge
    assert out[1:].tolist() == [s + 0.5 for s in sums]
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 1] = 1.0  # the cell above
        conv.bias.zero_()
    assert conv(h)[0, 1:, 0].tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6]


def test_convs_start_as_the_identity_and_leave_the_other_weights_as_without():
    h = torch.randn(2, 3 + 16, 64)
    for kind, k in (("1d", 2), ("2d", 3), ("2d", 5)):
        torch.manual_seed(0)
        off = TRM(tiny_cfg())
        torch.manual_seed(0)
        on = TRM(tiny_cfg(mlp_conv=kind, mlp_conv_kernel=k))
        conv = on.blocks[0].mlp.conv
        assert torch.equal(conv(h), h), kind
        extra = {n for n in on.state_dict()} - {n for n in off.state_dict()}
        assert extra == {f"blocks.{i}.mlp.conv.{w}" for i in range(2) for w in ("weight", "bias")}
        assert all(torch.equal(v, on.state_dict()[n]) for n, v in off.state_dict().items())
    with pytest.raises(ValueError, match="odd kernel"):
        TRM(tiny_cfg(mlp_conv="2d", mlp_conv_kernel=2))


def test_conv_swiglu_puts_the_conv_after_the_gate_then_silu():
    # URM's order: H = SiLU(G) * U, then the conv, then SiLU, then down; the conv written here as a
    # shift (out[t] = 0.3 h[t-1] + 0.7 h[t] - 0.1), not with conv1d.
    torch.manual_seed(0)
    conv = SequenceConv(8, 2)
    with torch.no_grad():
        conv.weight[:, 0, 0], conv.weight[:, 0, 1] = 0.3, 0.7
        conv.bias.fill_(-0.1)
    mlp = SwiGLU(4, 8, conv)
    x = torch.randn(2, 5, 4)
    g, u = mlp.gate_up(x).chunk(2, dim=-1)
    h = F.silu(g) * u
    shifted = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], 1)
    expect = mlp.down(F.silu(0.3 * shifted + 0.7 * h - 0.1))
    torch.testing.assert_close(mlp(x), expect)
    assert not hasattr(SwiGLU(4, 8), "conv")


def test_grid_conv_mixes_vertical_neighbours_the_sequence_conv_does_not():
    # Change the hidden state of canvas cell (0, 1) of a 4x4 canvas: with trained-looking (random)
    # weights, the 2-D conv's output moves at the cell below, (1, 1); the causal 1-D one's does not.
    P, S = 2, 4
    h = torch.randn(1, P + S * S, 6)
    h2 = h.clone()
    h2[0, P + 1] += 1.0
    for conv, moved in ((GridConv(6, 3, P), True), (SequenceConv(6, 2), False)):
        with torch.no_grad():
            conv.weight.normal_()
        below = P + 1 * S + 1
        assert (not torch.allclose(conv(h)[0, below], conv(h2)[0, below])) == moved


# -----------------------------------------------------------------------------
# Truncated backprop through loops (--grad-updates)


def test_default_supervision_step_is_the_old_one_bit_for_bit():
    # grad_updates 0 (the default) against the supervision step as it was before the flag
    # (T-1 cycles under no_grad, then one with gradients), outputs and gradients bit-identical.
    for T, n in ((1, 2), (2, 1), (3, 2)):
        torch.manual_seed(T * 10 + n)
        model = TRM(tiny_cfg(H_cycles=T, L_cycles=n))
        x = torch.randn(2, 3 + 16, 32, requires_grad=True)
        y, z = model.initial_state(2, 19, "cpu")
        rope = model.rope(4, "cpu")
        results = []
        for step in (model.supervision_step, lambda *a: legacy.supervision_step(model, *a)):
            model.zero_grad()
            x.grad = None
            yn, zn = step(x, y, z, rope)
            (yn.square().sum() + zn.sum()).backward()
            results.append((yn.detach(), zn.detach(), x.grad.clone(), [p.grad.clone() for p in model.blocks.parameters()]))
        (a_y, a_z, a_x, a_g), (b_y, b_z, b_x, b_g) = results
        assert torch.equal(a_y, b_y) and torch.equal(a_z, b_z) and torch.equal(a_x, b_x)
        assert all(torch.equal(a, b) for a, b in zip(a_g, b_g))


@pytest.mark.parametrize("K", [0, 2, 3, 4, 7, 8, 9])
def test_grad_updates_only_the_last_calls_record_a_graph(K):
    T, n, layers = 3, 2, 2
    model = TRM(tiny_cfg(H_cycles=T, L_cycles=n, num_layers=layers, grad_updates=K))
    recorded = []
    for b in model.blocks:
        b.register_forward_hook(lambda m, i, o: recorded.append(o.requires_grad))
    tokens, labels, ids = batch(model.cfg, 2, 4)
    y, z = model.initial_state(2, 3 + 16, "cpu")
    model(tokens, model.gather_puzzle_rows(ids, True), y, z, labels)
    k = K or n + 1
    assert recorded == [False] * ((T * (n + 1) - k) * layers) + [True] * (k * layers)


def unrolled_detached(model: TRM, x, y, z, rope, K: int):
    """The supervision step written out call by call, all with autograd on: before the first of the
    last K calls the states are detached, and the calls before it read a detached input."""
    T, n = model.cfg.H_cycles, model.cfg.L_cycles
    cut = T * (n + 1) - K
    calls = []  # in order: n z-updates then a y-update, T times
    for _ in range(T):
        calls += ["z"] * n + ["y"]
    for c, kind in enumerate(calls):
        if c == cut:
            y, z = y.detach(), z.detach()
        xin = x if c >= cut else x.detach()
        if kind == "z":
            z = model.net(z, y + xin, rope)
        else:
            y = model.net(y, z, rope)
    return y, z


def test_grad_updates_gradients_come_only_from_the_last_calls():
    T, n = 3, 2
    grads = {}
    for K in (2, 3, 5, 9):
        torch.manual_seed(0)
        model = TRM(tiny_cfg(H_cycles=T, L_cycles=n, grad_updates=K))
        tokens, _, ids = batch(model.cfg, 2, 4, seed=1)
        rope = model.rope(4, "cpu")
        y0, z0 = model.initial_state(2, 19, "cpu")
        got = []
        for step in (model.supervision_step, lambda *a: unrolled_detached(model, *a, K)):
            model.zero_grad()
            rows = model.gather_puzzle_rows(ids, True)
            x = model.input_embedding(tokens, rows)
            y, z = step(x, y0, z0, rope)
            (y.square().mean() + (y * z).mean()).backward()
            used = {nm: p.grad.clone() for nm, p in model.named_parameters() if not nm.startswith(("lm_head", "q_head"))}
            got.append((y.detach(), used, rows.grad.clone()))
        (y_a, g_a, r_a), (y_b, g_b, r_b) = got
        torch.testing.assert_close(y_a, y_b, rtol=0, atol=0)
        for name in g_a:
            torch.testing.assert_close(g_a[name], g_b[name], rtol=1e-6, atol=1e-7, msg=name)
        torch.testing.assert_close(r_a, r_b, rtol=1e-6, atol=1e-7)
        # the calls with gradients do contribute: the embedding and the puzzle rows get some
        emb = g_a["embed.weight"]
        assert emb.abs().sum() > 0 and r_a.abs().sum() > 0
        grads[K] = emb
    # each extra call with gradients changes the gradient; all 9 is full backprop
    assert not torch.allclose(grads[2], grads[3]) and not torch.allclose(grads[5], grads[9])


def test_grad_updates_out_of_range_is_refused():
    for K in (1, 10):
        with pytest.raises(ValueError, match="--grad-updates"):
            TRM(tiny_cfg(H_cycles=3, L_cycles=2, grad_updates=K))


def test_flops_by_hand():
    # D 4, I 8, 1 layer, P 1, side 1 (L = 2): a block per token = 2 (4 D^2 + 3 D I) + 4 L D
    # = 2 (64 + 96) + 32 = 352; one net call of one row 352 * 2 = 704. T 2, n 1: 4 calls.
    cfg = dict(hidden_size=4, num_heads=1, mlp_inner=8, num_layers=1, H_cycles=2, L_cycles=1, puzzle_emb_len=1)
    assert train_step_flops(TRMConfig(**cfg), 1, 1) == 704 * 4 + 2 * 704 * 2  # backward of the last cycle
    assert train_step_flops(TRMConfig(**cfg, grad_updates=3), 1, 1) == 704 * 4 + 2 * 704 * 3
    assert train_step_flops(TRMConfig(**cfg, grad_updates=4), 1, 1) == 704 * 4 * 3
    # 1-D conv, 2 taps: + 2 * 2 * 8 = 32 per token; one call 384 * 2 = 768
    assert train_step_flops(TRMConfig(**cfg, mlp_conv="1d"), 1, 1) == 768 * 4 + 2 * 768 * 2
    # 2-D conv 3x3 at side 2 (L = 5, 4 canvas cells): 2 * 9 * 8 * 4 = 576 per row and block, beside
    # 5 * (2 (64 + 96) + 4 * 5 * 4) = 2000
    assert train_step_flops(TRMConfig(**cfg, mlp_conv="2d", mlp_conv_kernel=3), 1, 2) == pytest.approx(2576 * 8)


# -----------------------------------------------------------------------------
# Deep improvement supervision


def test_dis_frames_by_hand():
    # 9 cells. D (output cells whose input differs): 1 (3->6), 3 (5->7), 4 (1->8), 5 (0->9); cells 0
    # and 2 agree; 6..8 are the output's PAD. Keys reveal 3, then 5, then 4, then 1.
    I = IGNORE_LABEL
    tokens = torch.tensor([[2, 3, 4, 5, 1, 0, 1, 1, 0]])
    labels = torch.tensor([[2, 6, 4, 7, 8, 9, I, I, I]])
    order = torch.tensor([[0.05, 0.9, 0.01, 0.1, 0.5, 0.3, 0.0, 0.02, 0.03]])
    frames = {k: dis_frame(tokens, labels, order, torch.tensor([k]), 3)[0].tolist() for k in range(4)}
    # floor(k * 4 / 3) = 0, 1, 2, 4 cells revealed
    assert frames[0] == [2, 3, 4, 5, 1, 0, I, I, I]  # the input on the output's cells
    assert frames[1] == [2, 3, 4, 7, 1, 0, I, I, I]
    assert frames[2] == [2, 3, 4, 7, 1, 9, I, I, I]
    assert frames[3] == labels[0].tolist()  # the output
    # N = 6: floor(k * 4 / 6) = 0, 1, 2, 2, 3, 4
    six = [dis_frame(tokens, labels, order, torch.tensor([k]), 6)[0].tolist() for k in range(1, 7)]
    assert six[0] == frames[0] and six[1] == frames[1] and six[2] == six[3] == frames[2]
    assert six[4] == [2, 3, 4, 7, 8, 9, I, I, I] and six[5] == frames[3]


def test_dis_frames_reveal_a_growing_k_over_n_of_the_differing_cells():
    g = torch.Generator().manual_seed(0)
    B, C, N = 16, 49, 6
    tokens = torch.randint(0, VOCAB_SIZE, (B, C), generator=g)
    labels = torch.where(torch.rand(B, C, generator=g) < 0.5, tokens, torch.randint(0, VOCAB_SIZE, (B, C), generator=g))
    labels[torch.rand(B, C, generator=g) < 0.2] = IGNORE_LABEL
    order = torch.rand(B, C, generator=g)
    real = labels != IGNORE_LABEL
    diff = real & (labels != tokens)
    before = torch.zeros(B, C, dtype=torch.bool)
    for k in range(N + 1):
        f = dis_frame(tokens, labels, order, torch.full((B,), k), N)
        assert torch.equal(f == IGNORE_LABEL, ~real)
        revealed = diff & (f == labels)
        assert torch.equal(f[real & ~revealed], tokens[real & ~revealed])  # the rest keep the input
        for b in range(B):
            assert int(revealed[b].sum()) == (k * int(diff[b].sum())) // N
        assert (revealed | ~before).all()  # nested: what step k-1 revealed stays revealed
        before = revealed
    assert torch.equal(before, diff)


class Recorder(torch.nn.Module):
    """Stands in for the DDP wrapper act_step may be given: records what the model is called with."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, []

    def forward(self, tokens, rows, y, z, labels=None, step=None):
        self.calls.append({"tokens": tokens.clone(), "labels": labels.clone(), "step": step})
        return self.model(tokens, rows, y, z, labels, step=step)


def dis_model(N=3, **kw) -> TRM:
    torch.manual_seed(0)
    cfg = TRMConfig(hidden_size=16, num_heads=2, mlp_inner=32, num_layers=1, H_cycles=1, L_cycles=1,
                    halt_max_steps=N, dis_steps=N, step_embedding=True, puzzle_emb_len=2, canvas_side=4,
                    num_puzzles=10, **kw)
    model = TRM(cfg)
    with torch.no_grad():
        model.q_head.bias.fill_(5.0)  # a halt logit of +5: ACT would halt every row at once
    return model


def fresh(B, side, seed):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(2, VOCAB_SIZE, (B, side * side), generator=g)
    labels = torch.where(torch.rand(B, side * side, generator=g) < 0.3, tokens,
                         torch.randint(2, VOCAB_SIZE, (B, side * side), generator=g))
    return {"tokens": tokens, "labels": labels, "puzzle_ids": torch.randint(1, 10, (B,), generator=g)}


def test_dis_training_runs_exactly_n_steps_on_frames_with_one_order_per_sample():
    N, B, side = 3, 4, 3
    model = dis_model(N)
    rec = Recorder(model)
    carry = Carry.empty(model, B, side, "cpu")
    gen = torch.Generator().manual_seed(1)
    orders, samples = [], []
    for j in range(2 * N):
        batch_j = fresh(B, side, j)
        out = act_step(rec, model, carry, batch_j, NO_AUTOCAST, gen, training=True)
        out["loss"].backward()
        k = j % N + 1
        assert carry.steps.tolist() == [k] * B and carry.halted.tolist() == [k == N] * B  # no halting before N
        assert rec.calls[-1]["step"].tolist() == [k - 1] * B  # the step embedding's 0-based step
        assert out["loss"].item() == out["lm_loss"].item()  # no halt loss
        if k == 1:
            samples.append(batch_j)
        orders.append(carry.order.clone())
        # the target: k/N of the differing cells revealed (labels here have no PAD)
        lab, src = rec.calls[-1]["labels"], samples[-1]
        diff = src["tokens"] != src["labels"]
        revealed = diff & (lab == src["labels"])
        assert torch.equal(lab[~revealed], src["tokens"][~revealed])
        assert (revealed.sum(1) == (k * diff.sum(1)) // N).all()
    assert all(torch.equal(orders[0], o) for o in orders[:N]) and all(torch.equal(orders[N], o) for o in orders[N:])
    assert not torch.equal(orders[0], orders[N])  # a new sample draws a new order


def test_dis_inference_runs_n_steps_whatever_the_halt_logit():
    N = 3
    model = dis_model(N)
    model.eval()
    grid = np.array([[1, 2], [3, 4]], np.uint8)
    vs = make_viewset([grid], [3], [[(1, 0, np.arange(10)), (2, 0, np.arange(10))]])
    run = run_views(model, vs, "cpu", NO_AUTOCAST, halt="act", record_steps=(1, N))
    assert run["steps"].tolist() == [N, N]
    assert all(np.array_equal(a, b) for a, b in zip(run["pred"], run["per_step"][N]))


def test_step_embedding_conditions_on_the_step_and_reuses_the_last_row_beyond():
    model = dis_model(3)
    tokens, _, ids = batch(model.cfg, 2, 3)
    rows = model.puzzle_emb[ids]
    y, z = model.initial_state(2, 2 + 9, "cpu")
    with torch.no_grad():
        out = {s: model(tokens, rows, y, z, step=torch.full((2,), s))["logits"] for s in (0, 1, 2, 7)}
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])
    assert torch.equal(out[2], out[7])
    with pytest.raises(ValueError, match="pass step"):
        model(tokens, rows, y, z)


def test_dis_prediction_feedback_reads_the_previous_answer():
    N, B, side = 3, 2, 3
    model = dis_model(N, dis_input="prediction")
    rec = Recorder(model)
    carry = Carry.empty(model, B, side, "cpu")
    gen = torch.Generator().manual_seed(0)
    first = fresh(B, side, 0)
    out = act_step(rec, model, carry, first, NO_AUTOCAST, gen, training=True)
    assert torch.equal(rec.calls[0]["tokens"], first["tokens"])  # step 1 reads the input
    act_step(rec, model, carry, fresh(B, side, 1), NO_AUTOCAST, gen, training=True)
    assert torch.equal(rec.calls[1]["tokens"], out["logits"].argmax(-1))  # step 2 the answer of step 1
    # inference likewise: step 2's tokens are step 1's prediction
    model.eval()
    seen = []
    orig = model.forward
    model.forward = lambda tokens, *a, **k: (seen.append(tokens.clone()), orig(tokens, *a, **k))[1]
    vs = make_viewset([np.array([[1, 2], [3, 4]], np.uint8)], [3], [[(1, 0, np.arange(10))]])
    run = run_views(model, vs, "cpu", NO_AUTOCAST, record_steps=(1,))
    assert np.array_equal(seen[1][0].numpy(), run["per_step"][1][0])
    with pytest.raises(ValueError, match="needs --dis-steps"):
        TRM(tiny_cfg(dis_input="prediction"))


def test_dis_needs_halt_max_steps_equal():
    with pytest.raises(ValueError, match="halt_max_steps must equal"):
        TRM(tiny_cfg(dis_steps=4, halt_max_steps=3))


# -----------------------------------------------------------------------------
# Checkpoints rebuild the recipes; old ones load with them off


def test_checkpoints_rebuild_every_recipe(tmp_path):
    configs = [dict(mlp_conv="1d"), dict(mlp_conv="2d", mlp_conv_kernel=3), dict(grad_updates=5),
               dict(dis_steps=3, step_embedding=True, dis_input="prediction")]
    for i, kw in enumerate(configs):
        torch.manual_seed(i)
        model = TRM(tiny_cfg(**kw))
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))  # move the convs off the identity
        save_checkpoint(tmp_path / str(i), model, {"step": 1})
        back, meta, _ = load_model(tmp_path / str(i))
        assert back.cfg == model.cfg and all(meta["model_config"][k] == v for k, v in kw.items())
        tokens, _, ids = batch(model.cfg, 2, 4)
        y, z = model.initial_state(2, 19, "cpu")
        step = torch.zeros(2, dtype=torch.long)
        with torch.no_grad():
            a = model(tokens, model.puzzle_emb[ids], y, z, step=step)["logits"]
            b = back(tokens, back.puzzle_emb[ids], y, z, step=step)["logits"]
        assert torch.equal(a, b)
    old = {k: v for k, v in tiny_cfg().to_dict().items()
           if k not in ("mlp_conv", "mlp_conv_kernel", "grad_updates", "dis_steps", "dis_input", "step_embedding")}
    cfg = TRMConfig.from_dict(old)
    assert (cfg.mlp_conv, cfg.grad_updates, cfg.dis_steps, cfg.step_embedding, cfg.dis_input) == ("none", 0, 0, False, "input")
    assert count_parameters(TRM(cfg)) == count_parameters(TRM(tiny_cfg()))


def test_trainer_records_the_recipes_and_the_entry_runs_them(tmp_path, small_tasks):
    """`python -m train` with every recipe on: meta records them (DIS sets the step count), and the
    Kaggle entry trains and predicts with the checkpoint (test-time training runs the same model)."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "train", "--preset", "tiny-test", "--device", "cpu", "--no-progress", "--steps", "4",
           "--out", str(out), "--mlp-conv", "2d", "--grad-updates", "3", "--dis-steps", "2"]
    p = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    mc = json.loads((out / "best" / "meta.json").read_text())["model_config"]
    assert (mc["mlp_conv"], mc["mlp_conv_kernel"], mc["grad_updates"], mc["dis_steps"], mc["halt_max_steps"],
            mc["step_embedding"]) == ("2d", 3, 3, 2, 2, True)
    bad = subprocess.run(cmd[:-6] + ["--out", str(tmp_path / "bad"), "--dis-steps", "2", "--halt-max-steps", "5"],
                         cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "drop --halt-max-steps 5" in bad.stdout + bad.stderr
    from submission.tasks import tasks_to_challenges
    (tmp_path / "c.json").write_text(json.dumps(tasks_to_challenges(small_tasks[:1])))
    e = subprocess.run([sys.executable, "-m", "submission", "--challenges", str(tmp_path / "c.json"), "--checkpoint",
                        str(out), "--output", str(tmp_path / "s.json"), "--ttt-steps", "3", "--num-aug", "2",
                        "--views", "2", "--time-limit", "120"], cwd=REPO, env=ENV, capture_output=True, text=True,
                       timeout=200)
    assert e.returncode == 0, (e.stdout + e.stderr)[-3000:]
    sub = json.loads((tmp_path / "s.json").read_text())
    assert set(sub) == {small_tasks[0].id} and "attempt_1" in sub[small_tasks[0].id][0]
