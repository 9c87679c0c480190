"""Batched torch engine for same-size stacks (CPU threads or CUDA), float64 throughout.

Implements PSNR, MSE, RMSE, MAE, NRMSE, SSIM, MS-SSIM and VIFp with exactly the conventions of the
per-image NumPy implementations (``psnr.py``, ``ssim.py``, ``vif.py``; see their docstrings for the
formulas and sources) and agrees with them to ~1e-12.

How it is fast: all local statistics are 'valid' separable Gaussian filters, applied to one stacked
tensor holding the five maps ``x, y, x^2, y^2, xy`` of every image and channel of a chunk. On CPU a
separable filter is ``k`` in-place multiply-adds of shifted views per axis, on chunks small enough
(~4 images of 256x256) to stay in cache; filter-and-decimate (VIFp's pyramid) reads strided views,
so only the kept outputs are computed. On CUDA the same filter is two GEMMs with banded Toeplitz
matrices (``A_H^T @ X @ A_W``, cuBLAS). MS-SSIM reuses SSIM's first scale and SSIM/VIFp share the
product maps. float64 (not float32) is required: SSIM/VIF variances are differences
``E[x^2] - E[x]^2`` of numbers up to ``data_range^2``.

Input: float64 NumPy arrays ``(N, C, H, W)`` from :func:`benchmark.metrics.domain.prepare_pair`.
Entry point: :func:`compute_batch` (called by :func:`benchmark.metrics.compute_metrics_batch`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from medsr_bench.benchmark.metrics._kernels import gaussian_taps
from medsr_bench.benchmark.metrics.psnr import nrmse_from
from medsr_bench.benchmark.metrics.ssim import SSIM_SIGMA, SSIM_WIN, combine_msssim, msssim_scales
from medsr_bench.benchmark.metrics.vif import VIF_EPS, VIF_MIN_SIZE, vif_windows

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


def box2_decimate(x: torch.Tensor) -> torch.Tensor:
    """sewar's MS-SSIM 2x2 box average + decimation (see ``ssim.box2_decimate``)."""
    h, w = x.shape[-2:]
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    p = torch.cat((x[..., :1, :], x), dim=-2)[..., : 2 * h2, :]
    p = 0.5 * (p[..., 0::2, :] + p[..., 1::2, :])
    p = torch.cat((p[..., :, :1], p), dim=-1)[..., :, : 2 * w2]
    return 0.5 * (p[..., :, 0::2] + p[..., :, 1::2])


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


