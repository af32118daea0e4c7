"""Synthetic ARC-like task families: tasks made by a known rule, as many as asked, never seen before.

Each family is a rule with random parameters (which colours a colour map changes, which way cells
fall, how far a grid shifts). A task draws the parameters once and shares them across its 2-5
demonstrations and 1-2 test pairs, so the rule is what a solver has to infer. Tasks that would not
teach the rule are redrawn: a pair whose output equals its input, a repeated input, and
demonstrations that another reading fits as well while it answers a test differently (a test colour
no demonstration shows a colour map on; a second dihedral transform that fits every demonstration).

    python -m train.synth --list                                  # families: kind, rule
    python -m train.synth --dump synth:all:5:0:10 --out runs/synth  # challenges.json + solutions.json
    python -m train.synth --bench synth:all:500:0:10              # tasks per second

The task spec (accepted anywhere a spec is: `python -m train --data/--eval-data`, `offline_eval
simulate/baselines/report/transfer`, train.taskspec.load_tasks):

    synth:FAMILIES:COUNT:SEED[:SIDES]
      FAMILIES  comma-separated family names, kind names (colour, geometry, object, counting), or 'all'
      COUNT     tasks per family (>= 1)
      SEED      integer >= 0; task (family, i) depends only on (family, i, SEED, SIDES), not on which
                other families are asked for, so a larger COUNT extends a smaller one
      SIDES     'HI' or 'LO-HI' (default 3-30): input sides are drawn from LO..HI; outputs follow the
                rule (a crop or a bar may be smaller than LO); no grid has a side above HI

e.g. synth:colour_map,flip_lr:200:0   synth:geometry:100:1:10   synth:all:1000:1:4-10

Task ids say family, seed, sides and index: synth-flip_lr-s0-3to10-000123 (parse_task_id reads them
back), so a benchmark can split seen from unseen families and fresh instances (another seed) from
trained ones. The kind tag groups families for reports: "colour" (cell colours change, positions do
not), "geometry" (cells move as a whole grid: flips, rotations, shifts, scaling), "object" (the rule
needs connected objects, enclosures or rays), "counting" (the output encodes a number).

The rules themselves (drawing, degeneracy, ambiguity) are in train/synth_families.py.

Library use:
    FAMILIES["gravity"].rule                          # one line
    make_task("gravity", index=7, seed=0, max_side=10)  # one Task
    make_instance(...)                                # the Task with its family and drawn parameters
    generate(["flip_lr", "rot90"], count=100, seed=0, max_side=10)
    load_spec("synth:all:10:0:10")
"""
import argparse
import json
import os
import re
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from submission.tasks import MAX_GRID_SIDE, Task, TaskError, tasks_to_challenges, tasks_to_solutions
# FAMILIES, KINDS and DIHEDRAL_RULES are part of this module's interface too
from train.synth_families import DIHEDRAL_RULES, FAMILIES, KINDS, Family, _int, _same  # noqa: F401

DEFAULT_MIN_SIDE = 3
TASK_ATTEMPTS = 200  # whole-task redraws before giving up (a family that cannot fit its sides)
PAIR_ATTEMPTS = 20  # redraws of one pair under the same parameters

SPEC_GRAMMAR = ("synth:FAMILIES:COUNT:SEED[:SIDES] (FAMILIES: comma-separated family or kind names "
                "or 'all'; COUNT: tasks per family; SEED: integer >= 0; SIDES: 'HI' or 'LO-HI', default 3-30)")


@dataclass
class Instance:
    """A generated task with the family and parameters that made it (for tests and reports)."""

    task: Task
    family: str
    params: dict


# -----------------------------------------------------------------------------
# Choosing families


def family_names(kind: str | None = None) -> list[str]:
    """Every family's name in registry order, or those of one kind."""
    if kind is not None and kind not in KINDS:
        raise TaskError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
    return [n for n, f in FAMILIES.items() if kind is None or f.kind == kind]


def resolve_families(text: str) -> list[str]:
    """'flip_lr,colour' -> family names in the order given (a kind or 'all' expands in registry
    order), each once. An unknown name raises TaskError listing the choices."""
    out = []
    for word in (w.strip() for w in text.split(",")):
        if word == "all":
            names = family_names()
        elif word in KINDS:
            names = family_names(word)
        elif word in FAMILIES:
            names = [word]
        else:
            what = "empty family name" if not word else f"unknown family {word!r}"
            raise TaskError(f"{what}; choose from 'all', the kinds {', '.join(KINDS)}, "
                            f"or the families {', '.join(FAMILIES)}")
        out += [n for n in names if n not in out]
    return out


