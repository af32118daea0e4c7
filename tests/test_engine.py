"""Tests for submission/engine.py: the Adam-atan2 optimizer, the learning-rate schedule and act_step.

Independent references:
- Adam-atan2: one step worked by hand; torch's AdamW (eps 0) where atan2 equals its argument (beta1
  near 1), which checks the bias corrections and the decay against a separate implementation; and
  the update rule of the `adam-atan2` package (github.com/imoneoi/adam_atan2 v0.0.3,
  csrc/adam_atan2.cu: decay p by 1 - lr*wd, lerp the moments, step lr / (1 - beta1^t) times
  atan2(m, sqrt(v) / sqrt(1 - beta2^t))) restated in numpy float64, one element at a time (the same
  reading as engine.py: it checks the float32 state over many steps, not the reading);
- lr_at: values worked by hand;
- act_step: halting frequencies derived by hand from the ACT rule (halt on a positive halt logit,
  at halt_max_steps, never before a random minimum drawn afresh each step with the exploration
  probability), and per-row carry resets checked against single-row forwards of the model itself.
"""
import math

import numpy as np
import pytest
import torch

from submission.engine import AdamAtan2, Carry, act_step, lr_at
from submission.model import IGNORE_LABEL, TRM, VOCAB_SIZE, TRMConfig

NO_AUTOCAST = torch.autocast(device_type="cpu", enabled=False)


# -----------------------------------------------------------------------------
# Adam-atan2


def package_rule(p0: np.ndarray, grads: list, lrs: list, beta1: float, beta2: float, wd: float) -> np.ndarray:
    """The adam-atan2 package's update, element by element in float64 (lr may change every step)."""
    p = [float(x) for x in p0.ravel()]
    m = [0.0] * len(p)
    v = [0.0] * len(p)
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        g = g.ravel()
        step_size = lr / (1.0 - beta1 ** t)
        root_bc2 = math.sqrt(1.0 - beta2 ** t)
        for i in range(len(p)):
            gi = float(g[i])
            p[i] = p[i] * (1.0 - lr * wd)
            m[i] = m[i] + (1.0 - beta1) * (gi - m[i])
            v[i] = v[i] + (1.0 - beta2) * (gi * gi - v[i])
            p[i] = p[i] - step_size * math.atan2(m[i], math.sqrt(v[i]) / root_bc2)
    return np.array(p).reshape(p0.shape)


def run_optimizer(p0, grads, lrs, wd=0.1, betas=(0.9, 0.95)):
    p = torch.nn.Parameter(torch.tensor(p0, dtype=torch.float32))
    opt = AdamAtan2([p], lr=lrs[0], betas=betas, weight_decay=wd)
    for g, lr in zip(grads, lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
    return p.detach().double().numpy(), opt


def test_adam_atan2_first_step_by_hand():
    # p = 1, g = 2, lr 0.1, wd 0.5, betas (0.9, 0.95):
    # decay: p = 1 * (1 - 0.05) = 0.95; m = 0.1 * 2 = 0.2; v = 0.05 * 4 = 0.2;
    # step size 0.1 / (1 - 0.9) = 1; denominator sqrt(0.2) / sqrt(0.05) = 2;
    # p = 0.95 - atan2(0.2, 2) = 0.95 - atan(0.1) = 0.8503313...
    got, _ = run_optimizer(np.array([1.0]), [np.array([2.0])], [0.1], wd=0.5)
    assert abs(got[0] - (0.95 - math.atan(0.1))) < 1e-6
    # (The kit's former rule, 1.27 * lr * atan2(m / 0.1, sqrt(v / 0.05)), gives 0.95 - 0.127 * pi / 4 =
    # 0.85025, 8e-5 away: the tolerance tells them apart.)


def test_adam_atan2_matches_the_package_rule_over_steps():
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(3, 5))
    # Gradients over several orders of magnitude, a zero element, a sign flip, and a changing lr
    # (warmup-like), with weight decay on.
    scales = [1.0, 0.01, 100.0, 1.0, 1e-4, 3.0, 1.0]
    grads = [rng.normal(size=(3, 5)) * s for s in scales]
    grads[1][0, 0] = 0.0
    grads[2][1, 2] = -grads[0][1, 2] * 50
    lrs = [0.01, 0.02, 0.03, 0.05, 0.05, 0.04, 0.05]
    got, opt = run_optimizer(p0, grads, lrs, wd=0.1)
    expected = package_rule(p0, grads, lrs, 0.9, 0.95, 0.1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)
    assert opt.state[opt.param_groups[0]["params"][0]]["step"] == len(grads)


