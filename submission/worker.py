"""The worker: a process per GPU (spawned) or a thread on the CPU, serving shards from a queue.

It talks to the main process (pool.py) through two queues only: an inbox of jobs ((shard_id, tasks,
budget_s), or None to finish) and an outbox of messages ("ready", "log", "shard_start", "task",
"shard_done", "shard_error", "worker_error", "exit"). A shard that fails is reported (its tasks keep
their fallbacks) and the worker goes on with the next one.
"""
from __future__ import annotations

import queue
import time
import traceback

import torch

from .memory import limit_process_memory
from .solve import ShardSolver


def worker_main(wid: int, device_name: str, checkpoint: str, settings, inbox, outbox, stop,
                num_threads: int | None = None):
    """Serve shards from `inbox` until told to stop (None or the `stop` event); report on `outbox`."""
    def log(text):
        outbox.put(("log", wid, text))

    try:
        if num_threads:
            torch.set_num_threads(num_threads)
        device = torch.device(device_name)
        if device.type == "cuda":
            torch.cuda.set_device(device)
            limit_process_memory(device, settings.gpu_memory)  # --gpu-memory: emulate a smaller card
        t = time.time()
        solver = ShardSolver(checkpoint, device, settings, log)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
        outbox.put(("ready", wid, {"device": f"{device} ({name})", "load_s": round(time.time() - t, 1),
                                   "compile_s": round(solver.compile_s, 1)}))
    except Exception:
        outbox.put(("worker_error", wid, traceback.format_exc(limit=4)))
        return
    while not stop.is_set():
        try:
            job = inbox.get(timeout=0.5)
        except queue.Empty:
            continue
        if job is None:
            break
        shard_id, tasks, budget = job
        outbox.put(("shard_start", wid, shard_id, budget))

        def emit(task_id, entries, predicted, info, _sid=shard_id):
            outbox.put(("task", wid, _sid, task_id, entries, predicted, info))

        try:
            stats = solver.solve_shard(shard_id, tasks, budget, stop, emit)
            outbox.put(("shard_done", wid, shard_id, stats))
        except Exception as e:
            outbox.put(("shard_error", wid, shard_id, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"))
            if device.type == "cuda":
                torch.cuda.empty_cache()
    outbox.put(("exit", wid, {}))
