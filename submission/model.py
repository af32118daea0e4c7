"""The Tiny Recursive Model (TRM) for ARC, in one file.

What is here, top to bottom:
- TRMConfig: every architectural knob, as a plain dataclass (saved in each checkpoint's meta).
- rms_norm, rotary tables (2-D by default, so positions do not depend on the canvas side; the
  rope2d-d8 variant places each head's keys at a dihedral image of their cell, d8_rope),
  Attention, SwiGLU, the token-mixing MLP variant, Block.
- The MLP convs of later recursive models (TRMConfig.mlp_conv): SequenceConv (URM's ConvSwiGLU,
  causal along the sequence) and GridConv (a 2-D variant over the canvas).
- TRM: the shared 2-block net, input/puzzle embeddings (and, with step_embedding, a learned embedding
  of the supervision step), heads, one recursion "supervision step" (T-1 no-grad cycles, then one
  cycle with gradients, or only the last grad_updates net calls with gradients; y and z carried
  detached), the loss (cross-entropy on output tokens + 0.5 * BCE of the halt logit against "grid
  exactly right"; no halt term under deep improvement supervision, whose per-step targets
  engine.dis_frame builds), init_weights() holding every initialisation, and grow_puzzle_table()
  for unseen tasks.
- compile_step(): torch.compile of everything but the rotary lookup (rope2d-d8's per-row tables are
  built inside, from the tokens), with the batch and sequence axes dynamic, so every canvas side
  (bucket) and batch size shares one compiled graph per grad mode (tests/test_throughput.py).

The hot path is written for few memory-bound passes at hidden 512 (on one H200 the compiled step,
which fuses them, ran 1.96x the eager one; a GPU profile is still owed): RMSNorm is torch's fused
kernel, rotary is one roll and one fused multiply-add on tables cached per side and dtype, y + x
is formed once per cycle rather than once per latent update, and the puzzle prefix comes out of
the same gather as the tokens.

Shapes: B batch rows, S canvas side of this batch (S <= canvas_side), P prefix positions,
L = P + S*S sequence length, D hidden size, H heads, hd head dim.

The puzzle-embedding table is a plain tensor buffer, not an nn.Parameter: it is updated by its own
sparse sign-SGD (see engine.sparse_sign_sgd_), touching only the rows of the current batch, as in the
reference. The forward pass gathers the batch's rows into a small leaf tensor whose .grad the
optimizer reads after backward.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, EOS, COLOUR0 = 0, 1, 2  # token ids: colour c is token c + 2
VOCAB_SIZE = 12
IGNORE_LABEL = -100


@dataclass
class TRMConfig:
    hidden_size: int = 512        # D
    num_heads: int = 8            # H; head dim = D / H
    mlp_inner: int = 1536         # SwiGLU inner size (reference: reference_inner(D) = 1536 at D 512)
    num_layers: int = 2           # blocks in the one shared net
    H_cycles: int = 3             # T: cycles per supervision step (T-1 of them without gradients)
    L_cycles: int = 4             # n: latent updates per cycle
    halt_max_steps: int = 16      # supervision steps per sample (training cap and evaluation count)
    halt_exploration_prob: float = 0.1  # chance a row gets a random minimum of 2..max steps
    puzzle_emb_len: int = 16      # P prefix positions; the puzzle vector sits in position 0
    canvas_side: int = 30         # largest canvas; a batch may use a smaller side S
    mixer: str = "attention"      # "attention" or "mlp" (token-mixing SwiGLU of inner reference_inner(L); fixed canvas)
    pos_encoding: str = "rope2d"  # "rope2d" (row/col halves, canvas-size free), "rope1d" (reference, fixed
                                  # canvas) or "rope2d-d8" (a kit addition: 2-D rotary in the input grid's
                                  # frame, each head's keys at one dihedral image of their cell; d8_rope)
    rope_theta: float = 10000.0
    rms_eps: float = 1e-5
    edge_features: int = 0        # F > 0: each cell also gets sinusoids (F frequencies) of its signed
                                  # distances to the input grid's four edges, through a learned linear
                                  # map (a kit addition, not in the reference; 0 = off)
    eos_corner: bool = True       # the canvas layout it was trained on: the EOS cell diagonal to the
                                  # grid marked (the kit's first layout) or PAD (the reference's);
                                  # every encoding for this model follows it (submission/encoding.py)
    # Recipes from later recursive models (each off by default; off reproduces the model without them):
    mlp_conv: str = "none"        # "1d": URM's ConvSwiGLU (arXiv 2512.14693): a causal depthwise conv of
                                  # mlp_conv_kernel taps along the flattened sequence (prefix, then the
                                  # canvas row by row) on the MLP's gated product, then SiLU; "2d" (a kit
                                  # variant): a depthwise k x k conv over the canvas cells, the prefix
                                  # passed through; "none": the plain SwiGLU
    mlp_conv_kernel: int = 2      # taps of the 1-D conv (URM: 2) or side of the 2-D one (odd)
    grad_updates: int = 0         # K > 0: only the last K of a supervision step's H_cycles * (L_cycles + 1)
                                  # net calls carry gradients, the rest run forward only (URM's truncated
                                  # backprop through loops); 0: the last cycle's L_cycles + 1 (TRM's)
    dis_steps: int = 0            # N > 0: deep improvement supervision (arXiv 2511.16886): supervision
                                  # step k of exactly N (no halting) is trained on frame k of a path from
                                  # the input to the output (engine.dis_frame); halt_max_steps == N
    dis_input: str = "input"      # what steps 2..N read: "input" (the task's input again, as DIS's pseudocode)
                                  # or "prediction" (the previous step's argmax answer, as DIS's code)
    step_embedding: bool = False  # a learned embedding of the supervision step (0-based, the last row
                                  # reused past halt_max_steps) added to every position's input (DIS's)
    num_puzzles: int = 1          # rows of the puzzle table (row 0 is the blank id)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TRMConfig":
        # Old checkpoints are patched here and only here: unknown keys dropped, missing take defaults.
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    @property
    def rope2d(self) -> bool:
        """Row/column rotary (split head dims), with or without the dihedral key images."""
        return self.pos_encoding in ("rope2d", "rope2d-d8")

    @property
    def grad_updates_per_step(self) -> int:
        """Net calls of a supervision step that carry gradients (the last ones)."""
        return self.grad_updates or self.L_cycles + 1

    @property
    def fixed_canvas(self) -> bool:
        """True when every batch must use the full canvas (the token-mixing MLP and 1-D rotary need it)."""
        return self.mixer == "mlp" or self.pos_encoding == "rope1d"


def reference_inner(n: int) -> int:
    """The reference's SwiGLU inner size for input size n at expansion 4: round(4 * n * 2/3) rounded
    up to a multiple of 256 (models/layers.py, SwiGLU). 512 -> 1536; 916 (the 30x30 canvas + 16) -> 2560."""
    return -(-round(4 * n * 2 / 3) // 256) * 256


def compute_dtype(device: torch.device) -> torch.dtype:
    """The dtype the recursion runs in: the autocast context's when one is on for this device, else
    float32. It reads the context and chooses nothing: the caller's autocast was chosen by
    runtime.autocast_dtype (bf16 on GPUs that have it, float32 elsewhere). The reference runs its
    whole forward in one dtype (forward_dtype, bfloat16): the input embedding, the carried states
    and the residual stream; so does this model under autocast."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return torch.float32


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    # Weightless RMSNorm computed in float32 for stability, returned in the input's dtype (the
    # reference's rule). torch's rms_norm does exactly that (it upcasts low-precision inputs) in one
    # fused kernel instead of five passes; its results equal the written-out formula bit for bit on
    # CPU in float32 and bfloat16 (tests/test_throughput.py). The .to() is a no-op unless autocast
    # returned float32 for a low-precision input.
    return F.rms_norm(x, (x.shape[-1],), eps=eps).to(x.dtype)


