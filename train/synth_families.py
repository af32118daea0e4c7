"""The rule families of train/synth.py: how each draws its parameters and its pairs, and what
makes its demonstrations ambiguous. One section per kind; the FAMILIES registry at the end.

A family is three functions (see Family): `params(rng, lo, hi)` draws what a task shares (a colour
table, a direction, an offset); `pair(rng, params, lo, hi)` draws one (input, output) with input
sides in lo..hi and no side above hi, or None to be redrawn; `ambiguous(train, test, params)` is
True when a rival reading fits every demonstration but answers a test differently. Generation
(make_instance: redraws, ids, seeds) and the task spec live in train/synth.py.

Grids are (H, W) uint8 numpy arrays. Random draws go through _int/_pick/_sample on one
numpy Generator per task, so a task is a pure function of its seed.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from submission.tasks import NUM_COLOURS

KINDS = ("colour", "geometry", "object", "counting")
DIRECTIONS = ("down", "up", "left", "right")

Grid = np.ndarray  # (H, W) uint8, colours 0..9
Pair = tuple[Grid, Grid]


@dataclass(frozen=True)
class Family:
    """One rule. `params` draws the rule's parameters for a task; `pair` draws one (input, output)
    under them, or None to be redrawn; `ambiguous` says whether demonstrations fail to pin the rule
    down for the test pairs (the task is then redrawn)."""

    name: str
    kind: str  # one of KINDS
    rule: str  # the rule in one line, as --list prints it
    min_side: int  # the smallest HI at which the family makes tasks
    params: Callable[[np.random.Generator, int, int], dict]  # (rng, lo, hi) -> parameters
    pair: Callable[[np.random.Generator, dict, int, int], Pair | None]  # (rng, params, lo, hi)
    ambiguous: Callable[[list[Pair], list[Pair], dict], bool]  # (train, test, params)


# -----------------------------------------------------------------------------
# Drawing grids and objects


def _int(rng, lo: int, hi: int) -> int:
    """An integer in lo..hi (inclusive). rng.random() costs a quarter of rng.integers() per call,
    and generation makes a few dozen such draws per task."""
    return min(lo + int(rng.random() * (hi - lo + 1)), hi)


def _pick(rng, seq):
    """One element of a sequence, uniformly."""
    return seq[_int(rng, 0, len(seq) - 1)]


def _sample(rng, pool, k: int) -> np.ndarray:
    """k distinct elements of pool, in random order."""
    return np.asarray(pool)[rng.permutation(len(pool))[:k]]


def _side(rng, lo: int, hi: int) -> int:
    """A side in lo..hi; lo is lowered to hi when a family's cap (hi) is below it."""
    return _int(rng, min(lo, hi), hi)


def _colours(rng, k: int, exclude=(0,)) -> np.ndarray:
    """k distinct colours, none of `exclude`."""
    return _sample(rng, [c for c in range(NUM_COLOURS) if c not in exclude], k).astype(np.uint8)


def _noise(rng, h: int, w: int, palette, density: float) -> Grid:
    """(h, w) grid: each cell, with probability `density`, a colour drawn uniformly from `palette`,
    else 0. One uniform u per cell decides both: u < density is filled, and then u / density is
    itself uniform, so it picks the colour."""
    u = rng.random((h, w))  # (h, w)
    k = len(palette)
    index = np.minimum((u * (k / density)).astype(np.intp), k)  # k = background
    return np.append(np.asarray(palette, dtype=np.uint8), np.uint8(0))[index]


def _same(a: Grid, b: Grid) -> bool:
    """Equal shape and cells (faster than np.array_equal on small grids)."""
    return a.shape == b.shape and a.tobytes() == b.tobytes()


_STEPS4 = ((1, 0), (-1, 0), (0, 1), (0, -1))


