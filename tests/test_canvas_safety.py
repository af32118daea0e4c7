"""Memory safety: no grid reaches a compiled kernel without being checked against the canvas.

Numba checks no index, so a grid larger than its canvas once made the trainer write out of bounds
("double free or corruption", segfaults). Property tests here feed every encoder and batch builder
(encode_batch, decode_batch, encode_grid, the training Sampler, inference's view canvases, the
demonstration encoder's pair canvases) grids of random sizes against random canvases, many seeded
trials: each call must either raise ValueError or give exactly what a slow numpy reference written
here gives, and where the test owns the output array a guard region around it must stay untouched
(a write out of bounds that happens not to crash still fails). The trainer's own up-front check
(every selected task against the canvas, with the flags to change) runs as a user would start it.
Last, the canvas inference guesses for an unknown answer: worked cases, and every ARC answer fits.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from submission.data import GridPacker, Sampler, build_puzzle_set, choose_buckets, inference_side, pair_sides
from submission.encoder import pair_groups
from submission.encoding import decode_batch, encode_batch, encode_grid
from submission.inference import encode_views, make_viewset
from submission.tasks import Task, load_tasks

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
GUARD = 0xAB  # never a token (0..11): a guard byte that changed was written by the kernel
PAD_BYTES = 8192


# -----------------------------------------------------------------------------
# The reference: the documented layout, written without the kit's code


def ref_dihedral(g: np.ndarray, d: int) -> np.ndarray:
    """augment.py's list: identity, rot90 (counter-clockwise), rot180, rot270, flip left-right, flip
    up-down, transpose, anti-transpose."""
    return [g, np.rot90(g, 1), np.rot90(g, 2), np.rot90(g, 3), np.fliplr(g), np.flipud(g), g.T,
            np.rot90(g, 2).T][d]


def ref_encode(grid, d, colours, shift, side, corner):
    """One augmented grid on its canvas, cell by cell: colours + 2, an EOS row below (one cell longer
    with the corner) and an EOS column to the right where they fit, PAD elsewhere. None when the
    grid does not fit."""
    g = np.asarray(colours)[ref_dihedral(grid, d)]
    h, w = g.shape
    r0, c0 = shift
    if r0 < 0 or c0 < 0 or r0 + h > side or c0 + w > side:
        return None
    out = np.zeros((side, side), np.int64)
    for i in range(side):
        for j in range(side):
            if r0 <= i < r0 + h and c0 <= j < c0 + w:
                out[i, j] = g[i - r0, j - c0] + 2
            elif i == r0 + h and c0 <= j < c0 + w + (1 if corner else 0):
                out[i, j] = 1
            elif j == c0 + w and r0 <= i < r0 + h:
                out[i, j] = 1
    return out


def ref_decode(canvas: np.ndarray) -> tuple:
    """(h, w) of the largest all-colour rectangle at the top-left corner, by trying every one; on a
    tie the fewest rows (the first going down). (0, 0) when the corner is not a colour."""
    colour = (canvas >= 2) & (canvas <= 11)
    best = (0, 0, 0)
    for h in range(1, canvas.shape[0] + 1):
        for w in range(1, canvas.shape[1] + 1):
            if colour[:h, :w].all() and h * w > best[0]:
                best = (h * w, h, w)
    return best[1], best[2]


def guarded(shape, fill=77):
    """An array of `shape` inside a larger buffer of guard bytes: (buffer, array view)."""
    n = int(np.prod(shape))
    buf = np.full(n + 2 * PAD_BYTES, GUARD, np.uint8)
    buf[PAD_BYTES:PAD_BYTES + n] = fill
    return buf, buf[PAD_BYTES:PAD_BYTES + n].reshape(shape)


def guards_intact(buf, n) -> bool:
    return bool((buf[:PAD_BYTES] == GUARD).all() and (buf[PAD_BYTES + n:] == GUARD).all())


def random_grid(rng, hi):
    return rng.integers(0, 10, tuple(rng.integers(1, hi + 1, 2)), dtype=np.uint8)


def random_colours(rng):
    return rng.permutation(10).astype(np.uint8)


# -----------------------------------------------------------------------------
# The kernels, fed directly


def test_encode_batch_refuses_or_matches_reference_on_random_input():
    rng = np.random.default_rng(0)
    outcomes = {"encoded": 0, "refused": 0}
    for trial in range(600):
        side = int(rng.integers(1, 13))
        grids = [random_grid(rng, side + 2) for _ in range(int(rng.integers(1, 5)))]  # some larger than the canvas
        packer = GridPacker()
        for g in grids:
            packer.add(g)
        buf, starts, heights, widths = packer.arrays()
        B = int(rng.integers(1, 6))
        gi = rng.integers(0, len(grids), B)
        ds = rng.integers(0, 8, B).astype(np.uint8)
        cols = np.stack([random_colours(rng) for _ in range(B)])
        corner = bool(rng.integers(0, 2))
        shifts = np.zeros((B, 2), np.int64)
        for b in range(B):
            th, tw = ref_dihedral(grids[gi[b]], int(ds[b])).shape
            if rng.random() < 0.9 and th <= side and tw <= side:  # mostly placements that fit
                shifts[b] = rng.integers(0, side - th + 1), rng.integers(0, side - tw + 1)
            else:
                shifts[b] = rng.integers(-2, side + 2, 2)
        out_shape = (B, side, side)
        # One in four trials breaks one more thing besides the sizes.
        broken = rng.integers(0, 12) if rng.random() < 0.25 else -1
        b0 = int(rng.integers(0, B))
        if broken == 0:
            gi[b0] = len(grids) if rng.random() < 0.5 else -1
        elif broken == 1:
            ds[b0] = rng.integers(8, 256)
        elif broken == 2:
            cols[b0, rng.integers(0, 10)] = rng.integers(10, 256)
        elif broken == 3:
            buf = buf.copy()
            buf[starts[gi[b0]]] = rng.integers(10, 256)  # a cell outside 0..9
        elif broken == 4:
            heights = heights.copy()
            heights[gi[b0]] += int(rng.integers(1, 3))  # runs past the buffer (or just the canvas)
        elif broken == 5:
            out_shape = (B, side + 1, side)
        elif broken == 6:
            shifts = shifts[:-1]
        # What the reference says of every row.
        expect = []
        valid = out_shape == (B, side, side) and len(shifts) == B
        for b in range(B if valid else 0):
            g_idx = int(gi[b])
            if not (0 <= g_idx < len(grids)) or ds[b] > 7 or cols[b].max() > 9:
                valid = False
                break
            h, w = int(heights[g_idx]), int(widths[g_idx])
            if starts[g_idx] + h * w > len(buf):  # the broken height: no such grid in the buffer
                valid = False
                break
            grid = buf[starts[g_idx]:starts[g_idx] + h * w].reshape(h, w)
            if grid.max() > 9:
                valid = False
                break
            ref = ref_encode(grid, int(ds[b]), cols[b], tuple(shifts[b]), side, corner)
            if ref is None:
                valid = False
                break
            expect.append(ref)
        mem, out = guarded(out_shape)
        try:
            encode_batch(buf, starts, heights, widths, gi, ds, cols, shifts, side, out, corner)
            error = None
        except ValueError as e:
            error = str(e)
        assert guards_intact(mem, out.size), trial  # nothing written outside `out`, whatever happened
        if valid:
            assert error is None, (trial, error)
            for b in range(B):
                assert np.array_equal(out[b], expect[b]), (trial, b)
            outcomes["encoded"] += 1
        else:
            assert error is not None and error.startswith("encode_batch"), trial
            outcomes["refused"] += 1
    assert min(outcomes.values()) > 150, outcomes  # both branches, many times


def test_encode_batch_names_what_does_not_fit():
    packer = GridPacker()
    packer.add(np.zeros((30, 20), np.uint8))
    buf, starts, heights, widths = packer.arrays()
    mem, out = guarded((1, 11, 11))
    with pytest.raises(ValueError, match=r"row 0: grid 0 \(30x20, 20x30 under dihedral 1\) at offset \(0, 0\) "
                                         r"does not fit the 11x11 canvas"):
        encode_batch(buf, starts, heights, widths, np.zeros(1, np.int64), np.ones(1, np.uint8),
                     np.arange(10, dtype=np.uint8)[None], np.zeros((1, 2), np.int64), 11, out)
    assert guards_intact(mem, out.size)


def test_decode_batch_refuses_or_matches_reference_on_random_input():
    rng = np.random.default_rng(1)
    refused = decoded = 0
    for trial in range(400):
        side = int(rng.integers(1, 13))
        B = int(rng.integers(1, 5))
        tokens = rng.integers(0, 14, (B, side * side)).astype(np.uint8)
        for b in range(B):  # most canvases hold a grid at the corner, some with stray cells
            if rng.random() < 0.7:
                h, w = rng.integers(1, side + 1, 2)
                grid = rng.integers(0, 10, (h, w), dtype=np.uint8)
                canvas = encode_grid(grid, side, corner=bool(rng.integers(0, 2))).ravel()
                noise = rng.random(side * side) < 0.1
                tokens[b] = np.where(noise, tokens[b], canvas)
        out_shape, shape_shape, tok = (B, side, side), (B, 2), tokens
        broken = rng.integers(0, 4) if rng.random() < 0.3 else -1
        if broken == 0:
            out_shape = (B, side - 1, side) if side > 1 else (B, 2, 2)
        elif broken == 1:
            shape_shape = (max(B - 1, 0), 2)
        elif broken == 2:
            tok = tokens[:, :-1]
        mem, out = guarded(out_shape, fill=0)
        shapes = np.zeros(shape_shape, np.int64)
        try:
            decode_batch(tok, side, out, shapes)
            error = None
        except ValueError as e:
            error = str(e)
        assert guards_intact(mem, out.size), trial  # nothing written outside `out`
        if out_shape != (B, side, side) or shape_shape != (B, 2) or tok.shape[1] != side * side:
            assert error is not None and error.startswith("decode_batch"), trial
            refused += 1
        else:
            assert error is None, (trial, error)
            for b in range(B):
                canvas = tokens[b].reshape(side, side)
                h, w = ref_decode(canvas)
                assert tuple(shapes[b]) == (h, w), trial
                assert np.array_equal(out[b, :h, :w], canvas[:h, :w] - 2), trial
            decoded += 1
    assert refused > 50 and decoded > 200, (refused, decoded)


def test_encode_grid_refuses_or_matches_reference():
    rng = np.random.default_rng(2)
    for _ in range(300):
        side = int(rng.integers(1, 13))
        grid = random_grid(rng, 14)
        offset = tuple(int(x) for x in rng.integers(-2, side + 1, 2))
        corner = bool(rng.integers(0, 2))
        ref = ref_encode(grid, 0, np.arange(10), offset, side, corner)
        if ref is None:
            with pytest.raises(ValueError, match="does not fit"):
                encode_grid(grid, side, offset, corner)
        else:
            assert np.array_equal(encode_grid(grid, side, offset, corner), ref)


# -----------------------------------------------------------------------------
# The batch builders


def random_tasks(rng, hi):
    """1-3 tasks of 1-3 demonstrations and one test pair, sides 1..hi."""
    tasks = []
    for t in range(int(rng.integers(1, 4))):
        train = [(random_grid(rng, hi), random_grid(rng, hi)) for _ in range(int(rng.integers(1, 4)))]
        tasks.append(Task(f"t{t}", train, [random_grid(rng, hi)], [random_grid(rng, hi)]))
    return tasks


def task_pairs(task, kind):
    """The pairs the sampler trains on: demonstrations, and the test pairs of a --data task."""
    return list(task.train) + (list(zip(task.test_inputs, task.test_outputs)) if kind == "train" else [])


def test_sampler_refuses_or_matches_reference():
    """Every sampled row is one of its task's pairs under its puzzle's augmentation, at a shift on
    the bucket's canvas (found by trying them all), or the Sampler refuses, naming the task."""
    rng = np.random.default_rng(3)
    built = refused = 0
    for trial in range(120):
        canvas = int(rng.integers(1, 10))
        kind = "train" if rng.random() < 0.5 else "eval"
        tasks = random_tasks(rng, canvas + 2 * int(rng.random() < 0.5))  # half the trials: some grids too large
        ps = build_puzzle_set(tasks if kind == "train" else [], tasks if kind == "eval" else [],
                              int(rng.integers(1, 4)), seed=trial)
        too_big = [t.id for t in tasks if max(max(g.shape) for p in task_pairs(t, kind) for g in p) > canvas]
        buckets = choose_buckets(pair_sides(ps, canvas), canvas, int(rng.integers(1, 4)))
        mode, corner = ("fresh", "fixed")[trial % 2], bool(rng.integers(0, 2))
        make = lambda: Sampler(ps, canvas, buckets, int(rng.integers(1, 5)), seed=trial, translate_prob=0.7,
                               translate_mode=mode, eos_corner=corner)
        if too_big:
            with pytest.raises(ValueError, match=f"do not fit the {canvas}x{canvas} canvas, e.g. task '{too_big[0]}'"):
                make()
            refused += 1
            continue
        sampler = make()
        for b in range(len(sampler.buckets)):
            if not len(sampler.bucket_pairs[b]):
                continue
            batch = sampler.batch(b)
            S = batch["side"]
            for x, y, pid in zip(batch["inputs"], batch["labels"], batch["puzzle_ids"]):
                t = int(np.searchsorted(ps.task_base, pid, side="right") - 1)
                d, cols = int(ps.dihedrals[pid]), ps.colours[pid]
                rows, columns = np.nonzero(x >= 2)  # the shift: where the input's colours start
                shift = (int(rows.min()), int(columns.min()))
                found = False
                for a, out in task_pairs(tasks[t], kind):
                    ra = ref_encode(a, d, cols, shift, S, corner)
                    rb = ref_encode(out, d, cols, shift, S, corner)
                    found |= ra is not None and rb is not None and np.array_equal(ra, x) and np.array_equal(rb, y)
                assert found, (trial, b)
        built += 1
    assert built > 20 and refused > 20, (built, refused)


