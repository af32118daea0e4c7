"""Score and validate ARC Prize submissions offline.

A submission is {task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]} with one entry per test
input; solutions are {task_id: [grid, ...]} in the same order (docs/reference.md, "The Kaggle
competition").

Two averages are reported, because the two official texts disagree:
- "score": each task gets the fraction of its test outputs solved, then the mean over tasks
  (the ARC Prize benchmarking scorer).
- "per_output": the mean over all test outputs (how the Kaggle overview reads).
They differ only when some task has several test inputs.

The scorer never crashes on a malformed submission: whatever is not a valid grid counts as wrong.
The validator lists every rule the Kaggle scorer would trip over, so a run can check its file
before it is too late.

Also holds the `score` and `validate` subcommands of `python -m offline_eval`.
"""

import argparse
import json
from pathlib import Path

from submission.writer import type_name, grid_problem  # one definition of a valid grid, shipped to Kaggle too
ATTEMPTS = ("attempt_1", "attempt_2")

# -----------------------------------------------------------------------------
# Loading


class JsonLoadError(ValueError):
    """A file that could not be read as JSON; the message names the file and the place."""


def load_json(path):
    """Read a JSON file; raise JsonLoadError naming the file (and line/column) on failure."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JsonLoadError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise JsonLoadError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise JsonLoadError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise JsonLoadError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None


# -----------------------------------------------------------------------------
# Grid rules (shared by the validator and the scorer)


def grids_equal(attempt, truth):
    """Exact match: `attempt` is a valid grid with the same shape and cells as `truth`."""
    if grid_problem(attempt) is not None:
        return False
    # both are lists of lists of ints here; == compares shape and every cell
    return attempt == truth


# -----------------------------------------------------------------------------
# Scoring


def _entry_attempt(entries, i, key):
    """The attempt `key` of entry `i`, or None when the submission does not hold one."""
    if not isinstance(entries, list) or i >= len(entries):
        return None
    entry = entries[i]
    if not isinstance(entry, dict):
        return None
    return entry.get(key)


def score_submission(submission, solutions):
    """Score `submission` against `solutions` ({task_id: [grid, ...]}).

    A test output is solved when either attempt equals the truth exactly. Tasks of `solutions`
    missing from the submission score 0 and are listed in "missing"; tasks only in the
    submission are ignored and listed in "extra". Returns a dict:
      score, per_output         both attempts (per-task mean, per-output mean)
      pass1, pass1_per_output   attempt_1 only
      tasks, tasks_pass1        {task_id: fraction of its test outputs solved}
      outputs                   {task_id: [{"index", "attempt_1_correct", "attempt_2_correct"}]}
      missing, extra, n_tasks, n_outputs
    """
    if not isinstance(submission, dict):
        submission = {}  # a non-object submission solves nothing; every task is "missing"
    tasks, tasks_pass1, outputs = {}, {}, {}
    n_solved = n_solved_pass1 = n_outputs = 0
    for task_id, truths in solutions.items():
        entries = submission.get(task_id)
        rows = []
        for i, truth in enumerate(truths):
            a1 = grids_equal(_entry_attempt(entries, i, "attempt_1"), truth)
            a2 = grids_equal(_entry_attempt(entries, i, "attempt_2"), truth)
            rows.append({"index": i, "attempt_1_correct": a1, "attempt_2_correct": a2})
        solved = sum(r["attempt_1_correct"] or r["attempt_2_correct"] for r in rows)
        solved_pass1 = sum(r["attempt_1_correct"] for r in rows)
        # a task with no test outputs cannot be solved; count it as 0 rather than divide by 0
        tasks[task_id] = solved / len(rows) if rows else 0.0
        tasks_pass1[task_id] = solved_pass1 / len(rows) if rows else 0.0
        outputs[task_id] = rows
        n_solved += solved
        n_solved_pass1 += solved_pass1
        n_outputs += len(rows)

    def mean(xs):
        return sum(xs) / len(xs) if xs else 0.0

    return {
        "score": mean(list(tasks.values())),
        "per_output": n_solved / n_outputs if n_outputs else 0.0,
        "pass1": mean(list(tasks_pass1.values())),
        "pass1_per_output": n_solved_pass1 / n_outputs if n_outputs else 0.0,
        "n_tasks": len(tasks),
        "n_outputs": n_outputs,
        "n_solved": n_solved,
        "tasks": tasks,
        "tasks_pass1": tasks_pass1,
        "missing": [t for t in solutions if t not in submission],
        "extra": [t for t in submission if t not in solutions],
        "outputs": outputs,
    }


# -----------------------------------------------------------------------------
# Validation


def _n_tests(task, task_id="?"):
    """Number of test inputs of a task, from challenges ({"train", "test"}) or solutions ([grid])."""
    if isinstance(task, dict):
        return len(task.get("test", []))
    if isinstance(task, list):
        return len(task)
    raise ValueError(f"task {task_id} is {type_name(task)}; expected a challenges or solutions entry")


def validate_submission(submission_obj, challenges):
    """List every problem that would make Kaggle reject `submission_obj`; [] means valid.

    `challenges` is the challenges dict the submission answers (a solutions dict works too:
    only the number of test inputs per task is used). Each problem names the task id, the test
    index and the attempt where relevant.
    """
    if not isinstance(submission_obj, dict):
        return [f"submission: top level is {type_name(submission_obj)}, expected a JSON object"]
    problems = []
    for task_id in challenges:
        if task_id not in submission_obj:
            problems.append(f"task {task_id}: missing from submission")
    for task_id in submission_obj:
        if task_id not in challenges:
            problems.append(f"task {task_id}: not in challenges (extra task ids are not allowed)")

    for task_id, task in challenges.items():
        if task_id not in submission_obj:
            continue
        entries = submission_obj[task_id]
        n_tests = _n_tests(task, task_id)
        if not isinstance(entries, list):
            problems.append(f"task {task_id}: value is {type_name(entries)}, "
                            f"expected a list of {n_tests} entries (one per test input)")
            continue
        if len(entries) != n_tests:
            problems.append(f"task {task_id}: {len(entries)} entries, "
                            f"expected {n_tests} (one per test input)")
        # check what is there even when the count is wrong, so one run shows every problem
        for i, entry in enumerate(entries):
            where = f"task {task_id} test {i}"
            if not isinstance(entry, dict):
                problems.append(f"{where}: entry is {type_name(entry)}, "
                                f"expected an object with attempt_1 and attempt_2")
                continue
            for key in ATTEMPTS:
                if key not in entry:
                    problems.append(f"{where} {key}: missing")
                    continue
                why = grid_problem(entry[key])
                if why is not None:
                    problems.append(f"{where} {key}: {why}")
    return problems


# -----------------------------------------------------------------------------
# Command line: `python -m offline_eval score` and `python -m offline_eval validate`


def add_score_args(parser: argparse.ArgumentParser):
    parser.add_argument("submission", help="submission.json to score")
    parser.add_argument("solutions", help="solutions JSON: {task_id: [grid, ...]}")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def format_score_text(result):
    """Human-readable summary and per-task table of a score_submission result."""
    lines = [
        f"score       {result['score']:.4f}   mean over tasks of the fraction of test outputs solved",
        f"per_output  {result['per_output']:.4f}   {result['n_solved']}/{result['n_outputs']} test outputs solved",
        f"pass@1      {result['pass1']:.4f}   attempt_1 only (per output {result['pass1_per_output']:.4f})",
        f"tasks       {result['n_tasks']}   ({len(result['missing'])} missing from submission, "
        f"{len(result['extra'])} extra ignored)",
        f"outputs     {result['n_outputs']}",
    ]
    if result["missing"]:
        lines.append("missing     " + " ".join(result["missing"]))
    lines += ["", "per task (outputs: 1 = attempt_1 right, 2 = only attempt_2 right, - = neither)"]
    width = max([len("task")] + [len(t) for t in result["tasks"]])
    lines.append(f"{'task':<{width}}  score  pass1  outputs")
    for task_id, frac in result["tasks"].items():
        marks = "".join("1" if r["attempt_1_correct"] else "2" if r["attempt_2_correct"] else "-"
                        for r in result["outputs"][task_id])
        note = "  (missing)" if task_id in result["missing"] else ""
        lines.append(f"{task_id:<{width}}  {frac:.3f}  {result['tasks_pass1'][task_id]:.3f}  {marks}{note}")
    return "\n".join(lines)


def run_score(args) -> int:
    try:
        submission = load_json(args.submission)
        solutions = load_json(args.solutions)
    except JsonLoadError as e:
        print(f"error: {e}")
        return 1
    if not isinstance(solutions, dict):
        print(f"error: {args.solutions}: top level is {type_name(solutions)}, expected an object")
        return 1
    result = score_submission(submission, solutions)
    print(json.dumps(result) if args.json else format_score_text(result))
    return 0


def add_validate_args(parser: argparse.ArgumentParser):
    parser.add_argument("submission", help="submission.json to check")
    parser.add_argument("challenges", help="challenges JSON the submission answers (solutions JSON works too)")


def run_validate(args) -> int:
    try:
        submission = load_json(args.submission)
        challenges = load_json(args.challenges)
    except JsonLoadError as e:
        print(f"invalid: {e}")
        return 1
    if not isinstance(challenges, dict):
        print(f"error: {args.challenges}: top level is {type_name(challenges)}, expected an object")
        return 1
    try:
        problems = validate_submission(submission, challenges)
        n_outputs = sum(_n_tests(t, tid) for tid, t in challenges.items())
    except ValueError as e:  # a malformed challenges file, not a submission problem
        print(f"error: {args.challenges}: {e}")
        return 1
    if problems:
        for p in problems:
            print(p)
        print(f"invalid: {len(problems)} problem(s)")
        return 1
    print(f"valid: {len(challenges)} tasks, {n_outputs} test outputs")
    return 0