def _grow_polyomino(rng, n: int) -> np.ndarray:
    """A random 4-connected shape of n cells, as a bool mask cropped to its bounding box."""
    cells = [(0, 0)]
    taken = {(0, 0)}
    while len(cells) < n:
        r, c = _pick(rng, cells)
        dr, dc = _pick(rng, _STEPS4)
        if (r + dr, c + dc) not in taken:
            taken.add((r + dr, c + dc))
            cells.append((r + dr, c + dc))
    rc = np.array(cells)
    rc -= rc.min(axis=0)
    mask = np.zeros(rc.max(axis=0) + 1, dtype=bool)
    mask[rc[:, 0], rc[:, 1]] = True
    return mask


@dataclass(frozen=True)
class Shape:
    """A polyomino: its mask (cropped to the bounding box), its cells, and the cells of its
    8-neighbourhood grown by one (which another object must not touch)."""

    mask: np.ndarray  # (h, w) bool
    cells: tuple[tuple[int, int], ...]
    halo: tuple[tuple[int, int], ...]  # cells within one step (8 directions), itself included


def _shape(mask: np.ndarray) -> Shape:
    cells = tuple((int(r), int(c)) for r, c in np.argwhere(mask))
    halo = sorted({(r + dr, c + dc) for r, c in cells for dr in (-1, 0, 1) for dc in (-1, 0, 1)})
    return Shape(mask, cells, tuple(halo))


MAX_OBJECT_CELLS = 12
_SHAPES: dict[int, list[Shape]] = {}


def _shapes(n: int) -> list[Shape]:
    """Distinct polyominoes of n cells (up to ~256: random growths, each in its 4 rotations).
    Built once per process from a fixed seed, so every process draws from the same shapes; growing
    a shape per object was most of the object families' cost."""
    if n not in _SHAPES:
        rng = np.random.default_rng([12345, n])
        seen, shapes = set(), []
        for _ in range(256 if n > 1 else 1):
            grown = _grow_polyomino(rng, n)
            for turn in range(4):
                m = np.ascontiguousarray(np.rot90(grown, turn))
                key = (m.shape, m.tobytes())
                if key not in seen:
                    seen.add(key)
                    shapes.append(_shape(m))
            if len(shapes) >= 256:
                break
        _SHAPES[n] = shapes
    return _SHAPES[n]


def _place(rng, h: int, w: int, shapes: list[Shape], whole_box: bool = False,
           tries: int = 25) -> list[tuple[int, int]] | None:
    """Top-left corners for each shape in an (h, w) grid such that no two shapes touch, not even
    diagonally (whole_box: no two bounding boxes); None when one does not fit after `tries`
    random corners. The largest shapes are placed first, as they are the hardest to fit. Pure
    Python: the shapes are a few cells, where numpy's per-call cost would dominate."""
    corners = [None] * len(shapes)
    halo = set()  # cells next to or under a placed shape
    boxes = []  # (top, left, bottom, right) of placed boxes, grown by one cell
    for k in sorted(range(len(shapes)), key=lambda k: -shapes[k].mask.size):
        s = shapes[k]
        sh, sw = s.mask.shape
        if sh > h or sw > w:
            return None
        # all the tries' corners in one draw: (tries, 2) uniforms -> rows 0..h-sh, columns 0..w-sw
        u = rng.random((tries, 2)) * (h - sh + 1, w - sw + 1)
        for r, c in u.astype(np.intp).tolist():
            if whole_box:
                free = all(r + sh <= t or b <= r or c + sw <= lft or rgt <= c for t, lft, b, rgt in boxes)
            else:
                free = not any((r + i, c + j) in halo for i, j in s.cells)
            if free:
                if whole_box:
                    boxes.append((r - 1, c - 1, r + sh + 1, c + sw + 1))
                else:
                    halo.update((r + i, c + j) for i, j in s.halo)
                corners[k] = (r, c)
                break
        else:
            return None
    return corners


def _draw_shapes(rng, sizes) -> list[Shape]:
    return [_pick(rng, _shapes(int(n))) for n in sizes]


