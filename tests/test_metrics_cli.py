"""``bench metrics list`` / ``bench metrics bench`` (typer app ``metrics_app``) and the benchmark."""

from __future__ import annotations

import math

import numpy as np
from typer.testing import CliRunner

from medsr_bench.cli.metrics import metrics_app
from medsr_bench.perf import metrics as B

RUNNER = CliRunner()


def test_list_command():
    r = RUNNER.invoke(metrics_app, ["list"])
    assert r.exit_code == 0, r.output
    for name in ("psnr", "ssim", "ms-ssim", "vif", "niqe", "lpips"):
        assert name in r.output
    assert "sewar.full_ref.vifp" in r.output


def test_bench_command_synthetic(tmp_path):
    out = tmp_path / "perf.md"
    r = RUNNER.invoke(metrics_app, ["bench", "--synthetic", "2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "speed-up" in text and "| vif |" in text and "machine:" in text and "command:" in text
    assert "| NO |" not in text  # every difference within the stated tolerance


def test_run_bench_values():
    r = B.run_bench(synthetic_n=2)
    assert r.n == 2 and r.shape == (256, 256)
    assert r.engine_s > 0 and r.baseline_s > 0 and math.isfinite(r.ratio)
    assert set(r.max_abs_diff) == set(B.BENCH_METRICS)
    for m, d in r.max_abs_diff.items():
        assert d <= B.TOLERANCE[m], (m, d)


def test_brats_loader(shared_data):
    sr, hr, desc = B.brats_test_like(shared_data, volumes=1, slices=2)
    assert sr.shape == hr.shape == (2, 256, 256)
    assert hr.min() >= 0 and hr.max() <= 1 and np.all(hr[:, :8] == 0)  # zero padding
    assert "BraTS2018" in desc
