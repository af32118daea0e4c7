"""Memory-sized batches: how many rows of a canvas side fit the memory a worker may use.

Why: at hidden 512 a full 30x30 row keeps ~217 MiB of activations for the backward pass (bf16
autocast), so the checkpoint's batch (up to 128 rows) needs ~27 GiB at the full canvas; an L4 has
22.5 GiB usable.
Every bucket side gets its own TTT and inference batch, sized here from:

- the activation bytes a training supervision step saves for backward, per row: counted exactly
  from the shapes (saved_bytes_per_row; the count is checked against a probe of what autograd
  really saves, probe_saved_bytes, in tests/test_kaggle.py, in float32 and in bf16 autocast);
  on a GPU the worker also probes its own device once (its attention kernel may save more) and
  scales the count up if the probe says so;
- the dtype: bf16 autocast on CUDA (activations, the carried states and the residual stream 2
  bytes; norms' statistics, rotary and the loss in float32), float32 on the CPU;
- the memory the worker may use (device_budget: the free GPU memory, capped by --gpu-memory, which
  also sets torch.cuda.set_per_process_memory_fraction so a 24 GB card can be emulated on a bigger
  one; on the CPU the host's available memory shared by the workers) and a target share of it
  (--memory-share) that leaves room for what the estimate does not model (allocator fragmentation,
  kernels' workspaces).

The estimate of a step's peak, per row (B rows, side S, L = P + S*S tokens, D hidden, I SwiGLU inner):
  training  = saved activations + carry (y, z: 2 L D, counted in float32, the dtype a fresh carry
              starts in; later steps carry them in the compute dtype) + batch tokens/labels + a
              working set of two block calls (the no-grad cycles' temporaries, then the gradients
              in backward)
  inference = x, y, z (3 L D, counted in float32 likewise) + the same working set + logits and
              log-probs of the canvas
plus, for training, per-worker fixed costs: gradients, Adam's two moments, the EMA copy, the
pretrained weights kept to reset each shard, and bf16 casts of the weights (~26 bytes/parameter).
What the estimate leaves out is caught by the out-of-memory back-off (ttt.py, predict.py), which
halves the batch of the side that failed and keeps it for later shards.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

GiB = 2 ** 30


# -----------------------------------------------------------------------------
# Bytes per row, from the shapes


def activation_bytes(bf16: bool) -> int:
    """Bytes of an activation element: bf16 under CUDA autocast, float32 otherwise."""
    return 2 if bf16 else 4


def block_call_bytes_per_token(cfg, bf16: bool) -> int:
    """Bytes one attention block call saves for backward, per token (see saved_bytes_per_row)."""
    a, D, I, H = activation_bytes(bf16), cfg.hidden_size, cfg.mlp_inner, cfg.num_heads
    # In the activation dtype: the gate_up output (2I: silu saves g, the product saves u, both views
    # of it), silu(g) (I), silu(g)*u (I, the down matmul's input); the qkv output (3D; v is a view of
    # it), the rotated q and k (2D: rotary runs in float32 but saves only its constant tables, and
    # the cast back to the activation dtype is what attention saves), the attention output (D, the
    # out matmul's input); the inputs of the qkv and gate_up matmuls (2D: the block's input and the
    # first norm's output). Float32: the two pre-norm residual sums (2D; under bf16, the float32
    # copies rms_norm makes of them), their rsqrt (2 per token), the attention's log-sum-exp
    # (H per token).
    # The MLP conv (model.SequenceConv / GridConv) saves two more inner activations per token: the
    # conv's output, SiLU's input, and SiLU's output, the down matmul's input now (the gated product
    # stays saved, as the conv's input; 1d: also its shifted copies, see conv_shift_bytes_per_row).
    conv = 2 * I * a if getattr(cfg, "mlp_conv", "none") != "none" else 0
    return a * (4 * I + 8 * D) + 4 * (2 * D) + 4 * 2 + 4 * H + conv


def conv_shift_bytes_per_row(cfg, L: int, bf16: bool) -> int:
    """Per block call and row, the 1-D conv's saved shifted copies of its input: for each tap but the
    current position's, the input padded s = 1..k-1 positions in front (L + s positions of I)."""
    if getattr(cfg, "mlp_conv", "none") != "1d":
        return 0
    k = cfg.mlp_conv_kernel
    return activation_bytes(bf16) * cfg.mlp_inner * sum(L + s for s in range(1, k))


