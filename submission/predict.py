"""Inference of one shard after its test-time training: views, ranking, answers.

Each test input runs under its task's first V augmentations (identity first) with the matching
puzzle ids, up to halt_max_steps supervision steps (--halt act|all), batched over tasks. V (<= --views,
<= the augmentations trained) is re-chosen before every batch of tasks from the measured inference
speed and the time left, so a big task cannot eat its neighbours' time.

Each canvas side runs in batches of the rows memory allows (solver.batches); out of memory halves
that side's rows (kept for later shards) and runs it again, so an OOM costs a retry, not the shard.

Ranking: decoded candidates mapped back to the original frame, merged, ranked by votes
(inference.rank_by_votes) or product of experts (inference.rank_by_poe); the top two are the
attempts (writer.make_entry fills a missing second attempt with the test input).
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from .inference import (ViewSet, decode_views, gather_candidates, make_viewset, rank_by_poe, rank_by_votes,
                        run_views, task_views)
from .model import flops_per_token_block
from .writer import make_entry


def forward_step_flops(cfg, rows: int, side: int) -> float:
    """Analytic FLOPs of one supervision step without gradients (inference) for `rows` rows."""
    L = cfg.puzzle_emb_len + side * side
    per_call = cfg.num_layers * flops_per_token_block(cfg, L) * L * rows
    return per_call * cfg.H_cycles * (cfg.L_cycles + 1)


def predict_shard(solver, shard_id, tasks, ps, views_cap, end, stop, emit) -> dict:
    """Predict every test input of `tasks`; emit(task_id, entries, predicted, info) per task."""
    S, cfg, model = solver.S, solver.cfg, solver.model
    model.eval()
    steps = cfg.halt_max_steps
    # Per task: its test inputs, their canvas sides and the views' cost per view.
    plans = []
    for task in tasks:
        ti = ps.task_ids.index(task.id)
        sides = [solver.side(task, x) for x in task.test_inputs]
        cost = sum(forward_step_flops(cfg, 1, s) * steps for s in sides)
        plans.append((task, int(ps.task_base[ti]), int(ps.task_count[ti]), sides, cost))
    views_used, n_done = [], 0
    i = 0
    while i < len(plans):
        if stop.is_set():
            break
        # Views for the next batch: what the time left affords for every remaining task.
        left = end - time.time()
        rate = solver.infer_rate or solver.train_rate
        remaining_cost = sum(p[4] for p in plans[i:])
        V = min(views_cap, 8) if rate is None else int(left * rate / max(remaining_cost, 1.0))
        V = max(1, min(V, views_cap))
        # Batch: whole tasks until the view rows reach infer_batch_size.
        chunk, rows = [], 0
        while i < len(plans) and (not chunk or rows + V * len(plans[i][3]) <= S.infer_batch_size):
            chunk.append(plans[i])
            rows += V * len(plans[i][3])
            i += 1
        items, sides, views = [], [], []
        for task, base, count, task_sides, _ in chunk:
            tv = task_views(ps.dihedrals, ps.colours, base, count, V)
            for x, s in zip(task.test_inputs, task_sides):
                items.append(x)
                sides.append(s)
                views.append(tv)
        t = time.time()
        vs = make_viewset(items, sides, views)
        poe = S.vote == "poe" or S.report_candidates > 0
        run = run_by_side(solver, vs, poe, shard_id)
        dt = time.time() - t
        done_flops = sum(forward_step_flops(cfg, 1, int(s)) * steps for s in vs.sides)
        measured = done_flops / max(dt, 1e-6)
        solver.infer_rate = measured if solver.infer_rate is None else 0.5 * (solver.infer_rate + measured)
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
        n_done += len(chunk)
        solver.log(f"[predict] shard {shard_id}: {n_done}/{len(tasks)} tasks predicted "
                   f"({V} views, {dt:.1f}s), {max(end - time.time(), 0):.0f}s of the shard left")
    return {"views": views_used, "predicted_tasks": n_done,
            "infer_batch_sizes": {int(s): solver.batches.infer_rows(int(s)) for s in sorted(set(solver.test_sides))}}


def subset(vs: ViewSet, idx: np.ndarray) -> ViewSet:
    """The views idx of vs (same packed grids)."""
    return ViewSet(vs.item[idx], vs.puzzle_ids[idx], vs.dihedrals[idx], vs.colours[idx], vs.sides[idx], vs.grid[idx],
                   vs.packer_arrays)


def run_by_side(solver, vs: ViewSet, poe: bool, shard_id) -> dict:
    """inference.run_views over vs, one canvas side at a time in that side's memory-sized batches;
    out of memory halves the side's rows and runs it again. Returns run_views' pred, conf (and
    logprobs) for every view of vs, in vs's order."""
    S = solver.S
    n = len(vs.item)
    pred, conf, logprobs = [None] * n, np.zeros(n, np.float32), [None] * n
    for side in np.unique(vs.sides):
        idx = np.flatnonzero(vs.sides == side)
        part = subset(vs, idx)
        while True:
            rows = solver.batches.infer_rows(int(side))
            try:
                run = run_views(solver.model, part, solver.device, solver.autocast, batch_size=rows, halt=S.halt,
                                return_logprobs=poe)
                break
            except torch.OutOfMemoryError:
                run = None
                if solver.device.type == "cuda":
                    torch.cuda.empty_cache()
                rows = solver.batches.halve("infer", int(side))
                solver.log(f"[predict] shard {shard_id}: out of memory at side {side}; its batch is now {rows} rows")
        for j, v in enumerate(idx):
            pred[v], conf[v] = run["pred"][j], run["conf"][j]
            if poe:
                logprobs[v] = run["logprobs"][j]
    return {"pred": pred, "conf": conf, "logprobs": logprobs}
