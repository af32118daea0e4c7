"""Test-time training of one shard: the pretraining step on the shard's demonstration pairs.

The test outputs are unknown and never read. The step is pretraining's (Sampler, Carry, act_step,
AdamAtan2, sparse sign-SGD on the touched puzzle rows): --ttt-mode full trains every weight and the
new rows; embeddings trains only the new rows. Training stops at the step cap or when the training
part of the shard's budget is spent.

Planning. After a few steps the worker measures its training throughput (analytic FLOPs per second;
kept for later shards) and sizes the rest from it:
  - inference reserve: the cost of the views at that rate, at most --infer-share of the budget;
  - steps: as many as fit in what is left (within the cap);
  - augmentations per task: enough that each is trained on about EPOCHS_PER_AUG times (NVARC: 128
    augmentations over ~2000 epochs), within [MIN_AUG, the checkpoint's num_aug]. The set is built
    at the maximum once; using fewer means sampling only the first k of each task.

Batches: each bucket side takes the rows memory allows (solver.batches); an out-of-memory error
halves that side's rows (kept for later shards) and restarts the sample streams. --time-buckets
synchronises the device after every step to time each bucket side (slightly slower on a GPU).

The loss curve. The progress line comes every 30 s (SolveSettings.log_every_s), so a shard of a
minute logs it twice; the whole curve is kept instead (LossCurve: at most 64 windows, with no host sync
per step), logged once at the end of the shard's training ("[ttt] shard N: loss curve ...", which
`offline_eval simulate` plots) and returned in the shard's stats as loss_curve.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .data import Sampler, choose_buckets, pair_sides
from .engine import AdamAtan2, Carry, act_step, batch_to_device, lr_at, sparse_sign_sgd_
from .model import train_step_flops
from .predict import forward_step_flops

EPOCHS_PER_AUG = 16   # auto augmentations: each trained on about this many times
MIN_AUG = 8           # ... but never fewer than this many per task
CALIB_FIRST = 1       # throughput is measured from this step (step 0 pays warm-up costs) ...
CALIB_LAST = 4        # ... to this one, on a worker's first shard
CURVE_POINTS = 32     # a shard's loss curve keeps 32 to 64 points, whatever its number of steps


class LossCurve:
    """The mean loss over windows of `width` consecutive steps, as (last step, mean) points. Losses
    are summed as tensors (no host sync per step); when 2 * points windows are full, neighbours
    merge and the width doubles, so the curve keeps points..2*points windows of equal width."""

    def __init__(self, points: int = CURVE_POINTS):
        self.max_windows, self.width = 2 * points, 1
        self.windows = []  # [(last step, sum of `width` losses)]
        self.sum, self.n, self.last = 0.0, 0, 0  # the window being filled

    def add(self, step: int, loss) -> None:
        self.sum, self.n, self.last = self.sum + loss, self.n + 1, step
        if self.n == self.width:
            self.windows.append((step, self.sum))
            self.sum, self.n = 0.0, 0
            if len(self.windows) == self.max_windows:
                self.windows = [(b[0], a[1] + b[1]) for a, b in zip(self.windows[0::2], self.windows[1::2])]
                self.width *= 2

    def points(self) -> list[tuple[int, float]]:
        """[(step, mean loss of the window ending there)], the unfinished window last."""
        pts = [(s, float(v) / self.width) for s, v in self.windows]
        if self.n:
            pts.append((self.last, float(self.sum) / self.n))
        return pts


def train_shard(solver, shard_id, ps, built_count, t0, end, stop, seed) -> dict:
    """Train solver.model on the shard's puzzle set `ps` until `end` (or the step cap). Returns stats:
    ttt_steps, num_aug, batch_sizes {side: rows}, loss, ttt_step_s."""
    S, cfg, model, dev = solver.S, solver.cfg, solver.model, solver.device
    full = S.ttt_mode == "full"
    # --embeddings-first: the weights stay frozen (only the new rows learn) until that share of the
    # planned steps is done; the share is applied once the plan is known.
    frozen = full and S.embeddings_first > 0
    for p in model.parameters():
        p.requires_grad_(full and not frozen)
    opt = AdamAtan2(model.parameters(), lr=S.lr, betas=(0.9, 0.95), weight_decay=S.weight_decay) if full else None
    ema = ({n: p.detach().clone().float() for n, p in model.named_parameters()}
           if full and S.ema > 0 else None)
    buckets = ([cfg.canvas_side] if cfg.fixed_canvas
               else choose_buckets(pair_sides(ps, cfg.canvas_side), cfg.canvas_side, S.max_buckets))

    def make_sampler(s):
        return Sampler(ps, cfg.canvas_side, buckets, [solver.batches.train_rows(b) for b in buckets], seed=s,
                       translate_prob=S.translate_prob, translate_mode=S.translate_mode, translate_seed=seed,
                       eos_corner=cfg.eos_corner)  # translate_seed: "fixed" offsets survive a restart after OOM

    sampler = make_sampler(seed)
    carries: dict = {}  # bucket -> Carry, made on first use (an unused full-canvas carry is big)
    explore = torch.Generator(device=dev)
    explore.manual_seed(seed)
    n_pairs = len(ps.pair_in)

    budget = end - t0
    cap = S.ttt_steps
    planned = cap
    num_aug = int(built_count.max())
    warmup = warmup_steps(S, cap)
    ttt_end = end - S.infer_share * budget  # until measured
    if solver.train_rate is not None:
        planned, num_aug, ttt_end = plan_training(solver, ps, built_count, n_pairs, buckets, sampler, 0, end, budget)
        warmup = warmup_steps(S, planned)

    step, flops, last_log, loss_sum, exact_sum, n_win = 0, 0.0, time.time(), 0.0, 0.0, 0
    curve = LossCurve()
    cal_t = cal_f = t_first = None
    bucket_s, bucket_n = {}, {}  # side -> seconds, steps (with S.time_buckets: each step synchronised)
    while True:
        # Training ends at the cap or the end of its time; `planned` (the estimate) only sizes the
        # warm-up and the augmentations, so a run faster than estimated keeps going.
        if stop.is_set() or (cap is not None and step >= cap) or time.time() >= ttt_end:
            break
        if frozen and planned is not None and step >= S.embeddings_first * planned:
            frozen = False
            for p in model.parameters():
                p.requires_grad_(True)
            solver.log(f"[ttt] shard {shard_id}: step {step}: the weights join the new rows in training")
        b = sampler.next_bucket()
        t_step = time.time()
        try:
            if b not in carries:
                carries[b] = Carry.empty(model, sampler.batch_sizes[b], buckets[b], dev)
            fresh = batch_to_device(sampler.batch(b), dev)
            for grp in (opt.param_groups if opt else []):
                grp["lr"] = lr_at(step, S.lr, warmup)
            out = act_step(model, model, carries[b], fresh, solver.autocast, explore, training=True)
            out["loss"].backward()
        except torch.OutOfMemoryError:
            # Halve this side's rows (for every later shard too) and start the streams again; the
            # steps done so far are kept.
            out = fresh = None
            carries = {}
            if opt:
                opt.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            rows = solver.batches.halve("train", buckets[b])
            sampler = make_sampler(seed + step + 1)
            solver.log(f"[ttt] shard {shard_id}: out of memory at side {buckets[b]}; its batch is now {rows} rows")
            continue
        except Exception as e:
            if not solver.compiled:
                raise
            # The compiled step failed (forward or backward, a compiler error on a new shape): the
            # shard goes on eager, its streams restarted as after an out-of-memory error.
            out = fresh = None
            carries = {}
            if opt:
                opt.zero_grad(set_to_none=True)
            solver.compile_failed(e, f"shard {shard_id}, training at side {buckets[b]}")
            sampler = make_sampler(seed + step + 1)
            continue
        if opt and not frozen:
            if S.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), S.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
        sparse_sign_sgd_(model.puzzle_emb, carries[b].puzzle_ids, out["rows"].grad,
                         lr_at(step, S.puzzle_lr, warmup), S.puzzle_weight_decay)
        if ema is not None:
            # Warm-started decay (as TensorFlow's num_updates): short runs still average recent weights.
            decay = min(S.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                torch._foreach_lerp_(list(ema.values()), [p.detach().float() for p in model.parameters()], 1 - decay)
        if S.time_buckets:
            _sync(dev)
            bucket_s[buckets[b]] = bucket_s.get(buckets[b], 0.0) + time.time() - t_step
            bucket_n[buckets[b]] = bucket_n.get(buckets[b], 0) + 1
        step += 1
        flops += train_step_flops(cfg, sampler.batch_sizes[b], buckets[b])
        loss_sum += out["loss"].detach()
        exact_sum += out["exact"].float().mean()
        n_win += 1
        curve.add(step, out["loss"].detach())

        # ---- throughput measured on the first shard's first steps, then the plan ----
        if step == 1:
            _sync(dev)
            t_first = time.time()  # per-step time is reported from here (step 0 pays warm-up)
        if solver.train_rate is None and step == CALIB_FIRST:
            _sync(dev)
            cal_t, cal_f = time.time(), flops
        elif solver.train_rate is None and step == CALIB_LAST and cal_t is not None:
            _sync(dev)
            solver.train_rate = (flops - cal_f) / max(time.time() - cal_t, 1e-6)
            planned, num_aug, ttt_end = plan_training(solver, ps, built_count, n_pairs, buckets, sampler, step,
                                                      end, budget)
            if S.warmup_steps is None and cap is None:
                warmup = warmup_steps(S, planned)

        if time.time() - last_log >= S.log_every_s:
            loss, exact = float(loss_sum) / n_win, float(exact_sum) / n_win
            solver.log(f"[ttt] shard {shard_id}: step {step}/{planned if planned is not None else '?'} "
                       f"loss {loss:.4f} exact {exact:.3f}, {max(ttt_end - time.time(), 0):.0f}s of training left")
            last_log, loss_sum, exact_sum, n_win = time.time(), 0.0, 0.0, 0
    _sync(dev)
    step_s = (time.time() - t_first) / (step - 1) if step > 1 else float("nan")
    dt = time.time() - t0
    if solver.train_rate is not None and step > CALIB_LAST and dt > 0:
        # Refresh the rate with this shard's whole run (includes the set-up, so it errs low).
        solver.train_rate = 0.5 * solver.train_rate + 0.5 * flops / dt
    if ema is not None:
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(ema[n])
    for p in model.parameters():
        p.requires_grad_(False)
    last_loss = float(loss_sum) / n_win if n_win else float("nan")
    points = [(s, round(v, 4)) for s, v in curve.points()]
    if points:
        solver.log(f"[ttt] shard {shard_id}: loss curve (step:mean loss of the steps since the last point) "
                   + " ".join(f"{s}:{v:.4f}" for s, v in points))
    stats = {"ttt_steps": step, "num_aug": num_aug, "batch_sizes": dict(zip(buckets, sampler.batch_sizes)),
             "loss": round(last_loss, 4), "ttt_step_s": step_s, "loss_curve": points}
    if S.time_buckets:
        stats["bucket_steps"] = {side: [bucket_n[side], round(bucket_s[side], 3)] for side in sorted(bucket_n)}
    return stats


def warmup_steps(S, planned) -> int:
    if S.warmup_steps is not None:
        return max(1, S.warmup_steps)
    if planned is None:
        return max(1, min(S.max_warmup, 20))  # provisional, until the plan
    return max(1, min(S.max_warmup, planned // 10))


def plan_training(solver, ps, built_count, n_pairs, buckets, sampler, step, end, budget):
    """Steps, augmentations and the end of training, from the measured training rate."""
    S, cfg = solver.S, solver.cfg
    now = time.time()
    weights, rows = sampler.bucket_step_weight, sampler.batch_sizes
    per_step = sum(w * train_step_flops(cfg, B, s) for w, B, s in zip(weights, rows, buckets))
    rows_per_step = float(np.dot(weights, rows))
    sec_step = per_step / solver.train_rate

    def steps_in(seconds):
        return step + max(0, int(seconds / sec_step))

    def aug_for(steps):
        if S.num_aug is not None:
            return int(built_count.max())
        # A sample lasts ~half the max steps under ACT halting, exactly dis_steps under deep improvement supervision.
        samples = steps * rows_per_step / (cfg.dis_steps or max(1.0, cfg.halt_max_steps / 2))
        epochs = samples / max(n_pairs, 1)
        return int(min(max(MIN_AUG, epochs // EPOCHS_PER_AUG), S.max_aug))

    # Inference reserve: the views' cost at the measured rate (inference assumed no faster than
    # training per FLOP until measured), at most infer_share of the budget.
    rate_inf = solver.infer_rate or solver.train_rate
    a1 = aug_for(steps_in(end - now - S.infer_share * budget))
    views = min(S.views or a1, a1)
    icfg = solver.infer_cfg  # inference's recursion depth, which may differ from training's
    cost = sum(forward_step_flops(icfg, views, s) * icfg.halt_max_steps for s in solver.test_sides) / rate_inf
    reserve = min(S.infer_share * budget, 1.3 * cost + 1.0)
    ttt_end = end - reserve
    planned = steps_in(ttt_end - now)
    if S.ttt_steps is not None:
        planned = min(planned, S.ttt_steps)
    num_aug = aug_for(planned)
    ps.task_count[:] = np.minimum(built_count, num_aug)  # the sampler draws only the first num_aug
    solver.log(f"[plan] {solver.train_rate / 1e9:.1f} GFLOP/s training, {sec_step * 1e3:.0f} ms/step "
               f"(~{rows_per_step:.0f} rows): {planned} steps, {num_aug} augmentations/task, "
               f"{reserve:.0f}s kept for inference")
    return planned, num_aug, ttt_end


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
