"""Structural similarity: SSIM (Wang et al. 2004) and MS-SSIM (Wang, Simoncelli & Bovik 2003).

Per image, NumPy, float64. Inputs are ``(C, H, W)`` float64 arrays in the metric domain
``[0, data_range]`` with the channel policy and ``crop_border`` already applied.

SSIM (Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from error
visibility to structural similarity", IEEE TIP 13(4), 2004, Eq. 13): local statistics with an 11x11
Gaussian window (sigma 1.5, normalised), population (co)variances,
``C1 = (K1 L)^2``, ``C2 = (K2 L)^2`` with ``L = data_range``, K1 = 0.01, K2 = 0.03;
``SSIM map = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))``,
averaged over the *valid* region (pixels at least 5 from the border, as the reference MATLAB
``ssim_index.m``, skimage's crop of ``(win_size - 1) // 2`` and BasicSR's ``[5:-5, 5:-5]``), then
over channels. Identical to ``skimage.metrics.structural_similarity(gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=L)`` and to BasicSR ``calculate_ssim`` for
L = 255. Constant images are well defined (C1, C2 > 0): e.g. two equal constants give 1.

MS-SSIM (default ``msssim_downsample="matlab"``) follows Wang's reference MATLAB ``msssim.m``:
5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); at each scale the mean SSIM and the
mean contrast-structure term ``cs = (2 s_xy + C2) / (s_x^2 + s_y^2 + C2)`` over the valid region
(11x11 Gaussian, sigma 1.5, as ``ssim_index_new.m``); between scales ``imfilter(x, ones(2)/4,
'symmetric', 'same')`` then ``x(1:2:end, 1:2:end)``. MATLAB anchors an even 2x2 kernel at its first
tap, so each kept output averages the pair ``(x[2k], x[2k+1])`` (0-based) with ``x[n] = x[n-1]``
past the end (:func:`box2_decimate_matlab`). sewar's reading (``msssim_downsample="sewar"``) uses
``scipy.ndimage.uniform_filter(size=2)``, whose window is anchored at its second tap, so it averages
``(x[2k-1], x[2k])`` with ``x[-1] = x[0]`` (:func:`box2_decimate`): the pairs are shifted by one
pixel, which moves MS-SSIM on images with sharp edges at odd/even boundaries (posterised images:
~1e-2). ``MS-SSIM = Re(prod_{j<M} cs_j^{w_j} * ssim_M^{w_M})`` with complex powers (so a negative
``cs`` gives a real part rather than NaN, as sewar; MATLAB's ``.^`` would return the complex value).
When the short side is too small for 5 scales the number of scales is reduced to
``floor(log2(min_side / 11)) + 1`` and the weights truncated (not renormalised), as sewar does
(``msssim.m`` returns ``-Inf`` there). Deviation from sewar, on purpose: for RGB, sewar's 2x2 filter
also runs across the channel axis (mixing R, G, B after the first scale); here each channel is
filtered separately. For single-channel images (``gray`` / ``y``) the two agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.ndimage import correlate1d

from medsr_bench.benchmark.metrics import _references as ref
from medsr_bench.benchmark.metrics._kernels import gaussian_taps, gaussian_valid
from medsr_bench.benchmark.metrics.registry import (
    CheckTolerance,
    MetricSpec,
    ReferenceTolerance,
    register_metric,
)

SSIM_WIN = 11
SSIM_SIGMA = 1.5


def ssim_cs_sums(x: np.ndarray, y: np.ndarray, data_range: float, k1: float = 0.01, k2: float = 0.03,
                 filt: Callable[[np.ndarray, int, float], np.ndarray] = gaussian_valid,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Sums of the SSIM map and of the contrast-structure map ``cs`` over the valid region.

    Four maps are filtered: ``x``, ``y``, ``x^2 + y^2`` and ``x y`` (SSIM needs only the sum
    ``s_x^2 + s_y^2``); the formula runs in place on the filtered maps.

    Args:
        x, y: float64 ``(..., h, w)`` with ``h, w >= 11`` (a whole image, or a band of rows of one:
            the valid outputs of a band of rows ``[r, r + b + 10)`` are the output rows
            ``[r, r + b)`` of the whole image, so sums over bands add up).
        data_range: L in ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``.
        filt: ``filt(a, size, sigma)`` -> valid Gaussian filter of the last two axes of ``a``
            (SciPy here; OpenCV in the batched engine).

    Returns:
        ``(ssim_sum, cs_sum)``: float64 arrays of shape ``x.shape[:-2]``; divide by the number of
        valid pixels ``(h - 10) (w - 10)`` (summed over bands) for the means.
    """
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    mx = filt(x, SSIM_WIN, SSIM_SIGMA)
    my = filt(y, SSIM_WIN, SSIM_SIGMA)
    q = x * x
    q += y * y
    vsum = filt(q, SSIM_WIN, SSIM_SIGMA)  # E[x^2 + y^2]
    sxy = filt(x * y, SSIM_WIN, SSIM_SIGMA)  # E[x y]
    mxy = mx * my
    m2 = mx * mx
    m2 += my * my
    vsum -= m2  # s_x^2 + s_y^2
    vsum += c2
    sxy -= mxy
    sxy *= 2.0
    sxy += c2
    cs = np.divide(sxy, vsum, out=sxy)
    mxy *= 2.0
    mxy += c1
    m2 += c1
    lum = np.divide(mxy, m2, out=mxy)
    axes = (-2, -1)
    cs_sum = cs.sum(axis=axes)
    lum *= cs
    return lum.sum(axis=axes), cs_sum


