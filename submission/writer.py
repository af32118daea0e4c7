"""The submission file: fallback answers, atomic writes, and a validator.

Kaggle scores a malformed or incomplete submission.json as an error, not a partial score, so the
entry keeps a complete, valid file on disk at every moment:
  1. before any model work, every test input gets a fallback answer (fallback_entries);
  2. as tasks finish, their entries are replaced and the whole file is rewritten atomically
     (write_atomic: write a temporary file in the same folder, then os.replace), so a kill at any
     moment leaves either the old or the new complete file;
  3. after the last write the file is read back and checked (validate_submission).
One process writes a file at a time (take_lock); the lock lives in the scratch folder and is removed
at the end, so the output folder holds the file and nothing else.

Fallbacks: the test input itself for both attempts (many ARC outputs share much with the input,
and a copy has the right kind of shape; [[0]] never scores). A task whose test inputs cannot be
read gets [[0]] for each of them (one entry when even their number is unknown).

Standard library only: this file runs inside the Kaggle notebook before torch is imported.
"""
from __future__ import annotations

import hashlib
import json
import os

from .discover import scratch_dir

MAX_SIDE = 30
ATTEMPTS = ("attempt_1", "attempt_2")
ZERO_GRID = [[0]]


# -----------------------------------------------------------------------------
# Fallbacks


def type_name(x):
    return "null" if x is None else type(x).__name__


def grid_problem(grid):
    """Return why `grid` is not a valid ARC grid, or None when it is.

    Valid: a non-empty list of non-empty lists, all of one length, of plain ints 0..9
    (bool and float rejected, even 1.0), at most 30 rows and 30 columns.
    Only the first problem is reported, so a 30x30 grid of floats gives one line, not 900.
    """
    if not isinstance(grid, list):
        return f"not a grid: got {type_name(grid)}, expected a list of rows"
    if len(grid) == 0:
        return "empty grid (no rows)"
    if len(grid) > MAX_SIDE:
        return f"{len(grid)} rows, at most {MAX_SIDE} allowed"
    width = None
    for r, row in enumerate(grid):
        if not isinstance(row, list):
            return f"row {r} is {type_name(row)}, expected a list of cells"
        if len(row) == 0:
            return f"row {r} is empty"
        if width is None:
            width = len(row)
            if width > MAX_SIDE:
                return f"{width} columns, at most {MAX_SIDE} allowed"
        elif len(row) != width:
            return f"ragged: row {r} has {len(row)} cells, row 0 has {width}"
        for c, v in enumerate(row):
            # bool is a subclass of int in Python, so test it first
            if isinstance(v, bool) or not isinstance(v, int):
                return f"cell ({r}, {c}) is {type_name(v)} {v!r}, expected an int 0..9"
            if not 0 <= v <= 9:
                return f"cell ({r}, {c}) is {v}, expected an int 0..9"
    return None


def fallback_entry(test_input) -> dict:
    """Both attempts = the test input (a copy, as lists), or [[0]] when it is not a valid grid."""
    g = test_input.tolist() if hasattr(test_input, "tolist") else test_input
    if grid_problem(g) is not None:
        g = ZERO_GRID
    return {"attempt_1": [list(r) for r in g], "attempt_2": [list(r) for r in g]}


def raw_test_inputs(raw_task) -> list:
    """The test inputs of a task object as read from JSON, each as a grid or None when unreadable.
    A task whose 'test' list itself is unreadable gives [None] (one entry: its count is unknown)."""
    if not isinstance(raw_task, dict) or not isinstance(raw_task.get("test"), list) or not raw_task["test"]:
        return [None]
    out = []
    for pair in raw_task["test"]:
        g = pair.get("input") if isinstance(pair, dict) else None
        out.append(g if grid_problem(g) is None else None)
    return out


def fallback_entries(raw_challenges: dict) -> dict:
    """{task_id: [entry per test input]} for every task of the raw challenges object."""
    return {tid: [fallback_entry(g if g is not None else ZERO_GRID) for g in raw_test_inputs(t)]
            for tid, t in raw_challenges.items()}


def make_entry(attempts: list, test_input) -> dict:
    """Entry from a ranked list of candidate grids (numpy arrays or lists): the first two; a missing
    second attempt (one candidate) is the test input; no candidate at all gives the fallback."""
    fb = fallback_entry(test_input)
    grids = []
    for a in attempts[:2]:
        g = a.tolist() if hasattr(a, "tolist") else a
        if grid_problem(g) is None:
            grids.append(g)
    if not grids:
        return fb
    return {"attempt_1": grids[0], "attempt_2": grids[1] if len(grids) > 1 else fb["attempt_2"]}


# -----------------------------------------------------------------------------
# Writing


