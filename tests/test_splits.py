"""train/splits.py: the dev and test halves (SPEC:dev, SPEC:test) are disjoint by id and by content,
hold no task whose content arc1/train holds, match a partition computed here by other code, and do
not depend on task order or selection."""
import hashlib
import random

import numpy as np
import pytest

from submission.tasks import Task, TaskError, select_tasks, task_fingerprint, task_parts
from train import splits
from train.taskspec import load_tasks



@pytest.fixture(scope="module")
def arc1():
    return {"eval": load_tasks("arc1/eval"), "train": load_tasks("arc1/train"),
            "dev": load_tasks("arc1/eval:dev"), "test": load_tasks("arc1/eval:test")}


def content_of(tasks) -> set:
    """Every fingerprint and part of these tasks (what a near-copy would share)."""
    return {task_fingerprint(t) for t in tasks} | {p for t in tasks for p in task_parts(t)}


def test_halves_are_disjoint_by_id_and_content_and_leave_out_arc1_train(arc1):
    dev, test = arc1["dev"], arc1["test"]
    assert not {t.id for t in dev} & {t.id for t in test}
    assert not content_of(dev) & content_of(test)
    # Nothing of arc1/train in either half, compared grid by grid (not through ContentIndex).
    train_pairs = {(i.tobytes(), i.shape, o.tobytes(), o.shape) for t in arc1["train"] for i, o in t.train}
    train_inputs = {(g.tobytes(), g.shape) for t in arc1["train"] for g in t.test_inputs}
    for t in dev + test:
        assert not any((i.tobytes(), i.shape, o.tobytes(), o.shape) in train_pairs for i, o in t.train), t.id
        assert not any((g.tobytes(), g.shape) in train_inputs for g in t.test_inputs), t.id
    # Together they are arc1/eval without 070dd51e, which is arc1/train's 40853293 under another id.
    assert sorted(t.id for t in dev + test) == sorted(t.id for t in arc1["eval"] if t.id != "070dd51e")


def oracle_half(task) -> str:
    """The documented rule, written apart: sha256 of 'salt:fingerprint', its first 8 hex digits as
    an integer, even -> dev. (arc1/eval has no two tasks sharing content, checked below, so every
    group is one task.)"""
    digest = hashlib.sha256(("trm-arc-kit split v1" + ":" + task_fingerprint(task)).encode()).hexdigest()
    return "test" if int(digest[:8], 16) & 1 else "dev"


def test_halves_match_a_partition_computed_here(arc1):
    parts = [p for t in arc1["eval"] for p in task_parts(t)]
    assert len(parts) == len(set(parts))  # no shared content inside arc1/eval: groups are single tasks
    kept = [t for t in arc1["eval"] if t.id != "070dd51e"]
    for half in ("dev", "test"):
        assert [t.id for t in arc1[half]] == [t.id for t in kept if oracle_half(t) == half]
    # The small tasks (demonstrations and test inputs up to 10x10): 37 and 41, as README says.
    small = {h: len(select_tasks(arc1[h], max_side=10)) for h in ("dev", "test")}
    assert small == {h: sum(oracle_half(t) == h for t in select_tasks(kept, max_side=10)) for h in small}
    assert small == {"dev": 37, "test": 41}


def test_a_tasks_half_does_not_depend_on_order_or_selection(arc1):
    tasks = list(arc1["eval"])
    random.Random(0).shuffle(tasks)
    shuffled = splits.split_halves(tasks)
    whole = splits.split_halves(arc1["eval"])
    some = splits.split_halves(tasks[:50])
    for half in ("dev", "test"):
        assert {t.id for t in shuffled[half]} == {t.id for t in whole[half]}
        assert {t.id for t in some[half]} <= {t.id for t in whole[half]}


def _grid(v, shape=(2, 2)):
    return np.full(shape, v, np.uint8)


def test_tasks_sharing_content_stay_in_one_half_for_any_salt():
    a = Task("a", [(_grid(1), _grid(2)), (_grid(3), _grid(4))], [_grid(5)], [_grid(6)])
    b = Task("b", [(_grid(1), _grid(2)), (_grid(7), _grid(8))], [_grid(9)], [_grid(0)])  # a's first pair
    c = Task("c", a.train[::-1], a.test_inputs, a.test_outputs)  # a under another id, pairs reordered
    d = Task("d", [(_grid(9), _grid(9))], [_grid(5)], [_grid(5)])  # a's test input
    others = [Task(f"x{k}", [(_grid(k % 10, (3, 1 + k)), _grid(1))], [_grid(2, (1, 1 + k))], [_grid(1)])
              for k in range(8)]  # nothing in common with a..d
    halves_seen = set()
    for salt in ("s0", "s1", "s2", "s3", "s4", "s5"):
        out = splits.split_halves([a, others[0], b, c] + others[1:] + [d], salt=salt)
        where = {t.id: h for h in splits.HALVES for t in out[h]}
        assert where["a"] == where["b"] == where["c"] == where["d"], salt
        halves_seen.add(where["a"])
        assert len(where) == 12
    assert halves_seen == {"dev", "test"}  # the group moves with the salt: the rule is a hash, not a constant


def test_exclude_removes_matching_tasks_from_both_halves():
    from submission.tasks import ContentIndex
    a = Task("a", [(_grid(1), _grid(2))], [_grid(3)], [_grid(4)])
    b = Task("b", [(_grid(5), _grid(6))], [_grid(7)], [_grid(8)])
    out = splits.split_halves([a, b], exclude=ContentIndex.of([Task("train-a", a.train, [_grid(0)])]))
    assert [t.id for t in out["dev"] + out["test"]] == ["b"]
    assert out["excluded"] == [("a", "train-a (shares a demonstration pair)")]


def test_split_specs_are_accepted_where_specs_are(arc1):
    # A half of a synthetic spec: the tasks of that spec, split.
    whole = load_tasks("synth:flip_lr,colour_map:6:0:5")
    dev, test = load_tasks("synth:flip_lr,colour_map:6:0:5:dev"), load_tasks("synth:flip_lr,colour_map:6:0:5:test")
    assert sorted(t.id for t in dev + test) == sorted(t.id for t in whole) and dev and test
    assert all(t.source.startswith("synth:flip_lr,colour_map:6:0:5:dev") for t in dev)
    with pytest.raises(TaskError, match="accepted task specs"):
        load_tasks("arc1/eval:nope")
    assert splits.parse_split_spec("arc1/eval:test") == ("arc1/eval", "test")
    assert splits.parse_split_spec("synth:all:5:0:10") is None
