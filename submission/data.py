"""Tasks + augmentation records -> augmented, encoded batches on the fly.

PuzzleSet holds the original grids once (one flat uint8 buffer) and, per task, its list of distinct
augmentations; every (task, augmentation) is a puzzle id with its own row in the model's puzzle
table. Id 0 is the blank id. Nothing augmented is ever stored: for ARC-AGI-1 x 1000 the records are
~11 bytes per puzzle id (tens of MB where the reference writes GBs).

Sampler draws training samples the paper's way ("epoch" = each task once, one random augmented
version, all its pairs) and groups them by canvas side into buckets, so a batch only computes on
the canvas its grids need: a batch of 6x6 grids runs on a 7x7 canvas (65 positions with the
prefix) instead of 916. Each bucket has its own stream and its own ACT carry in the trainer; the
bucket stepped next is drawn in proportion to its samples over its batch size, so every sample is
drawn at the same rate. A bucket's batch size is fixed rows, or rows sized to a token budget
(token_budget_rows) so that small canvases fill the device.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .augment import distinct_augmentations
from .encoding import encode_batch, needed_side
from .tasks import Task

TRANSPOSING = np.array([0, 1, 0, 1, 0, 0, 1, 1], dtype=bool)  # dihedrals that swap height and width


@dataclass
class PuzzleSet:
    task_ids: list            # task id per task index
    buf: np.ndarray           # (N,) uint8 every original grid, flattened
    starts: np.ndarray        # (G,) int64 offset of each grid in buf
    heights: np.ndarray       # (G,) int64
    widths: np.ndarray        # (G,) int64
    pair_in: np.ndarray       # (M,) grid index of each training pair's input
    pair_out: np.ndarray      # (M,) grid index of its output
    pair_task: np.ndarray     # (M,) task index
    heldout_in: np.ndarray    # (K,) held-out test pairs (scored, never trained on)
    heldout_out: np.ndarray   # (K,) output grid index, -1 when unknown
    heldout_task: np.ndarray  # (K,)
    task_base: np.ndarray     # (T,) first puzzle id of each task
    task_count: np.ndarray    # (T,) number of distinct augmentations of each task
    dihedrals: np.ndarray     # (num_puzzles,) uint8, row 0 = blank id (identity)
    colours: np.ndarray       # (num_puzzles, 10) uint8
    keep_black: bool = True

    @property
    def num_puzzles(self) -> int:
        return int(self.dihedrals.shape[0])

    def grid(self, g: int) -> np.ndarray:
        s, h, w = self.starts[g], self.heights[g], self.widths[g]
        return self.buf[s:s + h * w].reshape(h, w)

    def puzzle_map(self) -> dict:
        """The puzzle id <-> (task, augmentation) map for checkpoint meta (records kept as arrays)."""
        return {"task_ids": list(self.task_ids), "task_base": self.task_base.tolist(),
                "task_count": self.task_count.tolist(), "keep_black": self.keep_black,
                "blank_id": 0}


class GridPacker:
    """Accumulates grids into one flat buffer."""

    def __init__(self):
        self.parts, self.starts, self.heights, self.widths, self.n = [], [], [], [], 0

    def add(self, grid: np.ndarray) -> int:
        self.parts.append(np.ascontiguousarray(grid, dtype=np.uint8).ravel())
        self.starts.append(self.n)
        self.heights.append(grid.shape[0])
        self.widths.append(grid.shape[1])
        self.n += grid.size
        return len(self.starts) - 1

    def arrays(self):
        buf = np.concatenate(self.parts) if self.parts else np.zeros(0, np.uint8)
        return (buf, np.asarray(self.starts, np.int64), np.asarray(self.heights, np.int64),
                np.asarray(self.widths, np.int64))


def build_puzzle_set(train_tasks: list[Task], eval_tasks: list[Task], num_aug: int, seed: int = 0,
                     keep_black: bool = True, first_puzzle_id: int = 1) -> PuzzleSet:
    """train_tasks: every pair (demonstrations and test pairs with known outputs) is trained on.
    eval_tasks: demonstrations are trained on; test pairs are held out (the paper's protocol; on
    Kaggle the hidden tasks are all eval_tasks with unknown outputs)."""
    rng = np.random.default_rng(seed)
    packer = GridPacker()
    pair_in, pair_out, pair_task = [], [], []
    h_in, h_out, h_task = [], [], []
    task_ids, base, count, dih, col = [], [], [], [np.zeros(first_puzzle_id, np.uint8)], \
        [np.tile(np.arange(10, dtype=np.uint8), (first_puzzle_id, 1))]
    next_id = first_puzzle_id
    seen = set()
    for kind, tasks in (("train", train_tasks), ("eval", eval_tasks)):
        for task in tasks:
            if task.id in seen:
                raise ValueError(f"task id {task.id!r} appears twice in the training data")
            seen.add(task.id)
            t = len(task_ids)
            task_ids.append(task.id)
            pairs = list(task.train)
            if kind == "train" and task.test_outputs is not None:
                pairs += list(zip(task.test_inputs, task.test_outputs))
            for a, b in pairs:
                pair_in.append(packer.add(a))
                pair_out.append(packer.add(b))
                pair_task.append(t)
            if kind == "eval":
                outs = task.test_outputs or [None] * len(task.test_inputs)
                for a, b in zip(task.test_inputs, outs):
                    h_in.append(packer.add(a))
                    h_out.append(packer.add(b) if b is not None else -1)
                    h_task.append(t)
            # Augmentations are drawn from what the model may see: demonstrations and test inputs.
            grids = [g for p in task.train for g in p] + list(task.test_inputs)
            d, c = distinct_augmentations(grids, num_aug, rng, keep_black)
            base.append(next_id)
            count.append(len(d))
            dih.append(d)
            col.append(c)
            next_id += len(d)
    buf, starts, heights, widths = packer.arrays()
    i64 = lambda v: np.asarray(v, dtype=np.int64)
    return PuzzleSet(task_ids, buf, starts, heights, widths, i64(pair_in), i64(pair_out), i64(pair_task),
                     i64(h_in), i64(h_out), i64(h_task), i64(base), i64(count),
                     np.concatenate(dih), np.concatenate(col), keep_black)


def choose_buckets(sides: np.ndarray, canvas_side: int, max_buckets: int) -> list[int]:
    """Bucket sides (ascending, last = canvas_side) chosen from the data's needed sides to keep the
    padded sequence length small: greedy merge of adjacent sides by least added cost."""
    uniq, counts = np.unique(np.minimum(sides, canvas_side), return_counts=True)
    edges = list(uniq)
    if edges[-1] != canvas_side:
        edges.append(canvas_side)
        counts = np.append(counts, 0)
    groups = [[int(s), int(c)] for s, c in zip(edges, counts)]  # [side, samples]
    cost = lambda s: s * s + 16
    while len(groups) > max_buckets:
        # merging group i into i+1 pads group i's samples up to side i+1
        extra = [groups[i][1] * (cost(groups[i + 1][0]) - cost(groups[i][0])) for i in range(len(groups) - 1)]
        i = int(np.argmin(extra))
        groups[i + 1][1] += groups[i][1]
        del groups[i]
    return [g[0] for g in groups]


def token_budget_rows(buckets: list[int], prefix_len: int, batch_tokens: int, multiple: int = 1) -> list[int]:
    """Global rows per step for each bucket so that rows x (side^2 + prefix) is about batch_tokens:
    rounded down to a multiple of `multiple` (the world size, so every rank takes the same rows),
    and at least `multiple`. E.g. buckets [7, 30], prefix 16, 703,488 tokens (768 rows x 916):
    [10822, 768] (65 and 916 positions per row)."""
    if batch_tokens < 1 or multiple < 1:
        raise ValueError(f"token budget {batch_tokens} and multiple {multiple} must be positive")
    rows = []
    for s in buckets:
        L = s * s + prefix_len
        rows.append(max(multiple, batch_tokens // L // multiple * multiple))
    return rows


class Sampler:
    """Per-bucket streams of training samples: (pair index, puzzle id, shift) -> encoded batches."""

    def __init__(self, ps: PuzzleSet, canvas_side: int, buckets: list[int], batch_size, seed: int,
                 translate_prob: float = 0.5, bucket_seed: int | None = None, rank: int = 0, world_size: int = 1,
                 translate_mode: str = "fresh", translate_seed: int | None = None, eos_corner: bool = True):
        """batch_size: rows per batch on this process, one int for every bucket or a list with one per
        bucket (so a small-side bucket can take more rows for the same tokens or memory).
        bucket_seed: when given, the bucket order is drawn from its own generator with this seed.
        rank, world_size: under torchrun every rank passes the same seed and bucket_seed and reads one
        global stream of world_size x batch_size rows per step, keeping its own slice (the reference's
        rule: the samples of a step do not depend on the number of processes, and every rank steps the
        same bucket, so DDP's average is the mean over every row of the global batch).
        translate_mode: "fresh" (a kit choice): each sample is shifted with probability translate_prob
        by an offset drawn afresh, within its bucket's slack. "fixed" (the reference's rule): each
        augmented puzzle moves every pair but one (chosen at random) by an offset drawn once, from
        (translate_seed, puzzle id, pair), within its bucket's slack; translate_prob is unused.
        eos_corner: the canvas layout (TRMConfig.eos_corner)."""
        if translate_mode not in ("fresh", "fixed"):
            raise ValueError(f"translate_mode: expected 'fresh' or 'fixed', got {translate_mode!r}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside a world of {world_size}")
        self.ps, self.canvas_side = ps, canvas_side
        self.buckets = sorted(buckets)
        if self.buckets[-1] != canvas_side:
            raise ValueError(f"the last bucket must be the canvas side {canvas_side}, got {self.buckets}")
        if isinstance(batch_size, (int, np.integer)):
            batch_size = [int(batch_size)] * len(self.buckets)
        if len(batch_size) != len(self.buckets) or min(batch_size) < 1:
            raise ValueError(f"batch_size: expected one positive size per bucket {self.buckets}, got {list(batch_size)}")
        self.batch_sizes = [int(b) for b in batch_size]
        self.rank, self.world_size = rank, world_size
        self.translate_prob, self.translate_mode, self.eos_corner = translate_prob, translate_mode, eos_corner
        self.translate_seed = seed if translate_seed is None else translate_seed
        self.rng = np.random.default_rng(seed)
        self.bucket_rng = self.rng if bucket_seed is None else np.random.default_rng(bucket_seed)
        # Natural needed side of each training pair (dihedrals keep max(h, w)).
        h = np.maximum(ps.heights[ps.pair_in], ps.heights[ps.pair_out])
        w = np.maximum(ps.widths[ps.pair_in], ps.widths[ps.pair_out])
        # Every pair must fit the canvas (a grid of side canvas_side fills it, with no EOS row or
        # column): said here with the task's name, before the encoder would refuse it mid-run.
        big = np.flatnonzero(np.maximum(h, w) > canvas_side)
        if len(big):
            p = int(big[0])
            g = max((int(ps.pair_in[p]), int(ps.pair_out[p])), key=lambda g: max(ps.heights[g], ps.widths[g]))
            tasks = sorted({ps.task_ids[t] for t in ps.pair_task[big]})
            raise ValueError(f"{len(big)} training pair(s) of {len(tasks)} task(s) do not fit the {canvas_side}x"
                             f"{canvas_side} canvas, e.g. task {ps.task_ids[ps.pair_task[p]]!r}: a "
                             f"{ps.heights[g]}x{ps.widths[g]} grid")
        self.pair_side = np.minimum(np.maximum(h, w) + 1, canvas_side)
        self.pair_bucket = np.searchsorted(np.asarray(self.buckets), self.pair_side)
        self.bucket_pairs = [np.flatnonzero(self.pair_bucket == b) for b in range(len(self.buckets))]
        n = np.asarray([len(p) for p in self.bucket_pairs], dtype=np.float64)
        self.bucket_weight = n / n.sum()  # share of the samples in each bucket
        # A bucket is stepped in proportion to its samples over its batch size, so every pair is
        # drawn at the same rate whatever its bucket's batch size.
        steps = n / np.asarray(self.batch_sizes, dtype=np.float64)
        self.bucket_step_weight = steps / steps.sum()
        self.queues = [np.zeros((0, 2), np.int64) for _ in self.buckets]  # rows: (pair, puzzle id)
        # For "fixed" translation: each pair's place among its task's pairs, and the task's pair count
        # (a task's pairs are contiguous in the puzzle set).
        n_task = np.bincount(ps.pair_task, minlength=len(ps.task_ids))
        self.pair_rank = np.arange(len(ps.pair_task)) - (np.cumsum(n_task) - n_task)[ps.pair_task]
        self.task_pairs = n_task

    @property
    def global_batch_sizes(self) -> list[int]:
        return [b * self.world_size for b in self.batch_sizes]

    def _epoch(self, b: int) -> np.ndarray:
        # One pass over bucket b's pairs, shuffled; each task uses one random augmentation this epoch.
        ps = self.ps
        pick = ps.task_base + (self.rng.random(len(ps.task_base)) * ps.task_count).astype(np.int64)
        pairs = self.rng.permutation(self.bucket_pairs[b])
        return np.stack([pairs, pick[ps.pair_task[pairs]]], axis=1)

    def next_bucket(self) -> int:
        return int(self.bucket_rng.choice(len(self.buckets), p=self.bucket_step_weight))

    def take(self, b: int, n: int) -> np.ndarray:
        while len(self.queues[b]) < n:
            self.queues[b] = np.concatenate([self.queues[b], self._epoch(b)])
        out, self.queues[b] = self.queues[b][:n], self.queues[b][n:]
        return out

    def _shifts(self, pair: np.ndarray, pid: np.ndarray, slack: np.ndarray) -> np.ndarray:
        """(G, 2) offsets of G global rows, each within its slack (G, 2)."""
        G = len(pair)
        if self.translate_mode == "fresh":
            move = self.rng.random(G) < self.translate_prob
            return (self.rng.random((G, 2)) * (slack + 1)).astype(np.int64) * move[:, None]
        task = self.ps.pair_task[pair]
        still = _mix(self.translate_seed, pid, np.full(G, -1)) % self.task_pairs[task].astype(np.uint64)
        move = self.pair_rank[pair] != still.astype(np.int64)
        # 53 high bits -> a uniform in [0, 1) (all 64 would round up to 1.0 at the top)
        u = np.stack([_mix(self.translate_seed, pid, 2 * pair + k) >> np.uint64(11) for k in (0, 1)], axis=1) / 2.0 ** 53
        return (u * (slack + 1)).astype(np.int64) * move[:, None]

    def batch(self, b: int) -> dict:
        """This rank's B = batch_sizes[b] samples of bucket b: inputs/labels (B, S, S) uint8 tokens,
        puzzle ids (B,) int64. Every rank draws the step's global rows (world_size x B) and keeps its slice."""
        ps, S, B = self.ps, self.buckets[b], self.batch_sizes[b]
        rows = self.take(b, B * self.world_size)
        pair, pid = rows[:, 0], rows[:, 1]
        d = ps.dihedrals[pid]
        gi, go = ps.pair_in[pair], ps.pair_out[pair]
        t = TRANSPOSING[d]
        hh = np.maximum(np.where(t, ps.widths[gi], ps.heights[gi]), np.where(t, ps.widths[go], ps.heights[go]))
        ww = np.maximum(np.where(t, ps.heights[gi], ps.widths[gi]), np.where(t, ps.heights[go], ps.widths[go]))
        # Translation: an offset within the canvas slack, keeping the EOS row/column on it.
        slack = np.stack([np.maximum(S - 1 - hh, 0), np.maximum(S - 1 - ww, 0)], axis=1)
        shifts = self._shifts(pair, pid, slack)
        mine = slice(self.rank * B, (self.rank + 1) * B)
        gi, go, d, pid, shifts = gi[mine], go[mine], d[mine], pid[mine], np.ascontiguousarray(shifts[mine])
        inputs = np.empty((B, S, S), np.uint8)
        labels = np.empty((B, S, S), np.uint8)
        colours = ps.colours[pid]
        encode_batch(ps.buf, ps.starts, ps.heights, ps.widths, gi, d, colours, shifts, S, inputs, self.eos_corner)
        encode_batch(ps.buf, ps.starts, ps.heights, ps.widths, go, d, colours, shifts, S, labels, self.eos_corner)
        return {"inputs": inputs, "labels": labels, "puzzle_ids": pid, "side": S}

    # ----- resume -----
    def state(self) -> tuple[dict, dict]:
        """(arrays, json) describing the exact stream position."""
        arrays = {f"sampler.queue{b}": q for b, q in enumerate(self.queues)}
        js = {"rng": self.rng.bit_generator.state, "buckets": self.buckets, "batch_sizes": self.batch_sizes,
              "global_batch_sizes": self.global_batch_sizes, "stream": "global"}
        if self.bucket_rng is not self.rng:
            js["bucket_rng"] = self.bucket_rng.bit_generator.state
        return arrays, js

    def load_state(self, arrays: dict, js: dict):
        if list(js["buckets"]) != self.buckets:
            raise ValueError(f"resume: buckets {js['buckets']} differ from {self.buckets}")
        if "global_batch_sizes" in js:  # one global stream: any number of processes continues it
            if list(js["global_batch_sizes"]) != self.global_batch_sizes:
                raise ValueError(f"resume: global rows per bucket {js['global_batch_sizes']} differ from "
                                 f"{self.global_batch_sizes} (keep --global-batch-size / --batch-tokens as they were)")
        elif "batch_sizes" in js and list(js["batch_sizes"]) != self.batch_sizes:
            raise ValueError(f"resume: rows per bucket {js['batch_sizes']} differ from {self.batch_sizes} "
                             f"(keep --global-batch-size / --batch-tokens as they were)")
        self.queues = [np.asarray(arrays[f"sampler.queue{b}"], np.int64).reshape(-1, 2) for b in range(len(self.buckets))]
        self.rng.bit_generator.state = js["rng"]
        if "bucket_rng" in js and self.bucket_rng is not self.rng:
            self.bucket_rng.bit_generator.state = js["bucket_rng"]


