"""PSNR / SSIM against BasicSR's ``calculate_psnr`` / ``calculate_ssim`` (crop_border, test_y_channel)
and NIQE against ``calculate_niqe``, through the shared :class:`MetricTester`.

BasicSR works on BGR uint8-range images with a hard-coded 255, so these use ``data_range = 255``;
our arrays are RGB, BasicSR gets ``[..., ::-1]``. (``tests/conftest.py`` imports ``medsr_bench.compat``
before this module imports basicsr.) BasicSR computes the Y channel in float32, which
costs ~1e-7 dB; the stated tolerances (1e-6) hold.
"""

from __future__ import annotations

import numpy as np
import pytest
from basicsr.metrics import calculate_niqe, calculate_psnr, calculate_ssim
from metric_tester import MetricTester, real_gray_pairs, real_rgb_pairs, synthetic_stack

from medsr_bench.benchmark.metrics import MetricSettings, compute_metrics_batch

TESTER = MetricTester()


def _bgr(a: np.ndarray) -> np.ndarray:
    return a[..., ::-1] if a.ndim == 3 else a


def _basicsr_ref(metric: str, crop: int, y: bool):
    f = calculate_psnr if metric == "psnr" else calculate_ssim
    return lambda sr, hr: f(_bgr(sr), _bgr(hr), crop, input_order="HWC", test_y_channel=y)


@pytest.mark.parametrize("metric", ["psnr", "ssim"])
@pytest.mark.parametrize("crop", [0, 2, 4])
@pytest.mark.parametrize("channel", ["rgb", "y"])
def test_synthetic_rgb_vs_basicsr(metric, crop, channel):
    sr, hr = synthetic_stack(2, 53, 66, channels=3, dtype=np.uint8, seed=crop + 1)
    s = MetricSettings(channel=channel, crop_border=crop)
    TESTER.check(metric, sr, hr, s, _basicsr_ref(metric, crop, channel == "y"))


@pytest.mark.parametrize("metric", ["psnr", "ssim"])
@pytest.mark.parametrize("crop", [0, 3])
def test_synthetic_gray_vs_basicsr(metric, crop):
    sr, hr = synthetic_stack(2, 45, 50, dtype=np.uint8, seed=9)
    s = MetricSettings(channel="gray", crop_border=crop)
    TESTER.check(metric, sr, hr, s, _basicsr_ref(metric, crop, False))


@pytest.mark.shared
@pytest.mark.parametrize("metric", ["psnr", "ssim"])
@pytest.mark.parametrize(("channel", "crop"), [("rgb", 0), ("y", 0), ("y", 2), ("rgb", 4)])
def test_real_drive_vs_basicsr(shared_data, metric, channel, crop):
    sr, hr = real_rgb_pairs(shared_data, size=(131, 160), n=2)
    s = MetricSettings(channel=channel, crop_border=crop)
    TESTER.check(metric, sr, hr, s, _basicsr_ref(metric, crop, channel == "y"))


def test_y_channel_of_gray_input_is_unchanged_like_basicsr():
    sr, hr = synthetic_stack(2, 40, 40, dtype=np.uint8, seed=4)
    s = MetricSettings(channel="y")
    TESTER.check("psnr", sr, hr, s, _basicsr_ref("psnr", 0, True))


# ----------------------------------------------------------------------------------------- NIQE
@pytest.mark.shared
def test_niqe_real_cxr_vs_basicsr(shared_data):
    sr, _ = real_gray_pairs(shared_data, size=192, n=2)
    s = MetricSettings()
    TESTER.check("niqe", sr, sr, s, lambda a, b: calculate_niqe(a, 0, input_order="HW"),
                 engines=("numpy",))


@pytest.mark.shared
@pytest.mark.parametrize("crop", [0, 4])
def test_niqe_real_drive_rgb_y_vs_basicsr(shared_data, crop):
    sr, hr = real_rgb_pairs(shared_data, size=(200, 200), n=1)
    s = MetricSettings(channel="rgb", crop_border=crop)
    TESTER.check("niqe", sr, hr, s, lambda a, b: calculate_niqe(_bgr(a), crop, input_order="HWC",
                                                                 convert_to="y"), engines=("numpy",))


def test_niqe_is_no_reference_and_scale_invariant():
    sr, hr = synthetic_stack(1, 192, 200, dtype=np.uint16, data_range=4095.0, seed=5)
    v16, n16 = compute_metrics_batch(sr, hr, MetricSettings(data_range=4095.0), names=["niqe"])
    v16b, _ = compute_metrics_batch(sr, hr[::-1].copy(), MetricSettings(data_range=4095.0), names=["niqe"])
    assert np.isfinite(v16["niqe"][0]) and n16 == [""]
    assert v16["niqe"][0] == v16b["niqe"][0]  # HR is not used
    sr8 = np.rint(sr.astype(np.float64) * 255.0 / 4095.0)
    v8, _ = compute_metrics_batch(sr8, sr8, MetricSettings(), names=["niqe"])
    assert v8["niqe"][0] == pytest.approx(v16["niqe"][0], abs=1e-6)  # scored on the same 0-255 integer image


def test_niqe_too_small_is_nan_with_reason():
    sr, hr = synthetic_stack(1, 100, 150, dtype=np.uint8)
    v, notes = compute_metrics_batch(sr, hr, MetricSettings(), names=["niqe"])
    assert np.isnan(v["niqe"][0]) and "96x96" in notes[0]
