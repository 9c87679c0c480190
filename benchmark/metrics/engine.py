"""Batched engine for same-size stacks: CPU (NumPy + OpenCV, tiled, threaded) or CUDA (torch).

Implements PSNR, MSE, RMSE, MAE, NRMSE, SSIM, MS-SSIM and VIFp with exactly the conventions of the
per-image NumPy implementations (``psnr.py``, ``ssim.py``, ``vif.py``; see their docstrings for the
formulas and sources) and agrees with them to ~1e-13. float64 throughout: SSIM/VIF variances are
differences ``E[x^2] - E[x]^2`` of numbers up to ``data_range^2``, so float32 would lose ~1e-4.

Two backends, same numbers:

- ``"cpu"`` (default on CPU): the stack is cut into *tiles* of about :data:`TILE_PIXELS` pixels
  (a few planes of a small image, or a band of rows of a large one, with the window's halo), so
  the ~10 float64 maps a tile needs stay in cache; each tile runs the NumPy formulas of ``ssim.py``
  (:func:`~benchmark.metrics.ssim.ssim_cs_sums`) and ``vif.py``
  (:func:`~benchmark.metrics.vif.vif_scale_sums`) with OpenCV's separable ``sepFilter2D`` in
  float64 as the Gaussian filter (:func:`cv_gaussian_valid`; one SIMD pass per axis, against the
  ``k`` passes of a shift-and-add filter or the ``k^2`` taps of a 2-D convolution); sums over a
  tile's valid outputs add up to the image's. Tiles run on a thread pool of
  ``torch.get_num_threads()`` workers (OpenCV and NumPy release the GIL; each worker is
  single-threaded, so no per-operation barrier waits on a busy core).
- ``"torch"`` (default on CUDA; runs on CPU too): all local statistics are 'valid' separable
  Gaussian filters applied to one stacked tensor holding the five maps ``x, y, x^2, y^2, xy``; on
  CUDA the filter is two GEMMs with banded Toeplitz matrices (``A_H^T @ X @ A_W``, cuBLAS), on CPU
  ``k`` multiply-adds of shifted views. MS-SSIM reuses SSIM's first scale; SSIM/VIFp share the
  product maps.

Input: float64 NumPy arrays ``(N, C, H, W)`` from :func:`benchmark.metrics.domain.prepare_pair`.
Entry point: :func:`compute_batch` (called by :func:`benchmark.metrics.compute_metrics_batch`).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import cv2
import numpy as np
import torch

from medsr_bench.benchmark.metrics._kernels import gaussian_taps
from medsr_bench.benchmark.metrics.psnr import nrmse_from
from medsr_bench.benchmark.metrics.ssim import (
    MSSSIM_DOWNSAMPLERS,
    SSIM_SIGMA,
    SSIM_WIN,
    combine_msssim,
    msssim_scales,
    ssim_cs_sums,
)
from medsr_bench.benchmark.metrics.vif import VIF_EPS, VIF_MIN_SIZE, vif_scale_sums, vif_windows

ENGINE_METRICS = frozenset({"psnr", "mse", "rmse", "mae", "nrmse", "ssim", "ms-ssim", "vif"})
_CHUNK_PIXELS = 2**18  # pixels (x channels) per CPU chunk: ~4 images of 256x256, cache-sized


@lru_cache(maxsize=64)
def _toeplitz_cpu(n: int, size: int, sigma: float, stride: int) -> torch.Tensor:
    taps = torch.from_numpy(gaussian_taps(size, sigma))
    m = n - size + 1
    cols = list(range(0, m, stride))
    a = torch.zeros(n, len(cols), dtype=torch.float64)
    for j, c in enumerate(cols):
        a[c:c + size, j] = taps
    return a


_DEV_CACHE: dict[tuple, torch.Tensor] = {}


def toeplitz(n: int, size: int, sigma: float, stride: int, device: torch.device) -> torch.Tensor:
    """``(n, ceil((n - size + 1) / stride))`` float64 matrix: ``x @ A`` = valid Gaussian filter of
    the last axis of ``x``, keeping every ``stride``-th output."""
    key = (n, size, sigma, stride, str(device))
    a = _DEV_CACHE.get(key)
    if a is None:
        a = _toeplitz_cpu(n, size, sigma, stride).to(device)
        if len(_DEV_CACHE) > 128:
            _DEV_CACHE.clear()
        _DEV_CACHE[key] = a
    return a


@lru_cache(maxsize=64)
def _taps(size: int, sigma: float) -> tuple[float, ...]:
    return tuple(float(t) for t in gaussian_taps(size, sigma))


def _shift_add(x: torch.Tensor, taps: tuple[float, ...], stride: int, dim: int) -> torch.Tensor:
    """Valid correlation of ``x`` with ``taps`` along ``dim`` (-1 or -2) as ``k`` fused
    multiply-adds of shifted (strided) views, keeping every ``stride``-th output."""
    k = len(taps)
    m = x.shape[dim] - k + 1
    span = stride * ((m - 1) // stride) + 1
    if dim == -1:
        out = x[..., 0:span:stride] * taps[0]
        for i in range(1, k):
            out.add_(x[..., i:i + span:stride], alpha=taps[i])
    else:
        out = x[..., 0:span:stride, :] * taps[0]
        for i in range(1, k):
            out.add_(x[..., i:i + span:stride, :], alpha=taps[i])
    return out


def filter_valid(x: torch.Tensor, size: int, sigma: float, stride: int = 1, method: str = "auto") -> torch.Tensor:
    """Valid separable Gaussian filter of the last two axes of ``x`` (``(..., H, W)`` float64),
    outputs decimated by ``stride`` (``filter_valid(x)[..., ::stride, ::stride]``).

    ``method``: ``"shift"`` (k multiply-adds of shifted views; cache-friendly, fastest on CPU for
    small chunks), ``"gemm"`` (two products with banded Toeplitz matrices; cuBLAS on GPU), or
    ``"auto"`` (gemm on CUDA, shift elsewhere). Both agree to ~1e-13 relative.
    """
    if method == "auto":
        method = "gemm" if x.is_cuda else "shift"
    if method == "gemm":
        h, w = x.shape[-2:]
        aw = toeplitz(w, size, sigma, stride, x.device)
        ah = toeplitz(h, size, sigma, stride, x.device)
        return ah.t() @ (x @ aw)
    taps = _taps(size, sigma)
    return _shift_add(_shift_add(x, taps, stride, -1), taps, stride, -2)


def products(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(B, C, 5, H, W)`` stack of ``x, y, x^2, y^2, x y`` (the maps every local statistic needs)."""
    b, c, h, w = x.shape
    m = torch.empty((b, c, 5, h, w), dtype=x.dtype, device=x.device)
    m[:, :, 0] = x
    m[:, :, 1] = y
    torch.mul(x, x, out=m[:, :, 2])
    torch.mul(y, y, out=m[:, :, 3])
    torch.mul(x, y, out=m[:, :, 4])
    return m


