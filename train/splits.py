"""Dev and test halves of a task set, fixed by a hash of task content: a protocol that cannot select
on its test set.

Presets, entry defaults and levers are chosen on the dev half; a figure is reported once on the test
half, which nothing was chosen on. The halves are named by a spec suffix wherever a task spec is
accepted (`python -m train --data/--eval-data`, `offline_eval simulate/transfer/baselines/report`):

    arc1/eval:dev    arc1/eval:test    (any spec: SPEC:dev, SPEC:test)

A task's half is fixed by its content, never by its id, its position or the other tasks loaded with it:
  1. tasks that share content (the same demonstrations and test inputs under two ids, or one
     demonstration pair or test input in common: submission.tasks.ContentIndex) form one group, so
     the halves are disjoint by content as well as by id;
  2. a group's key is the smallest task_fingerprint of its tasks; the group goes to dev when
     sha256(SALT + ":" + key), its first 4 bytes read as a big-endian integer, is even, to test
     when it is odd.
So a selection (--max-side 10, --first) of a half is a half of the selection, and adding tasks to a
set moves no task that shares nothing with them. The halves are close to equal, not exactly equal:
of the 78 small ARC-AGI-1 evaluation tasks (demonstrations and test inputs up to 10x10, none in
arc1/train), dev holds 37 and test 41.

A split of an evaluation set leaves out every task whose content its training set holds (EXCLUDE):
ARC-AGI-1 evaluation task 070dd51e is training task 40853293 under another id, so it is in neither half.

Synthetic families split by seed instead (train/synth.py: task i of a family depends only on the
family, i, SEED and SIDES): dev is seed SYNTH_SEEDS["dev"] (1, the seed the transfer benchmarks of
2026-12 chose entry defaults on), test is seed SYNTH_SEEDS["test"] (2, never used to choose), both
fresh against pretraining on seed 0, e.g. `--u-data synth:all:20:1:10` to choose and
`--u-data synth:all:20:2:10` to report. `synth:...:dev` hash-splits one seed's tasks like any spec.
"""
import hashlib

from submission.tasks import ContentIndex, TaskError, task_fingerprint, task_parts

SALT = "trm-arc-kit split v1"  # changing it reshuffles every half: never, once figures are reported
HALVES = ("dev", "test")
# A split of these sets leaves out the tasks whose content the named sets hold.
EXCLUDE = {"arc1/eval": ("arc1/train",), "arc2/eval": ("arc2/train",)}
SYNTH_SEEDS = {"dev": 1, "test": 2}


def content_groups(tasks) -> list[list[int]]:
    """Indices of `tasks` grouped by shared content (same fingerprint or any shared part), each
    group in input order, groups in the order of their first task."""
    parent = list(range(len(tasks)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner = {}  # fingerprint or part -> the first task index holding it
    for i, t in enumerate(tasks):
        for key in [task_fingerprint(t)] + sorted(task_parts(t)):
            j = owner.setdefault(key, i)
            parent[root(i)] = root(j)
    groups: dict = {}
    for i in range(len(tasks)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def half_of(key: str, salt: str = SALT) -> str:
    """'dev' or 'test' for a group key: the parity of sha256(salt + ':' + key)'s first 4 bytes."""
    return HALVES[int.from_bytes(hashlib.sha256(f"{salt}:{key}".encode()).digest()[:4], "big") % 2]


def split_halves(tasks, salt: str = SALT, exclude: ContentIndex | None = None) -> dict:
    """{"dev": [tasks], "test": [tasks], "excluded": [(task id, what it matches)]}: each half keeps
    the input order; a task `exclude` matches by content is in neither half."""
    out = {"dev": [], "test": [], "excluded": []}
    kept = []
    for t in tasks:
        match = exclude.match(t) if exclude is not None else None
        if match:
            out["excluded"].append((t.id, match))
        else:
            kept.append(t)
    half = [None] * len(kept)
    for group in content_groups(kept):
        h = half_of(min(task_fingerprint(kept[i]) for i in group), salt)
        for i in group:
            half[i] = h
    for t, h in zip(kept, half):
        out[h].append(t)
    return out


def parse_split_spec(spec: str) -> tuple[str, str] | None:
    """'arc1/eval:test' -> ('arc1/eval', 'test'); None when the spec names no half."""
    base, sep, half = spec.rpartition(":")
    return (base, half) if sep and base and half in HALVES else None


def load_split(spec: str, solutions=None) -> list:
    """The tasks of one half, 'SPEC:dev' or 'SPEC:test' (train.taskspec.load_tasks calls this)."""
    from train.taskspec import load_tasks  # every spec form, synth: included (taskspec imports this module lazily)
    parsed = parse_split_spec(spec)
    if parsed is None:
        raise TaskError(f"{spec}: expected SPEC:dev or SPEC:test (e.g. arc1/eval:test)")
    base, half = parsed
    tasks = load_tasks(base, solutions=solutions)
    exclude = ContentIndex.of([t for name in EXCLUDE.get(base, ()) for t in load_tasks(name)])
    chosen = split_halves(tasks, exclude=exclude)[half]
    for t in chosen:
        t.source = f"{spec} ({t.source})"
    return chosen