def saved_bytes_per_row(cfg, side: int, bf16: bool) -> int | None:
    """Bytes autograd keeps for backward per row of one training supervision step (engine.act_step),
    for the attention mixer; None for the token-mixing MLP (probe it instead).

    Only the net calls with gradients keep activations (cfg.grad_updates_per_step; by default the
    last cycle's L_cycles + 1, the T-1 others run without gradients), each of num_layers blocks.
    Outside the blocks (the states y, z and the residual stream run in
    the activation dtype): the input embedding's int64 ids (L: the P prefix ids and the S*S tokens,
    one gather); the final y (L x D, activation dtype), kept whole because the q_head's input y[:, 0]
    is a view of it; the lm_head input y[:, P:] (S*S x D, activation dtype: a copy, the view is not
    contiguous across rows); the cross-entropy's log-softmax (S*S x 12 float32) and int64 labels;
    and 16 bytes of per-row scalars (the halt logit and its target, float32; the row's label count,
    int64). Exact for torch 2.13's CPU kernels at every side >= 2, the smallest canvas the data
    makes (the test probes it); at side 1 the lm_head input is a view of y and the count is one
    activation row (D elements) high."""
    if cfg.mixer != "attention":
        return None
    a, D = activation_bytes(bf16), cfg.hidden_size
    L, S2 = cfg.puzzle_emb_len + side * side, side * side
    blocks = cfg.grad_updates_per_step * cfg.num_layers
    embed_ids = L * 8
    final_y = L * D * a
    head = S2 * (D * a + 12 * 4 + 8)
    # The grid-edge features (model.edge_embedding): edge_proj's input, 8F + 1 per cell, in the
    # activation dtype.
    edges = S2 * (8 * cfg.edge_features + 1) * a if getattr(cfg, "edge_features", 0) else 0
    # The step embedding's gather keeps the row's int64 step id.
    step_id = 8 if getattr(cfg, "step_embedding", False) else 0
    # rope2d-d8's per-row rotary tables are saved once for every block call that reads them.
    return (blocks * (L * block_call_bytes_per_token(cfg, bf16) + conv_shift_bytes_per_row(cfg, L, bf16)) + embed_ids
            + final_y + head + edges + d8_table_bytes(cfg, L) + step_id + 16)


