"""``--config`` on Python 3.10 (no stdlib ``tomllib``): settings falls back to ``tomli``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_read_config_file_without_stdlib_tomllib(tmp_path, monkeypatch):
    pytest.importorskip("tomli")
    monkeypatch.setitem(sys.modules, "tomllib", None)  # import tomllib -> ModuleNotFoundError
    spec = importlib.util.spec_from_file_location("_settings_py310", ROOT / "benchmark/settings.py")
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "_settings_py310", mod)  # dataclasses look the module up
    spec.loader.exec_module(mod)
    assert mod.tomllib.__name__ == "tomli"
    cfg = tmp_path / "run.toml"
    cfg.write_text('models = ["bicubic"]\n', encoding="utf-8")
    run, _ = mod.read_config_file(cfg)
    assert run["models"] == ["bicubic"]
