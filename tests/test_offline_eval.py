"""Tests for offline_eval: scorer and validator on hand-built fixtures, the CLI, PNG codec, report."""

import copy
import json
import re
import struct
import subprocess
import sys
import zlib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from offline_eval.render import (FRAME_RIGHT, FRAME_WRONG, PALETTE, grid_png, grid_svg, line_plot_svg,
                                 read_png, task_png, write_png)
from offline_eval.report import write_report
from offline_eval.scoring import grids_equal, load_json, score_submission, validate_submission, JsonLoadError

REPO = Path(__file__).resolve().parents[1]

# -----------------------------------------------------------------------------
# Fixtures: three tasks, one with three test outputs

SOLUTIONS = {
    "single": [[[1, 2], [3, 4]]],
    "multi": [[[0]], [[5, 5]], [[7], [7]]],
    "absent": [[[1]]],
}

SUBMISSION = {
    # attempt_2 right only -> solved, but not at pass@1
    "single": [{"attempt_1": [[1, 2], [3, 3]], "attempt_2": [[1, 2], [3, 4]]}],
    "multi": [
        {"attempt_1": [[0]], "attempt_2": [[1]]},            # attempt_1 right
        {"attempt_1": [[5], [5]], "attempt_2": [[5, 5, 5]]},  # same cells, wrong shapes -> wrong
        {"attempt_1": [[7, 7]], "attempt_2": [[7], [7]]},     # attempt_2 right
    ],
    # "absent" is missing; "stray" is extra and ignored
    "stray": [{"attempt_1": [[0]], "attempt_2": [[0]]}],
}


def test_score_fixture():
    r = score_submission(SUBMISSION, SOLUTIONS)
    assert r["tasks"] == {"single": 1.0, "multi": pytest.approx(2 / 3), "absent": 0.0}
    assert r["tasks_pass1"] == {"single": 0.0, "multi": pytest.approx(1 / 3), "absent": 0.0}
    # per task: (1 + 2/3 + 0) / 3 ; per output: 3 solved of 5
    assert r["score"] == pytest.approx((1 + 2 / 3) / 3)
    assert r["per_output"] == pytest.approx(3 / 5)
    assert r["pass1"] == pytest.approx((1 / 3) / 3)
    assert r["pass1_per_output"] == pytest.approx(1 / 5)
    assert r["n_tasks"] == 3 and r["n_outputs"] == 5
    assert r["missing"] == ["absent"]
    assert r["extra"] == ["stray"]
    assert r["outputs"]["multi"] == [
        {"index": 0, "attempt_1_correct": True, "attempt_2_correct": False},
        {"index": 1, "attempt_1_correct": False, "attempt_2_correct": False},
        {"index": 2, "attempt_1_correct": False, "attempt_2_correct": True},
    ]


def test_two_averages_differ_on_multi_output_task():
    # task "one" has 1 output solved; task "four" has 1 of 4 solved.
    # per task: (1 + 1/4) / 2 = 0.625 ; per output: 2 / 5 = 0.4
    sols = {"one": [[[1]]], "four": [[[1]], [[2]], [[3]], [[4]]]}
    right = lambda g: {"attempt_1": g, "attempt_2": g}
    wrong = {"attempt_1": [[0]], "attempt_2": [[0]]}
    sub = {"one": [right([[1]])], "four": [right([[1]]), wrong, wrong, wrong]}
    r = score_submission(sub, sols)
    assert r["score"] == pytest.approx(0.625)
    assert r["per_output"] == pytest.approx(0.4)
    # with one output per task the two agree
    r1 = score_submission({"one": [right([[1]])]}, {"one": [[[1]]], "z": [[[2]]]})
    assert r1["score"] == r1["per_output"] == 0.5


