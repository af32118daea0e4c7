"""python -m submission.notebook: write the Kaggle notebook notebooks/arc_submission.ipynb from this package.

The notebook is generated, never edited by hand (one source of truth): it embeds the source of
every module `python -m submission` imports, writes them to $TEMP_DIR/trm_kit/submission/ and
runs the entry as a real package (its workers are spawned processes that import it by name). A
test regenerates the notebook and fails when the committed file differs, so after changing any
module of the entry, run `python -m submission.notebook` and commit the result.

Output is deterministic: fixed cell ids, no outputs, no execution counts, no timestamps, JSON in
nbformat's own layout (indent 1, sorted keys). Standard library only.

The notebook's own metadata carries Kaggle's block (metadata.kaggle: the L4 accelerator, internet
off), which the web editor reads when the file is uploaded. Beside the notebook it writes
kernel-metadata.json, what the Kaggle CLI needs to push it (`kaggle kernels push -p notebooks`): the
L4 machine ("NvidiaL4", the 4 x L4 box), internet off, the 2026 competition's data and the
checkpoint dataset attached, and, with --docker-image, the Kaggle image pinned.

    python -m submission.notebook                  # notebooks/arc_submission.ipynb + kernel-metadata.json
    python -m submission.notebook --kaggle-user me --checkpoint-dataset me/trm-checkpoint
    python -m submission.notebook --kaggle-user me --docker-image IMAGE   # the image a commit run passed on
    python -m submission.notebook --out other.ipynb
"""
import argparse
import ast
import json
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DEFAULT_OUT = REPO_ROOT / "notebooks" / "arc_submission.ipynb"
PACKAGE = PACKAGE_DIR.name  # "submission"
KIT_FOLDER = "trm_kit"  # under TEMP_DIR (never /kaggle/working); holds submission/ so that `python -m submission` runs there
COMPETITION = "arc-prize-2026-arc-agi-2"  # the 2026 ARC-AGI-2 track's slug
MACHINE_SHAPE = "NvidiaL4"  # the Kaggle CLI's name for the L4 accelerator (4 x L4 in ARC Prize 2025/2026)
ACCELERATOR = "nvidiaL4"  # the same machine as the .ipynb's metadata.kaggle names it
KAGGLE_USER = "your-kaggle-username"  # placeholder until --kaggle-user
KERNEL_TITLE = "TRM ARC Submission"  # Kaggle derives the slug: trm-arc-submission
DATASET = "trm-checkpoint"  # the checkpoint dataset's slug (its files: meta.json + *.safetensors)


# -----------------------------------------------------------------------------
# Which files, and how their text is embedded


def runtime_modules(package_dir=PACKAGE_DIR) -> list[str]:
    """File names of the package that `python -m submission` needs: __init__.py, __main__.py and
    everything they import relatively, transitively (lazy imports inside functions included).
    Parsed from the source, so a new module joins the notebook as soon as the entry imports it."""
    package_dir = Path(package_dir)
    need, todo = {"__init__.py"}, ["__main__.py"]
    while todo:
        name = todo.pop()
        if name in need:
            continue
        need.add(name)
        tree = ast.parse((package_dir / name).read_text(encoding="utf-8"), filename=name)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            if node.level != 1:
                raise ValueError(f"{name}: 'from {'.' * node.level}...' leaves the package; the notebook "
                                 "embeds only this package's files")
            if node.module:  # from .x import y
                if "." in node.module:
                    raise ValueError(f"{name}: subpackage import .{node.module} is not supported")
                todo.append(node.module + ".py")
            else:  # from . import x, y
                todo += [alias.name + ".py" for alias in node.names]
    missing = sorted(n for n in need if not (package_dir / n).is_file())
    if missing:
        raise FileNotFoundError(f"{package_dir}: imported but missing: {', '.join(missing)}")
    return sorted(need)


def read_source(path) -> str:
    """A file's text exactly as stored (no newline translation)."""
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def package_sources(package_dir=PACKAGE_DIR) -> dict:
    """{"submission/<file>": text} for every runtime module, in sorted order."""
    package_dir = Path(package_dir)
    return {f"{PACKAGE}/{name}": read_source(package_dir / name) for name in runtime_modules(package_dir)}


