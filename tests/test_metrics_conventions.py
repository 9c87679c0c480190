"""Conventions: data_range never hard-coded, inf / NaN semantics with reasons, no integer overflow,
channel policy, crop_border, settings validation, registry contents, LPIPS weights status."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from metric_tester import MetricTester, assert_close, synthetic_stack
from skimage import metrics as skm

from medsr_bench.benchmark.metrics import (
    MetricSettings,
    compute_metrics,
    compute_metrics_batch,
    get_metric,
    list_metrics,
    metric_status,
    to_metric_domain,
)
from medsr_bench.benchmark.metrics import lpips as lp

FR = ["psnr", "ssim", "mse", "rmse", "mae", "nrmse", "ms-ssim", "vif"]
ENGINES = ("numpy", "torch")
TESTER = MetricTester()


# --------------------------------------------------------------------------- data_range is explicit
@pytest.mark.parametrize("engine", ENGINES)
def test_data_range_is_used_not_hard_coded(engine):
    """Would fail if 255 were hard-coded anywhere: the same pair in [0, 1] (data_range 1), in
    [0, 255] (255) and in [0, 4095] (4095) must give identical scale-free metrics, and the
    [0, 1] values must equal skimage's with data_range=1."""
    sr01, hr01 = synthetic_stack(2, 64, 72, dtype=np.float64, data_range=1.0, seed=21)
    names = ["psnr", "ssim", "nrmse", "ms-ssim", "vif"]
    v1, _ = compute_metrics_batch(sr01, hr01, MetricSettings(data_range=1.0, quantize=False), names, engine=engine)
    for dr in (255.0, 4095.0):
        v, _ = compute_metrics_batch(sr01 * dr, hr01 * dr, MetricSettings(data_range=dr, quantize=False),
                                     names, engine=engine)
        for m in names:
            assert_close(v[m], v1[m], 1e-9, 1e-12, f"{m} at data_range {dr} vs 1")
    for i in range(2):
        assert v1["psnr"][i] == pytest.approx(skm.peak_signal_noise_ratio(hr01[i], sr01[i], data_range=1.0), abs=1e-9)
        assert v1["ssim"][i] == pytest.approx(skm.structural_similarity(
            hr01[i], sr01[i], data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False), abs=1e-9)
    # and data_range changes the values where it must (MAX in PSNR, C1/C2 in SSIM)
    v255, _ = compute_metrics_batch(sr01, hr01, MetricSettings(data_range=255.0, quantize=False), names, engine=engine)
    assert np.allclose(v255["psnr"] - v1["psnr"], 20 * math.log10(255.0))
    assert np.all(np.abs(v255["ssim"] - v1["ssim"]) > 1e-3)


def test_uint16_twelve_bit_uses_true_range():
    sr, hr = synthetic_stack(2, 50, 50, dtype=np.uint16, data_range=4095.0, seed=2)
    v, _ = compute_metrics_batch(sr, hr, MetricSettings(data_range=4095.0), ["psnr", "ssim"])
    for i in range(2):
        assert v["psnr"][i] == pytest.approx(skm.peak_signal_noise_ratio(hr[i], sr[i], data_range=4095), abs=1e-9)
        # skimage's dtype default (65535) would be wrong for 12-bit data: make sure we differ from it
        assert abs(v["psnr"][i] - skm.peak_signal_noise_ratio(hr[i], sr[i], data_range=65535)) > 1.0


# ------------------------------------------------------------------------------ inf / NaN semantics
@pytest.mark.parametrize("engine", ENGINES)
def test_identical_images(engine):
    _, hr = synthetic_stack(2, 64, 64, dtype=np.uint8, seed=3)
    v, notes = compute_metrics_batch(hr, hr.copy(), MetricSettings(), FR, engine=engine)
    assert np.all(np.isposinf(v["psnr"]))
    assert all("psnr: identical images" in n for n in notes)
    for m, want in (("ssim", 1.0), ("ms-ssim", 1.0), ("mse", 0.0), ("mae", 0.0), ("nrmse", 0.0)):
        assert_close(v[m], np.full(2, want), 1e-12, 0, m)
    assert_close(v["vif"], np.ones(2), 1e-9, 0, "vif")  # 1 up to the eps = 1e-10 of vifp_mscale.m


