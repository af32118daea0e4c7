"""Tests for submission/inference.py: decoding views back to the original frame, merging identical
predictions, and ranking them by votes.

Independent references: token canvases and their expected grids written out by hand (the rotation
and colour map undone on paper), the reference's crop rule for a malformed prediction (the
largest-area top-left rectangle of colour tokens, evaluators/arc.py `_crop` in
SamsungSAILMontreal/TinyRecursiveModels), and candidate lists whose ranking is worked out by hand
from the reference's rule (most votes first, ties by the higher mean halt confidence).
"""
import numpy as np

from submission.inference import Candidate, decode_views, gather_candidates, make_viewset, rank_by_votes

IDENTITY = np.arange(10, dtype=np.uint8)
# A colour permutation fixing black: k -> 10 - k for k = 1..9.
REVERSE = np.array([0, 9, 8, 7, 6, 5, 4, 3, 2, 1], dtype=np.uint8)
P, E = 0, 1  # PAD and EOS tokens; colour c is token c + 2


def tokens(rows: list) -> np.ndarray:
    """A hand-written canvas (rows of tokens) as the flat array run_views returns."""
    return np.array(rows, dtype=np.uint8).ravel()


def test_decode_views_undoes_the_augmentation():
    g = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    # View 0: rot90 (counter-clockwise) then colours k -> 10 - k. By hand: rot90(g) = [[3, 6], [2, 5],
    # [1, 4]], recoloured [[7, 4], [8, 5], [9, 6]], i.e. tokens [[9, 6], [10, 7], [11, 8]] on a 4x4
    # canvas with its EOS column and row.
    # View 1: identity on a 5x5 canvas. View 2: nothing decodes (PAD in the corner).
    # View 3: a grid filling its whole 3x3 canvas (no room for EOS).
    vs = make_viewset([g, g, g, np.zeros((3, 3), np.uint8)], [4, 5, 4, 3],
                      [[(7, 1, REVERSE)], [(8, 0, IDENTITY)], [(9, 0, IDENTITY)], [(10, 0, IDENTITY)]])
    preds = [
        tokens([[9, 6, E, P], [10, 7, E, P], [11, 8, E, P], [E, E, P, P]]),
        tokens([[3, 4, 5, E, P], [6, 7, 8, E, P], [E, E, E, P, P], [P] * 5, [P] * 5]),
        tokens([[P, 3, 4, E], [5, 6, 7, E], [E] * 4, [P] * 4]),
        tokens([[2, 3, 4], [5, 6, 7], [8, 9, 11]]),
    ]
    out = decode_views(vs, preds)
    assert out[0].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert out[1].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert out[2] is None
    assert out[3].tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 9]]


def test_decode_views_crops_a_ragged_prediction_like_the_reference():
    # Rows of colour runs 3, 2, 2 then PAD: the top-left rectangles are 1x3 (area 3), 2x2 (4) and
    # 3x2 (6); the reference keeps the largest, 3x2.
    vs = make_viewset([np.zeros((2, 2), np.uint8)], [5], [[(1, 0, IDENTITY)]])
    pred = tokens([[2, 3, 4, P, P], [5, 6, E, 7, P], [8, 9, P, P, P], [P, 2, P, P, P], [P] * 5])
    assert decode_views(vs, [pred])[0].tolist() == [[0, 1], [3, 4], [6, 7]]
    # Equal areas: the first (fewest rows) wins, as in the reference (strictly larger replaces).
    pred = tokens([[2, 3, 4, 5, P], [6, 7, P, P, P], [P] * 5, [P] * 5, [P] * 5])
    assert decode_views(vs, [pred])[0].tolist() == [[0, 1, 2, 3]]


def test_gather_candidates_merges_identical_grids_per_item():
    a = np.array([[1, 2], [3, 4]], np.uint8)
    a_flat = np.array([[1, 2, 3, 4]], np.uint8)  # same bytes, other shape: another candidate
    b = np.array([[5]], np.uint8)
    g0 = np.zeros((2, 2), np.uint8)
    # Item 0 has four views, item 1 two.
    views = [[(1, 0, IDENTITY), (2, 0, IDENTITY), (3, 0, IDENTITY), (6, 0, IDENTITY)],
             [(4, 0, IDENTITY), (5, 0, IDENTITY)]]
    vs = make_viewset([g0, g0], [3, 3], views)
    # make_viewset lists item 0's views first: view order is 0, 1, 2, 3 (item 0) then 4, 5 (item 1).
    assert vs.item.tolist() == [0, 0, 0, 0, 1, 1]
    grids = [a, a.copy(), b, a_flat, a.copy(), None]
    conf = np.array([0.5, 0.25, 0.9, 0.1, 0.7, 0.3], np.float32)
    cands = gather_candidates(vs, grids, conf, 2)
    item0 = {(c.grid.shape, c.grid.tobytes()): c for c in cands[0]}
    assert len(item0) == 3
    ca = item0[((2, 2), a.tobytes())]
    assert (ca.votes, ca.views) == (2, [0, 1])
    assert abs(ca.conf_sum - 0.75) < 1e-6 and abs(ca.mean_conf - 0.375) < 1e-6
    cb = item0[((1, 1), b.tobytes())]
    assert (cb.votes, cb.views) == (1, [2])
    cf = item0[((1, 4), a.tobytes())]
    assert (cf.votes, cf.views) == (1, [3])
    # Item 1: view 4's grid; view 5 decoded nothing and casts no vote.
    assert len(cands[1]) == 1
    assert (cands[1][0].votes, cands[1][0].views) == (1, [4])
    assert cands[1][0].grid.tolist() == a.tolist()


def test_rank_by_votes_by_hand():
    def cand(name, votes, confs):
        return Candidate(grid=np.array([[name]], np.uint8), votes=votes, conf_sum=float(sum(confs)))
    x = cand(1, 3, [0.1, 0.2, 0.3])   # mean 0.2
    y = cand(2, 3, [0.9, 0.9, 0.9])   # mean 0.9
    z = cand(3, 5, [0.1] * 5)         # mean 0.1
    w = cand(4, 1, [1.0])             # mean 1.0
    u = cand(5, 3, [0.6, 0.6, 0.6])   # mean 0.6
    ranked = rank_by_votes([x, y, z, w, u])
    # Most votes first (z); among the three with 3 votes the higher mean confidence first (y, u, x);
    # then w, whose confidence does not make up for its single vote.
    assert [int(c.grid[0, 0]) for c in ranked] == [3, 2, 5, 1, 4]
    # The score orders the same way.
    scores = [c.score for c in ranked]
    assert scores == sorted(scores, reverse=True)
    assert rank_by_votes([]) == []