def local_stats(prod: torch.Tensor, size: int, sigma: float, scale: float = 1.0):
    """Filter a :func:`products` stack and return local ``mu_x, mu_y, s_x^2, s_y^2, s_xy``
    (population (co)variances; views of one new tensor). ``scale`` multiplies the images first
    (means by ``scale``, second moments by ``scale^2``), without touching ``prod``."""
    f = filter_valid(prod, size, sigma)
    if scale != 1.0:
        f[:, :, :2] *= scale
        f[:, :, 2:] *= scale * scale
    mx, my = f[:, :, 0], f[:, :, 1]
    sxx = f[:, :, 2].addcmul_(mx, mx, value=-1.0)
    syy = f[:, :, 3].addcmul_(my, my, value=-1.0)
    sxy = f[:, :, 4].addcmul_(mx, my, value=-1.0)
    return mx, my, sxx, syy, sxy


def ssim_cs(prod: torch.Tensor, data_range: float, k1: float, k2: float):
    """Per-(image, channel) mean SSIM and mean cs over the valid region of a :func:`products`
    stack: two ``(B, C)`` tensors."""
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    mx, my, sxx, syy, sxy = local_stats(prod, SSIM_WIN, SSIM_SIGMA)
    cs = torch.mul(sxy, 2.0).add_(c2).div_(sxx.add_(syy).add_(c2))
    lum = torch.mul(mx, my).mul_(2.0).add_(c1).div_(torch.mul(mx, mx).addcmul_(my, my).add_(c1))
    cs_mean = cs.mean(dim=(-2, -1))
    return lum.mul_(cs).mean(dim=(-2, -1)), cs_mean