def write_atomic(obj, path) -> None:
    """Write JSON to `path` so that readers (and a kill) only ever see a complete file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# -----------------------------------------------------------------------------
# One writer per file


def lock_path(path) -> str:
    """The lock file of a submission file: in the scratch folder (discover.scratch_dir), never beside
    the file, since /kaggle/working is the notebook's versioned output; named after the file and a
    digest of its absolute path, so every process that writes one path agrees on one lock."""
    full = os.path.abspath(os.fspath(path))
    digest = hashlib.sha1(full.encode()).hexdigest()[:12]
    return os.path.join(scratch_dir(), "trm_locks", f"{os.path.basename(full)}.{digest}.lock")


def take_lock(path):
    """Lock `path` for this process's life (the OS releases the lock however the process ends, so a
    killed run leaves no lock held; release_lock also removes the file). Returns (fd, None) when
    taken, (None, pid of the holder) when another process holds it. Where there are no file locks
    (not POSIX) it always succeeds."""
    try:
        import fcntl
    except ImportError:
        return -1, None
    lock = lock_path(path)
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            return None, int(text) if text.isdigit() else None
        # The holder may have removed the file between our open and our lock: then this lock is on a
        # file no one else can find, and the path must be opened again.
        try:
            current = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd, None


def release_lock(fd, path) -> None:
    """Remove the lock file (while still holding it, so no one else holds it meanwhile), then let go."""
    if fd is None or fd < 0:
        return
    try:
        os.unlink(lock_path(path))
    except FileNotFoundError:
        pass
    os.close(fd)


def clear_stale_files(path) -> list[str]:
    """After the writer of `path` has ended: remove its lock when no one holds it, and the temporary
    files of writes a kill interrupted (write_atomic's .<name>.<pid>.tmp beside it, of processes no
    longer alive). Returns what was removed."""
    removed = []
    fd, _ = take_lock(path)
    if fd is not None:
        release_lock(fd, path)
        if fd >= 0:
            removed.append(lock_path(path))
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    prefix = f".{name}."
    for entry in os.listdir(folder) if os.path.isdir(folder) else []:
        pid = entry[len(prefix):-len(".tmp")]
        if entry.startswith(prefix) and entry.endswith(".tmp") and pid.isdigit() and not _alive(int(pid)):
            os.remove(os.path.join(folder, entry))
            removed.append(os.path.join(folder, entry))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -----------------------------------------------------------------------------
# Validation


def validate_submission(sub, expected_counts: dict) -> list[str]:
    """Every problem Kaggle's scorer would trip over; empty when the submission is valid.

    expected_counts: {task_id: number of test inputs} of the challenges file."""
    if not isinstance(sub, dict):
        return [f"top level is {type(sub).__name__}, expected an object {{task_id: [...]}}"]
    problems = []
    for tid, n in expected_counts.items():
        if tid not in sub:
            problems.append(f"task {tid!r}: missing")
            continue
        entries = sub[tid]
        if not isinstance(entries, list):
            problems.append(f"task {tid!r}: expected a list of entries, got {type(entries).__name__}")
            continue
        if len(entries) != n:
            problems.append(f"task {tid!r}: {len(entries)} entries for {n} test inputs")
        for i, e in enumerate(entries):
            if not isinstance(e, dict):
                problems.append(f"task {tid!r}[{i}]: expected an object with attempt_1 and attempt_2")
                continue
            for key in ATTEMPTS:
                if key not in e:
                    problems.append(f"task {tid!r}[{i}]: missing {key}")
                else:
                    why = grid_problem(e[key])
                    if why:
                        problems.append(f"task {tid!r}[{i}].{key}: {why}")
    for tid in sub:
        if tid not in expected_counts:
            problems.append(f"task {tid!r}: not in the challenges file")
    return problems


def validate_file(path, expected_counts: dict) -> list[str]:
    """Read the file back from disk and validate it."""
    try:
        with open(path, encoding="utf-8") as f:
            sub = json.load(f)
    except (OSError, ValueError) as e:
        return [f"{path}: cannot read back: {e}"]
    return validate_submission(sub, expected_counts)


class SubmissionFile:
    """The submission being built: starts complete with fallbacks; set() replaces a task's entries
    and rewrites the file atomically. `fallback` tracks which test inputs still hold a fallback."""

    def __init__(self, path, raw_challenges: dict):
        self.path = path
        self.entries = fallback_entries(raw_challenges)
        self.expected = {tid: len(v) for tid, v in self.entries.items()}
        self.fallback = {tid: [True] * n for tid, n in self.expected.items()}

    def write(self) -> None:
        write_atomic(self.entries, self.path)

    def set(self, task_id: str, entries: list, predicted: list, write: bool = True) -> None:
        """entries: one dict per test input; predicted[i]: whether entry i is a model answer."""
        if len(entries) != self.expected[task_id]:
            raise ValueError(f"task {task_id!r}: {len(entries)} entries for {self.expected[task_id]} test inputs")
        for e in entries:
            for key in ATTEMPTS:
                why = grid_problem(e.get(key))
                if why:
                    raise ValueError(f"task {task_id!r}: {key}: {why}")
        self.entries[task_id] = entries
        self.fallback[task_id] = [not p for p in predicted]
        if write:
            self.write()

    def fallbacks_used(self) -> int:
        return sum(sum(v) for v in self.fallback.values())

    def validate(self) -> list[str]:
        return validate_file(self.path, self.expected)
