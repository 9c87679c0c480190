"""Shared pytest fixtures.

``medsr_bench.compat`` is imported first (torchvision/basicsr shim). Tests that need the real data or
weights in ``../shared`` use the ``shared_data`` / ``shared_weights`` fixtures, which skip with a
reason when the folder is absent (set ``BENCH_SHARED`` to point elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import medsr_bench.compat  # noqa: F401  (must run before torchvision/basicsr imports)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BENCH_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real DRIVE, ChestX-ray14, BraTS, head-CT, STARE); skips when absent."""
    p = SHARED / "data"
    if not p.is_dir():
        pytest.skip(f"real data not available: {p} is absent (set BENCH_SHARED)")
    return p


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    """``../shared/weights`` (real third-party / official compact checkpoints); skips when absent."""
    p = SHARED / "weights"
    if not p.is_dir():
        pytest.skip(f"real weights not available: {p} is absent (set BENCH_SHARED)")
    return p


@pytest.fixture
def bench_env(tmp_path, monkeypatch) -> Path:
    """A clean environment for ``bench`` runs: empty weights dir, prepared cache under
    ``tmp_path``, no data root or fault hook from the caller's shell; returns ``tmp_path``."""
    w = tmp_path / "weights"
    w.mkdir()
    monkeypatch.setenv("BENCH_WEIGHTS", str(w))
    monkeypatch.setenv("BENCH_PREPARED", str(tmp_path / "prepared"))
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    monkeypatch.delenv("MEDSR_BENCH_FAIL_ONCE", raising=False)
    return tmp_path