# Characters a raw triple-quoted literal may hold so that it reads back exactly and stays readable
# in the notebook: printable text, newlines and tabs. Anything else (\r, \f, NUL, ...) goes through repr().
def _plain(text: str) -> bool:
    return all(c in "\n\t" or c.isprintable() for c in text)


def string_literal(text: str) -> str:
    """A Python expression that evaluates to exactly `text`.

    Readable where possible: r'''...''' keeps the source as it is, line by line. A raw string cannot
    hold ''' or end in a quote or a backslash, and odd characters would not survive a notebook
    editor; such text falls back to repr() (one escaped line). Either way the result is checked."""
    lit = None
    if "'''" not in text and not text.endswith(("'", "\\")) and _plain(text):
        lit = "r'''" + text + "'''"
        try:
            if ast.literal_eval(lit) != text:
                lit = None
        except (SyntaxError, ValueError):
            lit = None
    if lit is None:
        lit = repr(text)
    assert ast.literal_eval(lit) == text
    return lit


# -----------------------------------------------------------------------------
# The cells

HEADER = f"""\
# ARC Prize: Tiny Recursive Model submission

Generated by `python -m submission.notebook` from the kit's `submission` package: **do not edit
this notebook by hand**; change the package and regenerate. It writes the package to
`TEMP_DIR/{KIT_FOLDER}/` (`/kaggle/temp`, never the versioned output) and runs `python -m submission`,
the Kaggle entry: per-task test-time training of a pretrained TRM on each task's demonstrations, then
augmented inference and voting. The answer goes to `/kaggle/working/submission.json`, the only file
the notebook leaves there (its sources, caches and lock stay in `TEMP_DIR`).

**Before running**
- *Checkpoint*: attach the pretrained checkpoint as a Kaggle dataset (or model) named like
  `CHECKPOINT_DATASET` (default **`{DATASET}`**) holding `meta.json` and the `*.safetensors` files: a
  Kaggle export (`python -m train.export --run DIR --out DIR`, a few MB) or a full checkpoint or run
  folder. Both mount layouts are searched (`/kaggle/input/<slug>/`, `/kaggle/input/datasets/<owner>/<slug>/`,
  `/kaggle/input/models/<owner>/<model>/<framework>/<variation>/<version>/`); with several checkpoints
  attached the log names them all and says which was used. `CHECKPOINT_DIR` picks a folder outright.
- *Internet*: **off** (a Kaggle competition rule). Nothing is installed: the notebook needs only
  torch, numpy, numba and the standard library, all in Kaggle's image.
- *Accelerator*: **GPU L4x4** (this file's metadata asks for it; check it in Settings). One worker
  process runs per GPU, each sizing its batches to its card's memory. Without a usable GPU a commit
  run **fails** (the run cell raises, naming the accelerator setting), so a version whose accelerator
  was switched off is never submitted; the scoring rerun warns loudly and runs one CPU worker.
  `DEVICE = "cpu"` runs on the CPU on purpose.

**What happens**
1. Within seconds a complete `submission.json` of fallback answers (each test input copied as both
   attempts) is on disk; every later write replaces it atomically, so a kill at any moment leaves a
   valid file.
2. *Save Version* (and any run without `KAGGLE_IS_COMPETITION_RERUN`) is a **commit run**: a smoke test
   of `COMMIT_TASKS` tasks in at most `COMMIT_MINUTES`, every GPU used, the file complete and valid; it
   also solves `COMMIT_EVAL_TASKS` of the competition's evaluation tasks (unseen by the checkpoint first)
   and prints their pass@2 against `arc-agi_evaluation_solutions.json` (read only after predicting;
   their answers stay out of the submission), so a broken checkpoint shows before you submit. The
   scoring rerun runs the full job: tasks are split into shards; each worker takes the next shard,
   fine-tunes on its tasks' demonstrations within the shard's fair share of the time left, predicts its
   test inputs and sends the answers, which are written at once.
3. The run plans to end `MARGIN_S` before `TIME_LIMIT_S`; stopping the run cell (or an error in it)
   ends the entry and all its workers; running it again while a copy runs is refused. The last cell
   reloads the file, checks it and prints a summary; it fails loudly only when there is nothing to
   submit (no test challenges found).

**Settings** (next cell)
| setting | meaning |
|---|---|
| `TIME_LIMIT_S` | wall-clock limit of the whole notebook: Kaggle's 12 h (`TRM_TIME_LIMIT` in the environment overrides it) |
| `MARGIN_S` | plan to finish this long before the limit: 15 min (Kaggle's run time varies by up to ~10 min; `TRM_MARGIN` in the environment overrides it) |
| `CHECKPOINT_DATASET` | the dataset slug (or `owner/slug`, or model name) holding the checkpoint; it wins when several are attached |
| `CHECKPOINT_DIR` | `None`: found under `INPUT_DIR` as above; or a folder |
| `RUN_MODE` | `"auto"`: a commit run without `KAGGLE_IS_COMPETITION_RERUN`, the full job with it; `"commit"` or `"full"` to force one |
| `COMMIT_TASKS`, `COMMIT_MINUTES` | the commit run's tasks and time limit |
| `COMMIT_EVAL_TASKS` | evaluation tasks a commit run solves and scores (0: none) |
| `DEVICE` | `"auto"`: every GPU (a commit run without one fails); `"cpu"`: the CPU on purpose |
| `GPU_MEMORY_GB` | `None`: each worker plans for its GPU's free memory; a number (GiB) caps it (22.5: an L4) |
| `TTT_MODE` | `"full"`: fine-tune every weight and the new puzzle embeddings; `"embeddings"`: the new puzzle embeddings only |
| `TTT_STEPS` | `None`: as many test-time training steps per shard as its time allows; a number caps them |
| `VIEWS` | `None`: every augmentation trained is a view at inference; a number caps the views per test input |
| `VOTE` | `"votes"`: most votes over the views (ties: mean halt confidence); `"poe"`: summed log-probability over the views |
| `EXTRA_ARGS` | any other flags of `python -m submission` (run it with `--help` to list them); `TRM_ENTRY_ARGS` in the environment adds more after these (`offline_eval simulate --notebook` passes its sweep and `--entry-args` flags so) |
| `INPUT_DIR`, `WORKING_DIR`, `TEMP_DIR` | Kaggle's `/kaggle/input`, `/kaggle/working` and `/kaggle/temp` (the system's temporary folder where that is missing); the environment variables `TRM_KAGGLE_INPUT` / `TRM_KAGGLE_WORKING` / `TRM_KAGGLE_TEMP` override them (the kit's tests run this notebook on a fake tree) |
"""


