"""python -m offline_eval.demo: the Kaggle protocol end to end on built-in defaults, on a CPU, in minutes.

1. Take the kit's own CPU checkpoint, checkpoints/cpu-demo (trained by `python -m train --preset
   cpu-demo`, then exported; its meta.json says on what: ARC-AGI-2 training tasks and generated
   tasks, with every task that ARC-AGI-1 evaluation holds by id or content left out), or retrain it
   from scratch first with --pretrain.
2. Simulate the Kaggle rerun on the test half of the small ARC-AGI-1 *evaluation* tasks
   (arc1/eval:test, train/splits.py: 41 tasks nothing was chosen on, none of them seen by the
   checkpoint by id or by content; `simulate --skip-seen` would leave out any it saw): the entry
   (`python -m submission`) gets only their challenges, trains on their demonstrations (test-time
   training), predicts, and writes submission.json under a wall-clock limit.
3. Validate and score it by the official rules, beside the rule baselines on the same tasks, and
   write an HTML report with every task drawn.

Time: the simulation's limit, --seconds-per-task times the tasks (18 s x 41 = 12.3 minutes); with
--pretrain the preset's pretraining first (docs/benchmarks.md gives its time). The last line is the
headline: the kit's margin over the best rule on the tasks scored. Every setting can be changed: the
flags below, or run the steps yourself (the commands are printed as they run).
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

EVAL_SPEC = "arc1/eval:test"
REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints" / "cpu-demo"  # python -m train --preset cpu-demo, then python -m train.export
PRESET = "cpu-demo"


def headline(summary_path: Path) -> str:
    """The margin of the simulation's base run over the best rule, from its summary.json."""
    row = json.loads(Path(summary_path).read_text())[0]
    ratio = f"{row['ratio']:.2f}x the rule" if row["ratio"] is not None else "the rule scores 0"
    return (f"pass@2 {row['score']:.3f} on {row['n_tasks']} unseen tasks ({EVAL_SPEC}); the best rule, {row['best_rule']}, "
            f"{row['best_rule_score']:.3f}: margin {row['margin']:+.3f} ({ratio}); solved by the kit only "
            f"{len(row['model_only'])}, by a rule only {len(row['rule_only'])}, by both {len(row['both'])}")


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m offline_eval.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/demo", help="folder for the simulation and the report (and the retrained checkpoint)")
    p.add_argument("--checkpoint", default=str(SHIPPED),
                   help="checkpoint to simulate with (default: the kit's own, checkpoints/cpu-demo)")
    p.add_argument("--pretrain", action="store_true",
                   help=f"first retrain the checkpoint from scratch (python -m train --preset {PRESET}, then "
                        "python -m train.export) into OUT/pretrain and OUT/checkpoint, and simulate with that")
    p.add_argument("--eval-tasks", type=int, default=None,
                   help=f"simulate only the first N tasks of {EVAL_SPEC} (default: all of them, 41 at --max-side 10)")
    p.add_argument("--max-side", type=int, default=10, help="task size limit (every grid fits N x N)")
    p.add_argument("--seconds-per-task", type=float, default=18.0,
                   help="wall-clock limit of the simulated Kaggle run, per task simulated (the demo gave 360 s "
                        "to 20 tasks until 2026-12)")
    p.add_argument("--seed", type=int, default=0, help="the entry's seed (test-time training and augmentation draws)")
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
    checkpoint = Path(args.checkpoint)
    steps = []
    if args.pretrain:
        checkpoint = out / "checkpoint"
        steps += [("pretraining", [sys.executable, "-m", "train", "--preset", PRESET, "--out", str(out / "pretrain")]),
                  ("export", [sys.executable, "-m", "train.export", "--run", str(out / "pretrain"), "--out", str(checkpoint)])]
    else:
        from submission.checkpoint import resolve_checkpoint
        try:
            resolve_checkpoint(checkpoint)  # a checkpoint folder, or a training run with best/ or last/
        except FileNotFoundError as e:
            print(f"error: {e}; pass --checkpoint DIR or --pretrain", file=sys.stderr)
            return 2
    time_limit = args.seconds_per_task * n_tasks
    selection = ["--max-side", str(args.max_side)] + (["--first", str(args.eval_tasks)] if args.eval_tasks else [])
    steps.append((f"Kaggle rerun simulation ({n_tasks} tasks, {time_limit:.0f} s)",
                  [sys.executable, "-m", "offline_eval", "simulate", "--checkpoint", str(checkpoint), "--data", EVAL_SPEC,
                   "--skip-seen", *selection, "--time-limit", str(time_limit), "--entry-args", f"--seed {args.seed}",
                   "--out", str(out / "simulate"),
                   "--title", f"Demo: {checkpoint.name} on unseen small ARC-AGI-1 evaluation tasks (the test half)"]))
    for i, (what, cmd) in enumerate(steps, 1):
        print(f"\n=== [{i}/{len(steps)}] {what}: {' '.join(cmd[1:])}", flush=True)
        code = subprocess.call(cmd)
        if code != 0:
            print(f"error: {what} failed (exit code {code})", file=sys.stderr)
            return code
    print(f"\n=== done in {(time.time() - t0) / 60:.1f} min. Report: {(out / 'simulate' / 'report.html').resolve()}")
    print(f"=== {headline(out / 'simulate' / 'summary.json')}")
    print(f"=== one seed ({args.seed}); with {n_tasks} tasks one task is {1 / n_tasks:.3f}. A headline pools 3 seeds: rerun with --seed 1 "
          f"--out {out}-s1 and --seed 2 --out {out}-s2, then python -m offline_eval headline {out}/simulate "
          f"{out}-s1/simulate {out}-s2/simulate (mean, spread over seeds, interval over tasks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
