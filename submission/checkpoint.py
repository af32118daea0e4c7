"""Self-describing checkpoints: safetensors weights + a JSON meta; nothing is ever unpickled.

A checkpoint is a folder:
  meta.json             model config, preset and arguments, data spec, step, metrics, puzzle map,
                        content record of every task trained on (train/taskspec.py)
  model.safetensors     raw weights (without the puzzle table)
  ema.safetensors       EMA weights (what evaluation and the Kaggle entry use), when trained with EMA
  puzzles.safetensors   puzzle table (num_puzzles, D) + augmentation records per puzzle id
  optimizer.safetensors optimizer and trainer state (only in resumable "last" checkpoints)
  train_state.json      RNG and sampler state (JSON part of the resumable state)

A Kaggle export (python -m train.export) is the folder test-time training needs and no more:
  meta.json             the source's meta + "export" (where from, which weights, what TTT tensors)
  model.safetensors     the EMA weights (with the buffers)
  ttt.safetensors       what TTT needs of the puzzle table, by name: the mean pretrained row
load_for_ttt reads either kind without ever holding the pretrained table (it streams the table's
mean from a full checkpoint); load_model reads full checkpoints only.

The safetensors format is written and read here directly (8-byte header length, JSON header,
raw little-endian tensors), so the Kaggle entry needs no extra package. Each tensor is read straight
into its own buffer (one copy on the host).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import torch

from .model import TRM, TRMConfig

_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
           torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
           torch.uint8: "U8", torch.bool: "BOOL"}
_FROM = {v: k for k, v in _DTYPES.items()}


def save_file(tensors: dict, path, metadata: dict | None = None):
    """Write {name: tensor or ndarray} as a .safetensors file (atomically: write, then rename)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if isinstance(t, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(t))
        t = t.detach().to("cpu").contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)  # keep tensors 8-byte aligned
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_header(path) -> tuple[dict, int]:
    """The JSON header of a .safetensors file and the offset its data starts at. Only the header is
    read: a table of gigabytes can be described (or streamed, see row_mean) without loading it."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path}: not a safetensors file (too short)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise ValueError(f"{path}: not a safetensors file (header length {n} beyond the file)")
        header = json.loads(f.read(n))
    base = 8 + n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info.get("dtype") not in _FROM:
            raise ValueError(f"{path}: tensor {name!r}: unsupported dtype {info.get('dtype')!r}")
        a, b = info["data_offsets"]
        # The span must lie inside the file and hold exactly shape x dtype bytes (a short or lying
        # header must not read as truncated data or zeros).
        want = math.prod(info["shape"]) * torch.empty((), dtype=_FROM[info["dtype"]]).element_size()
        if not (0 <= a <= b <= size - base) or b - a != want:
            raise ValueError(f"{path}: tensor {name!r}: data_offsets {[a, b]} do not hold {want} bytes "
                             f"of {info['dtype']} {info['shape']} inside the file")
    return header, base


def _read_into(f, t: torch.Tensor, offset: int):
    """Fill tensor t (contiguous, on the CPU) with the raw bytes at `offset` of the open file f."""
    if t.numel() == 0:
        return
    f.seek(offset)
    view = memoryview(t.view(-1).view(torch.uint8).numpy())
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            raise ValueError(f"{f.name}: file ends inside a tensor")
        got += n


def load_file(path, device="cpu", names=None) -> dict:
    """Read a .safetensors file into {name: tensor} (only `names` when given). Only raw numbers are
    read: safe on untrusted files. Each tensor is read straight into its own buffer, so the host holds
    one copy of the data (not the file, a slice and a clone: three copies of a 2 GB table)."""
    header, base = read_header(path)
    out = {}
    with open(path, "rb") as f:
        for name, info in header.items():
            if name == "__metadata__" or (names is not None and name not in names):
                continue
            t = torch.empty(info["shape"], dtype=_FROM[info["dtype"]])
            _read_into(f, t, base + info["data_offsets"][0])
            out[name] = t.to(device)
    return out


def row_mean(path, name: str, first_row: int = 0, chunk_rows: int = 65536) -> torch.Tensor:
    """Mean of rows first_row.. of a 2-D tensor in a .safetensors file, as (1, D) float32, streamed
    in chunks (accumulated in float64): the puzzle table's mean row without holding the table."""
    header, base = read_header(path)
    if name not in header:
        raise KeyError(f"{path}: no tensor {name!r}")
    info = header[name]
    dt = _FROM[info["dtype"]]
    N, D = info["shape"]
    if N <= first_row:
        return torch.zeros(1, D)
    row_bytes = D * torch.empty((), dtype=dt).element_size()
    total = torch.zeros(D, dtype=torch.float64)
    buf = torch.empty(min(chunk_rows, N - first_row), D, dtype=dt)
    with open(path, "rb") as f:
        for lo in range(first_row, N, chunk_rows):
            rows = buf[:min(chunk_rows, N - lo)]
            _read_into(f, rows, base + info["data_offsets"][0] + lo * row_bytes)
            total += rows.double().sum(0)
    return (total / (N - first_row)).float()[None]