def settings_text(dataset: str = DATASET) -> str:
    return """\
import os
import tempfile
import time

NOTEBOOK_START = time.time()

# Paths: Kaggle's unless the environment names others (the kit's tests use a fake input tree).
# WORKING_DIR is the versioned output: only submission.json goes there; the kit's own files go to TEMP_DIR.
INPUT_DIR = os.environ.get("TRM_KAGGLE_INPUT", "/kaggle/input")
WORKING_DIR = os.environ.get("TRM_KAGGLE_WORKING", "/kaggle/working")
TEMP_DIR = os.environ.get("TRM_KAGGLE_TEMP") or ("/kaggle/temp" if os.path.isdir("/kaggle/temp") else tempfile.gettempdir())
os.environ["TRM_KAGGLE_TEMP"] = TEMP_DIR  # the package's lock path reads it, here and in the entry
os.makedirs(WORKING_DIR, exist_ok=True)

# Time: Kaggle stops a notebook at 12 h. Plan to end MARGIN_S early (a tenth of a short test limit).
TIME_LIMIT_S = float(os.environ.get("TRM_TIME_LIMIT", 12 * 3600))
MARGIN_S = float(os.environ.get("TRM_MARGIN", min(15 * 60, TIME_LIMIT_S / 10)))

CHECKPOINT_DATASET = {dataset!r}  # the dataset (or model) holding the checkpoint, in any mount layout
CHECKPOINT_DIR = None  # None: found under INPUT_DIR (CHECKPOINT_DATASET first); or a folder
RUN_MODE = "auto"      # "auto": a commit run unless KAGGLE_IS_COMPETITION_RERUN is set; or "commit" / "full"
COMMIT_TASKS = 4       # a commit run's tasks ...
COMMIT_MINUTES = 20    # ... and its time limit
COMMIT_EVAL_TASKS = 4  # evaluation tasks a commit run solves and scores against their solutions (0: none)
DEVICE = "auto"        # "auto": every GPU (a commit run without one fails); "cpu": the CPU on purpose
GPU_MEMORY_GB = None   # None: each worker plans for its GPU's free memory; a number (GiB) caps it
TTT_MODE = "full"      # "full": every weight + the new puzzle embeddings; "embeddings": the embeddings only
TTT_STEPS = None       # None: as many test-time training steps per shard as the time allows
VIEWS = None           # None: every trained augmentation is a view; a number caps views per test input
VOTE = "votes"         # "votes": vote count (ties: mean halt confidence); "poe": summed log-probability
EXTRA_ARGS = []        # more flags for `python -m submission`, e.g. ["--task-cap", "600"]

KIT_DIR = os.path.join(TEMP_DIR, "{kit}")  # the package is written here and run from here
OUTPUT = os.path.join(WORKING_DIR, "submission.json")
print(f"input {{INPUT_DIR}}, working {{WORKING_DIR}}, kit and caches in {{TEMP_DIR}}, time limit {{TIME_LIMIT_S:.0f}}s, "
      f"margin {{MARGIN_S:.0f}}s")
""".format(kit=KIT_FOLDER, dataset=dataset)


