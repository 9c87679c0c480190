"""VSI: visual saliency-induced index (higher is better, 1 for identical images).

Source: L. Zhang, Y. Shen, H. Li, "VSI: a visual saliency-induced index for perceptual image
quality assessment", IEEE TIP 23(10), 2014, eqs. (4)-(11), with the authors' ``VSI.m`` and its
SDSP saliency (Zhang, Gu, Li, ICIP 2013): images RGB on the 8-bit scale.

- Saliency VS (SDSP): each channel resized to 256x256 (bilinear), CIELab (sRGB, D65 white);
  frequency prior = magnitude of the three Lab planes filtered by a log-Gabor
  (``omega_0 = 0.021``, ``sigma_F = 1.34``, zero outside radius 0.5); location prior
  ``exp(-d^2 / 145^2)`` (d: distance to the centre ``(rows/2, cols/2)``, 1-based pixels); colour prior
  ``1 - exp(-(a'^2 + b'^2) / 0.001^2)`` on min-max normalised a, b; product resized back (bilinear)
  and min-max scaled to [0, 1].
- LMN opponent colours ``L = .06R + .63G + .27B``, ``M = .30R + .04G - .35B``,
  ``N = .34R - .60G + .17B``; every map reduced by the FSIM rule (``F = max(1, round(min(H, W) / 256))``,
  ``F x F`` mean ``'same'``, every F-th pixel); Scharr gradient magnitude of L.
- ``VSI = sum(S_VS S_G^0.40 Re((S_M S_N)^0.02) VS_m) / sum(VS_m)`` with the similarity
  ``(2 a b + C) / (a^2 + b^2 + C)``, ``C_VS = 1.27``, ``C_G = 386``, ``C_C = 130``,
  ``VS_m = max(VS_r, VS_d)``.

Resizes use torch's bilinear ``interpolate`` (half-pixel centres, ``antialias=True`` when
shrinking), the closest match of MATLAB ``imresize(..., 'bilinear')``.
Colour convention: VSI is defined on RGB; a 1-channel image (``gray``, ``y``, ``matlab-gray``) is
replicated to 3 channels (as pyiqa does). Values are rescaled from ``[0, data_range]`` to [0, 255].
Reference: pyiqa 0.1.16 ``pyiqa.archs.vsi_arch.vsi``, which departs from VSI.m in three places
(it resizes without antialiasing and back with ``align_corners=True``, converts to Lab with a D50
white, and averages F x F blocks shifted by one pixel with replicate padding), so the two agree
only to the tolerance stated in ``tests/test_metrics_iqa.py``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from scipy import fft as sfft
from torch.nn import functional as F

from medsr_bench.benchmark.metrics._iqa_common import (
    batched,
    finite_or,
    mix_channels,
    one_image,
    to_255,
    undefined,
)
from medsr_bench.benchmark.metrics.fsim import downsample_factor, mean_subsample, scharr_magnitude
from medsr_bench.benchmark.metrics.registry import (
    CheckTolerance,
    MetricSpec,
    ReferenceTolerance,
    register_metric,
)

VSI_C = (1.27, 386.0, 130.0)
VSI_ALPHA = 0.40
VSI_LAMBDA = 0.020
SDSP = {"sigma_f": 1.34, "omega_0": 0.021, "sigma_d": 145.0, "sigma_c": 0.001, "size": 256}
LMN = np.array([[0.06, 0.63, 0.27], [0.30, 0.04, -0.35], [0.34, -0.60, 0.17]])
_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_D65 = (0.95047, 1.0, 1.08883)


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of every ``(H, W)`` plane of ``a`` (``(..., H, W)`` float64) to ``size``."""
    h, w = a.shape[-2:]
    t = torch.from_numpy(np.ascontiguousarray(a).reshape(-1, 1, h, w))
    shrink = size[0] < h or size[1] < w
    out = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return out.numpy().reshape(a.shape[:-2] + tuple(size))


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3, H, W)`` sRGB on the 8-bit scale -> CIELab (D65 white), as SDSP's ``RGB2Lab``."""
    c = rgb / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = mix_channels(_SRGB_TO_XYZ, lin) / np.asarray(_D65)[:, None, None]
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f[..., 0, :, :], f[..., 1, :, :], f[..., 2, :, :]
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-3)


