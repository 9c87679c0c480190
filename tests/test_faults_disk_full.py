"""A full disk under ``--out`` (a real, small tmpfs; skipped where mounting is not permitted):
`bench run` and `bench report` end with one ``error:`` line naming the folder, no traceback, and
what was already written (the run's tables, an older report) is kept byte for byte (issue 19)."""

from __future__ import annotations

import pytest
from cli_helpers import invoke
from conftest import mounted_tmpfs


@pytest.fixture
def small_fs(tmp_path):
    """A 24 MiB tmpfs; skips when mounting is not permitted (no root / no CAP_SYS_ADMIN)."""
    with mounted_tmpfs(tmp_path / "small", "24m") as mnt:
        yield mnt


def _fill(folder):
    with open(folder / "ballast", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def _one_error(r, *needles):
    lines = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert r.exit_code not in (0, None) and len(lines) == 1, r.output
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    for n in needles:
        assert n in lines[0], r.output


def test_disk_full_on_out_is_one_line_and_keeps_what_was_written(bench_env, small_fs):
    run = small_fs / "run"
    args = ["--suite", "demo", "--limit", "1", "--models", "nearest", "-q", "--workers", "1"]
    assert invoke("run", *args, "--out", run).exit_code == 0
    report = small_fs / "r.md"
    assert invoke("report", "--run", run, "--format", "md", "--out", report).exit_code == 0
    kept = {p: p.read_bytes() for p in (run / "per_image.csv", run / "summary.csv",
                                        run / "run.json", report)}
    _fill(small_fs)
    _one_error(invoke("report", "--run", run, "--format", "md", "--out", report),
               "cannot write the report", "No space left on device")
    _one_error(invoke("run", *args, "--out", small_fs / "run2"), "No space left on device")
    for p, data in kept.items():
        assert p.read_bytes() == data, p
    (small_fs / "ballast").unlink()
