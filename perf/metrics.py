"""Speed benchmarks of the metric engine: against the library references, and against the fastest
peer (torchmetrics, float32 inputs) metric by metric.

*Peer table* (:func:`run_peer_bench`): for SSIM, VIFp and MS-SSIM separately, on three cases (256^2
gray: the BraTS set below; 1024^2 gray: ChestX-ray14 images, full size; 512^2 RGB: DRIVE centre
crops; seeded synthetic stacks of the same shapes where the data is absent), the engine through the
public :func:`~benchmark.metrics.compute_metrics_batch` (float64 inputs, conversion included)
against ``torchmetrics.functional.image`` on float32 tensors prepared beforehand (conversion not
timed), same thread count, ``reps`` alternating repetitions after a warm-up of each, medians
reported; plus each side's max |difference| to the reference (skimage SSIM, sewar vifp, sewar
msssim; for RGB MS-SSIM the per-image NumPy path, since sewar's RGB filter mixes channels). torchmetrics
is an optional extra (``pip install "medsr-bench[perf]"``).

*IQA table* (:func:`run_iqa_bench`): GMSD, HaarPSI, FSIM, VSI (batched stack code, float64) against
their per-image references (pyiqa 0.1.16; piq 0.8.0 for HaarPSI, which pyiqa lacks; the ``[iqa]``
extra) on the 256^2 gray and 512^2 RGB cases (RGB on the 8-bit grid), images/s, ratio and max
|difference|; against torchmetrics (float32) where ``torchmetrics.functional.image`` has the metric
(DISTS only; checked at run time). DISTS without its VGG16 / alpha-beta files is a row of missing
cells with the reason and the fetch command (never a number).

*Library table* (:func:`run_bench`):

Compares, on the same stack of (SR, HR) pairs and the same settings:

- *engine*: :func:`benchmark.metrics.compute_metrics_batch` (batched torch engine, float64);
- *baseline*: the per-image library path a reproduction would typically run: each metric
  spec's ``reference_fn`` (``skimage.metrics`` PSNR / MSE / NRMSE / SSIM with Wang's settings,
  ``sewar.full_ref`` RMSE, ``vifp`` on images scaled to 255 / data_range and ``msssim``, NumPy
  float64 for MAE);

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

from medsr_bench.benchmark.metrics.compute import (
    DEFAULT_METRICS,
    compute_metrics_batch,
    metric_status,
)
from medsr_bench.benchmark.metrics.domain import MetricSettings
from medsr_bench.benchmark.metrics.registry import get_metric, reference_tolerances
from medsr_bench.core import load_average, machine_description

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
    """Library reference values (each spec's ``reference_fn``), one image at a time (gray
    stacks ``(N, H, W)``, no crop)."""
    import warnings

    refs = {m: get_metric(m).reference_fn for m in BENCH_METRICS}
    out = {m: np.empty(sr.shape[0]) for m in BENCH_METRICS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(sr.shape[0]):
            a = sr[i].astype(np.float64)
            b = hr[i].astype(np.float64)
            for m, fn in refs.items():
                out[m][i] = fn(a, b, s)
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
    # sewar's MS-SSIM reading, so the library reference (sewar msssim) scores the same thing; the
    # default msssim.m reading costs the same (one 2x2 average per scale, pairs shifted by one).
    s = settings or MetricSettings(data_range=1.0, channel="gray", quantize=False,
                                   msssim_downsample="sewar")
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


PEER_METRICS = ("ssim", "vif", "ms-ssim")
PEER_CASES = ("256-gray", "1024-gray", "512-rgb")
TORCHMETRICS_MISSING = ("torchmetrics is not installed: the peer table needs it. Install it with: "
                        "pip install \"medsr-bench[perf]\"  (or: pip install torchmetrics)")


def have_torchmetrics() -> bool:
    """True when ``torchmetrics`` can be imported (after the torchvision shim)."""
    import importlib.util

    return importlib.util.find_spec("torchmetrics") is not None


@dataclass
class PeerCase:
    """One stack for the peer table: ``sr``, ``hr`` float64 ``(N, H, W)`` or ``(N, H, W, 3)`` in
    [0, 1], scored with ``settings`` (data_range 1, no quantisation)."""

    name: str
    sr: np.ndarray
    hr: np.ndarray
    settings: MetricSettings
    data: str


def _bilinear_x4(hr: np.ndarray) -> np.ndarray:
    """SR = OpenCV bilinear x4 down then up (float32 math, clipped to [0, 1]) of one float image."""
    import cv2

    h, w = hr.shape[:2]
    lr = cv2.resize(hr.astype(np.float32), (w // 4, h // 4), interpolation=cv2.INTER_LINEAR)
    return np.clip(cv2.resize(lr, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0).astype(np.float64)


def peer_case(name: str, data_dir: Path | None = None, n: int | None = None) -> PeerCase:
    """Build one of :data:`PEER_CASES` from the real data, or seeded synthetic data when absent.

    Raises:
        ValueError: unknown case name.
    """
    import cv2

    data_dir = data_dir or default_data_dir()
    gray = MetricSettings(data_range=1.0, channel="gray", quantize=False, msssim_downsample="sewar")
    if name == "256-gray":
        try:
            sr, hr, desc = brats_test_like(data_dir, 5, (n or 40) // 5 or 1)
        except FileNotFoundError as e:
            sr, hr, desc = synthetic(n or 40, 256)
            desc += f" (BraTS absent: {e})"
        return PeerCase(name, sr, hr, gray, desc)
    if name == "1024-gray":
        n = n or 4
        files = sorted((data_dir / "NIH_ChestXray14" / "images").glob("*.png"))[:n]
        hrs = []
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            img = img[..., 0] if img is not None and img.ndim == 3 else img
            if img is not None and img.shape[:2] == (1024, 1024):
                hrs.append(img.astype(np.float64) / (65535.0 if img.dtype == np.uint16 else 255.0))
        if len(hrs) == n:
            hr = np.stack(hrs)
            desc = f"NIH ChestX-ray14, first {n} images (1024x1024, 8-bit -> [0, 1]); SR = bilinear x4 down/up"
            return PeerCase(name, np.stack([_bilinear_x4(h) for h in hr]), hr, gray, desc)
        sr, hr, desc = synthetic(n, 1024)
        return PeerCase(name, sr, hr, gray, desc + " (ChestX-ray14 absent)")
    if name == "512-rgb":
        n = n or 8
        rgb = MetricSettings(data_range=1.0, channel="rgb", quantize=False, msssim_downsample="sewar")
        files = sorted((data_dir / "DRIVE").rglob("*.tif"))
        files = [f for f in files if f.parent.name == "images"][:n]
        hrs = []
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is not None and min(img.shape[:2]) >= 512:
                c0, c1 = (img.shape[0] - 512) // 2, (img.shape[1] - 512) // 2
                hrs.append(img[c0:c0 + 512, c1:c1 + 512, ::-1].astype(np.float64) / 255.0)
        if len(hrs) == n:
            hr = np.stack(hrs)
            desc = f"DRIVE, {n} images, centre 512x512 RGB crops (8-bit -> [0, 1]); SR = bilinear x4 down/up"
            return PeerCase(name, np.stack([_bilinear_x4(h) for h in hr]), hr, rgb, desc)
        sr, hr, desc = synthetic(3 * n, 512)
        sr = np.ascontiguousarray(sr.reshape(n, 3, 512, 512).transpose(0, 2, 3, 1))
        hr = np.ascontiguousarray(hr.reshape(n, 3, 512, 512).transpose(0, 2, 3, 1))
        return PeerCase(name, sr, hr, rgb, desc + " as RGB (DRIVE absent)")
    raise ValueError(f"unknown case {name!r}; expected one of {', '.join(PEER_CASES)}")


def reference_values(case: PeerCase, metric: str) -> tuple[np.ndarray, str]:
    """Per-image reference values of ``metric`` on ``case`` and the reference's name."""
    import warnings

    s = case.settings
    rgb = case.hr.ndim == 4
    out = np.empty(case.hr.shape[0])
    if metric == "ms-ssim" and rgb:
        v, _ = compute_metrics_batch(case.sr, case.hr, s, names=[metric], engine="numpy")
        return v[metric], "per-image NumPy path (sewar's RGB filter mixes channels)"
    fn = get_metric(metric).reference_fn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (a, b) in enumerate(zip(case.sr, case.hr, strict=True)):
            out[i] = fn(a, b, s)
    name = {"ssim": "skimage", "vif": "sewar vifp", "ms-ssim": "sewar msssim"}[metric]
    return out, name