# -----------------------------------------------------------------------------
# Tasks


def task_id(family: str, seed: int, index: int, min_side: int, max_side: int) -> str:
    """'synth-flip_lr-s0-3to10-000123'."""
    return f"synth-{family}-s{seed}-{min_side}to{max_side}-{index:06d}"


_ID = re.compile(r"synth-([a-z0-9_]+)-s(\d+)-(\d+)to(\d+)-(\d+)")


def parse_task_id(tid: str) -> dict | None:
    """task_id read back: {'family', 'seed', 'min_side', 'max_side', 'index'}; None for an id
    that is not a synthetic task's."""
    m = _ID.fullmatch(tid)
    if m is None:
        return None
    family, *numbers = m.groups()
    return dict(zip(("family", "seed", "min_side", "max_side", "index"), [family, *map(int, numbers)]))


def _check_sides(min_side: int, max_side: int, families) -> None:
    if not 1 <= min_side <= max_side <= MAX_GRID_SIDE:
        raise TaskError(f"grid sides {min_side}-{max_side}: need 1 <= LO <= HI <= {MAX_GRID_SIDE}")
    small = [n for n in families if FAMILIES[n].min_side > max_side]
    if small:
        raise TaskError(f"grid side cap {max_side} is too small for " + ", ".join(
            f"{n} (needs {FAMILIES[n].min_side})" for n in small))


def make_instance(family: str, index: int, seed: int = 0, max_side: int = MAX_GRID_SIDE,
                  min_side: int = DEFAULT_MIN_SIDE, source: str = "") -> Instance:
    """Task `index` of `family`: a pure function of (family, index, seed, sides). Draws the rule's
    parameters, 2-5 demonstrations and 1-2 test pairs; redraws degenerate or ambiguous ones."""
    if family not in FAMILIES:
        raise TaskError(f"unknown family {family!r}; the families are {', '.join(FAMILIES)}")
    min_side = min(min_side, max_side)
    _check_sides(min_side, max_side, [family])
    if seed < 0 or index < 0:
        raise TaskError(f"seed and index must be >= 0, got seed {seed}, index {index}")
    fam = FAMILIES[family]
    lo, hi = min_side, max_side
    # one stream per (seed, family, index): the same task whatever else is generated
    rng = np.random.default_rng([seed, zlib.crc32(family.encode()), index])
    for _ in range(TASK_ATTEMPTS):
        params = fam.params(rng, lo, hi)
        n_train, n_test = _int(rng, 2, 5), _int(rng, 1, 2)
        pairs, inputs = [], set()
        for _ in range(n_train + n_test):
            for _ in range(PAIR_ATTEMPTS):
                pair = fam.pair(rng, params, lo, hi)
                if pair is None:
                    continue
                i, o = pair
                key = (i.shape, i.tobytes())
                # degenerate: nothing changes, or an input repeats (a test answered by a demonstration)
                if _same(i, o) or key in inputs:
                    continue
                inputs.add(key)
                pairs.append((i, o))
                break
            else:
                break  # these parameters cannot make a pair: draw new ones
        if len(pairs) < n_train + n_test:
            continue
        train, test = pairs[:n_train], pairs[n_train:]
        if fam.ambiguous(train, test, params):
            continue
        task = Task(id=task_id(family, seed, index, lo, hi), train=train, test_inputs=[i for i, _ in test],
                    test_outputs=[o for _, o in test], source=source or f"synth:{family}")
        return Instance(task, family, params)
    raise RuntimeError(f"{family}: no valid task after {TASK_ATTEMPTS} attempts (seed {seed}, index {index}, "
                       f"sides {lo}-{hi}); the family's generator cannot fit these sides")


def make_task(family: str, index: int, seed: int = 0, max_side: int = MAX_GRID_SIDE,
              min_side: int = DEFAULT_MIN_SIDE) -> Task:
    """make_instance(...).task."""
    return make_instance(family, index, seed, max_side, min_side).task


def generate(families, count: int, seed: int = 0, max_side: int = MAX_GRID_SIDE,
             min_side: int = DEFAULT_MIN_SIDE, source: str = "") -> list[Task]:
    """`count` tasks per family (names, kinds or 'all', as a list or a comma-separated string),
    family by family, indices 0..count-1."""
    names = resolve_families(families if isinstance(families, str) else ",".join(families))
    if count < 1:
        raise TaskError(f"count must be >= 1, got {count}")
    _check_sides(min(min_side, max_side), max_side, names)
    return [make_instance(n, i, seed, max_side, min_side, source).task for n in names for i in range(count)]