def test_adam_atan2_is_torchs_adamw_where_atan2_is_its_argument():
    """An oracle that does not share engine.py's reading of the package: torch's own AdamW with eps 0.
    Write the package's step with Adam's bias-corrected moments m_hat = m / (1 - beta1^t) and
    v_hat = v / (1 - beta2^t): lr / (1 - beta1^t) * atan2(m, sqrt(v) / sqrt(1 - beta2^t)) =
    lr / (1 - beta1^t) * atan((1 - beta1^t) * m_hat / sqrt(v_hat)). With beta1 = beta2,
    |m_hat| <= sqrt(v_hat) (Cauchy-Schwarz over the same weights), so with beta1 = 0.9999 and t <= 8
    the atan's argument e is below 8e-4 and atan(e) = e (1 - e^2 / 3 + ...) to 2e-7: the step is
    lr * m_hat / sqrt(v_hat), Adam's with eps 0, and the decoupled decay p * (1 - lr * wd) comes
    first in both. A misplaced bias correction (the kit's former 1.27 * lr * atan2(m_hat, sqrt(v_hat)),
    or sqrt(1 - beta2^t) on the wrong side) or the decay after the update is off by 1e-3 or more."""
    rng = np.random.default_rng(3)
    p0 = rng.normal(size=(4, 6)).astype(np.float32)
    # Gradients over six orders of magnitude (no zero: Adam with eps 0 would divide 0 by 0), sign flips.
    grads = [(rng.normal(size=(4, 6)) * s).astype(np.float32) for s in (1.0, 0.01, 100.0, 1.0, 1e-4, 3.0, 1.0, 0.5)]
    lrs = [0.01, 0.02, 0.03, 0.05, 0.05, 0.04, 0.05, 0.03]
    betas, wd = (0.9999, 0.9999), 1.0
    got, _ = run_optimizer(p0, grads, lrs, wd=wd, betas=betas)
    q = torch.nn.Parameter(torch.tensor(p0))
    ref = torch.optim.AdamW([q], lr=lrs[0], betas=betas, eps=0.0, weight_decay=wd, foreach=False)
    for g, lr in zip(grads, lrs):
        ref.param_groups[0]["lr"] = lr
        q.grad = torch.tensor(g)
        ref.step()
    want = q.detach().double().numpy()
    assert np.abs(want - p0).max() > 0.1  # the parameters moved far beyond the tolerance
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


def test_adam_atan2_leaves_parameters_without_gradient():
    q = torch.nn.Parameter(torch.ones(2))
    AdamAtan2([q], lr=0.1).step()
    assert torch.equal(q.detach(), torch.ones(2))


def test_adam_atan2_state_round_trip():
    """Saving the state after step 2 and loading it into a fresh optimizer continues identically."""
    g = torch.Generator().manual_seed(1)
    p0 = torch.randn(5, generator=g)
    grads = [torch.randn(5, generator=g) for _ in range(4)]
    p = torch.nn.Parameter(p0.clone())
    opt = AdamAtan2([p], lr=0.01)
    for gr in grads:
        p.grad = gr.clone()
        opt.step()
    q = torch.nn.Parameter(p0.clone())
    opt2 = AdamAtan2([q], lr=0.01)
    for gr in grads[:2]:
        q.grad = gr.clone()
        opt2.step()
    state = opt2.state_tensors({q: "q"})
    q2 = torch.nn.Parameter(q.detach().clone())
    opt3 = AdamAtan2([q2], lr=0.01)
    opt3.load_state_tensors(state, {q2: "q"})
    for gr in grads[2:]:
        q2.grad = gr.clone()
        opt3.step()
    assert torch.equal(q2.detach(), p.detach())


# -----------------------------------------------------------------------------
# Learning-rate schedule