def torchmetrics_fn(metric: str, settings: MetricSettings):
    """``fn(preds, target) -> (N,)`` torchmetrics functional call with this project's settings
    (Gaussian 11x11 sigma 1.5, K1, K2, data_range; VIFp sigma_n^2 on 8-bit-scaled inputs, which the
    caller passes; MS-SSIM with its 5 weights, no normalisation)."""
    import medsr_bench.compat  # noqa: F401  (torchvision shim before torchmetrics imports it)

    # isort: split
    from torchmetrics.functional.image import (
        multiscale_structural_similarity_index_measure,
        structural_similarity_index_measure,
        visual_information_fidelity,
    )

    s = settings
    if metric == "ssim":
        return lambda p, t: structural_similarity_index_measure(
            p, t, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=s.data_range,
            k1=s.ssim_k1, k2=s.ssim_k2, reduction="none")
    if metric == "vif":
        return lambda p, t: visual_information_fidelity(p, t, sigma_n_sq=s.vif_sigma_nsq, reduction="none")
    if metric == "ms-ssim":
        return lambda p, t: multiscale_structural_similarity_index_measure(
            p, t, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=s.data_range,
            k1=s.ssim_k1, k2=s.ssim_k2, betas=tuple(s.msssim_weights), normalize=None, reduction="none")
    raise ValueError(f"no torchmetrics peer for {metric!r}")