@pytest.mark.parametrize("engine", ENGINES)
def test_constant_images_defined_or_nan_with_reason(engine):
    s = MetricSettings()
    a = np.full((3, 48, 48), 100, np.uint8)
    b = np.full((3, 48, 48), 120, np.uint8)
    zero = np.zeros((3, 48, 48), np.uint8)
    # identical constants: SSIM 1, PSNR inf, VIF NaN (HR without variance) with a reason
    v, notes = compute_metrics_batch(a, a, s, FR, engine=engine)
    assert np.all(v["ssim"] == 1.0) and np.all(np.isposinf(v["psnr"]))
    assert np.all(np.isnan(v["vif"])) and all("vif: VIFp undefined" in n for n in notes)
    assert np.allclose(v["ms-ssim"], 1.0)
    # different constants: SSIM is the luminance term, well defined
    v, notes = compute_metrics_batch(b, a, s, FR, engine=engine)
    c1 = (0.01 * 255) ** 2
    assert np.allclose(v["ssim"], (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))
    assert np.all(v["mse"] == 400.0) and np.allclose(v["nrmse"], 0.2)
    # all-zero HR: NRMSE (mean) is NaN with a reason, nothing crashes
    v, notes = compute_metrics_batch(a, zero, s, FR, engine=engine)
    assert np.all(np.isnan(v["nrmse"])) and all("nrmse: NRMSE undefined" in n for n in notes)
    assert np.all(np.isfinite(v["psnr"])) and np.all(np.isfinite(v["ssim"]))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("size", [(5, 5), (12, 30), (40, 40)])
def test_small_images_never_crash(engine, size):
    sr, hr = synthetic_stack(2, *size, dtype=np.uint8, seed=1)
    v, notes = compute_metrics_batch(sr, hr, MetricSettings(), FR + ["niqe"], engine=engine)
    assert np.all(np.isfinite(v["psnr"]))
    for m in FR + ["niqe"]:
        for i in range(2):
            assert np.isfinite(v[m][i]) or (m in notes[i]), (m, notes[i])
    if min(size) < 11:
        assert np.all(np.isnan(v["ssim"])) and "11x11" in notes[0]
    else:
        assert np.all(np.isfinite(v["ssim"])) and np.all(np.isfinite(v["ms-ssim"]))
    assert np.all(np.isnan(v["vif"]))  # < 41 px


def test_nan_input_gives_nan_with_reason():
    sr, hr = synthetic_stack(2, 32, 32, dtype=np.float64, data_range=1.0)
    sr[1, 3, 3] = np.nan
    v, notes = compute_metrics_batch(sr, hr, MetricSettings(data_range=1.0, quantize=False), ["psnr", "ssim"])
    assert np.isfinite(v["psnr"][0]) and np.isnan(v["psnr"][1]) and np.isnan(v["ssim"][1])
    assert notes[0] == "" and "NaN" in notes[1]


@pytest.mark.parametrize("engine", ENGINES)
def test_no_uint8_overflow(engine):
    hr = np.full((1, 20, 20), 255, np.uint8)
    sr = np.zeros((1, 20, 20), np.uint8)
    sr[0, :10] = 254
    v, _ = compute_metrics_batch(sr, hr, MetricSettings(), ["mse", "mae", "psnr"], engine=engine)
    assert v["mse"][0] == (255**2 + 1) / 2
    assert v["mae"][0] == (255 + 1) / 2
    assert v["psnr"][0] == pytest.approx(10 * math.log10(255**2 / ((255**2 + 1) / 2)))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_dtypes_give_identical_values(dtype):
    sr, hr = synthetic_stack(2, 45, 47, dtype=np.uint8, seed=8)
    want, _ = compute_metrics_batch(sr.astype(np.float64), hr.astype(np.float64), MetricSettings(), FR)
    got, _ = compute_metrics_batch(sr.astype(dtype), hr.astype(dtype), MetricSettings(), FR)
    for m in FR:
        assert_close(got[m], want[m], 0, 0, m)


