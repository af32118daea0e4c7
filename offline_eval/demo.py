"""python -m offline_eval.demo: the kit end to end on built-in defaults, on a CPU, in about 23 minutes.

1. Pretrain the cpu-small preset on the small ARC-AGI-1 *training* tasks (grids up to 10x10; their
   test pairs held out and scored, so the run shows a held-out pass@2 as it goes).
2. Simulate the Kaggle rerun on the test half of the small ARC-AGI-1 *evaluation* tasks
   (arc1/eval:test, train/splits.py: 41 tasks no default was chosen on, none of them seen by the
   checkpoint by id or by content; `simulate --skip-seen` would leave out any it saw): the entry (`python -m submission`) gets only their challenges, trains on their
   demonstrations (test-time training), predicts, and writes submission.json under a wall-clock limit.
3. Validate and score it by the official rules, beside the rule baselines on the same tasks, and
   write an HTML report with every task drawn.

Time: pretraining ~10 minutes on 2 cores (capped at --pretrain-minutes), then the simulation's limit,
--seconds-per-task times the tasks (18 s x 41 = 12.3 minutes). The last line is the headline: the kit's margin over the best rule on the tasks scored. Every setting
can be changed: the flags below, or run the steps yourself (the commands are printed as they run).
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

EVAL_SPEC = "arc1/eval:test"


def headline(summary_path: Path) -> str:
    """The margin of the simulation's base run over the best rule, from its summary.json."""
    row = json.loads(Path(summary_path).read_text())[0]
    ratio = f"{row['ratio']:.2f}x the rule" if row["ratio"] is not None else "the rule scores 0"
    return (f"pass@2 {row['score']:.3f} on {row['n_tasks']} unseen tasks ({EVAL_SPEC}); the best rule, {row['best_rule']}, "
            f"{row['best_rule_score']:.3f}: margin {row['margin']:+.3f} ({ratio}); solved by the kit only "
            f"{len(row['model_only'])}, by a rule only {len(row['rule_only'])}, by both {len(row['both'])}")


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m offline_eval.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/demo", help="folder for the checkpoint, the simulation and the report")
    p.add_argument("--pretrain-minutes", type=float, default=16.0,
                   help="pretraining cap; the preset's 4500 steps took 9.6-11.7 min on 2 cores")
    p.add_argument("--eval-tasks", type=int, default=None,
                   help=f"simulate only the first N tasks of {EVAL_SPEC} (default: all of them, 41 at --max-side 10)")
    p.add_argument("--max-side", type=int, default=10, help="task size limit (every grid fits N x N)")
    p.add_argument("--seconds-per-task", type=float, default=18.0,
                   help="wall-clock limit of the simulated Kaggle run, per task simulated (the demo gave 360 s "
                        "to 20 tasks until 2026-12)")
    args = p.parse_args()
    out = Path(args.out)
    t0 = time.time()
    from submission.tasks import TaskError, select_tasks
    from train.taskspec import load_tasks
    try:
        n_tasks = len(select_tasks(load_tasks(EVAL_SPEC), max_side=args.max_side, first=args.eval_tasks))
    except TaskError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    time_limit = args.seconds_per_task * n_tasks
    selection = ["--max-side", str(args.max_side)] + (["--first", str(args.eval_tasks)] if args.eval_tasks else [])
    steps = [
        ("pretraining", [sys.executable, "-m", "train", "--preset", "cpu-small", "--out", str(out / "pretrain"),
                         "--max-minutes", str(args.pretrain_minutes), "--max-side", str(args.max_side)]),
        (f"Kaggle rerun simulation ({n_tasks} tasks, {time_limit:.0f} s)",
         [sys.executable, "-m", "offline_eval", "simulate", "--checkpoint", str(out / "pretrain"), "--data", EVAL_SPEC,
          "--skip-seen", *selection, "--time-limit", str(time_limit), "--out", str(out / "simulate"),
          "--title", "Demo: cpu-small on unseen small ARC-AGI-1 evaluation tasks (the test half)"]),
    ]
    for i, (what, cmd) in enumerate(steps, 1):
        print(f"\n=== [{i}/{len(steps)}] {what}: {' '.join(cmd[1:])}", flush=True)
        code = subprocess.call(cmd)
        if code != 0:
            print(f"error: {what} failed (exit code {code})", file=sys.stderr)
            return code
    print(f"\n=== done in {(time.time() - t0) / 60:.1f} min. Report: {(out / 'simulate' / 'report.html').resolve()}")
    print(f"=== {headline(out / 'simulate' / 'summary.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
