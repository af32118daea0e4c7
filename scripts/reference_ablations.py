"""Measurements behind README's "What differs from the reference implementation" (docs/benchmarks.md,
2026-11-28, session 3). Run from the repository root:

    PYTHONPATH=. python scripts/reference_ablations.py inference RUN_OR_CHECKPOINT
        held-out pass@1/pass@2 of a cpu-small-style checkpoint (its held-out tasks from arc1/train,
        its eval_views views each) with halt "all" (the reference's evaluation) and "act" (the
        entry's default), and with the former decoder rule against the reference's crop rule.
    PYTHONPATH=. python scripts/reference_ablations.py grouped-batches TRAIN-FLAGS...
        `python -m train TRAIN-FLAGS` with the reference's batching inside each bucket: per epoch,
        tasks in a random order, one augmentation each, all of a task's pairs consecutively.
"""
import runpy
import sys

import numpy as np
import torch


def former_decode(tokens: np.ndarray, side: int):
    """The kit's decoder before session 3: the first row's run of colours is the width, then the rows
    whose first `width` cells are all colours. None when the corner is not a colour."""
    c = tokens.reshape(side, side)
    colour = (c >= 2) & (c < 12)
    w = int(np.argmin(colour[0])) if not colour[0].all() else side
    if w == 0:
        return None
    rows = colour[:, :w].all(axis=1)
    h = int(np.argmin(rows)) if not rows.all() else side
    return (c[:h, :w] - 2).astype(np.uint8)


def inference(path: str):
    from submission.augment import Aug
    from submission.checkpoint import load_model
    from submission.data import predict_side
    from submission.inference import (decode_views, gather_candidates, make_viewset, rank_by_votes, run_views,
                                      solved_at, task_views)
    from submission.tasks import select_tasks
    from train.taskspec import load_tasks

    model, meta, rec = load_model(path)
    model.eval()
    pm, args = meta["puzzle_map"], meta["args"]
    index = {t: i for i, t in enumerate(pm["task_ids"])}
    held = set(meta["data"]["heldout_tasks"])
    tasks = []
    for spec in args["eval_data"]:
        tasks += [t for t in select_tasks(load_tasks(spec), max_side=args["max_side"]) if t.id in held]
    items, views, sides, truth, owner = [], [], [], [], []
    for t in tasks:
        i = index[t.id]
        for k, x in enumerate(t.test_inputs):
            items.append(x)
            truth.append(t.test_outputs[k])
            owner.append(t.id)
            views.append(task_views(rec["dihedrals"].numpy(), rec["colours"].numpy(), pm["task_base"][i],
                                    pm["task_count"][i], args["eval_views"]))
            sides.append(predict_side(model.cfg, t.train, x))  # the trainer's and the entry's rule
    vs = make_viewset(items, sides, views)
    cpu = torch.autocast(device_type="cpu", enabled=False)

    def score(grids, conf, label, steps):
        per = {}
        for r, tr, o in zip([rank_by_votes(c) for c in gather_candidates(vs, grids, conf, len(items))], truth, owner):
            per.setdefault(o, []).append((solved_at(r, tr, 1), solved_at(r, tr, 2)))
        p1 = np.mean([np.mean([a for a, _ in v]) for v in per.values()])
        p2 = np.mean([np.mean([b for _, b in v]) for v in per.values()])
        solved = sorted(o for o, v in per.items() if all(b for _, b in v))
        print(f"{label}: pass@1 {p1:.3f} pass@2 {p2:.3f} ({len(per)} tasks, {len(items)} outputs, {len(vs.item)} views, "
              f"mean steps {steps.mean():.2f} of {model.cfg.halt_max_steps}); solved {solved}")

    for halt in ("all", "act"):
        run = run_views(model, vs, torch.device("cpu"), cpu, halt=halt)
        grids = decode_views(vs, run["pred"])
        score(grids, run["conf"], f"halt {halt}, reference crop", run["steps"])
        if halt == "all":
            former = []
            for v, p in enumerate(run["pred"]):
                g = former_decode(p, int(vs.sides[v]))
                aug = Aug(int(vs.dihedrals[v]), tuple(int(c) for c in vs.colours[v]))
                former.append(None if g is None else aug.invert(g))
            score(former, run["conf"], "halt all, former decoder", run["steps"])
            same = lambda a, b: (a is None and b is None) or (
                a is not None and b is not None and a.shape == b.shape and bool((a == b).all()))
            print(f"  {sum(not same(a, b) for a, b in zip(former, grids))} of {len(grids)} views decode differently")


def grouped_batches(train_flags: list):
    import submission.data as data

    def epoch(self, b):
        ps = self.ps
        pick = ps.task_base + (self.rng.random(len(ps.task_base)) * ps.task_count).astype(np.int64)
        pairs = self.bucket_pairs[b]
        order = self.rng.permutation(len(ps.task_base))
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        # Sort by the task's place in this epoch's order; the random fraction shuffles within a task.
        pairs = pairs[np.argsort(rank[ps.pair_task[pairs]] + self.rng.random(len(pairs)) * 0.5)]
        return np.stack([pairs, pick[ps.pair_task[pairs]]], axis=1)

    data.Sampler._epoch = epoch
    sys.argv = ["train"] + train_flags
    runpy.run_module("train", run_name="__main__")


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("inference", "grouped-batches"):
        sys.exit(__doc__)
    if sys.argv[1] == "inference":
        inference(sys.argv[2])
    else:
        grouped_batches(sys.argv[2:])