def trunc_normal_(t: torch.Tensor, std: float) -> torch.Tensor:
    # Truncated at +-2 std, then rescaled so the kept distribution has the requested std
    # (a truncated normal at 2 sigma has std 0.8796 of the untruncated one).
    with torch.no_grad():
        nn.init.trunc_normal_(t, mean=0.0, std=1.0, a=-2.0, b=2.0)
        t.mul_(std / 0.87962566)
    return t


def canvas_positions(cfg: TRMConfig, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, col) of every sequence position for a canvas of this side: (L,), (L,) float.

    Prefix positions sit on a virtual row -1 at columns 0..P-1, so they stay distinct from each
    other and from the canvas; canvas cell (r, c) is at (r, c) whatever the side, which lets one
    model serve batches of different canvas sides.
    """
    P = cfg.puzzle_emb_len
    r = torch.arange(side).repeat_interleave(side)
    c = torch.arange(side).repeat(side)
    rows = torch.cat([torch.full((P,), -1), r]).float()
    cols = torch.cat([torch.arange(P), c]).float()
    return rows, cols


def rotary_tables(cfg: TRMConfig, side: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of shape (L, hd) for the rotate-half convention."""
    hd = cfg.hidden_size // cfg.num_heads
    if cfg.pos_encoding == "rope1d":
        pos = torch.arange(cfg.puzzle_emb_len + side * side).float()
        inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2).float() / hd))  # (hd/2,)
        ang = pos[:, None] * inv[None, :]  # (L, hd/2)
    else:
        # Half the frequency pairs turn with the row, half with the column.
        rows, cols = canvas_positions(cfg, side)
        q = hd // 4
        inv = 1.0 / (cfg.rope_theta ** (torch.arange(q).float() / q))  # (hd/4,)
        ang = torch.cat([rows[:, None] * inv, cols[:, None] * inv], dim=1)  # (L, hd/2)
    ang = torch.cat([ang, ang], dim=1)  # (L, hd)
    return ang.cos().to(device), ang.sin().to(device)


# The dihedral transforms in the order rope2d-d8 gives them to heads (head h: D8_ORDER[h % 8]): with
# 2 heads identity and flip_lr, with 4 the three reflections flip_lr, flip_ud and transpose besides
# the identity (the rotations are two of them in turn, anti_transpose three: more attention hops).
D8_ORDER = ("identity", "flip_lr", "flip_ud", "transpose", "rot180", "rot90", "rot270", "anti_transpose")


def grid_box(tokens: torch.Tensor) -> tuple:
    """(B, S*S) canvas tokens -> top, left, height - 1, width - 1 of the input grid (the bounding box of
    its colour tokens), each (B, 1) int64. A canvas without colour gets the whole canvas."""
    S = int(round(math.sqrt(tokens.shape[1])))
    top, bottom, left, right = colour_extent(tokens)
    top, bottom, left, right = (t.view(-1, 1) for t in (top, bottom, left, right))
    empty = bottom < top  # (B, 1)
    zero, last = torch.zeros_like(top), torch.full_like(top, S - 1)
    top, left = torch.where(empty, zero, top), torch.where(empty, zero, left)
    bottom, right = torch.where(empty, last, bottom), torch.where(empty, last, right)
    return top, left, bottom - top, right - left


