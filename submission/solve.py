"""The test-time solver: one pretrained TRM on one device, solving shards of unseen tasks.

One worker (worker.py) runs per GPU, or one on the CPU. Its ShardSolver loads the checkpoint once
(checkpoint.load_for_ttt: the weights, and of the pretrained puzzle table only its mean row), then
for each shard of tasks the main process hands it, with a time budget:

1. Puzzle ids. Every (task, augmentation) of the shard gets a new puzzle id (build_puzzle_set with
   first_puzzle_id 1; id 0 is the blank id); the shard's table is (1 + ids, D), every new row
   starting at the mean pretrained row. The weights are reset to the pretrained ones, so shards
   never see each other's training. The pretrained table itself is never on the device.
2. Test-time training on the shard's demonstration pairs only (ttt.py).
3. Inference, ranking and answers (predict.py), each task's answers sent as they are ready.

Batches: every canvas side gets its own TTT and inference batch, sized to the worker's memory
(memory.BatchPlanner); out-of-memory halves the side that failed, for the rest of the run. Peak
memory per phase (GPU) is measured and returned with each shard's stats.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch

from .checkpoint import TTT_MEAN_ROW, load_for_ttt
from .data import build_puzzle_set, predict_side
from .encoder import load_encoder, predict_rows
from .encoding import decode_batch, encode_batch
from .engine import Carry, act_step
from .memory import BatchPlanner, GiB, device_budget, train_fixed_bytes
from .model import COLOUR0
from .predict import predict_shard
from .runtime import autocast_dtype
from .ttt import train_shard


# The recursion depth's fields of TRMConfig: cycles per supervision step, latent updates per cycle,
# supervision steps per sample. Test-time training and inference may each run their own.
RECURSION = ("H_cycles", "L_cycles", "halt_max_steps")


@dataclass
class SolveSettings:
    """Everything a worker needs besides the checkpoint; defaults come from the checkpoint's
    training arguments (see __main__.py), flags override."""
    ttt_mode: str = "full"            # "full": every weight + new puzzle rows; "embeddings": new rows only
    row_init: str = "auto"            # new puzzle rows start at the "mean" pretrained row or the "encoder"'s guess; "auto": the encoder if there is one
    embeddings_first: float = 0.0     # full mode: this share of the planned steps trains the new rows only
    ttt_steps: int | None = None      # cap on TTT steps per shard; None: as many as the budget allows
    num_aug: int | None = None        # augmentations per task; None: from the budget (see ttt.py)
    max_aug: int = 1000               # upper bound for the automatic choice (the checkpoint's num_aug)
    batch_size: int = 64              # most TTT rows per step; a side gets fewer when memory says so
    lr: float = 1e-4
    puzzle_lr: float = 1e-2
    weight_decay: float = 0.1
    puzzle_weight_decay: float = 0.1
    warmup_steps: int | None = None   # None: a tenth of the planned steps, at most max_warmup
    max_warmup: int = 2000
    grad_clip: float = 1.0
    ema: float = 0.0                  # EMA of the weights during TTT, used for inference (0: off)
    translate_prob: float = 0.5
    translate_mode: str = "fresh"     # the checkpoint's: "fresh" or "fixed" (data.Sampler)
    max_buckets: int = 8
    keep_black: bool = True
    views: int | None = None          # cap on views per test input; None: the augmentations trained
    halt: str = "act"                 # "act": rows stop on their halt logit; "all": every step runs
    vote: str = "votes"               # "votes" | "poe"
    poe_top: int = 8                  # candidates (by votes) re-scored by product of experts
    demo_check: bool = False          # rank first the candidates of views that reproduce every demonstration
    report_candidates: int = 0        # > 0: send this many candidates per test input, with votes, mean
                                      # halt confidence and PoE score (both rankings, for offline study)
    infer_batch_size: int = 256       # most view rows per inference batch; fewer when memory says so
    infer_share: float = 0.25         # at most this share of a shard's budget is kept for inference
    gpu_memory: float | None = None   # GiB this worker may use (None: all that is free); see memory.py
    memory_share: float = 0.8         # plan batches to fill this share of it
    workers_here: int = 1             # workers sharing this host's memory (CPU workers)
    time_buckets: bool = False        # synchronise after every TTT step to time each bucket side
    seed: int = 0
    log_every_s: float = 30.0
    compile: str = "off"              # "dynamic": torch.compile the step, one graph per grad mode for every side;
                                      # "static": one graph per canvas side; "off": eager
    ttt_depth: dict | None = None     # {field of RECURSION: value} for test-time training; None or missing: the checkpoint's
    infer_depth: dict | None = None   # the same for inference; None or missing: test-time training's


class ShardSolver:
    """Holds the pretrained model on one device and solves shards with it (module doc)."""

    def __init__(self, checkpoint, device: torch.device, settings: SolveSettings, log=print):
        self.S, self.device, self.log = settings, device, log
        self.model, self.meta, ttt_tensors = load_for_ttt(checkpoint, device)
        self.cfg = self.model.cfg
        # Recursion depth: the model's cfg holds training's (the memory plan, the FLOPs and act_step
        # read it there); inference switches to its own for its passes (self.recursion).
        checkpoint_depth = {k: getattr(self.cfg, k) for k in RECURSION}
        self.ttt_depth = {**checkpoint_depth, **(settings.ttt_depth or {})}
        self.infer_depth = {**self.ttt_depth, **(settings.infer_depth or {})}
        for k, v in self.ttt_depth.items():
            setattr(self.cfg, k, int(v))
        self.infer_cfg = replace(self.cfg, **self.infer_depth)  # inference's cost while training plans
        show = lambda d: f"T={d['H_cycles']} n={d['L_cycles']} N={d['halt_max_steps']}"  # noqa: E731
        log(f"[solve] recursion: test-time training {show(self.ttt_depth)}, inference {show(self.infer_depth)} "
            f"(checkpoint {show(checkpoint_depth)})")
        self.mean_row = ttt_tensors[TTT_MEAN_ROW]  # (1, D) where every new puzzle row starts
        self.encoder = load_encoder(self.meta, ttt_tensors, device)  # None without one
        if settings.row_init == "encoder" and self.encoder is None:
            raise ValueError("--row-init encoder: the checkpoint has no demonstration encoder "
                             "(fit one with python -m train.encoder --run DIR, then export again)")
        # auto: the encoder's rows measured better than the mean row on the transfer benchmark.
        auto = settings.row_init == "auto"
        self.row_init = ("encoder" if self.encoder is not None else "mean") if auto else settings.row_init
        log(f"[solve] new puzzle rows start at the {self.row_init} row" + (" (--row-init auto)" if auto else ""))
        self.base_weights = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        # The compute dtype: runtime.autocast_dtype decides (bf16 where the GPU has it, else float32).
        amp, dtype_why = autocast_dtype(device)
        self.bf16 = amp is not None
        self.autocast = (torch.autocast(device_type=device.type, dtype=amp) if self.bf16
                         else torch.autocast(device_type="cpu", enabled=False))
        log(f"[compute] {device}: {dtype_why}")
        self.train_rate = None  # measured train_step_flops per second
        self.infer_rate = None  # measured inference FLOPs (at halt_max_steps per view) per second
        _warm_numba()  # compile the encoders now, not on the first shard's clock

        # ---- memory: rows per step for every canvas side ----
        S = settings
        n_params = sum(p.numel() for p in self.model.parameters())
        budget = device_budget(device, S.gpu_memory, S.memory_share, S.workers_here)
        fixed = train_fixed_bytes(n_params, S.ttt_mode == "full", S.ema > 0, self.bf16)
        self.batches = BatchPlanner(self.cfg, self.bf16, budget, S.batch_size, S.infer_batch_size, fixed)
        if device.type == "cuda" or self.cfg.mixer != "attention":
            self.batches.calibrate(self.model, self.autocast, device, log)
        sides = sorted({self.cfg.canvas_side, max(3, self.cfg.canvas_side // 2), min(self.cfg.canvas_side, 8)})
        log(f"[memory] budget {budget.how}, planning for {S.memory_share:.0%} of it "
            f"({'bf16 autocast' if self.bf16 else 'float32'}); rows per step by canvas side (estimated peak): "
            f"training {self.batches.describe('train', sides)}; inference {self.batches.describe('infer', sides)}")

        # ---- --compile: the step compiled now, its cold cost measured ----
        # No layer of the TRM depends on train/eval mode (no dropout, no batch norm); one mode for the
        # whole run keeps a compiled step from compiling again when predict_shard switches it.
        self.model.eval()
        self.compiled, self.compile_s, self.compile_error = False, 0.0, None
        if S.compile != "off":
            self.compile_model()

    # -------------------------------------------------------------------------
    # --compile

    def compile_model(self):
        """torch.compile the supervision step (TRM.compile_step, as python -m train --compile does) and
        compile its graphs now, on a small batch: a training step (forward and backward, with the
        weights' gradients on and off as this run's --ttt-mode and --embeddings-first will use them)
        and an inference step at inference's depth. The seconds it takes are the cold cost, reported
        with every shard's stats. Any failure leaves the model eager, loudly, and the run goes on."""
        S, model = self.S, self.model
        t = time.time()
        try:
            if S.compile == "static":
                model.allow_graphs(STATIC_GRAPHS)
            model.compile_step(dynamic=S.compile == "dynamic")
            model.use_compiled_step = self.compiled = True
            self.warm_up()
        except Exception as e:  # a compiler error must never cost the run: eager from here on
            self.compile_failed(e, "while compiling")
        self.compile_s += time.time() - t
        if self.compiled:
            self.log(f"[compile] supervision step compiled ({'one graph per canvas side, each compiled on first use' if S.compile == 'static' else 'batch and sequence axes dynamic: every canvas side'}): "
                     f"training and inference graphs at side {self.warm_side} in {self.compile_s:.1f}s (cold cost, "
                     f"{compiled_graphs()} graph(s) so far)")

    @property
    def warm_side(self) -> int:
        return self.cfg.canvas_side if self.cfg.fixed_canvas else min(self.cfg.canvas_side, 5)

    def warm_up(self):
        """One training and one inference step on random tokens, two rows at a small side: what makes
        the compiled step compile (the weights are unchanged; their gradients are cleared)."""
        model, dev, side, B = self.model, self.device, self.warm_side, 2
        gen = torch.Generator().manual_seed(0)
        tokens = torch.randint(COLOUR0, COLOUR0 + 10, (B, side * side), generator=gen).to(dev)  # (B, S*S)
        fresh = {"tokens": tokens, "labels": tokens.clone(), "puzzle_ids": torch.zeros(B, dtype=torch.long, device=dev)}
        full = self.S.ttt_mode == "full"
        grad_modes = ([False] if not full or self.S.embeddings_first > 0 else []) + ([True] if full else [])
        explore = torch.Generator(device=dev)
        for weights_learn in grad_modes:  # the weights' requires_grad, as train_shard sets it
            for p in model.parameters():
                p.requires_grad_(weights_learn)
            carry = Carry.empty(model, B, side, dev)
            act_step(model, model, carry, fresh, self.autocast, explore, training=True)["loss"].backward()
        for p in model.parameters():
            p.requires_grad_(False)
            p.grad = None
        with torch.no_grad(), self.recursion(self.infer_depth), self.autocast:
            y, z = model.initial_state(B, self.cfg.puzzle_emb_len + side * side, dev)
            model(tokens, model.puzzle_emb[fresh["puzzle_ids"]], y, z)
        _sync(dev)

    def compile_failed(self, err: Exception, where: str):
        """The compiled step failed (a compiler error, maybe on a new shape): eager from here on, said loudly."""
        self.model.use_compiled_step = self.compiled = False
        # Dynamo's message starts "backend=... raised:", the cause on the next line: keep two lines.
        lines = [line for line in str(err).strip().splitlines() if line.strip()][:2]
        self.compile_error = f"{where}: {type(err).__name__}: {' '.join(lines)[:400]}"
        self.log(f"[warning] [compile] FAILED {self.compile_error}; this worker runs EAGER from here on "
                 "(the run goes on; run without --compile to skip compiling)")

    def compile_stats(self) -> dict:
        return {"mode": self.S.compile, "compiled": self.compiled, "compile_s": round(self.compile_s, 2),
                "graphs": compiled_graphs() if self.S.compile != "off" else 0, "error": self.compile_error}

    # -------------------------------------------------------------------------
    def solve_shard(self, shard_id: int, tasks: list, budget_s: float, stop, emit) -> dict:
        """TTT on the shard's demonstrations, then predict its test inputs. emit(task_id, entries,
        predicted, info) is called as each task's answers are ready. Returns the shard's stats."""
        t0 = time.time()
        end = t0 + budget_s
        S = self.S
        seed = S.seed + 1000 * shard_id
        torch.manual_seed(seed)

        # ---- puzzle ids for (task, augmentation) after the blank id; weights reset ----
        build_aug = S.num_aug if S.num_aug is not None else S.max_aug
        ps = build_puzzle_set([], tasks, build_aug, seed=seed, keep_black=S.keep_black, first_puzzle_id=1)
        built_count = ps.task_count.copy()
        self.reset(ps.num_puzzles)
        self.init_rows(ps)
        self.test_sides = [self.side(t, x) for t in tasks for x in t.test_inputs]  # inference's cost (ttt.py)
        if S.demo_check:  # the demonstrations are predicted too
            self.test_sides += [self.side(t, x) for t in tasks for x, _ in t.train]
        peak = PeakMemory(self.device)

        # ---- test-time training ----
        ttt = train_shard(self, shard_id, ps, built_count, t0, end, stop, seed)
        ttt_peak = peak.take()
        t1 = time.time()

        # ---- inference, ranking, answers ----
        views_cap = min(S.views or ttt["num_aug"], ttt["num_aug"])
        with self.recursion(self.infer_depth):
            inf = predict_shard(self, shard_id, tasks, ps, views_cap, end, stop, emit)
        infer_peak = peak.take()
        t2 = time.time()
        return {"tasks": len(tasks), "budget_s": round(budget_s, 1), "ttt_s": round(t1 - t0, 2),
                "infer_s": round(t2 - t1, 2), "peak_ttt_gib": ttt_peak, "peak_infer_gib": infer_peak,
                "recursion": {"ttt": dict(self.ttt_depth), "infer": dict(self.infer_depth)},
                "compile": self.compile_stats(), **ttt, **inf}

    @contextmanager
    def recursion(self, depth: dict):
        """The model runs at this depth ({field of RECURSION: value}) inside the block, at test-time
        training's again after it."""
        for k, v in depth.items():
            setattr(self.cfg, k, int(v))
        try:
            yield
        finally:
            for k, v in self.ttt_depth.items():
                setattr(self.cfg, k, int(v))

    def init_rows(self, ps):
        """Rows from the encoder (--row-init encoder, or auto with an encoder): the new rows start at
        its guess from each puzzle's demonstrations (encoder.py); otherwise they stay at the mean row
        reset() put there."""
        if self.row_init == "encoder":
            ids = np.arange(1, ps.num_puzzles)
            with torch.no_grad():
                self.model.puzzle_emb[1:] = predict_rows(self.encoder, ps, ids, self.cfg.canvas_side, self.device)

    def reset(self, num_puzzles: int):
        """Pretrained weights; a table of the blank row plus num_puzzles - 1 rows at the mean row."""
        model = self.model
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(self.base_weights[n])
        D = self.cfg.hidden_size
        model.puzzle_emb = torch.cat([torch.zeros(1, D, device=self.device),
                                      self.mean_row.expand(num_puzzles - 1, D)]).contiguous()  # (N, D)
        model.cfg.num_puzzles = num_puzzles

    def side(self, task, test_input) -> int:
        """Canvas side a test input is predicted on (the trainer's evaluation uses the same rule)."""
        return predict_side(self.cfg, task.train, test_input)


