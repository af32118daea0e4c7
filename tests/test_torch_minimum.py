"""The torch minimum declared in pyproject.toml is the one the code needs.

A small table of torch APIs with the first release that has them (each from torch's release notes
or the pull request that added it) is matched against the kit's code (comments and strings left
out, so a docstring that names an API does not count). The test fails when the code uses an API
newer than the declared minimum, and when the declared minimum is higher than anything in the
table needs (then either it is lowered, or the API that needs it joins the table).
"""
import io
import re
import tokenize
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("submission", "train", "offline_eval", "scripts")  # what the kit runs (tests use the dev env)

# (pattern over the code, first torch release with it, where that is recorded, a probe of the installed torch)
APIS = [
    (r"\bF\.rms_norm\b|\bfunctional\.rms_norm\b|\bnn\.RMSNorm\b", (2, 4),
     "nn.RMSNorm / F.rms_norm, new in 2.4 (release notes)", lambda: hasattr(torch.nn.functional, "rms_norm")),
    (r"\btorch\.OutOfMemoryError\b", (2, 5),
     "the device-generic OutOfMemoryError, new in 2.5 (before: torch.cuda.OutOfMemoryError, 1.13)",
     lambda: hasattr(torch, "OutOfMemoryError")),
    (r"\btorch\.get_autocast_dtype\b", (2, 4), "device-type autocast queries (pytorch#125103), 2.4",
     lambda: hasattr(torch, "get_autocast_dtype")),
    (r"\btorch\.is_autocast_enabled\(\s*[^)\s]", (2, 4), "is_autocast_enabled(device_type) (pytorch#125103), 2.4",
     lambda: torch.is_autocast_enabled("cpu") in (True, False)),
    (r"\brecompile_limit\b", (2, 7), "dynamo's cache_size_limit renamed recompile_limit (pytorch#143709), 2.7",
     lambda: hasattr(torch._dynamo.config, "recompile_limit")),
    (r"\btorch\.amp\.GradScaler\b", (2, 3), "the device-generic torch.amp.GradScaler, 2.3",
     lambda: hasattr(torch.amp, "GradScaler")),
    (r"\benable_gqa\s*=", (2, 5), "scaled_dot_product_attention(enable_gqa=...), 2.5", lambda: True),
    (r"\bset_stance\b", (2, 6), "torch.compiler.set_stance, 2.6", lambda: hasattr(torch.compiler, "set_stance")),
    (r"\btorch\.compile\(", (2, 0), "torch.compile, 2.0", lambda: hasattr(torch, "compile")),
]


def declared_minimum(pyproject: str) -> tuple:
    m = re.search(r'"torch\s*>=\s*(\d+)\.(\d+)', pyproject)
    assert m, "pyproject.toml: no torch>=X.Y in the dependencies"
    return int(m.group(1)), int(m.group(2))


def code_only(source: str) -> str:
    """The source with every comment and string blanked (same line numbers)."""
    lines = source.splitlines(keepends=True)
    blank = [list(line) for line in lines]
    drop = {tokenize.COMMENT, tokenize.STRING} | {getattr(tokenize, n) for n in ("FSTRING_MIDDLE",) if hasattr(tokenize, n)}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in drop:
            continue
        (r0, c0), (r1, c1) = tok.start, tok.end
        for r in range(r0, r1 + 1):
            row = blank[r - 1]
            lo, hi = (c0 if r == r0 else 0), (c1 if r == r1 else len(row))
            for c in range(lo, hi):
                if row[c] != "\n":
                    row[c] = " "
    return "".join("".join(row) for row in blank)


def uses(pattern: str) -> list[str]:
    """'path:line' of every use of the pattern in the kit's code."""
    found = []
    for d in CODE_DIRS:
        for path in sorted((ROOT / d).rglob("*.py")):
            for i, line in enumerate(code_only(path.read_text(encoding="utf-8")).splitlines(), 1):
                if re.search(pattern, line):
                    found.append(f"{path.relative_to(ROOT)}:{i}")
    return found


def test_the_scanner_sees_code_and_skips_comments_and_strings():
    text = code_only('x = F.rms_norm(h)  # torch.OutOfMemoryError\ns = "torch.OutOfMemoryError"\n"""\ntorch.compile(\n"""\n')
    assert re.search(APIS[0][0], text)
    assert not re.search(APIS[1][0], text) and not re.search(r"torch\.compile\(", text)
    assert uses(APIS[0][0]), "F.rms_norm is in submission/model.py: the scan found nothing"


def test_the_table_names_apis_this_torch_has():
    for pattern, _, note, probe in APIS:
        assert probe(), f"{note}: not in the installed torch {torch.__version__}; the table has a typo?"


def test_declared_torch_minimum_is_what_the_code_needs():
    declared = declared_minimum((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    needed, why = (0, 0), "nothing"
    for pattern, version, note, _ in APIS:
        where = uses(pattern)
        if not where:
            continue
        assert version <= declared, (
            f"{', '.join(where[:3])}: uses {note}, newer than the declared torch>={declared[0]}.{declared[1]} "
            f"(pyproject.toml): raise the minimum to {version[0]}.{version[1]} or do without the API")
        if version > needed:
            needed, why = version, f"{note} ({where[0]})"
    assert declared == needed, (
        f"pyproject.toml declares torch>={declared[0]}.{declared[1]} but the newest API in the table the code uses "
        f"needs {needed[0]}.{needed[1]}: {why}; lower the minimum, or add the API that needs more to this table")
