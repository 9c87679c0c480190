"""The ``bench`` CLI in-process for tests: one CliRunner and a ``bench(*args)`` that stringifies
paths and lets exceptions through (a crash fails the test with its traceback)."""

from __future__ import annotations

from typer.testing import CliRunner

from medsr_bench.cli import app

runner = CliRunner()


def bench(*args):
    """Invoke ``bench`` with ``args`` (paths allowed); returns the click Result."""
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def invoke(*args):
    """Invoke ``bench`` catching exceptions (for commands expected to exit non-zero)."""
    return runner.invoke(app, [str(a) for a in args])
