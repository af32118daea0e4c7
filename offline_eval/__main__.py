"""python -m offline_eval <command> ...

Commands:
  score SUBMISSION SOLUTIONS [--json]   score a submission (per-task score, per-output, pass@1)
  validate SUBMISSION CHALLENGES        check a submission against Kaggle's format rules
  simulate                              (placeholder, wired later)
  report                                (placeholder, wired later)

Each command lives in a module as two plain functions, `add_<name>_args(parser)` and
`run_<name>(args) -> exit code`; COMMANDS below lists them. To add a command, write those two
functions in its module and add one row here.
"""

import argparse
import sys

from offline_eval import scoring

# -----------------------------------------------------------------------------
# Placeholders for commands the lead wires later. Replace a row in COMMANDS with the real
# module's functions, e.g. ("report", "...", report.add_report_args, report.run_report).


def add_placeholder_args(parser):
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="(not wired yet)")


def run_placeholder(args) -> int:
    print(f"error: `{args.command}` is not wired yet", file=sys.stderr)
    return 2


# -----------------------------------------------------------------------------
# The command table: (name, help, add_args, run)

COMMANDS = [
    ("score", "score a submission against solutions", scoring.add_score_args, scoring.run_score),
    ("validate", "check a submission against Kaggle's format rules",
     scoring.add_validate_args, scoring.run_validate),
    # --- to be wired by the lead ---
    ("simulate", "(not wired yet) run the submission pipeline offline", add_placeholder_args, run_placeholder),
    ("report", "(not wired yet) write an HTML report with grids and plots", add_placeholder_args, run_placeholder),
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
