"""Tests for train/synth.py and train/synth_families.py: every family's outputs against an
independent statement of its rule, the demonstrations pinning the rule down, determinism,
validity, the spec and the command line.

The oracles below are written here, from the rule's definition, as slow per-cell loops, BFS and
step-by-step simulations; none calls the generator's own transform functions. They read the rule's
parameters from the generator (make_instance returns them) and recompute every output.
"""
import ast
import json
import sys
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from submission import tasks as T
from submission.tasks import TaskError
from train import synth as S
from train import taskspec

ROOT = Path(__file__).resolve().parents[1]

# tasks per family checked against its oracle: many small ones and a few at full size
SMALL, LARGE = 40, 6


def instances(family, n, max_side, seed=0):
    return [S.make_instance(family, i, seed, max_side) for i in range(n)]


def all_pairs(task):
    return list(task.train) + list(zip(task.test_inputs, task.test_outputs))


# -----------------------------------------------------------------------------
# Independent oracles (lists of lists, loops)


def components(g, same_colour=True):
    """4-connected components of non-zero cells by BFS: [(colour, [(r, c), ...]), ...]."""
    h, w = len(g), len(g[0])
    seen = [[False] * w for _ in range(h)]
    out = []
    for r in range(h):
        for c in range(w):
            if g[r][c] == 0 or seen[r][c]:
                continue
            seen[r][c] = True
            queue, cells = deque([(r, c)]), []
            while queue:
                y, x = queue.popleft()
                cells.append((y, x))
                for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                    if 0 <= ny < h and 0 <= nx < w and not seen[ny][nx] and g[ny][nx] != 0 \
                            and (not same_colour or g[ny][nx] == g[y][x]):
                        seen[ny][nx] = True
                        queue.append((ny, nx))
            out.append((g[r][c], cells))
    return out


def oracle_dihedral(name, g):
    """The 8 symmetries by where each cell goes: out[new position] = g[r][c]."""
    h, w = len(g), len(g[0])
    to = {  # (r, c) -> (row, col) in the output, and the output's shape
        "flip_lr": (lambda r, c: (r, w - 1 - c), (h, w)),
        "flip_ud": (lambda r, c: (h - 1 - r, c), (h, w)),
        "rot90": (lambda r, c: (c, h - 1 - r), (w, h)),  # clockwise: the top row becomes the right column
        "rot180": (lambda r, c: (h - 1 - r, w - 1 - c), (h, w)),
        "rot270": (lambda r, c: (w - 1 - c, r), (w, h)),
        "transpose": (lambda r, c: (c, r), (w, h)),
        "anti_transpose": (lambda r, c: (w - 1 - c, h - 1 - r), (w, h)),
    }
    move, (oh, ow) = to[name]
    out = [[None] * ow for _ in range(oh)]
    for r in range(h):
        for c in range(w):
            y, x = move(r, c)
            out[y][x] = g[r][c]
    return out


def oracle_gravity(g, direction):
    """Move cells one step at a time until nothing can move."""
    g = [row[:] for row in g]
    h, w = len(g), len(g[0])
    dr, dc = {"down": (1, 0), "up": (-1, 0), "left": (0, -1), "right": (0, 1)}[direction]
    moved = True
    while moved:
        moved = False
        for r in range(h):
            for c in range(w):
                y, x = r + dr, c + dc
                if g[r][c] != 0 and 0 <= y < h and 0 <= x < w and g[y][x] == 0:
                    g[y][x], g[r][c] = g[r][c], 0
                    moved = True
    return g


def oracle_fill(g, fill):
    """BFS over background from every border cell; background not reached takes `fill`."""
    h, w = len(g), len(g[0])
    reached = [[False] * w for _ in range(h)]
    queue = deque((r, c) for r in range(h) for c in range(w)
                  if (r in (0, h - 1) or c in (0, w - 1)) and g[r][c] == 0)
    for r, c in queue:
        reached[r][c] = True
    while queue:
        r, c = queue.popleft()
        for y, x in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= y < h and 0 <= x < w and g[y][x] == 0 and not reached[y][x]:
                reached[y][x] = True
                queue.append((y, x))
    return [[fill if g[r][c] == 0 and not reached[r][c] else g[r][c] for c in range(w)] for r in range(h)]


