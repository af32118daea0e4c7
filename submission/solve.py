"""The test-time worker: fine-tune the pretrained TRM on a shard of unseen tasks, then predict.

One worker runs per GPU (or one on the CPU). It loads the checkpoint once, then for each shard of
tasks the main process hands it, with a time budget:

1. Puzzle ids. Every (task, augmentation) of the shard gets a new puzzle id appended after the
   pretrained table (build_puzzle_set(first_puzzle_id=table size), model.grow_puzzle_table, new
   rows start at the mean pretrained row). The weights are reset to the pretrained ones, so shards
   never see each other's training.
2. Test-time training (TTT) on the shard's demonstration pairs only (the test outputs are unknown
   and never read): the pretraining step (Sampler, Carry, act_step, AdamAtan2, sparse sign-SGD on
   the touched table rows). --ttt-mode full trains every weight and the new rows; embeddings trains
   only the new rows. It stops at the step cap or when the training part of the budget is spent.
3. Planning. After a few steps the worker measures its training throughput (analytic FLOPs per
   second; kept for later shards) and sizes the rest from it:
   - inference reserve: the cost of the views at that rate, at most --infer-share of the budget;
   - steps: as many as fit in what is left (within the cap);
   - augmentations per task: enough that each is trained on about EPOCHS_PER_AUG times
     (NVARC: 128 augmentations over ~2000 epochs), within [MIN_AUG, the checkpoint's num_aug]. The
     set is built at the maximum once; using fewer means sampling only the first k of each task.
4. Inference: each test input runs under its task's first V augmentations (identity first) with
   the matching puzzle ids, up to halt_max_steps supervision steps (--halt act|all), batched over
   tasks. V (<= --views, <= the augmentations trained) is re-chosen before every batch from the
   measured inference speed and the time left, so a big task cannot eat its neighbours' time.
5. Ranking and answers: decoded candidates mapped back to the original frame, merged, ranked by
   votes (inference.rank_by_votes) or product of experts (inference.rank_by_poe); the top two are
   the attempts (writer.make_entry fills a missing second attempt with the test input).

worker_main() is the process (or thread) entry; it talks to the main process through two queues:
an inbox of shards and an outbox of messages (ready, log, task, shard_start/done/error, exit).
"""
from __future__ import annotations

import math
import queue
import time
import traceback
from dataclasses import dataclass

import numpy as np
import torch

from .checkpoint import load_model
from .data import Sampler, build_puzzle_set, choose_buckets, inference_side, pair_sides
from .encoding import decode_batch, encode_batch
from .engine import AdamAtan2, Carry, act_step, batch_to_device, lr_at, sparse_sign_sgd_
from .inference import (decode_views, gather_candidates, make_viewset, rank_by_poe, rank_by_votes,
                        run_views, task_views)
from .model import flops_per_token_block, train_step_flops
from .writer import make_entry

EPOCHS_PER_AUG = 16   # auto augmentations: each trained on about this many times
MIN_AUG = 8           # ... but never fewer than this many per task
CALIB_FIRST = 1       # throughput is measured from this step (step 0 pays warm-up costs) ...
CALIB_LAST = 4        # ... to this one, on a worker's first shard


@dataclass
class SolveSettings:
    """Everything a worker needs besides the checkpoint; defaults come from the checkpoint's
    training arguments (see __main__.py), flags override."""
    ttt_mode: str = "full"            # "full": every weight + new puzzle rows; "embeddings": new rows only
    ttt_steps: int | None = None      # cap on TTT steps per shard; None: as many as the budget allows
    num_aug: int | None = None        # augmentations per task; None: from the budget (see module doc)
    max_aug: int = 1000               # upper bound for the automatic choice (the checkpoint's num_aug)
    batch_size: int = 64              # TTT rows per step (halved on CUDA out-of-memory)
    lr: float = 1e-4
    puzzle_lr: float = 1e-2
    weight_decay: float = 0.1
    puzzle_weight_decay: float = 0.1
    warmup_steps: int | None = None   # None: a tenth of the planned steps, at most max_warmup
    max_warmup: int = 2000
    grad_clip: float = 1.0
    ema: float = 0.0                  # EMA of the weights during TTT, used for inference (0: off)
    translate_prob: float = 0.5
    max_buckets: int = 8
    keep_black: bool = True
    views: int | None = None          # cap on views per test input; None: the augmentations trained
    halt: str = "act"                 # "act": rows stop on their halt logit; "all": every step runs
    vote: str = "votes"               # "votes" | "poe"
    poe_top: int = 8                  # candidates (by votes) re-scored by product of experts
    report_candidates: int = 0        # > 0: send this many candidates per test input, with votes, mean
                                      # halt confidence and PoE score (both rankings, for offline study)
    infer_batch_size: int = 256       # view rows per inference batch
    infer_share: float = 0.25         # at most this share of a shard's budget is kept for inference
    seed: int = 0
    log_every_s: float = 30.0