WRITE_SOURCES = """\
# The kit's package, written to KIT_DIR/submission/ (generated from the repository; do not edit here).
import shutil

if os.path.isdir(os.path.join(KIT_DIR, "{pkg}")):
    shutil.rmtree(os.path.join(KIT_DIR, "{pkg}"))  # no stale modules from an earlier run
for rel, text in SOURCES.items():
    path = os.path.join(KIT_DIR, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
print(f"wrote {{len(SOURCES)}} files to {{os.path.join(KIT_DIR, '{pkg}')}}: {{', '.join(sorted(os.path.basename(p) for p in SOURCES))}}")
""".format(pkg=PACKAGE)

RUN = """\
# Run the entry in its own process group (its GPU workers are spawned processes that import the
# package), streaming its log here. However this cell ends (the run done, an error, the stop button),
# the `finally` below ends the entry and every worker with it; a watchdog ends them if they are
# still running a quarter of the margin before the limit. submission.json on disk is valid at every
# moment. While a copy runs (it holds a lock in TEMP_DIR) a second one is refused. A commit run on a
# machine that cannot do the job (no usable GPU, a broken numba) fails this cell, naming the cause.
import shlex
import signal
import subprocess
import sys
import threading

sys.path.insert(0, KIT_DIR)
from {pkg}.__main__ import EXIT_UNFIT
from {pkg}.writer import clear_stale_files, release_lock, take_lock

lock, holder = take_lock(OUTPUT)
if lock is None:
    raise RuntimeError(f"python -m {pkg} is already running (pid {{holder}}) and writing {{OUTPUT}}: wait for it "
                       f"to end, or end it (os.killpg({{holder}}, signal.SIGKILL)), then run this cell again")
release_lock(lock, OUTPUT)  # free: the entry takes it for its whole run

time_left = TIME_LIMIT_S - (time.time() - NOTEBOOK_START)
cmd = [sys.executable, "-m", "{pkg}", "--output", OUTPUT, "--time-limit", f"{{time_left:.1f}}",
       "--margin", f"{{MARGIN_S:.0f}}", "--checkpoint-dataset", CHECKPOINT_DATASET, "--run-mode", RUN_MODE,
       "--commit-tasks", str(COMMIT_TASKS), "--commit-minutes", str(COMMIT_MINUTES),
       "--commit-eval-tasks", str(COMMIT_EVAL_TASKS), "--device", DEVICE, "--ttt-mode", TTT_MODE, "--vote", VOTE]
if CHECKPOINT_DIR is not None:
    cmd += ["--checkpoint", CHECKPOINT_DIR]
if GPU_MEMORY_GB is not None:
    cmd += ["--gpu-memory", str(GPU_MEMORY_GB)]
if TTT_STEPS is not None:
    cmd += ["--ttt-steps", str(TTT_STEPS)]
if VIEWS is not None:
    cmd += ["--views", str(VIEWS)]
cmd += [str(a) for a in EXTRA_ARGS]
cmd += shlex.split(os.environ.get("TRM_ENTRY_ARGS", ""))  # set by `offline_eval simulate --notebook`; last, so they win
env = dict(os.environ, TRM_KAGGLE_INPUT=INPUT_DIR, TRM_KAGGLE_WORKING=WORKING_DIR, TRM_KAGGLE_TEMP=TEMP_DIR,
           NUMBA_CACHE_DIR=os.path.join(TEMP_DIR, "numba_cache"), PYTHONUNBUFFERED="1")
env["PYTHONPATH"] = os.pathsep.join(p for p in (KIT_DIR, os.environ.get("PYTHONPATH")) if p)
print("$", " ".join(cmd), flush=True)
proc = subprocess.Popen(cmd, cwd=KIT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True, bufsize=1, start_new_session=True)
print(f"[notebook] entry started: pid {{proc.pid}} (its process group holds its workers)", flush=True)


def end_entry(why):
    # SIGKILL to the whole group: the entry and every worker it spawned.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
        print(f"[notebook] {{why}}: ended the entry's process group {{proc.pid}}", flush=True)
    except ProcessLookupError:
        pass  # already gone


watchdog = threading.Timer(max(1.0, TIME_LIMIT_S - MARGIN_S / 4 - (time.time() - NOTEBOOK_START)),
                           end_entry, args=("the entry is still running near the time limit",))
watchdog.start()
errors = []  # the entry's "error: ..." lines
try:
    for line in proc.stdout:
        print(line, end="", flush=True)
        if line.startswith("error: "):
            errors.append(line.strip())
        elif line.startswith("[commit-eval] score"):
            COMMIT_EVAL_SCORE = line.split("score: ", 1)[1].strip()  # printed again by the last cell
    RETURN_CODE = proc.wait()
finally:
    watchdog.cancel()
    if proc.poll() is None:
        end_entry("this cell was stopped or failed")
    else:
        end_entry("leftover workers after the entry's exit")
    proc.wait()
    clear_stale_files(OUTPUT)  # a killed entry's lock and half-written temporary file, if any
print(f"[notebook] python -m {pkg} exited with code {{RETURN_CODE}} after {{time.time() - NOTEBOOK_START:.0f}}s "
      "of notebook time", flush=True)
if RETURN_CODE == EXIT_UNFIT:
    raise RuntimeError("this machine cannot run the submission, so this commit run fails (do not submit this "
                       "version): " + " ".join(errors))
""".format(pkg=PACKAGE)

