"""Speed benchmark of the metric engine against the library references.

Compares, on the same stack of (SR, HR) pairs and the same settings:

- *engine*: :func:`benchmark.metrics.compute_metrics_batch` (batched torch engine, float64);
- *baseline*: the per-image library path a reproduction would typically run —
  ``skimage.metrics.structural_similarity`` (Wang settings), ``sewar.full_ref.vifp`` (on images
  scaled to 255 / data_range), ``sewar.full_ref.msssim`` and NumPy float64 for PSNR, MSE, RMSE, MAE,
  NRMSE;

for the full-reference metric set (PSNR, SSIM, MSE, RMSE, MAE, NRMSE, MS-SSIM, VIF; NIQE and LPIPS
are not part of it), and reports seconds, the ratio, and the max absolute difference per metric.

Data: BraTS 2018 T1 volumes from ``<data>/BraTS2018`` (nibabel): ``slices`` central axial slices of
each of the first ``volumes`` volumes (sorted by path), each volume scaled to [0, 1] by its maximum,
zero-padded 240x240 -> 256x256 (P3's test-slice geometry); SR = bilinear x4 down/up (OpenCV, the
P3 bilinear baseline). Settings: ``data_range = 1.0``, gray, no quantisation (P3's [0, 1] floats).
When the folder is absent: seeded synthetic 256x256 stacks of the same count.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medsr_bench.benchmark.metrics.compute import DEFAULT_METRICS, compute_metrics_batch
from medsr_bench.benchmark.metrics.domain import MetricSettings
from medsr_bench.core import machine_description

BENCH_METRICS = DEFAULT_METRICS  # psnr ssim mse rmse mae nrmse ms-ssim vif



def default_data_dir() -> Path:
    """``$BENCH_SHARED/data`` or ``<repo>/../shared/data``."""
    root = os.environ.get("BENCH_SHARED")
    if root:
        return Path(root) / "data"
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def brats_test_like(data_dir: Path, volumes: int = 5, slices: int = 8) -> tuple[np.ndarray, np.ndarray, str]:
    """``(sr, hr, description)``: float64 stacks ``(volumes * slices, 256, 256)`` in [0, 1].

    Raises:
        FileNotFoundError: no ``*_t1.nii.gz`` under ``data_dir / "BraTS2018"``.
    """
    import cv2
    import nibabel as nib

    files = sorted((data_dir / "BraTS2018").rglob("*_t1.nii.gz"))[:volumes]
    if not files:
        raise FileNotFoundError(f"no BraTS T1 volumes under {data_dir / 'BraTS2018'}")
    hrs, srs = [], []
    for f in files:
        vol = np.asanyarray(nib.load(str(f)).dataobj).astype(np.float64)
        vol = vol / max(float(vol.max()), 1e-12)
        z0 = vol.shape[2] // 2 - slices // 2
        for z in range(z0, z0 + slices):
            sl = vol[:, :, z]
            ph, pw = 256 - sl.shape[0], 256 - sl.shape[1]
            hr = np.pad(sl, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))
            lr = cv2.resize(hr.astype(np.float32), (64, 64), interpolation=cv2.INTER_LINEAR)
            sr = np.clip(cv2.resize(lr, (256, 256), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
            hrs.append(hr)
            srs.append(sr.astype(np.float64))
    desc = (f"BraTS2018 T1, {len(files)} volumes x {slices} central slices, per-volume max -> [0, 1], "
            f"zero-padded to 256x256; SR = bilinear x4 down/up (OpenCV)")
    return np.stack(srs), np.stack(hrs), desc


def synthetic(n: int = 40, size: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Seeded synthetic stacks ``(n, size, size)`` in [0, 1]: smooth random field + stripes (HR),
    blurred + noisy copy (SR)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    hr = gaussian_filter(rng.random((n, size, size)), (0, 3, 3))
    hr = (hr - hr.min()) / np.ptp(hr)
    yy, xx = np.mgrid[0:size, 0:size]
    hr = 0.7 * hr + 0.3 * ((xx // 16 + yy // 16) % 2)[None]
    sr = np.clip(gaussian_filter(hr, (0, 1, 1)) + rng.normal(0, 0.02, hr.shape), 0, 1)
    return sr, hr, f"synthetic {n} x {size}x{size} (seed {seed})"


def baseline_metrics(sr: np.ndarray, hr: np.ndarray, s: MetricSettings) -> dict[str, np.ndarray]:
    """Library reference values, one image at a time (gray stacks ``(N, H, W)``)."""
    import warnings

    from sewar.full_ref import msssim, vifp
    from skimage.metrics import structural_similarity

    dr = s.data_range
    out = {m: np.empty(sr.shape[0]) for m in BENCH_METRICS}
    f = 255.0 / dr if s.vif_rescale else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(sr.shape[0]):
            a = sr[i].astype(np.float64)
            b = hr[i].astype(np.float64)
            d = a - b
            m = float(np.mean(d * d))
            out["mse"][i] = m
            out["rmse"][i] = math.sqrt(m)
            out["mae"][i] = float(np.mean(np.abs(d)))
            out["psnr"][i] = math.inf if m == 0 else 10 * math.log10(dr * dr / m)
            den = float(np.mean(b))
            out["nrmse"][i] = math.sqrt(m) / den if den else math.nan
            out["ssim"][i] = structural_similarity(b, a, data_range=dr, gaussian_weights=True, sigma=1.5,
                                                   use_sample_covariance=False)
            out["vif"][i] = vifp(b * f, a * f, sigma_nsq=s.vif_sigma_nsq)
            out["ms-ssim"][i] = msssim(b, a, MAX=dr)
    return out


@dataclass
class BenchResult:
    """Timings (seconds, best of ``repeats``) and per-metric max |engine - baseline|."""

    data: str
    n: int
    shape: tuple[int, int]
    device: str
    threads: int
    engine_s: float
    baseline_s: float
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    machine: str = ""

    @property
    def ratio(self) -> float:
        return self.baseline_s / self.engine_s if self.engine_s > 0 else math.inf


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    fin = np.isfinite(a) & np.isfinite(b)
    mismatch = np.any(np.isfinite(a) != np.isfinite(b))
    if mismatch:
        return math.inf
    return float(np.max(np.abs(a[fin] - b[fin]))) if fin.any() else 0.0




def run_bench(
    data_dir: Path | None = None,
    volumes: int = 5,
    slices: int = 8,
    synthetic_n: int | None = None,
    device: str = "cpu",
    repeats: int = 1,
    settings: MetricSettings | None = None,
) -> BenchResult:
    """Run the benchmark (see module doc). ``synthetic_n`` forces synthetic data of that count."""
    import torch

    if synthetic_n is None:
        try:
            sr, hr, desc = brats_test_like(data_dir or default_data_dir(), volumes, slices)
        except FileNotFoundError as e:
            sr, hr, desc = synthetic(volumes * slices)
            desc += f" (BraTS not available: {e})"
    else:
        sr, hr, desc = synthetic(synthetic_n)
    s = settings or MetricSettings(data_range=1.0, channel="gray", quantize=False)
    names = list(BENCH_METRICS)

    def engine():
        vals, _ = compute_metrics_batch(sr, hr, s, names=names, device=device, engine="torch")
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return vals

    # warm-up (Toeplitz caches, CUDA context, library imports) on two images, for both paths
    compute_metrics_batch(sr[:2], hr[:2], s, names=names, device=device, engine="torch")
    baseline_metrics(sr[:2], hr[:2], s)
    t_eng, t_base = math.inf, math.inf
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        ev = engine()
        t_eng = min(t_eng, time.perf_counter() - t0)
        t0 = time.perf_counter()
        bv = baseline_metrics(sr, hr, s)
        t_base = min(t_base, time.perf_counter() - t0)
    return BenchResult(
        data=desc, n=sr.shape[0], shape=tuple(sr.shape[1:3]), device=device, threads=torch.get_num_threads(),
        engine_s=t_eng, baseline_s=t_base,
        max_abs_diff={m: _max_diff(ev[m], bv[m]) for m in names},
        settings=s.to_dict(), machine=machine_description(device),
    )


TOLERANCE = {"psnr": 1e-6, "ssim": 1e-6, "mse": 1e-6, "rmse": 1e-6, "mae": 1e-6, "nrmse": 1e-6,
             "ms-ssim": 1e-6, "vif": 1e-4}
"""Stated tolerances (same as ``tests/metric_tester.py``), printed next to each difference."""


def format_markdown(r: BenchResult, command: str = "") -> str:
    """Markdown report of one :class:`BenchResult`."""
    lines = [
        f"## Metric engine vs library baseline ({r.device})",
        "",
        f"- machine: {r.machine}",
    ]
    if command:
        lines.append(f"- command: `{command}`")
    lines += [
        f"- data: {r.data}; {r.n} pairs of {r.shape[0]}x{r.shape[1]}",
        f"- settings: {MetricSettings.from_dict(r.settings).describe()}",
        "- metric set: " + ", ".join(BENCH_METRICS),
        "- baseline: skimage SSIM (gaussian_weights, sigma 1.5, population cov) + sewar vifp + "
        "sewar msssim + NumPy float64 for PSNR/MSE/RMSE/MAE/NRMSE, one image at a time",
        "",
        "| path | seconds | per image (ms) |",
        "|---|---:|---:|",
        f"| engine (torch, {r.device}, {r.threads} threads) | {r.engine_s:.3f} | {1e3 * r.engine_s / r.n:.2f} |",
        f"| baseline (skimage + sewar + NumPy) | {r.baseline_s:.3f} | {1e3 * r.baseline_s / r.n:.2f} |",
        f"| **speed-up** | **{r.ratio:.1f}x** | |",
        "",
        "| metric | max abs diff (engine vs baseline) | tolerance | within |",
        "|---|---:|---:|:---:|",
    ]
    for m, d in r.max_abs_diff.items():
        tol = TOLERANCE.get(m, float("nan"))
        lines.append(f"| {m} | {d:.3g} | {tol:g} | {'yes' if d <= tol else 'NO'} |")
    return "\n".join(lines) + "\n"
