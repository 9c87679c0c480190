"""medsr-bench: reproducibility benchmark harness for medical-image super-resolution.

The installed layout is one namespace: ``medsr_bench.data_prep`` (protocols), ``medsr_bench.models``
(SR models), ``medsr_bench.benchmark`` (runner, metrics, report, the Python API) and
``medsr_bench.cli`` (the ``bench`` command) on top of the foundation ``medsr_bench.core`` and the
torchvision/basicsr shim ``medsr_bench.compat``. In the repository the layers keep their own
top-level folders, mapped into this package by setuptools' ``package-dir``.

The Python entry point, :mod:`medsr_bench.benchmark.api`, is reachable from here:
``medsr_bench.evaluate(...)``, ``medsr_bench.sweep(...)``, ``medsr_bench.check(...)`` (loaded on
first use, so ``import medsr_bench`` stays cheap).
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

#: the public names of the Python API, loaded lazily from medsr_bench.benchmark.api
_API = ("evaluate", "sweep", "check", "configure", "RunResult", "SweepResult", "RunError",
        "SweepError", "CheckError")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    """``medsr_bench.evaluate`` etc.: the API module is imported on first access (PEP 562)."""
    if name in _API:
        # by name, at first use: this package is the floor every layer imports (__version__), so
        # it must not load the benchmark layer when imported
        return getattr(importlib.import_module("medsr_bench.benchmark.api"), name)
    raise AttributeError(f"module 'medsr_bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