VALIDATE = """\
# Reload submission.json and check Kaggle's rules here, independently of the entry. Should any task be
# wrong or the file unreadable, its fallback answers are written, so Kaggle never scores a malformed file.
# No test challenges at all means nothing can be submitted: that fails here, loudly.
import json
import sys

sys.path.insert(0, KIT_DIR)
from {pkg}.discover import challenges_searched, find_challenges  # the challenges file the entry read
from {pkg}.writer import fallback_entries, write_atomic


def grid_ok(g):
    return (isinstance(g, list) and 1 <= len(g) <= 30 and all(isinstance(r, list) for r in g)
            and 1 <= len(g[0]) <= 30 and all(len(r) == len(g[0]) for r in g)
            and all(type(v) is int and 0 <= v <= 9 for r in g for v in r))


def n_tests(task):
    return len(task["test"]) if isinstance(task, dict) and isinstance(task.get("test"), list) and task["test"] else 1


def bad_tasks(sub, challenges):
    bad = [tid for tid, task in challenges.items()
           if not (isinstance(sub.get(tid), list) and len(sub[tid]) == n_tests(task)
                   and all(isinstance(e, dict) and set(e) == {{"attempt_1", "attempt_2"}}
                           and grid_ok(e["attempt_1"]) and grid_ok(e["attempt_2"]) for e in sub[tid]))]
    return bad, [tid for tid in sub if tid not in challenges]


found = find_challenges(INPUT_DIR)
if not found:
    raise FileNotFoundError(f"no test challenges under {{INPUT_DIR}}, so there is nothing to submit: is the "
                            f"competition's data attached? Searched:\\n  {{challenges_searched(INPUT_DIR)}}")
with open(found[0], encoding="utf-8") as f:
    challenges = json.load(f)
try:
    with open(OUTPUT, encoding="utf-8") as f:
        sub = json.load(f)
    if not isinstance(sub, dict):
        raise ValueError(f"top level is {{type(sub).__name__}}, not an object")
except (OSError, ValueError) as e:
    print(f"[notebook] cannot read {{OUTPUT}}: {{e}}")
    sub = {{}}
bad, extra = bad_tasks(sub, challenges)
if bad or extra:
    print(f"[notebook] INVALID: {{len(bad)}} task(s) missing or malformed ({{', '.join(bad[:10])}}), "
          f"{{len(extra)}} unknown; writing fallback answers for them")
    fallback = fallback_entries({{tid: challenges[tid] for tid in bad}})
    sub = {{tid: (fallback[tid] if tid in fallback else sub[tid]) for tid in challenges}}
    write_atomic(sub, OUTPUT)
    with open(OUTPUT, encoding="utf-8") as f:
        sub = json.load(f)
    bad, extra = bad_tasks(sub, challenges)
assert not bad and not extra, f"submission still invalid: {{bad[:10]}} {{extra[:10]}}"

n_inputs = sum(n_tests(t) for t in challenges.values())
test_inputs = {{tid: [x.get("input") if isinstance(x, dict) else None for x in (t.get("test") or [None])]
               if isinstance(t, dict) else [None] for tid, t in challenges.items()}}
changed = sum(x is not None and (e["attempt_1"] != x or e["attempt_2"] != x)
              for tid, entries in sub.items() for e, x in zip(entries, test_inputs[tid]))
print(f"[notebook] {{OUTPUT}} is valid: {{len(sub)}} tasks, {{n_inputs}} test inputs, {{changed}} answered "
      f"with something other than the copied test input; entry exit code {{globals().get('RETURN_CODE')}}; "
      f"{{time.time() - NOTEBOOK_START:.0f}}s of notebook time")
if globals().get("COMMIT_EVAL_SCORE"):
    print(f"[notebook] this commit run's evaluation score: {{COMMIT_EVAL_SCORE}}")
""".format(pkg=PACKAGE)


