"""``metric.ct_window``: metrics in Hounsfield units (raw HU and the soft-tissue / bone / lung
windows), the HU recovered from a CT sample's [0, 1] image, and the setting as a sweep axis.

The windowed PSNR / MSE are computed by hand on a synthetic HU slice (clip to ``[L - W/2, L + W/2]``,
``10 log10(W^2 / MSE)``) and must equal the engine's to 1e-9 dB."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from cli_helpers import bench

from medsr_bench.benchmark.metrics import MetricSettings, compute_metrics_batch
from medsr_bench.benchmark.metrics.domain import (
    CT_WINDOWS,
    RAW_HU_RANGE,
    hu_bounds,
    reading_settings,
    to_metric_domain,
)
from medsr_bench.benchmark.tasks import variant_id
from medsr_bench.data_prep import get_protocol
from medsr_bench.data_prep.sample import SampleMeta


def _hu_slice(seed: int = 0) -> np.ndarray:
    """A 64x64 synthetic head slice in HU: air -1000, a soft-tissue disc 20..60 HU, a bone rim
    ~1000 HU, an air pocket -700, plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(yy - 32, xx - 32)
    hu = np.full((64, 64), -1000.0)
    hu[r < 26] = 1000.0
    hu[r < 22] = 40.0 + 20.0 * np.sin(xx[r < 22] / 3.0)
    hu[(yy - 28) ** 2 + (xx - 36) ** 2 < 16] = -700.0
    return hu + rng.normal(0, 5, hu.shape)


