"""Do a GPU and the CPU give the same predictions from one checkpoint? Prints (and writes) JSON.

    python scripts/gpu_vs_cpu.py --checkpoint runs/x [--device cuda] [--json out.json]

The checkpoint is loaded on the CPU and on --device (default: cuda when there is one), both in
float32 with TF32 off and no autocast. Without a GPU there is nothing to compare (the CPU against
itself cannot differ): the script says so, writes {"ok": null, "skipped": reason} and exits 0
without comparing. Otherwise:
  1. logits: the same augmented views (synthetic grids, random puzzle ids, dihedrals and colour
     permutations; encoded with the plain-numpy encode_grid) go through every supervision step on
     both devices, carrying y and z; max |logit difference| and max |halt-logit difference| over
     all steps must stay under --tol;
  2. predictions: submission.inference.run_views (halt "all", the entry's own batching and numba
     encoding) on both devices; the token predictions and the grids decoded back to the original
     frame must be equal. A differing token where the two best logits are within --tol of each
     other (a near tie that float rounding may flip) is counted apart and does not fail the check.
Exit status 0 when both hold (or when skipped), 1 otherwise.
"""
import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for `submission`

from submission.augment import Aug  # noqa: E402
from submission.checkpoint import load_model, resolve_checkpoint  # noqa: E402
from submission.encoding import encode_grid, needed_side  # noqa: E402
from submission.inference import decode_views, make_viewset, run_views  # noqa: E402