def test_lr_at_by_hand():
    # The reference's schedule, read at the update's number n = step + 1 (its train_batch counts the
    # update before reading the schedule). Base 1, warmup 4, total 12, decaying to 0.1:
    #   n = 1, 2, 3 (steps 0-2): n / 4 = 0.25, 0.5, 0.75 (no update takes 0);
    #   n = 4 (step 3): progress 0, the base; n = 12 (step 11, the last update): progress 1, 0.1;
    #   n = 5 (step 4): progress 1/8: 0.1 + 0.45 * (1 + cos(pi / 8)) = 0.1 + 0.45 * 1.9238795 = 0.9657458;
    #   n = 6 (step 5): progress 1/4: 0.1 + 0.45 * (1 + 0.7071068) = 0.8681981;
    #   n = 8 (step 7): progress 1/2: 0.1 + 0.45 = 0.55; after the total: 0.1.
    expected = {0: 0.25, 1: 0.5, 2: 0.75, 3: 1.0, 4: 0.9657458, 5: 0.8681981, 7: 0.55, 11: 0.1, 20: 0.1}
    for step, lr in expected.items():
        assert lr_at(step, 1.0, 4, 12, 0.1) == pytest.approx(lr, abs=1e-7), step
    # min_ratio 1 (the paper's) or no total: constant after warmup; the base scales every value.
    for step in (3, 8, 12, 1000):
        assert lr_at(step, 2e-4, 4, 12, 1.0) == pytest.approx(2e-4, abs=1e-18)
        assert lr_at(step, 2e-4, 4, None, 0.1) == pytest.approx(2e-4, abs=1e-18)
    assert lr_at(0, 2e-4, 4, 12, 0.1) == pytest.approx(5e-5, abs=1e-18)
    # The paper presets (lr 1e-4, warmup 2000, constant): the first update 5e-8, the 1999th 0.9995e-4,
    # the 2000th (step 1999) and every later one 1e-4.
    assert lr_at(0, 1e-4, 2000, 520_000, 1.0) == pytest.approx(5e-8, rel=1e-12)
    assert lr_at(1998, 1e-4, 2000, 520_000, 1.0) == pytest.approx(0.9995e-4, rel=1e-12)
    assert lr_at(1999, 1e-4, 2000, 520_000, 1.0) == pytest.approx(1e-4, rel=1e-12)
    # No warmup: the first update already reads the cosine at n = 1, progress 1/12:
    # 0.1 + 0.45 * (1 + cos(pi / 12)) = 0.1 + 0.45 * 1.9659258 = 0.9846666; constant: the base.
    assert lr_at(0, 1.0, 0, 12, 0.1) == pytest.approx(0.9846666, abs=1e-7)
    assert lr_at(0, 1.0, 0, 12, 1.0) == 1.0


# -----------------------------------------------------------------------------
# act_step


def tiny_model(halt_bias: float, halt_max_steps: int = 4, explore_prob: float = 0.0, seed: int = 0) -> TRM:
    torch.manual_seed(seed)
    cfg = TRMConfig(hidden_size=16, num_heads=2, mlp_inner=32, num_layers=1, H_cycles=1, L_cycles=1,
                    halt_max_steps=halt_max_steps, halt_exploration_prob=explore_prob, puzzle_emb_len=2,
                    canvas_side=4, num_puzzles=10)
    model = TRM(cfg)
    with torch.no_grad():
        model.puzzle_emb.normal_()
        # A constant halt logit: the q head's weight is zero at init, so the logit is its bias.
        model.q_head.bias.fill_(halt_bias)
    return model


