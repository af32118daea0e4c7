"""submission/runtime.py under torchrun: the process group it opens waits 60 minutes in a collective
(torch's own default is 10, short enough to abort a long run whose ranks wait on an uneven evaluation
share or on rank 0's checkpoint write), or what TRM_COLLECTIVE_TIMEOUT_MIN says. The group itself is
replaced by a recorder: what is checked is the timeout handed to torch.

The compute dtype on GPUs without bf16: the device is faked (torch.cuda's capability and name
queries monkeypatched); the oracle is NVIDIA's published compute capabilities (T4 7.5, P100 6.0,
V100 7.0, A100 8.0, L4 8.9, H100 9.0) against the rule that bf16 tensor cores start at 8.0."""
import datetime

import pytest
import torch
import torch.distributed as dist

from submission import runtime


@pytest.fixture
def recorded(monkeypatch):
    calls = []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kw: calls.append(kw))
    for k, v in (("WORLD_SIZE", "2"), ("RANK", "1"), ("LOCAL_RANK", "1")):  # rank 1: prints nothing
        monkeypatch.setenv(k, v)
    monkeypatch.delenv(runtime.TIMEOUT_ENV, raising=False)
    return calls


def test_collectives_wait_an_hour_by_default(recorded):
    c = runtime.compute_init("cpu")
    assert recorded == [{"backend": "gloo", "timeout": datetime.timedelta(hours=1)}]
    assert "collectives wait up to 60 min" in c.reason


def test_collective_timeout_from_the_environment(recorded, monkeypatch):
    monkeypatch.setenv(runtime.TIMEOUT_ENV, "1.5")
    runtime.compute_init("cpu")
    assert recorded[0]["timeout"] == datetime.timedelta(seconds=90)
    for bad in ("0", "-3", "soon", "inf", "nan", "1e12"):
        monkeypatch.setenv(runtime.TIMEOUT_ENV, bad)
        with pytest.raises(SystemExit, match="expected a positive number of minutes"):
            runtime.compute_init("cpu")


# -----------------------------------------------------------------------------
# The compute dtype


@pytest.fixture
def fake_gpu(monkeypatch):
    """fake_gpu(name, capability): torch.cuda answers as that GPU would. is_bf16_supported() says
    True whatever the card, as torch's does on a T4 (it counts emulated bf16)."""
    def make(name, capability):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
        monkeypatch.setattr(torch.version, "hip", None)
    return make


@pytest.mark.parametrize("name,capability,bf16", [
    ("Tesla T4", (7, 5), False), ("Tesla P100-PCIE-16GB", (6, 0), False), ("Tesla V100-SXM2-16GB", (7, 0), False),
    ("NVIDIA A100-SXM4-40GB", (8, 0), True), ("NVIDIA L4", (8, 9), True), ("NVIDIA H100 80GB HBM3", (9, 0), True)])
def test_bf16_only_on_gpus_that_have_it(fake_gpu, name, capability, bf16):
    fake_gpu(name, capability)
    dtype, why = runtime.autocast_dtype(torch.device("cuda", 0))
    assert dtype == (torch.bfloat16 if bf16 else None), why
    assert name in why and f"{capability[0]}.{capability[1]}" in why
    if not bf16:
        assert why.startswith("float32") and "no native bf16" in why


def test_cpu_runs_float32():
    assert runtime.autocast_dtype(torch.device("cpu"))[0] is None


def test_compute_init_on_a_t4_prints_float32_and_why(fake_gpu, monkeypatch, capsys):
    """The trainer's set-up on a fake T4: float32 (no autocast), and the printed line says why."""
    fake_gpu("Tesla T4", (7, 5))
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32  # compute_init sets both
    try:
        c = runtime.compute_init("auto")
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    assert c.device.type == "cuda" and c.autocast_dtype is None
    printed = capsys.readouterr().err
    assert "float32: Tesla T4 (compute capability 7.5) has no native bf16" in printed, printed
    with c.autocast():  # float32: autocast stays off
        assert not torch.is_autocast_enabled("cuda")
