"""FSIM / FSIMc: feature similarity index (higher is better, 1 for identical images).

Source: L. Zhang, L. Zhang, X. Mou, D. Zhang, "FSIM: a feature similarity index for image quality
assessment", IEEE TIP 20(8), 2011, eqs. (1)-(8), with the authors' ``FeatureSIM.m`` and its
``phasecong2`` (P. Kovesi's phase congruency): images on the 8-bit scale; ``F = max(1,
round(min(H, W) / 256))``, an ``F x F`` mean (``conv2 'same'``) then every ``F``-th pixel; phase
congruency PC with 4 log-Gabor scales (min wavelength 6, factor 2, sigma_f 0.55) x 4 orientations
(angular sigma ``pi / 4 / 1.2``), noise threshold k = 2 (estimated from the median of the finest
scale, divided by 1.7 as in ``phasecong2``), epsilon 1e-4; Scharr gradient magnitude G
(``[3 0 -3; 10 0 -10; 3 0 -3] / 16``, zero padding); ``S = S_PC^1 S_G^1`` with
``S_PC = (2 PC_r PC_d + T1) / (PC_r^2 + PC_d^2 + T1)``, ``T1 = 0.85``, S_G likewise with
``T2 = 160``, pooled with weight ``max(PC_r, PC_d)``. FSIMc (3 channels) adds
``Re((S_I S_Q)^0.03)`` with ``T3 = T4 = 200`` on the YIQ chroma planes.

Colour convention: a 3-channel (``channel=rgb``) image gives FSIMc (pyiqa's default ``fsim``,
``chromatic=True``) on YIQ (NTSC); a 1-channel image (``gray``, ``y``, ``matlab-gray``) gives
FSIM on that plane. Values are rescaled from ``[0, data_range]`` to [0, 255].
Reference: pyiqa 0.1.16 ``pyiqa.archs.fsim_arch.fsim`` (tests: tolerance stated there). Known
readings where pyiqa differs from FeatureSIM.m (and this code follows FeatureSIM.m): the F x F
mean for F > 2 is block-aligned in pyiqa; pyiqa takes ``|S_I S_Q|^0.03`` instead of the real
part (they differ only where ``S_I S_Q < 0``); its I/Q rows are rounded to 4 digits; its
phase congruency divides the mean phase vector by its norm plus machine epsilon where
``phasecong2`` adds ``epsilon = 1e-4`` (this code), which matters where the filter responses are
that small: the far zero background of a padded MR slice (BraTS [0, 1] slices: FSIM 4.7e-6 apart);
and its frequency grid is transposed (``torch.meshgrid(..., indexing='ij')`` with x along the
rows; MATLAB's ``meshgrid`` puts x along the columns): on a square image the same four
orientations, but the Nyquist row and column fall in other filters (8e-7 on those slices). With
both swapped in, pyiqa and this code agree to 1e-7 on them (its float32 filter construction).
DRIVE fundus crops (RGB, black outside the field of view, bilinear SR): 2.3e-6 apart, 2.3e-7 with
all four readings swapped in.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import fft as sfft

from medsr_bench.benchmark.metrics._iqa_common import (
    batched,
    conv2_same,
    finite_or,
    one_image,
    rgb_to_yiq,
    to_255,
    undefined,
)
from medsr_bench.benchmark.metrics.registry import (
    CheckTolerance,
    MetricSpec,
    ReferenceTolerance,
    register_metric,
)

FSIM_T = (0.85, 160.0, 200.0, 200.0)
FSIM_LAMBDA = 0.03
# Scharr [3 0 -3; 10 0 -10; 3 0 -3] / 16 as outer(SCHARR_SMOOTH, SCHARR_DIFF) (x; transposed: y)
SCHARR_SMOOTH = (3.0 / 16.0, 10.0 / 16.0, 3.0 / 16.0)
SCHARR_DIFF = (1.0, 0.0, -1.0)
_PC = {"nscale": 4, "norient": 4, "min_wavelength": 6.0, "mult": 2.0, "sigma_onf": 0.55,
       "d_theta_on_sigma": 1.2, "k": 2.0, "epsilon": 1e-4}


def mean_subsample(a: np.ndarray, f: int) -> np.ndarray:
    """FeatureSIM.m / VSI.m downsampling of every ``(H, W)`` plane of ``a`` (``(..., H, W)``):
    ``conv2(a, ones(f)/f^2, 'same')`` then ``a(1:f:end, 1:f:end)``; identity for ``f = 1``."""
    if f == 1:
        return a
    box = (1.0 / f,) * f
    return conv2_same(a, box, box)[..., ::f, ::f]


def scharr_magnitude(a: np.ndarray) -> np.ndarray:
    """Scharr gradient magnitude of every plane of ``a`` (``(..., H, W)``, ``conv2 'same'``)."""
    gx = conv2_same(a, SCHARR_SMOOTH, SCHARR_DIFF)
    gy = conv2_same(a, SCHARR_DIFF, SCHARR_SMOOTH)
    return np.sqrt(gx * gx + gy * gy)


def downsample_factor(h: int, w: int) -> int:
    """``max(1, round(min(h, w) / 256))`` (MATLAB ``round``: halves away from zero)."""
    return max(1, int(math.floor(min(h, w) / 256 + 0.5)))


def _freq_grid(n: int) -> np.ndarray:
    """phasecong2's normalised frequency axis for ``n`` samples (before ``ifftshift``)."""
    if n % 2:
        return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1)
    return np.arange(-n / 2, n / 2) / n


