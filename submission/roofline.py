"""The roofline's inputs: what one step computes and moves, and how fast this device does each kind.

Why: an L4 is slower against an H100/H200 than their peak FLOP/s say, because at hidden 512 the
elementwise work (norms, rotary, gating, residuals, casts, the optimizer) is bandwidth-bound and the
L4 has 300 GB/s to an H200's 4.8 TB/s. So bench.py estimates a step from two counts, not one ratio:
- OpCounter runs a real step under a dispatch mode: matmul and attention ops add their FLOPs (from
  the shapes), every other op that moves data adds the bytes of its tensor inputs and outputs
  (views move nothing). Eager PyTorch runs each op as its own kernel, so this is the traffic an
  unfused step makes;
- profile_split times a real step by op and splits it the same way (matmul vs elementwise), so
  each kind's achieved fraction of this device's peak can be carried to the L4;
- device_peaks: datasheet dense bf16 FLOP/s and bandwidth for known GPUs, measured on the CPU.
"""
import math
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .engine import Carry, act_step, sparse_sign_sgd_

# Dense bf16 peak (TFLOP/s) and memory bandwidth (GB/s), datasheets; first match of the name wins.
DEVICE_PEAKS = [("H100 PCIe", 756.0, 2000.0), ("H100", 989.0, 3350.0), ("H200", 989.0, 4800.0),
                ("A100-SXM4-80GB", 312.0, 2039.0), ("A100", 312.0, 1555.0), ("L40S", 362.0, 864.0),
                ("L4", 121.0, 300.0), ("A10G", 70.0, 600.0), ("T4", 65.0, 320.0)]
VIEW_OPS = {"view", "_unsafe_view", "reshape", "transpose", "t", "permute", "expand", "slice", "select",
            "unsqueeze", "squeeze", "as_strided", "alias", "detach", "unbind", "split", "split_with_sizes",
            "chunk", "lift_fresh", "_reshape_alias", "resolve_conj", "resolve_neg", "empty", "empty_like",
            "empty_strided", "new_empty_strided", "new_empty", "is_same_size", "_has_compatible_shallow_copy_type"}


def op_class(name: str) -> str:
    """'matmul', 'view' (moves no data) or 'elementwise', from an aten op name ('aten::mm', 'mm')."""
    base = name.split("::")[-1].split(".")[0].lstrip("_")
    if base in VIEW_OPS or name.split("::")[-1].split(".")[0] in VIEW_OPS:
        return "view"
    if base in ("mm", "addmm", "bmm", "baddbmm", "matmul", "linear") or "scaled_dot_product" in base or "attention" in base:
        return "matmul"
    return "elementwise"


def matmul_flops(name: str, args, out) -> float:
    """FLOPs of one matmul-class op from its shapes (attention: QK^T and PV; its backward twice)."""
    base = name.split("::")[-1].split(".")[0]
    if base in ("mm", "addmm"):
        a, b = (args[0], args[1]) if base == "mm" else (args[1], args[2])
        return 2.0 * a.shape[0] * a.shape[1] * b.shape[1]
    if base in ("bmm", "baddbmm"):
        a, b = (args[0], args[1]) if base == "bmm" else (args[1], args[2])
        return 2.0 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
    if "scaled_dot_product" in base or "attention" in base:
        q, k = args[0], args[1]
        fwd = 4.0 * math.prod(q.shape[:-1]) * k.shape[-2] * q.shape[-1]  # (B, H, Lq) x Lk x hd, two matmuls
        return 2 * fwd if "backward" in base else fwd
    return 0.0  # linear / matmul decompose into mm / bmm, counted there


class OpCounter(TorchDispatchMode):
    """Counts, for everything run under it: matmul FLOPs, and the bytes every data-moving non-matmul
    op reads and writes (its tensor inputs and outputs)."""

    def __init__(self):
        super().__init__()
        self.flops, self.bytes, self.kernels = 0.0, 0.0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func._schema.name
        cls = op_class(name)
        self.kernels += cls != "view"
        if cls == "matmul":
            self.flops += matmul_flops(name, args, out)
        elif cls == "elementwise":
            flat = list(args) + list((kwargs or {}).values()) + (list(out) if isinstance(out, (tuple, list)) else [out])
            for t in flat:
                if isinstance(t, (list, tuple)):
                    self.bytes += sum(x.nbytes for x in t if isinstance(x, torch.Tensor))
                elif isinstance(t, torch.Tensor):
                    self.bytes += t.nbytes
        return out


