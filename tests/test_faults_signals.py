"""Real signals to a real ``bench run --workers 2``: the pool workers and multiprocessing's
resource tracker end with their parent, the console says how to resume, and ``bench status``
shows the interrupted tasks as pending, never as failed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cli_helpers import invoke


def _tagged(tag: str) -> list[int]:
    """Pids of the live processes whose environment holds ``tag`` (reparented ones included)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes()
            state = (d / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if tag.encode() in env and state != "Z":
            pids.append(int(d.name))
    return pids


@pytest.mark.parametrize("sig,group", [(signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["sigterm-parent", "sigint-group"])
def test_signal_ends_workers_and_says_how_to_resume(tmp_path, bench_env, sig, group):
    tag = f"MEDSR_FAULT_TAG={uuid.uuid4().hex}"
    env = {**os.environ, tag.split("=")[0]: tag.split("=")[1]}
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "medsr_bench", "run", "--suite", "demo", "--limit", "2", "--models",
         "nearest,bilinear,bicubic,lanczos,bicubic-matlab", "--workers", "2", "--out", str(out),
         "-q"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if list((out / "parts").glob("*.running")):
                break
            time.sleep(0.2)
        if proc.poll() is not None:
            pytest.fail(f"run ended before it could be interrupted: {proc.communicate()}")
        assert len(_tagged(tag)) >= 3  # parent, 2 workers (+ resource tracker)
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    assert "interrupted; re-run the same command to resume" in err, err
    assert "Traceback" not in err, err
    for _ in range(50):
        left = _tagged(tag)
        if not left:
            break
        time.sleep(0.2)
    assert not left, f"processes left behind: {left}"
    r = invoke("status", out)
    assert r.exit_code == 0, r.output
    assert "KeyboardInterrupt" not in r.output and " 0 failed" in r.output, r.output
    assert '"status": "interrupted"' in (out / "run.json").read_text()


def test_workers_are_spawned_with_sigint_ignored():
    """A Ctrl-C that lands while a worker is still starting must not print a traceback there: the
    pool starts its workers with SIGINT ignored (inherited through exec), then restores the
    parent's handler."""
    import signal

    from medsr_bench.benchmark.executors import _sigint_ignored_while_spawning

    before = signal.getsignal(signal.SIGINT)
    with _sigint_ignored_while_spawning():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is before