def box2_decimate_matlab(x: torch.Tensor) -> torch.Tensor:
    """``msssim.m``'s 2x2 box average + decimation (see ``ssim.box2_decimate_matlab``)."""
    h, w = x.shape[-2:]
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    p = torch.cat((x, x[..., -1:, :]), dim=-2) if h % 2 else x
    p = 0.5 * (p[..., 0:2 * h2:2, :] + p[..., 1:2 * h2:2, :])
    p = torch.cat((p, p[..., :, -1:]), dim=-1) if w % 2 else p
    return 0.5 * (p[..., :, 0:2 * w2:2] + p[..., :, 1:2 * w2:2])


def box2_decimate(x: torch.Tensor) -> torch.Tensor:
    """sewar's MS-SSIM 2x2 box average + decimation (see ``ssim.box2_decimate``)."""
    h, w = x.shape[-2:]
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    p = torch.cat((x[..., :1, :], x), dim=-2)[..., : 2 * h2, :]
    p = 0.5 * (p[..., 0::2, :] + p[..., 1::2, :])
    p = torch.cat((p[..., :, :1], p), dim=-1)[..., :, : 2 * w2]
    return 0.5 * (p[..., :, 0::2] + p[..., :, 1::2])


_TORCH_DOWNSAMPLERS = {"matlab": box2_decimate_matlab, "sewar": box2_decimate}

_LN10 = math.log(10.0)


def vif_sums(prod: torch.Tensor, sigma_nsq: float, scale: float = 1.0):
    """VIFp numerator / denominator per (image, channel): two ``(B, C)`` tensors.

    ``prod`` is the :func:`products` stack of (distorted, reference) = (SR, HR), i.e. index 1 is
    the reference; ``scale`` multiplies both images first (``255 / data_range`` by default).
    """
    eps = VIF_EPS
    b, c = prod.shape[:2]
    num = torch.zeros((b, c), dtype=prod.dtype, device=prod.device)
    den = torch.zeros_like(num)
    xy = prod[:, :, :2]
    for s, (n, sigma) in enumerate(vif_windows()):
        if s > 0:
            xy = filter_valid(xy, n, sigma, stride=2)
            p = products(xy[:, :, 0], xy[:, :, 1])
        else:
            p = prod
        _, _, sd, sr, sdr = local_stats(p, n, sigma, scale)
        # sr: reference variance, sd: distorted variance, sdr: covariance (vifp_mscale.m / sewar)
        sr.clamp_(min=0.0)
        sd.clamp_(min=0.0)
        g = sdr / (sr + eps)
        sv = sd - g * sdr
        m = sr < eps
        g.masked_fill_(m, 0.0)
        sv = torch.where(m, sd, sv)
        sr.masked_fill_(m, 0.0)
        m = sd < eps
        g.masked_fill_(m, 0.0)
        sv.masked_fill_(m, 0.0)
        m = g < 0
        sv = torch.where(m, sd, sv)
        g.masked_fill_(m, 0.0)
        sv.clamp_(min=eps)
        num += torch.log1p(g.mul_(g).mul_(sr).div_(sv.add_(sigma_nsq))).sum(dim=(-2, -1)) / _LN10
        den += torch.log1p(sr.div_(sigma_nsq)).sum(dim=(-2, -1)) / _LN10
    return num, den