def _objects(rng, h: int, w: int, shapes: list[Shape], colours, whole_box: bool = False):
    """An (h, w) grid with the shapes coloured `colours[i]`, no two touching (so 4- and
    8-connectivity give the same objects). whole_box: keep their bounding boxes apart too.
    Returns (grid, [(row, col, mask), ...]) or None when they do not fit."""
    corners = _place(rng, h, w, shapes, whole_box)
    if corners is None:
        return None
    g = np.zeros((h, w), dtype=np.uint8)
    for (r, c), s, colour in zip(corners, shapes, colours):
        g[r:r + s.mask.shape[0], c:c + s.mask.shape[1]][s.mask] = colour
    return g, [(r, c, s.mask) for (r, c), s in zip(corners, shapes)]


def _colours_in(grids) -> set:
    return set(np.unique(np.concatenate([g.ravel() for g in grids])).tolist())


def _refits(apply, alternatives, train: list[Pair], test: list[Pair]) -> bool:
    """True when some alternative parameters reproduce every demonstration output yet answer a
    test input differently: the demonstrations do not pin the rule down."""
    for alt in alternatives:
        fits = True
        for i, o in train:
            a = apply(alt, i)
            if a is None or not _same(a, o):
                fits = False
                break
        if fits:
            for i, o in test:
                a = apply(alt, i)
                if a is None or not _same(a, o):
                    return True
    return False


def _never(train, test, params) -> bool:
    return False


# -----------------------------------------------------------------------------
# Colour families: each cell's colour changes by a fixed table; positions stay.


def _colour_map_params(rng, lo, hi):
    palette = _colours(rng, _int(rng, 2, 5), exclude=())
    changed = _sample(rng, palette, _int(rng, 1, len(palette)))
    mapping = {}
    for c in changed.tolist():
        mapping[c] = _pick(rng, [t for t in range(NUM_COLOURS) if t != c])
    lut = np.arange(NUM_COLOURS, dtype=np.uint8)
    for c, t in mapping.items():
        lut[c] = t
    return {"palette": palette.tolist(), "mapping": mapping, "lut": lut}


def _colour_pair(rng, p, lo, hi):
    # every cell a palette colour (0 is one only if the palette drew it)
    g = _noise(rng, _side(rng, lo, hi), _side(rng, lo, hi), p["palette"], 1.0)
    return g, p["lut"][g]


def _colour_map_ambiguous(train, test, p):
    # a test colour absent from every demonstration input: its image is unknowable
    return not _colours_in([i for i, _ in test]) <= _colours_in([i for i, _ in train])


def _colour_swap_params(rng, lo, hi):
    palette = _colours(rng, _int(rng, 2, 5), exclude=())
    a, b = int(palette[0]), int(palette[1])
    lut = np.arange(NUM_COLOURS, dtype=np.uint8)
    lut[a], lut[b] = b, a
    return {"palette": palette.tolist(), "swap": (a, b), "lut": lut}


def _colour_swap_ambiguous(train, test, p):
    # both swapped colours must be shown changing, and no test colour may be new
    seen = _colours_in([i for i, _ in train])
    return not (set(p["swap"]) <= seen and _colours_in([i for i, _ in test]) <= seen)


# -----------------------------------------------------------------------------
# Geometry families: the grid moves as a whole.

# The 8 symmetries of a rectangle; rot90 turns clockwise. anti_transpose mirrors across the
# anti-diagonal (top-right to bottom-left).
DIHEDRAL = {
    "identity": lambda g: g,
    "flip_lr": lambda g: g[:, ::-1],
    "flip_ud": lambda g: g[::-1, :],
    "rot90": lambda g: g.T[:, ::-1],
    "rot180": lambda g: g[::-1, ::-1],
    "rot270": lambda g: g.T[::-1, :],
    "transpose": lambda g: g.T,
    "anti_transpose": lambda g: g[::-1, ::-1].T,
}
DIHEDRAL_RULES = {
    "flip_lr": "mirror the grid left-right",
    "flip_ud": "mirror the grid top-bottom",
    "rot90": "rotate the grid 90 degrees clockwise",
    "rot180": "rotate the grid 180 degrees",
    "rot270": "rotate the grid 90 degrees counter-clockwise",
    "transpose": "mirror the grid across its main diagonal (rows become columns)",
    "anti_transpose": "mirror the grid across its anti-diagonal",
}


