"""The plan: which tasks run, in which shards, and how much time each shard gets.

- make_shards: largest tasks first (they run on the biggest canvases), cut into shards (>= 4 per
  worker, for load balance); a shard's weight is its tasks plus its test inputs (training plus
  inference units).
- commit_tasks: the few tasks of a commit run, spread over the task sizes (the largest included,
  so the full-canvas batch is exercised).
- FairShare: each shard's time budget when a worker takes it. The time the workers have left,
  less what is already promised to the shards in flight, is split over the unstarted shards by
  weight. Counting the promises is what keeps shares fair: with 4 workers and 16 equal shards
  every shard gets a quarter of the run, the last ones included (without it the first shards
  taken get more than their share and the last four got 0.25/0.20/0.14/0.08 of it). A shard
  that ends early returns its time to the pool; no budget runs past the deadline.
"""
from __future__ import annotations

import heapq


def make_shards(tasks: list, per_shard: int) -> list[list]:
    """Largest tasks first (they run on the biggest canvases), cut into shards of per_shard."""
    order = sorted(tasks, key=lambda t: (-t.max_side(), -len(t.train)))
    return [order[i:i + per_shard] for i in range(0, len(order), per_shard)]


def shard_weight(shard: list) -> int:
    """Training plus inference units: one per task, one per test input."""
    return len(shard) + sum(len(t.test_inputs) for t in shard)


def commit_tasks(tasks: list, n: int) -> list:
    """n tasks spread evenly over the sizes, smallest to largest (both ends included)."""
    order = sorted(tasks, key=lambda t: (t.max_side(), len(t.train), t.id))
    if n >= len(order):
        return order
    if n <= 1:
        return order[-1:]
    pick = sorted({round(i * (len(order) - 1) / (n - 1)) for i in range(n)})
    return [order[i] for i in pick]


class FairShare:
    """Time budgets for shards handed out one at a time, so that the run ends by `deadline` with
    every shard's budget in proportion to its weight (see the module doc)."""

    def __init__(self, weights: list, deadline: float):
        self.weights = [float(w) for w in weights]
        self.deadline = deadline
        self.promised = {}  # shard id in flight -> the time its budget ends

    def start(self, sid: int, pending: list, now: float, workers: int, cap: float | None = None) -> float:
        """The budget (seconds) of shard sid, taken now by a free worker, with `pending` (the shards
        not started yet, in the order they will be handed out) to follow on `workers` live workers.
        `cap` bounds the budget further (--task-cap); what it does not take stays in the pool."""
        left = self.deadline - now
        w = self.weights[sid]
        # The proportional share of the worker-seconds not yet promised ...
        unpromised = max(0.0, workers * left - sum(max(0.0, end - now) for end in self.promised.values()))
        share = unpromised * w / max(w + sum(self.weights[p] for p in pending), 1e-9)
        # ... but no more than lets every shard still to come keep the same rate and end in time.
        c = self.seconds_per_weight([sid] + list(pending), now, workers)
        budget = max(0.0, min(left, share, c * w))
        if cap is not None:
            budget = min(budget, cap)
        self.promised[sid] = now + budget
        return budget

    def finish(self, sid: int):
        """The shard ended (done, failed or lost): what is left of its budget returns to the pool."""
        self.promised.pop(sid, None)

    def seconds_per_weight(self, order: list, now: float, workers: int) -> float:
        """The largest c such that the shards of `order`, each given c x its weight and handed in
        turn to the worker free first, all end by the deadline. Workers are free now, or when the
        budget of their shard in flight ends (time already promised is not handed out twice)."""
        left = self.deadline - now
        if left <= 0 or not order:
            return 0.0
        busy = sorted(max(now, end) for end in self.promised.values())
        free = [now] * max(1, workers - len(busy)) + busy[:max(0, workers - 1)]

        def makespan(c):
            ends = list(free)
            heapq.heapify(ends)
            last = now
            for sid in order:
                end = heapq.heappop(ends) + c * self.weights[sid]
                last = max(last, end)
                heapq.heappush(ends, end)
            return last

        lo, hi = 0.0, left / max(self.weights[order[0]], 1e-9)
        if makespan(hi) <= self.deadline:
            return hi
        for _ in range(60):  # makespan grows with c: bisect to the deadline
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if makespan(mid) <= self.deadline else (lo, mid)
        return lo
