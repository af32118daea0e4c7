"""Tests for submission/encoding.py: the grid <-> token canvas layout, the numba batch encoder and
decoder.

The layout is checked against a cell-by-cell reference written from the documented rules and a
hand-drawn canvas; encode_batch against encode_grid of the augmented grid (augmentation checked
independently in test_augment.py); decode_batch against decode_grid.
"""
import numpy as np
import pytest

from submission.augment import Aug, random_colour_perms
from submission.data import GridPacker
from submission.encoding import (COLOUR0, EOS, PAD, decode_batch, decode_grid, encode_batch,
                                 encode_grid, needed_side)

TRANSPOSING = {1, 3, 6, 7}


def ref_canvas(grid, side, offset, corner=True):
    """The documented layout, one cell at a time (corner=False: the reference's, whose EOS row stops
    under the grid's last column)."""
    h, w = grid.shape
    r0, c0 = offset
    out = np.full((side, side), -1, dtype=np.int64)
    for i in range(side):
        for j in range(side):
            if r0 <= i < r0 + h and c0 <= j < c0 + w:
                out[i, j] = grid[i - r0, j - c0] + 2
            elif i == r0 + h and c0 <= j <= c0 + w - (not corner):
                out[i, j] = 1  # EOS row just below, one cell longer (the corner) when corner
            elif j == c0 + w and r0 <= i < r0 + h:
                out[i, j] = 1  # EOS column just right
            else:
                out[i, j] = 0
    return out


def test_token_ids():
    assert (PAD, EOS, COLOUR0) == (0, 1, 2)


def test_hand_drawn_canvas():
    g = np.array([[3, 0, 9], [1, 2, 4]], dtype=np.uint8)
    c = encode_grid(g, 5, (1, 0))
    assert c.tolist() == [
        [0, 0, 0, 0, 0],
        [5, 2, 11, 1, 0],
        [3, 4, 6, 1, 0],
        [1, 1, 1, 1, 0],
        [0, 0, 0, 0, 0],
    ]
    assert c.dtype == np.uint8
    assert decode_grid(c, (1, 0)).tolist() == g.tolist()
    assert decode_grid(c) is None  # (0, 0) is PAD
    # The reference's layout (dataset/build_arc_dataset.py: result[eos_row, pad_c:eos_col] = 1 and
    # result[pad_r:eos_row, eos_col] = 1): the cell diagonal to the grid's corner stays PAD.
    r = encode_grid(g, 5, (1, 0), corner=False)
    assert r.tolist() == [
        [0, 0, 0, 0, 0],
        [5, 2, 11, 1, 0],
        [3, 4, 6, 1, 0],
        [1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0],
    ]
    assert decode_grid(r, (1, 0)).tolist() == g.tolist()


@pytest.mark.parametrize("side", [1, 2, 5, 11, 30])
def test_encode_matches_reference_and_round_trips(side):
    rng = np.random.default_rng(side)
    for _ in range(60 if side < 30 else 25):
        h, w = rng.integers(1, side + 1, 2)
        r0, c0 = rng.integers(0, side - h + 1), rng.integers(0, side - w + 1)
        g = rng.integers(0, 10, (h, w), dtype=np.uint8)
        c = encode_grid(g, side, (r0, c0))
        assert np.array_equal(c, ref_canvas(g, side, (r0, c0))), (h, w, r0, c0)
        assert np.array_equal(encode_grid(g, side, (r0, c0), corner=False), ref_canvas(g, side, (r0, c0), False))
        back = decode_grid(c, (r0, c0))
        assert back.dtype == np.uint8 and np.array_equal(back, g)
        # the flat form decodes the same
        assert np.array_equal(decode_grid(c.ravel(), (r0, c0)), g)


def test_eos_positions():
    g = np.ones((3, 4), np.uint8)
    side = 10
    # Room on both sides: EOS row of w+1 cells, EOS column of h cells.
    c = encode_grid(g, side, (2, 1))
    assert (c[5, 1:6] == EOS).all() and (c[2:5, 5] == EOS).all()
    assert (c == EOS).sum() == 4 + 1 + 3
    # Touching the right edge: no column, the row stops at the edge.
    c = encode_grid(g, side, (2, side - 4))
    assert (c == EOS).sum() == 4 and (c[5, side - 4:] == EOS).all()
    # Touching the bottom edge: no row, only the column.
    c = encode_grid(g, side, (side - 3, 0))
    assert (c == EOS).sum() == 3 and (c[side - 3:, 4] == EOS).all()
    # Touching both: no EOS at all.
    c = encode_grid(g, side, (side - 3, side - 4))
    assert (c == EOS).sum() == 0


def test_full_canvas_30():
    g = np.random.default_rng(0).integers(0, 10, (30, 30), dtype=np.uint8)
    c = encode_grid(g, 30)
    assert not (c == EOS).any() and not (c == PAD).any()
    assert np.array_equal(decode_grid(c), g)
    # and through the batch decoder
    out, shapes = np.zeros((1, 30, 30), np.uint8), np.zeros((1, 2), np.int64)
    decode_batch(c.reshape(1, -1), 30, out, shapes)
    assert shapes[0].tolist() == [30, 30] and np.array_equal(out[0], g)