def d8_images(r: torch.Tensor, c: torch.Tensor, hh: torch.Tensor, ww: torch.Tensor) -> dict:
    """Where each dihedral transform of an (hh+1) x (ww+1) grid puts the input cell (r, c) (grid
    coordinates, any shape that broadcasts): {name: (row, col) in the output}. E.g. flip_lr reads
    output (i, j) from input (i, ww - j), so input (r, c) lands at (r, ww - c); rot90 (clockwise)
    reads output (i, j) from input (hh - j, i), so (r, c) lands at (c, hh - r)."""
    return {"identity": (r, c), "flip_lr": (r, ww - c), "flip_ud": (hh - r, c), "transpose": (c, r),
            "rot180": (hh - r, ww - c), "rot90": (c, hh - r), "rot270": (ww - c, r),
            "anti_transpose": (ww - c, hh - r)}


def d8_rope(cfg: "TRMConfig", tokens: torch.Tensor) -> tuple:
    """Rotary tables for pos_encoding "rope2d-d8", per row: (cos_q, sin_q) (B, L, 1, hd) and (cos_k,
    sin_k) (B, L, H, hd), float32, sin with the rotate-half sign folded in (signed_sin).

    Positions are 2-D rotary in the input grid's own frame (row and column from its top-left
    corner, so a translated grid keeps its positions). A query sits at its cell; the key of head h
    sits at the cell's image under the dihedral transform D8_ORDER[h % 8] of the grid. The score of
    a query with a key depends on their offset, so a head that prefers offset 0 (what rotary makes
    easy to learn) reads, at each output cell, the input cell a flip, rotation or transpose would
    bring there. Why: a dihedral transform moves each cell by an offset that depends on where the
    grid ends, which relative positions alone cannot express. The prefix positions sit on a row of
    their own, far above any cell, and are not transformed."""
    B, N = tokens.shape
    S = int(round(math.sqrt(N)))
    P, H, hd = cfg.puzzle_emb_len, cfg.num_heads, cfg.hidden_size // cfg.num_heads
    dev = tokens.device
    top, left, hh, ww = (t.float() for t in grid_box(tokens))  # (B, 1)
    idx = torch.arange(S, device=dev, dtype=torch.float32)
    r = idx.repeat_interleave(S)[None] - top  # (B, S*S) rows in the grid's frame
    c = idx.repeat(S)[None] - left
    images = d8_images(r, c, hh, ww)
    pr = torch.full((B, P), -2.0 * cfg.canvas_side - 2, device=dev)  # the prefix row
    pc = torch.arange(P, device=dev, dtype=torch.float32).expand(B, P)

    def rows_cols(name):
        rr, cc = images[name]
        return torch.cat([pr, rr], 1), torch.cat([pc, cc], 1)  # (B, L) each

    q = hd // 4
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(q, device=dev, dtype=torch.float32) / q))  # (hd/4,)

    def tables(rows, cols):  # (..., L) -> cos, signed sin (..., L, hd)
        ang = torch.cat([rows[..., None] * inv, cols[..., None] * inv], -1)  # (..., L, hd/2)
        ang = torch.cat([ang, ang], -1)
        return ang.cos(), signed_sin(ang.sin())

    cos_q, sin_q = tables(*rows_cols("identity"))  # (B, L, hd)
    names = [D8_ORDER[h % 8] for h in range(H)]
    kr, kc = zip(*(rows_cols(n) for n in names))
    cos_k, sin_k = tables(torch.stack(kr, 2).transpose(1, 2), torch.stack(kc, 2).transpose(1, 2))  # (B, H, L, hd)
    return cos_q[:, :, None], sin_q[:, :, None], cos_k.transpose(1, 2), sin_k.transpose(1, 2)


