"""The worker pool: start the workers, hand out shards, write answers as they come, watch for deaths.

One process per GPU (torch.multiprocessing, spawn), each pinned to cuda:i; on a machine without
GPUs one worker thread in this process (--workers N for N CPU processes). The shared queue lives
here, in the main process, so a worker that dies cannot take a queue lock with it: a worker asks
for the next shard by saying it is free, and gets it with its time budget (plan.FairShare), heaviest
shards first. Each task's answers are written to the submission file as they arrive. A worker that
dies (out of memory, a bad task) costs only its current shard: its tasks keep their fallbacks and
are named; one replacement is started per device while shards remain. At the hard stop everything
still running is abandoned (the file on disk is valid at every moment).
"""
from __future__ import annotations

import os
import queue
import threading
import time

from .plan import FairShare

PROGRESS_EVERY_S = 60.0


def log(text: str) -> None:
    print(text, flush=True)


def run_workers(ckpt, settings, devices, in_process, shards, weights, sub, deadline, hard_stop,
                task_cap=None, candidates_path=None):
    """Run every shard on the workers. Returns (shard stats {shard_id: stats}, [(task_id, reason)]
    for tasks that lost their shard)."""
    import torch.multiprocessing as mp
    from .worker import worker_main

    ctx = mp.get_context("spawn")
    outbox = queue.Queue() if in_process else ctx.Queue()
    stop = threading.Event() if in_process else ctx.Event()
    # Worker processes share the cores (CPU workers compute on them; GPU workers feed their card).
    threads = None if in_process else max(1, (os.cpu_count() or 1) // len(devices))
    workers = {}  # wid -> dict(device, handle, inbox, state, shard, restarts)

    def start(wid, device, restarts=0):
        inbox = queue.Queue() if in_process else ctx.Queue()
        argv = (wid, device, ckpt, settings, inbox, outbox, stop, threads)
        if in_process:
            handle = threading.Thread(target=worker_main, args=argv, daemon=True)
        else:
            handle = ctx.Process(target=worker_main, args=argv, daemon=True)
        handle.start()
        workers[wid] = {"device": device, "handle": handle, "inbox": inbox, "state": "starting",
                        "shard": None, "restarts": restarts}

    for wid, device in enumerate(devices):
        start(wid, device)

    # Heaviest shards first (ties: the plan's order, largest canvases first): the budgets pack best.
    pending = sorted(range(len(shards)), key=lambda s: -weights[s])
    fair = FairShare(weights, deadline)
    done_tasks, shard_stats, failed, candidates = set(), {}, [], {}
    n_tasks = sum(len(s) for s in shards)
    last_progress = time.time()

    def live():
        return [w for w in workers.values() if w["state"] in ("starting", "idle", "busy")]

    def dispatch(wid):
        w = workers[wid]
        if not pending or deadline - time.time() <= 0:
            w["inbox"].put(None)
            w["state"] = "finishing"
            return
        sid = pending.pop(0)
        cap = task_cap * len(shards[sid]) if task_cap else None
        budget = fair.start(sid, pending, time.time(), len(live()), cap)
        w["inbox"].put((sid, shards[sid], budget))
        w["state"], w["shard"] = "busy", sid

    def lose_shard(wid, reason):
        sid = workers[wid]["shard"]
        if sid is None:
            return
        fair.finish(sid)
        lost = [t.id for t in shards[sid] if t.id not in done_tasks]
        for tid in lost:
            failed.append((tid, reason))
        if lost:
            log(f"[warning] worker {wid}: shard {sid} failed ({reason.splitlines()[0]}); "
                f"tasks keeping their fallbacks: {', '.join(lost)}")
        workers[wid]["shard"] = None

    while True:
        now = time.time()
        if now >= hard_stop:
            log(f"[warning] hard stop {now - deadline:.0f}s past the planned end; abandoning unfinished work")
            break
        if not live() or (not pending and not any(w["state"] == "busy" for w in workers.values())):
            break  # nothing left to do (a replacement still loading is not waited for)
        try:
            msg = outbox.get(timeout=0.5)
        except queue.Empty:
            msg = None
        if msg is not None:
            kind, wid = msg[0], msg[1]
            w = workers[wid]
            if kind == "log":
                log(f"  [w{wid}] {msg[2]}")
            elif kind == "ready":
                info = msg[2]
                compiled = f", the step compiled in {info['compile_s']}s of it" if info.get("compile_s") else ""
                log(f"[worker {wid}] ready on {info['device']} (model loaded in {info['load_s']}s{compiled})")
                dispatch(wid)
            elif kind == "shard_start":
                log(f"[worker {wid}] shard {msg[2]}: {len(shards[msg[2]])} tasks, budget {msg[3]:.0f}s")
            elif kind == "task":
                _, _, sid, tid, entries, predicted, info = msg
                if "ranked" in info:
                    candidates[tid] = info["ranked"]
                try:
                    sub.set(tid, entries, predicted)
                    done_tasks.add(tid)
                except ValueError as e:
                    log(f"[warning] task {tid}: answer rejected, keeps its fallback: {e}")
            elif kind == "shard_done":
                sid, st = msg[2], msg[3]
                shard_stats[sid] = st
                fair.finish(sid)
                w["shard"] = None
                peak = ("" if st.get("peak_ttt_gib") is None else
                        f"; peak GPU memory TTT {st['peak_ttt_gib']:.2f} GiB, inference {st['peak_infer_gib']:.2f} GiB")
                log(f"[worker {wid}] shard {sid} done: {st['ttt_steps']} TTT steps in {st['ttt_s']:.0f}s "
                    f"(loss {st['loss']}, {st['num_aug']} augmentations, rows by side {st['batch_sizes']}), "
                    f"inference {st['infer_s']:.0f}s (views {st['views']}){peak}; "
                    f"{len(done_tasks)}/{n_tasks} tasks predicted, {deadline - time.time():.0f}s to the planned end")
                dispatch(wid)
            elif kind == "shard_error":
                lose_shard(wid, msg[3])
                dispatch(wid)
            elif kind == "worker_error":
                log(f"[warning] worker {wid} could not start: {msg[2].strip().splitlines()[-1]}")
                w["state"] = "dead"
            elif kind == "exit":
                w["state"] = "exited"
        # Deaths: a process gone without saying so (killed, out of memory, crashed). Checked only
        # when the outbox is drained, so a worker's last messages are never mistaken for losses.
        for wid, w in (list(workers.items()) if msg is None else []):
            h = w["handle"]
            if w["state"] in ("starting", "idle", "busy", "finishing") and not h.is_alive():
                code = getattr(h, "exitcode", None)
                lose_shard(wid, f"worker died (exit code {code})")
                w["state"] = "dead"
                if pending and w["restarts"] < 1 and time.time() < deadline:
                    log(f"[worker {wid}] died (exit code {code}); starting a replacement on {w['device']}")
                    start(wid, w["device"], w["restarts"] + 1)
        if time.time() - last_progress >= PROGRESS_EVERY_S:
            log(f"[progress] {len(done_tasks)}/{n_tasks} tasks predicted, {len(shard_stats)}/{len(shards)} shards "
                f"done, {deadline - time.time():.0f}s to the planned end")
            last_progress = time.time()

    # Wind down: tell everyone to stop, give them a moment, then end the processes.
    stop.set()
    for wid, w in workers.items():
        if w["state"] in ("starting", "idle", "busy"):
            lose_shard(wid, "stopped at the time limit")
    for w in workers.values():
        w["handle"].join(timeout=5)
        if not in_process and w["handle"].is_alive():
            w["handle"].kill()
    for sid in pending:
        for t in shards[sid]:
            failed.append((t.id, "not started before the time limit"))
    if pending:
        log(f"[warning] {len(pending)} shard(s) never started; their tasks keep their fallbacks: "
            + ", ".join(t.id for sid in pending for t in shards[sid]))
    if candidates_path:
        from .writer import write_atomic
        write_atomic(candidates, candidates_path)
        log(f"[candidates] {len(candidates)} tasks written to {candidates_path}")
    return shard_stats, failed