def test_encode_rejects_overflow():
    with pytest.raises(ValueError):
        encode_grid(np.zeros((3, 3), np.uint8), 5, (3, 0))
    with pytest.raises(ValueError):
        encode_grid(np.zeros((3, 3), np.uint8), 2)


def test_decode_stops_at_pad_or_eos():
    side = 6
    g = np.full((2, 2), 3, np.uint8)
    for top_left in (PAD, EOS):
        c = encode_grid(g, side, (0, 1))  # colours everywhere else near the corner
        c[0, 0] = top_left
        assert decode_grid(c) is None
        out, shapes = np.full((1, side, side), 9, np.uint8), np.full((1, 2), -1, np.int64)
        decode_batch(c.reshape(1, -1), side, out, shapes)
        assert shapes[0].tolist() == [0, 0]
    # A ragged prediction: the largest top-left rectangle of colours.
    c = np.full((side, side), 2 + 7, np.uint8)
    c[0, 4] = EOS  # width 4
    c[3, 1] = PAD  # row 3 fails inside the width: height 3
    c[1, 5] = PAD  # outside the width: irrelevant
    assert decode_grid(c).tolist() == [[7] * 4] * 3
    out, shapes = np.zeros((1, side, side), np.uint8), np.zeros((1, 2), np.int64)
    decode_batch(c.reshape(1, -1), side, out, shapes)
    assert shapes[0].tolist() == [3, 4]


def test_decode_batch_matches_decode_grid():
    rng = np.random.default_rng(5)
    side, B = 9, 300
    canvases = []
    for b in range(B):
        kind = b % 3
        if kind == 0:  # a proper encoding
            h, w = rng.integers(1, side + 1, 2)
            canvases.append(encode_grid(rng.integers(0, 10, (h, w), dtype=np.uint8), side))
        elif kind == 1:  # noise, mostly colours
            canvases.append(rng.choice(12, (side, side), p=[0.04, 0.04] + [0.092] * 10).astype(np.uint8))
        else:  # noise with PAD/EOS at the top-left now and then
            c = rng.integers(0, 12, (side, side), dtype=np.uint8)
            canvases.append(c)
    tokens = np.stack(canvases).reshape(B, -1)
    out = np.full((B, side, side), 99, np.uint8)
    shapes = np.full((B, 2), -1, np.int64)
    decode_batch(tokens, side, out, shapes)
    n_none = 0
    for b in range(B):
        ref = decode_grid(canvases[b])
        if ref is None:
            n_none += 1
            assert shapes[b].tolist() == [0, 0]
        else:
            h, w = shapes[b]
            assert (h, w) == ref.shape
            assert np.array_equal(out[b, :h, :w], ref)
    assert 10 < n_none < B  # both branches were exercised


@pytest.mark.parametrize("corner", [True, False])
def test_encode_batch_matches_encode_grid(corner):
    rng = np.random.default_rng(2)
    side = 12
    packer = GridPacker()
    grids = [rng.integers(0, 10, (h, w), dtype=np.uint8)
             for h, w in rng.integers(1, side, (40, 2))]
    for g in grids:
        packer.add(g)
    buf, starts, heights, widths = packer.arrays()
    B = 400
    gi = rng.integers(0, len(grids), B)
    ds = rng.integers(0, 8, B).astype(np.uint8)
    cols = np.concatenate([random_colour_perms(rng, B // 2, True), random_colour_perms(rng, B - B // 2, False)])
    shifts = np.zeros((B, 2), np.int64)
    for b in range(B):
        h, w = grids[gi[b]].shape
        th, tw = (w, h) if ds[b] in TRANSPOSING else (h, w)
        if b % 4:  # three in four translated anywhere the grid fits
            shifts[b] = rng.integers(0, side - th + 1), rng.integers(0, side - tw + 1)
    out = np.full((B, side, side), 77, np.uint8)  # garbage: the encoder must overwrite every cell
    encode_batch(buf, starts, heights, widths, gi, ds, cols, shifts, side, out, corner)
    for b in range(B):
        aug = Aug(int(ds[b]), tuple(int(x) for x in cols[b]))
        exp = encode_grid(aug.apply(grids[gi[b]]), side, tuple(int(s) for s in shifts[b]), corner=corner)
        assert np.array_equal(out[b], exp), b
        # and decoding from the shift, then inverting, gives the original grid back
        assert np.array_equal(aug.invert(decode_grid(out[b], tuple(shifts[b]))), grids[gi[b]])


def test_needed_side():
    assert needed_side(3, 5, 30) == 6
    assert needed_side(30, 2, 30) == 30
    for h in range(1, 31):
        for w in range(1, 31):
            s = needed_side(h, w, 30)
            # the grid and (where it fits) its EOS row and column fit the canvas
            encode_grid(np.zeros((h, w), np.uint8), s)
            assert s == 30 or s == max(h, w) + 1