def _by_hand_psnr(sr_hu: np.ndarray, hr_hu: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    a = np.clip(sr_hu, lo, hi)
    b = np.clip(hr_hu, lo, hi)
    mse = float(np.mean((a - b) ** 2))
    return 10 * math.log10((hi - lo) ** 2 / mse), mse


@pytest.mark.parametrize("window", ["hu", *CT_WINDOWS])
def test_windowed_psnr_equals_hand_computation(window):
    hr_hu = _hu_slice(0)
    sr_hu = hr_hu + np.random.default_rng(1).normal(0, 30, hr_hu.shape)
    lo_img, hi_img = float(min(hr_hu.min(), sr_hu.min())), float(max(hr_hu.max(), sr_hu.max()))
    to01 = lambda h: (h - lo_img) / (hi_img - lo_img)  # noqa: E731 - the min-max reading of P4
    ms = MetricSettings(ct_window=window, quantize=False)
    vr = np.array([[lo_img, hi_img]])
    srd = to_metric_domain(to01(sr_hu)[None], ms, vr)
    hrd = to_metric_domain(to01(hr_hu)[None], ms, vr)
    lo, hi = hu_bounds(window)
    assert srd.min() >= 0 and srd.max() <= hi - lo
    rs = reading_settings(ms)
    assert rs.data_range == hi - lo  # data_range follows the window width
    vals, _ = compute_metrics_batch(srd, hrd, rs, names=["psnr", "mse"])
    want_psnr, want_mse = _by_hand_psnr(sr_hu, hr_hu, lo, hi)
    assert vals["psnr"][0] == pytest.approx(want_psnr, abs=1e-9)
    assert vals["mse"][0] == pytest.approx(want_mse, rel=1e-9)


def test_window_bounds_are_the_standard_presets():
    assert hu_bounds("soft-tissue") == (-160.0, 240.0)  # W400 / L40
    assert hu_bounds("bone") == (-500.0, 1300.0)  # W1800 / L400
    assert hu_bounds("lung") == (-1350.0, 150.0)  # W1500 / L-600
    assert hu_bounds("hu") == RAW_HU_RANGE == (-1024.0, 3071.0)
    assert reading_settings(MetricSettings(ct_window="hu")).data_range == 4095.0


def test_windows_see_different_tissue():
    """An error only in the air pocket (-700 -> -620 HU): seen by the lung and raw-HU readings,
    invisible under the soft-tissue and bone windows (both clip it to their lower bound)."""
    hr_hu = _hu_slice(2)
    sr_hu = hr_hu.copy()
    pocket = (np.mgrid[:64, :64][0] - 28) ** 2 + (np.mgrid[:64, :64][1] - 36) ** 2 < 16
    sr_hu[pocket] += 80.0
    mse = {}
    for w in ("hu", *CT_WINDOWS):
        a, b = np.clip(sr_hu, *hu_bounds(w)), np.clip(hr_hu, *hu_bounds(w))
        mse[w] = float(np.mean((a - b) ** 2))
    assert mse["lung"] > 0 and mse["hu"] > 0 and mse["bone"] == 0.0 and mse["soft-tissue"] == 0.0
    ms = MetricSettings(ct_window="lung", quantize=False)
    vr = np.array([[-2000.0, 2000.0]])
    v, _ = compute_metrics_batch(to_metric_domain((sr_hu[None] + 2000) / 4000, ms, vr),
                                 to_metric_domain((hr_hu[None] + 2000) / 4000, ms, vr),
                                 reading_settings(ms), names=["mse"])
    assert v["mse"][0] == pytest.approx(mse["lung"], rel=1e-9)


def test_default_reading_is_unchanged_and_bad_values_refused():
    x = np.random.default_rng(3).random((2, 8, 8))
    ms = MetricSettings()
    assert ms.ct_window == "none"
    np.testing.assert_array_equal(to_metric_domain(x, ms), np.rint(x * 255.0))
    assert reading_settings(ms) is ms
    with pytest.raises(ValueError, match="ct_window must be one of"):
        MetricSettings(ct_window="brain")
    with pytest.raises(ValueError, match="needs the HU of each image"):
        to_metric_domain(x, MetricSettings(ct_window="bone"))
    with pytest.raises(ValueError, match="value_range must be"):
        to_metric_domain(x, MetricSettings(ct_window="bone"), np.zeros((3, 2)))


def test_quantized_window_rounds_to_integer_hu():
    ms = MetricSettings(ct_window="soft-tissue")
    y = to_metric_domain(np.array([[0.0, 0.25, 0.5, 1.0]]), ms, np.array([[-1000.0, 1000.0]]))
    np.testing.assert_array_equal(y, [[0.0, 0.0, 160.0, 400.0]])  # -1000, -500 -> 0; 0 HU -> 160


def _meta(**extra) -> SampleMeta:
    return SampleMeta(dataset="ct-head-standin", image_id="a", split="test", scale=4,
                      source="CT_head_DICOM/a.dcm", source_sha256="", orig_dtype="int16",
                      orig_data_range=1.0, extra=extra)


def test_cptac_hu_range_from_sample_extra():
    p = get_protocol("cptac-gbm")
    assert p.hu_range(_meta(modality="CT", rescaled_min=-1024.0, rescaled_max=2000.0)) == (-1024.0, 2000.0)
    assert p.hu_range(_meta(modality="CT", rescaled_min=-1024.0, rescaled_max=2000.0,
                            photometric="MONOCHROME1")) == (2000.0, -1024.0)
    assert p.hu_range(_meta(modality="MR", rescaled_min=0.0, rescaled_max=900.0)) is None
    win = get_protocol("cptac-gbm", dataclasses.replace(p.params, intensity="window"))
    assert win.hu_range(_meta(modality="CT")) == (0.0, 80.0)  # brain window 40/80


def test_ct_window_is_part_of_the_variant_identity():
    ids = {variant_id("beallor", "cptac-gbm", "h", "test", dataclasses.asdict(MetricSettings(ct_window=w)), {})
           for w in ("none", "hu", *CT_WINDOWS)}
    assert len(ids) == 5


@pytest.mark.slow
def test_sweep_over_ct_windows_scores_ct_in_hu_and_leaves_other_images_nan(bench_env):
    from medsr_bench.benchmark.results_io import read_per_image

    out = bench_env / "sweep"
    r = bench("sweep", "--suite", "demo", "--limit", "1", "--models", "bicubic",
              "--grid", "metric.ct_window=none,soft-tissue,bone", "--workers", "1", "--out", out)
    assert r.exit_code == 0, r.output
    df = read_per_image(out / "per_image.csv")
    ct = df[df.dataset == "demo-ct"]
    assert ct.variant.nunique() == 3 and ct.psnr.notna().all() and ct.psnr.nunique() == 3
    assert "psnr@body" in df.columns and ct["psnr@body"].notna().all()
    cxr = df[df.dataset == "demo-cxr"]
    assert cxr.psnr.isna().sum() == 2 and cxr.note.str.contains("needs HU").sum() == 2
