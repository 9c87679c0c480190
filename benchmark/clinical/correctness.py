"""Hallucination / omission / improvement maps, after the *correctness* group of opensr-test.

Source: Aybar et al., "A comprehensive benchmark for optical remote sensing image super-resolution",
IEEE GRSL 2024 (opensr-test, ESA): every pixel of an SR output is placed against two references, the
HR and the interpolation baseline (LR upsampled by bicubic here, opensr-test's ``lr_to_hr``):

- ``d_ref = |baseline - hr|``, ``d_im = |sr - hr|``, ``d_om = |sr - baseline|`` (L1 per pixel, mean
  over channels, optionally averaged over ``patch`` x ``patch`` windows), in [0, 1] intensity units;
- only *potential* pixels are classed: where the baseline misses HR by at least ``min_ref``
  (elsewhere there is nothing for SR to add); opensr-test masks low-gradient pixels the same way;
- relative distances ``x = d_im / d_ref`` and ``y = d_om / d_ref``; with ``H = x + y - 1``:
  ``improvement = x + y (1 - exp(-H l_im))``, ``omission = y + x (1 - exp(-H l_om))``,
  ``hallucination = exp(-x y l_ha)``; each pixel takes the class with the smallest score.

So an SR pixel equal to HR is *improvement* (x = 0, y = 1), one equal to the baseline is *omission*
(x = 1, y = 0: SR added nothing), and one far from both is *hallucination* (x, y >> 1: detail that is
in neither the input nor the truth). The interpolation baseline itself is all omission by definition.

Why not the ``opensr-test`` package: it is built for Sentinel-2 reflectance stacks (RGB/NIR band
indices, reflectance and spectral harmonisation, LightGlue alignment, torch), none of which fits
single-channel 8-bit or normalised medical images; the definitions above are implemented here and
tested on planted cases (``tests/test_clinical.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMPROVEMENT, OMISSION, HALLUCINATION, NOT_CLASSED = 0, 1, 2, -1
CLASS_NAMES = ("improvement", "omission", "hallucination")


@dataclass(frozen=True)
class CorrectnessSettings:
    """Settings of the correctness maps (opensr-test defaults where it has them).

    Attributes:
        min_ref: a pixel is classed only where ``|baseline - hr| >= min_ref`` ([0, 1] units;
            0.01 = 2.55 levels of 8 bits): where interpolation already matches HR there is no
            detail to gain or invent.
        patch: side of the averaging window of the distances (1 = per pixel, opensr-test's
            ``agg_method="pixel"``).
        im_lambda, om_lambda, ha_lambda: the calibration constants of the improvement, omission
            and hallucination scores (opensr-test 0.2.x defaults 0.8, 0.8, 0.4).
        baseline: interpolation model the SR is compared with (``bicubic``: opensr-test upsamples
            the LR with bicubic).
    """

    min_ref: float = 0.01
    patch: int = 1
    im_lambda: float = 0.8
    om_lambda: float = 0.8
    ha_lambda: float = 0.4
    baseline: str = "bicubic"

    def __post_init__(self) -> None:
        if not self.min_ref > 0:
            raise ValueError(f"min_ref must be > 0, got {self.min_ref}")
        if self.patch < 1:
            raise ValueError(f"patch must be >= 1, got {self.patch}")


def _l1(a: np.ndarray, b: np.ndarray, patch: int) -> np.ndarray:
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    if d.ndim == 3:
        d = d.mean(axis=2)
    if patch > 1:
        from scipy.ndimage import uniform_filter

        d = uniform_filter(d, size=patch, mode="nearest")
    return d


def correctness_map(sr: np.ndarray, baseline: np.ndarray, hr: np.ndarray,
                    s: CorrectnessSettings = CorrectnessSettings(),
                    roi: np.ndarray | None = None) -> np.ndarray:
    """Class of every pixel: int8 ``(H, W)``, :data:`IMPROVEMENT` 0, :data:`OMISSION` 1,
    :data:`HALLUCINATION` 2, :data:`NOT_CLASSED` -1 (not a potential pixel, or outside ``roi``).

    Args:
        sr, baseline, hr: same-shape ``(H, W)`` or ``(H, W, C)`` images in [0, 1].
        s: :class:`CorrectnessSettings`.
        roi: optional bool ``(H, W)``: pixels outside are not classed.

    Raises:
        ValueError: shapes differ.
    """
    if not (np.shape(sr) == np.shape(baseline) == np.shape(hr)):
        raise ValueError(f"sr {np.shape(sr)}, baseline {np.shape(baseline)} and hr {np.shape(hr)} differ")
    d_ref = _l1(baseline, hr, s.patch)
    d_im = _l1(sr, hr, s.patch)
    d_om = _l1(sr, baseline, s.patch)
    potential = d_ref >= s.min_ref
    if roi is not None:
        potential &= np.asarray(roi, bool)
    out = np.full(d_ref.shape, NOT_CLASSED, np.int8)
    ref = d_ref[potential]
    x, y = d_im[potential] / ref, d_om[potential] / ref
    h = x + y - 1.0
    scores = np.stack([x + y * (1.0 - np.exp(-h * s.im_lambda)),
                       y + x * (1.0 - np.exp(-h * s.om_lambda)),
                       np.exp(-x * y * s.ha_lambda)])
    out[potential] = np.argmin(scores, axis=0).astype(np.int8)
    return out


def percentages(classes: np.ndarray) -> dict[str, float]:
    """``{improvement, omission, hallucination: percent of the classed pixels}`` (NaN when no pixel
    is classed)."""
    n = int((classes != NOT_CLASSED).sum())
    return {name: (100.0 * int((classes == k).sum()) / n if n else float("nan"))
            for k, name in enumerate(CLASS_NAMES)}


#: RGB colour of each class in the figure maps (improvement green, omission blue, hallucination red)
CLASS_COLOURS = {IMPROVEMENT: (0.20, 0.70, 0.30), OMISSION: (0.25, 0.45, 0.95), HALLUCINATION: (0.95, 0.15, 0.15)}


def colour_map(classes: np.ndarray, under: np.ndarray | None = None, alpha: float = 0.6) -> np.ndarray:
    """float32 RGB ``(H, W, 3)`` in [0, 1]: class colours over a dimmed gray ``under`` image."""
    base = np.zeros((*classes.shape, 3), np.float32)
    if under is not None:
        g = under.mean(axis=2) if under.ndim == 3 else under
        base[:] = (0.5 * g)[..., None]
    for k, rgb in CLASS_COLOURS.items():
        m = classes == k
        base[m] = (1 - alpha) * base[m] + alpha * np.asarray(rgb, np.float32)
    return base
