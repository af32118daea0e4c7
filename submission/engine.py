"""The training step shared by pretraining (train/) and test-time training (submission/).

- AdamAtan2: Adam with atan2 in place of the epsilon division, exactly the rule of the `adam-atan2`
  package the reference trains with; decoupled weight decay.
- sparse_sign_sgd_: the puzzle table's own optimizer: sign of the summed gradient on the rows the
  batch touched, decoupled weight decay on those rows only. No host-device sync: duplicate ids are
  summed with a sort + segment index, and every duplicate writes the same new row.
- Carry: the ACT state of one bucket's batch: y, z, steps, halted and the rows' current samples.
- act_step: one deep-supervision step: rows that halted last step take the fresh samples of this
  step's batch (per-row carry reset, done with torch.where on the device), one supervision step
  runs, the loss comes back; rows then halt on their halt logit, after halt_max_steps, or not before
  a random minimum (exploration). With deep improvement supervision (cfg.dis_steps) every row runs
  exactly dis_steps steps, step k trained on dis_frame's frame k.
- dis_frame: frame k of the path from a sample's input to its output (deep improvement supervision).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .model import TRM, IGNORE_LABEL, PAD


class AdamAtan2(torch.optim.Optimizer):
    """Adam with atan2 in place of the epsilon division (Everett et al. 2024, arXiv 2407.05872): the
    step is bounded and invariant to the gradient's scale, and there is no eps to tune.

    The rule of the `adam-atan2` package (github.com/imoneoi/adam_atan2, v0.0.3, csrc/adam_atan2.cu),
    which the reference trains with. Per element, at step t = 1, 2, ...:
        p <- p * (1 - lr * wd)                    decoupled weight decay, before the update
        m <- m + (1 - beta1) * (g - m)            (a lerp towards g)
        v <- v + (1 - beta2) * (g * g - v)
        p <- p - lr / (1 - beta1^t) * atan2(m, sqrt(v) / sqrt(1 - beta2^t))
    The first moment's bias correction scales the step from outside the atan2; no other factor.
    (Until 2026-11-28 the kit stepped by 1.27 * lr * atan2(m / (1 - beta1^t), sqrt(v / (1 - beta2^t))),
    the form of lucidrains' adam-atan2-pytorch: 1.27x the package's steps at steady state.)
    State: m, v (float32, like p) and t.
    """

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["m"] = torch.zeros_like(p)
                    st["v"] = torch.zeros_like(p)
                st["step"] += 1
                t = st["step"]
                bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
                g = p.grad.float()
                m, v = st["m"], st["v"]
                p.mul_(1 - lr * wd)
                m.lerp_(g, 1 - b1)
                v.lerp_(g * g, 1 - b2)
                p.add_(torch.atan2(m, v.sqrt() / math.sqrt(bc2)), alpha=-lr / bc1)

    def state_tensors(self, names: dict) -> dict:
        """Flat {name: tensor} for safetensors; names maps parameter -> its name."""
        out = {}
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.get(p)
                if st:
                    n = names[p]
                    out[f"{n}.m"], out[f"{n}.v"] = st["m"], st["v"]
                    out[f"{n}.step"] = torch.tensor(st["step"])
        return out

    def load_state_tensors(self, tensors: dict, names: dict):
        for group in self.param_groups:
            for p in group["params"]:
                n = names[p]
                if f"{n}.m" in tensors:
                    self.state[p] = {"m": tensors[f"{n}.m"].to(p.device), "v": tensors[f"{n}.v"].to(p.device),
                                     "step": int(tensors[f"{n}.step"])}


@torch.no_grad()
def sparse_sign_sgd_(table: torch.Tensor, ids: torch.Tensor, grads: torch.Tensor, lr: float, wd: float,
                     distributed: bool = False):
    """table (N, D) in place; ids (B,) int64; grads (B, D) gradients of the gathered rows."""
    if distributed:
        ws = dist.get_world_size()
        all_ids = [torch.empty_like(ids) for _ in range(ws)]
        all_g = [torch.empty_like(grads) for _ in range(ws)]
        dist.all_gather(all_ids, ids)
        dist.all_gather(all_g, grads)
        ids, grads = torch.cat(all_ids), torch.cat(all_g)
    sorted_ids, order = ids.sort()
    # Segment index of each sorted element: 0 for the first id, +1 at each new id.
    seg = torch.zeros_like(sorted_ids)
    seg[1:] = (sorted_ids[1:] != sorted_ids[:-1]).long().cumsum(0)
    summed = torch.zeros_like(grads, dtype=torch.float32).index_add_(0, seg, grads[order].float())  # (B, D)
    rows = table[sorted_ids] * (1 - lr * wd) - lr * summed[seg].sign()
    table.index_copy_(0, sorted_ids, rows.to(table.dtype))  # duplicates write identical rows


def lr_at(step: int, base: float, warmup: int, total: int | None = None, min_ratio: float = 1.0) -> float:
    """The learning rate of the update that follows `step` updates: linear warmup, then cosine towards
    base * min_ratio at update `total` (min_ratio 1.0 = constant, the paper's). As the reference, the
    schedule is read at the update's number n = step + 1 (it counts the update before reading):
    n / warmup of the base while n < warmup (the first update takes base / warmup, none takes 0),
    then the cosine at progress (n - warmup) / (total - warmup), the base at n = warmup and
    base * min_ratio at the last update n = total."""
    n = step + 1
    if n < warmup:
        return base * n / warmup
    if total is None or min_ratio >= 1.0 or total <= warmup:
        return base
    p = min(1.0, (n - warmup) / (total - warmup))
    return base * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


@dataclass
class Carry:
    y: torch.Tensor          # (B, L, D)
    z: torch.Tensor          # (B, L, D)
    steps: torch.Tensor      # (B,) int64 supervision steps done on the current sample
    halted: torch.Tensor     # (B,) bool: replace this row at the next step
    tokens: torch.Tensor     # (B, S*S) int64
    labels: torch.Tensor     # (B, S*S) int64 (IGNORE_LABEL on PAD)
    puzzle_ids: torch.Tensor  # (B,) int64
    order: torch.Tensor      # (B, S*S) float32 in [0, 1): the current sample's reveal order (dis_frame)
    shown: torch.Tensor      # (B, S*S) int64: the tokens the model reads (tokens, or with dis_input
                             # "prediction" the previous step's answer)

    FIELDS = ("y", "z", "steps", "halted", "tokens", "labels", "puzzle_ids", "order", "shown")

    @classmethod
    def empty(cls, model: TRM, B: int, side: int, device) -> "Carry":
        L = model.cfg.puzzle_emb_len + side * side
        y, z = model.initial_state(B, L, device)
        zeros = torch.zeros(B, side * side, dtype=torch.int64, device=device)
        return cls(y, z, torch.zeros(B, dtype=torch.int64, device=device),
                   torch.ones(B, dtype=torch.bool, device=device), zeros, zeros.clone(),
                   torch.zeros(B, dtype=torch.int64, device=device), torch.zeros(B, side * side, device=device),
                   zeros.clone())

    def tensors(self, prefix: str) -> dict:
        return {f"{prefix}.{k}": getattr(self, k) for k in self.FIELDS}

    @classmethod
    def from_tensors(cls, t: dict, prefix: str, device) -> "Carry":
        got = {k: t[f"{prefix}.{k}"].to(device) for k in cls.FIELDS if f"{prefix}.{k}" in t}
        if "order" not in got:  # a state saved before deep improvement supervision (which it did not use)
            got["order"] = torch.zeros(got["tokens"].shape, device=device)
            got["shown"] = got["tokens"].clone()
        return cls(**got)


def dis_frame(tokens: torch.Tensor, labels: torch.Tensor, order: torch.Tensor, k: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Deep improvement supervision's target for supervision step k (arXiv 2511.16886): frame k of a
    path of n_steps + 1 frames from the input canvas (frame 0) to the output (frame n_steps).

    tokens (B, S*S) input canvas tokens; labels (B, S*S) output tokens, IGNORE_LABEL on the output's
    PAD cells; order (B, S*S) the row's random keys (a random permutation of its cells, drawn once per
    sample); k (B,) int64 each row's step 1..n_steps. Returns (B, S*S) int64 labels.
    D = the output's cells (not IGNORE_LABEL) whose input token differs: the cells to change. Frame k
    holds the output's token on the floor(k * |D| / n_steps) cells of D with the smallest keys and the
    input's token on the rest of the output's cells (a cell of an output larger than its input
    shows the input canvas's token there, PAD or EOS, until revealed); the output's PAD cells stay
    IGNORE_LABEL in every frame, so the loss reads the same cells at every step."""
    real = labels != IGNORE_LABEL  # (B, S*S)
    diff = real & (tokens != labels)  # D
    n_reveal = (k * diff.sum(1)) // n_steps  # (B,)
    # Rank of each cell of D among D by its key (cells outside D sort after every cell of D).
    rank = torch.where(diff, order, 2.0).argsort(1).argsort(1)  # (B, S*S)
    revealed = diff & (rank < n_reveal[:, None])
    return torch.where(real, torch.where(revealed, labels, tokens), IGNORE_LABEL)


def batch_to_device(batch: dict, device) -> dict:
    """uint8 numpy canvases -> int64 tokens/labels on the device (labels: PAD -> IGNORE_LABEL)."""
    pin = device.type == "cuda"
    B, S = batch["inputs"].shape[0], batch["side"]
    def move(a):
        t = torch.from_numpy(a)
        return (t.pin_memory() if pin else t).to(device, non_blocking=True)
    tokens = move(batch["inputs"].reshape(B, S * S)).long()
    labels = move(batch["labels"].reshape(B, S * S)).long()
    labels = labels.masked_fill(labels == PAD, IGNORE_LABEL)
    return {"tokens": tokens, "labels": labels, "puzzle_ids": move(batch["puzzle_ids"])}


def act_step(model, raw: TRM, carry: Carry, fresh: dict, autocast, explore: torch.Generator | None,
             training: bool = True) -> dict:
    """One deep-supervision step on a bucket's carry (updated in place). `model` may be the DDP
    wrapper; `raw` is the TRM itself. Returns the forward's dict (loss, exact, ...) and `rows`, the
    gathered puzzle rows whose .grad feeds sparse_sign_sgd_ after backward."""
    cfg = raw.cfg
    reset = carry.halted  # (B,)
    r1 = reset[:, None]
    carry.tokens = torch.where(r1, fresh["tokens"], carry.tokens)
    carry.labels = torch.where(r1, fresh["labels"], carry.labels)
    carry.puzzle_ids = torch.where(reset, fresh["puzzle_ids"], carry.puzzle_ids)
    y0, z0 = raw.y_init.to(carry.y.dtype), raw.z_init.to(carry.z.dtype)
    carry.y = torch.where(reset[:, None, None], y0, carry.y)
    carry.z = torch.where(reset[:, None, None], z0, carry.z)
    carry.steps = torch.where(reset, torch.zeros_like(carry.steps), carry.steps)
    carry.shown = torch.where(r1, carry.tokens, carry.shown)
    labels = carry.labels
    if cfg.dis_steps:
        # A new sample draws its reveal order, kept for its dis_steps steps.
        dev = explore.device if explore is not None else "cpu"
        keys = torch.rand(carry.order.shape, generator=explore, device=dev).to(carry.order.device)
        carry.order = torch.where(r1, keys, carry.order)
        labels = dis_frame(carry.tokens, carry.labels, carry.order, carry.steps + 1, cfg.dis_steps)

    rows = raw.gather_puzzle_rows(carry.puzzle_ids, track_grad=training)
    with autocast:
        out = model(carry.shown, rows, carry.y, carry.z, labels, step=carry.steps if cfg.step_embedding else None)
    carry.y, carry.z = out["y"], out["z"]
    if cfg.dis_input == "prediction":
        carry.shown = out["logits"].detach().argmax(-1)  # the next step reads this step's answer
    with torch.no_grad():
        carry.steps = carry.steps + 1
        halted = carry.steps >= cfg.halt_max_steps
        if training and cfg.halt_max_steps > 1 and not cfg.dis_steps:  # no halting under DIS
            halted = halted | (out["halt_logit"] > 0)
            # Exploration: some rows must run at least a random 2..max steps.
            B = carry.steps.shape[0]
            u = torch.rand(B, generator=explore, device=explore.device if explore is not None else "cpu")
            m = torch.randint(2, cfg.halt_max_steps + 1, (B,), generator=explore,
                              device=explore.device if explore is not None else "cpu")
            min_steps = torch.where(u < cfg.halt_exploration_prob, m, torch.zeros_like(m)).to(carry.steps.device)
            halted = halted & (carry.steps >= min_steps)
        carry.halted = halted
    out["rows"] = rows
    return out
