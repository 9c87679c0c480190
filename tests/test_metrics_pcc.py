"""PCC (Pearson correlation) against scipy.stats.pearsonr through the shared tester, and its
defining properties: affine invariance, 1 for identical images, NaN with a note when constant."""

from __future__ import annotations

import numpy as np
import pytest
from metric_tester import MetricTester, is_nan_with_note, reference, synthetic_stack

from medsr_bench.benchmark.metrics import MetricSettings, compute_metrics_batch

TESTER = MetricTester()


@pytest.mark.parametrize(("dtype", "dr", "quant", "channels"), [
    (np.uint8, 255.0, True, 0), (np.uint16, 4095.0, True, 0), (np.float32, 1.0, False, 0),
    (np.uint8, 255.0, True, 3)])
def test_matches_scipy(dtype, dr, quant, channels):
    sr, hr = synthetic_stack(3, 47, 61, channels=channels, dtype=dtype, data_range=dr, seed=9)
    s = MetricSettings(data_range=dr, quantize=quant, channel="rgb" if channels else "gray",
                       crop_border=2)
    TESTER.check("pcc", sr, hr, s, reference("pcc", s))


def test_affine_invariant_and_identical_is_one():
    sr, hr = synthetic_stack(2, 40, 40, dtype=np.float32, data_range=1.0, seed=4)
    s = MetricSettings(data_range=1.0, quantize=False)
    v = compute_metrics_batch(sr, hr, s, ["pcc"])[0]["pcc"]
    w = compute_metrics_batch(0.5 * sr + 0.2, hr, s, ["pcc"])[0]["pcc"]
    assert np.allclose(v, w, atol=1e-6) and np.all(v < 1.0)
    assert np.allclose(compute_metrics_batch(hr, hr, s, ["pearson"])[0]["pcc"], 1.0, atol=1e-12)


def test_constant_image_is_nan_with_reason():
    hr = np.full((1, 20, 20), 7, np.uint8)
    sr = np.arange(400, dtype=np.uint8).reshape(1, 20, 20)
    vals, notes = compute_metrics_batch(sr, hr, MetricSettings(), ["pcc"])
    assert is_nan_with_note(vals["pcc"], notes, 0, "HR is constant")