def test_inference_canvases_refuse_or_match_reference():
    rng = np.random.default_rng(4)
    refused = encoded = 0
    for trial in range(200):
        n = int(rng.integers(1, 4))
        items = [random_grid(rng, 12) for _ in range(n)]
        sides = [int(rng.integers(1, 13)) for _ in range(n)]
        views = [[(1 + v, int(rng.integers(0, 8)), random_colours(rng)) for v in range(int(rng.integers(1, 4)))]
                 for _ in range(n)]
        vs = make_viewset(items, sides, views)
        corner = bool(rng.integers(0, 2))
        for side in np.unique(vs.sides):
            idx = np.flatnonzero(vs.sides == side)
            refs = [ref_encode(items[vs.item[v]], int(vs.dihedrals[v]), vs.colours[v], (0, 0), int(side), corner)
                    for v in idx]
            if any(r is None for r in refs):
                with pytest.raises(ValueError, match="does not fit"):
                    encode_views(vs, idx, int(side), corner)
                refused += 1
            else:
                canv = encode_views(vs, idx, int(side), corner)
                assert all(np.array_equal(c, r) for c, r in zip(canv, refs)), trial
                encoded += 1
    assert refused > 50 and encoded > 50, (refused, encoded)


def test_encoder_pair_groups_leave_out_what_does_not_fit():
    """The demonstration encoder's canvases: every pair that fits, on its needed side, as the
    reference encodes it (the encoder's own layout marks the EOS corner); larger pairs left out."""
    rng = np.random.default_rng(5)
    for trial in range(60):
        canvas = int(rng.integers(1, 10))
        tasks = random_tasks(rng, canvas + 2 * int(rng.random() < 0.5))  # half the trials: some grids too large
        ps = build_puzzle_set([], tasks, 2, seed=trial)
        ids = np.arange(1, ps.num_puzzles)
        got = []
        for inputs, outputs, owner in pair_groups(ps, ids, canvas, torch.device("cpu")):
            S = int(round(inputs.shape[1] ** 0.5))
            got += [(S, int(o), x.numpy().tobytes(), y.numpy().tobytes()) for x, y, o in zip(inputs, outputs, owner)]
        want = []
        for k, pid in enumerate(ids):
            t = int(np.searchsorted(ps.task_base, pid, side="right") - 1)
            for a, b in tasks[t].train:
                big = max(*a.shape, *b.shape)
                if big > canvas:
                    continue
                S = min(big + 1, canvas)
                enc = [ref_encode(g, int(ps.dihedrals[pid]), ps.colours[pid], (0, 0), S, True) for g in (a, b)]
                want.append((S, k, enc[0].tobytes(), enc[1].tobytes()))
        assert sorted(got) == sorted(want), trial


