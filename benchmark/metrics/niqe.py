"""NIQE (no-reference), float64 end to end: BasicSR's feature code (``compute_feature``; the
pristine-model parameters ``niqe_pris_params.npz`` ship inside the basicsr wheel, so it runs offline)
around a float64 port of MATLAB's ``imresize`` (:func:`matlab_imresize`).

Source: A. Mittal, R. Soundararajan, A. C. Bovik, "Making a 'completely blind' image quality
analyzer", IEEE SPL 20(3), 2013, and its official MATLAB release (``niqe_release.zip``, LIVE):
96x96 blocks without overlap, 2 scales, MATLAB bicubic half-scale resize with antialiasing, the
image rounded to integers before scoring. BasicSR 1.4.2 ``calculate_niqe`` follows that code but
casts the image to float32 and resizes in torch float32 (``torch.FloatTensor``); pyiqa 0.1.16's
``imresize`` casts to float32 as well. Here every step is float64 (the MATLAB release computes in
double): this module agrees with pyiqa's ``calculate_niqe`` to about 1e-4 and with BasicSR to about
1e-4 on real images, the difference being their float32 resize (tests/test_metrics_basicsr.py).

Ill-conditioning: the local deviation is ``sqrt(|E_w[x^2] - E_w[x]^2|)`` over a 7x7 Gaussian window.
Where the window covers a constant area (flat background of a CT or X-ray, a saturated region, a
posterised image) the exact value is 0, but the computed one is the rounding noise of that
difference (about ``1e-14 x^2`` in float64, ``1e-7 x^2`` in float32). The normalised coefficients and
AGGD fits of such blocks are then driven by rounding noise, and NIQE can differ between
implementations and precisions by far more than on textured images; a block that is entirely
constant gives NaN features and is left out of the covariance (MATLAB ``nancov``). Treat NIQE of
images with large constant areas as ill-conditioned.

Conventions here: only the SR image is used. The channel image is scaled to [0, 255]
(``x * 255 / data_range``) because the NIQE model was fitted on 8-bit images; RGB images (channel
policy ``rgb``) are scored on their BT.601 Y channel, as BasicSR's default ``convert_to='y'``.
Lower is better. NaN with a note when the image holds fewer than 2 blocks of 96x96 (the feature
covariance is then undefined; BasicSR would raise) or when the computation fails.
"""

from __future__ import annotations

import importlib
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.ndimage import convolve

from medsr_bench.benchmark.metrics.domain import rgb_to_y
from medsr_bench.benchmark.metrics.registry import (
    CheckTolerance,
    MetricSpec,
    ReferenceTolerance,
    register_metric,
)

NIQE_BLOCK = 96


@lru_cache(maxsize=1)
def _basicsr_niqe():
    # imported here, not at module level: basicsr imports torch (start-up cost); the shim first
    importlib.import_module("medsr_bench.compat")
    from basicsr.metrics import niqe as bniqe

    params = np.load(Path(bniqe.__file__).with_name("niqe_pris_params.npz"))
    return (bniqe.compute_feature, params["mu_pris_param"].astype(np.float64),
            params["cov_pris_param"].astype(np.float64), params["gaussian_window"].astype(np.float64))


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' bicubic kernel with a = -0.5 (MATLAB ``imresize`` 'bicubic')."""
    a = np.abs(x)
    return np.where(a <= 1, 1.5 * a**3 - 2.5 * a**2 + 1,
                    np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0.0))