def rotate_rows(x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
    """rotate() with per-row tables: x (B, L, H, hd), cos and sin_signed (B, L, H or 1, hd) float32."""
    xf = x.to(torch.promote_types(x.dtype, cos.dtype))
    return torch.addcmul(xf * cos, xf.roll(xf.shape[-1] // 2, dims=-1), sin_signed).to(x.dtype)


def signed_sin(sin: torch.Tensor) -> torch.Tensor:
    """(L, hd) sin -> [-sin_1, sin_2]: the rotate-half sign folded into the table, once per side."""
    h = sin.shape[-1] // 2
    return torch.cat([-sin[..., :h], sin[..., h:]], dim=-1)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
    """Rotate-half rotary on x (B, L, ..., hd) with float32 (L, hd) tables broadcast over the middle axes.

    x * cos + [-x2, x1] * sin  ==  x * cos + roll(x, hd/2) * [-sin_1, sin_2]: one roll and one fused
    multiply-add instead of a negation, a cat and three elementwise passes (equal to float rounding:
    the fused multiply-add rounds once). Computed in float32 and cast back, as the reference does
    (models/layers.py apply_rotary_pos_emb)."""
    shape = (1, cos.shape[0]) + (1,) * (x.dim() - 3) + (cos.shape[1],)
    xf = x.to(torch.promote_types(x.dtype, cos.dtype))  # bf16 -> float32; float32/64 unchanged
    return torch.addcmul(xf * cos.view(shape), xf.roll(xf.shape[-1] // 2, dims=-1), sin_signed.view(shape)).to(x.dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary with the plain (cos, sin) tables of rotary_tables (the model uses rotate + cached tables)."""
    return rotate(x, cos, signed_sin(sin))


class Attention(nn.Module):
    def __init__(self, cfg: TRMConfig):
        super().__init__()
        self.H = cfg.num_heads
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size, bias=False)
        self.out = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=False)

    def forward(self, h: torch.Tensor, rope) -> torch.Tensor:
        # rope: (cos, sin_signed), each (L, hd) float32 (TRM.rope), or rope2d-d8's four per-row tables
        # (d8_rope); the rotation runs in float32.
        B, L, D = h.shape
        qkv = self.qkv(h).view(B, L, 3, self.H, D // self.H)  # (B, L, 3, H, hd)
        if len(rope) == 4:
            q, k = rotate_rows(qkv[:, :, 0], *rope[:2]), rotate_rows(qkv[:, :, 1], *rope[2:])
        else:
            # Rotate q and k in one op: (B, L, 2, H, hd)
            q, k = rotate(qkv[:, :, :2], *rope).unbind(2)
        v = qkv[:, :, 2]
        # SDPA wants (B, H, L, hd); attention is non-causal (the whole canvas sees itself).
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.out(o.transpose(1, 2).reshape(B, L, D))


class SwiGLU(nn.Module):
    """down(SiLU(G) * U) with G, U = gate_up(x). With a conv (URM's ConvSwiGLU, arXiv 2512.14693
    section 3.1): the gated product H goes through the depthwise conv, then SiLU, and that replaces H
    before the down projection (no skip around the conv)."""

    def __init__(self, dim: int, inner: int, conv: nn.Module | None = None):
        super().__init__()
        self.gate_up = nn.Linear(dim, 2 * inner, bias=False)
        self.down = nn.Linear(inner, dim, bias=False)
        if conv is not None:
            self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, u = self.gate_up(x).chunk(2, dim=-1)
        h = F.silu(g) * u  # (B, L, I)
        if hasattr(self, "conv"):
            h = F.silu(self.conv(h))
        return self.down(h)


class SequenceConv(nn.Module):
    """Causal depthwise 1-D conv along the sequence, URM's: out[t] = b + sum_j w[j] * h[t - (k-1) + j]
    per channel, zeros before position 0. The sequence is the prefix then the canvas row by row, so a
    cell mixes with the cells just before it in reading order (with k = 2 its left neighbour; column
    0 with the previous row's last cell, the first cell with the last prefix position).

    Init (a kit choice; URM keeps PyTorch's uniform default): the identity, the current position's
    tap 1 and the rest and the bias 0, so the block starts as the plain SwiGLU but for the extra SiLU
    and the conv learns to mix. Parameters are made empty (no random draw), so every other weight of
    a model gets the same values with the conv as without it from the same seed."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, 1, kernel))  # F.conv1d's depthwise layout
        self.bias = nn.Parameter(torch.empty(channels))

    @torch.no_grad()
    def reset_parameters(self):
        self.weight.zero_()
        self.weight[:, 0, -1] = 1.0  # the current position
        self.bias.zero_()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # h (B, L, I) -> (B, L, I): one fused multiply-add per tap on h shifted s = k-1-j positions
        # right (zeros in front: causal). On the CPU, 3.4x faster forward + backward than F.conv1d on
        # the transposed sequence (cpu-small's shape, B 32, L 125, I 192).
        k, L = self.weight.shape[-1], h.shape[1]
        w = self.weight.to(h.dtype)
        out = self.bias.to(h.dtype).expand_as(h)
        for j in range(k):
            s = k - 1 - j
            shifted = h if s == 0 else F.pad(h, (0, 0, s, 0))[:, :L]  # (B, L, I): h[t - s]
            out = torch.addcmul(out, shifted, w[:, 0, j])
        return out


class GridConv(nn.Module):
    """Depthwise k x k conv over the canvas cells, zero padding (a kit variant of URM's conv: an ARC
    cell's neighbours are 2-D). The sequence is P prefix positions then the S x S canvas row by row;
    the canvas side S is read from the sequence length, so every bucket shares the module; the prefix
    positions pass through unchanged. Init as SequenceConv: the identity (centre tap 1)."""

    def __init__(self, channels: int, kernel: int, prefix: int):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"mlp_conv 2d needs an odd kernel (a centred window), got --mlp-conv-kernel {kernel}")
        self.prefix = prefix
        self.weight = nn.Parameter(torch.empty(channels, 1, kernel, kernel))  # F.conv2d's depthwise layout
        self.bias = nn.Parameter(torch.empty(channels))

    @torch.no_grad()
    def reset_parameters(self):
        k = self.weight.shape[-1]
        self.weight.zero_()
        self.weight[:, 0, k // 2, k // 2] = 1.0
        self.bias.zero_()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, L, I = h.shape
        P, k = self.prefix, self.weight.shape[-1]
        S = int(round(math.sqrt(L - P)))
        grid = h[:, P:].reshape(B, S, S, I).permute(0, 3, 1, 2)  # (B, I, S, S), channels-last strides
        out = F.conv2d(grid, self.weight.to(h.dtype), self.bias.to(h.dtype), padding=k // 2, groups=I)
        return torch.cat([h[:, :P], out.permute(0, 2, 3, 1).reshape(B, S * S, I)], dim=1)  # (B, L, I)


def mlp_conv(cfg: "TRMConfig") -> nn.Module | None:
    """The conv of the block MLP that cfg.mlp_conv names (None for the plain SwiGLU)."""
    if cfg.mlp_conv == "none":
        return None
    if cfg.mlp_conv == "1d":
        return SequenceConv(cfg.mlp_inner, cfg.mlp_conv_kernel)
    if cfg.mlp_conv == "2d":
        return GridConv(cfg.mlp_inner, cfg.mlp_conv_kernel, cfg.puzzle_emb_len)
    raise ValueError(f"mlp_conv must be none, 1d or 2d, got {cfg.mlp_conv!r}")


class Block(nn.Module):
    """Post-norm block: h = norm(h + mix(h)); h = norm(h + mlp(h)). With the token-mixing MLP, the
    first residual and its norm are taken along the sequence axis, as in the reference
    (models/recursive_reasoning/trm.py, the mlp_t branch)."""

    def __init__(self, cfg: TRMConfig):
        super().__init__()
        self.eps = cfg.rms_eps
        if cfg.mixer == "attention":
            self.attn = Attention(cfg)
        elif cfg.mixer == "mlp":
            L = cfg.puzzle_emb_len + cfg.canvas_side ** 2
            self.token_mlp = SwiGLU(L, reference_inner(L))  # mixes along the sequence axis
        else:
            raise ValueError(f"mixer must be 'attention' or 'mlp', got {cfg.mixer!r}")
        self.mlp = SwiGLU(cfg.hidden_size, cfg.mlp_inner, mlp_conv(cfg))

    def forward(self, h: torch.Tensor, rope) -> torch.Tensor:
        if hasattr(self, "attn"):
            h = rms_norm(h + self.attn(h, rope), self.eps)
        else:
            t = h.transpose(1, 2)  # (B, D, L)
            h = rms_norm(t + self.token_mlp(t), self.eps).transpose(1, 2)  # normalised over L
        return rms_norm(h + self.mlp(h), self.eps)


def colour_extent(tokens: torch.Tensor) -> tuple:
    """(B, S*S) canvas tokens -> the first and last row and column holding a colour token: top,
    bottom, left, right, each (B,) int64; a canvas without colour gives top = left = S and
    bottom = right = -1 (an empty box past the canvas)."""
    B, N = tokens.shape
    S = int(round(math.sqrt(N)))
    colour = (tokens >= COLOUR0).view(B, S, S)
    idx = torch.arange(S, device=tokens.device)
    rows_any, cols_any = colour.any(2), colour.any(1)  # (B, S)
    return (torch.where(rows_any, idx, S).amin(1), torch.where(rows_any, idx, -1).amax(1),
            torch.where(cols_any, idx, S).amin(1), torch.where(cols_any, idx, -1).amax(1))


def edge_distances(tokens: torch.Tensor) -> torch.Tensor:
    """(B, S*S) canvas tokens -> (B, S, S, 4) int64: each cell's signed distance, in cells, from the
    input grid's top edge, to its bottom edge, from its left edge and to its right edge (row - top,
    bottom - row, col - left, right - col). The grid is the bounding box of the colour tokens, so a
    translated grid carries its distances with it; a cell outside the box has a negative distance
    to the edge it lies beyond (the cells of an output larger than its input). A canvas without
    colour gets distances measured from an empty box past the canvas (all negative)."""
    B, N = tokens.shape
    S = int(round(math.sqrt(N)))
    top, bottom, left, right = (t.view(B, 1, 1) for t in colour_extent(tokens))
    idx = torch.arange(S, device=tokens.device)
    r, c = idx.view(1, S, 1), idx.view(1, 1, S)
    return torch.stack(torch.broadcast_tensors(r - top, bottom - r, c - left, right - c), -1)


class TRM(nn.Module):
    def __init__(self, cfg: TRMConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.hidden_size
        if cfg.pos_encoding not in ("rope2d", "rope1d", "rope2d-d8"):
            raise ValueError(f"pos_encoding must be rope2d, rope1d or rope2d-d8, got {cfg.pos_encoding!r}")
        if D % (4 * cfg.num_heads) and cfg.rope2d:
            raise ValueError(f"{cfg.pos_encoding} needs head dim divisible by 4")
        calls = cfg.H_cycles * (cfg.L_cycles + 1)
        if cfg.grad_updates and not 2 <= cfg.grad_updates <= calls:
            # K = 1 would train only the final y-update, which never reads the input: no gradient
            # would reach the embeddings or the puzzle rows.
            raise ValueError(f"--grad-updates {cfg.grad_updates}: must be 2..{calls} (the H_cycles x (L_cycles + 1) "
                             f"net calls of a supervision step), or 0 for the last cycle's {cfg.L_cycles + 1}")
        if cfg.mlp_conv != "none" and cfg.mlp_conv_kernel < 1:
            raise ValueError(f"--mlp-conv-kernel must be >= 1, got {cfg.mlp_conv_kernel}")
        if cfg.dis_steps and cfg.dis_steps != cfg.halt_max_steps:
            raise ValueError(f"deep improvement supervision runs exactly --dis-steps {cfg.dis_steps} supervision steps: "
                             f"halt_max_steps must equal it, got {cfg.halt_max_steps}")
        if cfg.dis_input not in ("input", "prediction"):
            raise ValueError(f"--dis-input must be input or prediction, got {cfg.dis_input!r}")
        if cfg.dis_input == "prediction" and not cfg.dis_steps:
            raise ValueError("--dis-input prediction feeds back deep improvement supervision's steps: it needs --dis-steps")
        self.embed = nn.Embedding(VOCAB_SIZE, D)
        if cfg.step_embedding:
            # (halt_max_steps, D), one row per supervision step; made empty (no random draw), so the
            # other weights get the same values from a seed with the table as without it.
            self.step_emb = nn.Parameter(torch.empty(cfg.halt_max_steps, D))
        if cfg.edge_features:
            # 4 edges x F frequencies x (sin, cos) + an inside-the-grid flag -> D
            self.edge_proj = nn.Linear(8 * cfg.edge_features + 1, D, bias=False)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.num_layers)])
        self.lm_head = nn.Linear(D, VOCAB_SIZE, bias=False)
        self.q_head = nn.Linear(D, 1, bias=True)  # halt logit from prefix position 0
        # Fixed random start states for y (answer) and z (latent), broadcast over positions.
        self.register_buffer("y_init", torch.zeros(D))
        self.register_buffer("z_init", torch.zeros(D))
        # The puzzle table (num_puzzles, D): zero-initialised, trained by sparse sign-SGD.
        self.register_buffer("puzzle_emb", torch.zeros(cfg.num_puzzles, D))
        self._rope_cache: dict = {}
        self._compiled_step, self._compile_dynamic = None, True  # set by compile_step()
        self.use_compiled_step = True  # False runs the eager step on the same weights (train.bench times both)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self):
        D = self.cfg.hidden_size
        # Truncated LeCun normal everywhere: std = 1 / sqrt(fan_in).
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, 1.0 / math.sqrt(m.in_features))
        trunc_normal_(self.embed.weight, 1.0 / math.sqrt(D))
        if self.cfg.edge_features:
            # About a token embedding's scale (1/sqrt(D)): the features have rms ~0.7 over 8F+1 inputs.
            trunc_normal_(self.edge_proj.weight, 1.0 / math.sqrt(self.edge_proj.in_features * D))
        # The halt head starts silent: weight 0, bias -5 (sigmoid ~ 0.007), so early rows run long.
        self.q_head.weight.zero_()
        self.q_head.bias.fill_(-5.0)
        trunc_normal_(self.y_init, 1.0)
        trunc_normal_(self.z_init, 1.0)
        self.puzzle_emb.zero_()
        # Last, so that the draws above do not depend on them: the MLP convs start as the identity
        # (SequenceConv), the step table at a token embedding's scale.
        for m in self.modules():
            if isinstance(m, (SequenceConv, GridConv)):
                m.reset_parameters()
        if self.cfg.step_embedding:
            trunc_normal_(self.step_emb, 1.0 / math.sqrt(D))

    # ----- puzzle table -----
    @torch.no_grad()
    def grow_puzzle_table(self, n_new: int, init: str = "mean") -> range:
        """Append n_new rows (for unseen tasks); existing rows are untouched. Returns the new ids."""
        old = self.puzzle_emb
        if init == "mean" and old.shape[0] > 1:
            row = old[1:].mean(0, keepdim=True)  # row 0 is the blank id
        else:
            row = torch.zeros(1, old.shape[1], device=old.device, dtype=old.dtype)
        self.puzzle_emb = torch.cat([old, row.expand(n_new, -1).clone()], dim=0)
        self.cfg.num_puzzles = self.puzzle_emb.shape[0]
        return range(old.shape[0], self.puzzle_emb.shape[0])

    def gather_puzzle_rows(self, puzzle_ids: torch.Tensor, track_grad: bool) -> torch.Tensor:
        """(B,) ids -> (B, D) rows; when track_grad, a leaf whose .grad sign-SGD consumes."""
        rows = self.puzzle_emb[puzzle_ids]
        if track_grad:
            rows = rows.detach().requires_grad_(True)
        return rows

    # ----- recursion -----
    def rope(self, side: int, device, dtype=torch.float32):
        """(cos, sin_signed), each (L, hd), for a canvas of this side, cached per (side, device,
        dtype): built once, cast once (not on every attention call)."""
        key = (side, str(device), dtype)
        if key not in self._rope_cache:
            cos, sin = rotary_tables(self.cfg, side, device)
            self._rope_cache[key] = (cos.to(dtype), signed_sin(sin).to(dtype))
        return self._rope_cache[key]

    def input_embedding(self, tokens: torch.Tensor, puzzle_rows: torch.Tensor, step=None) -> torch.Tensor:
        # tokens (B, S*S) int; puzzle_rows (B, D); step (B,) int64 0-based supervision step (with
        # step_embedding) -> x (B, L, D)
        # The reference scales the whole input (puzzle prefix and tokens) by sqrt(D): a sign-SGD step
        # of size lr on a puzzle row moves the model's input by lr * sqrt(D) (0.23 at the paper's
        # lr 1e-2, D 512), on the scale of a token embedding (~1).
        # One gather writes the whole (B, L, D) input: the prefix positions read an extra zero row
        # (id VOCAB_SIZE) of the scaled (13, D) table, then position 0 takes the puzzle row. Scaling
        # the table instead of the gathered output gives the same products.
        B, P = tokens.shape[0], self.cfg.puzzle_emb_len
        scale = math.sqrt(self.cfg.hidden_size)
        w = self.embed.weight
        table = torch.cat([w * scale, w.new_zeros(1, w.shape[1])])  # (VOCAB_SIZE + 1, D)
        ids = torch.cat([tokens.new_full((B, P), VOCAB_SIZE), tokens], dim=1)  # (B, L)
        x = F.embedding(ids, table)  # (B, L, D)
        x[:, 0] = puzzle_rows.to(x.dtype) * scale
        if self.cfg.edge_features:
            x[:, P:] = x[:, P:] + self.edge_embedding(tokens).to(x.dtype) * scale
        if self.cfg.step_embedding:
            if step is None:
                raise ValueError("this model conditions on the supervision step (step_embedding): pass step")
            e = F.embedding(step.clamp(max=self.cfg.halt_max_steps - 1), self.step_emb)  # (B, D)
            x = x + (e * scale).to(x.dtype)[:, None]
        return x

    def edge_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, S*S) canvas tokens -> (B, S*S, D): where each cell sits relative to the input grid.

        Each cell's signed distances to the input grid's four edges (edge_distances) enter as fixed
        sinusoids of F frequencies, periods 2 to 4 x canvas_side, plus an inside-the-grid flag,
        through the learned edge_proj. Why: rotary positions are relative, so a cell cannot tell how
        far it is from the grid's edges, which a flip (column c <- W-1-c) or a transpose (cell
        (r, c) <- (c, r)) needs; with these features both are a content match in attention.
        Measured (docs/benchmarks.md, 2026-12-02): a small gain with rope2d, none on top of
        rope2d-d8 (which makes the same transforms an offset match instead), at 20% of the speed."""
        B, N = tokens.shape
        d = edge_distances(tokens).float()  # (B, S, S, 4)
        inside = (d >= 0).all(-1, keepdim=True).float()  # (B, S, S, 1)
        F_ = self.cfg.edge_features
        freq = math.pi * (2.0 * self.cfg.canvas_side) ** (-torch.arange(F_, device=tokens.device) / max(F_ - 1, 1))
        ang = d[..., None] * freq  # (B, S, S, 4, F)
        feats = torch.cat([ang.sin().flatten(-2), ang.cos().flatten(-2), inside], -1)  # (B, S, S, 8F + 1)
        return self.edge_proj(feats.to(self.edge_proj.weight.dtype)).view(B, N, -1)

    def net(self, h: torch.Tensor, injection: torch.Tensor, rope) -> torch.Tensor:
        # The one shared net: input injection is additive, then the blocks.
        h = h + injection
        for block in self.blocks:
            h = block(h, rope)
        return h

    def initial_state(self, B: int, L: int, device, dtype=torch.float32):
        y = self.y_init.to(device, dtype).expand(B, L, -1).clone()
        z = self.z_init.to(device, dtype).expand(B, L, -1).clone()
        return y, z

    def supervision_step(self, x, y, z, rope):
        """One supervision step: T cycles of n latent updates z <- net(z, y + x) and one answer
        update y <- net(y, z), T * (n + 1) net calls in all, of which only the last K =
        cfg.grad_updates_per_step carry gradients; the others run forward only, so no gradient flows
        through them to the weights or the input (K = n + 1: TRM's T-1 cycles without gradients, one
        with; smaller K or larger: URM's truncated backprop through loops, counted in net calls).
        Returns (y, z) with grad. y + x is the same for the n latent updates of a cycle: formed once
        per cycle (with gradients, when a later call of the cycle needs them)."""
        T, n = self.cfg.H_cycles, self.cfg.L_cycles
        free = T * (n + 1) - self.cfg.grad_updates_per_step  # net calls forward only, the first ones
        grad = torch.is_grad_enabled()
        call = 0
        for _ in range(T):
            with torch.set_grad_enabled(grad and call + n - 1 >= free):  # a z-update of this cycle needs y + x
                yx = y + x
            for _ in range(n):
                with torch.set_grad_enabled(grad and call >= free):
                    z = self.net(z, yx, rope)
                call += 1
            with torch.set_grad_enabled(grad and call >= free):
                y = self.net(y, z, rope)
            call += 1
        return y, z

    def forward(self, tokens, puzzle_rows, y, z, labels=None, step=None):
        """One supervision step.

        tokens (B, S*S) int64 canvas tokens; puzzle_rows (B, D); y, z (B, L, D) carried states
        (reset rows already replaced by the caller); labels (B, S*S) int64 with IGNORE_LABEL on PAD;
        step (B,) int64, each row's supervision step from 0 (read only with cfg.step_embedding).
        Returns dict: logits (B, S*S, 12), halt_logit (B,), y, z (detached, for the carry), and
        with labels: loss (scalar, mean over rows), per-row exact (B,) bool, token accuracy.
        The rotary lookup stays here, outside the (possibly compiled) step: the step sees only
        tensors, so a new canvas side is a new size on the sequence axis, not a new graph.
        (rope2d-d8 builds its per-row tables inside the step instead; the cached side tables are
        passed anyway, unused, so every encoding shares the step's signature.)
        """
        side = int(round(math.sqrt(tokens.shape[1])))
        cos, sin_signed = self.rope(side, tokens.device)  # float32 tables (the rotation runs in float32)
        if self._compiled_step is None or not self.use_compiled_step:
            return self.step(tokens, puzzle_rows, y, z, labels, cos, sin_signed, step)
        if self._compile_dynamic:
            # The batch and sequence axes differ from call to call (buckets, token-sized batches).
            for t, dims in ((tokens, (0, 1)), (puzzle_rows, (0,)), (y, (0, 1)), (z, (0, 1)), (labels, (0, 1)),
                            (cos, (0,)), (sin_signed, (0,)), (step, (0,))):
                if t is not None:
                    for d in dims:
                        torch._dynamo.maybe_mark_dynamic(t, d)
        return self._compiled_step(tokens, puzzle_rows, y, z, labels, cos, sin_signed, step)

    def step(self, tokens, puzzle_rows, y, z, labels, cos, sin_signed, step=None):
        """forward() with the rotary tables given: (L, hd) cos and sin_signed (see rotate). rope2d-d8
        builds its per-row tables here instead, from the tokens (once per supervision step)."""
        rope = d8_rope(self.cfg, tokens) if self.cfg.pos_encoding == "rope2d-d8" else (cos, sin_signed)
        # Input, states and residual stream in one dtype (bf16 under autocast, else float32); the
        # states come back in it, so the carries are kept in it too.
        dt = compute_dtype(tokens.device)
        x = self.input_embedding(tokens, puzzle_rows, step).to(dt)
        y, z = self.supervision_step(x, y.to(dt), z.to(dt), rope)
        P = self.cfg.puzzle_emb_len
        logits = self.lm_head(y[:, P:])  # (B, S*S, 12)
        halt_logit = self.q_head(y[:, 0]).squeeze(-1).float()  # (B,)
        out = {"logits": logits, "halt_logit": halt_logit, "y": y.detach(), "z": z.detach()}
        if labels is not None:
            # Deep improvement supervision has no halting: its halt head is not trained.
            out.update(self.loss(logits, halt_logit, labels, halt_weight=0.0 if self.cfg.dis_steps else 0.5))
        return out

    def compile_step(self, dynamic: bool = True, **compile_kwargs) -> "TRM":
        """torch.compile the supervision step (forward() minus the rotary lookup), in place.

        dynamic=True: the batch and sequence axes are symbolic, so all canvas sides (buckets) and
        batch sizes share one graph per grad mode (training, and no_grad inference): two compiles
        in all instead of one per side. dynamic=False: one graph per distinct shape (each side
        compiles on first use; inductor's on-disk cache makes later processes cheaper).
        The weights are untouched: state_dict() and checkpoints are the same as uncompiled."""
        # dynamic: only the axes forward() marks become symbolic (the hidden size and head dim stay
        # static, which keeps the matmuls specialised). static: nothing is marked, and dynamo's
        # automatic dynamic shapes are off, so each new shape is a new graph.
        self._compile_dynamic = dynamic
        self._compiled_step = torch.compile(self.step, dynamic=None if dynamic else False, **compile_kwargs)
        return self

    @staticmethod
    def allow_graphs(n: int) -> None:
        """Let dynamo keep at least n graphs of the step before it gives up and runs it eager (a
        static compile needs one per canvas side and grad mode; torch's default is 8). The setting's
        name is cache_size_limit on every torch the kit supports: 2.7 renamed it recompile_limit and
        kept the old name as an alias."""
        config = torch._dynamo.config
        config.cache_size_limit = max(config.cache_size_limit, n)

    @staticmethod
    def loss(logits, halt_logit, labels, halt_weight: float = 0.5):
        mask = labels != IGNORE_LABEL  # (B, S*S)
        n_tok = mask.sum(-1).clamp_min(1)  # (B,)
        tok_loss = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=IGNORE_LABEL,
                                   reduction="none")  # (B, S*S)
        lm_loss = (tok_loss.sum(-1) / n_tok).mean()
        with torch.no_grad():
            correct = (logits.argmax(-1) == labels) & mask
            exact = correct.sum(-1) == mask.sum(-1)  # (B,) whole grid right
            tok_acc = (correct.sum(-1) / n_tok).mean()
        halt_loss = F.binary_cross_entropy_with_logits(halt_logit, exact.float())
        return {"loss": lm_loss + halt_weight * halt_loss if halt_weight else lm_loss, "lm_loss": lm_loss.detach(),
                "halt_loss": halt_loss.detach(), "exact": exact, "tok_acc": tok_acc}


def count_parameters(model: TRM) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_token_block(cfg: TRMConfig, L: int) -> float:
    """Forward FLOPs of one block application per token: the matmuls (2 per multiply-add) of the
    projections, the MLP and, for attention, the scores and values (4 * L * D). The token-mixing
    MLP costs 2 * 3 * L * I_t per (row, channel), i.e. 2 * 3 * D * I_t per token. The MLP conv
    (mlp_conv) adds 2 per tap per inner channel: k taps (1d) at every position, k * k (2d) at the
    canvas's L - P of the L positions."""
    D, I = cfg.hidden_size, cfg.mlp_inner
    conv = 0.0
    if cfg.mlp_conv == "1d":
        conv = 2 * cfg.mlp_conv_kernel * I
    elif cfg.mlp_conv == "2d":
        conv = 2 * cfg.mlp_conv_kernel ** 2 * I * (L - cfg.puzzle_emb_len) / L
    if cfg.mixer == "attention":
        return 2 * (4 * D * D + 3 * D * I) + 4 * L * D + conv
    Lf = cfg.puzzle_emb_len + cfg.canvas_side ** 2
    return 2 * (3 * D * I) + 2 * 3 * D * reference_inner(Lf) + conv


def train_step_flops(cfg: TRMConfig, batch: int, side: int) -> float:
    """Analytic FLOPs of one training supervision step: the forward of every net call plus the
    backward (2x the forward) of the calls with gradients (cfg.grad_updates_per_step; TRM's: the
    last cycle). A sample costs this times its supervision steps (exactly dis_steps with deep
    improvement supervision)."""
    L = cfg.puzzle_emb_len + side * side
    calls = cfg.H_cycles * (cfg.L_cycles + 1)  # net calls per supervision step
    per_call = cfg.num_layers * flops_per_token_block(cfg, L) * L * batch
    return per_call * calls + 2 * per_call * cfg.grad_updates_per_step
