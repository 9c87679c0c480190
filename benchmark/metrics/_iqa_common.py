"""Helpers shared by the gradient / wavelet IQA metrics (GMSD, HaarPSI, FSIM, VSI).

All of these were designed on 8-bit images: their stability constants (GMSD's T = 170, HaarPSI's
C = 30, FSIM's T1/T2, VSI's C1..C3) assume values in [0, 255]. :func:`to_255` rescales the metric
domain ``[0, data_range]`` to that scale, so the metric value does not depend on ``data_range``.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

# NTSC YIQ (the matrix the HaarPSI, FSIM and VSI reference codes use), rows Y, I, Q for R, G, B.
YIQ = np.array([[0.299, 0.587, 0.114],
                [0.596, -0.274, -0.322],
                [0.211, -0.523, 0.312]])


def to_255(a: np.ndarray, data_range: float) -> np.ndarray:
    """``a`` (float64, values in ``[0, data_range]``) scaled to the 8-bit scale [0, 255]."""
    return a * (255.0 / data_range) if data_range != 255.0 else a


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """``(3, H, W)`` RGB -> ``(3, H, W)`` Y, I, Q planes (NTSC matrix :data:`YIQ`, same units)."""
    return np.tensordot(YIQ, rgb, axes=1)


def conv2_same(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """MATLAB ``conv2(a, k, 'same')`` of a 2-D float64 array (zero padding; true convolution;
    for an even kernel size the output is the full result from index ``size // 2`` on, as MATLAB)."""
    full = signal.convolve2d(a, k, mode="full")
    r0, c0 = k.shape[0] // 2, k.shape[1] // 2
    return full[r0:r0 + a.shape[0], c0:c0 + a.shape[1]]


def box2_subsample(a: np.ndarray) -> np.ndarray:
    """``conv2(a, ones(2)/4, 'same')`` then every second pixel from the first, as the GMSD and
    HaarPSI reference codes: the mean of pixels ``(2k, 2k+1)`` in each axis, a missing last
    neighbour (odd size) counting as 0. ``(H, W)`` -> ``(ceil(H/2), ceil(W/2))``."""
    return conv2_same(a, np.full((2, 2), 0.25))[::2, ::2]
