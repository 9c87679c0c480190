"""Diagnostic-region metrics: PSNR / SSIM / MSE / FSIM inside a mask (FOV, vessels, brain, body).

Columns are named ``<metric>@<region>`` (``psnr@fov``, ``ssim@thin_vessel``, ``psnr@brain``). The
masks come from a protocol's ``regions()`` hook (:mod:`data_prep.regions`), bool ``(H, W)`` aligned
with the HR; the images are in the metric domain (:func:`benchmark.metrics.domain.to_metric_domain`).
The channel policy and ``crop_border`` of :func:`~benchmark.metrics.domain.prepare_pair` apply to the
images, and the same border crop to the masks, so a region metric is the full-image metric
restricted to the mask's pixels:

- ``mse@R = mean((sr - hr)^2)`` over the pixels of R and all channels; ``psnr@R = 10 log10(L^2 /
  mse@R)`` (:func:`~benchmark.metrics.psnr.psnr_from_mse`, ``inf`` when equal inside R).
- ``ssim@R``: the SSIM map of :func:`benchmark.metrics.ssim.ssim_maps` (Wang et al. 2004: 11x11
  Gaussian window, sigma 1.5, K1, K2 and L = ``data_range`` from the settings) averaged over the
  pixels of R that lie in the map's valid region (at least 5 pixels from the border, as the global
  SSIM), then over channels. Local statistics still use the window's neighbours outside R: the
  value says how well the structure *at* R's pixels is reproduced (equal to
  ``skimage.metrics.structural_similarity(full=True)``'s map averaged over R's valid pixels).

- ``fsim@R`` (written when the run scores ``fsim``, :func:`region_metric_names`): FSIM / FSIMc
  (:mod:`benchmark.metrics.fsim`, Zhang et al. 2011 eq. 8) with its pooling, the
  ``PC_m``-weighted mean of ``S_L``, over the pixels of R only; phase congruency and gradients are
  those of the whole image. On a zero-padded slice the background has near-1 similarity and
  large ``PC_m`` (phase congruency normalises by the tiny filter energy there), so whole-image
  FSIM is pulled towards 1 by pixels no reader looks at; ``fsim@brain`` / ``fsim@body`` leaves
  them out.

A region with no pixel left (empty mask, or everything in the crop border / SSIM margin) gives NaN
and a note.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from medsr_bench.benchmark.metrics.domain import MetricSettings, prepare_pair
from medsr_bench.benchmark.metrics.fsim import fsim_stack
from medsr_bench.benchmark.metrics.psnr import psnr_from_mse
from medsr_bench.benchmark.metrics.ssim import SSIM_WIN, ssim_maps


def _mse(sr: np.ndarray, hr: np.ndarray, mask: np.ndarray, settings: MetricSettings) -> tuple[float, str]:
    if not mask.any():
        return math.nan, "empty region"
    d = sr[:, mask] - hr[:, mask]
    return float(np.mean(d * d)), ""


def _psnr(sr: np.ndarray, hr: np.ndarray, mask: np.ndarray, settings: MetricSettings) -> tuple[float, str]:
    m, note = _mse(sr, hr, mask, settings)
    return (m, note) if note else psnr_from_mse(m, settings.data_range)


def _ssim(sr: np.ndarray, hr: np.ndarray, mask: np.ndarray, settings: MetricSettings) -> tuple[float, str]:
    h, w = sr.shape[-2:]
    if min(h, w) < SSIM_WIN:
        return math.nan, f"SSIM undefined: image {h}x{w} is smaller than the 11x11 window"
    r = SSIM_WIN // 2
    valid = mask[r:h - r, r:w - r]
    if not valid.any():
        return math.nan, "empty region inside the SSIM valid area (5 px from the border)"
    smap, _ = ssim_maps(sr, hr, settings.data_range, settings.ssim_k1, settings.ssim_k2)
    return float(smap[:, valid].mean()), ""


def _fsim(sr: np.ndarray, hr: np.ndarray, mask: np.ndarray, settings: MetricSettings) -> tuple[float, str]:
    if not mask.any():
        return math.nan, "empty region"
    v, notes = fsim_stack(sr[None], hr[None], settings, mask=mask[None])
    return float(v[0]), notes[0]


#: metric name -> fn(sr (C, H, W), hr (C, H, W), mask bool (H, W), settings) -> (value, note)
REGION_METRICS: dict[str, Callable] = {"psnr": _psnr, "ssim": _ssim, "mse": _mse, "fsim": _fsim}
#: region columns a run always writes for every region of its protocol
REGION_ALWAYS: tuple[str, ...] = ("psnr", "ssim")
#: region columns a run writes when it scores the whole-image metric too (``--metrics ...,fsim``)
REGION_WHEN_SCORED: tuple[str, ...] = ("fsim",)


def region_metric_names(metrics: Sequence[str]) -> tuple[str, ...]:
    """The region metrics of a run scoring ``metrics`` (whole-image names): :data:`REGION_ALWAYS`,
    then each of :data:`REGION_WHEN_SCORED` that ``metrics`` holds (``("psnr", "ssim", "fsim")``
    for ``--metrics psnr,ssim,fsim``)."""
    return (*REGION_ALWAYS, *(m for m in REGION_WHEN_SCORED if m in metrics))


def region_metrics(sr: np.ndarray, hr: np.ndarray, masks: Mapping[str, np.ndarray], settings: MetricSettings,
                   metrics: tuple[str, ...] = ("psnr", "ssim"), notes: list | None = None) -> dict[str, np.ndarray]:
    """Per-image metrics inside each region.

    Args:
        sr, hr: same-shape stacks ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)`` in the metric
            domain ``[0, data_range]`` (any real dtype).
        masks: ``{region: bool array}``, each ``(N, H, W)`` (one mask per image) or ``(H, W)``
            (shared by all N), aligned with the HR before any crop.
        settings: :class:`MetricSettings` (``data_range``, ``channel``, ``crop_border``, SSIM K1/K2).
        metrics: names from :data:`REGION_METRICS` (``psnr``, ``ssim``, ``mse``, ``fsim``).
        notes: optional list receiving ``(image index, column, reason)`` for every NaN.

    Returns:
        ``{"<metric>@<region>": float64 (N,)}`` in ``masks`` order, metrics inner.

    Raises:
        ValueError: unknown metric, a mask that is not boolean or whose shape does not match, and
            everything :func:`prepare_pair` raises (shape mismatch, channel policy).
    """
    unknown = [m for m in metrics if m not in REGION_METRICS]
    if unknown:
        raise ValueError(f"unknown region metric(s) {unknown}; known: {', '.join(REGION_METRICS)}")
    n, h, w = np.asarray(hr).shape[:3]
    x, y = prepare_pair(sr, hr, settings)
    c = settings.crop_border
    out: dict[str, np.ndarray] = {}
    for region, mask in masks.items():
        m = np.asarray(mask)
        if m.dtype != np.bool_ or m.shape not in ((n, h, w), (h, w)):
            raise ValueError(f"region {region!r}: mask dtype {m.dtype} shape {m.shape} "
                             f"(expected bool ({n}, {h}, {w}) or ({h}, {w}))")
        m = np.broadcast_to(m, (n, h, w))
        if c:
            m = m[:, c:-c, c:-c]
        for name in metrics:
            col = f"{name}@{region}"
            vals = np.empty(n, np.float64)
            for i in range(n):
                vals[i], note = REGION_METRICS[name](x[i], y[i], m[i], settings)
                if note and notes is not None:
                    notes.append((i, col, note))
            out[col] = vals
    return out