# ------------------------------------------------------------------------------- channel and crop
def test_gray_policy_collapses_identical_rgb_and_refuses_colour():
    sr, hr = synthetic_stack(2, 40, 44, dtype=np.uint8, seed=4)
    s = MetricSettings(channel="gray")
    v2, _ = compute_metrics_batch(sr, hr, s, FR)
    v3, _ = compute_metrics_batch(np.repeat(sr[..., None], 3, -1), np.repeat(hr[..., None], 3, -1), s, FR)
    for m in FR:
        assert_close(v3[m], v2[m], 0, 0, m)
    colour, hr3 = synthetic_stack(1, 40, 44, channels=3, dtype=np.uint8)
    with pytest.raises(ValueError, match="distinct channels"):
        compute_metrics_batch(colour, hr3, s, ["psnr"])


def test_rgb_policy_on_gray_input_equals_replicated_rgb():
    sr, hr = synthetic_stack(2, 40, 44, dtype=np.uint8, seed=6)
    s = MetricSettings(channel="rgb")
    v1, _ = compute_metrics_batch(sr, hr, s, FR)
    v3, _ = compute_metrics_batch(np.repeat(sr[..., None], 3, -1), np.repeat(hr[..., None], 3, -1), s, FR)
    for m in FR:
        assert_close(v3[m], v1[m], 1e-12, 1e-12, m)


def test_y_policy_matches_bt601_formula():
    sr, hr = synthetic_stack(1, 30, 30, channels=3, dtype=np.uint8, seed=5)
    s = MetricSettings(channel="y")
    y_sr = 16 + (65.481 * sr[..., 0] + 128.553 * sr[..., 1] + 24.966 * sr[..., 2]) / 255.0
    y_hr = 16 + (65.481 * hr[..., 0] + 128.553 * hr[..., 1] + 24.966 * hr[..., 2]) / 255.0
    v, _ = compute_metrics_batch(sr, hr, s, ["mse"])
    assert v["mse"][0] == pytest.approx(np.mean((y_sr - y_hr) ** 2), rel=1e-12)
    # other data ranges: Y scales with data_range (16/255 offset included)
    v16, _ = compute_metrics_batch(sr.astype(np.float64) * 257, hr.astype(np.float64) * 257,
                                   MetricSettings(channel="y", data_range=65535.0), ["psnr"])
    v8, _ = compute_metrics_batch(sr, hr, s, ["psnr"])
    assert v16["psnr"][0] == pytest.approx(v8["psnr"][0], abs=1e-9)


def test_crop_border_equals_manual_crop():
    sr, hr = synthetic_stack(2, 50, 61, channels=3, dtype=np.uint8, seed=7)
    c = 4
    a, _ = compute_metrics_batch(sr, hr, MetricSettings(channel="rgb", crop_border=c), FR)
    b, _ = compute_metrics_batch(sr[:, c:-c, c:-c], hr[:, c:-c, c:-c], MetricSettings(channel="rgb"), FR)
    for m in FR:
        assert_close(a[m], b[m], 0, 0, m)
    with pytest.raises(ValueError, match="leaves no pixel"):
        compute_metrics_batch(sr, hr, MetricSettings(crop_border=25, channel="rgb"), ["psnr"])