def float32_everywhere():
    """Full float32 matmuls on the GPU (the kit's compute_init turns TF32 on for training)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


def synthetic_views(n_grids: int, views_per_grid: int, canvas_side: int, num_puzzles: int, seed: int):
    """Random grids that fit the canvas (with the EOS row/column), each under views_per_grid
    random (puzzle id, dihedral, colour permutation) views. Returns (grids, sides, views)."""
    rng = np.random.default_rng(seed)
    grids, sides, views = [], [], []
    for _ in range(n_grids):
        h, w = rng.integers(1, canvas_side, 2)  # up to canvas_side - 1
        g = rng.integers(0, 10, (h, w)).astype(np.uint8)
        grids.append(g)
        sides.append(needed_side(h, w, canvas_side))
        views.append([(int(rng.integers(0, num_puzzles)), int(rng.integers(0, 8)),
                       rng.permutation(10).astype(np.uint8)) for _ in range(views_per_grid)])
    return grids, sides, views


@torch.no_grad()
def step_logits(model, grids, sides, views, device) -> list:
    """Per canvas side: (logits per step [(V, S*S, 12)], halt logits per step [(V,)]) on the CPU."""
    out = []
    for side in sorted(set(sides)):
        toks, pids = [], []
        for g, s, vv in zip(grids, sides, views):
            if s != side:
                continue
            for pid, d, col in vv:
                toks.append(encode_grid(Aug(d, tuple(int(c) for c in col)).apply(g), side, corner=model.cfg.eos_corner).ravel())
                pids.append(pid)
        tokens = torch.from_numpy(np.stack(toks)).long().to(device)  # (V, S*S)
        rows = model.puzzle_emb[torch.tensor(pids, device=device)]  # (V, D)
        y, z = model.initial_state(len(toks), model.cfg.puzzle_emb_len + side * side, device)
        logits, halts = [], []
        for _ in range(model.cfg.halt_max_steps):
            o = model(tokens, rows, y, z)
            y, z = o["y"], o["z"]
            logits.append(o["logits"].float().cpu())
            halts.append(o["halt_logit"].float().cpu())
        out.append((side, logits, halts))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="checkpoint folder or run folder")
    p.add_argument("--device", default="auto", help="auto (cuda if present, else cpu) | cpu | cuda | cuda:N")
    p.add_argument("--grids", type=int, default=6, help="synthetic test grids")
    p.add_argument("--views", type=int, default=8, help="views per grid")
    p.add_argument("--tol", type=float, default=1e-3, help="largest allowed |logit difference|")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args(argv)

    t0 = time.time()
    float32_everywhere()
    other = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                         ("cpu" if args.device == "auto" else args.device))
    if other.type == "cuda" and not torch.cuda.is_available():
        print(f"error: --device {args.device} but CUDA is not available", file=sys.stderr)
        return 2
    if other.type == "cpu":
        # The CPU against itself cannot disagree: a pass here would claim a check that never ran.
        reason = ("no GPU on this machine" if args.device == "auto" else f"--device {args.device}") + \
            ": nothing to compare the CPU with, so no comparison was made"
        print(f"[gpu_vs_cpu] skipped: {reason}", file=sys.stderr)
        res = {"ok": None, "skipped": reason, "torch": torch.__version__}
        print(json.dumps(res, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
        return 0
    ckpt = resolve_checkpoint(args.checkpoint)
    devices = [torch.device("cpu"), other]
    models = [load_model(ckpt, d)[0].eval() for d in devices]
    cfg = models[0].cfg
    names = ["cpu", f"{other} ({torch.cuda.get_device_name(other)})"]

    grids, sides, views = synthetic_views(args.grids, args.views, cfg.canvas_side, cfg.num_puzzles, args.seed)

    # 1. logits of every supervision step
    a, b = (step_logits(m, grids, sides, views, d) for m, d in zip(models, devices))
    logit_diff = max(float((la - lb).abs().max()) for (_, las, _), (_, lbs, _) in zip(a, b) for la, lb in zip(las, lbs))
    halt_diff = max(float((ha - hb).abs().max()) for (_, _, has), (_, _, hbs) in zip(a, b) for ha, hb in zip(has, hbs))
    per_step = [max(float((las[k] - lbs[k]).abs().max()) for (_, las, _), (_, lbs, _) in zip(a, b))
                for k in range(cfg.halt_max_steps)]

    # 2. predictions through the entry's inference path
    vs = make_viewset(grids, sides, views)
    runs = [run_views(m, vs, d, contextlib.nullcontext(), batch_size=64, halt="all", return_logprobs=True)
            for m, d in zip(models, devices)]
    mismatched = near_ties = 0
    for v in range(len(vs.item)):
        pa, pb = runs[0]["pred"][v], runs[1]["pred"][v]
        for t in np.flatnonzero(pa != pb):
            top2 = np.sort(runs[0]["logprobs"][v][t].astype(np.float32))[-2:]
            if top2[1] - top2[0] <= args.tol:
                near_ties += 1
            else:
                mismatched += 1
    ga, gb = decode_views(vs, runs[0]["pred"]), decode_views(vs, runs[1]["pred"])
    same_grid = sum((x is None and y is None) or (x is not None and y is not None and np.array_equal(x, y))
                    for x, y in zip(ga, gb))
    lp_diff = max(float(np.abs(x.astype(np.float32) - y.astype(np.float32)).max())
                  for x, y in zip(runs[0]["logprobs"], runs[1]["logprobs"]))

    ok = logit_diff < args.tol and halt_diff < args.tol and mismatched == 0 and \
        (same_grid == len(ga) or near_ties > 0)
    res = {"ok": ok, "compared": f"{names[0]} vs {names[1]}", "checkpoint": str(ckpt),
           "torch": torch.__version__, "dtype": "float32, TF32 off, no autocast", "tol": args.tol,
           "canvas_side": cfg.canvas_side, "hidden_size": cfg.hidden_size, "halt_max_steps": cfg.halt_max_steps,
           "grids": args.grids, "views": len(vs.item), "sides": sorted(set(int(s) for s in sides)),
           "logits_max_abs_diff": logit_diff, "halt_logit_max_abs_diff": halt_diff,
           "logits_max_abs_diff_per_step": per_step, "logprobs_fp16_max_abs_diff": lp_diff,
           "tokens_mismatched": mismatched, "tokens_mismatched_near_ties": near_ties,
           "decoded_grids_equal": f"{same_grid}/{len(ga)}", "wall_s": round(time.time() - t0, 2)}
    text = json.dumps(res, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
