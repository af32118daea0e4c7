"""Augmented recursive inference and voting.

A "view" is one test input under one augmentation of its task, with that augmentation's puzzle id.
run_views() runs views through up to halt_max_steps supervision steps, batched by canvas side;
rows either stop when their halt logit turns positive ("act") or all run to the end ("all"; always
for a deep-improvement-supervision model, which has no trained halt head).
Decoding maps every prediction back to the original orientation and colours; gather_candidates
merges identical ones. Two rankings:
- rank_by_votes: vote count, ties broken by mean halt confidence (the reference's rule);
- rank_by_poe: "product of experts" (the ARChitects, NVARC): each distinct candidate is re-scored
  by its summed log-probability under every view of its test input, read from the views' final
  log-probs (run_views(return_logprobs=True)).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .augment import Aug
from .data import GridPacker
from .encoding import PAD, decode_batch, encode_batch, encode_grid
from .model import TRM


@dataclass
class ViewSet:
    item: np.ndarray       # (V,) which (task, test input) each view predicts
    puzzle_ids: np.ndarray  # (V,)
    dihedrals: np.ndarray  # (V,) uint8
    colours: np.ndarray    # (V, 10) uint8
    sides: np.ndarray      # (V,) canvas side
    grid: np.ndarray       # (V,) index into the packed test inputs
    packer_arrays: tuple = ()


def make_viewset(inputs: list[np.ndarray], sides: list[int], views_per_item: list[list[tuple[int, int, np.ndarray]]]) -> ViewSet:
    """inputs[i], sides[i]: each item's test input and canvas side; views_per_item[i]: list of
    (puzzle_id, dihedral, colours (10,)) to run it under."""
    packer = GridPacker()
    gidx = [packer.add(g) for g in inputs]
    item, pid, dih, col, side, grid = [], [], [], [], [], []
    for i, views in enumerate(views_per_item):
        for p, d, c in views:
            item.append(i); pid.append(p); dih.append(d); col.append(np.asarray(c, np.uint8))
            side.append(sides[i]); grid.append(gidx[i])
    i64 = lambda v: np.asarray(v, dtype=np.int64)
    return ViewSet(i64(item), i64(pid), np.asarray(dih, np.uint8), np.stack(col) if col else np.zeros((0, 10), np.uint8),
                   i64(side), i64(grid), packer.arrays())


def encode_views(vs: ViewSet, idx: np.ndarray, side: int, corner: bool = True) -> np.ndarray:
    """Views idx (all of canvas side `side`) -> their input canvases (len(idx), side, side) uint8, each
    test input under its view's augmentation at offset (0, 0). ValueError when one does not fit."""
    buf, starts, heights, widths = vs.packer_arrays
    canv = np.empty((len(idx), side, side), np.uint8)
    encode_batch(buf, starts, heights, widths, vs.grid[idx], vs.dihedrals[idx], vs.colours[idx],
                 np.zeros((len(idx), 2), np.int64), side, canv, corner)
    return canv


