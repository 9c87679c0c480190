"""Small shared helpers: 1-D Gaussian taps and 'valid' separable filtering in NumPy (float64)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d


def gaussian_taps(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian of odd length ``size`` (offsets ``-(size//2) .. size//2``), float64.

    The outer product of these taps is the 2-D window of MATLAB ``fspecial('gaussian', size, sigma)``
    (and of sewar's ``fspecial``, skimage's ``gaussian(truncate=3.5)`` for size 11 / sigma 1.5,
    OpenCV ``getGaussianKernel``): separable, normalised to sum 1. MATLAB/sewar additionally zero
    taps below ``eps * max``; no tap of the windows used here (11/1.5, 17/3.4, 9/1.8, 5/1.0, 3/0.6)
    is that small, so the result is the same.
    """
    if size % 2 != 1 or size < 1:
        raise ValueError(f"window size must be odd and positive, got {size}")
    x = np.arange(size, dtype=np.float64) - (size // 2)
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def filter_valid(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Correlate the last two axes of ``img`` with ``outer(taps, taps)``, 'valid' region only.

    Args:
        img: float64 array ``(..., H, W)`` with ``H, W >= len(taps)``.
        taps: 1-D symmetric taps of odd length ``k``.

    Returns:
        float64 array ``(..., H - k + 1, W - k + 1)`` (what ``scipy.signal.convolve2d(..., 'valid')``
        gives with the 2-D window, up to float rounding).
    """
    r = len(taps) // 2
    out = correlate1d(img, taps, axis=-1, mode="constant")
    out = correlate1d(out, taps, axis=-2, mode="constant")
    h, w = img.shape[-2:]
    return out[..., r:h - r, r:w - r]


def gaussian_valid(img: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """:func:`filter_valid` with the :func:`gaussian_taps` window ``(size, sigma)`` (SciPy, the
    simple per-image path; the batched engine's OpenCV twin is ``engine.cv_gaussian_valid``)."""
    return filter_valid(img, gaussian_taps(size, sigma))
