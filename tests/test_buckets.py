"""Tests for submission/data.py choose_buckets: which canvas sides the batches use.

Independent references: merges worked out by hand from the documented rule (merge the adjacent pair
whose merge pads the fewest positions, a batch row of side s costing s*s + 16 positions), and
properties any bucket list must have, checked on random data.
"""
import numpy as np

from submission.data import choose_buckets


def test_choose_buckets_by_hand():
    # 10 samples need side 3, 1 needs side 5, 10 need side 8; canvas 11 (no sample needs it).
    # Costs s*s + 16: 3 -> 25, 5 -> 41, 8 -> 80, 11 -> 137. Padded positions added by each merge:
    #   3 into 5: 10 * (41 - 25) = 160;  5 into 8: 1 * (80 - 41) = 39;  8 into 11: 10 * (137 - 80) = 570
    # -> first 5 goes into 8. Then 3 into 8: 10 * 55 = 550 against 8 into 11: 11 * 57 = 627 -> 3 into 8.
    sides = np.array([3] * 10 + [5] + [8] * 10)
    assert choose_buckets(sides, 11, 4) == [3, 5, 8, 11]
    assert choose_buckets(sides, 11, 3) == [3, 8, 11]
    assert choose_buckets(sides, 11, 2) == [8, 11]
    assert choose_buckets(sides, 11, 1) == [11]
    # Many small samples make the other merge cheaper: 100 at side 3, 1 at 5, 2 at 8.
    #   3 into 5: 1600;  5 into 8: 39;  8 into 11: 114 -> [3, 8, 11]; then 3 into 8: 5500,
    #   8 into 11: 3 * 57 = 171 -> [3, 11].
    sides = np.array([3] * 100 + [5] + [8] * 2)
    assert choose_buckets(sides, 11, 3) == [3, 8, 11]
    assert choose_buckets(sides, 11, 2) == [3, 11]
    # A merged group carries its samples into the next decision: 13 at side 3, 5 at 5, 10 at 8.
    #   3 into 5: 208;  5 into 8: 195;  8 into 11: 570 -> [3, 8, 11] with 15 samples at 8; then
    #   3 into 8: 13 * 55 = 715 against 8 into 11: 15 * 57 = 855 -> [8, 11].
    sides = np.array([3] * 13 + [5] * 5 + [8] * 10)
    assert choose_buckets(sides, 11, 3) == [3, 8, 11]
    assert choose_buckets(sides, 11, 2) == [8, 11]


def test_choose_buckets_edges():
    # Sides above the canvas are capped to it; a canvas side present in the data is not repeated.
    assert choose_buckets(np.array([12, 40, 11]), 11, 4) == [11]
    assert choose_buckets(np.array([4, 11, 4]), 11, 4) == [4, 11]
    # As many distinct sides as buckets allowed: each keeps its own bucket.
    assert choose_buckets(np.array([2, 7, 7, 9]), 30, 4) == [2, 7, 9, 30]


def test_choose_buckets_properties_on_random_data():
    rng = np.random.default_rng(0)
    for trial in range(200):
        canvas = int(rng.integers(3, 31))
        sides = rng.integers(2, canvas + 5, int(rng.integers(1, 60)))
        k = int(rng.integers(1, 9))
        buckets = choose_buckets(sides, canvas, k)
        assert buckets == sorted(set(buckets)), buckets           # ascending, distinct
        assert buckets[-1] == canvas and len(buckets) <= k
        data_sides = set(np.minimum(sides, canvas).tolist()) | {canvas}
        assert set(buckets) <= data_sides                          # every bucket is a side some sample needs
        if len(data_sides) <= k:
            assert buckets == sorted(data_sides)                   # nothing merged when not needed