def lines(text: str) -> list[str]:
    """Notebook source: a list of lines, each but the last ending in a newline; joined, the text."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def markdown_cell(cell_id: str, text: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": lines(text)}


def code_cell(cell_id: str, text: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": {}, "outputs": [],
            "source": lines(text)}


def notebook(cells: list) -> dict:
    # metadata.kaggle is what Kaggle writes into a notebook it exports and reads from one uploaded
    # through the web editor: the L4 machine, GPU on, internet off. Its data sources (dataSources) are
    # keyed by Kaggle's numeric ids, which only Kaggle knows: the competition and the checkpoint are
    # attached by kernel-metadata.json (a CLI push) or by "Add Input" in the editor.
    kaggle = {"accelerator": ACCELERATOR, "isGpuEnabled": True, "isInternetEnabled": False, "language": "python",
              "sourceType": "notebook"}
    return {"cells": cells,
            "metadata": {"kaggle": kaggle,
                         "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def dumps(nb: dict) -> str:
    """nbformat's own layout, so Jupyter saving the file unchanged gives the same bytes."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def sources_cell_text(sources: dict) -> str:
    out = ["# Generated from the repository's submission/ package: one entry per file, text exactly as stored.",
           "SOURCES = {"]
    for rel, text in sources.items():
        out.append(f"{rel!r}: {string_literal(text)},")
    out.append("}")
    return "\n".join(out) + "\n\n" + WRITE_SOURCES


