"""VIFp: pixel-domain, multi-scale Visual Information Fidelity (per image, NumPy, float64).

Source: H. R. Sheikh and A. C. Bovik, "Image information and visual quality", IEEE TIP 15(2), 2006,
and the authors' pixel-domain MATLAB release ``vifp_mscale.m``; the tested reference is
``sewar.full_ref.vifp`` (sigma_nsq = 2), whose conventions are reproduced exactly:

- 4 scales s = 1..4 with Gaussian windows of size ``N = 2^(5-s) + 1`` (17, 9, 5, 3) and
  ``sigma = N / 5``; for s > 1 the image is first filtered with that scale's window ('valid') and
  decimated by 2 (``[::2, ::2]``).
- local statistics with the same window ('valid'): ``s_x^2``, ``s_y^2``, ``s_xy`` (population);
  negative variances set to 0; ``g = s_xy / (s_x^2 + eps)``, ``s_v^2 = s_y^2 - g s_xy`` with
  eps = 1e-10; where ``s_x^2 < eps``: g = 0, ``s_v^2 = s_y^2``, ``s_x^2 = 0``; where ``s_y^2 < eps``:
  g = 0, ``s_v^2 = 0``; where g < 0: ``s_v^2 = s_y^2``, g = 0; ``s_v^2 = max(s_v^2, eps)``.
- ``VIF = sum_s sum log10(1 + g^2 s_x^2 / (s_v^2 + sigma_n^2)) / sum_s sum log10(1 + s_x^2 / sigma_n^2)``
  per channel, then averaged over channels. x is the reference (HR), y the distorted (SR) image.

``sigma_n^2`` is an absolute variance, so VIFp depends on the intensity scale: with
``settings.vif_rescale`` (default) images are multiplied by ``255 / data_range`` first and
``sigma_n^2 = 2`` keeps its 8-bit meaning. Undefined cases give NaN with a note: an HR without any
local variance (denominator 0, e.g. a constant image) or an image too small for the 4-scale
pyramid (short side < 41 pixels).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from medsr_bench.benchmark.metrics import _references as ref
from medsr_bench.benchmark.metrics._kernels import gaussian_valid
from medsr_bench.benchmark.metrics.registry import (
    CheckTolerance,
    MetricSpec,
    ReferenceTolerance,
    register_metric,
)

VIF_EPS = 1e-10
VIF_SCALES = 4
_LN10 = math.log(10.0)


def vif_windows() -> list[tuple[int, float]]:
    """``[(N, sigma), ...]`` for the 4 scales: (17, 3.4), (9, 1.8), (5, 1.0), (3, 0.6)."""
    out = []
    for s in range(1, VIF_SCALES + 1):
        n = 2 ** (VIF_SCALES - s + 1) + 1
        out.append((n, n / 5.0))
    return out


def vif_min_size() -> int:
    """Smallest side length for which every scale has at least one valid pixel (41)."""
    m = 1
    while True:
        length, ok = m, True
        for s, (n, _) in enumerate(vif_windows()):
            if s > 0:
                length = length - n + 1
                if length < 1:
                    ok = False
                    break
                length = (length + 1) // 2
            if length - n + 1 < 1:
                ok = False
                break
        if ok:
            return m
        m += 1


VIF_MIN_SIZE = vif_min_size()


def vif_stats(sx: np.ndarray, sy: np.ndarray, sxy: np.ndarray, sigma_nsq: float) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator terms of one scale (sewar / vifp_mscale.m clamping), summed over
    the last two axes. Inputs are local (co)variances of reference x and distorted y, float64 of
    one shape; they are overwritten.

    The clamping of the reference reads: ``sx, sy >= 0``; ``g = sxy / (sx + eps)``,
    ``sv = sy - g sxy``; ``sx < eps``: g = 0, sv = sy, sx = 0; ``sy < eps``: g = 0, sv = 0;
    ``g < 0``: sv = sy, g = 0; ``sv = max(sv, eps)``. Every override sets g = 0, which makes the
    numerator term ``log10(1 + g^2 sx / (sv + sigma_nsq))`` exactly 0 whatever sv is, so it is
    computed here as that term where ``sx >= eps``, ``sy >= eps`` and ``g >= 0``, and 0 elsewhere
    (same values, fewer passes); the denominator uses ``sx`` set to 0 where ``sx < eps``.
    """
    eps = VIF_EPS
    np.maximum(sx, 0.0, out=sx)
    np.maximum(sy, 0.0, out=sy)
    keep = sx >= eps
    keep &= sy >= eps
    g = sx + eps
    np.divide(sxy, g, out=g)
    keep &= g >= 0.0
    sv = np.multiply(g, sxy, out=sxy)
    np.subtract(sy, sv, out=sv)
    np.maximum(sv, eps, out=sv)
    sv += sigma_nsq
    g *= g
    g *= sx
    g /= sv
    g *= keep
    axes = (-2, -1)
    num = np.log1p(g, out=g).sum(axis=axes)
    sx *= sx >= eps
    sx /= sigma_nsq
    den = np.log1p(sx, out=sx).sum(axis=axes)
    return num / _LN10, den / _LN10