@lru_cache(maxsize=4)
def _log_gabor(rows: int, cols: int) -> np.ndarray:
    """SDSP's log-Gabor frequency prior filter (``ifftshift``-ed; read-only)."""
    u1 = (np.arange(1, cols + 1) - (cols // 2 + 1)) / (cols - cols % 2)
    u2 = (np.arange(1, rows + 1) - (rows // 2 + 1)) / (rows - rows % 2)
    x, y = np.meshgrid(u1, u2)
    keep = (x * x + y * y) <= 0.25
    r = np.fft.ifftshift(np.sqrt((x * keep) ** 2 + (y * keep) ** 2))
    r[0, 0] = 1.0
    with np.errstate(divide="ignore"):
        lg = np.exp(-(np.log(r / SDSP["omega_0"]) ** 2) / (2.0 * SDSP["sigma_f"] ** 2))
    lg[0, 0] = 0.0
    lg.flags.writeable = False
    return lg


def _minmax(a: np.ndarray) -> np.ndarray:
    """Each ``(H, W)`` plane of ``a`` scaled to [0, 1] by its own min and max (0 where constant)."""
    lo = a.min(axis=(-2, -1), keepdims=True)
    hi = a.max(axis=(-2, -1), keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hi > lo, (a - lo) / (hi - lo), 0.0)


def sdsp(rgb: np.ndarray) -> np.ndarray:
    """SDSP saliency of ``(n, 3, H, W)`` RGB images on the 8-bit scale: ``(n, H, W)`` in [0, 1]."""
    n = SDSP["size"]
    h, w = rgb.shape[-2:]
    lab = rgb_to_lab(_resize(rgb, (n, n)))
    lg = _log_gabor(n, n)
    band = np.real(sfft.ifft2(sfft.fft2(lab) * lg))
    sf = np.sqrt(band[:, 0] ** 2 + band[:, 1] ** 2 + band[:, 2] ** 2)
    i = np.arange(1, n + 1)
    sd = np.exp(-((i[:, None] - n / 2) ** 2 + (i[None, :] - n / 2) ** 2) / SDSP["sigma_d"] ** 2)
    ab = _minmax(lab[:, 1:])
    sc = 1.0 - np.exp(-(ab[:, 0] ** 2 + ab[:, 1] ** 2) / SDSP["sigma_c"] ** 2)
    return _minmax(_resize(sf * sd * sc, (h, w)))


def _sim(a: np.ndarray, b: np.ndarray, c: float) -> np.ndarray:
    return (2.0 * a * b + c) / (a * a + b * b + c)


def vsi_rgb(sr: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """VSI of each pair of ``(n, 3, H, W)`` float64 RGB images on the 8-bit scale: ``(n,)``."""
    n = hr.shape[0]
    f = downsample_factor(*hr.shape[-2:])
    both = np.concatenate([hr, sr])
    vs = mean_subsample(sdsp(both), f)
    lmn = mean_subsample(mix_channels(LMN, both), f)
    g = scharr_magnitude(lmn[:, 0])
    c_vs, c_g, c_c = VSI_C
    chroma = (_sim(lmn[:n, 1], lmn[n:, 1], c_c) * _sim(lmn[:n, 2], lmn[n:, 2], c_c)).astype(complex)
    vsm = np.maximum(vs[:n], vs[n:])
    s = _sim(vs[:n], vs[n:], c_vs) * _sim(g[:n], g[n:], c_g) ** VSI_ALPHA * np.real(chroma ** VSI_LAMBDA)
    return (s * vsm).sum(axis=(-2, -1)) / vsm.sum(axis=(-2, -1))


def vsi_stack(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[np.ndarray, list[str]]:
    """VSI of ``(n, C, H, W)`` float64 stacks in ``[0, settings.data_range]`` (C = 1 is replicated
    to RGB): ``(values (n,), notes)``; NaN below 8x8 pixels or without saliency."""
    n, c, h, w = sr.shape
    if min(h, w) < 8:
        return undefined(n, f"VSI undefined: image {h}x{w} is smaller than 8x8")
    dr = settings.data_range
    a, b = to_255(sr, dr), to_255(hr, dr)
    if c == 1:
        a, b = np.repeat(a, 3, axis=1), np.repeat(b, 3, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = vsi_rgb(a, b)
    return finite_or(v, "VSI undefined: no saliency in either image (e.g. constant images)")


def vsi(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """Per-image VSI of ``(C, H, W)`` float64 arrays: :func:`vsi_stack` on a batch of one."""
    return one_image(vsi_stack, sr, hr, settings)


def vsi_batched(sr, hr, settings, names, device="cpu", chunk=None):
    """The registry's batched VSI (:data:`~benchmark.metrics.registry.BatchedFn`): :func:`vsi_stack`
    over chunks of ``(N, C, H, W)`` float64 stacks on CPU threads (``device`` is not used)."""
    return batched("vsi", vsi_stack, sr, hr, settings, chunk)


SPEC = register_metric(MetricSpec(
    name="vsi", higher_is_better=True, value_range=(0.0, 1.0), needs_weights=False,
    reference="pyiqa 0.1.16 vsi (data_range=1, on values / data_range; gray replicated to RGB); "
              "agrees to the looser tolerance in tests (pyiqa departs from VSI.m, see vsi.py)",
    unit="1", description="Zhang et al. 2014 VSI: SDSP saliency x Scharr gradient x LMN chroma "
                          "similarity, saliency-weighted (8-bit scale; gray replicated to RGB)",
    fn=vsi,
    batched=vsi_batched,
    tolerance=ReferenceTolerance(2e-3, "2e-3 vs pyiqa: VSI.m's 2x2 reduction vs pyiqa's one-pixel-"
                                       "shifted blocks moves VSI by 5e-4..1e-3 on bicubic pairs"),
    check_tolerance=CheckTolerance(1e-4, 0.0, "1e-4: printed to 4 decimals; float64 code")))