@torch.no_grad()
def run_views(model: TRM, vs: ViewSet, device, autocast, batch_size: int = 256, max_steps: int | None = None,
              halt: str = "all", record_steps: tuple = (), return_logprobs: bool = False) -> dict:
    """Returns {"pred": list of (V,) token arrays (S*S,), "conf": (V,) sigmoid halt at the answer's
    step, "steps": (V,) steps used, "per_step": {k: list of token arrays}} and, with
    return_logprobs, "logprobs": list of (S*S, 12) float16 arrays on the CPU, the log-softmax of
    each view's logits at the step its answer was taken from (what rank_by_poe reads)."""
    cfg = model.cfg
    max_steps = max_steps or cfg.halt_max_steps
    if cfg.dis_steps:
        halt = "all"  # deep improvement supervision trains no halt head: every view runs every step
    V = len(vs.item)
    pred: list = [None] * V
    conf = np.zeros(V, np.float32)
    used = np.zeros(V, np.int64)
    per_step = {k: [None] * V for k in record_steps if k <= max_steps}
    logprobs: list = [None] * V if return_logprobs else []
    for side in np.unique(vs.sides):
        idx = np.flatnonzero(vs.sides == side)
        for lo in range(0, len(idx), batch_size):
            b = idx[lo:lo + batch_size]
            canv = encode_views(vs, b, int(side), cfg.eos_corner)  # (b, S, S)
            tokens = torch.from_numpy(canv.reshape(len(b), -1)).to(device).long()
            rows = model.puzzle_emb[torch.from_numpy(vs.puzzle_ids[b]).to(device)]
            y, z = model.initial_state(len(b), cfg.puzzle_emb_len + int(side) ** 2, device)
            final = torch.zeros_like(tokens)
            final_q = torch.zeros(len(b), device=device)
            final_step = torch.zeros(len(b), dtype=torch.long, device=device)
            done = torch.zeros(len(b), dtype=torch.bool, device=device)
            final_lp = None
            for step in range(1, max_steps + 1):
                step_ids = torch.full((len(b),), step - 1, device=device) if cfg.step_embedding else None
                with autocast:
                    out = model(tokens, rows, y, z, step=step_ids)
                y, z = out["y"], out["z"]
                p = out["logits"].argmax(-1)
                if cfg.dis_input == "prediction":
                    tokens = p  # the next step reads this step's answer, as in training
                q = torch.sigmoid(out["halt_logit"])
                take = ~done
                final = torch.where(take[:, None], p, final)
                if return_logprobs:
                    lp = torch.log_softmax(out["logits"].float(), dim=-1).half()  # (b, S*S, 12)
                    final_lp = lp if final_lp is None else torch.where(take[:, None, None], lp, final_lp)
                final_q = torch.where(take, q, final_q)
                final_step = torch.where(take, torch.full_like(final_step, step), final_step)
                if step in per_step:
                    fin = final.cpu().numpy().astype(np.uint8)
                    for j, v in enumerate(b):
                        per_step[step][v] = fin[j]
                if halt == "act":
                    done = done | (out["halt_logit"] > 0)
                    if bool(done.all()) and not per_step:
                        break
            fin = final.cpu().numpy().astype(np.uint8)
            fq, fs = final_q.float().cpu().numpy(), final_step.cpu().numpy()
            for j, v in enumerate(b):
                pred[v], conf[v], used[v] = fin[j], fq[j], fs[j]
            if return_logprobs:
                lps = final_lp.cpu().numpy()
                for j, v in enumerate(b):
                    logprobs[v] = lps[j]
    out = {"pred": pred, "conf": conf, "steps": used, "per_step": per_step}
    if return_logprobs:
        out["logprobs"] = logprobs
    return out


def decode_views(vs: ViewSet, preds: list) -> list:
    """Token predictions -> grids in the original frame (None where nothing decodes)."""
    out = [None] * len(preds)
    for side in np.unique(vs.sides):
        idx = np.flatnonzero(vs.sides == side)
        toks = np.stack([preds[i] for i in idx])
        grids = np.zeros((len(idx), side, side), np.uint8)
        shapes = np.zeros((len(idx), 2), np.int64)
        decode_batch(toks, int(side), grids, shapes)
        for j, v in enumerate(idx):
            h, w = shapes[j]
            if h == 0 or w == 0:
                continue
            aug = Aug(int(vs.dihedrals[v]), tuple(int(c) for c in vs.colours[v]))
            out[v] = aug.invert(grids[j, :h, :w])
    return out


@dataclass
class Candidate:
    grid: np.ndarray
    votes: int = 0
    conf_sum: float = 0.0
    views: list = field(default_factory=list)  # view indices that produced it
    score: float = 0.0                          # ranking score of the rule used

    @property
    def mean_conf(self) -> float:
        return self.conf_sum / max(self.votes, 1)


def gather_candidates(vs: ViewSet, grids: list, conf: np.ndarray, n_items: int) -> list[list[Candidate]]:
    """Merge identical decoded grids per item."""
    cands: list[dict] = [dict() for _ in range(n_items)]
    for v, g in enumerate(grids):
        if g is None:
            continue
        key = (g.shape, g.tobytes())
        c = cands[vs.item[v]].setdefault(key, Candidate(g))
        c.votes += 1
        c.conf_sum += float(conf[v])
        c.views.append(v)
    return [list(d.values()) for d in cands]


