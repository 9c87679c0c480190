"""Packaging metadata: what ``pip install`` reads from pyproject.toml."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (the [test] extra has tomli)
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
OPENCV = {"opencv-python", "opencv-python-headless", "opencv-contrib-python",
          "opencv-contrib-python-headless"}


def _name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", req.strip(), maxsplit=1)[0].lower()


def test_license_is_an_spdx_string_and_setuptools_can_read_it():
    meta = tomllib.loads(PYPROJECT.read_text())
    assert isinstance(meta["project"]["license"], str)  # a TOML table is deprecated (setuptools 77)
    req = next(r for r in meta["build-system"]["requires"] if _name(r) == "setuptools")
    assert int(re.search(r">=\s*(\d+)", req).group(1)) >= 77  # first setuptools reading SPDX


def test_a_core_install_gets_one_opencv_distribution():
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    ours = {_name(d) for d in deps} & OPENCV
    theirs = set()
    for dist in ("basicsr", "realesrgan"):
        try:
            theirs |= {_name(r) for r in requires(dist) or [] if "extra ==" not in r} & OPENCV
        except PackageNotFoundError:
            pytest.skip(f"{dist} not installed")
    assert len(ours | theirs) == 1, ours | theirs