# -----------------------------------------------------------------------------
# The trainer: every selected task checked against the canvas before anything is built


def train(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "train", "--preset", "tiny-test", "--device", "cpu", "--no-progress",
                           "--out", str(tmp_path / "run"), *args], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=300)


def write_task(folder: Path, tid: str, train, test_in, test_out):
    folder.mkdir(parents=True, exist_ok=True)
    task = {"train": [{"input": a, "output": b} for a, b in train], "test": [{"input": test_in, "output": test_out}]}
    (folder / f"{tid}.json").write_text(json.dumps(task))


def grid(h, w, c=1):
    return [[c] * w for _ in range(h)]


def test_trainer_refuses_tasks_larger_than_the_canvas(tmp_path):
    """tiny-test's canvas is 8; --max-side 30 once let 9x9 and 20x20 grids reach the encoder (exit
    139). Now: exit 1 before anything is built, naming the task, its size, the canvas and the flags."""
    p = train(tmp_path, "--max-side", "30", "--first", "3")
    assert p.returncode == 1, (p.returncode, p.stderr[-2000:])
    assert "task '007bbfb7' (--data arc1/train) has a 9x9 grid" in p.stderr, p.stderr
    assert "larger than the 8x8 canvas (--canvas-side 8, preset tiny-test)" in p.stderr
    assert "pass --max-side 8 to leave such tasks out, or --canvas-side 20" in p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "run").exists()


