"""Helpers shared by the gradient / wavelet IQA metrics (GMSD, HaarPSI, FSIM, VSI).

All of these were designed on 8-bit images: their stability constants (GMSD's T = 170, HaarPSI's
C = 30, FSIM's T1/T2, VSI's C1..C3) assume values in [0, 255]. :func:`to_255` rescales the metric
domain ``[0, data_range]`` to that scale, so the metric value does not depend on ``data_range``.

Each of the four metrics has ONE implementation, on stacks: a *stack function*
``stack_fn(sr, hr, settings) -> (values, notes)`` on float64 ``(n, C, H, W)`` arrays in the metric
domain (``values`` float64 ``(n,)``, ``notes`` n strings, ``""`` or the reason for a NaN), every
filter and reduction vectorised over the ``n`` images. :func:`batched` runs it over chunks of a
stack on a thread pool (the registry's ``batched`` function); :func:`one_image` is the per-image
``fn``: the same code on a batch of one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch

# NTSC YIQ (the matrix the HaarPSI, FSIM and VSI reference codes use), rows Y, I, Q for R, G, B.
YIQ = np.array([[0.299, 0.587, 0.114],
                [0.596, -0.274, -0.322],
                [0.211, -0.523, 0.312]])

StackFn = Callable[[np.ndarray, np.ndarray, object], tuple[np.ndarray, list[str]]]
"""``stack_fn(sr, hr, settings) -> (values, notes)``: see the module doc."""

CHUNK_PIXELS = 2**18
"""Pixels x channels per chunk of :func:`batched` (about four 256x256 gray images): the few dozen
float64 maps of a chunk stay within a few tens of MB (FSIM: 4 complex maps per orientation)."""


def to_255(a: np.ndarray, data_range: float) -> np.ndarray:
    """``a`` (float64, values in ``[0, data_range]``) scaled to the 8-bit scale [0, 255]."""
    return a * (255.0 / data_range) if data_range != 255.0 else a


def mix_channels(m: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``m @ a`` over the channel axis: ``(k, 3)`` matrix, ``(..., 3, H, W)`` -> ``(..., k, H, W)``
    (e.g. :data:`YIQ` for RGB -> Y, I, Q); a ``(3,)`` row gives ``(..., H, W)``. NumPy
    ``tensordot`` (BLAS), as the per-plane reference codes: the same rounding, so a rounded Y
    lands on the same side of a tie."""
    m = np.asarray(m, dtype=np.float64)
    out = np.tensordot(m, a, axes=([-1], [a.ndim - 3]))
    return out if m.ndim == 1 else np.moveaxis(out, 0, -3)


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3, H, W)`` RGB -> ``(..., 3, H, W)`` Y, I, Q planes (NTSC matrix :data:`YIQ`, same units)."""
    return mix_channels(YIQ, rgb)


def conv2_same(a: np.ndarray, col, row) -> np.ndarray:
    """MATLAB ``conv2(plane, outer(col, row), 'same')`` of every ``(H, W)`` plane of ``a``.

    Args:
        a: float64 ``(..., H, W)``.
        col, row: 1-D taps of the separable kernel ``outer(col, row)`` (``len(col)`` rows), any
            lengths (even lengths as MATLAB: the full result from index ``len // 2`` on).

    Returns:
        float64 ``(..., H, W)``: true convolution with zero padding. Computed by OpenCV
        ``sepFilter2D`` (float64; flipped taps, anchor ``len - 1 - len // 2``, constant border 0),
        equal to ``scipy.signal.convolve2d(plane, outer(col, row))`` cropped as MATLAB up to float
        rounding (~1e-16 relative; tested).
    """
    col = np.ascontiguousarray(np.asarray(col, dtype=np.float64)[::-1])
    row = np.ascontiguousarray(np.asarray(row, dtype=np.float64)[::-1])
    anchor = (len(row) - 1 - len(row) // 2, len(col) - 1 - len(col) // 2)
    h, w = a.shape[-2:]
    flat = np.ascontiguousarray(a, dtype=np.float64).reshape(-1, h, w)
    out = np.empty_like(flat)
    for p, o in zip(flat, out, strict=True):
        cv2.sepFilter2D(p, cv2.CV_64F, row, col, dst=o, anchor=anchor, borderType=cv2.BORDER_CONSTANT)
    return out.reshape(a.shape)


def box2_subsample(a: np.ndarray) -> np.ndarray:
    """``conv2(a, ones(2)/4, 'same')`` then every second pixel from the first, as the GMSD and
    HaarPSI reference codes: the mean of pixels ``(2k, 2k+1)`` in each axis, a missing last
    neighbour (odd size) counting as 0. ``(..., H, W)`` -> ``(..., ceil(H/2), ceil(W/2))``."""
    return conv2_same(a, (0.5, 0.5), (0.5, 0.5))[..., ::2, ::2]


def undefined(n: int, reason: str) -> tuple[np.ndarray, list[str]]:
    """``(values, notes)`` of a stack function for ``n`` images where the metric is undefined."""
    return np.full(n, math.nan), [reason] * n


def finite_or(values: np.ndarray, reason: str) -> tuple[np.ndarray, list[str]]:
    """``(values, notes)`` with non-finite values set to NaN and noted with ``reason``."""
    bad = ~np.isfinite(values)
    values = np.where(bad, math.nan, values)
    return values, [reason if b else "" for b in bad]


def batched(name: str, stack_fn: StackFn, sr: np.ndarray, hr: np.ndarray, settings,
            chunk: int | None = None, workers: int | None = None) -> tuple[dict[str, np.ndarray], list[list[str]]]:
    """``stack_fn`` over chunks of ``(N, C, H, W)`` float64 stacks, in the registry's batched layout.

    Args:
        name: the metric's canonical name (key of ``values``, prefix of the notes).
        stack_fn: the metric's :data:`StackFn`.
        sr, hr: float64 ``(N, C, H, W)`` in the metric domain (``prepare_pair``).
        settings: :class:`~benchmark.metrics.MetricSettings`.
        chunk: images per chunk (default about :data:`CHUNK_PIXELS` pixels x channels).
        workers: threads running the chunks (default ``torch.get_num_threads()``; NumPy, SciPy's
            FFT and OpenCV release the GIL). Always on the CPU, whatever the run's device.

    Returns:
        ``({name: (N,) float64}, notes)`` with ``notes[i]`` the list of ``"name: reason"`` of image i.
    """
    n, c, h, w = sr.shape
    step = chunk or max(1, CHUNK_PIXELS // max(1, c * h * w))
    spans = [(i, min(i + step, n)) for i in range(0, n, step)]

    def work(span):
        return stack_fn(sr[span[0]:span[1]], hr[span[0]:span[1]], settings)

    workers = max(1, min(workers or torch.get_num_threads(), len(spans)))
    if workers == 1:
        parts = [work(s) for s in spans]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as ex:
            parts = list(ex.map(work, spans))
    values = np.concatenate([p[0] for p in parts]) if parts else np.empty(0)
    notes = [[f"{name}: {t}"] if t else [] for p in parts for t in p[1]]
    return {name: values}, notes


def one_image(stack_fn: StackFn, sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """The per-image ``fn`` of a stack metric: ``stack_fn`` on a batch of one ``(C, H, W)`` pair."""
    values, notes = stack_fn(sr[None], hr[None], settings)
    return float(values[0]), notes[0]
