"""HaarPSI: Haar wavelet-based perceptual similarity index (higher is better, 1 for identical).

Source: R. Reisenhofer, S. Bosse, G. Kutyniok, T. Wiegand, "A Haar wavelet-based perceptual
similarity index for image quality assessment", Signal Processing: Image Communication 61, 2018,
eqs. (4)-(13), and the authors' reference code (``HaarPSI.m`` / ``haarpsi.py``): images on the
8-bit scale; 2x2 mean then every second pixel (preprocessing); Haar filters of size 2, 4, 8
(``2^-j`` times a +-1 block, MATLAB ``conv2(..., 'same')``, zero padding), horizontal and vertical;
local similarity per orientation = mean over the two finest scales of
``(2 |g_r| |g_d| + C) / (|g_r|^2 + |g_d|^2 + C)``, weights = max of the coarsest-scale magnitudes;
``HaarPSI = (logit_a(sum(sigmoid_a(S) W) / sum(W)))^2`` with ``C = 30``, ``alpha = 4.2``.

Colour convention (as the paper and piq): a 3-channel (``channel=rgb``) image goes to YIQ (NTSC
matrix); Y gets the wavelet similarity, I and Q (2x2 mean, ``'same'``) a third similarity map
weighted by the mean of the two luminance weights. A 1-channel image (``gray``, ``y``,
``matlab-gray``) is used as is. Values are rescaled from ``[0, data_range]`` to [0, 255].
Reference: piq 0.8.0 ``piq.haarpsi`` (pyiqa 0.1.16 has no HaarPSI); tolerance in the spec below.
piq's YIQ rows have 4 digits (0.5959, -0.2746, -0.3213; 0.2115, -0.5227, 0.3112) where
HaarPSI.m and the authors' ``haarpsi.py`` have 3 (:data:`~._iqa_common.YIQ`, used here): on
saturated colour (fundus photographs: large I) that alone moves RGB HaarPSI by up to 2.4e-5
(measured); with piq's rows swapped in the two agree to 1e-14.
"""

from __future__ import annotations

import numpy as np

from medsr_bench.benchmark.metrics._iqa_common import (
    batched,
    box2_subsample,
    conv2_same,
    finite_or,
    one_image,
    rgb_to_yiq,
    to_255,
    undefined,
)
from medsr_bench.benchmark.metrics.registry import (
    CheckTolerance,
    MetricSpec,
    ReferenceTolerance,
    register_metric,
)

HAARPSI_C = 30.0
HAARPSI_ALPHA = 4.2
HAARPSI_SCALES = 3


def haar_taps(scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal-edge Haar filter of scale ``j`` (1-based) as separable taps ``(col, row)``: the
    ``(2^j, 2^j)`` kernel ``outer(col, row)`` of ``2^-j`` with the upper half negated (HaarPSI.m)."""
    n = 2 ** scale
    col = np.ones(n)
    col[: n // 2] = -1.0
    return col, np.full(n, 2.0 ** -scale)


def _coeffs(y: np.ndarray) -> list[np.ndarray]:
    """``[h1, h2, h3, v1, v2, v3]`` Haar responses of ``(n, H, W)`` planes (``h`` = kernel,
    ``v`` = transposed)."""
    ks = [haar_taps(j) for j in range(1, HAARPSI_SCALES + 1)]
    return [conv2_same(y, c, r) for c, r in ks] + [conv2_same(y, r, c) for c, r in ks]


def _sim(a: np.ndarray, b: np.ndarray, c: float) -> np.ndarray:
    return (2.0 * a * b + c) / (a * a + b * b + c)


def haarpsi_planes(sr: np.ndarray, hr: np.ndarray, c: float = HAARPSI_C,
                   alpha: float = HAARPSI_ALPHA) -> np.ndarray:
    """HaarPSI of ``(n, 1, H, W)`` (gray) or ``(n, 3, H, W)`` (YIQ) float64 stacks on the 8-bit
    scale: ``(n,)`` (NaN / inf where the weights sum to 0)."""
    xs, ys = box2_subsample(hr), box2_subsample(sr)
    cr, cd = _coeffs(xs[:, 0]), _coeffs(ys[:, 0])
    n = HAARPSI_SCALES
    sims, weights = [], []
    for o in range(2):
        weights.append(np.maximum(np.abs(cr[o * n + n - 1]), np.abs(cd[o * n + n - 1])))
        sims.append(sum(_sim(np.abs(cr[o * n + j]), np.abs(cd[o * n + j]), c) for j in range(2)) / 2.0)
    if xs.shape[1] == 3:
        box = (0.5, 0.5)
        iq = [_sim(np.abs(conv2_same(xs[:, k], box, box)), np.abs(conv2_same(ys[:, k], box, box)), c)
              for k in (1, 2)]
        sims.append((iq[0] + iq[1]) / 2.0)
        weights.append((weights[0] + weights[1]) / 2.0)
    s = np.stack(sims, axis=1)
    w = np.stack(weights, axis=1)
    m = (w / (1.0 + np.exp(-alpha * s))).sum(axis=(1, 2, 3)) / w.sum(axis=(1, 2, 3))
    return (np.log(m / (1.0 - m)) / alpha) ** 2


def haarpsi_stack(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[np.ndarray, list[str]]:
    """HaarPSI of ``(n, C, H, W)`` float64 stacks in ``[0, settings.data_range]`` (C = 1 or 3; see
    the module doc): ``(values (n,), notes)``; NaN below 16x16 pixels or when both images of a
    pair are constant."""
    n, _, h, w = sr.shape
    if min(h, w) < 16:
        return undefined(n, f"HaarPSI undefined: image {h}x{w} is smaller than 16x16")
    dr = settings.data_range
    a, b = to_255(sr, dr), to_255(hr, dr)
    if a.shape[1] == 3:
        a, b = rgb_to_yiq(a), rgb_to_yiq(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = haarpsi_planes(a, b)
    return finite_or(v, "HaarPSI undefined: no Haar response in either image (weights sum to 0)")


def haarpsi(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """Per-image HaarPSI of ``(C, H, W)`` float64 arrays: :func:`haarpsi_stack` on a batch of one."""
    return one_image(haarpsi_stack, sr, hr, settings)


def haarpsi_batched(sr, hr, settings, names, device="cpu", chunk=None):
    """The registry's batched HaarPSI (:data:`~benchmark.metrics.registry.BatchedFn`):
    :func:`haarpsi_stack` over chunks of ``(N, C, H, W)`` float64 stacks on CPU threads
    (``device`` is not used)."""
    return batched("haarpsi", haarpsi_stack, sr, hr, settings, chunk)


SPEC = register_metric(MetricSpec(
    name="haarpsi", higher_is_better=True, value_range=(0.0, 1.0), needs_weights=False,
    reference="piq 0.8.0 haarpsi(data_range=1, on values / data_range); pyiqa 0.1.16 has no HaarPSI",
    unit="1", description="Reisenhofer et al. 2018 HaarPSI (C=30, alpha=4.2, 3 Haar scales, 8-bit "
                          "scale, 2x2 mean-subsampled; YIQ for RGB); 1 = identical",
    fn=haarpsi,
    batched=haarpsi_batched,
    tolerance=ReferenceTolerance(5e-5, "5e-5 vs piq: RGB measured <= 2.4e-5 on DRIVE crops (piq's 4-digit "
                                       "I/Q rows vs HaarPSI.m's 3; with piq's rows 8e-15); gray 1e-12"),
    check_tolerance=CheckTolerance(1e-4, 0.0, "1e-4: printed to 4 decimals; float64 code")))
