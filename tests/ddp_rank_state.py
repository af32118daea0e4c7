"""Run `python -m train` in this process, then write this rank's final state for a test to compare.

    torchrun --nproc_per_node 2 tests/ddp_rank_state.py OUT_DIR [train flags ...]

After the trainer returns, this rank's weights (model.*: parameters, buffers and the puzzle table)
and EMA (ema.*) go to OUT_DIR/rank<RANK>.safetensors. The test then compares the ranks itself,
instead of trusting the trainer's own end-of-run check. (Not a test module: pytest does not collect it.)
"""
import os
import runpy
import sys

out_dir = sys.argv[1]
sys.argv = ["train", *sys.argv[2:]]
g = runpy.run_module("train", run_name="__main__", alter_sys=True)  # the trainer's globals once it is done

from submission.checkpoint import save_file  # noqa: E402

tensors = {f"model.{k}": v for k, v in g["raw"].state_dict().items()}
tensors.update({f"ema.{k}": v for k, v in (g["ema"] or {}).items()})
save_file(tensors, os.path.join(out_dir, f"rank{os.environ.get('RANK', '0')}.safetensors"))
