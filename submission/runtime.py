"""Device, dtype, distributed and environment detection, in one place.

Every entry point calls `compute_init()` once; it prints what it chose and why. The same command
runs on a CPU, on one GPU and under `torchrun --nproc_per_node N` (NCCL on GPUs, gloo on CPU).
The compute dtype is chosen by `autocast_dtype()` (the trainer through compute_init, the Kaggle
entry's workers directly): bf16 autocast on GPUs with native bf16, float32 everywhere else.
The Kaggle entry (python -m submission) asks here which software it runs on (software_report), whether
its GPUs can run this torch build (usable_gpus) and whether numba works (numba_problem).
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


def arch_supported(capability: tuple, arch_list: list) -> bool:
    """Whether a torch build compiled for `arch_list` (torch.cuda.get_arch_list(): 'sm_86', 'sm_90a',
    'compute_90', ...) has kernels for a GPU of compute capability (major, minor). CUDA's rule: a
    cubin for sm_XY runs on major X with minor >= Y; PTX for compute_XY is compiled at load time for
    any capability >= X.Y. An empty list (the build does not say) counts as supported."""
    if not arch_list:
        return True
    major, minor = capability
    for arch in arch_list:
        kind, _, digits = arch.partition("_")
        digits = digits.rstrip("abcdefghijklmnopqrstuvwxyz")  # sm_90a, sm_100f: feature suffixes
        if not digits.isdigit() or len(digits) < 2:
            continue
        a_major, a_minor = int(digits[:-1]), int(digits[-1])
        if kind == "sm" and a_major == major and a_minor <= minor:
            return True
        if kind == "compute" and (a_major, a_minor) <= (major, minor):
            return True
    return False


def usable_gpus() -> tuple[int, str]:
    """(how many CUDA devices this torch build can compute on, why, in words). A GPU that torch sees
    but has no kernels for (a P100, sm_60, under a build for sm_70 and newer) counts as none: its
    first kernel would fail with "no kernel image is available". Asks only for counts, names and
    capabilities: no tensor is made on a GPU (the workers own the devices)."""
    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            return 0, f"this torch ({torch.__version__}) is built without CUDA"
        return 0, "CUDA is not available (no GPU attached, or its driver cannot be used)"
    n = torch.cuda.device_count()
    arch = torch.cuda.get_arch_list()
    names = [torch.cuda.get_device_name(i) for i in range(n)]
    for i in range(n):
        cap = torch.cuda.get_device_capability(i)
        if not arch_supported(cap, arch):
            return 0, (f"GPU {i} ({names[i]}, compute capability {cap[0]}.{cap[1]}) is not supported by this torch "
                       f"build ({torch.__version__}, kernels for {', '.join(arch)})")
    return n, f"{n} x {names[0]}" + ("" if len(set(names)) == 1 else f" (and {', '.join(sorted(set(names[1:])))})")


def numba_problem() -> str | None:
    """None when numba imports and compiles a function; else what went wrong, in one line. The
    entry's grid encoders are numba kernels, so without a working numba no task can be solved."""
    try:
        import numba

        @numba.njit(cache=False)
        def plus_one(x):
            return x + 1

        if plus_one(1) != 2:
            return "numba compiled a function that returns a wrong result"
    except Exception as e:  # a broken install raises anything: ImportError, AttributeError, a numpy mismatch
        return f"{type(e).__name__}: {e}".splitlines()[0]
    return None


def software_report() -> str:
    """One line: python, torch (its CUDA and cuDNN), numpy, numba, the GPUs, and Kaggle's image when
    the environment names it (GIT_COMMIT / BUILD_DATE of Kaggle's docker image)."""
    import platform

    import numpy

    try:
        import numba
        numba_version = numba.__version__
    except Exception as e:  # reported in full by numba_problem()
        numba_version = f"BROKEN ({type(e).__name__})"
    cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "built without CUDA"
    cudnn = torch.backends.cudnn.version() if torch.cuda.is_available() else None
    n, why = usable_gpus()
    gpus = why if n else f"no usable GPU: {why}"
    if n:
        mem = torch.cuda.get_device_properties(0).total_memory / 2**30
        cap = torch.cuda.get_device_capability(0)
        gpus += f", {mem:.1f} GiB each, compute capability {cap[0]}.{cap[1]}"
    line = (f"python {platform.python_version()}; torch {torch.__version__} ({cuda}"
            f"{f', cuDNN {cudnn}' if cudnn else ''}); numpy {numpy.__version__}; numba {numba_version}; "
            f"devices: {gpus}; {os.cpu_count()} CPU cores")
    if os.environ.get("BUILD_DATE") and os.environ.get("GIT_COMMIT"):
        line += f"; Kaggle image built {os.environ['BUILD_DATE']} (commit {os.environ['GIT_COMMIT'][:12]})"
    return line


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