def _chunk_metrics(x: torch.Tensor, y: torch.Tensor, settings, names: list[str]):
    """All requested metrics for one chunk; returns ``{name: (values (B,) ndarray, notes list)}``."""
    out: dict[str, tuple[np.ndarray, list[str]]] = {}
    b = x.shape[0]
    h, w = x.shape[-2:]
    dr = settings.data_range
    need = set(names)
    prod = None
    if need & {"psnr", "mse", "rmse", "nrmse", "mae"}:
        d = x - y
        mse = (d * d).mean(dim=(1, 2, 3)).cpu().numpy()
        if "mse" in need:
            out["mse"] = (mse, [""] * b)
        if "rmse" in need:
            out["rmse"] = (np.sqrt(mse), [""] * b)
        if "mae" in need:
            out["mae"] = (d.abs().mean(dim=(1, 2, 3)).cpu().numpy(), [""] * b)
        if "psnr" in need:
            with np.errstate(divide="ignore"):
                p = 10.0 * np.log10(dr * dr / mse)
            p[mse == 0] = math.inf
            out["psnr"] = (p, ["identical images (MSE = 0): PSNR = inf" if m == 0 else "" for m in mse])
        if "nrmse" in need:
            norm = settings.nrmse_norm
            if norm == "mean":
                den = y.mean(dim=(1, 2, 3))
            elif norm == "euclidean":
                den = (y * y).mean(dim=(1, 2, 3)).sqrt()
            else:
                den = y.amax(dim=(1, 2, 3)) - y.amin(dim=(1, 2, 3))
            pairs = [nrmse_from(float(r), float(dd), norm) for r, dd in zip(np.sqrt(mse), den.cpu().numpy(), strict=True)]
            out["nrmse"] = (np.array([p[0] for p in pairs]), [p[1] for p in pairs])
    if need & {"ssim", "ms-ssim"}:
        if min(h, w) < SSIM_WIN:
            for nm, label in (("ssim", "SSIM"), ("ms-ssim", "MS-SSIM")):
                if nm in need:
                    out[nm] = (np.full(b, math.nan),
                               [f"{label} undefined: image {h}x{w} is smaller than the 11x11 window"] * b)
        else:
            k1, k2 = settings.ssim_k1, settings.ssim_k2
            prod = products(x, y) if prod is None else prod
            s1, c1 = ssim_cs(prod, dr, k1, k2)
            if "ssim" in need:
                out["ssim"] = (s1.mean(dim=1).cpu().numpy(), [""] * b)
            if "ms-ssim" in need:
                weights = np.asarray(settings.msssim_weights)
                n = msssim_scales(h, w, len(weights))
                ss, cc = [s1.mean(dim=1)], [c1.mean(dim=1)]
                xs, ys = x, y
                for _ in range(1, n):
                    xs, ys = box2_decimate(xs), box2_decimate(ys)
                    s, c = ssim_cs(products(xs, ys), dr, k1, k2)
                    ss.append(s.mean(dim=1))
                    cc.append(c.mean(dim=1))
                ss_np = torch.stack(ss, dim=1).cpu().numpy()
                cc_np = torch.stack(cc, dim=1).cpu().numpy()
                vals = np.array([combine_msssim(ss_np[i], cc_np[i], weights) for i in range(b)])
                out["ms-ssim"] = (vals, [""] * b)
    if "vif" in need:
        if min(h, w) < VIF_MIN_SIZE:
            out["vif"] = (np.full(b, math.nan),
                          [f"VIFp undefined: image {h}x{w} is smaller than {VIF_MIN_SIZE} px (4-scale pyramid)"] * b)
        else:
            f = 255.0 / dr if settings.vif_rescale else 1.0
            prod = products(x, y) if prod is None else prod
            num, den = vif_sums(prod, settings.vif_sigma_nsq, f)
            num, den = num.cpu().numpy(), den.cpu().numpy()
            bad = (den == 0).any(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                vals = (num / den).mean(axis=1)
            vals[bad] = math.nan
            out["vif"] = (vals, ["VIFp undefined: HR has no local variance (denominator 0, e.g. constant image)"
                                 if bd else "" for bd in bad])
    return out


def compute_batch(sr: np.ndarray, hr: np.ndarray, settings, names: list[str], device: str = "cpu",
                  chunk: int | None = None) -> tuple[dict[str, np.ndarray], list[list[str]]]:
    """Engine metrics for stacks.

    Args:
        sr, hr: float64 ``(N, C, H, W)`` in the metric domain (prepared by ``prepare_pair``).
        settings: :class:`benchmark.metrics.MetricSettings`.
        names: canonical names, each in :data:`ENGINE_METRICS`.
        device: torch device string.
        chunk: images per batch (default: about 2^18 pixels per chunk on CPU, so that the ~10
            float64 maps in flight stay in cache; 64 times more on CUDA).

    Returns:
        ``(values, notes)`` with ``values[name]`` a float64 ``(N,)`` array and ``notes[i]`` a list of
        ``"name: reason"`` strings for image i.
    """
    unknown = set(names) - ENGINE_METRICS
    if unknown:
        raise KeyError(f"engine does not implement {sorted(unknown)}")
    n, c, h, w = sr.shape
    dev = torch.device(device)
    if chunk is None:
        budget = _CHUNK_PIXELS * (64 if dev.type == "cuda" else 1)
        chunk = max(1, budget // (c * h * w))
    values = {nm: np.empty(n) for nm in names}
    notes: list[list[str]] = [[] for _ in range(n)]
    # HR is the reference ("y" here, GT in sewar / image_true in skimage); SR is "x".
    for i0 in range(0, n, chunk):
        x = torch.from_numpy(np.ascontiguousarray(sr[i0:i0 + chunk])).to(dev, torch.float64)
        y = torch.from_numpy(np.ascontiguousarray(hr[i0:i0 + chunk])).to(dev, torch.float64)
        res = _chunk_metrics(x, y, settings, names)
        for nm in names:
            v, nt = res[nm]
            values[nm][i0:i0 + len(v)] = v
            for j, t in enumerate(nt):
                if t:
                    notes[i0 + j].append(f"{nm}: {t}")
    return values, notes
