"""The Kaggle entry stands alone: nothing under submission/ imports train/ or offline_eval/, not even
lazily inside a function (the notebook carries submission/ only, and a circle through train/ would
tie the two together). Every file is parsed, every import statement and every import by name
(importlib.import_module, __import__) read, wherever it sits."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KIT_ONLY = ("train", "offline_eval")  # the kit's packages the Kaggle entry must not reach


def imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import in the tree: statements at any depth, and calls of
    importlib.import_module / __import__ with a literal name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def test_imported_names_reads_every_form():
    # Hand-written: a top-level import, one inside a function, and the two by-name forms.
    src = ("import os\n"
           "def f():\n"
           "    from train.synth import load_spec\n"
           "    import importlib\n"
           "    importlib.import_module('offline_eval.scoring')\n"
           "    __import__('train')\n"
           "from .tasks import Task\n")
    assert imported_names(ast.parse(src)) == [(1, "os"), (3, "train.synth"), (4, "importlib"),
                                              (5, "offline_eval.scoring"), (6, "train")]


def test_submission_imports_nothing_of_train_or_offline_eval():
    files = sorted((ROOT / "submission").rglob("*.py"))
    assert len(files) > 10  # the package is there
    bad = [f"{f.relative_to(ROOT)}:{line}: imports {name}"
           for f in files for line, name in imported_names(ast.parse(f.read_text(encoding="utf-8")))
           if name.split(".")[0] in KIT_ONLY]
    assert not bad, "the Kaggle entry must not import the kit's tools:\n" + "\n".join(bad)
