"""One shared tester for every metric (pattern: torchmetrics ``tests/unittests/_helpers/testers.py``).

A metric is checked by :meth:`MetricTester.check`: the stack is scored through the public API
(:func:`benchmark.metrics.compute_metrics_batch`) with every engine (per-image NumPy and batched
torch), each image's value is compared with a plain *reference* function (a library call:
skimage, sewar, basicsr) within a stated absolute tolerance, and the engines must agree with each
other. Inputs come from :func:`synthetic_stack` (seeded, any dtype / shape / data_range) or from
real images in ``../shared/data`` (:func:`real_gray_pairs`, :func:`real_rgb_pairs`).

Tolerances (absolute): :data:`TOL` is the one table the metric specs state
(:func:`~medsr_bench.benchmark.metrics.registry.reference_tolerances`, each with its reason in the
metric's module; ``bench metrics bench`` prints the same). Torch engine vs NumPy path:
:data:`ENGINE_TOL` = 1e-9. :func:`reference` is a spec's library reference wrapped for one image
as passed in (crop applied, float inputs as float64).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsr_bench.benchmark.metrics import MetricSettings, compute_metrics_batch, get_metric
from medsr_bench.benchmark.metrics.registry import reference_tolerances

# Stated tolerances (absolute; relative 1e-12 on top, since MSE of 16-bit data is ~1e5), from the
# metric specs.
TOL = reference_tolerances()
# The torch engine and the NumPy implementations must agree much tighter than the references.
ENGINE_TOL = 1e-9
ENGINES = ("numpy", "torch")

Reference = Callable[[np.ndarray, np.ndarray], float]
"""``reference(sr_i, hr_i) -> float`` on one image as passed in (``(H, W)`` or ``(H, W, 3)``)."""


def reference(metric: str, settings: MetricSettings) -> Reference:
    """The spec's ``reference_fn`` of ``metric`` for one image as passed in: ``crop_border``
    applied, float inputs as float64 (the libraries would compute float32 in float32), integer
    inputs raw.

    Raises:
        KeyError: the metric states no library reference.
    """
    fn = get_metric(metric).reference_fn
    if fn is None:
        raise KeyError(f"metric {metric!r} states no reference_fn")
    return lambda sr, hr: fn(ref_input(sr, settings.crop_border), ref_input(hr, settings.crop_border),
                             settings)


def ref_input(a: np.ndarray, crop: int = 0) -> np.ndarray:
    """``a`` cropped by ``crop`` pixels on each side; float arrays as float64, integers raw."""
    a = a[crop:-crop, crop:-crop] if crop else a
    return a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a


@dataclass
class CheckResult:
    """Values by engine and the reference values, for extra assertions in a test."""

    values: dict[str, np.ndarray]
    reference: np.ndarray
    notes: list[str]


class MetricTester:
    """Checks one metric against one reference on one stack, through every engine."""

    def check(
        self,
        metric: str,
        sr: np.ndarray,
        hr: np.ndarray,
        settings: MetricSettings,
        reference: Reference,
        atol: float | None = None,
        rtol: float = 1e-12,
        engines: tuple[str, ...] = ENGINES,
    ) -> CheckResult:
        atol = TOL[metric] if atol is None else atol
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = np.array([float(reference(sr[i], hr[i])) for i in range(sr.shape[0])])
        got: dict[str, np.ndarray] = {}
        notes: list[str] = []
        for eng in engines:
            vals, notes = compute_metrics_batch(sr, hr, settings, names=[metric], engine=eng)
            v = vals[metric]
            assert v.dtype == np.float64 and v.shape == (sr.shape[0],), (eng, v.dtype, v.shape)
            assert len(notes) == sr.shape[0]
            assert_close(v, ref, atol, rtol, f"{metric} [{eng}] vs reference ({settings.describe()})")
            got[eng] = v
        if len(got) > 1:
            first = got[engines[0]]
            for eng in engines[1:]:
                assert_close(got[eng], first, ENGINE_TOL, 1e-12, f"{metric}: {eng} vs {engines[0]}")
        return CheckResult(values=got, reference=ref, notes=notes)


def assert_close(got: np.ndarray, want: np.ndarray, atol: float, rtol: float, what: str) -> None:
    """Elementwise |got - want| <= atol + rtol |want|; inf must match inf, NaN must match NaN."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    both_nan = np.isnan(got) & np.isnan(want)
    same_inf = np.isinf(got) & np.isinf(want) & (np.sign(got) == np.sign(want))
    ok = both_nan | same_inf
    fin = ~ok
    diff = np.abs(got[fin] - want[fin])
    lim = atol + rtol * np.abs(want[fin])
    bad = ~(diff <= lim)
    if bad.any():
        i = int(np.flatnonzero(fin)[np.flatnonzero(bad)[0]])
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {got.size} values off; first at {i}: got {got[i]!r}, "
            f"want {want[i]!r}, |diff| = {abs(got[i] - want[i]):.3g} > {atol:g}"
        )


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b| over finite entries (0 when none)."""
    m = np.isfinite(a) & np.isfinite(b)
    return float(np.max(np.abs(a[m] - b[m]))) if m.any() else 0.0


# ----------------------------------------------------------------------------------------- inputs
def _cast(a: np.ndarray, dtype, data_range: float) -> np.ndarray:
    a = np.clip(a, 0.0, data_range)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return np.rint(a).astype(dtype)
    return a.astype(dtype)


def synthetic_stack(
    n: int,
    h: int,
    w: int,
    *,
    channels: int = 0,
    dtype=np.uint8,
    data_range: float = 255.0,
    noise: float = 0.04,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``(sr, hr)`` stacks ``(n, h, w[, channels])`` in ``[0, data_range]`` of ``dtype``.

    HR is a smooth random field plus edges (so SSIM / VIF see structure); SR = a blurred copy of HR
    plus Gaussian noise of ``noise * data_range`` (so values span well-defined, non-trivial ranges).
    """
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    shape = (n, h, w) + ((channels,) if channels else ())
    base = rng.random(shape)
    sig = (0, 2.0, 2.0) + ((0,) if channels else ())
    hr = gaussian_filter(base, sig)
    hr = (hr - hr.min()) / (np.ptp(hr) + 1e-12)
    yy, xx = np.mgrid[0:h, 0:w]
    edge = ((xx + yy) % 23 < 11).astype(np.float64)
    hr = 0.7 * hr + 0.3 * (edge[None, ..., None] if channels else edge[None])
    sig_b = (0, 1.0, 1.0) + ((0,) if channels else ())
    sr = gaussian_filter(hr, sig_b) + rng.normal(0.0, noise, shape)
    return _cast(sr * data_range, dtype, data_range), _cast(hr * data_range, dtype, data_range)