def test_shape_errors():
    a = np.zeros((2, 10, 10), np.uint8)
    with pytest.raises(ValueError, match="differ"):
        compute_metrics_batch(a, np.zeros((2, 10, 11), np.uint8), MetricSettings(), ["psnr"])
    with pytest.raises(ValueError, match="expected"):
        compute_metrics_batch(np.zeros((2, 10, 10, 2)), np.zeros((2, 10, 10, 2)), MetricSettings(), ["psnr"])
    with pytest.raises(KeyError, match="unknown metric"):
        compute_metrics_batch(a, a, MetricSettings(), ["no-such-metric"])


def test_batch_equals_single_and_chunking():
    sr, hr = synthetic_stack(5, 64, 64, dtype=np.uint8, seed=12)
    s = MetricSettings()
    whole, _ = compute_metrics_batch(sr, hr, s, FR, chunk=2)
    whole_default, _ = compute_metrics_batch(sr, hr, s, FR)
    for i in range(5):
        one, note = compute_metrics(sr[i], hr[i], s, FR)
        for m in FR:
            assert one[m] == pytest.approx(whole[m][i], abs=1e-12)
            assert whole_default[m][i] == pytest.approx(whole[m][i], abs=1e-12)


# ------------------------------------------------------------------------------------- settings
def test_settings_validation_and_roundtrip():
    s = MetricSettings(data_range=4095, channel="y", crop_border=4, nrmse_norm="min-max")
    assert isinstance(s.data_range, float)
    assert MetricSettings.from_dict(s.to_dict()) == s
    assert "data_range=4095" in s.describe() and "crop_border=4" in s.describe()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.data_range = 1.0  # type: ignore[misc]
    for bad in (dict(data_range=0), dict(data_range=float("nan")), dict(channel="bgr"), dict(crop_border=-1),
                dict(nrmse_norm="median"), dict(data_range=1.0), dict(data_range=255.5),
                dict(vif_sigma_nsq=0), dict(msssim_weights=())):
        with pytest.raises(ValueError):
            MetricSettings(**bad)
    MetricSettings(data_range=1.0, quantize=False)  # the [0, 1] float setting is fine


def test_to_metric_domain():
    s = MetricSettings()
    x = np.array([[-0.1, 0.0, 0.4 / 255, 1.6 / 255, 0.999, 1.2]], np.float32)
    y = to_metric_domain(x, s)
    assert y.dtype == np.float64
    assert y.tolist() == [[0.0, 0.0, 0.0, 2.0, 255.0, 255.0]]  # clipped to [0, 1], rounded
    # same as writing an 8-bit PNG the usual way
    rng = np.random.default_rng(0)
    img = rng.random((17, 19)).astype(np.float32)
    png = (np.clip(img, 0, 1) * 255.0).round().astype(np.uint8)
    assert np.array_equal(to_metric_domain(img, s), png.astype(np.float64))
    f = to_metric_domain(img, MetricSettings(data_range=1.0, quantize=False))
    assert np.array_equal(f, img.astype(np.float64))
    with pytest.raises(TypeError):
        to_metric_domain(png, s)


# ------------------------------------------------------------------------------------- registry
def test_registry_contents():
    names = list_metrics()
    from medsr_bench.benchmark.clinical.measures import CLINICAL_MEASURES
    from medsr_bench.benchmark.metrics.iqa_family import IQA_METRICS

    # every family is found (the folder may hold more: a new metric is one module plus its test)
    assert names[:8] == FR and set(names) >= set(FR) | {"niqe", "lpips", *CLINICAL_MEASURES, *IQA_METRICS}
    for n in names:
        spec = get_metric(n)
        assert spec.name == n and spec.reference and spec.description and spec.unit
        lo, hi = spec.value_range
        assert lo < hi
        assert spec.to_dict()["name"] == n
    known = [n for n in names if n in {*FR, "niqe", "lpips", *CLINICAL_MEASURES, *IQA_METRICS}]
    higher = {n for n in known if get_metric(n).higher_is_better}
    assert higher == {"psnr", "ssim", "ms-ssim", "vif", "dice", "cldice", "improvement", "mos",
                      *(n for n in IQA_METRICS if n not in ("gmsd", "dists"))}
    assert [n for n in known if get_metric(n).needs_weights] == ["lpips", "dists"]
    assert get_metric("niqe").no_reference
    assert get_metric("MSSSIM").name == "ms-ssim" and get_metric("vifp").name == "vif"
    with pytest.raises(KeyError):
        get_metric("nope")


