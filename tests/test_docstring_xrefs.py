"""Docstring cross-references (``:func:``/``:class:``/``:mod:``/``:meth:``/``:data:``/``:exc:`` targets
written as ``medsr_bench.*``, as a repository-folder name ``models.x`` / ``benchmark.x`` /
``data_prep.x``, or relative ``.x``) resolve to importable names (issue 24)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import import_layers as L  # noqa: E402

ROLE = re.compile(r":(?:func|class|mod|meth|data|exc|attr):`~?([A-Za-z_.][\w.]*)`")
FOLDERS = {"models": "medsr_bench.models", "benchmark": "medsr_bench.benchmark",
           "data_prep": "medsr_bench.data_prep", "cli": "medsr_bench.cli", "perf": "medsr_bench.perf"}


def _absolute(target: str, module: str, is_pkg: bool) -> str | None:
    if target.startswith("."):
        base = module.split(".") if is_pkg else module.split(".")[:-1]
        return ".".join(base) + target
    head = target.split(".")[0]
    if head == "medsr_bench":
        return target
    if head in FOLDERS and "." in target:
        return FOLDERS[head] + target[len(head):]
    return None  # a bare name (same module) or another library: not checked here


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_docstring_cross_references_resolve():
    bad = []
    for folder in L.PACKAGE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            module = L.module_name(path)
            for m in ROLE.finditer(path.read_text()):
                dotted = _absolute(m.group(1), module, path.name == "__init__.py")
                if dotted and not _resolves(dotted):
                    line = path.read_text().count("\n", 0, m.start()) + 1
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {m.group(0)} -> {dotted}")
    assert not bad, "unresolved docstring references:\n" + "\n".join(bad)