@pytest.mark.parametrize("entries, expected", [
    ("not a list", 0.0),
    ([["attempt_1", "attempt_2"]], 0.0),              # entry not an object
    ([{"attempt_2": [[1]]}], 1.0),                    # attempt_1 missing, attempt_2 right
    ([{"attempt_1": [[1]]}], 1.0),                    # attempt_2 missing, attempt_1 right
    ([{}], 0.0),
    ([{"attempt_1": [[True]], "attempt_2": None}], 0.0),   # True == 1 in Python, still wrong
    ([{"attempt_1": [[1.0]], "attempt_2": "[[1]]"}], 0.0),  # float, string
    ([{"attempt_1": [1], "attempt_2": [[1], [1, 2]]}], 0.0),  # rows not lists, ragged
    ([{"attempt_1": [], "attempt_2": [[]]}], 0.0),    # empty grids
    ([], 0.0),                                        # no entries
])
def test_score_malformed_entries_never_crash(entries, expected):
    r = score_submission({"t": entries}, {"t": [[[1]]]})
    assert r["score"] == expected


def test_score_non_object_submission():
    r = score_submission([1, 2, 3], SOLUTIONS)
    assert r["score"] == 0.0 and sorted(r["missing"]) == sorted(SOLUTIONS)


def test_grids_equal_needs_shape_and_cells():
    assert grids_equal([[1, 2]], [[1, 2]])
    assert not grids_equal([[1], [2]], [[1, 2]])
    assert not grids_equal([[1, 2]], [[1, 3]])
    assert not grids_equal([[False]], [[0]])


# -----------------------------------------------------------------------------
# Validator: a valid submission, then one rule broken at a time

CHALLENGES = {
    "a": {"train": [{"input": [[0]], "output": [[1]]}], "test": [{"input": [[0]]}, {"input": [[1]]}]},
    "b": {"train": [{"input": [[2]], "output": [[3]]}], "test": [{"input": [[2]]}]},
}
VALID = {
    "a": [{"attempt_1": [[0, 1], [2, 3]], "attempt_2": [[9]]}, {"attempt_1": [[1]], "attempt_2": [[1]]}],
    "b": [{"attempt_1": [[0] * 30] * 30, "attempt_2": [[4, 5, 6]]}],
}


def test_validate_valid():
    assert validate_submission(VALID, CHALLENGES) == []
    # a solutions dict gives the test counts as well
    assert validate_submission(VALID, {"a": [[[0]], [[0]]], "b": [[[0]]]}) == []


def _set(path, value):
    """A copy of VALID with one value replaced (path of keys/indices), or deleted when value is DEL."""
    sub = copy.deepcopy(VALID)
    node = sub
    for k in path[:-1]:
        node = node[k]
    if value is DEL:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return sub


DEL = object()


@pytest.mark.parametrize("path, value, expected", [
    (("b",), DEL, ["task b: missing"]),
    (("z",), [], ["task z: not in challenges"]),
    (("a",), {"attempt_1": [[0]]}, ["task a: value is dict"]),
    (("a",), [{"attempt_1": [[0]], "attempt_2": [[0]]}], ["task a: 1 entries, expected 2"]),
    (("a", 1), [[1]], ["task a test 1: entry is list"]),
    (("a", 1), "x", ["task a test 1: entry is str"]),
    (("a", 0, "attempt_2"), DEL, ["task a test 0 attempt_2: missing"]),
    (("a", 1, "attempt_1"), [[True]], ["task a test 1 attempt_1: cell (0, 0) is bool"]),
    (("a", 1, "attempt_2"), [[0, 1.0]], ["task a test 1 attempt_2: cell (0, 1) is float"]),
    (("a", 0, "attempt_1"), [[0, 1], [2, 10]], ["task a test 0 attempt_1: cell (1, 1) is 10"]),
    (("a", 0, "attempt_1"), [[-1]], ["task a test 0 attempt_1: cell (0, 0) is -1"]),
    (("a", 0, "attempt_1"), [["1"]], ["task a test 0 attempt_1: cell (0, 0) is str"]),
    (("b", 0, "attempt_2"), [[1, 2], [3]], ["task b test 0 attempt_2: ragged: row 1 has 1 cells"]),
    (("b", 0, "attempt_1"), [[0]] * 31, ["task b test 0 attempt_1: 31 rows"]),
    (("b", 0, "attempt_1"), [[0] * 31], ["task b test 0 attempt_1: 31 columns"]),
    (("b", 0, "attempt_1"), [], ["task b test 0 attempt_1: empty grid"]),
    (("b", 0, "attempt_1"), [[]], ["task b test 0 attempt_1: row 0 is empty"]),
    (("b", 0, "attempt_1"), [1, 2], ["task b test 0 attempt_1: row 0 is int"]),
    (("b", 0, "attempt_1"), None, ["task b test 0 attempt_1: not a grid: got null"]),
])
def test_validate_each_rule(path, value, expected):
    problems = validate_submission(_set(path, value), CHALLENGES)
    assert len(problems) == len(expected), problems
    for p, e in zip(problems, expected):
        assert p.startswith(e), (p, e)