def d8_table_bytes(cfg, L: int) -> int:
    """rope2d-d8's per-row rotary tables (model.d8_rope): cos and sin, float32, the queries' (L, hd) and
    the keys' (L, H, hd); built once per supervision step and read by every block call (0 otherwise)."""
    if getattr(cfg, "pos_encoding", "") != "rope2d-d8":
        return 0
    return 2 * 4 * L * (cfg.hidden_size // cfg.num_heads) * (1 + cfg.num_heads)


def probe_saved_bytes(model, side: int, batch: int, autocast, device) -> int:
    """Bytes autograd saves for backward in one real training supervision step of `batch` rows at
    this side, on this device: every saved tensor's storage counted once, the weights and buffers
    left out. The step runs forward only (nothing is trained); what it saved is dropped at once."""
    from .engine import Carry, act_step

    constant = {t.untyped_storage().data_ptr() for t in list(model.parameters()) + list(model.buffers())}
    seen, keep = set(), []  # keep: holds each storage until the end, so no address is reused

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in constant and st.data_ptr() not in seen:
            seen.add(st.data_ptr())
            keep.append(st)
        return None  # backward never runs

    S = side
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    carry = Carry.empty(model, batch, S, device)
    fresh = {"tokens": torch.randint(2, 12, (batch, S * S), device=device, generator=gen),
             "labels": torch.randint(2, 12, (batch, S * S), device=device, generator=gen),
             "puzzle_ids": torch.zeros(batch, dtype=torch.int64, device=device)}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        act_step(model, model, carry, fresh, autocast, gen, training=True)
    total = sum(st.nbytes() for st in keep)
    del keep
    return total


def probe_per_row(model, side: int, autocast, device) -> int:
    """Saved bytes per row at this side: the probe at 3 rows minus the probe at 2 (constants cancel;
    one row is avoided because some views are contiguous only then)."""
    return probe_saved_bytes(model, side, 3, autocast, device) - probe_saved_bytes(model, side, 2, autocast, device)


# -----------------------------------------------------------------------------
# Peak per step


@dataclass
class RowCost:
    """Estimated bytes of one step, as fixed + rows x per_row."""
    per_row: int
    fixed: int = 0

    def peak(self, rows: int) -> int:
        return self.fixed + rows * self.per_row


def train_row_bytes(cfg, side: int, bf16: bool, saved: int | None = None) -> int:
    """Estimated peak bytes per row of a training step at this side (module doc); `saved`: the bytes
    saved for backward per row when known otherwise (a probe), else the shape count."""
    L, D, S2 = cfg.puzzle_emb_len + side * side, cfg.hidden_size, side * side
    if saved is None:
        saved = saved_bytes_per_row(cfg, side, bf16)
        if saved is None:
            raise ValueError(f"no shape count for the {cfg.mixer!r} mixer: pass the probed bytes (probe_per_row)")
    work = 2 * L * block_call_bytes_per_token(cfg, bf16)
    carry = 2 * L * D * 4 + 4 * S2 * 8  # y, z (float32 at most); tokens and labels of the carry and the fresh batch
    return int(saved) + work + carry


def infer_row_bytes(cfg, side: int, bf16: bool) -> int:
    """Estimated peak bytes per row of an inference supervision step at this side (module doc)."""
    L, D, S2 = cfg.puzzle_emb_len + side * side, cfg.hidden_size, side * side
    work = 2 * L * block_call_bytes_per_token(cfg, bf16)
    heads = S2 * 12 * (activation_bytes(bf16) + 4 + 2 + 2) + S2 * 8 * 3  # logits, log-probs (f32, f16 x2), tokens
    # x, y, z; the working set of block calls; the heads; rope2d-d8's tables plus their build (x2).
    return 3 * L * D * 4 + work + heads + 2 * d8_table_bytes(cfg, L)


def train_fixed_bytes(n_params: int, full: bool, ema: bool, bf16: bool) -> int:
    """Per-worker bytes of training beyond the loaded model: the pretrained copy kept to reset each
    shard, and with full fine-tuning the gradients, Adam's m and v, the EMA and bf16 weight casts."""
    per = 4  # the pretrained copy
    if full:
        per += 4 + 8 + (4 if ema else 0) + (2 if bf16 else 0)
    return n_params * per


# -----------------------------------------------------------------------------
# The budget and the batch


@dataclass
class MemoryBudget:
    usable: int   # bytes this worker may still allocate
    share: float  # plan to fill this share of it
    how: str      # where the figure came from, for the log

    @property
    def target(self) -> int:
        return int(self.usable * self.share)


def host_available_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def device_budget(device: torch.device, cap_gib: float | None, share: float, workers_here: int = 1) -> MemoryBudget:
    """What a worker on `device` may allocate from now on. CUDA: the smaller of the device's free
    memory and the cap (--gpu-memory, GiB), less what this process holds already. CPU: the host's
    available memory over the workers sharing it, capped the same way."""
    cap = None if cap_gib is None else int(cap_gib * GiB)
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        reserved, allocated = torch.cuda.memory_reserved(device), torch.cuda.memory_allocated(device)
        limit = total if cap is None else min(cap, total)
        usable = min(limit, free + reserved) - allocated
        how = (f"{usable / GiB:.1f} GiB of {torch.cuda.get_device_name(device)} ({total / GiB:.1f} GiB"
               + (f", capped at {cap_gib:g} GiB" if cap is not None else "") + ")")
    else:
        avail = host_available_bytes()
        if avail is None:
            avail = 8 * GiB
            how = "8 GiB assumed (host memory unknown)"
        else:
            how = f"host MemAvailable {avail / GiB:.1f} GiB"
        usable = avail // max(1, workers_here)
        if workers_here > 1:
            how += f" / {workers_here} workers"
        if cap is not None and cap < usable:
            usable, how = cap, how + f", capped at {cap_gib:g} GiB"
    return MemoryBudget(max(0, int(usable)), share, how)


def limit_process_memory(device: torch.device, cap_gib: float | None):
    """Make the allocator refuse more than cap_gib on this GPU (emulates a smaller card)."""
    if device.type == "cuda" and cap_gib is not None:
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, cap_gib * GiB / total), device)