def train_step(model, rows: int, side: int, autocast, device, opt=None):
    """One training supervision step as test-time training runs it (act_step and backward; with
    `opt`, an AdamAtan2 of learning rate 0, its update and the puzzle rows' sign-SGD), on random tokens."""
    g = torch.Generator(device=device)
    g.manual_seed(0)
    carry = Carry.empty(model, rows, side, device)
    fresh = {"tokens": torch.randint(2, 12, (rows, side * side), device=device, generator=g),
             "labels": torch.randint(2, 12, (rows, side * side), device=device, generator=g),
             "puzzle_ids": torch.zeros(rows, dtype=torch.int64, device=device)}
    out = act_step(model, model, carry, fresh, autocast, g, training=True)
    out["loss"].backward()
    if opt is not None:
        opt.step()
        sparse_sign_sgd_(model.puzzle_emb, carry.puzzle_ids, out["rows"].grad, 0.0, 0.0)
    model.zero_grad(set_to_none=True)


@torch.no_grad()
def infer_step(model, rows: int, side: int, autocast, device):
    """One inference supervision step on random tokens."""
    tokens = torch.randint(2, 12, (rows, side * side), device=device)
    y, z = model.initial_state(rows, model.cfg.puzzle_emb_len + side * side, device)
    step = torch.zeros(rows, dtype=torch.int64, device=device) if model.cfg.step_embedding else None
    with autocast:
        model(tokens, model.puzzle_emb[torch.zeros(rows, dtype=torch.int64, device=device)], y, z, step=step)


def count(fn, kernels: bool = False):
    """(matmul FLOPs, elementwise bytes) of fn(); with kernels, also the number of data-moving ops."""
    c = OpCounter()
    with c:
        fn()
    return (c.flops, c.bytes, c.kernels) if kernels else (c.flops, c.bytes)


def profile_split(fn, device) -> dict:
    """Seconds of fn() in matmul-class and in elementwise ops (profiler self time by op name; device
    time on a GPU)."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    split = {"matmul": 0.0, "elementwise": 0.0, "view": 0.0}
    for e in prof.key_averages():
        if not e.key.startswith("aten::"):
            continue  # kernels and Python frames: their time is attributed to the aten op that ran them
        t = e.self_device_time_total if device.type == "cuda" else e.self_cpu_time_total
        split[op_class(e.key)] += t / 1e6
    return split


def matmul_rate(device, dtype, n=2048, reps=5) -> float:
    """Measured dense matmul FLOP/s (best of reps)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return 2 * n ** 3 / _best(lambda: a @ b, device, reps)


def copy_bandwidth(device, mb=256, reps=5) -> float:
    """Measured copy bandwidth, bytes read + written per second (best of reps)."""
    a = torch.empty(mb * 2 ** 20 // 4, device=device)
    b = torch.empty_like(a)
    return 2 * a.nbytes / _best(lambda: b.copy_(a), device, reps)


def _best(fn, device, reps) -> float:
    best = float("inf")
    for _ in range(reps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.time() - t)
    return best


def device_peaks(device) -> tuple[float, float, str]:
    """(matmul FLOP/s, bytes/s, how they were obtained) of the device at hand."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, tf, gbps in DEVICE_PEAKS:
            if key in name:
                return tf * 1e12, gbps * 1e9, f"{name}: bf16 {tf:g} TFLOP/s, {gbps:g} GB/s (datasheet)"
        f, b = matmul_rate(device, torch.bfloat16, 4096), copy_bandwidth(device)
        return f, b, f"{name}: measured bf16 matmul {f / 1e12:.1f} TFLOP/s, copy {b / 1e9:.0f} GB/s (not in the table)"
    f, b = matmul_rate(device, torch.float32), copy_bandwidth(device)
    return f, b, (f"CPU, {torch.get_num_threads()} threads: measured float32 matmul {f / 1e9:.1f} GFLOP/s, "
                  f"copy {b / 1e9:.1f} GB/s")