def test_values_within_declared_ranges():
    sr, hr = synthetic_stack(3, 100, 200, dtype=np.uint8, seed=30)
    v, _ = compute_metrics_batch(sr, hr, MetricSettings(), FR + ["niqe"])
    for m, vals in v.items():
        lo, hi = get_metric(m).value_range
        assert np.all((vals >= lo) & (vals <= hi)), m


# ----------------------------------------------------------------------------------------- LPIPS
def test_lpips_missing_weights_is_nan_with_status(monkeypatch, tmp_path):
    monkeypatch.setattr(lp, "weight_dirs", lambda: [tmp_path])
    lp._model.cache_clear()
    sr, hr = synthetic_stack(2, 64, 64, dtype=np.uint8)
    v, notes = compute_metrics_batch(sr, hr, MetricSettings(), ["psnr", "lpips"])
    assert np.all(np.isnan(v["lpips"])) and np.all(np.isfinite(v["psnr"]))
    assert all("lpips: missing weights" in n for n in notes)
    status, why = metric_status("lpips")
    assert status == "missing-weights" and lp.ALEXNET_FILE in why
    assert metric_status("psnr") == ("ok", "")


def test_lpips_network_runs_when_weight_files_exist(monkeypatch, tmp_path):
    """Plumbing only (random weights, so no reference value is claimed): files are found and
    loaded, identical images give 0, different images a positive distance, gray is replicated."""
    torch.manual_seed(0)
    net = lp.LPIPSAlex()
    torch.save({f"features.{k}": v for k, v in net.features.state_dict().items()}, tmp_path / lp.ALEXNET_FILE)
    torch.save({f"lin{k}.model.1.weight": m.weight.detach().abs() for k, m in enumerate(net.lins)},
               tmp_path / lp.LIN_FILES[0])
    monkeypatch.setattr(lp, "weight_dirs", lambda: [tmp_path])
    lp._model.cache_clear()
    try:
        sr, hr = synthetic_stack(2, 64, 64, dtype=np.uint8, seed=2)
        v, notes = compute_metrics_batch(np.stack([hr[0], sr[1]]), hr, MetricSettings(), ["lpips"])
        assert notes == ["", ""]
        assert v["lpips"][0] == pytest.approx(0.0, abs=1e-7) and v["lpips"][1] > 0
    finally:
        lp._model.cache_clear()


def test_matlab_gray_channel_is_rgb2gray_rounded_to_uint8():
    """``channel=matlab-gray``: MATLAB rgb2gray weights (0.298936, 0.587043, 0.114021) of uint8
    RGB, rounded to uint8; compared with skimage-free NumPy arithmetic written here."""
    from medsr_bench.benchmark.metrics import prepare_pair

    rng = np.random.default_rng(5)
    sr = rng.integers(0, 256, (2, 20, 23, 3)).astype(np.uint8)
    hr = rng.integers(0, 256, (2, 20, 23, 3)).astype(np.uint8)
    x, _ = prepare_pair(sr, hr, MetricSettings(channel="matlab-gray"))
    want = np.rint(sr[..., 0] * 0.298936 + sr[..., 1] * 0.587043 + sr[..., 2] * 0.114021)
    assert x.shape == (2, 1, 20, 23)
    assert np.abs(x[:, 0] - want).max() <= 1.0  # weights here are the 6-digit ones
    assert (x[:, 0] == want).mean() > 0.99
    assert np.array_equal(x, np.rint(x))