def degrade(hr: np.ndarray, scale: int = 4) -> np.ndarray:
    """Bicubic x``scale`` down-then-up (OpenCV) of one image ``(H, W[, 3])``; same dtype/shape."""
    import cv2

    h, w = hr.shape[:2]
    f = hr.astype(np.float32)
    lr = cv2.resize(f, (max(1, w // scale), max(1, h // scale)), interpolation=cv2.INTER_AREA)
    sr = cv2.resize(lr, (w, h), interpolation=cv2.INTER_CUBIC)
    if np.issubdtype(hr.dtype, np.integer):
        info = np.iinfo(hr.dtype)
        sr = np.clip(np.rint(sr), info.min, info.max)
    return sr.astype(hr.dtype)


def real_gray_pairs(data: Path, size: int = 128, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 grayscale ChestX-ray14 crops ``(size, size)`` (centre) and their bicubic x4 SR."""
    import cv2

    files = sorted((data / "NIH_ChestXray14" / "images").glob("*.png"))[:n]
    hrs, srs = [], []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        if img.ndim == 3:
            img = img[..., 0]
        c0 = (img.shape[0] - size) // 2
        c1 = (img.shape[1] - size) // 2
        hr = np.ascontiguousarray(img[c0:c0 + size, c1:c1 + size])
        hrs.append(hr)
        srs.append(degrade(hr, 4))
    return np.stack(srs), np.stack(hrs)


def real_rgb_pairs(data: Path, size: tuple[int, int] = (131, 160), n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 RGB DRIVE crops ``(h, w, 3)`` (RGB order) around the image centre and their SR."""
    import cv2

    files = sorted((data / "DRIVE" / "test" / "images").glob("*.tif"))[:n]
    hrs, srs = [], []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)[..., ::-1]
        c0 = (img.shape[0] - size[0]) // 2
        c1 = (img.shape[1] - size[1]) // 2
        hr = np.ascontiguousarray(img[c0:c0 + size[0], c1:c1 + size[1]])
        hrs.append(hr)
        srs.append(degrade(hr, 2))
    return np.stack(srs), np.stack(hrs)


def real_mri_pairs(data: Path, n: int = 2, crop: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """float32 BraTS T1 central axial slices in [0, 1] (per-slice max), centre crop, with bilinear
    x4 SR (OpenCV); float data, for ``data_range = 1`` tests."""
    import cv2
    import nibabel as nib

    files = sorted((data / "BraTS2018").rglob("*_t1.nii.gz"))[:n]
    hrs, srs = [], []
    for f in files:
        vol = np.asanyarray(nib.load(str(f)).dataobj)
        sl = vol[:, :, vol.shape[2] // 2].astype(np.float64)
        sl = sl / max(float(sl.max()), 1.0)
        c0 = (sl.shape[0] - crop) // 2
        c1 = (sl.shape[1] - crop) // 2
        hr = sl[c0:c0 + crop, c1:c1 + crop].astype(np.float32)
        lr = cv2.resize(hr, (crop // 4, crop // 4), interpolation=cv2.INTER_AREA)
        sr = np.clip(cv2.resize(lr, (crop, crop), interpolation=cv2.INTER_LINEAR), 0, 1)
        hrs.append(hr)
        srs.append(sr.astype(np.float32))
    return np.stack(srs), np.stack(hrs)


def is_nan_with_note(values: np.ndarray, notes: list[str], i: int, word: str) -> bool:
    """True when ``values[i]`` is NaN and ``notes[i]`` mentions ``word``."""
    return math.isnan(values[i]) and word in notes[i]
