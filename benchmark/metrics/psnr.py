"""Pixel-error metrics: PSNR, MSE, RMSE, MAE, NRMSE (per image, NumPy, float64).

All functions take one image pair as float64 arrays ``(C, H, W)`` in the metric domain
``[0, data_range]`` (channel policy and ``crop_border`` already applied, see
:func:`benchmark.metrics.domain.prepare_pair`) and return ``(value, note)``. Means run over all
pixels *and* channels (as ``skimage.metrics`` and BasicSR's ``calculate_psnr`` do for RGB).

Definitions (https://en.wikipedia.org/wiki/Peak_signal-to-noise_ratio,
https://en.wikipedia.org/wiki/Root-mean-square_deviation):

- ``MSE = mean((sr - hr)^2)``, ``RMSE = sqrt(MSE)``, ``MAE = mean(|sr - hr|)`` (metric-domain units).
- ``PSNR = 10 log10(data_range^2 / MSE)`` dB; ``inf`` when MSE = 0 (identical images).
- ``NRMSE = RMSE / D`` with D = ``mean(hr)`` (``"mean"``, Rashid et al. P3), ``sqrt(mean(hr^2))``
  (``"euclidean"``, skimage's default) or ``max(hr) - min(hr)`` (``"min-max"``); NaN with a note
  when D = 0.
"""

from __future__ import annotations

import math

import numpy as np

from medsr_bench.benchmark.metrics import _references as ref
from medsr_bench.benchmark.metrics.registry import (
    CheckTolerance,
    MetricSpec,
    ReferenceTolerance,
    register_metric,
)

INF = math.inf
NAN = math.nan


def mse(sr: np.ndarray, hr: np.ndarray, settings=None) -> tuple[float, str]:
    """Mean squared error (float64 accumulation), in metric-domain units squared."""
    d = sr - hr
    return float(np.mean(d * d)), ""


def rmse(sr: np.ndarray, hr: np.ndarray, settings=None) -> tuple[float, str]:
    """Root mean squared error, ``sqrt(MSE)``."""
    return math.sqrt(mse(sr, hr)[0]), ""


def mae(sr: np.ndarray, hr: np.ndarray, settings=None) -> tuple[float, str]:
    """Mean absolute error, ``mean(|sr - hr|)``."""
    return float(np.mean(np.abs(sr - hr))), ""


def psnr_from_mse(m: float, data_range: float) -> tuple[float, str]:
    """``10 log10(data_range^2 / m)``; ``(inf, note)`` for ``m == 0``."""
    if m == 0.0:
        return INF, "identical images (MSE = 0): PSNR = inf"
    return 10.0 * math.log10(data_range * data_range / m), ""


def psnr(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """Peak signal-to-noise ratio in dB with MAX = ``settings.data_range`` (never inferred)."""
    return psnr_from_mse(mse(sr, hr)[0], settings.data_range)


def nrmse_denominator(hr: np.ndarray, norm: str) -> float:
    """NRMSE denominator of ``hr`` for ``norm`` in ``mean | euclidean | min-max``."""
    if norm == "mean":
        return float(np.mean(hr))
    if norm == "euclidean":
        return math.sqrt(float(np.mean(hr * hr)))
    if norm == "min-max":
        return float(np.max(hr) - np.min(hr))
    raise ValueError(f"unknown nrmse_norm {norm!r}")


def nrmse_from(rmse_value: float, denom: float, norm: str) -> tuple[float, str]:
    """``rmse / denom``, or ``(nan, reason)`` when the denominator is 0."""
    if denom == 0.0:
        return NAN, f"NRMSE undefined: {norm} normaliser of HR is 0 (blank or constant HR)"
    return rmse_value / denom, ""


def nrmse(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """Normalised RMSE, ``RMSE / D(hr)`` with D chosen by ``settings.nrmse_norm``."""
    return nrmse_from(rmse(sr, hr)[0], nrmse_denominator(hr, settings.nrmse_norm), settings.nrmse_norm)


_ENGINE = "medsr_bench.benchmark.metrics.engine:compute_batch"  # fused batched pass (imports this module)
_EXACT = ReferenceTolerance(1e-6, "1e-6: float64 code, observed ~1e-13 (summation order)")
_ERROR_CHECK = CheckTolerance(0.0, 1e-3, "0.1 % relative: units depend on data_range (8-bit or [0, 1])")

register_metric(MetricSpec(
    name="psnr", higher_is_better=True, value_range=(-INF, INF), needs_weights=False,
    reference="skimage.metrics.peak_signal_noise_ratio(data_range=...); "
    "basicsr.metrics.calculate_psnr(crop_border, test_y_channel)",
    unit="dB", description="10 log10(data_range^2 / MSE); inf for identical images", fn=psnr,
    batched=_ENGINE, reference_fn=ref.skimage_psnr,
    tolerance=ReferenceTolerance(1e-6, "1e-6 dB: float64 code, observed ~1e-13"),
    check_tolerance=CheckTolerance(0.01, 0.0, "0.01 dB: 10x the drift of float32 reassociation on "
                                              "CPU; papers print PSNR to 2 decimals")))
register_metric(MetricSpec(
    name="mse", higher_is_better=False, value_range=(0.0, INF), needs_weights=False,
    reference="skimage.metrics.mean_squared_error; sewar.full_ref.mse",
    unit="intensity^2", description="mean((sr - hr)^2) in metric-domain units", fn=mse,
    batched=_ENGINE, reference_fn=ref.skimage_mse, tolerance=_EXACT, check_tolerance=_ERROR_CHECK))
register_metric(MetricSpec(
    name="rmse", higher_is_better=False, value_range=(0.0, INF), needs_weights=False,
    reference="sewar.full_ref.rmse", unit="intensity",
    description="sqrt(MSE) in metric-domain units", fn=rmse,
    batched=_ENGINE, reference_fn=ref.sewar_rmse, tolerance=_EXACT,
    check_tolerance=CheckTolerance(0.0, 1e-3, "as MSE")))
register_metric(MetricSpec(
    name="mae", higher_is_better=False, value_range=(0.0, INF), needs_weights=False,
    reference="numpy mean(|sr - hr|) in float64 (no library function; P3 Rashid et al.)",
    unit="intensity", description="mean(|sr - hr|) in metric-domain units", fn=mae,
    batched=_ENGINE, reference_fn=ref.numpy_mae, tolerance=_EXACT,
    check_tolerance=CheckTolerance(0.0, 1e-3, "as MSE")))
register_metric(MetricSpec(
    name="nrmse", higher_is_better=False, value_range=(0.0, INF), needs_weights=False,
    reference="skimage.metrics.normalized_root_mse(normalization='mean'|'euclidean'|'min-max')",
    unit="1", description="RMSE / D(hr); D = mean(hr) by default (P3), NaN when D = 0", fn=nrmse,
    batched=_ENGINE, reference_fn=ref.skimage_nrmse, tolerance=_EXACT,
    check_tolerance=CheckTolerance(0.0, 1e-3, "as MSE (unitless but scale-free)")))