def rows_that_fit(cost: RowCost, budget: MemoryBudget, cap: int) -> int:
    """The most rows (1..cap) whose estimated peak fits the budget's target; 1 when none does (the
    out-of-memory back-off then has the last word)."""
    room = budget.target - cost.fixed
    return int(max(1, min(cap, room // max(cost.per_row, 1))))


class BatchPlanner:
    """Rows per step for each canvas side, for training and for inference, within a worker's memory
    budget. A size halved after an out-of-memory error is kept for the rest of the run (every later
    shard starts from what worked)."""

    def __init__(self, cfg, bf16: bool, budget: MemoryBudget, train_cap: int, infer_cap: int,
                 train_fixed: int = 0):
        self.cfg, self.bf16, self.budget = cfg, bf16, budget
        self.train_cap, self.infer_cap, self.train_fixed = train_cap, infer_cap, train_fixed
        self.saved_scale = 1.0      # > 1 when this device's probe saw more than the shape count
        self.saved_per_token = None  # from the probe, for a mixer without a shape count
        self.train, self.infer = {}, {}  # side -> rows

    def calibrate(self, model, autocast, device, log=print):
        """Probe what a real step saves on this device, at the full canvas (GPU kernels may save more
        than the CPU ones the shape count was checked on). Needed without a shape count (the MLP mixer)."""
        side = self.cfg.canvas_side
        count = saved_bytes_per_row(self.cfg, side, self.bf16)
        probe = probe_per_row(model, side, autocast, device)
        L = self.cfg.puzzle_emb_len + side * side
        if count is None:
            self.saved_per_token = probe / L
            log(f"[memory] probe at side {side}: {probe / 2**20:.1f} MiB saved per row ({probe / L / 1024:.1f} KiB/token)")
        else:
            self.saved_scale = max(1.0, probe / count)
            log(f"[memory] saved for backward per row at side {side}: {count / 2**20:.1f} MiB by the shape count, "
                f"{probe / 2**20:.1f} MiB by the probe on {device}" + (f"; count scaled x{self.saved_scale:.3f}"
                                                                       if self.saved_scale > 1 else ""))

    def train_cost(self, side: int) -> RowCost:
        if self.saved_per_token is not None:  # no shape count: the probe's bytes per token
            saved = self.saved_per_token * (self.cfg.puzzle_emb_len + side * side)
        else:
            saved = saved_bytes_per_row(self.cfg, side, self.bf16) * self.saved_scale
        return RowCost(train_row_bytes(self.cfg, side, self.bf16, int(saved)), self.train_fixed)

    def infer_cost(self, side: int) -> RowCost:
        return RowCost(infer_row_bytes(self.cfg, side, self.bf16))

    def train_rows(self, side: int) -> int:
        if side not in self.train:
            self.train[side] = rows_that_fit(self.train_cost(side), self.budget, self.train_cap)
        return self.train[side]

    def infer_rows(self, side: int) -> int:
        if side not in self.infer:
            self.infer[side] = rows_that_fit(self.infer_cost(side), self.budget, self.infer_cap)
        return self.infer[side]

    def halve(self, kind: str, side: int) -> int:
        """After an out-of-memory error at this side: half the rows from now on. Raises at 1 row."""
        sizes = self.train if kind == "train" else self.infer
        rows = sizes.get(side) or (self.train_rows(side) if kind == "train" else self.infer_rows(side))
        if rows <= 1:
            raise MemoryError(f"{kind} at canvas side {side} runs out of memory even at 1 row")
        sizes[side] = rows // 2
        return sizes[side]

    def describe(self, kind: str, sides) -> str:
        """'side 7: 128 rows (0.31 GiB), ...' with the estimated peak of each."""
        rows = self.train_rows if kind == "train" else self.infer_rows
        cost = self.train_cost if kind == "train" else self.infer_cost
        return ", ".join(f"{s}: {rows(s)} ({cost(s).peak(rows(s)) / GiB:.2f} GiB)" for s in sorted(set(sides)))
