"""`bench weights fetch --all`: every downloadable file is tried, one line per file that cannot be
had (no URL, or the download fails), present files are left alone."""

from __future__ import annotations

import dataclasses
import socket

import typer
from typer.testing import CliRunner

from medsr_bench.cli.models import weights_app
from medsr_bench.models import registry

app = typer.Typer()
app.add_typer(weights_app, name="weights")


def test_fetch_all_one_line_per_file_that_cannot_be_had(tmp_path, monkeypatch):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: every download fails fast, offline
    specs = registry.list_checkpoints()
    present = next(sp for sp in specs if sp.pretrained.url)
    (tmp_path / present.pretrained.file).write_bytes(b"x")  # present files are skipped
    closed = [dataclasses.replace(sp, pretrained=dataclasses.replace(
        sp.pretrained, url=f"http://127.0.0.1:{port}/{sp.pretrained.file}"))
        if sp.pretrained.url else sp for sp in specs]
    monkeypatch.setattr(registry, "list_checkpoints", lambda: closed)
    r = CliRunner().invoke(app, ["weights", "fetch", "--all", "--weights-dir", str(tmp_path),
                                 "--timeout", "2", "--no-progress"])
    assert r.exit_code == 1
    lines = [ln for ln in r.output.splitlines() if ln.startswith("cannot fetch")]
    assert len(lines) == len(specs) - 1
    assert not any(f" {present.name} " in ln for ln in lines)
    no_url = [sp for sp in specs if not sp.pretrained.url]
    assert no_url and all(any(f"cannot fetch {sp.name} " in ln and "no download URL" in ln
                              for ln in lines) for sp in no_url)
    r = CliRunner().invoke(app, ["weights", "fetch", "--all", "realesrgan-x4plus"])
    assert r.exit_code == 2