def _mix(seed: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A uint64 hash of (seed, a[i], b[i]) per element (splitmix64's finaliser over a running sum):
    the "fixed" translation's offsets are a function of the puzzle and pair, so they are the same
    every epoch, on every rank and after a resume, with nothing stored."""
    with np.errstate(over="ignore"):
        x = np.full(np.shape(a), np.uint64(seed % 2 ** 64), np.uint64)
        for v in (a, b):
            x = x + np.asarray(v).astype(np.int64).astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            x = x ^ (x >> np.uint64(31))
    return x


def pair_sides(ps: PuzzleSet, canvas_side: int) -> np.ndarray:
    h = np.maximum(ps.heights[ps.pair_in], ps.heights[ps.pair_out])
    w = np.maximum(ps.widths[ps.pair_in], ps.widths[ps.pair_out])
    return np.minimum(np.maximum(h, w) + 1, canvas_side)


def inference_side(task_train: list, test_input: np.ndarray, canvas_side: int) -> int:
    """Canvas side for predicting one test output without knowing it.

    When the demonstrations fix the output's size, on each axis either as one size for every output or
    as one multiple of the input's (the same output/input ratio in every pair): large enough for the
    test input, every demonstration output, and the input scaled by the largest output/input side
    ratio seen (tasks that grow their grids), plus the EOS row/column. Otherwise (the output's size
    varies in a way the input's does not explain: squares 3 -> 9, 4 -> 16; tiles counted from the
    content) no smaller canvas is sure to hold the answer: the full canvas. On ARC-AGI-1 evaluation
    that is 90 of 419 test inputs (46 before) and every answer fits; docs/benchmarks.md, 2026-12-04."""
    for ax in (0, 1):
        outs = {b.shape[ax] for _, b in task_train}
        ratios = {Fraction(b.shape[ax], a.shape[ax]) for a, b in task_train}
        if len(outs) > 1 and len(ratios) > 1:
            return canvas_side
    side = max(test_input.shape)
    ratio = 1.0
    for a, b in task_train:
        side = max(side, *b.shape)
        ratio = max(ratio, b.shape[0] / a.shape[0], b.shape[1] / a.shape[1])
    side = max(side, int(np.ceil(max(test_input.shape) * ratio)))
    return needed_side(side, side, canvas_side)


def predict_side(cfg, task_train: list, test_input: np.ndarray) -> int:
    """The canvas side a model with config `cfg` (a TRMConfig) predicts one test output on. A model
    whose token mixer or positions are tied to one canvas (cfg.fixed_canvas: the MLP mixer, 1-D
    rotary) must see the full canvas, as in training; otherwise the side inference_side guesses.
    Used by both the trainer's held-out evaluation and the Kaggle entry, so the two cannot differ."""
    if cfg.fixed_canvas:
        return cfg.canvas_side
    return inference_side(task_train, test_input, cfg.canvas_side)
