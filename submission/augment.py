"""Augmentations of ARC grids: 8 dihedral transforms x colour permutations x translation.

An augmentation is a small record, `Aug(dihedral, colours, shift)`:
- dihedral in 0..7: 0 identity, 1 rot90 (counter-clockwise, as np.rot90), 2 rot180, 3 rot270,
  4 flip left-right, 5 flip up-down, 6 transpose, 7 anti-transpose;
- colours: a permutation of 0..9 (new colour = colours[old]); black (0) is kept fixed by default;
- shift: (rows, cols) offset of the grid's top-left corner on the canvas (translation).

Every record is exactly invertible (`Aug.invert`). The puzzle identity of an augmented task is
(dihedral, colours) only; the shift is drawn per training sample and undone by decoding from the
offset.

`distinct_augmentations` gives a task its list of augmentations that produce *different* augmented
tasks. Two augmentations a, b give the same task exactly when b^-1 a is a symmetry of the task, so
instead of materialising and hashing every augmented copy (the reference's way, minutes and GBs for
ARC-AGI-1 x 1000), we find the task's symmetries once and compare canonical keys, vectorised.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_DIHEDRAL = 8
IDENTITY_COLOURS = tuple(range(10))


def dihedral(grid: np.ndarray, d: int) -> np.ndarray:
    """Apply dihedral transform d to a 2-D array (returns a view where numpy can)."""
    if d == 0:
        return grid
    if d == 1:
        return np.rot90(grid, 1)
    if d == 2:
        return np.rot90(grid, 2)
    if d == 3:
        return np.rot90(grid, 3)
    if d == 4:
        return grid[:, ::-1]
    if d == 5:
        return grid[::-1, :]
    if d == 6:
        return grid.T
    if d == 7:
        return grid[::-1, ::-1].T
    raise ValueError(f"dihedral id must be 0..7, got {d}")


# Inverse of each transform: rot90 <-> rot270, every other one is its own inverse.
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)


def _compose_table() -> np.ndarray:
    """COMPOSE[a, b] = the transform equal to applying b first, then a."""
    probe = np.arange(6).reshape(2, 3)  # asymmetric: all 8 images differ
    images = [dihedral(probe, d) for d in range(N_DIHEDRAL)]
    table = np.zeros((N_DIHEDRAL, N_DIHEDRAL), dtype=np.int64)
    for a in range(N_DIHEDRAL):
        for b in range(N_DIHEDRAL):
            ab = dihedral(dihedral(probe, b), a)
            table[a, b] = next(d for d in range(N_DIHEDRAL)
                               if images[d].shape == ab.shape and (images[d] == ab).all())
    return table


COMPOSE = _compose_table()


@dataclass(frozen=True)
class Aug:
    dihedral: int = 0
    colours: tuple = IDENTITY_COLOURS
    shift: tuple = (0, 0)

    def apply(self, grid: np.ndarray) -> np.ndarray:
        """Original grid -> augmented grid (the shift is applied by the encoder, not here)."""
        return np.ascontiguousarray(np.asarray(self.colours, dtype=np.uint8)[dihedral(grid, self.dihedral)])

    def invert(self, grid: np.ndarray) -> np.ndarray:
        """Augmented grid -> original orientation and colours."""
        inv_colours = np.argsort(np.asarray(self.colours)).astype(np.uint8)
        return np.ascontiguousarray(dihedral(inv_colours[grid], DIHEDRAL_INVERSE[self.dihedral]))

    def to_list(self) -> list:
        return [self.dihedral, list(self.colours), list(self.shift)]

    @classmethod
    def from_list(cls, v) -> "Aug":
        return cls(int(v[0]), tuple(int(c) for c in v[1]), tuple(int(s) for s in v[2]) if len(v) > 2 else (0, 0))


def random_colour_perms(rng: np.random.Generator, n: int, keep_black: bool = True) -> np.ndarray:
    """(n, 10) uint8 random permutations of the colours; column 0 stays 0 when keep_black."""
    if keep_black:
        rest = np.argsort(rng.random((n, 9)), axis=1) + 1
        return np.concatenate([np.zeros((n, 1), dtype=np.int64), rest], axis=1).astype(np.uint8)
    return np.argsort(rng.random((n, 10)), axis=1).astype(np.uint8)


def task_symmetries(grids: list[np.ndarray], keep_black: bool = True) -> list[tuple[int, np.ndarray]]:
    """The (dihedral d, colour map q) pairs that leave every grid of the task unchanged:
    colours_q(dihedral_d(g)) == g for all g. q is a (10,) map, identity outside the used colours.
    Always contains the identity. With keep_black, only maps fixing 0 count (the only ones that
    can relate two black-fixing augmentations)."""
    syms = []
    for d in range(N_DIHEDRAL):
        q = -np.ones(10, dtype=np.int64)
        ok = True
        for g in grids:
            t = dihedral(g, d)
            if t.shape != g.shape:
                ok = False
                break
            src, dst = t.ravel(), g.ravel()
            # q must send every colour of t to the colour in the same cell of g, consistently.
            pairs = np.unique(src.astype(np.int64) * 10 + dst)
            s, dd = pairs // 10, pairs % 10
            if len(np.unique(s)) != len(s):
                ok = False
                break
            prev = q[s]
            if ((prev >= 0) & (prev != dd)).any():
                ok = False
                break
            q[s] = dd
        if not ok:
            continue
        used = np.flatnonzero(q >= 0)
        if len(np.unique(q[used])) != len(used) or set(q[used]) != set(used):
            continue  # not a bijection of the used colours
        if keep_black and q[0] >= 0 and q[0] != 0:
            continue
        q[q < 0] = np.flatnonzero(q < 0)  # identity elsewhere
        syms.append((d, q))
    return syms


def distinct_augmentations(grids: list[np.ndarray], n: int, rng: np.random.Generator,
                           keep_black: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Up to n augmentations giving pairwise different augmented tasks; the first is the identity.

    Returns (dihedrals (k,) uint8, colours (k, 10) uint8), k <= n (fewer for symmetric tasks or tasks
    with few colours). Keys are canonical over the task's symmetries, so duplicates are rejected
    exactly without building any augmented grid.
    """
    used = np.unique(np.concatenate([g.ravel() for g in grids])).astype(np.int64)
    syms = task_symmetries(grids, keep_black)
    weights = 10 ** np.arange(len(used), dtype=np.int64)  # base-10 digits for the used colours

    def keys(ds: np.ndarray, perms: np.ndarray) -> np.ndarray:
        # The augmented task depends only on (dihedral, colours of the used colours); the smallest
        # key over the task's symmetries s names its class: aug o s gives the same task as aug.
        best = None
        for sd, sq in syms:
            k = COMPOSE[ds, sd] * 10 ** len(used) + (perms[:, sq[used]].astype(np.int64) * weights).sum(1)
            best = k if best is None else np.minimum(best, k)
        return best

    out_d = [np.zeros(1, dtype=np.uint8)]
    out_p = [np.arange(10, dtype=np.uint8)[None]]
    seen = set(keys(np.zeros(1, dtype=np.int64), out_p[0]).tolist())
    count, tries = 1, 0
    while count < n and tries < 8:
        m = max(2 * (n - count), 16)
        ds = rng.integers(0, N_DIHEDRAL, m)
        ps = random_colour_perms(rng, m, keep_black)
        ks = keys(ds, ps)
        new_d, new_p = [], []
        for i, k in enumerate(ks.tolist()):
            if k not in seen and count < n:
                seen.add(k)
                new_d.append(ds[i])
                new_p.append(ps[i])
                count += 1
        if new_d:
            out_d.append(np.asarray(new_d, dtype=np.uint8))
            out_p.append(np.stack(new_p).astype(np.uint8))
        tries += 1 if not new_d or len(new_d) < m // 4 else 0
    return np.concatenate(out_d), np.concatenate(out_p)
