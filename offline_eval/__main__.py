"""python -m offline_eval <command> ...

Commands:
  score SUBMISSION SOLUTIONS [--json]   score a submission (per-task score, per-output, pass@1)
  validate SUBMISSION CHALLENGES        check a submission against Kaggle's format rules
  simulate --checkpoint DIR --data SPEC  the Kaggle rerun on this machine, scored, with a report
  report SUBMISSION DATA                 score an existing submission and draw it
  baselines --data SPEC                  what a score must beat: rules that barely read the task
  transfer --data SPEC                   paper protocol (U's demos in pretraining) against Kaggle's (TTT on U)
  loopcurve RUN [RUN ...]                held-out pass@2 against inference (and training) supervision steps
  headline RUN [RUN ...]                 simulate runs of several seeds pooled: mean, spread, interval over tasks

Each command lives in a module as two plain functions, `add_<name>_args(parser)` and
`run_<name>(args) -> exit code`; COMMANDS below lists them. To add a command, write those two
functions in its module and add one row here.
"""

import argparse
import sys

from offline_eval import baselines, headline, loopcurve, scoring, simulate, transfer

# -----------------------------------------------------------------------------
# The command table: (name, help, add_args, run)

COMMANDS = [
    ("score", "score a submission against solutions", scoring.add_score_args, scoring.run_score),
    ("validate", "check a submission against Kaggle's format rules",
     scoring.add_validate_args, scoring.run_validate),
    ("simulate", "the Kaggle rerun on this machine: run the entry on hidden-like tasks, validate, score, report",
     simulate.add_simulate_args, simulate.run_simulate),
    ("report", "score an existing submission and write an HTML report with grids",
     simulate.add_report_args, simulate.run_report),
    ("baselines", "score trivial rules (identity, demonstration outputs, a fitting dihedral, colour map, both, "
     "upscale or tile) on a task set",
     baselines.add_baselines_args, baselines.run_baselines),
    ("transfer", "paper protocol (U's demonstrations in pretraining) against the Kaggle protocol (pretrain "
     "without U, then test-time training on U), same tasks, machine and seeds",
     transfer.add_transfer_args, transfer.run_transfer),
    ("loopcurve", "the refinement-loop curve: held-out pass@2 of runs against inference supervision steps (and "
     "training ones, across runs), as a markdown table and an SVG plot",
     loopcurve.add_loopcurve_args, loopcurve.run_loopcurve),
    ("headline", "simulate runs of the same tasks (seeds) pooled: each run, the mean, the spread over runs, a "
     "95% interval over tasks, all beside the best rule",
     headline.add_headline_args, headline.run_headline),
]

# -----------------------------------------------------------------------------
# Parse and dispatch


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m offline_eval", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, help_text, add_args, run in COMMANDS:
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        add_args(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
