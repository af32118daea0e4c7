"""The kit's own CPU checkpoint (checkpoints/cpu-demo, what the README's first command simulates with)
never trained on a task it is scored on: no ARC-AGI-1 evaluation task by id, and none by content,
checked on the grids themselves (not on the digests the kit's content record is made of)."""
import json
from pathlib import Path

import numpy as np

from submission.tasks import load_tasks
from train.taskspec import tasks_of_meta

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "cpu-demo"


def raw(grid) -> tuple:
    g = np.asarray(grid)
    return (g.shape, g.astype(np.uint8).tobytes())


def test_the_shipped_checkpoint_is_small_an_export_of_its_preset():
    meta = json.loads((SHIPPED / "meta.json").read_text())
    assert meta["args"]["preset"] == "cpu-demo" and "export" in meta
    assert meta["args"]["exclude"] == ["arc1/eval"]
    size = sum(f.stat().st_size for f in SHIPPED.iterdir())
    assert size < 5_000_000, f"{size} bytes: too big to keep in the repository"


def test_the_shipped_checkpoint_never_saw_an_arc1_evaluation_task_by_id_or_content():
    meta = json.loads((SHIPPED / "meta.json").read_text())
    scored = load_tasks("arc1/eval")
    scored_ids = {t.id for t in scored}
    ids = set(meta["puzzle_map"]["task_ids"]) | set(meta["content"]["trained"]) | set(meta["content"]["heldout"])
    assert not ids & scored_ids, sorted(ids & scored_ids)[:5]

    # Every grid pair the scored tasks hold (demonstrations and test pairs) and every test input.
    scored_pairs = {(raw(i), raw(o)) for t in scored for i, o in t.train}
    scored_pairs |= {(raw(i), raw(o)) for t in scored for i, o in zip(t.test_inputs, t.test_outputs)}
    scored_inputs = {raw(g) for t in scored for g in t.test_inputs}
    trained, heldout = tasks_of_meta(meta)
    assert len(trained) + len(heldout) == len(set(meta["puzzle_map"]["task_ids"])) > 500
    for t in trained + heldout:
        pairs = {(raw(i), raw(o)) for i, o in t.train}
        if t.test_outputs is not None:
            pairs |= {(raw(i), raw(o)) for i, o in zip(t.test_inputs, t.test_outputs)}
        assert not pairs & scored_pairs, f"{t.id} shares a grid pair with an ARC-AGI-1 evaluation task"
        assert not {raw(g) for g in t.test_inputs} & scored_inputs, f"{t.id} shares a test input"


def test_the_entry_loads_the_shipped_checkpoint_and_answers_with_it(tmp_path):
    """The README's first command depends on this checkpoint still matching the code: the entry loads
    it, fine-tunes 3 steps on two small test-half tasks and answers from the model (not the
    fallback copy of the input) for at least one test input."""
    from submission.__main__ import main
    from submission.tasks import select_tasks, tasks_to_challenges
    from train.taskspec import load_tasks as load_spec
    tasks = select_tasks(load_spec("arc1/eval:test"), max_side=10, first=2)
    ch = tasks_to_challenges(tasks)
    (tmp_path / "c.json").write_text(json.dumps(ch))
    code = main(["--challenges", str(tmp_path / "c.json"), "--checkpoint", str(SHIPPED), "--time-limit", "60",
                 "--ttt-steps", "3", "--views", "2", "--output", str(tmp_path / "s.json"),
                 "--summary", str(tmp_path / "summary.json")])
    assert code == 0
    sub = json.loads((tmp_path / "s.json").read_text())
    assert sorted(sub) == sorted(ch)
    answered = sum(e != {"attempt_1": t["input"], "attempt_2": t["input"]}
                   for tid, task in ch.items() for e, t in zip(sub[tid], task["test"]))
    assert answered >= 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["recursion"]["checkpoint"] == {"H_cycles": 1, "L_cycles": 2, "halt_max_steps": 4}
