"""Grid <-> token canvas.

Tokens: PAD 0, EOS 1, colour c -> c + 2. A grid of h x w placed at offset (r0, c0) on an S x S
canvas fills rows r0..r0+h-1, cols c0..c0+w-1; one EOS row just below it (cols c0..c0+w-1, and
c0+w too, the corner cell diagonal to the grid, when `corner`) and one EOS column just right of it
(rows r0..r0+h-1) where they fit; every other cell is PAD. The reference leaves the corner PAD
(corner=False, the paper presets); the kit's first layout marked it EOS (corner=True, the default so
that checkpoints written before the option read their canvases as trained). The label
canvas uses the same layout; its PAD cells are ignored by the loss, so the model learns the
output's size from where it puts EOS.

Decoding reads from the offset and keeps the largest-area top-left rectangle of colour tokens, as
the reference's evaluator does (evaluators/arc.py, `_crop`): going down the rows, the width is the
run of colour tokens of every row so far (it can only shrink, and stops at the first PAD/EOS); of
the rectangles (rows so far) x (that width), the largest wins, the first on a tie. A well-formed
prediction decodes to its grid; a ragged one to that rectangle.

`encode_batch` is the hot path of the data pipeline: it writes B augmented, translated samples
straight from a flat buffer of original grids into a (B, S, S) canvas in one numba call, so no
augmented copy of the data set ever exists. Numba checks no index, so the kernels check their own
input (every grid placed inside the canvas, every index inside its array) and refuse what does not
fit, through their Python wrappers' ValueError: whatever a caller passes, nothing is written out of
bounds.
"""
from __future__ import annotations

import numba
import numpy as np

PAD, EOS, COLOUR0 = 0, 1, 2


def encode_grid(grid: np.ndarray, side: int, offset: tuple = (0, 0), corner: bool = True) -> np.ndarray:
    """One grid -> (side, side) uint8 token canvas (reference implementation, plain numpy)."""
    h, w = grid.shape
    r0, c0 = offset
    if r0 < 0 or c0 < 0 or r0 + h > side or c0 + w > side:
        raise ValueError(f"grid {h}x{w} at offset {offset} does not fit a {side}x{side} canvas")
    canvas = np.zeros((side, side), dtype=np.uint8)
    canvas[r0:r0 + h, c0:c0 + w] = grid + COLOUR0
    if r0 + h < side:
        canvas[r0 + h, c0:min(c0 + w + int(corner), side)] = EOS
    if c0 + w < side:
        canvas[r0:r0 + h, c0 + w] = EOS
    return canvas


def decode_grid(canvas: np.ndarray, offset: tuple = (0, 0)) -> np.ndarray | None:
    """(S, S) tokens (or flat S*S) -> grid, or None when the top-left cell is not a colour."""
    if canvas.ndim == 1:
        s = int(round(np.sqrt(canvas.shape[0])))
        canvas = canvas.reshape(s, s)
    c = canvas[offset[0]:, offset[1]:]
    is_colour = (c >= COLOUR0) & (c < COLOUR0 + 10)
    best, best_hw = 0, (0, 0)
    w = c.shape[1]
    for h in range(1, c.shape[0] + 1):
        row = is_colour[h - 1, :w]
        w = int(np.argmin(row)) if not row.all() else w  # the run of colours, within the width so far
        if w == 0:
            break
        if h * w > best:
            best, best_hw = h * w, (h, w)
    if best == 0:
        return None
    return (c[:best_hw[0], :best_hw[1]] - COLOUR0).astype(np.uint8)


@numba.njit(cache=True, nogil=True)
def _src_index(d, i, j, h, w):
    # Source cell (of the original h x w grid) of cell (i, j) of its dihedral image d.
    if d == 0:
        return i, j
    if d == 1:
        return j, w - 1 - i
    if d == 2:
        return h - 1 - i, w - 1 - j
    if d == 3:
        return h - 1 - j, i
    if d == 4:
        return i, w - 1 - j
    if d == 5:
        return h - 1 - i, j
    if d == 6:
        return j, i
    return h - 1 - j, w - 1 - i


