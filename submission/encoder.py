"""The demonstration encoder: a first guess of an unseen task's puzzle row from its demonstrations.

Why: TRM knows a task only through its learned puzzle row. On Kaggle every hidden task starts with
a new row, and test-time training has to find it; by default the new rows start at the mean of the
pretrained rows, which points at no task in particular. This small network is fitted, after
pretraining, to map the demonstrations of every pretrained puzzle id (a task under one
augmentation) to the row pretraining learned for it; on Kaggle it maps the hidden tasks'
demonstrations to their first rows (`python -m submission --row-init encoder`).

Architecture (EncoderConfig): each demonstration pair is one canvas of cells, a cell embedded as
E_in[input token] + E_out[output token] (both grids placed at the top-left, so the cells line up);
`num_layers` post-norm attention blocks of the TRM's own kind (2-D rotary) mix the cells; the
non-PAD cells are averaged into a pair vector, the pair vectors of a puzzle averaged into one, and
a linear head maps it to the row (out_size = the TRM's hidden size). Pairs are grouped by canvas
side, so a batch computes only on the canvas its grids need.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn

from .data import PuzzleSet
from .encoding import PAD, encode_batch, needed_side
from .model import VOCAB_SIZE, Block, TRMConfig, rotary_tables, trunc_normal_


@dataclass
class EncoderConfig:
    hidden_size: int = 64       # cell / pair vector size
    num_heads: int = 2
    num_layers: int = 2         # attention blocks over the cells of one pair
    out_size: int = 512         # the TRM's hidden size: the size of a puzzle row
    canvas_side: int = 30       # the TRM's canvas: pairs larger than this are left out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def block_config(self) -> TRMConfig:
        # The blocks are the TRM's (rotary attention + SwiGLU, post-norm), with no prefix positions.
        return TRMConfig(hidden_size=self.hidden_size, num_heads=self.num_heads, mlp_inner=3 * self.hidden_size,
                         num_layers=self.num_layers, puzzle_emb_len=0, canvas_side=self.canvas_side)


class DemoEncoder(nn.Module):
    def __init__(self, ecfg: EncoderConfig):
        super().__init__()
        self.ecfg = ecfg
        self.bcfg = ecfg.block_config()
        H = ecfg.hidden_size
        self.embed_in = nn.Embedding(VOCAB_SIZE, H)
        self.embed_out = nn.Embedding(VOCAB_SIZE, H)
        self.blocks = nn.ModuleList([Block(self.bcfg) for _ in range(ecfg.num_layers)])
        self.head = nn.Linear(H, ecfg.out_size, bias=True)
        self._rope: dict = {}
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    trunc_normal_(m.weight, 1.0 / m.in_features ** 0.5)
            trunc_normal_(self.embed_in.weight, 1.0)
            trunc_normal_(self.embed_out.weight, 1.0)
            self.head.bias.zero_()

    def rope(self, side: int, device):
        key = (side, str(device))
        if key not in self._rope:
            from .model import signed_sin
            cos, sin = rotary_tables(self.bcfg, side, device)
            self._rope[key] = (cos, signed_sin(sin))
        return self._rope[key]

    def pair_vectors(self, inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        """inputs, outputs (M, S*S) int64 tokens of M pairs on one canvas side -> (M, H)."""
        side = int(round(inputs.shape[1] ** 0.5))
        h = self.embed_in(inputs) + self.embed_out(outputs)  # (M, S*S, H)
        rope = self.rope(side, inputs.device)
        for block in self.blocks:
            h = block(h, rope)
        cells = ((inputs != PAD) | (outputs != PAD)).unsqueeze(-1).to(h.dtype)  # (M, S*S, 1)
        return (h * cells).sum(1) / cells.sum(1).clamp_min(1.0)

    def forward(self, groups: list, n_puzzles: int) -> torch.Tensor:
        """groups: [(inputs (M, S*S), outputs (M, S*S), owner (M,) puzzle index)] one per canvas side
        -> (n_puzzles, out_size) predicted rows (a puzzle with no pair gets the head's bias)."""
        H = self.ecfg.hidden_size
        dev = self.head.weight.device
        total = torch.zeros(n_puzzles, H, device=dev)
        count = torch.zeros(n_puzzles, 1, device=dev)
        for inputs, outputs, owner in groups:
            v = self.pair_vectors(inputs, outputs)  # (M, H)
            total.index_add_(0, owner, v.float())
            count.index_add_(0, owner, torch.ones(len(owner), 1, device=dev))
        return self.head(total / count.clamp_min(1.0))


def pair_groups(ps: PuzzleSet, puzzle_ids: np.ndarray, canvas_side: int, device) -> list:
    """The training pairs of each puzzle id (its task's pairs under its augmentation), encoded and
    grouped by canvas side: [(inputs, outputs, owner)] with owner = index into puzzle_ids."""
    puzzle_ids = np.asarray(puzzle_ids, np.int64)
    task_of = np.searchsorted(ps.task_base, puzzle_ids, side="right") - 1  # ids are contiguous per task
    by_task: dict = {}
    for j, t in enumerate(ps.pair_task):
        by_task.setdefault(int(t), []).append(j)
    pair_j, owner = [], []
    for k, t in enumerate(task_of):
        for j in by_task.get(int(t), []):
            pair_j.append(j)
            owner.append(k)
    if not pair_j:
        return []
    pair_j, owner = np.asarray(pair_j, np.int64), np.asarray(owner, np.int64)
    gi, go = ps.pair_in[pair_j], ps.pair_out[pair_j]
    side = np.array([needed_side(max(ps.heights[a], ps.heights[b], ps.widths[a], ps.widths[b]),
                                 max(ps.heights[a], ps.heights[b], ps.widths[a], ps.widths[b]), canvas_side)
                     for a, b in zip(gi, go)])
    keep = np.maximum(np.maximum(ps.heights[gi], ps.widths[gi]), np.maximum(ps.heights[go], ps.widths[go])) <= canvas_side
    groups = []
    for s in np.unique(side[keep]):
        sel = np.flatnonzero(keep & (side == s))
        pid = puzzle_ids[owner[sel]]
        d, col = ps.dihedrals[pid], ps.colours[pid]
        shifts = np.zeros((len(sel), 2), np.int64)
        canv_in = np.empty((len(sel), s, s), np.uint8)
        canv_out = np.empty((len(sel), s, s), np.uint8)
        encode_batch(ps.buf, ps.starts, ps.heights, ps.widths, gi[sel], d, col, shifts, int(s), canv_in)
        encode_batch(ps.buf, ps.starts, ps.heights, ps.widths, go[sel], d, col, shifts, int(s), canv_out)
        to = lambda a: torch.from_numpy(a.reshape(len(sel), -1)).to(device).long()
        groups.append((to(canv_in), to(canv_out), torch.from_numpy(owner[sel]).to(device)))
    return groups


@torch.no_grad()
def predict_rows(encoder: DemoEncoder, ps: PuzzleSet, puzzle_ids: np.ndarray, canvas_side: int, device,
                 chunk: int = 256) -> torch.Tensor:
    """(len(puzzle_ids), out_size) first rows for these puzzle ids, from their demonstrations."""
    encoder.eval()
    out = []
    for lo in range(0, len(puzzle_ids), chunk):
        ids = puzzle_ids[lo:lo + chunk]
        out.append(encoder(pair_groups(ps, ids, canvas_side, device), len(ids)))
    return torch.cat(out) if out else torch.zeros(0, encoder.ecfg.out_size, device=device)


ENCODER_PREFIX = "encoder."  # its tensors' names among a checkpoint's TTT tensors (checkpoint.TTT_FILE)


def load_encoder(meta: dict, ttt_tensors: dict, device) -> DemoEncoder | None:
    """The checkpoint's demonstration encoder (config in meta["encoder"], weights among the TTT
    tensors under ENCODER_PREFIX), or None when it has none."""
    if "encoder" not in meta:
        return None
    enc = DemoEncoder(EncoderConfig.from_dict(meta["encoder"]["config"]))
    weights = {k[len(ENCODER_PREFIX):]: v for k, v in ttt_tensors.items() if k.startswith(ENCODER_PREFIX)}
    enc.load_state_dict(weights)
    return enc.to(device).eval()
