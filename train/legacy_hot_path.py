"""The model's elementwise hot path as it was before 2026-11-28 (session 3), kept to measure against.

`with legacy_hot_path(): ...` swaps submission.model's current hot path for the old one, so one
process can time (train.bench --hot-path-ab), profile (train.bench --profile) and compare
(tests/test_throughput.py) the two on the same weights and inputs. The old code, as it was:
- rms_norm written out in float32: upcast, square, mean, rsqrt, multiply, downcast (five passes);
- rotary with a negation and a cat per call, and the float32 tables cast to the activation dtype on
  every attention call;
- y + x recomputed for each of the n latent updates of a cycle;
- the puzzle prefix built apart and concatenated in front of the scaled token embeddings.
Delete this module once the GPU before/after profile is recorded in docs/benchmarks.md.
"""
import contextlib
import math

import torch

from submission import model as M


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # Plain (cos, sin) float32 tables, cast on every call.
    shape = (1, cos.shape[0]) + (1,) * (x.dim() - 3) + (cos.shape[1],)
    cos, sin = cos.view(shape).to(x.dtype), sin.view(shape).to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


def rope(self, side: int, device, dtype=None):
    key = ("legacy", side, str(device))
    if key not in self._rope_cache:
        self._rope_cache[key] = M.rotary_tables(self.cfg, side, device)
    return self._rope_cache[key]


def input_embedding(self, tokens: torch.Tensor, puzzle_rows: torch.Tensor, step=None) -> torch.Tensor:
    # step: the current signature's (the step embedding came later; the old path has none)
    B = tokens.shape[0]
    scale = math.sqrt(self.cfg.hidden_size)
    x = self.embed(tokens) * scale  # (B, S*S, D)
    prefix = x.new_zeros(B, self.cfg.puzzle_emb_len, x.shape[-1])
    prefix[:, 0] = puzzle_rows.to(x.dtype) * scale
    return torch.cat([prefix, x], dim=1)


def supervision_step(self, x, y, z, rope):
    T, n = self.cfg.H_cycles, self.cfg.L_cycles
    with torch.no_grad():
        for _ in range(T - 1):
            for _ in range(n):
                z = self.net(z, y + x, rope)
            y = self.net(y, z, rope)
    for _ in range(n):
        z = self.net(z, y + x, rope)
    y = self.net(y, z, rope)
    return y, z


@contextlib.contextmanager
def legacy_hot_path():
    """Run submission.model with the old hot path inside the block (eager; not thread-safe)."""
    saved = {"rms_norm": M.rms_norm, "rotate": M.rotate, "rope": M.TRM.rope,
             "input_embedding": M.TRM.input_embedding, "supervision_step": M.TRM.supervision_step}
    M.rms_norm, M.rotate = rms_norm, rotate
    M.TRM.rope, M.TRM.input_embedding, M.TRM.supervision_step = rope, input_embedding, supervision_step
    try:
        yield
    finally:
        M.rms_norm, M.rotate = saved["rms_norm"], saved["rotate"]
        M.TRM.rope, M.TRM.input_embedding = saved["rope"], saved["input_embedding"]
        M.TRM.supervision_step = saved["supervision_step"]