def vif_scale_sums(ref: np.ndarray, dist: np.ndarray, size: int, sigma: float, sigma_nsq: float,
                   filt: Callable[[np.ndarray, int, float], np.ndarray] = gaussian_valid,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`vif_stats` of one scale from the images: local statistics with the scale's Gaussian
    window (``size``, ``sigma``; 'valid'), then the clamped sums.

    Args:
        ref, dist: float64 ``(..., h, w)`` (reference = HR, distorted = SR), already rescaled;
            a band of rows works as in :func:`benchmark.metrics.ssim.ssim_cs_sums`.
        filt: ``filt(a, size, sigma)`` -> valid Gaussian filter of the last two axes.

    Returns:
        ``(num, den)`` float64 of shape ``ref.shape[:-2]``.
    """
    mx = filt(ref, size, sigma)
    my = filt(dist, size, sigma)
    sxx = filt(ref * ref, size, sigma)
    syy = filt(dist * dist, size, sigma)
    sxy = filt(ref * dist, size, sigma)
    sxx -= mx * mx
    syy -= my * my
    mx *= my
    sxy -= mx
    return vif_stats(sxx, syy, sxy, sigma_nsq)


def vif(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """VIFp of distorted ``sr`` against reference ``hr`` (``(C, H, W)`` float64); see module doc."""
    h, w = sr.shape[-2:]
    if min(h, w) < VIF_MIN_SIZE:
        return math.nan, f"VIFp undefined: image {h}x{w} is smaller than {VIF_MIN_SIZE} px (4-scale pyramid)"
    x, y = hr, sr
    if settings.vif_rescale:
        f = 255.0 / settings.data_range
        x, y = x * f, y * f
    num = np.zeros(x.shape[0])
    den = np.zeros(x.shape[0])
    for s, (n, sigma) in enumerate(vif_windows()):
        if s > 0:
            x = gaussian_valid(x, n, sigma)[..., ::2, ::2]
            y = gaussian_valid(y, n, sigma)[..., ::2, ::2]
        a, b = vif_scale_sums(x, y, n, sigma, settings.vif_sigma_nsq)
        num += a
        den += b
    return vif_from_sums(num, den)


def vif_from_sums(num: np.ndarray, den: np.ndarray) -> tuple[float, str]:
    """Per-channel ``num / den`` averaged over channels, or NaN with a reason if any ``den`` is 0."""
    if np.any(den == 0):
        return math.nan, "VIFp undefined: HR has no local variance (denominator 0, e.g. constant image)"
    return float(np.mean(num / den)), ""


register_metric(MetricSpec(
    name="vif", higher_is_better=True, value_range=(0.0, math.inf), needs_weights=False,
    reference="sewar.full_ref.vifp(GT=hr, P=sr, sigma_nsq=2) on images scaled to 255 / data_range",
    unit="1", description="Sheikh & Bovik 2006 pixel-domain multi-scale VIF (vifp_mscale.m), sigma_nsq 2; "
    "1 for identical images, > 1 possible for contrast enhancement", fn=vif, aliases=("vifp",),
    batched="medsr_bench.benchmark.metrics.engine:compute_batch", reference_fn=ref.sewar_vifp,
    tolerance=ReferenceTolerance(1e-4, "1e-4: observed ~1e-13; sewar sums the log terms in another "
                                       "order over a 4-scale pyramid"),
    check_tolerance=CheckTolerance(1e-4, 0.0, "1e-4: 10x the reassociation drift of the float64 VIF")))
