"""An independent plain NumPy/SciPy port of Wang's ``msssim.m`` / ``ssim_index_new.m``, written from
the algorithm (Wang, Simoncelli & Bovik 2003; the MATLAB release's steps), for the MS-SSIM tests.

Kept deliberately literal and slow: ``fspecial('gaussian', 11, 1.5)``, ``filter2(w, x, 'valid')``
as a 2-D ``scipy.signal.correlate2d(mode='valid')``, ``imfilter(x, ones(2)/4, 'symmetric', 'same')``
as ``np.pad(mode='symmetric')`` on the bottom/right (MATLAB anchors an even kernel at its first tap)
followed by a 2-D correlation, then ``x(1:2:end, 1:2:end)``. Shares no code with the package.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import correlate2d


def fspecial_gaussian(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: a normalised 2-D Gaussian (size x size)."""
    r = (size - 1) / 2.0
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    g = np.exp(-(xx * xx + yy * yy) / (2.0 * sigma * sigma))
    return g / g.sum()


def ssim_index_new(a: np.ndarray, b: np.ndarray, k=(0.01, 0.03), L: float = 255.0):
    """``[mssim, ssim_map, mcs, cs_map] = ssim_index_new(img1, img2, K, window)``: means only."""
    w = fspecial_gaussian()
    c1, c2 = (k[0] * L) ** 2, (k[1] * L) ** 2
    f = lambda z: correlate2d(z, w, mode="valid")  # noqa: E731
    mu1, mu2 = f(a), f(b)
    s1 = f(a * a) - mu1 * mu1
    s2 = f(b * b) - mu2 * mu2
    s12 = f(a * b) - mu1 * mu2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s1 + s2 + c2))
    cs_map = (2 * s12 + c2) / (s1 + s2 + c2)
    return ssim_map.mean(), cs_map.mean()


def imfilter_box2_symmetric(x: np.ndarray) -> np.ndarray:
    """``imfilter(x, ones(2)/4, 'symmetric', 'same')`` (correlation; anchor at tap (1, 1))."""
    p = np.pad(x, ((0, 1), (0, 1)), mode="symmetric")
    return correlate2d(p, np.full((2, 2), 0.25), mode="valid")


def msssim_m(img1: np.ndarray, img2: np.ndarray, L: float = 255.0,
             weight=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)) -> float:
    """``overall_mssim = msssim(img1, img2, K, window, level, weight, 'product')`` of two 2-D
    float64 images (``min side / 2^(level-1) >= 11``)."""
    a, b = np.asarray(img1, np.float64), np.asarray(img2, np.float64)
    mssim, mcs = [], []
    for _ in range(len(weight)):
        s, c = ssim_index_new(a, b, L=L)
        mssim.append(s)
        mcs.append(c)
        a = imfilter_box2_symmetric(a)[0::2, 0::2]
        b = imfilter_box2_symmetric(b)[0::2, 0::2]
    w = np.asarray(weight)
    val = np.prod(np.asarray(mcs[:-1], np.complex128) ** w[:-1]) * complex(mssim[-1]) ** w[-1]
    return float(np.real(val))
