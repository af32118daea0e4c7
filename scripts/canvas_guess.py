"""How often inference's canvas guess cannot hold the answer, and what the guess costs.

    python scripts/canvas_guess.py [SPEC ...]      # default: arc1/eval arc2/eval

For every test output of the tasks (their answers, read here only to count): the canvas side the
trainer's evaluation and the Kaggle entry predict it on (submission/data.py inference_side, for a
model whose canvas is 30 and not fixed), how many test inputs get the full canvas, how many answers
cannot fit the guess (those can never be produced), and the inference FLOPs of one supervision step
of the paper's model over all the test inputs, relative to putting every one on the full canvas.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from submission.data import inference_side  # noqa: E402
from submission.model import TRMConfig  # noqa: E402
from submission.predict import forward_step_flops  # noqa: E402
from submission.tasks import load_tasks  # noqa: E402
from train.presets import PRESETS  # noqa: E402

paper = PRESETS["paper-arc1"]
cfg = TRMConfig(**{k: paper[k] for k in TRMConfig.__dataclass_fields__ if k in paper})
for spec in sys.argv[1:] or ["arc1/eval", "arc2/eval"]:
    n = full = unfit = 0
    flops = flops_full = 0.0
    for t in load_tasks(spec):
        for x, y in zip(t.test_inputs, t.test_outputs):
            s = inference_side(t.train, x, cfg.canvas_side)
            n += 1
            full += s == cfg.canvas_side
            unfit += max(y.shape) > s
            flops += forward_step_flops(cfg, 1, s)
            flops_full += forward_step_flops(cfg, 1, cfg.canvas_side)
    print(f"{spec}: {n} test outputs; {full} on the full canvas; {unfit} cannot fit the guessed canvas; "
          f"inference FLOPs {flops / flops_full:.3f} of the full canvas for all")