def test_trainer_heldout_answer_larger_than_the_canvas_counts_unsolved(tmp_path):
    """A held-out task is chosen and encoded by what a solver sees (demonstrations, test input): its
    9x9 answer on the 8x8 canvas is never encoded and counts as unsolved, as README says; the same
    task trained on entirely (--data: its test pair is trained on) is refused."""
    folder = tmp_path / "tasks"
    write_task(folder, "grow", [(grid(2, 2), grid(2, 2, 3)), (grid(3, 3), grid(3, 3, 3))], grid(3, 3), grid(9, 9, 3))
    p = train(tmp_path, "--data", "none", "--eval-data", str(folder), "--steps", "2", "--eval-every", "2")
    assert p.returncode == 0, p.stderr[-3000:]
    evals = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
             if '"eval"' in line]
    assert evals and evals[-1]["eval_outputs"] == 1 and evals[-1]["pass2"] == 0.0
    p = train(tmp_path, "--data", str(folder), "--eval-data", "none", "--max-side", "9", "--steps", "2",
              "--out", str(tmp_path / "r2"))
    assert p.returncode == 1 and "task 'grow' (--data" in p.stderr and "has a 9x9 grid" in p.stderr, p.stderr[-2000:]


def test_first_counts_tasks_over_all_specs(tmp_path):
    """--first K keeps K --data tasks in total, whatever the number of specs (it once kept K of each)."""
    p = train(tmp_path, "--data", "arc1/train", "--data", "arc1/eval", "--eval-data", "none", "--max-side", "7",
              "--first", "3", "--steps", "0")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "[data] 3 training tasks + 0 held-out tasks" in p.stdout, p.stdout
    p = train(tmp_path, "--data", "none", "--eval-data", "arc1/train", "--eval-data", "arc1/eval", "--max-side", "7",
              "--first", "2", "--steps", "0", "--out", str(tmp_path / "r2"))
    assert p.returncode == 0, p.stderr[-3000:]
    assert "[data] 0 training tasks + 2 held-out tasks" in p.stdout, p.stdout