def _pattern_params(rng, lo, hi):
    """Style of a random input: 1-4 foreground colours over background at some density."""
    return {"palette": _colours(rng, _int(rng, 1, 4)).tolist(), "density": 0.3 + 0.7 * rng.random()}


def _dihedral_family(name: str) -> Family:
    transform = DIHEDRAL[name]

    def pair(rng, p, lo, hi):
        g = _noise(rng, _side(rng, lo, hi), _side(rng, lo, hi), p["palette"], p["density"])
        return g, np.ascontiguousarray(transform(g))

    def ambiguous(train, test, p):
        others = [n for n in DIHEDRAL if n != name]
        return _refits(lambda n, g: DIHEDRAL[n](g), others, train, test)

    return Family(name, "geometry", DIHEDRAL_RULES[name], 2, _pattern_params, pair, ambiguous)


MAX_SHIFT = 3  # offsets -3..3 in each direction


def _shift(g: Grid, dy: int, dx: int, mode: str) -> Grid:
    """Move every cell by (dy, dx): 'wrap' brings what leaves back on the other side, 'fill' drops
    it and fills the vacated cells with 0."""
    h, w = g.shape
    if mode == "wrap":  # output row r is input row r - dy (mod h); likewise columns
        return g[(np.arange(h) - dy) % h][:, (np.arange(w) - dx) % w]
    out = np.zeros_like(g)
    if abs(dy) < h and abs(dx) < w:
        out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = g[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def _translate_params(rng, lo, hi):
    reach = min(MAX_SHIFT, hi - 2)  # keep part of the grid in view
    while True:
        dy, dx = _int(rng, -reach, reach), _int(rng, -reach, reach)
        if dy or dx:
            break
    return {**_pattern_params(rng, lo, hi), "dy": dy, "dx": dx, "mode": _pick(rng, ("wrap", "fill")),
            "density": 0.2 + 0.5 * rng.random()}


def _translate_pair(rng, p, lo, hi):
    least = max(abs(p["dy"]), abs(p["dx"])) + 2
    g = _noise(rng, _side(rng, max(lo, least), hi), _side(rng, max(lo, least), hi), p["palette"], p["density"])
    return g, _shift(g, p["dy"], p["dx"], p["mode"])


def _every_shift(g: Grid) -> np.ndarray:
    """_shift of g by every offset in -3..3 x -3..3, both modes, at once: (2, 7, 7, H, W) indexed
    [mode (wrap, fill), dy + 3, dx + 3]. Two fancy-indexing calls instead of 98 shifts."""
    h, w = g.shape
    d = np.arange(-MAX_SHIFT, MAX_SHIFT + 1)  # (7,)
    rows, cols = np.arange(h)[None, :] - d[:, None], np.arange(w)[None, :] - d[:, None]  # (7, H), (7, W)
    wrap = g[(rows % h)[:, None, :, None], (cols % w)[None, :, None, :]]  # (7, 7, H, W)
    padded = np.zeros((h + 2 * MAX_SHIFT, w + 2 * MAX_SHIFT), dtype=g.dtype)  # 0 where fill shifts bring nothing
    padded[MAX_SHIFT:MAX_SHIFT + h, MAX_SHIFT:MAX_SHIFT + w] = g
    fill = padded[(rows + MAX_SHIFT)[:, None, :, None], (cols + MAX_SHIFT)[None, :, None, :]]  # (7, 7, H, W)
    return np.stack([wrap, fill])


def _translate_ambiguous(train, test, p):
    # every other offset and edge mode: the other mode fits when the cells that wrap are background,
    # and offsets that differ by the width fit a grid of that width (dx -2 and +2 on 4 columns).
    # Only the shifts that fit the first demonstration (found all at once) are checked further.
    i, o = train[0]
    fits_first = np.argwhere((_every_shift(i) == o).all(axis=(3, 4)))  # (n, 3): mode, dy + 3, dx + 3
    alts = [(int(a) - MAX_SHIFT, int(b) - MAX_SHIFT, ("wrap", "fill")[m]) for m, a, b in fits_first]
    alts = [q for q in alts if q != (p["dy"], p["dx"], p["mode"])]
    return _refits(lambda q, g: _shift(g, *q), alts, train, test)


def _scale_params(rng, lo, hi):
    k = _pick(rng, [k for k in (2, 3, 4) if hi // k >= 2])
    return {**_pattern_params(rng, lo, hi), "k": k}


def _small_grid(rng, p, lo, hi):
    """A non-uniform grid whose sides times k fit in hi."""
    cap = hi // p["k"]
    g = _noise(rng, _side(rng, lo, cap), _side(rng, lo, cap), p["palette"], p["density"])
    return None if (g == g.flat[0]).all() else g


def _scale_up_pair(rng, p, lo, hi):
    g = _small_grid(rng, p, lo, hi)
    return None if g is None else (g, np.repeat(np.repeat(g, p["k"], axis=0), p["k"], axis=1))


def _scale_down_pair(rng, p, lo, hi):
    g = _small_grid(rng, p, lo, hi)
    return None if g is None else (np.repeat(np.repeat(g, p["k"], axis=0), p["k"], axis=1), g)


# -----------------------------------------------------------------------------
# Object families: the rule reads connected objects, enclosures or rays.


def _crop_params(rng, lo, hi):
    return {}


def _crop_pair(rng, p, lo, hi):
    """2-4 objects of distinct sizes and random colours, bounding boxes apart; the output is the
    bounding box of the one with the most cells, which must also have the largest box."""
    h, w = _side(rng, max(lo, 4), hi), _side(rng, max(lo, 4), hi)
    largest = max(2, min(MAX_OBJECT_CELLS, h * w // 6))  # sizes 1..largest, distinct
    sizes = _sample(rng, range(1, largest + 1), min(_int(rng, 2, 4), largest))
    shapes = _draw_shapes(rng, sizes)
    areas = [s.mask.size for s in shapes]
    big = int(np.argmax(sizes))
    if sorted(areas)[-2:].count(areas[big]) > 1 or areas[big] != max(areas):
        return None  # the most cells and the largest box must be the same, unique object
    made = _objects(rng, h, w, shapes, [_int(rng, 1, NUM_COLOURS - 1) for _ in sizes], whole_box=True)
    if made is None:
        return None
    g, objs = made
    r, c, s = objs[big]
    return g, g[r:r + s.shape[0], c:c + s.shape[1]].copy()


def _crop_ambiguous(train, test, p):
    # "crop the object of colour X" must not fit too: the largest object's colour varies
    colours = {int(o.max()) for _, o in train}
    return len(colours) < 2


def _gravity_params(rng, lo, hi):
    return {**_pattern_params(rng, lo, hi), "direction": _pick(rng, DIRECTIONS), "density": 0.15 + 0.35 * rng.random()}


def _fall(g: Grid, direction: str) -> Grid:
    """Every non-zero cell slides towards `direction` until it meets the border or another cell;
    cells keep their order along the way."""
    if direction == "up":
        return _fall(g[::-1], "down")[::-1]
    if direction == "right":
        return _fall(g.T, "down").T
    if direction == "left":
        return _fall(g[:, ::-1].T, "down").T[:, ::-1]
    # down: a stable sort of each column by "is filled" puts the background first, the cells after
    order = np.argsort(g != 0, axis=0, kind="stable")  # (H, W)
    return np.ascontiguousarray(np.take_along_axis(g, order, axis=0))


def _gravity_pair(rng, p, lo, hi):
    g = _noise(rng, _side(rng, lo, hi), _side(rng, lo, hi), p["palette"], p["density"])
    return g, _fall(g, p["direction"])


def _gravity_ambiguous(train, test, p):
    # A guard that has not been seen to fire: opposite directions differ on any column (row) that
    # holds cells without being full, and no grid of 3 colours up to 3x4 falls alike two ways
    # while changing (checked exhaustively), so a changed demonstration already rules them out.
    return _refits(lambda d, g: _fall(g, d), [d for d in DIRECTIONS if d != p["direction"]], train, test)


def _enclosed(g: Grid) -> np.ndarray:
    """Bool mask of background cells that no 4-connected path of background joins to the border.
    Grows the set reached from the border one step per iteration (vectorised), until it stops."""
    bg = g == 0
    reach = np.zeros_like(bg)
    reach[0], reach[-1], reach[:, 0], reach[:, -1] = bg[0], bg[-1], bg[:, 0], bg[:, -1]
    while True:
        grown = reach.copy()
        grown[1:] |= reach[:-1]
        grown[:-1] |= reach[1:]
        grown[:, 1:] |= reach[:, :-1]
        grown[:, :-1] |= reach[:, 1:]
        grown &= bg
        if _same(grown, reach):
            return bg & ~reach
        reach = grown


def _fill_params(rng, lo, hi):
    wall, fill = (int(c) for c in _colours(rng, 2))
    return {"wall": wall, "fill": fill}


def _fill_pair(rng, p, lo, hi):
    """1-3 rectangle outlines in the wall colour (some with a one-cell gap, which leaves them
    open) and a sprinkle of wall cells; enclosed background takes the fill colour."""
    h, w = _side(rng, max(lo, 3), hi), _side(rng, max(lo, 3), hi)
    g = np.zeros((h, w), dtype=np.uint8)
    for _ in range(_int(rng, 1, 3)):
        rh, rw = _side(rng, 3, min(h, 12)), _side(rng, 3, min(w, 12))
        r, c = _int(rng, 0, h - rh), _int(rng, 0, w - rw)
        box = g[r:r + rh, c:c + rw]
        box[[0, -1], :] = p["wall"]
        box[:, [0, -1]] = p["wall"]
        if rng.random() < 0.3:  # open it: a gap in one side, away from the corners
            if rng.random() < 0.5:
                box[_pick(rng, (0, rh - 1)), _int(rng, 1, rw - 2)] = 0
            else:
                box[_int(rng, 1, rh - 2), _pick(rng, (0, rw - 1))] = 0
    g[rng.random((h, w)) < 0.04] = p["wall"]
    inside = _enclosed(g)
    if not inside.any():
        return None
    out = g.copy()
    out[inside] = p["fill"]
    return g, out


def _lines_params(rng, lo, hi):
    return {"direction": _pick(rng, DIRECTIONS)}


def _extend(g: Grid, direction: str) -> Grid:
    """Each non-zero cell paints its colour on every cell from it to the border in `direction`."""
    out = g.copy()
    for r, c in np.argwhere(g != 0):
        colour = g[r, c]
        if direction == "down":
            out[r:, c] = colour
        elif direction == "up":
            out[:r + 1, c] = colour
        elif direction == "right":
            out[r, c:] = colour
        else:
            out[r, :c + 1] = colour
    return out


def _lines_pair(rng, p, lo, hi):
    """1-4 seed cells in distinct rows (horizontal rays) or columns (vertical rays), none on the
    edge they would shoot towards."""
    h, w = _side(rng, lo, hi), _side(rng, lo, hi)
    across, along = (h, w) if p["direction"] in ("left", "right") else (w, h)
    if along < 2:
        return None
    lanes = _sample(rng, range(across), _int(rng, 1, min(4, across)))
    g = np.zeros((h, w), dtype=np.uint8)
    for lane in lanes.tolist():
        # the seed's place along its ray, counted from the side the ray leaves: never the far edge
        step, colour = _int(rng, 0, along - 2), _int(rng, 1, NUM_COLOURS - 1)
        if p["direction"] == "right":
            g[lane, step] = colour
        elif p["direction"] == "left":
            g[lane, w - 1 - step] = colour
        elif p["direction"] == "down":
            g[step, lane] = colour
        else:
            g[h - 1 - step, lane] = colour
    return g, _extend(g, p["direction"])


MAX_RECOLOUR_SIZE = 4


def _recolour_params(rng, lo, hi):
    cs = _colours(rng, MAX_RECOLOUR_SIZE + 1)
    return {"colour": int(cs[0]), "by_size": {n + 1: int(c) for n, c in enumerate(cs[1:])}}


def _recolour_pair(rng, p, lo, hi):
    """2-6 objects of one colour, 1-4 cells each, not touching; each takes its size's colour."""
    h, w = _side(rng, lo, hi), _side(rng, lo, hi)
    sizes = [_int(rng, 1, MAX_RECOLOUR_SIZE) for _ in range(_int(rng, 2, min(6, max(2, h * w // 10))))]
    made = _objects(rng, h, w, _draw_shapes(rng, sizes), [p["colour"]] * len(sizes))
    if made is None:
        return None
    g, objs = made
    out = g.copy()
    for (r, c, s), n in zip(objs, sizes):
        out[r:r + s.shape[0], c:c + s.shape[1]][s] = p["by_size"][int(n)]
    return g, out


def _recolour_ambiguous(train, test, p):
    # a test object of a size no demonstration shows: its colour is unknowable (each size has its
    # own output colour, so compare the output colours)
    return not _colours_in([o for _, o in test]) <= _colours_in([o for _, o in train])


def _symmetry_params(rng, lo, hi):
    axis = _pick(rng, ("lr", "ud", "both"))
    mask, *rest = (int(c) for c in _colours(rng, 5))
    return {"axis": axis, "mask": mask, "palette": rest[:_int(rng, 1, 4)], "density": 0.5 + 0.5 * rng.random()}


def _mirror_fill(g: Grid, mask: int, axis: str):
    """Cells of colour `mask` take the colour of their mirror image across `axis` ('lr', 'ud',
    'rot180'); None when a mirror image is masked too."""
    mirror = {"lr": g[:, ::-1], "ud": g[::-1, :], "rot180": g[::-1, ::-1]}[axis]
    out = np.where(g == mask, mirror, g)
    return None if (out == mask).any() else out


def _symmetry_pair(rng, p, lo, hi):
    """A grid symmetric across the axis ('both': across both), with a rectangle of it painted
    in the mask colour, inside one half (one quarter for 'both') so its mirror images are intact."""
    h, w = _side(rng, lo, hi), _side(rng, lo, hi)
    half_h, half_w = (h + 1) // 2, (w + 1) // 2
    if (p["axis"] != "ud" and w < 2) or (p["axis"] != "lr" and h < 2):
        return None
    g = _noise(rng, h, w, p["palette"], p["density"])
    if p["axis"] in ("lr", "both"):
        g[:, w - half_w:] = g[:, :half_w][:, ::-1]
    if p["axis"] in ("ud", "both"):
        g[h - half_h:, :] = g[:half_h, :][::-1, :]
    # the mask rectangle: within rows [r0, r1) and columns [c0, c1) of one side of each mirrored axis
    r0, r1, c0, c1 = 0, h, 0, w
    if p["axis"] in ("lr", "both"):
        c0, c1 = (0, w // 2) if rng.random() < 0.5 else (w - w // 2, w)
    if p["axis"] in ("ud", "both"):
        r0, r1 = (0, h // 2) if rng.random() < 0.5 else (h - h // 2, h)
    mh, mw = _side(rng, 1, max(1, (r1 - r0) // 2 + 1)), _side(rng, 1, max(1, (c1 - c0) // 2 + 1))
    r, c = _int(rng, r0, r1 - mh), _int(rng, c0, c1 - mw)
    inp = g.copy()
    inp[r:r + mh, c:c + mw] = p["mask"]
    return inp, g


def _symmetry_ambiguous(train, test, p):
    own = {"lr": ["lr"], "ud": ["ud"], "both": ["lr", "ud"]}[p["axis"]]
    others = [a for a in ("lr", "ud", "rot180") if a not in own]
    return _refits(lambda a, g: _mirror_fill(g, p["mask"], a), others, train, test)


# -----------------------------------------------------------------------------
# Counting: the output's size encodes a number.

MAX_COUNT = 9


def _bar_params(rng, lo, hi):
    return {"orientation": _pick(rng, ("row", "column")), "colour": _int(rng, 1, NUM_COLOURS - 1)}


def _bar_pair(rng, p, lo, hi):
    """1..9 objects of 1-3 cells and random colours, not touching; the output is a bar of the
    bar colour, one cell per object."""
    h, w = _side(rng, lo, hi), _side(rng, lo, hi)
    n = _int(rng, 1, min(MAX_COUNT, hi, h * w // 6 + 1))
    made = _objects(rng, h, w, _draw_shapes(rng, [_int(rng, 1, 3) for _ in range(n)]),
                    [_int(rng, 1, NUM_COLOURS - 1) for _ in range(n)])
    if made is None:
        return None
    shape = (1, n) if p["orientation"] == "row" else (n, 1)
    return made[0], np.full(shape, p["colour"], dtype=np.uint8)


def _bar_ambiguous(train, test, p):
    # rival readings: a constant bar, "count the cells", "count the colours"
    counts = [max(o.shape) for _, o in train]
    cells = [int((i != 0).sum()) for i, _ in train]
    colours = [len(np.unique(i[i != 0])) for i, _ in train]
    return len(set(counts)) < 2 or cells == counts or colours == counts


# -----------------------------------------------------------------------------
# The registry

FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("colour_map", "colour", "each colour is replaced by its image under a fixed substitution of some colours",
           2, _colour_map_params, _colour_pair, _colour_map_ambiguous),
    Family("colour_swap", "colour", "two fixed colours trade places; every other colour stays",
           2, _colour_swap_params, _colour_pair, _colour_swap_ambiguous),
    *[_dihedral_family(name) for name in DIHEDRAL_RULES],
    Family("translate", "geometry", "shift the grid by a fixed offset (up to 3 cells), wrapping around or filling with 0",
           3, _translate_params, _translate_pair, _translate_ambiguous),
    Family("scale_up", "geometry", "each cell becomes a k x k block (k = 2, 3 or 4)",
           4, _scale_params, _scale_up_pair, _never),
    Family("scale_down", "geometry", "each k x k block becomes one cell (k = 2, 3 or 4)",
           4, _scale_params, _scale_down_pair, _never),
    Family("crop_object", "object", "crop the grid to the bounding box of the object with the most cells",
           4, _crop_params, _crop_pair, _crop_ambiguous),
    Family("gravity", "object", "every coloured cell falls in a fixed direction until it meets the border or another cell",
           2, _gravity_params, _gravity_pair, _gravity_ambiguous),
    Family("fill_enclosed", "object", "background cells cut off from the border by walls take a fixed fill colour",
           4, _fill_params, _fill_pair, _never),
    Family("extend_lines", "object", "each seed cell extends a line of its colour to the border in a fixed direction",
           2, _lines_params, _lines_pair, _never),  # a seed off its far edge paints >= 2 cells along one axis only
    Family("recolour_by_size", "object", "each object (one input colour) is recoloured by its cell count, 1-4 cells -> 4 fixed colours",
           4, _recolour_params, _recolour_pair, _recolour_ambiguous),
    Family("complete_symmetry", "object", "cells of a mask colour take the colour of their mirror image (left-right, top-bottom or both)",
           2, _symmetry_params, _symmetry_pair, _symmetry_ambiguous),
    Family("count_bar", "counting", "output a 1 x N (or N x 1) bar of a fixed colour, N = the number of objects",
           3, _bar_params, _bar_pair, _bar_ambiguous),
]}