def write_json(obj, path):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def model_tensors(model: TRM) -> dict:
    """Model weights without the puzzle table (which lives in puzzles.safetensors)."""
    return {k: v for k, v in model.state_dict().items() if k != "puzzle_emb"}


def _aside(out_dir: Path, what: str) -> Path:
    """The hidden sibling folders of a save in progress: '.last.saving' (the new checkpoint being
    written) and '.last.old' (the previous one, moved aside while the new one is renamed in)."""
    return out_dir.parent / f".{out_dir.name}.{what}"


def save_checkpoint(out_dir, model: TRM, meta: dict, ema: dict | None = None,
                    puzzle_records: dict | None = None, optimizer_state: dict | None = None,
                    train_state: dict | None = None):
    """Write a checkpoint folder. meta must hold at least the model config (added here).

    The new checkpoint is written whole into the sibling '.NAME.saving', then swapped in by rename
    (the old folder renamed to '.NAME.old', the new one renamed to NAME, the old one removed). A kill
    at any moment leaves NAME holding the old checkpoint or the new one, complete, never a mix; only
    between the two renames is NAME absent, and then resolve_checkpoint reads '.NAME.old'."""
    out_dir = Path(out_dir)
    saving, old = _aside(out_dir, "saving"), _aside(out_dir, "old")
    if saving.exists():
        shutil.rmtree(saving)  # left by a save that was killed
    saving.mkdir(parents=True)
    save_file(model_tensors(model), saving / "model.safetensors")
    if ema is not None:
        save_file(ema, saving / "ema.safetensors")
    puzzles = {"puzzle_emb": model.puzzle_emb}
    puzzles.update(puzzle_records or {})
    save_file(puzzles, saving / "puzzles.safetensors")
    if optimizer_state is not None:
        save_file(optimizer_state, saving / "optimizer.safetensors")
    if train_state is not None:
        write_json(train_state, saving / "train_state.json")
    meta = dict(meta)
    meta["model_config"] = model.cfg.to_dict()
    meta["format"] = FORMAT
    write_json(meta, saving / "meta.json")  # last: a folder with meta.json is complete
    # Swap: old aside, new in, old removed.
    if out_dir.exists():
        if old.exists():
            shutil.rmtree(old)
        os.rename(out_dir, old)
    os.rename(saving, out_dir)
    if old.exists():
        shutil.rmtree(old)


# /1: puzzle rows entered the model unscaled; /2 scales them by sqrt(D) like the token embeddings
# (as the reference does). A /1 table divided by sqrt(D) gives the same model under /2.
FORMAT = "trm-arc-kit/2"


def upgrade_puzzle_table(meta: dict, table: torch.Tensor) -> torch.Tensor:
    """The puzzle table of a checkpoint written with `meta`, in this kit's format."""
    fmt = meta.get("format")
    if fmt == "trm-arc-kit/1":
        return table / math.sqrt(meta["model_config"]["hidden_size"])
    if fmt != FORMAT:
        raise ValueError(f"checkpoint format {fmt!r} is not one this kit reads ({FORMAT!r} or 'trm-arc-kit/1')")
    return table


def is_checkpoint(path) -> bool:
    """A complete checkpoint folder; a save in progress ('.NAME.saving') never counts."""
    p = Path(path)
    if p.name.startswith(".") and p.name.endswith(".saving"):
        return False
    return (p / "meta.json").is_file() and (p / "model.safetensors").is_file()


def _settled(p: Path) -> Path | None:
    """p when it is a checkpoint; when p is absent because a save was killed between its two
    renames, the previous checkpoint moved aside to '.NAME.old'; else None."""
    if is_checkpoint(p):
        return p
    if not p.exists() and is_checkpoint(_aside(p, "old")):
        return _aside(p, "old")
    return None


def resolve_checkpoint(path) -> Path:
    """A run folder (with best/ or last/) or a checkpoint folder -> the checkpoint folder to load."""
    p = Path(path)
    for candidate in (p, p / "best", p / "last"):
        found = _settled(candidate)
        if found is not None:
            return found
    raise FileNotFoundError(f"{path}: no checkpoint (expected meta.json + model.safetensors here or in best/ or last/)")


