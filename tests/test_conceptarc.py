"""The 'conceptarc' task spec: ConceptARC from a copy the user has (the kit keeps none).

Independent references: a fake copy laid out like github.com/victorvikram/ConceptARC (corpus/ with
concept groups, MinimalTasks/ beside it), and, when a real copy sits at ../shared/data/ConceptARC,
the published size of its corpus: 16 concept groups of 10 tasks, 3 test inputs each.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from submission.tasks import TaskError, load_tasks
from train.presets import PRESETS

REPO = Path(__file__).resolve().parents[1]
REAL_COPY = REPO.parent / "shared/data/ConceptARC"


def write_task(path: Path, colour: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    pair = {"input": [[colour]], "output": [[colour, colour]]}
    path.write_text(json.dumps({"train": [pair, pair], "test": [pair]}))


@pytest.fixture
def fake_copy(tmp_path):
    root = tmp_path / "ConceptARC"
    write_task(root / "corpus/Copy/Copy1.json", 1)
    write_task(root / "corpus/Copy/Copy2.json", 2)
    write_task(root / "corpus/Center/Center1.json", 3)
    write_task(root / "MinimalTasks/CopyMinimal.json", 4)
    return root


def test_missing_copy_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("TRM_CONCEPTARC", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./data/ConceptARC here
    with pytest.raises(TaskError, match="github.com/victorvikram/ConceptARC") as e:
        load_tasks("conceptarc")
    assert "TRM_CONCEPTARC" in str(e.value) and "MIT" in str(e.value)
    monkeypatch.setenv("TRM_CONCEPTARC", str(tmp_path / "nowhere"))
    with pytest.raises(TaskError, match="not a directory"):
        load_tasks("conceptarc")


def test_reads_the_corpus_from_the_env_var_or_the_default_path(fake_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("TRM_CONCEPTARC", str(fake_copy))
    tasks = load_tasks("conceptarc")
    # The repository root: only corpus/ (the paper's 160 tasks), not MinimalTasks/.
    assert [t.id for t in tasks] == ["Center1", "Copy1", "Copy2"]
    assert tasks[1].test_outputs[0].tolist() == [[1, 1]]
    # The corpus folder itself works too.
    monkeypatch.setenv("TRM_CONCEPTARC", str(fake_copy / "corpus"))
    assert [t.id for t in load_tasks("conceptarc")] == ["Center1", "Copy1", "Copy2"]
    # Without the variable: ./data/ConceptARC.
    monkeypatch.delenv("TRM_CONCEPTARC")
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    os.symlink(fake_copy, work / "data/ConceptARC")
    monkeypatch.chdir(work)
    assert len(load_tasks("conceptarc")) == 3


@pytest.mark.skipif(not REAL_COPY.is_dir(), reason=f"no ConceptARC copy at {REAL_COPY}")
def test_real_copy_is_the_papers_160_tasks(monkeypatch):
    monkeypatch.setenv("TRM_CONCEPTARC", str(REAL_COPY))
    tasks = load_tasks("conceptarc")
    assert len(tasks) == 160
    groups = {}
    for t in tasks:
        groups.setdefault(t.id.rstrip("0123456789"), []).append(t)
    assert len(groups) == 16 and all(len(v) == 10 for v in groups.values())
    assert all(len(t.test_inputs) == 3 and t.test_outputs is not None for t in tasks)


def test_paper_presets_train_on_conceptarc(tmp_path):
    for name, arc in (("paper-arc1", "arc1"), ("paper-arc2", "arc2")):
        assert PRESETS[name]["data"] == [f"{arc}/train", "conceptarc"]
        assert PRESETS[name]["eval_data"] == [f"{arc}/eval"]
    # Without a copy the trainer stops at once and says where to get it.
    env = {**os.environ, "TRM_CONCEPTARC": str(tmp_path / "nowhere"), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "train", "--preset", "paper-arc1", "--out", str(tmp_path / "run"),
                        "--no-progress"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "victorvikram/ConceptARC" in r.stderr + r.stdout


def test_paper_presets_hold_the_reference_recipe():
    """The paper presets' values, written out here from the reference's configs (docs/reference.md:
    config/cfg_pretrain.yaml, config/arch/trm.yaml, the README's ARC commands), not read from the
    preset module: a change to the preset fails here."""
    reference = dict(hidden_size=512, num_heads=8, num_layers=2, H_cycles=3, L_cycles=4, halt_max_steps=16,
                     halt_exploration_prob=0.1, puzzle_emb_len=16, canvas_side=30, mixer="attention",
                     global_batch_size=768, lr=1e-4, puzzle_lr=1e-2, weight_decay=0.1, puzzle_weight_decay=0.1,
                     warmup_steps=2000, lr_min_ratio=1.0, grad_clip=0.0, ema=0.999, num_aug=1001, eval_views=1001,
                     edge_features=0,
                     # dataset/build_arc_dataset.py: colour 0 is never permuted; every example of an
                     # augmented puzzle but one is translated once, at build time; the cell where the
                     # EOS row and column would meet stays PAD.
                     keep_black=True, translate_mode="fixed", eos_corner=False)
    # Kit choices the README lists under "What differs": 2-D rotary over buckets of canvas sides.
    kit = dict(pos_encoding="rope2d", max_buckets=8)
    for name, translate in (("paper-arc1", 0.76), ("paper-arc2", 0.77)):
        got = {k: PRESETS[name][k] for k in reference}
        assert got == reference, name
        assert {k: PRESETS[name][k] for k in kit} == kit, name
        assert PRESETS[name]["translate_prob"] == translate
        # SwiGLU inner size: round(4 D 2/3) rounded up to a multiple of 256 -> 1536 at D 512
        assert PRESETS[name]["mlp_inner"] == -(-round(4 * 512 * 2 / 3) // 256) * 256 == 1536
        # 10 evaluations in the run (eval_interval 10000 of 100000 epochs)
        assert PRESETS[name]["steps"] // PRESETS[name]["eval_every"] == 10


@pytest.mark.skipif(not REAL_COPY.is_dir(), reason=f"no ConceptARC copy at {REAL_COPY}")
def test_readme_puzzle_table_size_is_the_paper_arc2_presets(monkeypatch):
    """The README's size of the paper-arc2 puzzle table, recomputed from the preset as the trainer builds
    it: its data (arc2/train and ConceptARC trained on entirely, arc2/eval held out; 1000 + 160 + 120
    tasks, the sets' published sizes), num_aug versions of each task (1001: the original and 1000
    augmentations; fewer where colours or symmetries allow fewer distinct ones), the blank id, one row of
    hidden_size of the table's dtype per id. A change to the preset or the builder fails here."""
    import re
    import torch
    from submission.data import build_puzzle_set
    from submission.model import TRM, TRMConfig
    from train.taskspec import content_record, load_tasks as load_any, record_index
    monkeypatch.setenv("TRM_CONCEPTARC", str(REAL_COPY))
    preset = PRESETS["paper-arc2"]
    train = [t for spec in preset["data"] for t in load_any(spec)]
    held = [t for spec in preset["eval_data"] for t in load_any(spec)]
    assert (len(train), len(held)) == (1000 + 160, 120) and preset["num_aug"] == 1001
    index = record_index(content_record(train, [])["trained"])  # the trainer leaves out held-out copies
    held = [t for t in held if not index.match(t)]
    ids = build_puzzle_set(train, held, preset["num_aug"], seed=0, keep_black=preset["keep_black"]).num_puzzles
    assert 1 + 1280 * 8 < ids <= 1 + 1280 * 1001
    row = TRM(TRMConfig(num_puzzles=1, hidden_size=preset["hidden_size"])).puzzle_emb
    assert row.dtype == torch.float32
    gb = ids * preset["hidden_size"] * row.element_size() / 1e9
    readme = (REPO / "README.md").read_text()
    m = re.search(r"\(([\d,]+) ids x (\d+) floats for the paper's ARC-AGI-2\s+run[^)]*: ([\d.]+) GB\)", readme)
    assert m, "the README's puzzle-table sentence moved"
    assert (int(m[1].replace(",", "")), int(m[2]), float(m[3])) == (ids, preset["hidden_size"], round(gb, 1))