@dataclass
class PeerRow:
    """One (case, metric) line of the peer table; times are medians in seconds."""

    case: str
    metric: str
    n: int
    engine_s: float
    peer_s: float
    engine_diff: float
    peer_diff: float
    reference: str
    data: str = ""

    @property
    def ratio(self) -> float:
        return self.peer_s / self.engine_s if self.engine_s > 0 else math.inf


def _alternate(fn_a, fn_b, reps: int) -> tuple[float, float]:
    """Median seconds of ``fn_a`` and ``fn_b`` over ``reps`` alternating runs after one warm-up
    each (both see the same machine load)."""
    import statistics

    fn_a()
    fn_b()
    ta, tb = [], []
    for _ in range(max(1, reps)):
        for fn, acc in ((fn_a, ta), (fn_b, tb)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


def run_peer_bench(cases=PEER_CASES, metrics=PEER_METRICS, data_dir: Path | None = None,
                   reps: int = 5, device: str = "cpu", log=None, n: int | None = None) -> list[PeerRow]:
    """Engine vs torchmetrics (float32) per metric and case (see module doc); ``n`` pairs per case
    (default: 40, 4, 8).

    Raises:
        ModuleNotFoundError: torchmetrics is not installed (message: the install command).
    """
    import torch

    if not have_torchmetrics():
        raise ModuleNotFoundError(TORCHMETRICS_MISSING)
    rows = []
    dev = torch.device(device)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for cname in cases:
        case = peer_case(cname, data_dir, n)
        s = case.settings
        x = torch.from_numpy(case.sr).float()
        y = torch.from_numpy(case.hr).float()
        if x.ndim == 3:
            x, y = x[:, None], y[:, None]
        else:
            x, y = x.permute(0, 3, 1, 2).contiguous(), y.permute(0, 3, 1, 2).contiguous()
        x, y = x.to(dev), y.to(dev)
        for m in metrics:
            tm = torchmetrics_fn(m, s)
            f = 255.0 / s.data_range if (m == "vif" and s.vif_rescale) else 1.0
            xp, yp = (x * f, y * f) if f != 1.0 else (x, y)
            res = {}

            def ours(m=m, case=case, res=res):
                res["ours"] = compute_metrics_batch(case.sr, case.hr, case.settings, names=[m],
                                                    device=device)[0][m]
                sync()

            def peer(tm=tm, xp=xp, yp=yp, res=res):
                res["peer"] = tm(xp, yp)
                sync()

            t_ours, t_peer = _alternate(ours, peer, reps)
            ref, ref_name = reference_values(case, m)
            peer_vals = res["peer"].double().cpu().numpy().reshape(case.sr.shape[0], -1).mean(axis=1)
            row = PeerRow(cname, m, case.sr.shape[0], t_ours, t_peer, _max_diff(res["ours"], ref),
                          _max_diff(peer_vals, ref), ref_name, case.data)
            rows.append(row)
            if log:
                log(format_peer_row(row))
    return rows


PEER_HEAD = ("| case | metric | pairs | engine (s) | torchmetrics fp32 (s) | ratio | engine max abs diff "
             "| torchmetrics max abs diff | tolerance | reference |\n"
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|")


def format_peer_row(r: PeerRow) -> str:
    tol = reference_tolerances().get(r.metric, float("nan"))
    ok = "" if r.engine_diff <= tol else " (OVER)"
    return (f"| {r.case} | {r.metric} | {r.n} | {r.engine_s:.3f} | {r.peer_s:.3f} | **{r.ratio:.1f}x** "
            f"| {r.engine_diff:.2g}{ok} | {r.peer_diff:.2g} | {tol:g} | {r.reference} |")


def format_peer_markdown(rows: list[PeerRow], machine: str, threads: int, reps: int, command: str) -> str:
    """Markdown of the peer table with machine, threads, protocol and command."""
    load = load_average()
    lines = [
        "## Metric engine vs torchmetrics (float32), per metric",
        "",
        f"- machine: {machine}; torch threads {threads} (both sides); load average at the end {load}",
        f"- command: `{command}`" if command else "- command: (from Python)",
        f"- protocol: median of {reps} alternating repetitions after one warm-up each; engine = "
        "`compute_metrics_batch` on float64 NumPy stacks (conversion included); torchmetrics = "
        "`torchmetrics.functional.image` on float32 tensors made beforehand (conversion not timed); "
        "VIFp inputs scaled by 255 / data_range on both sides",
        *[f"- data {c}: {d}" for c, d in dict.fromkeys((r.case, r.data) for r in rows)],
        "",
        PEER_HEAD,
        *[format_peer_row(r) for r in rows],
        "",
        "Max abs diff: each side against the reference, per image (torchmetrics computes in float32; its "
        "MS-SSIM downsamples by 2x2 average pooling, not sewar's filter, hence its larger difference).",
    ]
    return "\n".join(lines) + "\n"


def __getattr__(name: str):
    # TOLERANCE: the stated tolerances against the references, the one table of the metric specs
    # (the tests use it too), printed next to each difference. Computed on access: building it
    # imports every metric module, which `bench --help` should not pay for.
    if name == "TOLERANCE":
        return reference_tolerances()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        f"| engine ({'NumPy + OpenCV' if r.device == 'cpu' else 'torch'}, {r.device}, {r.threads} threads) | {r.engine_s:.3f} | {1e3 * r.engine_s / r.n:.2f} |",
        f"| baseline (skimage + sewar + NumPy) | {r.baseline_s:.3f} | {1e3 * r.baseline_s / r.n:.2f} |",
        f"| **speed-up** | **{r.ratio:.1f}x** | |",
        "",
        "| metric | max abs diff (engine vs baseline) | tolerance | within |",
        "|---|---:|---:|:---:|",
    ]
    tolerance = reference_tolerances()
    for m, d in r.max_abs_diff.items():
        tol = tolerance.get(m, float("nan"))
        lines.append(f"| {m} | {d:.3g} | {tol:g} | {'yes' if d <= tol else 'NO'} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ perceptual IQA metrics (issue 20)

IQA_CASES = ("256-gray", "512-rgb")
IQA_MISSING = ("pyiqa / piq are not installed: the IQA table needs them as references. Install them with: "
               "pip install \"medsr-bench[iqa]\"  (pyiqa==0.1.16, piq==0.8.0)")
# torchmetrics.functional.image names of the IQA metrics it implements (checked at run time, so a
# torchmetrics that adds one shows up as a missing function, not as a silently absent row)
TORCHMETRICS_IQA = {"gmsd": "gradient_magnitude_similarity_deviation", "haarpsi": "haarpsi",
                    "fsim": "feature_similarity_index_measure", "vsi": "visual_saliency_induced_index",
                    "dists": "deep_image_structure_and_texture_similarity"}


def have_iqa_references() -> bool:
    """True when pyiqa and piq (the ``[iqa]`` extra) can be imported."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("pyiqa", "piq"))


def iqa_case(name: str, data_dir: Path | None = None, n: int | None = None) -> PeerCase:
    """:func:`peer_case` data for the IQA table: ``256-gray`` as is ([0, 1] floats, no quantisation);
    ``512-rgb`` on the 8-bit grid (values rounded, ``data_range = 255``, quantised: the references'
    RGB luminance is rounded to 8 bits, as GMSD.m takes uint8 images)."""
    case = peer_case(name, data_dir, n)
    if case.hr.ndim == 4:
        s = MetricSettings(data_range=255.0, channel="rgb", quantize=True)
        return PeerCase(name, np.round(case.sr * 255.0), np.round(case.hr * 255.0), s,
                        case.data + "; rounded to the 8-bit grid (data_range 255)")
    return case


def iqa_reference(metric: str):
    """``(label, fn)`` of the per-image reference of an IQA metric: ``fn(x, y) -> float`` on float64
    tensors ``(1, C, H, W)`` in [0, 1] (SR, HR); the calls of ``tests/test_metrics_iqa.py``.

    Raises:
        KeyError: no reference is timed for ``metric`` (DISTS: its weights).
    """
    import medsr_bench.compat  # noqa: F401  (torchvision shim before pyiqa / piq import it)

    # isort: split
    import piq
    from pyiqa.archs.fsim_arch import fsim
    from pyiqa.archs.gmsd_arch import gmsd
    from pyiqa.archs.vsi_arch import vsi

    refs = {
        "gmsd": ("pyiqa 0.1.16 gmsd", lambda x, y: float(gmsd(x, y, channels=x.shape[1],
                                                              test_y_channel=x.shape[1] == 3))),
        "haarpsi": ("piq 0.8.0 haarpsi (pyiqa has none)", lambda x, y: float(piq.haarpsi(x, y, data_range=1.0))),
        "fsim": ("pyiqa 0.1.16 fsim", lambda x, y: float(fsim(x, y, chromatic=x.shape[1] == 3))),
        "vsi": ("pyiqa 0.1.16 vsi", lambda x, y: float(vsi(x, y, data_range=1.0))),
    }
    return refs[metric]


@dataclass
class IqaRow:
    """One (case, metric) line of the IQA table: medians in seconds, or ``missing`` (the reason and
    the command that fixes it) when the metric could not run here."""

    case: str
    metric: str
    n: int
    engine_s: float = math.nan
    ref_s: float = math.nan
    engine_diff: float = math.nan
    reference: str = ""
    peer: str = ""
    peer_s: float = math.nan
    missing: str = ""
    data: str = ""

    @property
    def ratio(self) -> float:
        return self.ref_s / self.engine_s if self.engine_s > 0 else math.inf

    @property
    def peer_ratio(self) -> float:
        return self.peer_s / self.engine_s if self.engine_s > 0 else math.inf


def torchmetrics_iqa(metric: str):
    """The ``torchmetrics.functional.image`` function of an IQA metric, or None where it has none."""
    import medsr_bench.compat  # noqa: F401  (torchvision shim before torchmetrics imports it)

    # isort: split
    import torchmetrics.functional.image as tmi

    return getattr(tmi, TORCHMETRICS_IQA.get(metric, ""), None)


def run_iqa_bench(cases=IQA_CASES, metrics=("gmsd", "haarpsi", "fsim", "vsi", "dists"),
                  data_dir: Path | None = None, reps: int = 3, n: int | None = None,
                  log=None) -> list[IqaRow]:
    """Batched IQA metrics (``compute_metrics_batch``, float64) vs their per-image references
    (:func:`iqa_reference`, on float64 tensors made beforehand), side by side (:func:`_alternate`),
    with the max |difference| per image; torchmetrics (float32) where it implements the metric.
    DISTS without its weights is a row of missing cells with the reason and the fetch command.

    Raises:
        ModuleNotFoundError: pyiqa / piq not installed (message: the install command).
    """
    import warnings

    import torch

    if not have_iqa_references():
        raise ModuleNotFoundError(IQA_MISSING)
    rows = []
    for cname in cases:
        case = iqa_case(cname, data_dir, n)
        s = case.settings
        k = case.sr.shape[0]

        def tensor(a, dr=s.data_range):
            a = a / dr
            a = a[None, None] if a.ndim == 2 else a.transpose(2, 0, 1)[None]
            return torch.from_numpy(np.ascontiguousarray(a)).double()

        xs = [tensor(a) for a in case.sr]
        ys = [tensor(a) for a in case.hr]
        for m in metrics:
            tm = torchmetrics_iqa(m) if have_torchmetrics() else None
            status, why = metric_status(m)
            if status != "ok":
                peer = ("torchmetrics: needs the same VGG16 file in the torch hub cache" if tm is not None
                        else f"torchmetrics {TORCHMETRICS_IQA.get(m)}: none")
                rows.append(IqaRow(cname, m, k, reference="-", peer=peer, missing=why, data=case.data))
                if log:
                    log(format_iqa_row(rows[-1]))
                continue
            try:
                label, ref = iqa_reference(m)
            except KeyError:  # DISTS with its weights: timed against torchmetrics only
                label, ref = "- (none timed: pyiqa's DISTS needs the same weights)", None
            res = {}

            def ours(m=m, case=case, res=res):
                res["ours"] = compute_metrics_batch(case.sr, case.hr, case.settings, names=[m])[0][m]

            def theirs(ref=ref, res=res, xs=xs, ys=ys):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # pyiqa's VSI warns on replicated gray input
                    res["ref"] = np.array([ref(x, y) for x, y in zip(xs, ys, strict=True)])

            row = IqaRow(cname, m, k, reference=label, data=case.data)
            if ref is not None:
                row.engine_s, row.ref_s = _alternate(ours, theirs, reps)
                row.engine_diff = _max_diff(res["ours"], res["ref"])
            if tm is None:
                row.peer = "none in torchmetrics"
            else:
                xb, yb = torch.cat(xs).float(), torch.cat(ys).float()

                def peer(tm=tm, xb=xb, yb=yb, res=res):
                    res["peer"] = tm(xb, yb, reduction="none").double().numpy().reshape(-1)

                t_ours, row.peer_s = _alternate(ours, peer, reps)
                row.engine_s = row.engine_s if ref is not None else t_ours
                row.peer = (f"torchmetrics {TORCHMETRICS_IQA[m]}: max abs diff to the engine "
                            f"{_max_diff(res['ours'], res['peer']):.2g}")
            rows.append(row)
            if log:
                log(format_iqa_row(row))
    return rows


IQA_HEAD = ("| case | metric | pairs | engine (s) | engine images/s | reference (s) | reference images/s "
            "| ratio | max abs diff | tolerance | reference | torchmetrics fp32 |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")


def format_iqa_row(r: IqaRow) -> str:
    """One Markdown line of the IQA table (missing cells say why and how to fix it)."""
    if r.missing:
        cell = f"missing: {r.missing}"
        return f"| {r.case} | {r.metric} | {r.n} | {cell} | - | - | - | - | - | - | - | {r.peer} |"
    tol = reference_tolerances().get(r.metric, float("nan"))
    ok = "" if r.engine_diff <= tol else " (OVER)"
    peer = r.peer if math.isnan(r.peer_s) else f"{r.peer_s:.3f} s, engine **{r.peer_ratio:.1f}x** ({r.peer})"
    if math.isnan(r.ref_s):
        ref = "| - | - | - | - | - "
    else:
        ref = (f"| {r.ref_s:.3f} | {r.n / r.ref_s:.1f} | **{r.ratio:.1f}x** | {r.engine_diff:.2g}{ok} "
               f"| {tol:g} ")
    return (f"| {r.case} | {r.metric} | {r.n} | {r.engine_s:.3f} | {r.n / r.engine_s:.1f} {ref}"
            f"| {r.reference} | {peer} |")


def format_iqa_markdown(rows: list[IqaRow], machine: str, threads: int, reps: int, command: str) -> str:
    """Markdown of the IQA table with machine, threads, protocol and command."""
    load = load_average()
    lines = [
        "## Perceptual IQA metrics (GMSD, HaarPSI, FSIM, VSI, DISTS): batched engine vs per-image reference",
        "",
        f"- machine: {machine}; torch threads {threads}; load average at the end {load}",
        f"- command: `{command}`" if command else "- command: (from Python)",
        f"- protocol: median of {reps} alternating repetitions after one warm-up each; engine = "
        "`compute_metrics_batch` on float64 NumPy stacks (the metrics' stack code, chunks on CPU threads); "
        "reference = the library call of `tests/test_metrics_iqa.py`, one image at a time, on float64 "
        "tensors made beforehand (not timed)",
        *[f"- data {c}: {d}" for c, d in dict.fromkeys((r.case, r.data) for r in rows)],
        "",
        IQA_HEAD,
        *[format_iqa_row(r) for r in rows],
        "",
        "Max abs diff: engine vs the reference, per image (VSI's looser tolerance: pyiqa departs from "
        "VSI.m, see `benchmark/metrics/vsi.py`). torchmetrics column: torchmetrics.functional.image has "
        "DISTS only (checked at run time); no GMSD, HaarPSI, FSIM or VSI.",
    ]
    return "\n".join(lines) + "\n"
