"""Where things are on Kaggle: the run mode, the test challenges and the checkpoint, in every mount layout.

Kaggle mounts an attached dataset at /kaggle/input/<slug>/ in older notebooks and at
/kaggle/input/datasets/<owner>/<slug>/ in newer ones, a model at
/kaggle/input/models/<owner>/<model>/<framework>/<variation>/<version>/, and the competition's
files at /kaggle/input/<competition>/ or /kaggle/input/competitions/<competition>/. Nothing here
assumes one layout:

- challenges: the known 2026 and 2025 paths in both layouts (KNOWN_CHALLENGES), else any
  *test_challenges*.json below the input folder; when nothing is found the message lists every
  place searched;
- checkpoint: every checkpoint folder below the input folder (competition folders skipped), in any
  layout; the one whose dataset or model is named by --checkpoint-dataset wins, else the newest
  checkpoint format; with several candidates the log names them all and says which was used and why;
- run mode: KAGGLE_IS_COMPETITION_RERUN set means the scoring rerun (the full job); unset on Kaggle
  means a commit ("Save Version") or interactive run, which runs a short smoke test instead of
  spending 12 GPU-hours on the placeholder tasks;
- evaluation files: the competition's arc-agi_evaluation_challenges.json and
  arc-agi_evaluation_solutions.json beside the test challenges, which a commit run scores itself on;
- scratch: /kaggle/working is the notebook's versioned output, so everything of the kit's own (its
  sources, caches, the lock) goes to the scratch folder instead: /kaggle/temp on Kaggle, else the
  system's temporary folder.

TRM_KAGGLE_INPUT / TRM_KAGGLE_WORKING / TRM_KAGGLE_TEMP (default /kaggle/input, /kaggle/working, the
scratch folder above) redirect it all, so tests can fake the tree. Standard library only (the
notebook's cells import it).
"""
from __future__ import annotations

import fnmatch
import glob
import json
import os
import tempfile
from dataclasses import dataclass

KAGGLE_CHECKPOINT_DATASET = "trm-checkpoint"  # the checkpoint's dataset (or model) name, unless told otherwise
KNOWN_CHALLENGES = (  # newest competition first; relative to the input folder
    "competitions/arc-prize-2026-arc-agi-2/arc-agi_test_challenges.json",
    "arc-prize-2026-arc-agi-2/arc-agi_test_challenges.json",
    "competitions/arc-prize-2026*/arc-agi_test_challenges.json",
    "arc-prize-2026*/arc-agi_test_challenges.json",
    "competitions/arc-prize-2025/arc-agi_test_challenges.json",
    "arc-prize-2025/arc-agi_test_challenges.json",
)
CHALLENGES_PATTERN = "*test_challenges*.json"
EVALUATION_FILES = ("arc-agi_evaluation_challenges.json", "arc-agi_evaluation_solutions.json")  # beside the test file
MAX_DEPTH = 8  # below the input folder (a model's files sit 5 levels down, a run's best/ 1-2 more)


def kaggle_input() -> str:
    return os.environ.get("TRM_KAGGLE_INPUT", "/kaggle/input")


def kaggle_working() -> str:
    return os.environ.get("TRM_KAGGLE_WORKING", "/kaggle/working")


def scratch_dir() -> str:
    """Where the kit's own files go (never /kaggle/working): $TRM_KAGGLE_TEMP, else /kaggle/temp when
    it exists (Kaggle's scratch space, not saved with the notebook's output), else the system's
    temporary folder."""
    if os.environ.get("TRM_KAGGLE_TEMP"):
        return os.environ["TRM_KAGGLE_TEMP"]
    return "/kaggle/temp" if os.path.isdir("/kaggle/temp") else tempfile.gettempdir()


def is_rerun() -> bool:
    return bool(os.environ.get("KAGGLE_IS_COMPETITION_RERUN"))


def walk(root: str):
    """os.walk below root, sorted, following links, at most MAX_DEPTH deep, each real folder once."""
    seen = set()
    top = os.path.abspath(root).count(os.sep)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a link loop or a second link to the same folder
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames.sort()
        if os.path.abspath(dirpath).count(os.sep) - top >= MAX_DEPTH:
            dirnames[:] = []
        yield dirpath, dirnames, sorted(filenames)


# -----------------------------------------------------------------------------
# Challenges


def find_challenges(input_dir: str) -> list[str]:
    """Test challenges files under input_dir, preferred first: the known paths, else (only when none
    of them exists) every *test_challenges*.json below input_dir, shallowest first."""
    found = []
    for pattern in KNOWN_CHALLENGES:
        for path in sorted(glob.glob(os.path.join(input_dir, pattern))):
            if os.path.isfile(path) and path not in found:
                found.append(path)
    if found or not os.path.isdir(input_dir):
        return found
    for dirpath, _, filenames in walk(input_dir):
        found += [os.path.join(dirpath, f) for f in fnmatch.filter(filenames, CHALLENGES_PATTERN)]
    return sorted(found, key=lambda p: (p.count(os.sep), p))


