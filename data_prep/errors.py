"""Error types of the data layer. Every message names the file (or folder) and what was expected."""

from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """A single input file or folder is unusable.

    ``str(err)`` is one line: ``<path>: <problem> (expected <what>)``.
    """

    def __init__(self, path: str | Path, problem: str, expected: str | None = None):
        self.path = str(path)
        self.problem = problem
        self.expected = expected
        msg = f"{self.path}: {problem}"
        if expected:
            msg += f" (expected {expected})"
        super().__init__(msg)


class DatasetMissing(DataError):
    """A whole dataset is absent under the data root.

    ``how_to_get`` says where the dataset is obtained (official site, registration or not); the
    runner reports the dataset as ``skipped`` with this text and goes on.
    """

    def __init__(self, path: str | Path, expected_layout: str, how_to_get: str):
        self.expected_layout = expected_layout
        self.how_to_get = how_to_get
        super().__init__(path, "dataset folder not found", f"layout {expected_layout}; {how_to_get}")


class Excluded(DataError):
    """A valid file that the protocol's own selection rule leaves out (e.g. not 512x512 in P4).

    Counted per reason in the manifest; never turned into an error by ``--strict``.
    """