def test_validate_top_level_and_many_problems():
    assert validate_submission([VALID], CHALLENGES)[0].startswith("submission: top level is list")
    # a wrong count still checks the entries that are there
    sub = _set(("a",), [{"attempt_1": [[0]]}, 3, {"attempt_1": [[0]], "attempt_2": [[0]]}])
    problems = validate_submission(sub, CHALLENGES)
    assert problems[0].startswith("task a: 3 entries, expected 2")
    assert any(p.startswith("task a test 0 attempt_2: missing") for p in problems)
    assert any(p.startswith("task a test 1: entry is int") for p in problems)


def test_load_json_names_file_and_place(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": [1,\n 2,, 3]}')
    with pytest.raises(JsonLoadError, match=r"bad\.json: invalid JSON at line 2 column 4"):
        load_json(bad)
    with pytest.raises(JsonLoadError, match="file not found"):
        load_json(tmp_path / "nope.json")


# -----------------------------------------------------------------------------
# Command line


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "offline_eval", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def test_cli_score_and_validate(tmp_path):
    sub, sols, chal = tmp_path / "sub.json", tmp_path / "sols.json", tmp_path / "chal.json"
    sub.write_text(json.dumps(SUBMISSION))
    sols.write_text(json.dumps(SOLUTIONS))
    chal.write_text(json.dumps(CHALLENGES))

    p = _cli("score", sub, sols, "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["score"] == pytest.approx((1 + 2 / 3) / 3)
    assert r["per_output"] == pytest.approx(0.6)
    assert r["pass1"] == pytest.approx(1 / 9)
    assert set(r["tasks"]) == set(SOLUTIONS)

    p = _cli("score", sub, sols)
    assert p.returncode == 0, p.stderr
    assert "score" in p.stdout and "missing     absent" in p.stdout and "multi" in p.stdout

    valid = tmp_path / "valid.json"
    valid.write_text(json.dumps(VALID))
    p = _cli("validate", valid, chal)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "valid: 2 tasks, 3 test outputs" in p.stdout

    p = _cli("validate", sub, chal)  # SUBMISSION answers other tasks
    assert p.returncode == 1
    assert "task a: missing" in p.stdout and "invalid:" in p.stdout

    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    p = _cli("validate", junk, chal)
    assert p.returncode == 1
    assert "junk.json: invalid JSON at line 1" in p.stdout

    p = _cli("simulate")  # required arguments missing: argparse's usage error
    assert p.returncode == 2 and "--checkpoint" in p.stderr


# -----------------------------------------------------------------------------
# PNG codec and drawing


def _png_with_filters(img, filters):
    """Reference encoder: apply the given PNG filter type to each row, the slow obvious way."""
    h, w, ch = img.shape
    flat = img.reshape(h, w * ch).astype(int)
    raw = bytearray()
    for y in range(h):
        f = filters[y % len(filters)]
        raw.append(f)
        for i in range(w * ch):
            a = flat[y, i - ch] if i >= ch else 0
            b = flat[y - 1, i] if y > 0 else 0
            c = flat[y - 1, i - ch] if (y > 0 and i >= ch) else 0
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else (b if abs(p - b) <= abs(p - c) else c)
            pred = [0, a, b, (a + b) // 2, paeth][f]
            raw.append((flat[y, i] - pred) % 256)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


def test_png_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(7, 11, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", img)
    assert np.array_equal(read_png(tmp_path / "a.png"), img)
    # the reader also undoes every filter type
    (tmp_path / "f.png").write_bytes(_png_with_filters(img, [0, 1, 2, 3, 4]))
    assert np.array_equal(read_png(tmp_path / "f.png"), img)
    with pytest.raises(ValueError):
        write_png(tmp_path / "b.png", img.astype(np.int32))


def test_grid_png_palette_at_cell_centres(tmp_path):
    grid = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    cell = 16
    img = grid_png(grid, cell=cell)
    assert img.shape == (2 * cell + 1, 5 * cell + 1, 3)
    write_png(tmp_path / "g.png", img)
    back = read_png(tmp_path / "g.png")
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            centre = back[r * cell + cell // 2, c * cell + cell // 2]
            assert tuple(centre) == tuple(PALETTE[v]), (r, c, v)
    assert tuple(PALETTE[1]) == (0x00, 0x74, 0xD9) and tuple(PALETTE[9]) == (0x87, 0x0C, 0x25)


def test_task_png_layout(tmp_path):
    rows = [[[[1]], [[2, 2]]], [[[3]], None, [[4]]]]  # None draws a placeholder
    borders = [[None, None], [None, FRAME_WRONG, FRAME_RIGHT]]
    canvas = task_png(rows, tmp_path / "t.png", cell=10, borders=borders)
    assert np.array_equal(read_png(tmp_path / "t.png"), canvas)
    colours = {tuple(p) for p in canvas.reshape(-1, 3)}
    for v in (1, 2, 3, 4):
        assert tuple(PALETTE[v]) in colours
    assert (0xE0, 0x28, 0x1B) in colours and (0x1E, 0x9E, 0x3E) in colours  # both frames drawn


def test_grid_svg():
    svg = grid_svg([[0, 0, 1], [0, 2, 2]], cell=10)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'width="30" height="20"' in svg
    assert "#0074D9" in svg and "#FF4136" in svg and "#000000" in svg
    framed = grid_svg([[3]], border=FRAME_RIGHT)
    assert FRAME_RIGHT in framed
    for bad in (None, [[1], [1, 2]], [[12]], "x"):
        ET.fromstring(grid_svg(bad, border=FRAME_WRONG))  # well-formed placeholder
    ET.fromstring(svg)
    ET.fromstring(framed)


def test_line_plot_svg():
    svg = line_plot_svg({"train": [(1, 0.5), (10, 0.3), (100, 0.2)], "eval": [(1, 0.6), (100, 0.4)]},
                        title="loss <bf16>", xlabel="step", ylabel="loss", logx=True)
    assert svg.startswith("<svg") and svg.count("<polyline") == 2
    ET.fromstring(svg)  # well-formed XML
    assert "loss &lt;bf16&gt;" in svg and ">train<" in svg and ">eval<" in svg and ">100<" in svg
    # degenerate inputs still draw
    assert line_plot_svg({}, "t", "x", "y").startswith("<svg")
    assert line_plot_svg({"one": [(3, 3)]}, "t", "x", "y").count("<circle") == 1


# -----------------------------------------------------------------------------
# Report


def test_write_report(tmp_path):
    views = [
        {"id": "task0001", "train": [([[1]], [[2]]), ([[3, 3]], [[4, 4]])], "test_inputs": [[[5]], [[6]]],
         "attempts": [[[[2]], [[7]]], [[[0]], [[1.5]]]], "truth": [[[7]], [[8]]], "score": 0.5},
        {"id": "task/0002", "train": [([[0]], [[0]])], "test_inputs": [[[1]]],
         "attempts": [[[[1]], None]], "truth": None, "score": 0.0},
    ]
    scores = score_submission(
        {"task0001": [{"attempt_1": [[2]], "attempt_2": [[7]]}, {"attempt_1": [[0]], "attempt_2": [[1.5]]}]},
        {"task0001": [[[7]], [[8]]], "task/0002": [[[9]]]})
    plot = line_plot_svg({"acc": [(0, 0.1), (1, 0.2)]}, "accuracy", "step", "acc")
    path = write_report(tmp_path / "rep", views, scores, [plot], "run <1>",
                        {"tasks": "evaluation, 2 tasks", "checkpoint": "ckpt/step_100", "budget": 60})
    text = path.read_text()
    assert path.name == "report.html"
    for needle in ("task0001", "task/0002", "ckpt/step_100", "run &lt;1&gt;", "accuracy",
                   FRAME_RIGHT, FRAME_WRONG, "0.2500"):
        assert needle in text, needle
    for svg in re.findall(r"<svg.*?</svg>", text, re.S):
        ET.fromstring(svg)  # every inline SVG is well-formed
    for name in ("task0001.png", "task_0002.png"):
        img = read_png(tmp_path / "rep" / "png" / name)
        assert img.ndim == 3 and img.shape[2] == 3 and img.shape[0] > 20


# -----------------------------------------------------------------------------
# baselines: hand-made tasks, each solvable by one rule alone (and by the dihedral + colour map
# combination); more rules in tests/test_baselines.py


def test_baselines_each_rule_on_its_own_task(tmp_path):
    flip = lambda g: [row[::-1] for row in g]  # noqa: E731  (a horizontal mirror, written without numpy)
    a, b, c = [[1, 2], [3, 4]], [[5, 0, 6]], [[7], [8]]
    challenges = {
        # The answer is always the same 1x1 grid: "demo outputs" solves it.
        "const": {"train": [{"input": a, "output": [[9]]}, {"input": b, "output": [[9]]},
                            {"input": c, "output": [[4]]}], "test": [{"input": c}]},
        # Mirror every grid: "demo dihedral" solves it (and nothing else does).
        "mirror": {"train": [{"input": a, "output": flip(a)}, {"input": b, "output": flip(b)}],
                   "test": [{"input": [[1, 2, 3]]}, {"input": [[4, 0], [0, 5]]}]},
        # Recolour 1 -> 2: the colour map solves it (a is a 2x2 grid, so no dihedral maps it there).
        "recolour": {"train": [{"input": a, "output": [[2, 2], [3, 4]]}], "test": [{"input": [[1]]}]},
    }
    solutions = {"const": [[[9]]], "mirror": [[[3, 2, 1]], [[0, 4], [5, 0]]], "recolour": [[[2]]]}
    (tmp_path / "ch.json").write_text(json.dumps(challenges))
    (tmp_path / "sol.json").write_text(json.dumps(solutions))
    p = _cli("baselines", "--data", str(tmp_path / "ch.json"), "--solutions", str(tmp_path / "sol.json"), "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    rows = json.loads(p.stdout)
    assert rows["identity"]["solved"] == []
    assert rows["demo outputs"]["solved"] == ["const"]
    assert rows["demo dihedral"]["solved"] == ["mirror"]
    assert rows["colour map"]["solved"] == ["recolour"]
    assert rows["dihedral + colour map"]["solved"] == ["mirror", "recolour"]
    assert rows["demo dihedral"]["score"] == pytest.approx(1 / 3)
    assert rows["demo outputs"]["n_tasks"] == 3


def test_baselines_needs_test_outputs(tmp_path):
    (tmp_path / "ch.json").write_text(json.dumps({"t": {"train": [{"input": [[1]], "output": [[2]]}],
                                                       "test": [{"input": [[1]]}]}}))
    p = _cli("baselines", "--data", str(tmp_path / "ch.json"))
    assert p.returncode == 2 and "test outputs unknown" in p.stdout and "Traceback" not in p.stdout + p.stderr
