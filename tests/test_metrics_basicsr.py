"""PSNR / SSIM against BasicSR's ``calculate_psnr`` / ``calculate_ssim`` (crop_border, test_y_channel)
and NIQE against ``calculate_niqe``, through the shared :class:`MetricTester`.

NIQE here is float64 end to end; BasicSR's ``imresize`` is torch float32. The NIQE references
therefore run BasicSR's own ``niqe`` loop with the float64 resize put in its place (``f64_resize``
fixture): 1e-6 as for the other metrics. BasicSR unchanged (float32 resize) and pyiqa's independent
torch port are compared at 5e-3, the spread observed between float32 and float64 on real crops
(up to 1.4e-3; pyiqa's own feature code adds up to 3e-3 on retina crops).

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
from medsr_bench.benchmark.metrics.niqe import matlab_imresize, niqe_gray255

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
NIQE_F32_TOL = 5e-3  # float64 NIQE vs float32-resize implementations (BasicSR, pyiqa); see module doc


@pytest.fixture
def f64_resize(monkeypatch):
    """BasicSR's NIQE loop with MATLAB imresize in float64 (its own is torch float32)."""
    import basicsr.metrics.niqe as bniqe

    monkeypatch.setattr(bniqe, "imresize", lambda img, scale, antialiasing: matlab_imresize(img, scale))


def basicsr_niqe_f64(img: np.ndarray, crop: int = 0) -> float:
    """BasicSR ``calculate_niqe`` without its float32 cast: its Y conversion (``to_y_channel``) for
    BGR input, crop, round, then its ``niqe`` loop on float64 (with ``f64_resize`` active)."""
    import basicsr.metrics.niqe as bniqe
    from basicsr.metrics.metric_util import to_y_channel

    from medsr_bench.benchmark.metrics.niqe import _basicsr_niqe

    _, mu, cov, win = _basicsr_niqe()
    x = to_y_channel(img.astype(np.float32))[..., 0] if img.ndim == 3 else img
    x = np.asarray(x, np.float64)
    if crop:
        x = x[crop:-crop, crop:-crop]
    return bniqe.niqe(np.round(x), mu, cov, win)


@pytest.mark.parametrize(("shape", "scale"), [((50, 37), 0.5), ((96, 96), 0.5), ((13, 20), 2.0), ((31, 8), 0.25)])
def test_matlab_imresize_vs_basicsr_float32(shape, scale):
    from basicsr.utils.matlab_functions import imresize

    a = np.random.default_rng(sum(shape)).random(shape)
    ours = matlab_imresize(a, scale)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, imresize(a, scale, antialiasing=True), atol=1e-6, rtol=0)


def test_matlab_imresize_keeps_constants_and_refuses_bad_input():
    assert np.abs(matlab_imresize(np.full((20, 30), 7.25), 0.5) - 7.25).max() < 1e-13
    with pytest.raises(ValueError, match="2-D image"):
        matlab_imresize(np.zeros((4, 4, 3)), 0.5)


@pytest.mark.shared
def test_niqe_float64_differs_from_float32_within_stated_tolerance(shared_data):
    """BasicSR and pyiqa (both float32 resize) within NIQE_F32_TOL of the float64 NIQE."""
    import torch
    from pyiqa.archs.niqe_arch import calculate_niqe as pyiqa_niqe

    from medsr_bench.benchmark.metrics.niqe import _basicsr_niqe

    _, mu, cov, _ = _basicsr_niqe()
    sr, _ = real_gray_pairs(shared_data, size=192, n=2)
    for img in sr.astype(np.float64):
        ours = niqe_gray255(img)
        assert abs(ours - calculate_niqe(img, 0, input_order="HW")) <= NIQE_F32_TOL
        p = float(pyiqa_niqe(torch.from_numpy(img / 255.0)[None, None], mu_pris_param=torch.from_numpy(mu),
                             cov_pris_param=torch.from_numpy(cov)))
        assert abs(ours - p) <= NIQE_F32_TOL


@pytest.mark.shared
def test_niqe_real_cxr_vs_basicsr(shared_data, f64_resize):
    sr, _ = real_gray_pairs(shared_data, size=192, n=2)
    s = MetricSettings()
    TESTER.check("niqe", sr, sr, s, lambda a, b: basicsr_niqe_f64(a), engines=("numpy",))


@pytest.mark.shared
@pytest.mark.parametrize("crop", [0, 4])
def test_niqe_real_drive_rgb_y_vs_basicsr(shared_data, crop, f64_resize):
    sr, hr = real_rgb_pairs(shared_data, size=(200, 200), n=1)
    s = MetricSettings(channel="rgb", crop_border=crop)
    TESTER.check("niqe", sr, hr, s, lambda a, b: basicsr_niqe_f64(_bgr(a), crop), engines=("numpy",))


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
