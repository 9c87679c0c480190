"""``bench weights list|fetch|verify`` and ``bench perf`` (typer pieces from models.cli)."""

from __future__ import annotations

import hashlib
import socket

import pytest
import torch
import typer
from typer.testing import CliRunner

from medsr_bench.cli.models import perf, weights_app
from medsr_bench.models import get_spec

app = typer.Typer()
app.add_typer(weights_app, name="weights")
app.command("perf")(perf)
runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args))


def test_weights_help():
    r = _run("weights", "--help")
    assert r.exit_code == 0 and "list" in r.output and "fetch" in r.output and "verify" in r.output
    for cmd in ("list", "fetch", "verify"):
        assert _run("weights", cmd, "--help").exit_code == 0
    assert _run("perf", "--help").exit_code == 0


def test_weights_list_empty_dir(tmp_path):
    r = _run("weights", "list", "--weights-dir", str(tmp_path))
    assert r.exit_code == 0
    assert "realesrgan-x4plus" in r.output and "missing" in r.output
    assert "bench weights fetch realesrgan-x4plus" in r.output
    assert "bench train --recipe beallor-srresnet" in r.output and "vgg19-dcbb9e9d.pth" in r.output


def test_weights_list_and_verify_real(shared_weights):
    r = _run("weights", "list", "--weights-dir", str(shared_weights))
    assert r.exit_code == 0
    line = next(x for x in r.output.splitlines() if x.startswith("realesr-animevideov3 "))
    assert "verified" in line
    r = _run("weights", "verify", "--weights-dir", str(shared_weights))
    assert r.exit_code == 0
    assert sum(x.startswith("ok ") for x in r.output.splitlines()) == 4


def test_weights_verify_bad_file(tmp_path):
    spec = get_spec("realesr-animevideov3")
    torch.save({"params": spec.arch().state_dict()}, tmp_path / spec.pretrained.file)
    r = _run("weights", "verify", "--weights-dir", str(tmp_path))
    assert r.exit_code == 1 and "bad" in r.output and "sha256 mismatch" in r.output


def test_weights_fetch_offline_one_line(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    url = f"http://127.0.0.1:{port}/RealESRGAN_x4plus.pth"
    r = _run("weights", "fetch", "realesrgan-x4plus", "--weights-dir", str(tmp_path), "--url", url,
             "--timeout", "5", "--no-progress")
    assert r.exit_code == 1
    errs = [x for x in r.output.splitlines() if x.startswith("error:")]
    assert len(errs) == 1 and url in errs[0] and "by hand" in errs[0]


def test_weights_fetch_file_url(tmp_path):
    spec = get_spec("realesr-animevideov3")
    src = tmp_path / "src.pth"
    torch.save({"params": spec.arch().state_dict()}, src)
    # the published sha256 does not match a random file: refused, nothing kept
    r = _run("weights", "fetch", "realesr-animevideov3", "--weights-dir", str(tmp_path / "w"),
             "--url", src.as_uri(), "--no-progress")
    assert r.exit_code == 1 and "expected b8a8376811077954" in r.output
    assert not (tmp_path / "w" / spec.pretrained.file).exists()
    # a project model (no published hash) is accepted from a file:// URL
    spec = get_spec("realesrgan-1ch-netd")
    torch.save({"params": spec.arch().state_dict()}, src)
    r = _run("weights", "fetch", "realesrgan-1ch-netd", "--weights-dir", str(tmp_path / "w"),
             "--url", src.as_uri(), "--no-progress")
    assert r.exit_code == 0, r.output
    got = tmp_path / "w" / spec.pretrained.file
    assert hashlib.sha256(got.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()


def test_weights_unknown_model(tmp_path):
    r = _run("weights", "fetch", "nope", "--weights-dir", str(tmp_path))
    assert r.exit_code == 2 and "unknown model" in r.output


@pytest.mark.parametrize("model", ["realesrgan-animevideo-xsx2", "realesr-general-x4v3"])
def test_perf_tiny(model, shared_weights, tmp_path):
    out = tmp_path / "perf.md"
    r = _run("perf", "--model", model, "--weights-dir", str(shared_weights), "--sizes", "16",
             "--precision", "fp32,bf16", "--n-images", "2", "--reps", "1", "--device", "cpu",
             "--out", str(out))
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "| 16x16 | fp32 |" in text and "| 16x16 | bf16 |" in text and "machine:" in text
    if model == "realesr-general-x4v3":  # weights absent: random init, labelled
        assert "RANDOM-INIT" in text
    else:
        assert "RANDOM-INIT" not in text
        fp32 = next(x for x in text.splitlines() if x.startswith("| 16x16 | fp32"))
        diff = float(fp32.split("|")[6].split()[0])
        assert diff <= 1 / 255  # same output as RealESRGANer up to its 8-bit rounding
