"""Fit the demonstration encoder (submission/encoder.py) to a pretrained puzzle table.

    python -m train.encoder --run runs/small                    # best/ and last/ of a run
    python -m train --preset cpu-small --encoder-steps 600      # the same, at the end of pretraining

Each pretrained puzzle id (a task under one augmentation) is a training example: its task's
training pairs under its augmentation in, the row pretraining learned for it out. The loss is the
mean squared error over the rows' spread (1 - R^2). A tenth of the tasks (all their augmentations)
is held out and reported: how well the encoder guesses the row of a task it never saw is what
matters on Kaggle, next to the mean row (today's start) as the baseline. The encoder is written
into the checkpoint folder (encoder.safetensors + meta["encoder"]); `python -m train.export` carries
it, and `python -m submission` uses it (`--row-init auto`, the default; `encoder` insists on it).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from submission.checkpoint import ENCODER_FILE, load_file, load_meta, resolve_checkpoint, save_file, upgrade_puzzle_table, write_json
from submission.encoder import DemoEncoder, EncoderConfig, pair_groups
from submission.engine import lr_at



def fit_encoder(table: torch.Tensor, ps, canvas_side: int, ecfg: EncoderConfig, steps: int, batch: int = 64,
                lr: float = 2e-3, seed: int = 0, device="cpu", log=print) -> tuple[DemoEncoder, dict]:
    """Fit an encoder to `table` (num_puzzles, D) rows of PuzzleSet `ps`'s puzzle ids. Returns the
    encoder and its figures: R^2 and cosine to the true rows on held-out tasks, for it and for the
    mean row."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    table = table.detach().float().to(device)
    n_tasks = len(ps.task_ids)
    held = set(rng.permutation(n_tasks)[: max(1, n_tasks // 10)].tolist()) if n_tasks >= 10 else set()

    def ids_of(tasks):
        return np.concatenate([np.arange(ps.task_base[t], ps.task_base[t] + ps.task_count[t]) for t in tasks]) \
            if tasks else np.zeros(0, np.int64)
    train_ids = ids_of([t for t in range(n_tasks) if t not in held])
    held_ids = ids_of(sorted(held))
    mean = table[torch.from_numpy(train_ids).to(device)].mean(0, keepdim=True)  # (1, D)
    spread = table[torch.from_numpy(train_ids).to(device)].var(0).mean()  # per-coordinate variance, averaged

    enc = DemoEncoder(ecfg).to(device)
    with torch.no_grad():
        enc.head.bias.copy_(mean[0])  # start at the mean row: the encoder learns the deviation
    opt = torch.optim.AdamW(enc.parameters(), lr=lr, weight_decay=0.01)
    t0, last = time.time(), time.time()
    for step in range(steps):
        ids = rng.choice(train_ids, size=min(batch, len(train_ids)), replace=False)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, lr, max(1, steps // 20), steps, 0.1)
        pred = enc(pair_groups(ps, ids, canvas_side, device), len(ids))
        loss = ((pred - table[torch.from_numpy(ids).to(device)]) ** 2).mean() / spread
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if time.time() - last > 30 or step == steps - 1:
            log(f"[encoder] step {step + 1}/{steps}: train 1 - R^2 {loss.item():.3f} ({time.time() - t0:.0f}s)")
            last = time.time()
    stats = {"steps": steps, "train_ids": int(len(train_ids)), "held_out_tasks": len(held),
             "held_out_ids": int(len(held_ids)), "seconds": round(time.time() - t0, 1)}
    if len(held_ids):
        stats.update(evaluate(enc, table, ps, held_ids, canvas_side, mean, spread, device))
        log(f"[encoder] held-out tasks ({len(held)}): R^2 {stats['r2']:.3f} (mean row {stats['r2_mean_row']:.3f}), "
            f"cosine to the true row {stats['cos']:.3f} (mean row {stats['cos_mean_row']:.3f})")
    return enc, stats


@torch.no_grad()
def evaluate(enc, table, ps, ids, canvas_side, mean, spread, device) -> dict:
    from submission.encoder import predict_rows
    true = table[torch.from_numpy(ids).to(device)]
    pred = predict_rows(enc, ps, ids, canvas_side, device)
    cos = torch.nn.functional.cosine_similarity
    return {"r2": round(float(1 - ((pred - true) ** 2).mean() / spread), 4),
            "r2_mean_row": round(float(1 - ((mean - true) ** 2).mean() / spread), 4),
            "cos": round(float(cos(pred, true, dim=1).mean()), 4),
            "cos_mean_row": round(float(cos(mean.expand_as(true), true, dim=1).mean()), 4)}


def save_encoder(folder, enc: DemoEncoder, stats: dict):
    """encoder.safetensors into a checkpoint folder, then its meta.json gains "encoder" (config and
    figures); each file is replaced atomically."""
    folder = Path(folder)
    save_file({k: v for k, v in enc.state_dict().items()}, folder / ENCODER_FILE)
    meta = load_meta(folder)
    meta["encoder"] = {"config": enc.ecfg.to_dict(), "fit": stats}
    write_json(meta, folder / "meta.json")


def rebuild_puzzle_set(ckpt: Path, meta: dict):
    """The PuzzleSet a run trained on, from its meta (data specs, puzzle map) and its saved
    augmentation records; the tasks are reloaded from their specs (train.taskspec.tasks_of_meta)."""
    from submission.data import build_puzzle_set
    from train.taskspec import tasks_of_meta
    pm = meta["puzzle_map"]
    try:
        train, held = tasks_of_meta(meta)
    except ValueError as e:
        raise ValueError(f"{ckpt}: {e}") from None
    ps = build_puzzle_set(train, held, 1, keep_black=pm.get("keep_black", True))
    if ps.task_ids != pm["task_ids"]:
        raise ValueError(f"{ckpt}: the task order differs from the checkpoint's puzzle map")
    rec = load_file(ckpt / "puzzles.safetensors")
    ps.task_base = np.asarray(pm["task_base"], np.int64)
    ps.task_count = np.asarray(pm["task_count"], np.int64)
    ps.dihedrals, ps.colours = rec["dihedrals"].numpy(), rec["colours"].numpy()
    return ps, upgrade_puzzle_table(meta, rec["puzzle_emb"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.encoder", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run folder (best/ and last/) or one checkpoint folder")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch", type=int, default=64, help="puzzle ids per step")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    run = Path(args.run)
    folders = [f for f in (run / "best", run / "last") if (f / "meta.json").is_file()] or [resolve_checkpoint(run)]
    if len(folders) == 2 and all((f / "puzzles.safetensors").is_file() for f in folders) and \
            (folders[0] / "puzzles.safetensors").read_bytes() == (folders[1] / "puzzles.safetensors").read_bytes():
        same = folders[1]  # best/ is last/ (nothing held out): fit once, write it to both
        folders = folders[:1]
    else:
        same = None
    for ckpt in folders:
        meta = load_meta(ckpt)
        try:
            ps, table = rebuild_puzzle_set(ckpt, meta)
        except (ValueError, KeyError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        mc = meta["model_config"]
        ecfg = EncoderConfig(hidden_size=args.hidden_size, num_layers=args.num_layers, out_size=mc["hidden_size"],
                             canvas_side=mc["canvas_side"])
        print(f"[encoder] {ckpt}: {len(ps.task_ids)} tasks, {ps.num_puzzles - 1} puzzle ids")
        enc, stats = fit_encoder(table, ps, mc["canvas_side"], ecfg, args.steps, args.batch, args.lr, args.seed)
        save_encoder(ckpt, enc, stats)
        print(f"[encoder] written to {ckpt / ENCODER_FILE}")
        if same is not None:
            save_encoder(same, enc, stats)
            print(f"[encoder] {same} holds the same table: the same encoder written to {same / ENCODER_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
