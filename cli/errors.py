"""The one way a ``bench`` command ends on a user error: ``error: <msg>`` on stderr, exit code."""

from __future__ import annotations

import typer


def fail(msg: str, code: int = 2) -> None:
    """Print ``error: <msg>`` (one line) to stderr and exit with ``code`` (2: a user error).

    Raises:
        typer.Exit: always.
    """
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)