@lru_cache(maxsize=32)
def _resize_matrix(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """``(out_len, in_len)`` float64 matrix of MATLAB ``imresize``'s 1-D bicubic contributions
    (``contributions()`` of imresize.m: antialiased kernel ``scale * cubic(scale x)`` when
    downscaling, rows normalised to sum 1, indices outside the image mirrored with the edge pixel
    repeated)."""
    width = 4.0 / scale if scale < 1 else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(p)[None, :]
    w = scale * _cubic(scale * (u[:, None] - idx)) if scale < 1 else _cubic(u[:, None] - idx)
    w /= w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    m = np.zeros((out_len, in_len), np.float64)
    np.add.at(m, (np.repeat(np.arange(out_len), p), cols.ravel()), w.ravel())
    return m


def matlab_imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` (bicubic, antialiasing on) of a 2-D image, in float64.

    Args:
        img: ``(H, W)`` real array (any range; no clipping or rounding is applied).
        scale: resize factor > 0; output size ``ceil(H scale) x ceil(W scale)`` as MATLAB.

    Returns:
        float64 ``(ceil(H scale), ceil(W scale))``: rows resized first, then columns (the
        separable contributions commute in exact arithmetic; same order as MATLAB and BasicSR).

    Raises:
        ValueError: ``img`` not 2-D or ``scale`` not > 0.
    """
    a = np.asarray(img, dtype=np.float64)
    if a.ndim != 2 or not scale > 0:
        raise ValueError(f"matlab_imresize expects a 2-D image and scale > 0, got shape {a.shape}, scale {scale}")
    h, w = a.shape
    rh = _resize_matrix(h, math.ceil(h * scale), float(scale))
    rw = _resize_matrix(w, math.ceil(w * scale), float(scale))
    return (rh @ a) @ rw.T


def niqe_gray255(img: np.ndarray) -> float:
    """NIQE of one 2-D image in [0, 255], in float64 (rounded to integers first, as the MATLAB
    release and BasicSR); the image is cropped to whole 96x96 blocks.

    Raises:
        ValueError: the image holds no whole 96x96 block.
    """
    compute_feature, mu_pris, cov_pris, win = _basicsr_niqe()
    x = np.round(np.asarray(img, dtype=np.float64))
    nh, nw = x.shape[0] // NIQE_BLOCK, x.shape[1] // NIQE_BLOCK
    if nh * nw == 0:
        raise ValueError(f"NIQE needs at least one 96x96 block, got a {x.shape[0]}x{x.shape[1]} image")
    x = x[:nh * NIQE_BLOCK, :nw * NIQE_BLOCK]
    feats = []
    for scale in (1, 2):
        mu = convolve(x, win, mode="nearest")
        sigma = np.sqrt(np.abs(convolve(x * x, win, mode="nearest") - mu * mu))
        z = (x - mu) / (sigma + 1)  # Eq. 1 (MSCN coefficients), C = 1
        b = NIQE_BLOCK // scale
        feats.append(np.array([compute_feature(z[i * b:(i + 1) * b, j * b:(j + 1) * b])
                               for j in range(nw) for i in range(nh)], dtype=np.float64))
        if scale == 1:
            x = matlab_imresize(x / 255.0, 0.5) * 255.0
    dist = np.concatenate(feats, axis=1)
    mu_dist = np.nanmean(dist, axis=0)
    cov_dist = np.cov(dist[~np.isnan(dist).any(axis=1)], rowvar=False)  # MATLAB nancov
    d = mu_pris - mu_dist
    return float(np.sqrt(np.squeeze(d @ np.linalg.pinv((cov_pris + cov_dist) / 2) @ d.T)))


def niqe(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """NIQE of ``sr`` (``(C, H, W)`` float64 in the metric domain); ``hr`` is ignored."""
    h, w = sr.shape[-2:]
    if (h // NIQE_BLOCK) * (w // NIQE_BLOCK) < 2:
        return math.nan, f"NIQE undefined: {h}x{w} holds fewer than two 96x96 blocks"
    img = sr[0] if sr.shape[0] == 1 else rgb_to_y(np.moveaxis(sr, 0, -1), settings.data_range)
    img = img * (255.0 / settings.data_range)
    try:
        v = niqe_gray255(img)
    except Exception as e:  # noqa: BLE001 - a metric never kills a run
        return math.nan, f"NIQE failed: {type(e).__name__}: {e}"
    if not math.isfinite(v):
        return math.nan, "NIQE not finite (degenerate block statistics, e.g. flat image)"
    return v, ""


register_metric(MetricSpec(
    name="niqe", higher_is_better=False, value_range=(0.0, math.inf), needs_weights=False,
    reference="MATLAB niqe_release (LIVE) in float64; BasicSR calculate_niqe / pyiqa niqe agree to ~1e-4 "
              "(their resize is float32)",
    unit="1", description="Mittal et al. 2013 NIQE, 96x96 blocks, on gray / Y scaled to 0-255; no reference image",
    no_reference=True, fn=niqe,
    tolerance=ReferenceTolerance(1e-6, "1e-6: the basicsr function itself on the same gray / Y plane"),
    check_tolerance=CheckTolerance(0.01, 0.0, "0.01: NIQE is printed to 2 decimals")))
