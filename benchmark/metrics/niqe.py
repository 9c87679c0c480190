"""NIQE (no-reference), via BasicSR's ``calculate_niqe`` (offline: the pristine-model parameters
``niqe_pris_params.npz`` ship inside the basicsr wheel).

Source: A. Mittal, R. Soundararajan, A. C. Bovik, "Making a 'completely blind' image quality
analyzer", IEEE SPL 20(3), 2013; BasicSR 1.4.2 ``basicsr/metrics/niqe.py`` (matches the official
MATLAB release to 4 decimals): 96x96 blocks without overlap, 2 scales, MATLAB-style bicubic
half-scale resize, the image rounded to integers before scoring.

Conventions here: only the SR image is used. The channel image is scaled to [0, 255]
(``x * 255 / data_range``) because the NIQE model was fitted on 8-bit images; RGB images (channel
policy ``rgb``) are scored on their BT.601 Y channel, as BasicSR's default ``convert_to='y'``.
Lower is better. NaN with a note when the image holds fewer than 2 blocks of 96x96 (the feature
covariance is then undefined; BasicSR would raise) or when BasicSR fails.
"""

from __future__ import annotations

import importlib
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

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
    importlib.import_module("medsr_bench.compat")  # torchvision/basicsr shim; must precede basicsr
    from basicsr.metrics import niqe as bniqe

    params = np.load(Path(bniqe.__file__).with_name("niqe_pris_params.npz"))
    return bniqe.niqe, params["mu_pris_param"], params["cov_pris_param"], params["gaussian_window"]


def niqe_gray255(img: np.ndarray) -> float:
    """BasicSR NIQE of one 2-D image in [0, 255] (rounded to integers first, as BasicSR)."""
    fn, mu, cov, win = _basicsr_niqe()
    return float(fn(np.round(img.astype(np.float32)), mu, cov, win))


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
        return math.nan, f"NIQE failed in basicsr: {type(e).__name__}: {e}"
    if not math.isfinite(v):
        return math.nan, "NIQE not finite (degenerate block statistics, e.g. flat image)"
    return v, ""


register_metric(MetricSpec(
    name="niqe", higher_is_better=False, value_range=(0.0, math.inf), needs_weights=False,
    reference="basicsr.metrics.calculate_niqe(crop_border, input_order='HW') (pristine params in basicsr)",
    unit="1", description="Mittal et al. 2013 NIQE, 96x96 blocks, on gray / Y scaled to 0-255; no reference image",
    no_reference=True, fn=niqe,
    tolerance=ReferenceTolerance(1e-6, "1e-6: the basicsr function itself on the same gray / Y plane"),
    check_tolerance=CheckTolerance(0.01, 0.0, "0.01: NIQE is printed to 2 decimals")))