# -----------------------------------------------------------------------------
# The task spec


@dataclass(frozen=True)
class SynthSpec:
    families: tuple[str, ...]
    count: int  # per family
    seed: int
    min_side: int
    max_side: int


def parse_spec(spec: str) -> SynthSpec:
    """'synth:FAMILIES:COUNT:SEED[:SIDES]' (SPEC_GRAMMAR) -> SynthSpec; TaskError naming the bad field."""
    parts = spec.split(":")
    if parts[0] != "synth" or len(parts) not in (4, 5):
        raise TaskError(f"{spec!r}: expected {SPEC_GRAMMAR}")
    try:
        families = resolve_families(parts[1])
    except TaskError as e:
        raise TaskError(f"{spec!r}: {e}") from None

    def integer(text, field):
        if not re.fullmatch(r"\d+", text.strip()):
            raise TaskError(f"{spec!r}: {field} must be a non-negative integer, got {text!r}; expected {SPEC_GRAMMAR}")
        return int(text)

    count, seed = integer(parts[2], "COUNT"), integer(parts[3], "SEED")
    if count < 1:
        raise TaskError(f"{spec!r}: COUNT must be >= 1, got {count}")
    lo, hi = DEFAULT_MIN_SIDE, MAX_GRID_SIDE
    if len(parts) == 5:
        sides = parts[4].split("-")
        if len(sides) == 1:
            hi = integer(sides[0], "SIDES")
            lo = min(lo, hi)
        elif len(sides) == 2:
            lo, hi = integer(sides[0], "SIDES (LO)"), integer(sides[1], "SIDES (HI)")
        else:
            raise TaskError(f"{spec!r}: SIDES must be 'HI' or 'LO-HI', got {parts[4]!r}")
    try:
        _check_sides(lo, hi, families)
    except TaskError as e:
        raise TaskError(f"{spec!r}: {e}") from None
    return SynthSpec(tuple(families), count, seed, lo, hi)


def load_spec(spec: str) -> list[Task]:
    """The tasks a 'synth:...' spec names (train.taskspec.load_tasks calls this)."""
    s = parse_spec(spec)
    return generate(list(s.families), s.count, s.seed, s.max_side, s.min_side, source=spec)


# -----------------------------------------------------------------------------
# Command line: list, dump, bench


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.synth", description=__doc__.split("\n\n")[0])
    p.add_argument("--list", action="store_true", help="print every family with its kind and rule")
    p.add_argument("--dump", metavar="SPEC", help="write the tasks of SPEC as OUT/challenges.json and OUT/solutions.json")
    p.add_argument("--out", default="runs/synth", help="folder for --dump (default runs/synth)")
    p.add_argument("--bench", metavar="SPEC", help="generate SPEC's tasks and print tasks per second")
    args = p.parse_args(argv)
    if not (args.list or args.dump or args.bench):
        p.error("give --list, --dump SPEC or --bench SPEC")
    if args.list:
        width = max(map(len, FAMILIES))
        for f in FAMILIES.values():
            print(f"{f.name:<{width}}  {f.kind:<8}  {f.rule}")
    try:
        if args.dump:
            tasks = load_spec(args.dump)
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / "challenges.json").write_text(json.dumps(tasks_to_challenges(tasks)))
            (out / "solutions.json").write_text(json.dumps(tasks_to_solutions(tasks)))
            print(f"{len(tasks)} tasks -> {out / 'challenges.json'}, {out / 'solutions.json'}")
        if args.bench:
            # wall and CPU time both: on a shared machine the CPU figure is the one to compare
            spec = parse_spec(args.bench)
            t0, c0 = time.perf_counter(), time.process_time()
            n_tasks = n_grids = 0
            per_family = []
            for name in spec.families:
                c1 = time.process_time()
                tasks = generate([name], spec.count, spec.seed, spec.max_side, spec.min_side)
                per_family.append(f"{name} {len(tasks) / max(time.process_time() - c1, 1e-9):.0f}")
                n_tasks += len(tasks)
                n_grids += sum(len(t.grids()) for t in tasks)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"{args.bench}: {n_tasks} tasks ({n_grids} grids) in {wall:.2f} s wall, {cpu:.2f} s CPU: "
                  f"{n_tasks / wall:.0f} tasks/s wall, {n_tasks / cpu:.0f} tasks/s CPU "
                  f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
            print("tasks/s CPU by family: " + ", ".join(per_family))
    except TaskError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