# Why a kernel refused its input (the first element of what it returns; 0: every row written).
OK, BAD_SHAPES, BAD_GRID_INDEX, BAD_GRID_EXTENT, BAD_DIHEDRAL, BAD_COLOUR_MAP, DOES_NOT_FIT, BAD_CELL = range(8)


@numba.njit(cache=True, nogil=True)
def _encode_kernel(buf, starts, heights, widths, grid_idx, dihedrals, colours, shifts, side, out, corner):
    # encode_batch's work. Numba does not check indices, so every index this writes or reads is
    # checked here first: a first pass over the rows (their grids' cells included) writes nothing and
    # returns (reason, row) at the first row that cannot be encoded. Returns (OK, -1) when every row
    # is written.
    B = grid_idx.shape[0]
    G = starts.shape[0]
    if (side < 1 or out.shape[0] != B or out.shape[1] != side or out.shape[2] != side
            or dihedrals.shape[0] != B or colours.shape[0] != B or colours.shape[1] != 10
            or shifts.shape[0] != B or shifts.shape[1] != 2 or heights.shape[0] != G or widths.shape[0] != G):
        return BAD_SHAPES, -1
    for b in range(B):
        g = grid_idx[b]
        if g < 0 or g >= G:
            return BAD_GRID_INDEX, b
        d = dihedrals[b]
        if d < 0 or d > 7:
            return BAD_DIHEDRAL, b
        for k in range(10):
            if colours[b, k] < 0 or colours[b, k] > 9:
                return BAD_COLOUR_MAP, b
        h, w = heights[g], widths[g]
        th, tw = (w, h) if (d == 1 or d == 3 or d == 6 or d == 7) else (h, w)
        r0, c0 = shifts[b, 0], shifts[b, 1]
        if h < 1 or w < 1 or r0 < 0 or c0 < 0 or r0 + th > side or c0 + tw > side:
            return DOES_NOT_FIT, b
        # h, w <= side here, so h * w cannot overflow
        if starts[g] < 0 or starts[g] > buf.shape[0] - h * w:
            return BAD_GRID_EXTENT, b
        for k in range(starts[g], starts[g] + h * w):
            if buf[k] < 0 or buf[k] > 9:
                return BAD_CELL, b
    for b in range(B):
        g = grid_idx[b]
        h, w = heights[g], widths[g]
        d = dihedrals[b]
        th, tw = (w, h) if (d == 1 or d == 3 or d == 6 or d == 7) else (h, w)
        r0, c0 = shifts[b, 0], shifts[b, 1]
        base = starts[g]
        for i in range(side):
            for j in range(side):
                out[b, i, j] = PAD
        for i in range(th):
            for j in range(tw):
                si, sj = _src_index(d, i, j, h, w)
                out[b, r0 + i, c0 + j] = colours[b, buf[base + si * w + sj]] + COLOUR0
        if r0 + th < side:
            for j in range(c0, min(c0 + tw + (1 if corner else 0), side)):
                out[b, r0 + th, j] = EOS
        if c0 + tw < side:
            for i in range(r0, r0 + th):
                out[b, i, c0 + tw] = EOS
    return OK, -1