def find_evaluation(challenges_path: str) -> tuple[str, str] | None:
    """(evaluation challenges, evaluation solutions) when both lie beside the test challenges, as in
    the competition's folder; else None."""
    folder = os.path.dirname(os.path.abspath(challenges_path))
    paths = tuple(os.path.join(folder, name) for name in EVALUATION_FILES)
    return paths if all(os.path.isfile(p) for p in paths) else None


def challenges_searched(input_dir: str) -> str:
    """Every place find_challenges looks, for the message when it finds nothing."""
    lines = [os.path.join(input_dir, p) for p in KNOWN_CHALLENGES]
    lines.append(f"every {CHALLENGES_PATTERN} below {input_dir} (recursive, {MAX_DEPTH} levels)"
                 + ("" if os.path.isdir(input_dir) else f": {input_dir} does not exist"))
    return "\n  ".join(lines)


# -----------------------------------------------------------------------------
# Checkpoints


@dataclass
class CheckpointCandidate:
    path: str            # the checkpoint folder (a run folder resolved to its best/ or last/)
    source: str          # where it was mounted from, in words ("dataset owner/slug", "model ...")
    names: tuple         # the names --checkpoint-dataset may give it (slug, owner/slug, model, ...)
    format: str          # meta.json's format
    export: bool         # a Kaggle export (python -m train.export) rather than a full checkpoint

    @property
    def format_version(self) -> int:
        try:
            return int(self.format.rsplit("/", 1)[1])
        except (IndexError, ValueError):
            return -1


def mount_of(input_dir: str, path: str) -> tuple[str, tuple]:
    """(source in words, names it answers to) of a folder below input_dir, by mount layout."""
    parts = os.path.relpath(path, input_dir).split(os.sep)
    if parts[0] == "datasets" and len(parts) >= 3:
        owner, slug = parts[1], parts[2]
        return f"dataset {owner}/{slug}", (slug, f"{owner}/{slug}")
    if parts[0] == "models" and len(parts) >= 3:
        owner, model = parts[1], parts[2]
        rest = parts[3:6]  # framework, variation, version
        names = (model, f"{owner}/{model}") + ((rest[1], f"{model}/{rest[1]}") if len(rest) >= 2 else ())
        return f"model {'/'.join(parts[1:6])}", names
    return f"dataset {parts[0]}", (parts[0],)


def checkpoint_candidates(input_dir: str) -> list[CheckpointCandidate]:
    """Every checkpoint folder below input_dir (competition folders skipped), one per run folder."""
    from .checkpoint import is_checkpoint, resolve_checkpoint  # torch: only when a checkpoint is wanted

    out = []
    if not os.path.isdir(input_dir):
        return out
    for dirpath, dirnames, _ in walk(input_dir):
        if os.path.abspath(dirpath) == os.path.abspath(input_dir):
            dirnames[:] = [d for d in dirnames if d != "competitions" and not d.startswith("arc-prize")]
            continue
        if not (is_checkpoint(dirpath) or is_checkpoint(os.path.join(dirpath, "best"))
                or is_checkpoint(os.path.join(dirpath, "last"))):
            continue
        dirnames[:] = []  # a run folder's best/ and last/ are one candidate
        ckpt = str(resolve_checkpoint(dirpath))
        try:
            with open(os.path.join(ckpt, "meta.json"), encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            continue
        source, names = mount_of(input_dir, dirpath)
        out.append(CheckpointCandidate(ckpt, source, names, str(meta.get("format", "?")), "export" in meta))
    return out


def choose_checkpoint(candidates: list, wanted: str) -> tuple[CheckpointCandidate | None, str]:
    """The candidate named `wanted` (a dataset slug, owner/slug, or model name), else the newest
    checkpoint format; ties go to the first path. Returns (choice, why) - why names every candidate
    when there are several."""
    if not candidates:
        return None, ""
    named = [c for c in candidates if wanted in c.names]
    pool = named or candidates
    best = max(pool, key=lambda c: (c.format_version, c.export))  # max keeps the first of equals
    if len(candidates) == 1:
        return best, f"the only checkpoint, in {best.source}"
    listing = "; ".join(f"{c.path} ({c.source}, {c.format}{', export' if c.export else ''})" for c in candidates)
    if named:
        why = f"its {'dataset' if best.source.startswith('dataset') else 'model'} is named {wanted!r}"
        if len(named) > 1:
            why += f" (as are {len(named) - 1} other(s); the newest format, then the first path, wins)"
    else:
        why = f"none is named {wanted!r}; the newest format, then the first path, wins"
    return best, f"{len(candidates)} checkpoints found: {listing}. Using {best.path}: {why}"


# -----------------------------------------------------------------------------
# Run mode


def run_mode(requested: str, on_kaggle: bool) -> tuple[str, str]:
    """("commit" | "full", why). auto: a commit run on Kaggle when KAGGLE_IS_COMPETITION_RERUN is
    unset, the full job otherwise (the scoring rerun, or anywhere with --challenges)."""
    if requested != "auto":
        return requested, f"--run-mode {requested}"
    if not on_kaggle:
        return "full", "a local run (--challenges given)"
    if is_rerun():
        return "full", "KAGGLE_IS_COMPETITION_RERUN is set: the scoring rerun on the hidden tasks"
    return "commit", ("KAGGLE_IS_COMPETITION_RERUN is unset: a commit (Save Version) or interactive run on the "
                      "placeholder tasks")