def forward_step_flops(cfg, rows: int, side: int) -> float:
    """Analytic FLOPs of one supervision step without gradients (inference) for `rows` rows."""
    L = cfg.puzzle_emb_len + side * side
    per_call = cfg.num_layers * flops_per_token_block(cfg, L) * L * rows
    return per_call * cfg.H_cycles * (cfg.L_cycles + 1)


class ShardSolver:
    """Holds the pretrained model on one device and solves shards with it."""

    def __init__(self, checkpoint, device: torch.device, settings: SolveSettings, log=print):
        self.S, self.device, self.log = settings, device, log
        self.model, self.meta, _ = load_model(checkpoint, device)
        self.cfg = self.model.cfg
        self.base_table = self.model.puzzle_emb  # (N0, D) pretrained rows, never modified
        self.base_weights = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        self.autocast = (torch.autocast(device_type="cuda", dtype=torch.bfloat16) if device.type == "cuda"
                         else torch.autocast(device_type="cpu", enabled=False))
        self.train_rate = None  # measured train_step_flops per second
        self.infer_rate = None  # measured inference FLOPs (at halt_max_steps per view) per second
        _warm_numba()  # compile the encoders now, not on the first shard's clock

    # -------------------------------------------------------------------------
    def solve_shard(self, shard_id: int, tasks: list, budget_s: float, stop, emit) -> dict:
        """TTT on the shard's demonstrations, then predict its test inputs. emit(task_id, entries,
        predicted, info) is called as each task's answers are ready. Returns the shard's stats."""
        t0 = time.time()
        end = t0 + budget_s
        S, model = self.S, self.model
        seed = S.seed + 1000 * shard_id
        torch.manual_seed(seed)

        # ---- puzzle ids for (task, augmentation), appended after the pretrained table ----
        n_base = self.base_table.shape[0]
        build_aug = S.num_aug if S.num_aug is not None else S.max_aug
        ps = build_puzzle_set([], tasks, build_aug, seed=seed, keep_black=S.keep_black, first_puzzle_id=n_base)
        built_count = ps.task_count.copy()
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(self.base_weights[n])
        model.puzzle_emb = self.base_table
        model.grow_puzzle_table(ps.num_puzzles - n_base, init="mean")
        n_pairs = len(ps.pair_in)
        self._test_sides = [self._side(t, x) for t in tasks for x in t.test_inputs]

        # ---- test-time training ----
        ttt = self._train(shard_id, ps, built_count, n_pairs, t0, end, stop, seed)
        t1 = time.time()

        # ---- inference, ranking, answers ----
        views_cap = min(S.views or ttt["num_aug"], ttt["num_aug"])
        inf = self._predict(shard_id, tasks, ps, views_cap, end, stop, emit)
        t2 = time.time()
        return {"tasks": len(tasks), "budget_s": round(budget_s, 1), "ttt_s": round(t1 - t0, 2),
                "infer_s": round(t2 - t1, 2), **ttt, **inf}

    # -------------------------------------------------------------------------
    def _train(self, shard_id, ps, built_count, n_pairs, t0, end, stop, seed) -> dict:
        S, cfg, model, dev = self.S, self.cfg, self.model, self.device
        full = S.ttt_mode == "full"
        for p in model.parameters():
            p.requires_grad_(full)
        opt = AdamAtan2(model.parameters(), lr=S.lr, betas=(0.9, 0.95), weight_decay=S.weight_decay) if full else None
        ema = ({n: p.detach().clone().float() for n, p in model.named_parameters()}
               if full and S.ema > 0 else None)
        buckets = ([cfg.canvas_side] if cfg.fixed_canvas
                   else choose_buckets(pair_sides(ps, cfg.canvas_side), cfg.canvas_side, S.max_buckets))
        B = S.batch_size
        sampler = Sampler(ps, cfg.canvas_side, buckets, B, seed=seed, translate_prob=S.translate_prob)
        carries: dict = {}  # bucket -> Carry, made on first use (an unused full-canvas carry is big)
        explore = torch.Generator(device=dev)
        explore.manual_seed(seed)

        budget = end - t0
        cap = S.ttt_steps
        planned = cap
        num_aug = int(built_count.max())
        warmup = self._warmup(cap)
        ttt_end = end - S.infer_share * budget  # until measured
        if self.train_rate is not None:
            planned, num_aug, ttt_end = self._plan(ps, built_count, n_pairs, buckets, sampler, B, 0, t0, end, budget)
            warmup = self._warmup(planned)

        def step_flops(b):
            return train_step_flops(cfg, B, buckets[b])

        step, flops, last_log, loss_sum, exact_sum, n_win = 0, 0.0, time.time(), 0.0, 0.0, 0
        cal_t = cal_f = t_first = None
        while True:
            # Training ends at the cap or the end of its time; `planned` (the estimate) only sizes the
            # warm-up and the augmentations, so a run faster than estimated keeps going.
            if stop.is_set() or (cap is not None and step >= cap) or time.time() >= ttt_end:
                break
            b = sampler.next_bucket()
            try:
                if b not in carries:
                    carries[b] = Carry.empty(model, B, buckets[b], dev)
                fresh = batch_to_device(sampler.batch(b), dev)
                for grp in (opt.param_groups if opt else []):
                    grp["lr"] = lr_at(step, S.lr, warmup)
                out = act_step(model, model, carries[b], fresh, self.autocast, explore, training=True)
                out["loss"].backward()
            except torch.cuda.OutOfMemoryError:
                # Halve the batch and start the streams again; the steps done so far are kept.
                out = fresh = None
                carries = {}
                if opt:
                    opt.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
                if B == 1:
                    raise
                B //= 2
                sampler = Sampler(ps, cfg.canvas_side, buckets, B, seed=seed + step, translate_prob=S.translate_prob)
                self.log(f"[ttt] shard {shard_id}: CUDA out of memory; batch size now {B}")
                continue
            if opt:
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
            step += 1
            flops += step_flops(b)
            loss_sum += out["loss"].detach()
            exact_sum += out["exact"].float().mean()
            n_win += 1

            # ---- throughput measured on the first shard's first steps, then the plan ----
            if step == 1:
                _sync(dev)
                t_first = time.time()  # per-step time is reported from here (step 0 pays warm-up)
            if self.train_rate is None and step == CALIB_FIRST:
                _sync(dev)
                cal_t, cal_f = time.time(), flops
            elif self.train_rate is None and step == CALIB_LAST and cal_t is not None:
                _sync(dev)
                self.train_rate = (flops - cal_f) / max(time.time() - cal_t, 1e-6)
                planned, num_aug, ttt_end = self._plan(ps, built_count, n_pairs, buckets, sampler, B, step,
                                                       t0, end, budget)
                if S.warmup_steps is None and cap is None:
                    warmup = self._warmup(planned)

            if time.time() - last_log >= S.log_every_s:
                loss, exact = float(loss_sum) / n_win, float(exact_sum) / n_win
                self.log(f"[ttt] shard {shard_id}: step {step}/{planned if planned is not None else '?'} "
                         f"loss {loss:.4f} exact {exact:.3f}, {max(ttt_end - time.time(), 0):.0f}s of training left")
                last_log, loss_sum, exact_sum, n_win = time.time(), 0.0, 0.0, 0
        _sync(dev)
        step_s = (time.time() - t_first) / (step - 1) if step > 1 else float("nan")
        dt = time.time() - t0
        if self.train_rate is not None and step > CALIB_LAST and dt > 0:
            # Refresh the rate with this shard's whole run (includes the set-up, so it errs low).
            self.train_rate = 0.5 * self.train_rate + 0.5 * flops / dt
        if ema is not None:
            with torch.no_grad():
                for n, p in model.named_parameters():
                    p.copy_(ema[n])
        for p in model.parameters():
            p.requires_grad_(False)
        last_loss = float(loss_sum) / n_win if n_win else float("nan")
        return {"ttt_steps": step, "num_aug": num_aug, "batch_size": B, "loss": round(last_loss, 4),
                "ttt_step_s": step_s}

    def _side(self, task, test_input) -> int:
        """Canvas side a test input is predicted on."""
        if self.cfg.fixed_canvas:
            return self.cfg.canvas_side
        return inference_side(task.train, test_input, self.cfg.canvas_side)

    def _warmup(self, planned) -> int:
        if self.S.warmup_steps is not None:
            return max(1, self.S.warmup_steps)
        if planned is None:
            return max(1, min(self.S.max_warmup, 20))  # provisional, until the plan
        return max(1, min(self.S.max_warmup, planned // 10))

    def _plan(self, ps, built_count, n_pairs, buckets, sampler, B, step, t0, end, budget):
        """Steps, augmentations and the end of training, from the measured training rate."""
        S, cfg = self.S, self.cfg
        now = time.time()
        per_step = sum(w * train_step_flops(cfg, B, s) for w, s in zip(sampler.bucket_step_weight, buckets))
        sec_step = per_step / self.train_rate

        def steps_in(seconds):
            return step + max(0, int(seconds / sec_step))

        def aug_for(steps):
            if S.num_aug is not None:
                return int(built_count.max())
            samples = steps * B / max(1.0, cfg.halt_max_steps / 2)  # a sample lasts ~half the max steps
            epochs = samples / max(n_pairs, 1)
            return int(min(max(MIN_AUG, epochs // EPOCHS_PER_AUG), S.max_aug))

        # Inference reserve: the views' cost at the measured rate (inference assumed no faster than
        # training per FLOP until measured), at most infer_share of the budget.
        rate_inf = self.infer_rate or self.train_rate
        a1 = aug_for(steps_in(end - now - S.infer_share * budget))
        views = min(S.views or a1, a1)
        cost = sum(forward_step_flops(cfg, views, s) * cfg.halt_max_steps for s in self._test_sides) / rate_inf
        reserve = min(S.infer_share * budget, 1.3 * cost + 1.0)
        ttt_end = end - reserve
        planned = steps_in(ttt_end - now)
        if S.ttt_steps is not None:
            planned = min(planned, S.ttt_steps)
        num_aug = aug_for(planned)
        ps.task_count[:] = np.minimum(built_count, num_aug)  # the sampler draws only the first num_aug
        self.log(f"[plan] {self.train_rate / 1e9:.1f} GFLOP/s training, {sec_step * 1e3:.0f} ms/step: "
                 f"{planned} steps, {num_aug} augmentations/task, {reserve:.0f}s kept for inference")
        return planned, num_aug, ttt_end

    # -------------------------------------------------------------------------
    def _predict(self, shard_id, tasks, ps, views_cap, end, stop, emit) -> dict:
        S, cfg, model, dev = self.S, self.cfg, self.model, self.device
        model.eval()
        steps = cfg.halt_max_steps
        # Per task: its test inputs, their canvas sides and the views' cost per view.
        plans = []
        for task in tasks:
            ti = ps.task_ids.index(task.id)
            sides = [self._side(task, x) for x in task.test_inputs]
            cost = sum(forward_step_flops(cfg, 1, s) * steps for s in sides)
            plans.append((task, int(ps.task_base[ti]), int(ps.task_count[ti]), sides, cost))
        views_used, solved_info = [], 0
        i = 0
        while i < len(plans):
            if stop.is_set():
                break
            # Views for the next batch: what the time left affords for every remaining task.
            left = end - time.time()
            rate = self.infer_rate or self.train_rate
            remaining_cost = sum(p[4] for p in plans[i:])
            V = views_cap if rate is None else int(left * rate / max(remaining_cost, 1.0))
            if rate is None:
                V = min(views_cap, 8)
            V = max(1, min(V, views_cap))
            # Batch: whole tasks until the view rows reach infer_batch_size.
            chunk, rows = [], 0
            while i < len(plans) and (not chunk or rows + V * len(plans[i][3]) <= S.infer_batch_size):
                chunk.append(plans[i])
                rows += V * len(plans[i][3])
                i += 1
            items, sides, views, owner = [], [], [], []
            for task, base, count, task_sides, _ in chunk:
                tv = task_views(ps.dihedrals, ps.colours, base, count, V)
                for x, s in zip(task.test_inputs, task_sides):
                    items.append(x)
                    sides.append(s)
                    views.append(tv)
                    owner.append(task.id)
            t = time.time()
            vs = make_viewset(items, sides, views)
            poe = S.vote == "poe" or S.report_candidates > 0
            run = run_views(model, vs, dev, self.autocast, batch_size=S.infer_batch_size, halt=S.halt,
                            return_logprobs=poe)
            dt = time.time() - t
            done_flops = sum(forward_step_flops(cfg, 1, int(s)) * steps for s in vs.sides)
            measured = done_flops / max(dt, 1e-6)
            self.infer_rate = measured if self.infer_rate is None else 0.5 * (self.infer_rate + measured)
            grids = decode_views(vs, run["pred"])
            cands = gather_candidates(vs, grids, run["conf"], len(items))
            if poe:
                ranked = [rank_by_poe(c, vs, run["logprobs"], S.poe_top) for c in cands]
                if S.vote == "votes":
                    ranked = [sorted(r, key=lambda c: (-c.votes, -c.mean_conf)) for r in ranked]
            else:
                ranked = [rank_by_votes(c) for c in cands]
            views_used.append(V)
            k = 0
            for task, *_ in chunk:
                n = len(task.test_inputs)
                r = ranked[k:k + n]
                entries = [make_entry([c.grid for c in rr], x) for rr, x in zip(r, task.test_inputs)]
                predicted = [len(rr) > 0 for rr in r]
                info = {"views": V, "candidates": [len(rr) for rr in r],
                        "top_votes": [rr[0].votes if rr else 0 for rr in r]}
                if S.report_candidates:
                    info["ranked"] = [[{"grid": c.grid.tolist(), "votes": c.votes, "mean_conf": round(c.mean_conf, 4),
                                        "poe": c.score if math.isfinite(c.score) else None}
                                       for c in rr[:S.report_candidates]] for rr in r]
                emit(task.id, entries, predicted, info)
                k += n
            solved_info += len(chunk)
            self.log(f"[predict] shard {shard_id}: {solved_info}/{len(tasks)} tasks predicted "
                     f"({V} views, {dt:.1f}s), {max(end - time.time(), 0):.0f}s of the shard left")
        return {"views": views_used, "predicted_tasks": solved_info}


def _warm_numba():
    buf = np.zeros(4, np.uint8)
    one = np.ones(1, np.int64)
    out = np.empty((1, 3, 3), np.uint8)
    encode_batch(buf, np.zeros(1, np.int64), 2 * one, 2 * one, np.zeros(1, np.int64), np.zeros(1, np.uint8),
                 np.arange(10, dtype=np.uint8)[None], np.zeros((1, 2), np.int64), 3, out)
    decode_batch(out.reshape(1, 9), 3, np.empty((1, 3, 3), np.uint8), np.empty((1, 2), np.int64))


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -----------------------------------------------------------------------------
# Worker entry: a process per GPU (spawn), or a thread in the main process on the CPU.


def worker_main(wid: int, device_name: str, checkpoint: str, settings: SolveSettings, inbox, outbox, stop,
                num_threads: int | None = None):
    """Serve shards from `inbox` ((shard_id, tasks, budget_s) or None to finish) until told to stop;
    report on `outbox`. A shard that fails is reported (its tasks keep their fallbacks) and the
    worker goes on with the next one."""
    def log(text):
        outbox.put(("log", wid, text))

    try:
        if num_threads:
            torch.set_num_threads(num_threads)
        device = torch.device(device_name)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        t = time.time()
        solver = ShardSolver(checkpoint, device, settings, log)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
        outbox.put(("ready", wid, {"device": f"{device} ({name})", "load_s": round(time.time() - t, 1)}))
    except Exception:
        outbox.put(("worker_error", wid, traceback.format_exc(limit=4)))
        return
    while not stop.is_set():
        try:
            job = inbox.get(timeout=0.5)
        except queue.Empty:
            continue
        if job is None:
            break
        shard_id, tasks, budget = job
        outbox.put(("shard_start", wid, shard_id, budget))

        def emit(task_id, entries, predicted, info, _sid=shard_id):
            outbox.put(("task", wid, _sid, task_id, entries, predicted, info))

        try:
            stats = solver.solve_shard(shard_id, tasks, budget, stop, emit)
            outbox.put(("shard_done", wid, shard_id, stats))
        except Exception as e:
            outbox.put(("shard_error", wid, shard_id, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"))
            if device.type == "cuda":
                torch.cuda.empty_cache()
    outbox.put(("exit", wid, {}))
