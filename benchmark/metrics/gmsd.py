"""GMSD: gradient magnitude similarity deviation (lower is better, 0 for identical images).

Source: W. Xue, L. Zhang, X. Mou, A. C. Bovik, "Gradient magnitude similarity deviation: a highly
efficient perceptual image quality index", IEEE TIP 23(2), 2014, eqs. (1)-(8), and the authors'
``GMSD.m``: both images on the 8-bit scale, 2x2 mean then keep every second pixel, Prewitt
gradients ``[1 0 -1] / 3`` (3x3, zero padding), gradient magnitude m, similarity map
``GMS = (2 m_r m_d + T) / (m_r^2 + m_d^2 + T)`` with ``T = 170``, and GMSD = the standard deviation
of the map (N - 1 normalisation, as MATLAB ``std2``).

Colour convention (as pyiqa 0.1.16 ``gmsd``, ``test_y_channel=True``): values are rescaled from
``[0, data_range]`` to [0, 255] first, so GMSD does not depend on ``data_range``; a 3-channel
(``channel=rgb``) image is reduced to the YIQ luminance ``0.299 R + 0.587 G + 0.114 B`` and, when
``settings.quantize``, rounded to the 8-bit grid (pyiqa's ``to_y_channel(x, 255)``; GMSD.m takes
8-bit gray images). A 1-channel image (``gray``, ``y``, ``matlab-gray``) is used as is.
Odd sizes: the 2x2 mean of the last odd row/column counts the missing neighbour as 0 (GMSD.m's
``conv2 'same'``); pyiqa drops that row/column, so the two differ on odd sizes only.
Reference: pyiqa 0.1.16 ``pyiqa.archs.gmsd_arch.gmsd`` (tolerance and its reason in the spec below;
tests: ``tests/test_metrics_iqa.py``). RGB rounding ties: about 1 in 1,000 8-bit RGB pixels has a
luminance at ``k + 0.5`` up to float error; which way it rounds follows the summation order of the
three products (our NumPy vs pyiqa's torch matmul), so the two Y planes differ by 1 level on those
pixels (90 of a 512 x 512 DRIVE crop) and GMSD by up to a few 1e-6; on the same Y planes the two
agree to 1e-8.
"""

from __future__ import annotations

import numpy as np

from medsr_bench.benchmark.metrics._iqa_common import (
    YIQ,
    batched,
    box2_subsample,
    conv2_same,
    mix_channels,
    one_image,
    to_255,
    undefined,
)
from medsr_bench.benchmark.metrics.registry import (
    CheckTolerance,
    MetricSpec,
    ReferenceTolerance,
    register_metric,
)

GMSD_T = 170.0
# Prewitt ``[1 0 -1] / 3`` as the separable kernel outer(_AVG3, _DIFF) (x) / outer(_DIFF, _AVG3) (y)
_AVG3 = (1.0 / 3.0,) * 3
_DIFF = (1.0, 0.0, -1.0)


def gmsd_planes(sr: np.ndarray, hr: np.ndarray, t: float = GMSD_T) -> np.ndarray:
    """GMSD of each pair of ``(n, H, W)`` float64 planes on the 8-bit scale (H, W >= 2): ``(n,)``."""
    maps = []
    for a in (hr, sr):
        s = box2_subsample(a)
        # correlation with the Prewitt kernel = convolution with the flipped kernel; the sign
        # is irrelevant for the magnitude, so convolve directly (as GMSD.m's conv2).
        gx = conv2_same(s, _AVG3, _DIFF)
        gy = conv2_same(s, _DIFF, _AVG3)
        maps.append(np.sqrt(gx * gx + gy * gy))
    mr, md = maps
    q = (2.0 * mr * md + t) / (mr * mr + md * md + t)
    return q.std(axis=(-2, -1), ddof=1)


def gmsd_stack(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[np.ndarray, list[str]]:
    """GMSD of ``(n, C, H, W)`` float64 stacks in ``[0, settings.data_range]`` (C = 1 or 3; see the
    module doc for the colour convention): ``(values (n,), notes)``; NaN below 4x4 pixels."""
    n, c, h, w = sr.shape
    if min(h, w) < 4:
        return undefined(n, f"GMSD undefined: image {h}x{w} is smaller than 4x4")
    dr = settings.data_range
    a, b = to_255(sr, dr), to_255(hr, dr)
    if c == 3:
        a, b = mix_channels(YIQ[0], a), mix_channels(YIQ[0], b)
        if settings.quantize:
            a, b = np.round(a), np.round(b)
    else:
        a, b = a[:, 0], b[:, 0]
    return gmsd_planes(a, b), [""] * n


def gmsd(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """Per-image GMSD of ``(C, H, W)`` float64 arrays: :func:`gmsd_stack` on a batch of one."""
    return one_image(gmsd_stack, sr, hr, settings)


def gmsd_batched(sr, hr, settings, names, device="cpu", chunk=None):
    """The registry's batched GMSD (:data:`~benchmark.metrics.registry.BatchedFn`): :func:`gmsd_stack`
    over chunks of ``(N, C, H, W)`` float64 stacks on CPU threads (``device`` is not used)."""
    return batched("gmsd", gmsd_stack, sr, hr, settings, chunk)


SPEC = register_metric(MetricSpec(
    name="gmsd", higher_is_better=False, value_range=(0.0, 1.0), needs_weights=False,
    reference="pyiqa 0.1.16 gmsd (RGB: test_y_channel=True; 1-channel: test_y_channel=False, channels=1; "
              "values / data_range)",
    unit="1", description="Xue et al. 2014 GMSD: std of the gradient-magnitude similarity map (T=170, "
                          "8-bit scale, 2x2 mean-subsampled); 0 = identical",
    fn=gmsd,
    batched=gmsd_batched,
    tolerance=ReferenceTolerance(1e-5, "1e-5 vs pyiqa: RGB 8-bit pairs measured <= 3.6e-6 (DRIVE crops, "
                                       "bilinear SR): Y values at rounding ties round the other way in "
                                       "pyiqa's torch matmul; on pyiqa's own Y planes <= 1e-8; gray "
                                       "1e-12 (its 1e-12 inside the sqrt)"),
    check_tolerance=CheckTolerance(1e-4, 0.0, "1e-4: GMSD is printed to 4 decimals; float64 code")))