def _lowpass(rows: int, cols: int, cutoff: float = 0.45, order: int = 15) -> np.ndarray:
    """Kovesi's Butterworth ``lowpassfilter([rows, cols], .45, 15)`` (already ``ifftshift``-ed): on
    the frequency axis of :func:`_freq_grid` (an odd axis divided by ``n - 1``, as FeatureSIM.m)."""
    x, y = _freq_grid(cols), _freq_grid(rows)
    r = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2)
    return np.fft.ifftshift(1.0 / (1.0 + (r / cutoff) ** (2 * order)))


@lru_cache(maxsize=8)
def _pc_bank(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The image-independent part of ``phasecong2`` for a ``rows x cols`` plane: the log-Gabor x
    angular-spread filters ``(norient, nscale, rows, cols)`` (frequency domain, read-only) and, per
    orientation, the noise-model factor ``tau^2 / noise_power``, i.e.
    ``(2 sum_s |A_s|^2 + 4 sum_{i<j} A_i A_j) / 2`` (``A_s``: the spatial filters) and the
    finest-scale filter energy ``em_n`` (two ``(norient,)`` arrays)."""
    p = _PC
    x, y = np.meshgrid(_freq_grid(cols), _freq_grid(rows))
    radius = np.fft.ifftshift(np.sqrt(x * x + y * y))
    theta = np.fft.ifftshift(np.arctan2(-y, x))
    radius[0, 0] = 1.0
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    lp = _lowpass(rows, cols)
    gabors = []
    for s in range(p["nscale"]):
        fo = 1.0 / (p["min_wavelength"] * p["mult"] ** s)
        g = np.exp(-(np.log(radius / fo) ** 2) / (2.0 * math.log(p["sigma_onf"]) ** 2)) * lp
        g[0, 0] = 0.0
        gabors.append(g)
    theta_sigma = math.pi / p["norient"] / p["d_theta_on_sigma"]
    bank = np.empty((p["norient"], p["nscale"], rows, cols))
    em_n = np.empty(p["norient"])
    tau2 = np.empty(p["norient"])
    for o in range(p["norient"]):
        ang = o * math.pi / p["norient"]
        ds = sin_t * math.cos(ang) - cos_t * math.sin(ang)
        dc = cos_t * math.cos(ang) + sin_t * math.sin(ang)
        spread = np.exp(-(np.abs(np.arctan2(ds, dc)) ** 2) / (2.0 * theta_sigma ** 2))
        spatial = []
        for s in range(p["nscale"]):
            bank[o, s] = gabors[s] * spread
            spatial.append(np.real(sfft.ifft2(bank[o, s])) * math.sqrt(rows * cols))
        em_n[o] = float((bank[o, 0] * bank[o, 0]).sum())
        sum_an2 = float(sum((f * f).sum() for f in spatial))
        sum_aiaj = float(sum((spatial[i] * spatial[j]).sum()
                             for i in range(len(spatial)) for j in range(i + 1, len(spatial))))
        tau2[o] = (2.0 * sum_an2 + 4.0 * sum_aiaj) / 2.0
    for a in (bank, em_n, tau2):
        a.flags.writeable = False
    return bank, em_n, tau2


def phase_congruency(im: np.ndarray) -> np.ndarray:
    """Phase congruency maps of ``(..., H, W)`` float64 planes (``phasecong2`` of FeatureSIM.m,
    the parameters in :data:`_PC`; the noise threshold is estimated per plane); values in [0, 1)."""
    p = _PC
    rows, cols = im.shape[-2:]
    bank, em_n, tau2 = _pc_bank(rows, cols)
    spectrum = sfft.fft2(im)[..., None, :, :]
    energy_all = np.zeros(im.shape)
    an_all = np.zeros(im.shape)
    for o in range(p["norient"]):
        eo = sfft.ifft2(spectrum * bank[o])  # (..., nscale, H, W) complex responses
        total = eo.sum(axis=-3)
        sum_e, sum_o = total.real, total.imag
        mag = np.abs(eo)
        sum_an = mag.sum(axis=-3)
        x_energy = np.sqrt(sum_e ** 2 + sum_o ** 2) + p["epsilon"]
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        er, ei = eo.real, eo.imag
        me, mo = mean_e[..., None, :, :], mean_o[..., None, :, :]
        energy = (er * me + ei * mo - np.abs(er * mo - ei * me)).sum(axis=-3)
        # noise estimate from the finest scale (Rayleigh: median / ln 2 = mean of |EO|^2), per plane
        mean_e2n = -np.median(mag[..., 0, :, :] ** 2, axis=(-2, -1)) / math.log(0.5)
        tau = np.sqrt(mean_e2n / em_n[o] * tau2[o])
        t = (tau * math.sqrt(math.pi / 2.0) + p["k"] * np.sqrt((2.0 - math.pi / 2.0) * tau * tau)) / 1.7
        energy_all += np.maximum(energy - t[..., None, None], 0.0)
        an_all += sum_an
    return energy_all / an_all


def _sim(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (2.0 * a * b + t) / (a * a + b * b + t)


def fsim_planes(sr: np.ndarray, hr: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """FSIM of ``(n, 1, H, W)`` or FSIMc of ``(n, 3, H, W)`` YIQ float64 stacks on the 8-bit
    scale: ``(n,)`` (NaN where neither image has phase congruency).

    ``mask`` (bool ``(n, H, W)``, optional) restricts the pooling, eq. (8)'s sums over the pixels
    where ``PC_m`` weights ``S_L``, to the region; the phase congruency and gradient maps are still
    those of the whole image. With ``F > 1`` the mask is reduced as the images (``F x F`` mean,
    every ``F``-th pixel) and a pixel of the reduced grid is in the region when at least half of
    its box is. An all-True mask gives the whole-image value exactly.
    """
    n = hr.shape[0]
    f = downsample_factor(*hr.shape[-2:])
    a, b = mean_subsample(hr, f), mean_subsample(sr, f)
    w = None if mask is None else (mean_subsample(mask.astype(np.float64), f) >= 0.5)
    pc = phase_congruency(np.concatenate([a[:, 0], b[:, 0]]))
    pc_a, pc_b = pc[:n], pc[n:]
    g = scharr_magnitude(np.concatenate([a[:, 0], b[:, 0]]))
    t1, t2, t3, t4 = FSIM_T
    pcm = np.maximum(pc_a, pc_b)
    s = _sim(pc_a, pc_b, t1) * _sim(g[:n], g[n:], t2) * pcm
    if a.shape[1] == 3:
        siq = (_sim(a[:, 1], b[:, 1], t3) * _sim(a[:, 2], b[:, 2], t4)).astype(complex)
        s = s * np.real(siq ** FSIM_LAMBDA)
    if w is not None:
        s, pcm = s * w, pcm * w
    return s.sum(axis=(-2, -1)) / pcm.sum(axis=(-2, -1))


def fsim_stack(sr: np.ndarray, hr: np.ndarray, settings,
               mask: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """FSIM (1 channel) / FSIMc (3 channels) of ``(n, C, H, W)`` float64 stacks in
    ``[0, settings.data_range]``: ``(values (n,), notes)``; NaN below 8x8 pixels or without phase
    congruency (in the region, with ``mask``: bool ``(n, H, W)``, see :func:`fsim_planes`)."""
    n, _, h, w = sr.shape
    if min(h, w) < 8:
        return undefined(n, f"FSIM undefined: image {h}x{w} is smaller than 8x8")
    dr = settings.data_range
    a, b = to_255(sr, dr), to_255(hr, dr)
    if a.shape[1] == 3:
        a, b = rgb_to_yiq(a), rgb_to_yiq(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = fsim_planes(a, b, mask)
    return finite_or(v, "FSIM undefined: no phase congruency in either image (e.g. constant images)"
                     if mask is None else "FSIM undefined: no phase congruency in the region in "
                     "either image, or an empty region")


def fsim(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """Per-image FSIM / FSIMc of ``(C, H, W)`` float64 arrays: :func:`fsim_stack` on a batch of one."""
    return one_image(fsim_stack, sr, hr, settings)


def fsim_batched(sr, hr, settings, names, device="cpu", chunk=None):
    """The registry's batched FSIM (:data:`~benchmark.metrics.registry.BatchedFn`): :func:`fsim_stack`
    over chunks of ``(N, C, H, W)`` float64 stacks on CPU threads (``device`` is not used)."""
    return batched("fsim", fsim_stack, sr, hr, settings, chunk)


SPEC = register_metric(MetricSpec(
    name="fsim", higher_is_better=True, value_range=(0.0, 1.0), needs_weights=False,
    reference="pyiqa 0.1.16 fsim (chromatic=True for RGB, False for 1-channel; values / data_range)",
    unit="1", description="Zhang et al. 2011 FSIM (gray) / FSIMc (RGB, YIQ): phase congruency x "
                          "Scharr gradient similarity, PC-weighted (T1=0.85, T2=160, 8-bit scale)",
    fn=fsim,
    batched=fsim_batched,
    tolerance=ReferenceTolerance(1e-5, "1e-5 vs pyiqa: zero-padded BraTS slices measured 4.8e-6-5.2e-6, "
                                       "DRIVE RGB crops (black surround) 2.3e-6: pyiqa's machine-epsilon "
                                       "phase normalisation where phasecong2 adds 1e-4, its transposed "
                                       "frequency grid (and on RGB its 4-digit I/Q rows and |S_I S_Q|); "
                                       "with those swapped in <= 2.3e-7 (its float32 filters)"),
    check_tolerance=CheckTolerance(1e-4, 0.0, "1e-4: printed to 4 decimals; float64 code")))
