"""Layering contract of medsr_bench, checked over the AST (no import runs).

Layers, top to bottom: ``cli -> perf -> benchmark -> {models, data_prep} -> core``. A module may
import its own layer and any layer below it; ``models`` and ``data_prep`` are siblings and may not
import each other's upward neighbour (``benchmark``) nor each other... except where
``ALLOWED_SIDEWAYS`` says so. ``models.registry`` must never import ``models.train`` (train
registers itself through a hook).

Usage::

    python scripts/import_layers.py            # violations (exit 1 if any) and the module-level share
    python scripts/import_layers.py --list     # also every cross-layer import inside a function

The share is of *cross-layer* import statements (importer and imported in different layers, both
``medsr_bench.*``) that sit at module level (including ``if TYPE_CHECKING:`` and ``try:`` blocks at
module level) rather than inside a function or method.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# repository folder -> installed package (pyproject's [tool.setuptools.package-dir])
PACKAGE_DIRS = {
    "medsr_bench": "medsr_bench",
    "cli": "medsr_bench.cli",
    "perf": "medsr_bench.perf",
    "benchmark": "medsr_bench.benchmark",
    "models": "medsr_bench.models",
    "data_prep": "medsr_bench.data_prep",
}
# rank: a module may import modules of rank <= its own (same-rank siblings only if listed)
RANK = {"cli": 4, "perf": 3, "benchmark": 2, "models": 1, "data_prep": 1, "core": 0}
ALLOWED_SIDEWAYS = {("models", "data_prep")}  # models.train reads prepared sets
FORBIDDEN = [("medsr_bench.models.registry", "medsr_bench.models.train")]
# Known violations not yet removed, listed so the contract gates every *new* one; the test fails
# too when one of these disappears (drop it here). Empty: models.train registers through a hook.
PENDING: set[tuple[str, str]] = set()


def layer_of(module: str) -> str | None:
    """Layer name of a dotted ``medsr_bench.*`` module name (``None`` outside the package)."""
    parts = module.split(".")
    if parts[0] != "medsr_bench":
        return None
    if len(parts) == 1 or parts[1] in ("core", "compat", "__main__"):
        return "core" if len(parts) == 1 or parts[1] != "__main__" else "cli"
    return parts[1] if parts[1] in RANK else "core"


def module_name(path: Path, root: Path = ROOT) -> str:
    """Dotted installed name of a repository file (``benchmark/x.py`` -> ``medsr_bench.benchmark.x``)."""
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    pkg = PACKAGE_DIRS[parts[0]]
    rest = parts[1:]
    if rest and rest[-1] == "__init__":
        rest = rest[:-1]
    return ".".join([pkg, *rest])


@dataclass(frozen=True)
class Import:
    """One import statement naming a ``medsr_bench`` module."""

    file: str
    line: int
    importer: str
    target: str
    module_level: bool


def _targets(node: ast.AST, importer: str, is_pkg: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = importer.split(".") if is_pkg else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        mod = ".".join(base + ([node.module] if node.module else []))
    else:
        mod = node.module or ""
    if mod == "medsr_bench":  # from medsr_bench import core
        return [f"medsr_bench.{a.name}" for a in node.names]
    return [mod]


def scan_source(source: str, file: str, importer: str, is_pkg: bool = False) -> list[Import]:
    """Every ``medsr_bench`` import of one module's source, marked module-level or not."""
    tree = ast.parse(source, filename=file)
    out: list[Import] = []

    def visit(node: ast.AST, in_func: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for t in _targets(child, importer, is_pkg):
                    if t.split(".")[0] == "medsr_bench":
                        out.append(Import(file, child.lineno, importer, t, not in_func))
            visit(child, in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                         ast.Lambda)))

    visit(tree, False)
    return out


def scan(root: Path = ROOT) -> list[Import]:
    """All ``medsr_bench`` imports of every package folder under ``root``."""
    out: list[Import] = []
    for folder in PACKAGE_DIRS:
        for path in sorted((root / folder).rglob("*.py")):
            name = module_name(path, root)
            out += scan_source(path.read_text(), str(path.relative_to(root)), name,
                               path.name == "__init__.py")
    return out


def violation(imp: Import) -> str | None:
    """Why ``imp`` breaks the contract, or ``None``."""
    for a, b in FORBIDDEN:
        if (imp.importer == a or imp.importer.startswith(a + ".")) and (
                imp.target == b or imp.target.startswith(b + ".")):
            return f"{a} must not import {b}"
    src, dst = layer_of(imp.importer), layer_of(imp.target)
    if src is None or dst is None or src == dst:
        return None
    if RANK[dst] < RANK[src] or (src, dst) in ALLOWED_SIDEWAYS:
        return None
    return f"layer {src} may not import layer {dst}"


def cross_layer(imports: list[Import]) -> list[Import]:
    """Imports whose importer and target sit in different layers."""
    return [i for i in imports if layer_of(i.importer) != layer_of(i.target)]


def main(argv: list[str]) -> int:
    imports = scan()
    bad = [(i, v) for i in imports
           if (v := violation(i)) and (i.importer, i.target) not in PENDING]
    for i, v in bad:
        print(f"error: {i.file}:{i.line}: imports {i.target}: {v}")
    cross = cross_layer(imports)
    top = sum(i.module_level for i in cross)
    share = top / len(cross) if cross else 1.0
    print(f"cross-layer import statements: {len(cross)}, at module level: {top} ({share:.1%})")
    if "--list" in argv:
        for i in cross:
            if not i.module_level:
                print(f"  in function: {i.file}:{i.line}: {i.target}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