def encode_batch(buf, starts, heights, widths, grid_idx, dihedrals, colours, shifts, side, out, corner=True):
    """Write B augmented grids into out (B, side, side) uint8, overwriting it; corner: the EOS cell
    diagonal to the grid (module doc). A compiled kernel does the work.

    buf (N,) uint8 flat original grids; starts/heights/widths (G,) per grid; grid_idx (B,);
    dihedrals (B,) uint8; colours (B, 10) uint8; shifts (B, 2) offsets on the canvas.
    Raises ValueError, naming the row, when a row's grid (after its dihedral and shift) does not fit
    the canvas or any array is out of range; nothing is then written outside `out`.
    """
    reason, b = _encode_kernel(buf, starts, heights, widths, grid_idx, dihedrals, colours, shifts, int(side),
                               out, bool(corner))
    if reason == OK:
        return
    B = len(grid_idx)
    if reason == BAD_SHAPES:
        raise ValueError(f"encode_batch: expected out ({B}, {side}, {side}), dihedrals ({B},), colours ({B}, 10), "
                         f"shifts ({B}, 2) and one height and width per start; got out {np.shape(out)}, dihedrals "
                         f"{np.shape(dihedrals)}, colours {np.shape(colours)}, shifts {np.shape(shifts)}, starts "
                         f"{np.shape(starts)}, heights {np.shape(heights)}, widths {np.shape(widths)}")
    g = int(grid_idx[b])
    if reason == BAD_GRID_INDEX:
        raise ValueError(f"encode_batch: row {b}: grid index {g} outside 0..{len(starts) - 1}")
    if reason == BAD_DIHEDRAL:
        raise ValueError(f"encode_batch: row {b}: dihedral {int(dihedrals[b])} outside 0..7")
    if reason == BAD_COLOUR_MAP:
        raise ValueError(f"encode_batch: row {b}: colour map {np.asarray(colours[b]).tolist()} has a value outside 0..9")
    h, w, d = int(heights[g]), int(widths[g]), int(dihedrals[b])
    if reason == DOES_NOT_FIT:
        th, tw = (w, h) if d in (1, 3, 6, 7) else (h, w)
        raise ValueError(f"encode_batch: row {b}: grid {g} ({h}x{w}, {th}x{tw} under dihedral {d}) at offset "
                         f"({int(shifts[b, 0])}, {int(shifts[b, 1])}) does not fit the {side}x{side} canvas")
    if reason == BAD_GRID_EXTENT:
        raise ValueError(f"encode_batch: row {b}: grid {g} ({h}x{w} from offset {int(starts[g])}) runs past the "
                         f"buffer of {len(buf)} cells")
    raise ValueError(f"encode_batch: row {b}: grid {g} holds a cell value outside 0..9")


@numba.njit(cache=True, nogil=True)
def _decode_kernel(tokens, side, out, shapes):
    # decode_batch's work; returns False (writing nothing) when the arrays' shapes do not match side.
    B = tokens.shape[0]
    if (side < 1 or tokens.shape[1] != side * side or out.shape[0] != B or out.shape[1] != side
            or out.shape[2] != side or shapes.shape[0] != B or shapes.shape[1] != 2):
        return False
    for b in range(B):
        best, bh, bw = 0, 0, 0
        w = side
        for h in range(1, side + 1):
            run = 0
            while run < w and COLOUR0 <= tokens[b, (h - 1) * side + run] < COLOUR0 + 10:
                run += 1
            w = run
            if w == 0:
                break
            if h * w > best:
                best, bh, bw = h * w, h, w
        shapes[b, 0], shapes[b, 1] = bh, bw
        for i in range(bh):
            for j in range(bw):
                out[b, i, j] = tokens[b, i * side + j] - COLOUR0
    return True


def decode_batch(tokens, side, out, shapes):
    """Decode B canvases (B, side*side) at offset (0, 0) by the largest-rectangle rule (module doc):
    out (B, side, side) uint8 colours, shapes (B, 2) int64 (0, 0 when the top-left cell is not a
    colour). A compiled kernel does the work; ValueError when the shapes do not match side."""
    if not _decode_kernel(tokens, int(side), out, shapes):
        B = len(tokens)
        raise ValueError(f"decode_batch: expected tokens ({B}, {side}*{side}), out ({B}, {side}, {side}) and shapes "
                         f"({B}, 2); got tokens {np.shape(tokens)}, out {np.shape(out)}, shapes {np.shape(shapes)}")


def needed_side(h: int, w: int, canvas_side: int) -> int:
    """Smallest canvas side that holds an h x w grid and its EOS row/column (capped at canvas_side)."""
    return min(max(h, w) + 1, canvas_side)