def fresh_batch(B: int, side: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(2, VOCAB_SIZE, (B, side * side), generator=g)
    labels = torch.randint(2, VOCAB_SIZE, (B, side * side), generator=g)
    return {"tokens": tokens, "labels": labels, "puzzle_ids": torch.randint(1, 10, (B,), generator=g)}


def halting_steps(model: TRM, B: int, steps: int, training: bool, seed: int = 0) -> list:
    """Run `steps` act_steps on one carry; the supervision step count at which each sample halted."""
    carry = Carry.empty(model, B, 3, "cpu")
    gen = torch.Generator().manual_seed(seed)
    halted_at = []
    for k in range(steps):
        out = act_step(model, model, carry, fresh_batch(B, 3, seed * 100 + k), NO_AUTOCAST, gen, training=training)
        out["loss"].backward()  # as the trainer does; also checks a graph was built
        halted_at += carry.steps[carry.halted].tolist()
    return halted_at


def test_act_step_halts_on_a_positive_halt_logit():
    # Logit +5 everywhere, no exploration: every row halts after one supervision step, so every
    # act_step starts fresh samples.
    model = tiny_model(halt_bias=5.0)
    assert halting_steps(model, B=6, steps=3, training=True) == [1] * 18
    # Logit -5: no row halts before halt_max_steps (4), then all do.
    model = tiny_model(halt_bias=-5.0)
    carry = Carry.empty(model, 6, 3, "cpu")
    for k in range(1, 9):
        act_step(model, model, carry, fresh_batch(6, 3, k), NO_AUTOCAST, torch.Generator(), training=True)
        assert carry.steps.tolist() == [(k - 1) % 4 + 1] * 6
        assert carry.halted.tolist() == [k % 4 == 0] * 6


def test_act_step_evaluation_runs_every_step():
    # Not training (the reference's evaluation): the halt logit is ignored, rows stop at the cap only.
    model = tiny_model(halt_bias=5.0, halt_max_steps=3, explore_prob=1.0)
    assert halting_steps(model, B=4, steps=6, training=False) == [3] * 8


def test_act_step_exploration_minimum_steps():
    # Logit +5 (would halt at once), exploration probability p, halt_max_steps 4. Each step a row
    # draws a fresh minimum: with prob. p uniform on {2, 3, 4}, else 0; it halts when its step count
    # reaches that minimum (and always at 4). By hand:
    #   P(halt at 1) = 1 - p
    #   P(halt at 2) = p * (1 - p + p/3)
    #   P(halt at 3) = p * (p * 2/3) * (1 - p + 2p/3)
    #   P(halt at 4) = the rest
    p = 0.5
    expected = {1: 1 - p, 2: p * (1 - p + p / 3), 3: p * (p * 2 / 3) * (1 - p + 2 * p / 3)}
    expected[4] = 1 - sum(expected.values())
    model = tiny_model(halt_bias=5.0, halt_max_steps=4, explore_prob=p)
    B = 2000
    carry = Carry.empty(model, B, 3, "cpu")
    gen = torch.Generator().manual_seed(3)
    first = torch.zeros(B, dtype=torch.int64)  # the step at which each row's first sample halted
    for k in range(4):
        act_step(model, model, carry, fresh_batch(B, 3, k), NO_AUTOCAST, gen, training=True)
        first = torch.where((first == 0) & carry.halted, carry.steps, first)
    assert (first > 0).all()  # by step 4 every first sample has halted
    freq = np.bincount(first.numpy(), minlength=5)[1:] / B
    for s in range(1, 5):
        # the binomial standard error at n = 2000 is at most 0.012; allow 4 of them
        assert abs(freq[s - 1] - expected[s]) < 0.045, (s, freq, expected)
    # With probability 1 nothing halts at step 1.
    model = tiny_model(halt_bias=5.0, halt_max_steps=4, explore_prob=1.0)
    assert 1 not in halting_steps(model, B=64, steps=5, training=True)


def test_act_step_resets_only_halted_rows():
    model = tiny_model(halt_bias=-5.0, halt_max_steps=8)
    model.eval()
    B, side = 5, 3
    carry = Carry.empty(model, B, side, "cpu")
    first, second = fresh_batch(B, side, 1), fresh_batch(B, side, 2)
    act_step(model, model, carry, first, NO_AUTOCAST, torch.Generator(), training=True)
    act_step(model, model, carry, second, NO_AUTOCAST, torch.Generator(), training=True)  # no row halted: ignored
    assert torch.equal(carry.tokens, first["tokens"])
    y_before, z_before = carry.y.clone(), carry.z.clone()
    # Rows 1 and 3 halt; the next step must give them the fresh samples and the initial states.
    carry.halted = torch.tensor([False, True, False, True, False])
    third = fresh_batch(B, side, 3)
    out = act_step(model, model, carry, third, NO_AUTOCAST, torch.Generator(), training=True)
    reset = [1, 3]
    for r in range(B):
        src = third if r in reset else first
        assert torch.equal(carry.tokens[r], src["tokens"][r])
        assert torch.equal(carry.labels[r], src["labels"][r])
        assert int(carry.puzzle_ids[r]) == int(src["puzzle_ids"][r])
        assert int(carry.steps[r]) == (1 if r in reset else 3)
        # The slow oracle: one row alone through the model, from the initial state (reset rows) or
        # from the states the row carried.
        L = model.cfg.puzzle_emb_len + side * side
        if r in reset:
            y, z = model.initial_state(1, L, "cpu")
        else:
            y, z = y_before[r:r + 1], z_before[r:r + 1]
        with torch.no_grad():
            solo = model(src["tokens"][r:r + 1], model.puzzle_emb[src["puzzle_ids"][r:r + 1]], y, z)
        torch.testing.assert_close(out["logits"][r:r + 1].detach(), solo["logits"], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(carry.y[r:r + 1], solo["y"], rtol=1e-5, atol=1e-5)
    # The gathered rows are a leaf whose gradient sign-SGD reads.
    out["loss"].backward()
    assert out["rows"].grad is not None and out["rows"].grad.shape == (B, model.cfg.hidden_size)