def test_translate_prob_is_refused_under_the_fixed_rule(tmp_path):
    """--translate-prob has no effect on --translate-mode fixed (every pair of a puzzle but one moves):
    asking for both is refused rather than ignored."""
    p = train(tmp_path, "--translate-mode", "fixed", "--translate-prob", "0.3")
    assert p.returncode == 2 and "--translate-prob applies to --translate-mode fresh only" in p.stderr, p.stderr
    assert not (tmp_path / "run").exists()


# -----------------------------------------------------------------------------
# The canvas inference guesses for an unknown answer (submission/data.py inference_side)


def zeros(h, w):
    return np.zeros((h, w), np.uint8)


def test_inference_side_by_hand():
    demos = lambda *shapes: [(zeros(*a), zeros(*b)) for a, b in shapes]
    # Output = input: the test input's side + the EOS row/column.
    assert inference_side(demos(((4, 5), (4, 5)), ((3, 3), (3, 3))), zeros(6, 2), 30) == 7
    # One output size for every demonstration (3x3), test input 9x9: 10.
    assert inference_side(demos(((5, 5), (3, 3)), ((7, 7), (3, 3))), zeros(9, 9), 30) == 10
    # One ratio (x2) on both axes, test input 5x4: 10 rows + EOS: 11.
    assert inference_side(demos(((2, 2), (4, 4)), ((3, 1), (6, 2))), zeros(5, 4), 30) == 11
    # Squares (3 -> 9, 4 -> 16): neither one size nor one ratio; the answer to 5x5 is 25x25: the full canvas.
    assert inference_side(demos(((3, 3), (9, 9)), ((4, 4), (16, 16))), zeros(5, 5), 30) == 30
    # One input size, outputs of several sizes (counted from the content): the full canvas.
    assert inference_side(demos(((12, 12), (9, 12)), ((12, 12), (12, 12))), zeros(14, 13), 30) == 30
    # Capped at the canvas; one demonstration fixes everything.
    assert inference_side(demos(((3, 3), (9, 9))), zeros(4, 4), 11) == 11


@pytest.mark.parametrize("spec", ["arc1/eval", "arc2/eval"])
def test_every_arc_answer_fits_the_guessed_canvas(spec):
    """The answers are read here only to check the guess: each must fit the canvas it is predicted
    on, or it could never be produced (the former guess missed 3 of 419 and 1 of 167)."""
    missed = [(t.id, y.shape, inference_side(t.train, x, 30)) for t in load_tasks(spec)
              for x, y in zip(t.test_inputs, t.test_outputs) if max(y.shape) > inference_side(t.train, x, 30)]
    assert missed == []
