"""The layering contract (scripts/import_layers.py): cli -> perf -> benchmark -> {models, data_prep}
-> core, checked over the AST of the repository, and shown to fail on a planted upward import."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("import_layers", ROOT / "scripts/import_layers.py")
L = importlib.util.module_from_spec(_spec)
sys.modules["import_layers"] = L
_spec.loader.exec_module(L)


def test_repository_keeps_the_layering():
    bad = [(i.file, i.line, i.target, v) for i in L.scan()
           if (v := L.violation(i)) and (i.importer, i.target) not in L.PENDING]
    assert bad == []


def test_pending_exceptions_still_exist():
    found = {(i.importer, i.target) for i in L.scan() if L.violation(i)}
    assert L.PENDING <= found, "a pending exception was removed: drop it from PENDING"


def test_planted_upward_import_fails():
    src = "from medsr_bench.benchmark.suites import get_suite\n"
    (imp,) = L.scan_source(src, "data_prep/x.py", "medsr_bench.data_prep.x")
    assert L.violation(imp) == "layer data_prep may not import layer benchmark"
    (imp,) = L.scan_source("import medsr_bench.cli\n", "models/x.py", "medsr_bench.models.x")
    assert L.violation(imp) is not None
    src = "def f():\n    from medsr_bench.perf import engine\n"
    (imp,) = L.scan_source(src, "benchmark/x.py", "medsr_bench.benchmark.x")
    assert not imp.module_level and L.violation(imp) is not None


def test_downward_and_same_layer_imports_pass():
    src = "from medsr_bench.core import atomic_write\nfrom medsr_bench.models import zoo\n"
    imps = L.scan_source(src, "benchmark/x.py", "medsr_bench.benchmark.x")
    assert [L.violation(i) for i in imps] == [None, None]
    (imp,) = L.scan_source("from . import zoo\n", "models/x.py", "medsr_bench.models.x")
    assert imp.target.startswith("medsr_bench.models") and L.violation(imp) is None


def test_registry_never_imports_train():
    (imp,) = L.scan_source("from medsr_bench.models.train import trained\n",
                           "models/registry.py", "medsr_bench.models.registry")
    assert "must not import" in L.violation(imp)
