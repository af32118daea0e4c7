"""python -m offline_eval.demo: the kit end to end on built-in defaults, on a CPU, in ~17 minutes.

1. Pretrain the cpu-small preset on the small ARC-AGI-1 *training* tasks (grids up to 10x10; their
   test pairs held out and scored, so the run shows a held-out pass@2 as it goes).
2. Simulate the Kaggle rerun on small ARC-AGI-1 *evaluation* tasks the checkpoint never saw, by id
   or by content (`simulate --skip-seen` leaves out any it saw; ARC-AGI-1 evaluation 070dd51e is
   training task 40853293): the entry (`python -m submission`) gets only their challenges, trains
   on their demonstrations (test-time training), predicts, and writes submission.json under a
   wall-clock limit.
3. Validate and score it by the official rules and write an HTML report with every task drawn.

Every setting can be changed: the flags below, or run the three steps yourself (the commands are
printed as they run).
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m offline_eval.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/demo", help="folder for the checkpoint, the simulation and the report")
    p.add_argument("--pretrain-minutes", type=float, default=16.0,
                   help="pretraining cap; the preset's 4500 steps took 9.6-11.7 min on 2 cores")
    p.add_argument("--eval-tasks", type=int, default=20, help="how many small ARC-AGI-1 evaluation tasks to simulate")
    p.add_argument("--max-side", type=int, default=10, help="task size limit (every grid fits N x N)")
    p.add_argument("--time-limit", type=float, default=360, help="wall-clock limit of the simulated Kaggle run, seconds")
    args = p.parse_args()
    out = Path(args.out)
    t0 = time.time()
    steps = [
        ("pretraining", [sys.executable, "-m", "train", "--preset", "cpu-small", "--out", str(out / "pretrain"),
                         "--max-minutes", str(args.pretrain_minutes), "--max-side", str(args.max_side)]),
        ("Kaggle rerun simulation", [sys.executable, "-m", "offline_eval", "simulate", "--checkpoint",
                                     str(out / "pretrain"), "--data", "arc1/eval", "--max-side", str(args.max_side),
                                     # the first N that the checkpoint never saw, by id or by content
                                     "--skip-seen", "--first", str(args.eval_tasks), "--time-limit", str(args.time_limit),
                                     "--out", str(out / "simulate"),
                                     "--title", "Demo: cpu-small on unseen small ARC-AGI-1 evaluation tasks"]),
    ]
    for i, (what, cmd) in enumerate(steps, 1):
        print(f"\n=== [{i}/{len(steps)}] {what}: {' '.join(cmd[1:])}", flush=True)
        code = subprocess.call(cmd)
        if code != 0:
            print(f"error: {what} failed (exit code {code})", file=sys.stderr)
            return code
    print(f"\n=== done in {(time.time() - t0) / 60:.1f} min. Report: {(out / 'simulate' / 'report.html').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