def build(package_dir=PACKAGE_DIR, dataset: str = DATASET) -> str:
    """The notebook's full text; `dataset`: the checkpoint dataset's slug (the settings' default)."""
    cells = [markdown_cell("header", HEADER.rstrip("\n")),
             code_cell("settings", settings_text(dataset).rstrip("\n")),
             code_cell("package-sources", sources_cell_text(package_sources(package_dir)).rstrip("\n")),
             code_cell("run-entry", RUN.rstrip("\n")),
             code_cell("validate", VALIDATE.rstrip("\n"))]
    return dumps(notebook(cells))


def kernel_metadata(code_file: str, user: str = KAGGLE_USER, dataset: str = DATASET, docker_image: str | None = None) -> dict:
    """kernel-metadata.json for `kaggle kernels push` (the fields the Kaggle CLI reads): private, GPU on
    the L4 machine, internet off, the competition's data and the checkpoint attached. `dataset`: the
    checkpoint dataset as slug (owned by `user`) or owner/slug. `docker_image`: Kaggle's image to run
    on (as `kaggle kernels pull -m` reports it), kept for later versions ("original" pinning);
    None leaves the choice to Kaggle (its current image)."""
    source = dataset if "/" in dataset else f"{user}/{dataset}"
    slug = KERNEL_TITLE.lower().replace(" ", "-")
    meta = {"id": f"{user}/{slug}", "title": KERNEL_TITLE, "code_file": code_file, "language": "python",
            "kernel_type": "notebook", "is_private": True, "enable_gpu": True, "enable_tpu": False,
            "enable_internet": False, "machine_shape": MACHINE_SHAPE, "dataset_sources": [source],
            "competition_sources": [COMPETITION], "kernel_sources": [], "model_sources": []}
    if docker_image:
        meta.update(docker_image=docker_image, docker_image_pinning_type="original")
    return meta


def embedded_sources(nb_text: str) -> dict:
    """The SOURCES dict of a generated notebook, read back without running anything."""
    nb = json.loads(nb_text)
    cell = next(c for c in nb["cells"] if c.get("id") == "package-sources")
    tree = ast.parse("".join(cell["source"]))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["SOURCES"]:
            return ast.literal_eval(node.value)
    raise ValueError("no SOURCES = {...} in the package-sources cell")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m submission.notebook", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"notebook to write (default {DEFAULT_OUT.relative_to(REPO_ROOT)}); "
                   "kernel-metadata.json goes beside it")
    p.add_argument("--kaggle-user", default=KAGGLE_USER, help="your Kaggle user name, for the kernel's id (default: a placeholder)")
    p.add_argument("--checkpoint-dataset", default=DATASET,
                   help="the checkpoint dataset, slug (yours) or owner/slug (default %(default)s)")
    p.add_argument("--docker-image", default=None, metavar="IMAGE",
                   help="pin the kernel to this Kaggle image (kernel-metadata.json's docker_image, pinning "
                        "'original'): the docker_image that `kaggle kernels pull YOU/trm-arc-submission -p DIR -m` "
                        "writes for a version whose commit run passed (default: none pinned, Kaggle's current image)")
    args = p.parse_args(argv)
    if args.docker_image is not None and not args.docker_image.strip():
        p.error("--docker-image: empty; give the image as `kaggle kernels pull -m` reports it")
    text = build(dataset=args.checkpoint_dataset.split("/")[-1])
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    meta = kernel_metadata(os.path.basename(args.out), args.kaggle_user, args.checkpoint_dataset, args.docker_image)
    meta_path = os.path.join(os.path.dirname(os.path.abspath(args.out)), "kernel-metadata.json")
    with open(meta_path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(meta, indent=1) + "\n")
    files = ", ".join(embedded_sources(text))
    print(f"wrote {args.out} ({len(text.encode()) / 1e3:.0f} kB) embedding {files}; and {meta_path} "
          f"(kernel {meta['id']}, dataset {meta['dataset_sources'][0]}, image "
          f"{meta.get('docker_image', 'not pinned')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