def ssim_maps(x: np.ndarray, y: np.ndarray, data_range: float, k1: float = 0.01,
              k2: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """SSIM map and contrast-structure map over the valid region (Eq. 13, see module doc); the
    per-pixel form of :func:`ssim_cs_sums`, used by the diagnostic-region metrics.

    Args:
        x, y: float64 ``(C, H, W)`` with ``H, W >= 11``.
        data_range: L in ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``.

    Returns:
        ``(ssim_map, cs_map)``, float64 ``(C, H - 10, W - 10)``; map pixel ``[i, j]`` belongs to
        image pixel ``[i + 5, j + 5]``.
    """
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    mx = gaussian_valid(x, SSIM_WIN, SSIM_SIGMA)
    my = gaussian_valid(y, SSIM_WIN, SSIM_SIGMA)
    sxx = gaussian_valid(x * x, SSIM_WIN, SSIM_SIGMA) - mx * mx
    syy = gaussian_valid(y * y, SSIM_WIN, SSIM_SIGMA) - my * my
    sxy = gaussian_valid(x * y, SSIM_WIN, SSIM_SIGMA) - mx * my
    cs_map = (2.0 * sxy + c2) / (sxx + syy + c2)
    ssim_map = (2.0 * mx * my + c1) / (mx * mx + my * my + c1) * cs_map
    return ssim_map, cs_map


def ssim3d(x: np.ndarray, y: np.ndarray, data_range: float, k1: float = 0.01, k2: float = 0.03) -> float:
    """3-D (n-D) SSIM of two volumes: Eq. 13 with the 11-tap Gaussian (sigma 1.5) applied along
    every axis (an 11x11x11 separable window for a volume), population (co)variances, and the map
    averaged over the valid region (5 voxels from every face). Same as
    ``skimage.metrics.structural_similarity(x, y, data_range=L, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)`` on the n-D arrays (tests/test_metrics_volume.py: 1e-12).

    Args:
        x, y: same-shape float arrays ``(D, H, W)`` (or any rank), every side >= 11, in the metric
            domain ``[0, data_range]``.
        data_range: L in ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``.

    Returns:
        The mean SSIM (float).

    Raises:
        ValueError: shape mismatch or a side shorter than 11.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or min(x.shape) < SSIM_WIN:
        raise ValueError(f"ssim3d needs two same-shape arrays with every side >= {SSIM_WIN}, "
                         f"got {x.shape} and {y.shape}")
    taps = gaussian_taps(SSIM_WIN, SSIM_SIGMA)
    r = SSIM_WIN // 2
    valid = tuple(slice(r, n - r) for n in x.shape)

    def filt(a: np.ndarray) -> np.ndarray:
        for ax in range(a.ndim):
            a = correlate1d(a, taps, axis=ax, mode="constant")
        return a[valid]

    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx * mx
    syy = filt(y * y) - my * my
    sxy = filt(x * y) - mx * my
    smap = (2 * mx * my + c1) * (2 * sxy + c2) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(smap.mean())


def ssim_and_cs(x: np.ndarray, y: np.ndarray, data_range: float, k1: float = 0.01,
                k2: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean SSIM and mean contrast-structure ``cs`` over the valid region.

    Args:
        x, y: float64 ``(C, H, W)`` with ``H, W >= 11``.
        data_range: L in ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``.

    Returns:
        ``(ssim, cs)``, two float64 arrays ``(C,)``.
    """
    s, c = ssim_cs_sums(x, y, data_range, k1, k2)
    n = (x.shape[-2] - SSIM_WIN + 1) * (x.shape[-1] - SSIM_WIN + 1)
    return s / n, c / n


def ssim(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """Mean SSIM (Wang 2004 settings), averaged over channels; NaN if a side is < 11 pixels."""
    if min(sr.shape[-2:]) < SSIM_WIN:
        return math.nan, f"SSIM undefined: image {sr.shape[-2]}x{sr.shape[-1]} is smaller than the 11x11 window"
    s, _ = ssim_and_cs(sr, hr, settings.data_range, settings.ssim_k1, settings.ssim_k2)
    return float(s.mean()), ""


def box2_decimate(x: np.ndarray) -> np.ndarray:
    """sewar's MS-SSIM downsampling of the last two axes: ``uniform_filter(size=2)`` then ``[::2]``.

    ``out[k] = (x[2k - 1] + x[2k]) / 2`` with ``x[-1] = x[0]`` ('reflect' boundary), per axis;
    output length ``ceil(n / 2)``.
    """
    p = np.concatenate([x[..., :1, :], x], axis=-2)
    p = np.concatenate([p[..., :, :1], p], axis=-1)
    h, w = x.shape[-2:]
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    p = p[..., : 2 * h2, : 2 * w2]
    p = 0.5 * (p[..., 0::2, :] + p[..., 1::2, :])
    return 0.5 * (p[..., :, 0::2] + p[..., :, 1::2])


def box2_decimate_matlab(x: np.ndarray) -> np.ndarray:
    """``msssim.m``'s downsampling of the last two axes: ``imfilter(x, ones(2)/4, 'symmetric',
    'same')`` then ``x(1:2:end, 1:2:end)``.

    ``out[k] = (x[2k] + x[2k + 1]) / 2`` with ``x[n] = x[n - 1]`` ('symmetric' boundary), per axis;
    output length ``ceil(n / 2)``. float64 in, float64 out.
    """
    h, w = x.shape[-2:]
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    p = np.concatenate([x, x[..., -1:, :]], axis=-2) if h % 2 else x
    p = np.concatenate([p, p[..., :, -1:]], axis=-1) if w % 2 else p
    p = 0.5 * (p[..., 0:2 * h2:2, :] + p[..., 1:2 * h2:2, :])
    return 0.5 * (p[..., :, 0:2 * w2:2] + p[..., :, 1:2 * w2:2])


MSSSIM_DOWNSAMPLERS = {"matlab": box2_decimate_matlab, "sewar": box2_decimate}
"""``MetricSettings.msssim_downsample`` -> the NumPy 2x downsampling between MS-SSIM scales."""


def msssim_scales(h: int, w: int, n_weights: int) -> int:
    """Number of MS-SSIM scales used for an ``h x w`` image (sewar's cap), 0 if smaller than 11."""
    m = min(h, w)
    if m < SSIM_WIN:
        return 0
    return min(n_weights, int(math.floor(math.log2(m / SSIM_WIN))) + 1)


def combine_msssim(ssims: np.ndarray, css: np.ndarray, weights: np.ndarray) -> float:
    """``Re(prod(cs[:-1] ** w[:-1]) * ssim[-1] ** w[-1])`` with complex powers (sewar)."""
    n = len(ssims)
    w = np.asarray(weights[:n], dtype=np.float64)
    val = np.prod(css[: n - 1].astype(np.complex128) ** w[: n - 1]) * (
        complex(ssims[n - 1]) ** w[n - 1])
    return float(np.real(val))


def msssim(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """MS-SSIM as ``msssim.m`` or sewar ``msssim`` by ``settings.msssim_downsample`` (module doc); NaN if a side is < 11 pixels."""
    n = msssim_scales(sr.shape[-2], sr.shape[-1], len(settings.msssim_weights))
    if n == 0:
        return math.nan, f"MS-SSIM undefined: image {sr.shape[-2]}x{sr.shape[-1]} is smaller than the 11x11 window"
    ssims = np.empty(n)
    css = np.empty(n)
    down = MSSSIM_DOWNSAMPLERS[settings.msssim_downsample]
    x, y = sr, hr
    for j in range(n):
        s, c = ssim_and_cs(x, y, settings.data_range, settings.ssim_k1, settings.ssim_k2)
        ssims[j], css[j] = s.mean(), c.mean()
        if j < n - 1:
            x, y = down(x), down(y)
    return combine_msssim(ssims, css, np.asarray(settings.msssim_weights)), ""


register_metric(MetricSpec(
    name="ssim", higher_is_better=True, value_range=(-1.0, 1.0), needs_weights=False,
    reference="skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, "
    "use_sample_covariance=False, data_range=...); basicsr.metrics.calculate_ssim(crop_border, test_y_channel)",
    unit="1", description="Wang et al. 2004 (Eq. 13): Gaussian 11x11 sigma 1.5, K1 0.01, K2 0.03, "
    "mean over the valid region, averaged over channels", fn=ssim,
    batched="medsr_bench.benchmark.metrics.engine:compute_batch", reference_fn=ref.skimage_ssim,
    tolerance=ReferenceTolerance(1e-6, "1e-6: float64 code, observed ~1e-15 (summation order)"),
    check_tolerance=CheckTolerance(1e-4, 0.0, "1e-4: 10x the reassociation drift; papers print "
                                              "SSIM to 2-4 decimals")))
register_metric(MetricSpec(
    name="ms-ssim", higher_is_better=True, value_range=(-1.0, 1.0), needs_weights=False,
    reference="Wang's msssim.m (port in tests/msssim_m_port.py); msssim_downsample=sewar: "
    "sewar.full_ref.msssim(MAX=data_range) (grayscale; RGB filtered per channel here)",
    unit="1", description="Wang, Simoncelli & Bovik 2003 multi-scale SSIM, 5 scales, msssim.m 2x2 "
    "downsampling by default (metric.msssim_downsample)",
    fn=msssim, aliases=("msssim", "ms_ssim"),
    batched="medsr_bench.benchmark.metrics.engine:compute_batch", reference_fn=ref.sewar_msssim,
    tolerance=ReferenceTolerance(1e-6, "1e-6: float64 code, observed ~1e-15 against msssim.m and sewar"),
    check_tolerance=CheckTolerance(1e-4, 0.0, "as SSIM")))