def _torch_raw(x: torch.Tensor, y: torch.Tensor, settings, n_scales: int, want_vif: bool) -> dict:
    """SSIM per scale, cs per scale and VIF sums of one chunk (``(B, C, H, W)`` tensors, SR = x,
    HR = y) on the torch backend, as ``(B * C, ...)`` NumPy arrays (see :func:`_raw_planes`)."""
    out: dict[str, np.ndarray] = {}
    prod = products(x, y)
    if n_scales:
        k1, k2, dr = settings.ssim_k1, settings.ssim_k2, settings.data_range
        s, c = ssim_cs(prod, dr, k1, k2)
        ss, cc = [s], [c]
        down = _TORCH_DOWNSAMPLERS[settings.msssim_downsample]
        xs, ys = x, y
        for _ in range(1, n_scales):
            xs, ys = down(xs), down(ys)
            s, c = ssim_cs(products(xs, ys), dr, k1, k2)
            ss.append(s)
            cc.append(c)
        out["ssim"] = torch.stack(ss, dim=-1).flatten(0, 1).cpu().numpy()
        out["cs"] = torch.stack(cc, dim=-1).flatten(0, 1).cpu().numpy()
    if want_vif:
        f = 255.0 / settings.data_range if settings.vif_rescale else 1.0
        num, den = vif_sums(prod, settings.vif_sigma_nsq, f)
        out["vif_num"] = num.flatten().cpu().numpy()
        out["vif_den"] = den.flatten().cpu().numpy()
    return out


# ----------------------------------------------------------------------------- CPU backend

TILE_PIXELS = 2**17
"""Input pixels per CPU tile (per plane group or band of rows): ~1 MB per float64 map, so the
~10 maps of a tile stay in the L2/L3 caches. Measured on the 2-core development machine: 2^16 to
2^18 are within noise of each other; whole 1024x1024 planes (2^20) are about 2x slower."""


@lru_cache(maxsize=64)
def _np_taps(size: int, sigma: float) -> np.ndarray:
    t = gaussian_taps(size, sigma)
    t.flags.writeable = False
    return t


def cv_gaussian_valid(a: np.ndarray, size: int, sigma: float, stride: int = 1) -> np.ndarray:
    """Valid Gaussian filter of the last two axes of ``a`` with OpenCV ``sepFilter2D`` (float64).

    Args:
        a: float64 ``(..., h, w)`` with ``h, w >= size`` (each ``(h, w)`` plane is filtered
            separately; planes need contiguous rows, else they are copied).
        size, sigma: the :func:`~benchmark.metrics._kernels.gaussian_taps` window.
        stride: keep every ``stride``-th output in both axes (filter-and-decimate).

    Returns:
        float64 view ``(..., ceil((h - size + 1) / stride), ceil((w - size + 1) / stride))`` of a new
        array: equal to ``_kernels.gaussian_valid(a, size, sigma)[..., ::stride, ::stride]`` up to
        float rounding (~1e-16 relative; OpenCV computes the border too, which is cropped).
    """
    taps = _np_taps(size, sigma)
    h, w = a.shape[-2:]
    r = size // 2
    flat = a.reshape(-1, h, w)
    out = np.empty(flat.shape)
    for p, o in zip(flat, out, strict=True):
        if not p.flags.c_contiguous:
            p = np.ascontiguousarray(p)
        cv2.sepFilter2D(p, cv2.CV_64F, taps, taps, dst=o, borderType=cv2.BORDER_REPLICATE)
    return out.reshape(a.shape)[..., r:h - r:stride, r:w - r:stride]