def oracle_lines(g, direction):
    h, w = len(g), len(g[0])
    dr, dc = {"down": (1, 0), "up": (-1, 0), "left": (0, -1), "right": (0, 1)}[direction]
    out = [row[:] for row in g]
    for r in range(h):
        for c in range(w):
            if g[r][c]:
                y, x = r, c
                while 0 <= y < h and 0 <= x < w:
                    out[y][x] = g[r][c]
                    y, x = y + dr, x + dc
    return out


def oracle_shift(g, dy, dx, mode):
    h, w = len(g), len(g[0])
    out = [[0] * w for _ in range(h)]
    for r in range(h):
        for c in range(w):
            y, x = r + dy, c + dx
            if mode == "wrap":
                out[y % h][x % w] = g[r][c]
            elif 0 <= y < h and 0 <= x < w:
                out[y][x] = g[r][c]
    return out


def check_pair(inst, i, o):
    """Assert that (i, o) follows the family's rule with the instance's parameters."""
    f, p = inst.family, inst.params
    g, out = i.tolist(), o.tolist()
    h, w = len(g), len(g[0])
    if f == "colour_map":
        assert out == [[p["mapping"].get(v, v) for v in row] for row in g]
    elif f == "colour_swap":
        a, b = p["swap"]
        assert a != b
        assert out == [[b if v == a else a if v == b else v for v in row] for row in g]
    elif f == "flip_lr":
        assert np.array_equal(o, np.flip(i, axis=1))
    elif f == "flip_ud":
        assert np.array_equal(o, np.flip(i, axis=0))
    elif f in S.DIHEDRAL_RULES:
        assert out == oracle_dihedral(f, g)
    elif f == "translate":
        assert out == oracle_shift(g, p["dy"], p["dx"], p["mode"])
    elif f == "scale_up":
        k = p["k"]
        assert o.shape == (h * k, w * k)
        assert all(out[r][c] == g[r // k][c // k] for r in range(h * k) for c in range(w * k))
    elif f == "scale_down":
        k = p["k"]
        assert (h, w) == (o.shape[0] * k, o.shape[1] * k)
        assert all(g[r][c] == out[r // k][c // k] for r in range(h) for c in range(w))
    elif f == "crop_object":
        objs = components(g)
        sizes = sorted(len(cells) for _, cells in objs)
        assert len(objs) >= 2 and sizes[-1] > sizes[-2], "the largest object is not unique"
        _, cells = max(objs, key=lambda x: len(x[1]))
        rows, cols = [r for r, _ in cells], [c for _, c in cells]
        assert out == [row[min(cols):max(cols) + 1] for row in g[min(rows):max(rows) + 1]]
    elif f == "gravity":
        assert out == oracle_gravity(g, p["direction"])
    elif f == "fill_enclosed":
        assert set(np.unique(i)) <= {0, p["wall"]}
        assert out == oracle_fill(g, p["fill"])
    elif f == "extend_lines":
        assert out == oracle_lines(g, p["direction"])
    elif f == "recolour_by_size":
        expected = [row[:] for row in g]
        for colour, cells in components(g):
            assert colour == p["colour"]
            for r, c in cells:
                expected[r][c] = p["by_size"][len(cells)]
        assert out == expected
    elif f == "complete_symmetry":
        m = p["mask"]
        assert (i == m).any() and not (o == m).any()
        assert np.array_equal(o[i != m], i[i != m]), "unmasked cells changed"
        if p["axis"] in ("lr", "both"):
            assert np.array_equal(o, np.flip(o, axis=1))
        if p["axis"] in ("ud", "both"):
            assert np.array_equal(o, np.flip(o, axis=0))
        # the answer is determined: every masked cell has an unmasked mirror image
        for r, c in zip(*np.nonzero(i == m)):
            images = {"lr": [(r, w - 1 - c)], "ud": [(h - 1 - r, c)],
                      "both": [(r, w - 1 - c), (h - 1 - r, c), (h - 1 - r, w - 1 - c)]}[p["axis"]]
            assert any(g[y][x] != m for y, x in images)
    elif f == "count_bar":
        n = len(components(g, same_colour=False))
        assert o.shape == ((1, n) if p["orientation"] == "row" else (n, 1))
        assert (o == p["colour"]).all()
    else:
        raise AssertionError(f"no oracle for family {f}")


@pytest.mark.parametrize("family", list(S.FAMILIES))
def test_family_follows_its_rule(family):
    """Every pair of many tasks (small grids and full-size ones) against the oracle."""
    for inst in instances(family, SMALL, 10) + instances(family, LARGE, 30, seed=1):
        assert inst.task.id.startswith(f"synth-{family}-")
        for i, o in all_pairs(inst.task):
            check_pair(inst, i, o)


def test_oracles_hand_worked():
    """The oracles themselves on cases worked by hand."""
    g = [[1, 2, 3], [4, 5, 6]]
    assert oracle_dihedral("rot90", g) == [[4, 1], [5, 2], [6, 3]]
    assert oracle_dihedral("rot270", g) == [[3, 6], [2, 5], [1, 4]]
    assert oracle_dihedral("anti_transpose", g) == [[6, 3], [5, 2], [4, 1]]
    assert oracle_gravity([[1, 0], [0, 0], [2, 0]], "down") == [[0, 0], [1, 0], [2, 0]]
    assert oracle_fill([[0, 5, 5, 5], [0, 5, 0, 5], [0, 5, 5, 5]], 7)[1] == [0, 5, 7, 5]
    assert oracle_shift([[1, 2, 3]], 0, 1, "wrap") == [[3, 1, 2]]
    assert oracle_shift([[1, 2, 3]], 0, 1, "fill") == [[0, 1, 2]]
    assert len(components([[1, 0, 1], [1, 0, 0], [0, 0, 2]])) == 3


# -----------------------------------------------------------------------------
# The demonstrations pin the rule down


def np_dihedral():
    """The 8 symmetries through numpy, independent of the generator's table."""
    return {"identity": lambda g: g, "fliplr": np.fliplr, "flipud": np.flipud,
            "rot1": lambda g: np.rot90(g, 1), "rot2": lambda g: np.rot90(g, 2), "rot3": lambda g: np.rot90(g, 3),
            "transpose": np.transpose, "anti": lambda g: np.rot90(g, 2).T}


def fitting(rules, task):
    """Names of the rules that reproduce every demonstration output."""
    return [n for n, f in rules.items()
            if all(f(i).shape == o.shape and np.array_equal(f(i), o) for i, o in task.train)]


def answers_agree(rules, names, task):
    return all(np.array_equal(rules[n](i), o) for n in names for i, o in zip(task.test_inputs, task.test_outputs))


@pytest.mark.parametrize("family", list(S.DIHEDRAL_RULES))
def test_dihedral_demonstrations_single_out_the_transform(family):
    rules = np_dihedral()
    for inst in instances(family, SMALL, 6):
        names = fitting(rules, inst.task)
        assert len(names) >= 1 and answers_agree(rules, names, inst.task), (inst.task.id, names)


def test_translate_demonstrations_single_out_the_offset():
    """No other offset (up to 3) or edge mode fits every demonstration and answers differently."""
    def shift(dy, dx, mode):
        def f(g):
            out = np.roll(g, (dy, dx), axis=(0, 1))
            if mode == "fill":  # clear what wrapped around
                out = out.copy()
                out[:dy] = 0 if dy > 0 else out[:dy]
                if dy < 0:
                    out[dy:] = 0
                if dx > 0:
                    out[:, :dx] = 0
                if dx < 0:
                    out[:, dx:] = 0
            return out
        return f
    rules = {(dy, dx, m): shift(dy, dx, m) for dy in range(-3, 4) for dx in range(-3, 4) for m in ("wrap", "fill")}
    for inst in instances("translate", SMALL, 8):
        p = inst.params
        names = fitting(rules, inst.task)
        assert (p["dy"], p["dx"], p["mode"]) in names
        assert answers_agree(rules, names, inst.task), (inst.task.id, names)


@pytest.mark.parametrize("family, max_side", [("colour_map", 2), ("colour_swap", 2), ("recolour_by_size", 4)])
def test_test_colours_and_sizes_are_shown(family, max_side):
    """Every test input colour (colour families) / object size (recolour) appears in a demonstration.
    Tiny grids, where a colour or size missing from the demonstrations is common before the check."""
    for inst in [S.make_instance(family, i, 0, max_side=max_side, min_side=1) for i in range(300)]:
        t = inst.task
        if family == "recolour_by_size":
            def sizes(grids):
                return {len(cells) for g in grids for _, cells in components(g.tolist())}
            assert sizes(t.test_inputs) <= sizes([i for i, _ in t.train]), t.id
        else:
            seen = set(np.unique(np.concatenate([i.ravel() for i, _ in t.train])).tolist())
            assert set(np.unique(np.concatenate([i.ravel() for i in t.test_inputs])).tolist()) <= seen, t.id
            if family == "colour_swap":
                assert set(inst.params["swap"]) <= seen, t.id


def test_count_bar_rival_readings_refuted():
    """Counting cells, counting colours or a constant bar never fits every demonstration (small
    grids hold few objects, where these rivals often fit before the check)."""
    for inst in instances("count_bar", 100, 4) + instances("count_bar", 100, 7):
        counts = [max(o.shape) for _, o in inst.task.train]
        assert len(set(counts)) > 1
        assert [int((i != 0).sum()) for i, _ in inst.task.train] != counts
        assert [len(set(i[i != 0].tolist())) for i, _ in inst.task.train] != counts


def test_crop_object_colour_reading_refuted():
    """'Crop the object of colour X' never fits every demonstration: the largest object's colour varies."""
    for inst in instances("crop_object", 100, 6):
        assert len({int(o.max()) for _, o in inst.task.train}) > 1, inst.task.id


def mirror_fill(g, mask, axis):
    """Masked cells from their mirror image across axis; None when that image is masked too."""
    h, w = len(g), len(g[0])
    image = {"lr": lambda r, c: (r, w - 1 - c), "ud": lambda r, c: (h - 1 - r, c),
             "rot180": lambda r, c: (h - 1 - r, w - 1 - c)}[axis]
    out = [row[:] for row in g]
    for r in range(h):
        for c in range(w):
            if g[r][c] == mask:
                y, x = image(r, c)
                if g[y][x] == mask:
                    return None
                out[r][c] = g[y][x]
    return out


def test_symmetry_demonstrations_single_out_the_axis():
    """No other mirror axis fits every demonstration and answers a test differently."""
    for inst in instances("complete_symmetry", 100, 5):
        p, t = inst.params, inst.task
        rules = {a: (lambda g, a=a: mirror_fill(g, p["mask"], a)) for a in ("lr", "ud", "rot180")}
        fit = [n for n, f in rules.items() if all(f(i.tolist()) == o.tolist() for i, o in t.train)]
        assert fit, t.id
        for n in fit:
            assert all(rules[n](i.tolist()) == o.tolist() for i, o in zip(t.test_inputs, t.test_outputs)), (t.id, fit)


# -----------------------------------------------------------------------------
# Shape of every task: counts, sizes, validity, no degenerate pairs


@pytest.mark.parametrize("max_side", [None, 10, 5])
def test_tasks_are_valid(max_side):
    spec = "synth:all:6:3" + (f":{max_side}" if max_side else "")
    cap = max_side or 30
    tasks = S.load_spec(spec)
    assert len(tasks) == 6 * len(S.FAMILIES)
    assert len({t.id for t in tasks}) == len(tasks)
    for t in tasks:
        assert 2 <= len(t.train) <= 5 and 1 <= len(t.test_inputs) <= 2 and len(t.test_outputs) == len(t.test_inputs)
        assert t.max_side() <= cap and t.source == spec
        inputs = [i.tobytes() + bytes(i.shape) for i, _ in all_pairs(t)]
        assert len(set(inputs)) == len(inputs), f"{t.id}: an input repeats"
        for i, o in all_pairs(t):
            assert not (i.shape == o.shape and np.array_equal(i, o)), f"{t.id}: output equals input"
        # through the kit's own validator: JSON out, parse_task back in, identical task
        ch, sol = T.tasks_to_challenges([t]), T.tasks_to_solutions([t])
        back = T.parse_task(t.id, json.loads(json.dumps(ch[t.id])), "x", json.loads(json.dumps(sol[t.id])))
        assert back == t
        for g in t.grids():
            assert g.dtype == np.uint8 and g.ndim == 2


def test_min_side_is_respected_by_inputs():
    for t in S.load_spec("synth:flip_lr,gravity,colour_map:10:0:7-9"):
        for i, _ in all_pairs(t):
            assert 7 <= min(i.shape) and max(i.shape) <= 9


@pytest.mark.parametrize("family", list(S.FAMILIES))
def test_family_works_at_its_smallest_cap(family):
    S.generate([family], 8, seed=5, max_side=S.FAMILIES[family].min_side, min_side=1)


# -----------------------------------------------------------------------------
# Determinism


def test_same_seed_same_tasks_other_seed_other_tasks():
    a, b = S.load_spec("synth:all:3:7:10"), S.load_spec("synth:all:3:7:10")
    assert a == b
    c = S.load_spec("synth:all:3:8:10")
    differ = sum(not np.array_equal(x.test_outputs[0], y.test_outputs[0]) or len(x.train) != len(y.train)
                 or any(not np.array_equal(p[0], q[0]) for p, q in zip(x.train, y.train)) for x, y in zip(a, c))
    assert differ == len(a)
    assert {t.id for t in a}.isdisjoint({t.id for t in c})


def test_task_does_not_depend_on_the_other_families_or_count():
    alone = S.generate(["gravity"], 4, seed=2, max_side=12)
    with_all = [t for t in S.generate("all", 6, seed=2, max_side=12) if t.id.startswith("synth-gravity-")]
    assert [t.id for t in alone] == [t.id for t in with_all[:4]]
    for x, y in zip(alone, with_all):
        assert x.train[0][0].tobytes() == y.train[0][0].tobytes()
        assert all(np.array_equal(p[1], q[1]) for p, q in zip(x.train, y.train))


def test_families_draw_their_own_grids():
    """Task i of two families with one seed are unrelated draws (no shared input grids)."""
    a, b = S.generate(["flip_lr"], 10, seed=0, max_side=10), S.generate(["flip_ud"], 10, seed=0, max_side=10)
    same = sum(x.train[0][0].tobytes() == y.train[0][0].tobytes() for x, y in zip(a, b))
    assert same == 0


def test_task_ids_read_back():
    t = S.make_task("rot90", 123, seed=4, max_side=10)
    assert t.id == "synth-rot90-s4-3to10-000123"
    assert S.parse_task_id(t.id) == {"family": "rot90", "seed": 4, "min_side": 3, "max_side": 10, "index": 123}
    assert S.parse_task_id("007bbfb7") is None


# -----------------------------------------------------------------------------
# The registry and the spec


def test_registry():
    assert len(S.FAMILIES) >= 12
    for name, f in S.FAMILIES.items():
        assert f.name == name and f.kind in S.KINDS and f.rule and "\n" not in f.rule
    assert set(S.family_names("geometry")) >= set(S.DIHEDRAL_RULES)
    assert all(S.FAMILIES[n].kind == "colour" for n in S.family_names("colour"))
    assert S.resolve_families("flip_lr,colour,flip_lr") == ["flip_lr", "colour_map", "colour_swap"]
    assert S.resolve_families("all") == list(S.FAMILIES)


def test_spec_parses():
    s = S.parse_spec("synth:colour_map,flip_lr:200:0")
    assert s == S.SynthSpec(("colour_map", "flip_lr"), 200, 0, 3, 30)
    assert S.parse_spec("synth:all:5:1:10").max_side == 10
    assert S.parse_spec("synth:flip_lr:5:1:2").min_side == 2  # the default LO (3) lowered to a cap below it
    assert (S.parse_spec("synth:geometry:5:1:4-12").min_side, S.parse_spec("synth:geometry:5:1:4-12").max_side) == (4, 12)


@pytest.mark.parametrize("spec, message", [
    ("synth:foo:10:0", "unknown family 'foo'"),
    ("synth:flip_lr,nope:10:0", "unknown family 'nope'"),
    ("synth:all:0:0", "COUNT must be >= 1"),
    ("synth:all:ten:0", "COUNT must be a non-negative integer, got 'ten'"),
    ("synth:all:-3:0", "COUNT must be a non-negative integer"),
    ("synth:all:10:x", "SEED must be a non-negative integer"),
    ("synth:all:10", "expected synth:FAMILIES:COUNT:SEED"),
    ("synth:all:10:0:10:extra", "expected synth:FAMILIES:COUNT:SEED"),
    ("synth:all:10:0:31", "need 1 <= LO <= HI <= 30"),
    ("synth:all:10:0:9-4", "need 1 <= LO <= HI <= 30"),
    ("synth:all:10:0:1-2-3", "SIDES must be 'HI' or 'LO-HI'"),
    ("synth:scale_up:10:0:3", "too small for scale_up (needs 4)"),
])
def test_spec_errors_name_the_problem(spec, message):
    with pytest.raises(TaskError, match=message.replace("(", r"\(").replace(")", r"\)")):
        taskspec.load_tasks(spec)


def test_load_tasks_synth_branch():
    tasks = taskspec.load_tasks("synth:colour_swap,count_bar:3:0:8")
    assert [t.id for t in tasks][:1] == ["synth-colour_swap-s0-3to8-000000"] and len(tasks) == 6
    assert T.select_tasks(tasks, max_side=8) == tasks
    with pytest.raises(TaskError, match="solutions file only applies"):
        taskspec.load_tasks("synth:all:1:0", solutions="x.json")
    assert "synth:FAMILIES:COUNT:SEED" in T.SPEC_FORMS
    # Every other form is submission.tasks' own.
    assert taskspec.load_tasks("arc1/eval")[:2] == T.load_tasks("arc1/eval")[:2]


def test_the_kaggle_package_refuses_synth_specs_with_a_message():
    """submission/tasks.py (inlined into the Kaggle notebook, without train/) does not generate tasks:
    a 'synth:' spec there says where such specs are read (tests/test_structure.py checks that no file
    under submission/ imports train/)."""
    for spec in ("synth:all:1:0", "arc1/eval:test"):
        with pytest.raises(TaskError, match="the kit's tools' specs, which the Kaggle entry does not carry"):
            T.load_tasks(spec)


# -----------------------------------------------------------------------------
# Command line


def test_cli_list_and_dump(tmp_path, capsys):
    assert S.main(["--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == len(S.FAMILIES)
    assert all(line.split()[0] in S.FAMILIES and line.split()[1] in S.KINDS for line in listed)
    assert S.main(["--dump", "synth:flip_ud,gravity:3:1:9", "--out", str(tmp_path)]) == 0
    back = T.load_challenges(tmp_path / "challenges.json", tmp_path / "solutions.json")
    assert back == S.load_spec("synth:flip_ud,gravity:3:1:9")
    assert S.main(["--dump", "synth:bogus:3:1", "--out", str(tmp_path)]) == 2
    assert "unknown family 'bogus'" in capsys.readouterr().err