def rank_by_votes(cands: list[Candidate]) -> list[Candidate]:
    """The reference rule: most votes first, ties broken by mean halt confidence."""
    for c in cands:
        c.score = c.votes + 1e-3 * c.mean_conf
    return sorted(cands, key=lambda c: (-c.votes, -c.mean_conf))


def candidate_logprob(grid: np.ndarray, aug: Aug, side: int, logprobs: np.ndarray, corner: bool = True) -> float:
    """Log-probability of an original-frame candidate under one view: the candidate is put into the
    view's frame (aug.apply) and encoded on the view's canvas; the view's log-probs (S*S, 12) are
    summed at the non-PAD cells (colours and EOS: the cells the loss supervises).
    corner: the model's canvas layout (TRMConfig.eos_corner). -inf when the candidate does not fit the canvas."""
    g = aug.apply(grid)
    if g.shape[0] > side or g.shape[1] > side:
        return float("-inf")
    canvas = encode_grid(g, side, corner=corner).ravel()  # (S*S,)
    cells = np.flatnonzero(canvas != PAD)
    return float(logprobs[cells, canvas[cells]].astype(np.float64).sum())


def rank_by_poe(cands: list[Candidate], vs: ViewSet, logprobs: list, top: int = 8, corner: bool = True) -> list[Candidate]:
    """Product of experts: the `top` candidates by votes are re-scored by their log-probability
    summed over every view of their test input (all the candidates of one list share the item);
    they come first, best sum first (ties: votes), the rest follow in vote order.
    Candidate.score holds the summed log-probability (-inf for the unscored)."""
    ranked = rank_by_votes(cands)
    head, tail = ranked[:top], ranked[top:]
    if not head:
        return ranked
    item = vs.item[head[0].views[0]]
    views = np.flatnonzero(vs.item == item)
    augs = [Aug(int(vs.dihedrals[v]), tuple(int(c) for c in vs.colours[v])) for v in views]
    for c in head:
        c.score = sum(candidate_logprob(c.grid, a, int(vs.sides[v]), logprobs[v], corner) for a, v in zip(augs, views))
    for c in tail:
        c.score = float("-inf")
    head = sorted(head, key=lambda c: (-c.score, -c.votes, -c.mean_conf))
    return head + tail


def task_views(ps_dihedrals: np.ndarray, ps_colours: np.ndarray, base: int, count: int, n_views: int) -> list:
    """The first n_views augmentations of a task (identity first) as (puzzle id, dihedral, colours)."""
    return [(base + j, int(ps_dihedrals[base + j]), ps_colours[base + j]) for j in range(min(count, n_views))]


def predict_items(model: TRM, items: list, views: list, canvas_sides: list, device, autocast,
                  batch_size: int = 256, max_steps: int | None = None, halt: str = "all",
                  record_steps: tuple = ()) -> dict:
    """items[i]: a test input grid; views[i]: its (puzzle id, dihedral, colours) list;
    canvas_sides[i]: its canvas side. Returns {"ranked": per item list of Candidates (votes rule),
    "per_step": {k: per item ranked lists}, "viewset", "grids", "run"}."""
    vs = make_viewset(items, canvas_sides, views)
    run = run_views(model, vs, device, autocast, batch_size, max_steps, halt, record_steps)
    grids = decode_views(vs, run["pred"])
    ranked = [rank_by_votes(c) for c in gather_candidates(vs, grids, run["conf"], len(items))]
    per_step = {}
    for k, preds in run["per_step"].items():
        g = decode_views(vs, preds)
        per_step[k] = [rank_by_votes(c) for c in gather_candidates(vs, g, run["conf"], len(items))]
    return {"ranked": ranked, "per_step": per_step, "viewset": vs, "grids": grids, "run": run}


def solved_at(ranked: list[Candidate], truth: np.ndarray, k: int) -> bool:
    """True when one of the first k candidates equals the truth exactly (shape and cells)."""
    return any(c.grid.shape == truth.shape and (c.grid == truth).all() for c in ranked[:k])
