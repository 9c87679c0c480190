"""Which run `bench report` renders when no ``--run`` is given: the run directory the last
successful `bench run` in this working directory wrote (``results/.last-run``, one absolute path),
else the newest ``results/runs/*/run.json``."""

from __future__ import annotations

from pathlib import Path

LAST_RUN_FILE = Path("results") / ".last-run"


def remember(run_dir: Path) -> None:
    """Record ``run_dir`` as the last run (best effort: an unwritable ``results/`` is ignored)."""
    try:
        LAST_RUN_FILE.parent.mkdir(parents=True, exist_ok=True)
        LAST_RUN_FILE.write_text(str(Path(run_dir).resolve()) + "\n")
    except OSError:
        pass


def default_run() -> tuple[Path | None, str]:
    """(run directory, how it was chosen) for `bench report` without ``--run``; (None, "") when
    there is no run."""
    if LAST_RUN_FILE.is_file():
        p = Path(LAST_RUN_FILE.read_text().strip())
        if (p / "run.json").is_file():
            return p, f"the last `bench run`, recorded in {LAST_RUN_FILE}"
    runs = sorted(Path("results/runs").glob("*/run.json"), key=lambda p: p.stat().st_mtime)
    if runs:
        return runs[-1].parent, "the newest run under results/runs"
    return None, ""
