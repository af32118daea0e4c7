"""submission/runtime.py under torchrun: the process group it opens waits 60 minutes in a collective
(torch's own default is 10, short enough to abort a long run whose ranks wait on an uneven evaluation
share or on rank 0's checkpoint write), or what TRM_COLLECTIVE_TIMEOUT_MIN says. The group itself is
replaced by a recorder: what is checked is the timeout handed to torch."""
import datetime

import pytest
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