class PeakMemory:
    """Peak GPU memory allocated since the last take(), in GiB (None on the CPU)."""

    def __init__(self, device):
        self.device = device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def take(self):
        if self.device.type != "cuda":
            return None
        peak = torch.cuda.max_memory_allocated(self.device) / GiB
        torch.cuda.reset_peak_memory_stats(self.device)
        return round(peak, 2)


# --compile-static: graphs dynamo may keep (one per canvas side and grad mode; inference sides are
# any of 1..30) before it gives up and runs the step eager.
STATIC_GRAPHS = 96


def compiled_graphs() -> int:
    """Graphs dynamo compiled in this process so far (every worker process counts its own)."""
    from torch._dynamo.utils import counters
    return int(counters["stats"]["unique_graphs"])


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _warm_numba():
    buf = np.zeros(4, np.uint8)
    one = np.ones(1, np.int64)
    out = np.empty((1, 3, 3), np.uint8)
    encode_batch(buf, np.zeros(1, np.int64), 2 * one, 2 * one, np.zeros(1, np.int64), np.zeros(1, np.uint8),
                 np.arange(10, dtype=np.uint8)[None], np.zeros((1, 2), np.int64), 3, out, True)
    decode_batch(out.reshape(1, 9), 3, np.empty((1, 3, 3), np.uint8), np.empty((1, 2), np.int64))