def _row_bands(h: int, w: int, planes: int, size: int) -> list[tuple[int, int]]:
    """Input row ranges ``[r0, r1)`` of about :data:`TILE_PIXELS` pixels (over ``planes`` planes of
    width ``w``) whose valid outputs (``size``-tap window) tile the output rows ``[0, h - size + 1)``
    exactly once; each band carries a halo of ``size - 1`` rows."""
    m = h - size + 1
    rows = max(8 * (size - 1), TILE_PIXELS // max(1, w * planes) - (size - 1), 1)
    return [(r0, min(r0 + rows, m) + size - 1) for r0 in range(0, m, rows)]


def _banded(fn, a: np.ndarray, b: np.ndarray, size: int, *args, **kw) -> tuple[np.ndarray, ...]:
    """``fn(a_band, b_band, *args, **kw)`` summed over the :func:`_row_bands` of ``(G, h, w)``
    stacks ``a`` and ``b`` (``fn`` returns a tuple of sums over the valid region)."""
    g, h, w = a.shape
    total = None
    for r0, r1 in _row_bands(h, w, g, size):
        part = fn(a[:, r0:r1], b[:, r0:r1], *args, **kw)
        total = list(part) if total is None else [t + p for t, p in zip(total, part, strict=True)]
    return tuple(total)


def _cpu_raw(x: np.ndarray, y: np.ndarray, settings, n_scales: int, want_vif: bool) -> dict:
    """SSIM / cs per scale and VIF sums of a plane group (``(G, H, W)`` float64, SR = x, HR = y)
    on the CPU backend; same layout as :func:`_torch_raw`."""
    out: dict[str, np.ndarray] = {}
    if n_scales:
        dr, k1, k2 = settings.data_range, settings.ssim_k1, settings.ssim_k2
        ss, cc = [], []
        down = MSSSIM_DOWNSAMPLERS[settings.msssim_downsample]
        xs, ys = x, y
        for j in range(n_scales):
            if j:
                xs, ys = down(xs), down(ys)
            s, c = _banded(ssim_cs_sums, xs, ys, SSIM_WIN, dr, k1, k2, filt=cv_gaussian_valid)
            n = (xs.shape[-2] - SSIM_WIN + 1) * (xs.shape[-1] - SSIM_WIN + 1)
            ss.append(s / n)
            cc.append(c / n)
        out["ssim"] = np.stack(ss, axis=-1)
        out["cs"] = np.stack(cc, axis=-1)
    if want_vif:
        f = 255.0 / settings.data_range if settings.vif_rescale else 1.0
        ref, dist = (y * f, x * f) if f != 1.0 else (y, x)
        num = np.zeros(x.shape[0])
        den = np.zeros(x.shape[0])
        for s, (n, sigma) in enumerate(vif_windows()):
            if s:
                ref = np.ascontiguousarray(cv_gaussian_valid(ref, n, sigma, 2))
                dist = np.ascontiguousarray(cv_gaussian_valid(dist, n, sigma, 2))
            a, b = _banded(vif_scale_sums, ref, dist, n, n, sigma, settings.vif_sigma_nsq,
                           filt=cv_gaussian_valid)
            num += a
            den += b
        out["vif_num"], out["vif_den"] = num, den
    return out


def _cpu_raw_all(x: np.ndarray, y: np.ndarray, settings, n_scales: int, want_vif: bool,
                 workers: int) -> dict:
    """:func:`_cpu_raw` over plane groups of about :data:`TILE_PIXELS` pixels (``(M, H, W)``
    inputs), on a pool of ``workers`` threads; results concatenated in plane order."""
    m, h, w = x.shape
    g = max(1, min(m, TILE_PIXELS // (h * w)))
    groups = [(i, min(i + g, m)) for i in range(0, m, g)]

    def work(rng):
        return _cpu_raw(x[rng[0]:rng[1]], y[rng[0]:rng[1]], settings, n_scales, want_vif)

    workers = max(1, min(workers, len(groups)))
    if workers == 1:
        parts = [work(r) for r in groups]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="metrics") as ex:
            parts = list(ex.map(work, groups))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}


# ----------------------------------------------------------------------------- both backends

def _simple_metrics(sr: np.ndarray, hr: np.ndarray, settings, need: set[str]) -> dict:
    """PSNR, MSE, RMSE, MAE, NRMSE of ``(N, C, H, W)`` float64 stacks (NumPy; one pass each)."""
    out: dict[str, tuple[np.ndarray, list[str]]] = {}
    n = sr.shape[0]
    if not need & {"psnr", "mse", "rmse", "nrmse", "mae"}:
        return out
    d = sr - hr
    mse = np.einsum("nchw,nchw->n", d, d) / d[0].size
    if "mse" in need:
        out["mse"] = (mse, [""] * n)
    if "rmse" in need:
        out["rmse"] = (np.sqrt(mse), [""] * n)
    if "mae" in need:
        out["mae"] = (np.abs(d, out=d).mean(axis=(1, 2, 3)), [""] * n)
    if "psnr" in need:
        dr = settings.data_range
        with np.errstate(divide="ignore"):
            p = 10.0 * np.log10(dr * dr / mse)
        p[mse == 0] = math.inf
        out["psnr"] = (p, ["identical images (MSE = 0): PSNR = inf" if v == 0 else "" for v in mse])
    if "nrmse" in need:
        norm = settings.nrmse_norm
        if norm == "mean":
            den = hr.mean(axis=(1, 2, 3))
        elif norm == "euclidean":
            den = np.sqrt(np.einsum("nchw,nchw->n", hr, hr) / hr[0].size)
        else:
            den = hr.max(axis=(1, 2, 3)) - hr.min(axis=(1, 2, 3))
        pairs = [nrmse_from(float(r), float(dd), norm) for r, dd in zip(np.sqrt(mse), den, strict=True)]
        out["nrmse"] = (np.array([p[0] for p in pairs]), [p[1] for p in pairs])
    return out


def _finish(raw: dict, n: int, c: int, h: int, w: int, settings, need: set[str]) -> dict:
    """Per-image values and notes from the per-plane :func:`_cpu_raw` / :func:`_torch_raw` sums."""
    out: dict[str, tuple[np.ndarray, list[str]]] = {}
    if need & {"ssim", "ms-ssim"}:
        if min(h, w) < SSIM_WIN:
            for nm, label in (("ssim", "SSIM"), ("ms-ssim", "MS-SSIM")):
                if nm in need:
                    out[nm] = (np.full(n, math.nan),
                               [f"{label} undefined: image {h}x{w} is smaller than the 11x11 window"] * n)
        else:
            ss = raw["ssim"].reshape(n, c, -1).mean(axis=1)  # (N, scales)
            if "ssim" in need:
                out["ssim"] = (ss[:, 0].copy(), [""] * n)
            if "ms-ssim" in need:
                cc = raw["cs"].reshape(n, c, -1).mean(axis=1)
                weights = np.asarray(settings.msssim_weights)
                vals = np.array([combine_msssim(ss[i], cc[i], weights) for i in range(n)])
                out["ms-ssim"] = (vals, [""] * n)
    if "vif" in need:
        if min(h, w) < VIF_MIN_SIZE:
            out["vif"] = (np.full(n, math.nan),
                          [f"VIFp undefined: image {h}x{w} is smaller than {VIF_MIN_SIZE} px (4-scale pyramid)"] * n)
        else:
            num, den = raw["vif_num"].reshape(n, c), raw["vif_den"].reshape(n, c)
            bad = (den == 0).any(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                vals = (num / den).mean(axis=1)
            vals[bad] = math.nan
            out["vif"] = (vals, ["VIFp undefined: HR has no local variance (denominator 0, e.g. constant image)"
                                 if bd else "" for bd in bad])
    return out


BACKENDS = ("auto", "cpu", "torch")


def compute_batch(sr: np.ndarray, hr: np.ndarray, settings, names: list[str], device: str = "cpu",
                  chunk: int | None = None, backend: str = "auto",
                  workers: int | None = None) -> tuple[dict[str, np.ndarray], list[list[str]]]:
    """Engine metrics for stacks.

    Args:
        sr, hr: float64 ``(N, C, H, W)`` in the metric domain (prepared by ``prepare_pair``).
        settings: :class:`benchmark.metrics.MetricSettings`.
        names: canonical names, each in :data:`ENGINE_METRICS`.
        device: torch device string; ``cuda...`` selects the torch backend under ``auto``.
        chunk: torch backend: images per batch (default about 2^18 pixels x channels, 64 times more
            on CUDA). The CPU backend sizes its own tiles (:data:`TILE_PIXELS`) and ignores it.
        backend: ``"auto"`` (``"torch"`` on CUDA, ``"cpu"`` otherwise), ``"cpu"`` or ``"torch"``
            (the torch backend also runs on CPU: the reference for the CUDA code path in tests).
        workers: CPU backend threads (default ``torch.get_num_threads()``).

    Returns:
        ``(values, notes)`` with ``values[name]`` a float64 ``(N,)`` array and ``notes[i]`` a list of
        ``"name: reason"`` strings for image i.

    Raises:
        KeyError: a name outside :data:`ENGINE_METRICS`. ValueError: unknown ``backend``, or
        ``"cpu"`` with a CUDA device.
    """
    unknown = set(names) - ENGINE_METRICS
    if unknown:
        raise KeyError(f"engine does not implement {sorted(unknown)}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    n, c, h, w = sr.shape
    dev = torch.device(device)
    if backend == "auto":
        backend = "torch" if dev.type == "cuda" else "cpu"
    if backend == "cpu" and dev.type != "cpu":
        raise ValueError(f"backend 'cpu' runs on the CPU, not on {device}")
    need = set(names)
    sr = np.ascontiguousarray(sr, dtype=np.float64)
    hr = np.ascontiguousarray(hr, dtype=np.float64)
    n_scales = 0
    if need & {"ssim", "ms-ssim"} and min(h, w) >= SSIM_WIN:
        n_scales = msssim_scales(h, w, len(settings.msssim_weights)) if "ms-ssim" in need else 1
    want_vif = "vif" in need and min(h, w) >= VIF_MIN_SIZE
    raw: dict[str, np.ndarray] = {}
    if n_scales or want_vif:
        if backend == "cpu":
            raw = _cpu_raw_all(sr.reshape(n * c, h, w), hr.reshape(n * c, h, w), settings, n_scales,
                               want_vif, workers or torch.get_num_threads())
        else:
            if chunk is None:
                budget = _CHUNK_PIXELS * (64 if dev.type == "cuda" else 1)
                chunk = max(1, budget // (c * h * w))
            parts = []
            # HR is the reference ("y" here, GT in sewar / image_true in skimage); SR is "x".
            for i0 in range(0, n, chunk):
                x = torch.from_numpy(sr[i0:i0 + chunk]).to(dev, torch.float64)
                y = torch.from_numpy(hr[i0:i0 + chunk]).to(dev, torch.float64)
                parts.append(_torch_raw(x, y, settings, n_scales, want_vif))
            raw = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    res = _simple_metrics(sr, hr, settings, need)
    res.update(_finish(raw, n, c, h, w, settings, need))
    values = {nm: np.asarray(res[nm][0], dtype=np.float64) for nm in names}
    notes: list[list[str]] = [[] for _ in range(n)]
    for nm in names:
        for i, t in enumerate(res[nm][1]):
            if t:
                notes[i].append(f"{nm}: {t}")
    return values, notes