def load_meta(path) -> dict:
    with open(Path(path) / "meta.json") as f:
        return json.load(f)


def is_export(meta: dict) -> bool:
    """A Kaggle export (python -m train.export): EMA weights + meta + what test-time training needs
    of the puzzle table (ttt.safetensors), not the table itself."""
    return "export" in meta


def load_model(path, device="cpu", use_ema: bool = True) -> tuple[TRM, dict, dict]:
    """Rebuild the model from weights + meta alone. Returns (model, meta, puzzle records)."""
    ckpt = resolve_checkpoint(path)
    meta = load_meta(ckpt)
    if is_export(meta):
        raise ValueError(f"{ckpt} is a Kaggle export: it holds the puzzle table's mean row, not the table, so it "
                         "can only start test-time training (load_for_ttt); use the full checkpoint it came from "
                         f"({meta['export'].get('from', '?')}) to predict pretraining puzzles")
    cfg = TRMConfig.from_dict(meta["model_config"])
    puzzles = load_file(ckpt / "puzzles.safetensors")
    cfg.num_puzzles = int(puzzles["puzzle_emb"].shape[0])
    model = TRM(cfg)
    weights = load_file(ckpt / "model.safetensors")
    if use_ema and (ckpt / "ema.safetensors").is_file():
        # The EMA holds parameters only; buffers (y_init, z_init) come from model.safetensors.
        weights.update(load_file(ckpt / "ema.safetensors"))
    weights["puzzle_emb"] = upgrade_puzzle_table(meta, puzzles.pop("puzzle_emb"))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(f"{ckpt}: weights do not match the config (missing {missing}, unexpected {unexpected})")
    return model.to(device), meta, puzzles


# What test-time training needs of a checkpoint besides its weights, by name: the file a Kaggle export
# carries (python -m train.export) and the names in it. New puzzle ids start at the mean pretrained
# row; a future initialisation (a demonstration encoder, say) adds its tensors here.
TTT_FILE = "ttt.safetensors"
ENCODER_FILE = "encoder.safetensors"  # a full checkpoint's demonstration encoder (train/encoder.py)
TTT_MEAN_ROW = "puzzle_emb.mean"  # (1, D) mean of the pretrained rows 1.. (row 0 is the blank id)


def ttt_tensors_of_full_checkpoint(ckpt, meta: dict) -> dict:
    """TTT_FILE's tensors computed from a full checkpoint: the table is streamed, never held."""
    mean = row_mean(Path(ckpt) / "puzzles.safetensors", "puzzle_emb", first_row=1)
    out = {TTT_MEAN_ROW: upgrade_puzzle_table(meta, mean)}
    if (Path(ckpt) / ENCODER_FILE).is_file():  # the demonstration encoder (train/encoder.py), when fitted
        out.update({"encoder." + k: v for k, v in load_file(Path(ckpt) / ENCODER_FILE).items()})
    return out


def load_for_ttt(path, device="cpu") -> tuple[TRM, dict, dict]:
    """The model for test-time training, from a full checkpoint or a Kaggle export: (model, meta,
    ttt tensors). The model's puzzle table is the blank row alone, (1, D): TTT appends its own rows
    (from ttt[TTT_MEAN_ROW]) and never uses the pretrained ones, so the pretrained table (1.2M x 512
    floats, 2.4 GB, for the paper's ARC-AGI-2 run) is never loaded; the weights are the EMA ones."""
    ckpt = resolve_checkpoint(path)
    meta = load_meta(ckpt)
    cfg = TRMConfig.from_dict(meta["model_config"])
    cfg.num_puzzles = 1
    weights = load_file(ckpt / "model.safetensors")
    if is_export(meta):
        ttt = load_file(ckpt / TTT_FILE)
    else:
        if (ckpt / "ema.safetensors").is_file():
            weights.update(load_file(ckpt / "ema.safetensors"))  # parameters; buffers from model.safetensors
        ttt = ttt_tensors_of_full_checkpoint(ckpt, meta)
    if TTT_MEAN_ROW not in ttt:
        raise ValueError(f"{ckpt}: {TTT_FILE} lacks {TTT_MEAN_ROW!r} (has {sorted(ttt)})")
    model = TRM(cfg)
    weights["puzzle_emb"] = torch.zeros(1, cfg.hidden_size)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(f"{ckpt}: weights do not match the config (missing {missing}, unexpected {unexpected})")
    return model.to(device), meta, {k: v.to(device) for k, v in ttt.items()}
