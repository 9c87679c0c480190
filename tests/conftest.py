"""Shared pytest fixtures.

``medsr_bench.compat`` is imported first (torchvision/basicsr shim). Tests that need the real data or
weights in ``../shared`` use the ``shared_data`` / ``shared_weights`` fixtures, which skip with a
reason when the folder is absent (set ``BENCH_SHARED`` to point elsewhere).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
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


def _children(pid: int) -> set[int]:
    """Live (non-zombie) descendants of ``pid`` (from /proc; empty where /proc is absent)."""
    import os

    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        if rest[0] != "Z":
            kids.setdefault(int(rest[1]), []).append(int(d))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _is_tracker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"resource_tracker" in f.read()
    except OSError:
        return False


@pytest.fixture(autouse=True)
def nothing_left_behind(request, tmp_path_factory, monkeypatch):
    """Fault tests (``test_faults_*``) must leave no process and no temporary behind: no new
    child of this process, and nothing in the temp folder they (and their subprocesses, through
    ``TMPDIR``) are given - a private one, so other users of /tmp do not count."""
    import os
    import tempfile
    import time

    if not request.node.fspath.basename.startswith("test_faults_"):
        yield
        return
    tmp = tmp_path_factory.mktemp("systmp")
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    before_kids = _children(os.getpid())
    yield
    for _ in range(50):  # a terminated child may take a moment to be reaped
        # multiprocessing's resource tracker belongs to this interpreter and ends with it (the
        # signal tests check that it ends with a real `bench run` process)
        left = {p for p in _children(os.getpid()) - before_kids if not _is_tracker(p)}
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"processes left behind: {sorted(left)}"
    new_tmp = sorted(p.name for p in tmp.iterdir())
    assert not new_tmp, f"temporaries left in {tmp}: {new_tmp}"


#: Fixtures that make a test slow: a ``bench`` run in a clean environment, the real data or
#: weights, a module's shared demo run.
SLOW_FIXTURES = frozenset({"bench_env", "shared_data", "shared_weights", "demo_run"})


#: A ``bench run`` / ``sweep`` / ``train`` started in a test's body (``invoke("run", ...)``).
_STARTS_A_RUN = re.compile(r"""[([]\s*["'](run|sweep|train)["']\s*,""")


def pytest_collection_modifyitems(config, items):
    """Mark ``fast`` (``pytest -m fast``, the README's quick subset) every test that is neither
    marked ``slow`` nor ``shared``, uses none of :data:`SLOW_FIXTURES` and starts no run in its
    body."""
    import inspect

    for item in items:
        if item.get_closest_marker("slow") or item.get_closest_marker("shared"):
            continue
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            continue
        try:
            src = inspect.getsource(item.function)
        except (AttributeError, OSError, TypeError):
            src = ""
        if _STARTS_A_RUN.search(src):
            continue
        item.add_marker(pytest.mark.fast)


@contextlib.contextmanager
def mounted_tmpfs(mnt: Path, size: str):
    """A tmpfs of ``size`` (``"2m"``) mounted on the new folder ``mnt`` (a real disk-full target);
    the calling test skips when mounting is not permitted (no root / no CAP_SYS_ADMIN)."""
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
