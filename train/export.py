"""python -m train.export --run DIR --out DIR: a Kaggle checkpoint from a training run, megabytes not gigabytes.

The Kaggle entry fine-tunes on hidden tasks whose puzzle ids are new: it never reads a pretrained
puzzle row, only their mean (where the new rows start). A full checkpoint carries the whole table
(for the paper's ARC-AGI-2 run ~1.2M ids x 512 floats, 2.4 GB) that every worker would read; the
export carries only what test-time training needs:

  meta.json          the source's meta (model config, training arguments, data spec) + "export"
  model.safetensors  the weights test-time training starts from: the EMA parameters (when the run
                     kept an EMA) with the model's buffers
  ttt.safetensors    what TTT needs of the table, by name (checkpoint.TTT_FILE): today the mean
                     pretrained row "puzzle_emb.mean" (1, D), and the demonstration encoder's
                     weights ("encoder.*") when the run fitted one (--row-init auto uses them)

The table is streamed to compute its mean (checkpoint.row_mean), so exporting a 2 GB table needs no
2 GB of memory. `python -m submission` loads either kind (checkpoint.load_for_ttt); an export cannot
predict pretraining puzzles (load_model refuses it with a message).

    python -m train.export --run runs/arc2 --out kaggle/trm-checkpoint       # best/, else last/
    kaggle datasets init -p kaggle/trm-checkpoint      # writes dataset-metadata.json: set its title and id
    kaggle datasets create -p kaggle/trm-checkpoint    # then attach the dataset to the notebook
"""
import argparse
import os
import shutil
import sys
from pathlib import Path

from submission.checkpoint import (FORMAT, TTT_FILE, is_export, load_file, load_meta, read_header,
                                   resolve_checkpoint, save_file, ttt_tensors_of_full_checkpoint, write_json)


def folder_bytes(path) -> int:
    return sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file())


def export(ckpt, out) -> dict:
    """Write the Kaggle export of checkpoint folder `ckpt` to folder `out` (replaced when it exists;
    written beside it first, so a failure leaves no half folder). Returns the export's meta."""
    ckpt, out = Path(ckpt), Path(out)
    meta = load_meta(ckpt)
    if is_export(meta):
        raise ValueError(f"{ckpt} is already a Kaggle export")
    rows = read_header(ckpt / "puzzles.safetensors")[0]["puzzle_emb"]["shape"][0]

    # Weights: the EMA parameters over the raw ones (the buffers y_init, z_init come from the raw file).
    weights = load_file(ckpt / "model.safetensors")
    has_ema = (ckpt / "ema.safetensors").is_file()
    if has_ema:
        weights.update(load_file(ckpt / "ema.safetensors"))
    ttt = ttt_tensors_of_full_checkpoint(ckpt, meta)

    meta = dict(meta)
    meta["format"] = FORMAT  # a /1 table's mean is converted by ttt_tensors_of_full_checkpoint
    meta["export"] = {"from": str(ckpt.resolve()), "tool": "python -m train.export",
                      "weights": "ema" if has_ema else "raw (the run kept no EMA)",
                      "pretrained_puzzle_rows": int(rows),
                      "ttt_tensors": {name: list(t.shape) for name, t in ttt.items()}}
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file(weights, tmp / "model.safetensors")
    save_file(ttt, tmp / TTT_FILE)
    write_json(meta, tmp / "meta.json")  # last: a folder with meta.json is complete
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return meta


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.export", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--run", required=True, help="run folder (its best/, else last/) or a checkpoint folder")
    p.add_argument("--out", required=True, help="folder to write (replaced if it exists): upload it as the Kaggle dataset")
    args = p.parse_args(argv)
    try:
        ckpt = resolve_checkpoint(args.run)
        meta = export(ckpt, args.out)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    before, after = folder_bytes(ckpt), folder_bytes(args.out)
    print(f"[export] {ckpt} ({before / 1e6:.1f} MB, {meta['export']['pretrained_puzzle_rows']} puzzle rows) -> "
          f"{args.out} ({after / 1e6:.2f} MB: {meta['export']['weights']} weights + the mean puzzle row)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
