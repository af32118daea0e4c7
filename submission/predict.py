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
        run_sides = sides + ([solver.side(task, x) for x, _ in task.train] if S.demo_check else [])
        cost = sum(forward_step_flops(cfg, 1, s) * steps for s in run_sides)
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
        vs = make_viewset(items, sides, views)
        poe = S.vote == "poe" or S.report_candidates > 0
        # --demo-check: which of the chunk's views reproduce every demonstration of their task.
        fit = demo_fits(solver, [p[0] for p in chunk], V, ps, vs, shard_id) if S.demo_check else None
        t = time.time()  # the rate below is measured on the test inputs' views
        run = run_by_side(solver, vs, poe, shard_id)
        dt = time.time() - t
        done_flops = sum(forward_step_flops(cfg, 1, int(s)) * steps for s in vs.sides)
        measured = done_flops / max(dt, 1e-6)
        solver.infer_rate = measured if solver.infer_rate is None else 0.5 * (solver.infer_rate + measured)
        grids = decode_views(vs, run["pred"])
        cands = gather_candidates(vs, grids, run["conf"], len(items))
        if poe:
            ranked = [rank_by_poe(c, vs, run["logprobs"], S.poe_top, cfg.eos_corner) for c in cands]
            if S.vote == "votes":
                ranked = [sorted(r, key=lambda c: (-c.votes, -c.mean_conf)) for r in ranked]
        else:
            ranked = [rank_by_votes(c) for c in cands]
        if fit is not None:
            # Candidates backed by views that reproduce every demonstration first (by how many such
            # views), the chosen rule's order within; with no such view the order is unchanged.
            ranked = [sorted(r, key=lambda c: -int(fit[c.views].sum())) for r in ranked]
        views_used.append(V)
        k = 0
        for task, *_ in chunk:
            n = len(task.test_inputs)
            r = ranked[k:k + n]
            entries = [make_entry([c.grid for c in rr], x) for rr, x in zip(r, task.test_inputs)]
            predicted = [len(rr) > 0 for rr in r]
            info = {"views": V, "candidates": [len(rr) for rr in r],
                    "top_votes": [rr[0].votes if rr else 0 for rr in r]}
            if fit is not None:
                info["demo_fit_views"] = [int(fit[np.flatnonzero(vs.item == k + j)].sum()) for j in range(n)]
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


def demo_fits(solver, tasks: list, V: int, ps, test_vs: ViewSet, shard_id) -> np.ndarray:
    """(len(test_vs.item),) bool: whether each view of the test viewset (its task's augmentation j,
    j = 0.. in order, as predict_shard builds it) predicts every demonstration of its task exactly.

    The demonstrations run as if they were test inputs, under the same V augmentations and puzzle
    ids. This is a check of fit, not a leave-one-out estimate: test-time training saw these pairs.
    A view that cannot reproduce them has a puzzle row (or an augmentation) the model has not
    learnt, and its test answer is trusted less. Costs inference on every demonstration (about
    demonstrations / test inputs times the test inference)."""
    items, sides, views, owner, truths = [], [], [], [], []
    for ti, task in enumerate(tasks):
        k = ps.task_ids.index(task.id)
        tv = task_views(ps.dihedrals, ps.colours, int(ps.task_base[k]), int(ps.task_count[k]), V)
        for x, y in task.train:
            items.append(x)
            sides.append(solver.side(task, x))
            views.append(tv)
            owner.append(ti)
            truths.append(y)
    dvs = make_viewset(items, sides, views)
    grids = decode_views(dvs, run_by_side(solver, dvs, False, shard_id)["pred"])
    # Per task, per augmentation j: every demonstration right (views of an item are consecutive).
    per_task: dict = {}
    pos = 0
    for ti, y, tv in zip(owner, truths, views):
        right = np.array([g is not None and g.shape == y.shape and bool((g == y).all())
                          for g in grids[pos:pos + len(tv)]])
        per_task[ti] = right & per_task[ti] if ti in per_task else right
        pos += len(tv)
    # The test viewset: each test input of task ti has its views in the same augmentation order.
    fit = np.zeros(len(test_vs.item), bool)
    item_task = [ti for ti, t in enumerate(tasks) for _ in t.test_inputs]
    for item, ti in enumerate(item_task):
        idx = np.flatnonzero(test_vs.item == item)
        if ti in per_task:
            fit[idx] = per_task[ti][:len(idx)]
    return fit


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
            except Exception as e:
                if not solver.compiled:
                    raise
                run = None
                solver.compile_failed(e, f"shard {shard_id}, inference at side {side}")  # and again, eager
        for j, v in enumerate(idx):
            pred[v], conf[v] = run["pred"][j], run["conf"][j]
            if poe:
                logprobs[v] = run["logprobs"][j]
    return {"pred": pred, "conf": conf, "logprobs": logprobs}
