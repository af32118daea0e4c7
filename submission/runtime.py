"""Device, dtype, distributed and environment detection, in one place.

Every entry point calls `compute_init()` once; it prints what it chose and why. The same command
runs on a CPU, on one GPU and under `torchrun --nproc_per_node N` (NCCL on GPUs, gloo on CPU).
The compute dtype is chosen by `autocast_dtype()` (the trainer through compute_init, the Kaggle
entry's workers directly): bf16 autocast on GPUs with native bf16, float32 everywhere else.
"""
from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Compute:
    device: torch.device
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    autocast_dtype: torch.dtype | None = None   # bf16 on GPUs with native bf16, None (float32) elsewhere
    reason: str = ""

    @property
    def master(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self):
        if self.autocast_dtype is None:
            return torch.autocast(device_type="cpu", enabled=False)
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)


def on_kaggle() -> bool:
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE") or os.environ.get("KAGGLE_IS_COMPETITION_RERUN")
                or os.path.isdir("/kaggle/input"))


def pick_device(requested: str = "auto") -> tuple[torch.device, str]:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> (device, why)."""
    if requested != "auto":
        dev = torch.device(requested)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise SystemExit(f"--device {requested}: CUDA is not available on this machine")
        return dev, f"requested {requested}"
    if torch.cuda.is_available():
        return torch.device("cuda"), f"CUDA available ({torch.cuda.device_count()} x {torch.cuda.get_device_name(0)})"
    return torch.device("cpu"), f"no GPU found; CPU with {torch.get_num_threads()} threads"


# bf16 tensor cores start at compute capability 8.0 (Ampere: A100, A10, L4; then H100, ...).
BF16_MIN_CAPABILITY = (8, 0)


def autocast_dtype(device: torch.device, bf16: bool = True) -> tuple[torch.dtype | None, str]:
    """The autocast dtype for this device (None: float32, autocast off) and the reason, printed by
    the callers.

    bf16 where the GPU has it natively. Older GPUs (Kaggle's T4, compute capability 7.5, and P100,
    6.0) run float32. fp16 autocast would be faster on a T4's tensor cores, but it is not used:
    the recursion carries y and z in the compute dtype through up to 16 supervision steps of
    T x (n + 1) net calls each, where fp16's range (largest value 65504) is a real overflow risk,
    and the puzzle rows' sign-SGD (engine.sparse_sign_sgd_) reads gradients that a GradScaler
    neither unscales nor skips on inf, so a scaled fp16 step could write NaN rows. float32 is slower
    and always right. (torch.cuda.is_bf16_supported() answers True on a T4, through emulation, so
    the compute capability decides.)"""
    if device.type != "cuda":
        return None, "float32 (bf16 matmul is slow on CPUs)"
    if not bf16:
        return None, "float32 (bf16 turned off by the caller)"
    name = torch.cuda.get_device_name(device)
    if torch.version.hip:  # AMD Instinct GPUs that run torch have bf16
        return torch.bfloat16, f"bf16 autocast ({name}, ROCm)"
    cap = tuple(torch.cuda.get_device_capability(device))
    if cap >= BF16_MIN_CAPABILITY:
        return torch.bfloat16, f"bf16 autocast ({name}, compute capability {cap[0]}.{cap[1]})"
    return None, (f"float32: {name} (compute capability {cap[0]}.{cap[1]}) has no native bf16 (it needs "
                  f"{BF16_MIN_CAPABILITY[0]}.{BF16_MIN_CAPABILITY[1]}+); fp16 autocast is not used, its range is "
                  "an overflow risk in the deep recursion (runtime.autocast_dtype)")


TIMEOUT_ENV = "TRM_COLLECTIVE_TIMEOUT_MIN"


def collective_timeout_minutes() -> float:
    """How long a rank waits in one collective before the run aborts: $TRM_COLLECTIVE_TIMEOUT_MIN, 60 by default."""
    raw = os.environ.get(TIMEOUT_ENV, "60")
    try:
        minutes = float(raw)
    except ValueError:
        minutes = -1.0
    if not 0 < minutes < 1e6:  # NaN fails too; timedelta overflows near 1e9 minutes
        raise SystemExit(f"error: {TIMEOUT_ENV}={raw!r}: expected a positive number of minutes, under a million")
    return minutes


def compute_init(requested: str = "auto", bf16: bool = True, quiet: bool = False) -> Compute:
    """Set up device and (under torchrun) the process group. Prints the choice once."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev, why = pick_device(requested)
    if world > 1:
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            dev = torch.device("cuda", local)
            torch.cuda.set_device(dev)
        why += f"; torchrun world size {world} ({backend})"
        if not dist.is_initialized():  # a group opened by the caller keeps its own timeout
            # Ranks wait inside a collective for the slowest: the last of an evaluation's uneven shares,
            # rank 0 writing a checkpoint. torch's default of 10 minutes would abort a multi-day run on
            # slow cards; an hour still ends a run whose rank truly hung. (It bounds the start-up
            # rendezvous too: a rank that never starts holds the others that long.)
            minutes = collective_timeout_minutes()
            dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=minutes))
            why += f"; collectives wait up to {minutes:g} min ({TIMEOUT_ENV})"
    amp, dtype_why = autocast_dtype(dev, bf16)
    why += "; " + dtype_why
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    c = Compute(dev, rank, local, world, amp, why)
    if rank == 0 and not quiet:
        print(f"[compute] device {dev}: {why}", file=sys.stderr, flush=True)
    return c


def compute_cleanup():
    if dist.is_available() and dist.is_initialized():
        # A last barrier first. A gloo worker thread drops its finished collective (and with it the
        # Python tensors it holds, a decref that needs the GIL) a moment after the caller saw it
        # complete; the barrier's wait releases the GIL, so that happens now. Without it, now and then
        # (under torchrun on busy CPUs, ~1 run in 12) a rank reached interpreter shutdown first and
        # aborted ("terminate called without an active exception": the thread, still in
        # ~AsyncAllgatherWork, cannot take the GIL of a finalizing interpreter), failing a finished run.
        dist.barrier()
        dist.destroy_process_group()


def print0(*args, **kwargs):
    if int(os.environ.get("RANK", "0")) == 0:
        print(*args, **kwargs, flush=True)


def synchronize(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
