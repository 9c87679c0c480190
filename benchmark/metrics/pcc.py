"""PCC: Pearson's correlation coefficient between the SR and the HR image (per image, NumPy).

``PCC = sum((sr - mean(sr)) (hr - mean(hr))) / sqrt(sum((sr - mean(sr))^2) sum((hr - mean(hr))^2))``
over all pixels *and* channels, in float64 (K. Pearson's product-moment correlation; the reference
is ``scipy.stats.pearsonr`` on the flattened images). Unitless, in [-1, 1], higher is better; 1 for
any SR that is an increasing affine map of the HR (``a * hr + b``, ``a > 0``), so it is blind to
the brightness and contrast errors PSNR and MAE see and complements them. NaN with a note when
either image is constant (the correlation is undefined).
"""

from __future__ import annotations

import math

import numpy as np

from medsr_bench.benchmark.metrics.registry import (
    CheckTolerance,
    MetricSpec,
    ReferenceTolerance,
    register_metric,
)


def pcc(sr: np.ndarray, hr: np.ndarray, settings=None) -> tuple[float, str]:
    """Pearson correlation of ``sr`` and ``hr`` (float64 ``(C, H, W)`` in the metric domain).

    Returns ``(value, "")``, or ``(nan, reason)`` when either image has no variance.
    """
    a = sr - sr.mean()
    b = hr - hr.mean()
    saa, sbb = float(np.vdot(a, a)), float(np.vdot(b, b))
    if saa == 0.0 or sbb == 0.0:
        which = "HR" if sbb == 0.0 else "SR"
        return math.nan, f"PCC undefined: {which} is constant (no variance)"
    return float(np.vdot(a, b)) / math.sqrt(saa * sbb), ""


def scipy_pearsonr(sr: np.ndarray, hr: np.ndarray, settings) -> float:
    """``scipy.stats.pearsonr`` of the flattened float64 images (the reference)."""
    from scipy.stats import pearsonr  # start-up cost: tests only

    return float(pearsonr(hr.astype(np.float64).ravel(), sr.astype(np.float64).ravel())[0])


SPEC = register_metric(MetricSpec(
    name="pcc", higher_is_better=True, value_range=(-1.0, 1.0), needs_weights=False,
    reference="scipy.stats.pearsonr on the flattened images", unit="1",
    description="Pearson correlation of SR and HR over all pixels and channels; 1 for any "
                "increasing affine map of HR; NaN when an image is constant",
    fn=pcc, aliases=("pearson",), reference_fn=scipy_pearsonr,
    tolerance=ReferenceTolerance(1e-12, "1e-12: both float64; scipy centres and normalises in "
                                        "another order (observed ~1e-16)"),
    check_tolerance=CheckTolerance(1e-4, 0.0, "1e-4: as SSIM, a [-1, 1] similarity")))
