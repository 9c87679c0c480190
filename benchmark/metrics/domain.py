"""Metric settings, conversion to the metric domain, and the channel / crop policy.

Every metric of this package is computed on images in the *metric domain*: float64 values in
``[0, data_range]`` (``data_range`` = 255 for 8-bit images, 1.0 for [0, 1] floats, 4095 or 65535 for
12/16-bit data). The settings that decide how an image gets there, and how channels and borders are
handled, are one frozen dataclass, :class:`MetricSettings`, which the runner writes into ``run.json``
and the report prints under each table.

Sources for the conventions:

- Y channel: ITU-R BT.601 "studio swing" luma, Y in [16, 235] for 8-bit, exactly as BasicSR's
  ``basicsr.utils.color_util.rgb2ycbcr(y_only=True)`` / ``metric_util.to_y_channel`` and MATLAB's
  ``rgb2ycbcr``: ``Y = 16 + (65.481 R + 128.553 G + 24.966 B)`` with R, G, B in [0, 1]. Here it is
  written for any ``data_range``: ``Y = data_range * 16/255 + (65.481 R + 128.553 G + 24.966 B) / 255``
  with R, G, B in ``[0, data_range]`` (identical to BasicSR for ``data_range = 255``; BasicSR's
  functions take BGR input, ours take RGB).
- crop_border: as BasicSR's ``calculate_psnr/ssim``: ``crop_border`` pixels are removed from each of
  the four edges before any metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

CHANNEL_POLICIES = ("gray", "rgb", "y", "matlab-gray")
NRMSE_NORMS = ("mean", "euclidean", "min-max")
MSSSIM_DOWNSAMPLES = ("matlab", "sewar")
#: Standard CT display windows, name -> (level L, width W) in Hounsfield units: soft tissue
#: W400/L40, bone W1800/L400, lung W1500/L-600 (the usual radiology presets).
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "soft-tissue": (40.0, 400.0), "bone": (400.0, 1800.0), "lung": (-600.0, 1500.0)}
#: Raw-HU reading: HU clipped to the 12-bit CT range [-1024, 3071] (air to dense bone / the usual
#: stored range of CT scanners), shifted by +1024 so the metric domain is [0, 4095].
RAW_HU_RANGE = (-1024.0, 3071.0)
#: ``metric.ct_window`` values: ``none`` (the images' own [0, 1] reading, e.g. P4's per-image
#: min-max 8-bit), ``hu`` (raw HU, :data:`RAW_HU_RANGE`), or a window of :data:`CT_WINDOWS`.
CT_READINGS = ("none", "hu", *CT_WINDOWS)
#: ``metric.reduce`` values: ``slice`` (each 2-D image on its own ``data_range``) or ``volume``
#: (slices of one volume in the volume's raw intensities, ``data_range`` = the volume's range).
REDUCTIONS = ("slice", "volume")

# BT.601 luma weights as used by BasicSR / MATLAB rgb2ycbcr, for R, G, B in [0, 1] -> [16, 235].
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0
# MATLAB rgb2gray weights (the rounded inverse of the NTSC YIQ matrix), used by IQA reference code.
_MATLAB_GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)


@dataclass(frozen=True)
class MetricSettings:
    """Everything that decides a metric value besides the two images.

    Attributes:
        data_range: peak-to-peak range of the metric domain, i.e. images are in ``[0, data_range]``.
            It is MAX in PSNR (``10 log10(data_range^2 / MSE)``) and L in the SSIM / MS-SSIM
            constants ``C1 = (K1 L)^2``, ``C2 = (K2 L)^2``. 255 for 8-bit images, 1.0 for [0, 1]
            floats, the true range (e.g. 4095, 65535) for 12/16-bit data. Never inferred from the
            dtype. Must be > 0 and finite.
        channel: channel policy. ``"gray"``: single-channel images ``(N, H, W)`` (or ``(N, H, W, 1)``);
            3-channel input is accepted only when its three channels are identical (it is then
            collapsed), otherwise ``ValueError``. ``"rgb"``: each of the 3 channels is scored and the
            per-channel values averaged (PSNR: from the MSE over all channels, as skimage / BasicSR);
            single-channel input is scored as is (same as its replicated RGB). ``"y"``: 3-channel RGB
            input is converted to BT.601 Y (16-235 for 8-bit, see module doc); single-channel input is
            scored as is (BasicSR's ``to_y_channel`` leaves it unchanged). ``"matlab-gray"``:
            3-channel RGB input through MATLAB's ``rgb2gray`` (0.298936 R + 0.587043 G + 0.114021 B),
            rounded to the integer grid when ``quantize`` (as ``rgb2gray`` of a uint8 image returns
            uint8); single-channel input is scored as is.
        crop_border: pixels removed from each edge before scoring (BasicSR ``crop_border``); 0 = none.
            Typically the SR scale for BasicSR-style tables.
        quantize: in :func:`to_metric_domain`, round to the integer grid ``0, 1, ..., data_range``
            after scaling, as saving an 8-bit (``data_range=255``) or 16-bit PNG would. Requires an
            integer ``data_range >= 2``; use ``quantize=False`` for [0, 1] float metrics.
        nrmse_norm: NRMSE denominator. ``"mean"`` (default; P3 Rashid et al.: RMSE / mean(HR)),
            ``"euclidean"`` (skimage default: RMSE / sqrt(mean(HR^2))), ``"min-max"`` (RMSE /
            (max(HR) - min(HR))). All on the same (channel-converted, cropped) HR.
        ssim_k1: SSIM constant K1 (Wang et al. 2004: 0.01). Also used by MS-SSIM.
        ssim_k2: SSIM constant K2 (Wang et al. 2004: 0.03). Also used by MS-SSIM.
        vif_sigma_nsq: VIFp visual-noise variance sigma_n^2 (Sheikh & Bovik 2006, vifp_mscale.m and
            sewar ``vifp``: 2.0), in units of an 8-bit image (see ``vif_rescale``).
        vif_rescale: if True (default), images are scaled by ``255 / data_range`` before VIFp, so that
            ``vif_sigma_nsq`` keeps its 8-bit meaning and VIFp does not depend on ``data_range``
            (identical to sewar for ``data_range=255``). If False, ``vif_sigma_nsq`` is applied in the
            metric-domain units, as sewar does when given e.g. [0, 1] floats.
        msssim_weights: per-scale MS-SSIM exponents (Wang, Simoncelli & Bovik 2003; sewar default).
        msssim_downsample: 2x downsampling between MS-SSIM scales. ``"matlab"`` (default): Wang's
            ``msssim.m``, ``imfilter(ones(2)/4, 'symmetric')`` then ``(1:2:end)``, i.e. the mean of
            pixels ``(2k, 2k+1)``; ``"sewar"``: sewar's ``uniform_filter(size=2)``, the mean of
            pixels ``(2k-1, 2k)`` (the reading of this project before issue 20). See ``ssim.py``.
        ct_window: CT reading in Hounsfield units (:data:`CT_READINGS`). ``"none"`` (default):
            the images' own [0, 1] scale times ``data_range`` (P4's per-image min-max 8-bit
            reading). ``"hu"``: raw HU, clipped to [-1024, 3071] and shifted by +1024, scored with
            ``data_range`` 4095. ``"soft-tissue"`` / ``"bone"`` / ``"lung"``: HU clipped to the window
            ``[L - W/2, L + W/2]`` of :data:`CT_WINDOWS` and shifted to ``[0, W]``, scored with
            ``data_range = W`` (this replaces the ``data_range`` field). Needs samples whose
            protocol can give each image's HU (``hu_range`` hook: the CPTAC-GBM / head-CT protocol
            for CT images); other images score NaN with a note. With ``quantize`` the HU are
            rounded to integers (as stored by CT scanners).
        reduce: ``"slice"`` (default): each image on its own, as above. ``"volume"``: for protocols
            whose samples are slices of volumes (``volume_of`` hook: BraTS), each slice is mapped
            back to the volume's raw intensities and scored with ``data_range`` = the volume's
            range (max - min; fastMRI's ``data_range = volume max`` when the minimum is 0), and a
            3-D SSIM (column ``ssim@volume``, summarised and checked like a region metric of SSIM) is added per volume. Slices of other protocols score as ``slice``.
    """

    data_range: float = 255.0
    channel: str = "gray"
    crop_border: int = 0
    quantize: bool = True
    nrmse_norm: str = "mean"
    ssim_k1: float = 0.01
    ssim_k2: float = 0.03
    vif_sigma_nsq: float = 2.0
    vif_rescale: bool = True
    msssim_weights: tuple[float, ...] = field(default=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333))
    msssim_downsample: str = "matlab"
    ct_window: str = "none"
    reduce: str = "slice"

    def __post_init__(self) -> None:
        dr = float(self.data_range)
        if not np.isfinite(dr) or dr <= 0:
            raise ValueError(f"data_range must be a finite number > 0, got {self.data_range!r}")
        object.__setattr__(self, "data_range", dr)
        if self.channel not in CHANNEL_POLICIES:
            raise ValueError(f"channel must be one of {CHANNEL_POLICIES}, got {self.channel!r}")
        if int(self.crop_border) != self.crop_border or self.crop_border < 0:
            raise ValueError(f"crop_border must be an integer >= 0, got {self.crop_border!r}")
        object.__setattr__(self, "crop_border", int(self.crop_border))
        if self.nrmse_norm not in NRMSE_NORMS:
            raise ValueError(f"nrmse_norm must be one of {NRMSE_NORMS}, got {self.nrmse_norm!r}")
        if self.quantize and (dr != round(dr) or dr < 2):
            raise ValueError(
                f"quantize=True rounds to the integer grid 0..data_range and needs an integer "
                f"data_range >= 2 (e.g. 255 for 8-bit), got {dr}; use quantize=False for [0, 1] floats"
            )
        if self.ssim_k1 <= 0 or self.ssim_k2 <= 0:
            raise ValueError("ssim_k1 and ssim_k2 must be > 0")
        if self.vif_sigma_nsq <= 0:
            raise ValueError("vif_sigma_nsq must be > 0")
        if self.msssim_downsample not in MSSSIM_DOWNSAMPLES:
            raise ValueError(f"msssim_downsample must be one of {MSSSIM_DOWNSAMPLES}, "
                             f"got {self.msssim_downsample!r}")
        if self.ct_window not in CT_READINGS:
            raise ValueError(f"ct_window must be one of {CT_READINGS}, got {self.ct_window!r}")
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {REDUCTIONS}, got {self.reduce!r}")
        w = tuple(float(v) for v in self.msssim_weights)
        if not w:
            raise ValueError("msssim_weights must hold at least one scale")
        object.__setattr__(self, "msssim_weights", w)

    def to_dict(self) -> dict:
        """JSON-serialisable dict of all fields (for ``run.json`` and report captions)."""
        d = asdict(self)
        d["msssim_weights"] = list(self.msssim_weights)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MetricSettings:
        """Inverse of :meth:`to_dict` (unknown keys raise ``TypeError``)."""
        d = dict(d)
        if "msssim_weights" in d:
            d["msssim_weights"] = tuple(d["msssim_weights"])
        return cls(**d)

    def describe(self) -> str:
        """One line for a report caption, e.g. ``data_range=255, channel=y, crop_border=4, ...``."""
        return (
            f"data_range={self.data_range:g}, channel={self.channel}, crop_border={self.crop_border}, "
            f"quantize={self.quantize}, nrmse_norm={self.nrmse_norm}, SSIM Gaussian 11x11 sigma 1.5 "
            f"K1={self.ssim_k1:g} K2={self.ssim_k2:g}, VIFp sigma_nsq={self.vif_sigma_nsq:g}"
            f"{' (8-bit units)' if self.vif_rescale else ' (metric-domain units)'}"
            + (f", ct_window={self.ct_window}" if self.ct_window != "none" else "")
            + (f", reduce={self.reduce}" if self.reduce != "slice" else "")
        )


def hu_bounds(ct_window: str) -> tuple[float, float]:
    """``(low, high)`` HU of a ``ct_window`` reading other than ``"none"`` (see :class:`MetricSettings`).

    Raises:
        ValueError: ``"none"`` or an unknown name.
    """
    if ct_window == "hu":
        return RAW_HU_RANGE
    if ct_window not in CT_WINDOWS:
        raise ValueError(f"ct_window {ct_window!r} has no HU bounds; expected one of {CT_READINGS[1:]}")
    level, width = CT_WINDOWS[ct_window]
    return level - width / 2.0, level + width / 2.0


def reading_settings(settings: MetricSettings, data_range: float | None = None) -> MetricSettings:
    """The settings the metrics see once the reading is applied: ``data_range`` = the CT window's
    width (``ct_window`` other than ``"none"``), else ``data_range`` when given (a volume's range,
    ``reduce="volume"``), else ``settings`` unchanged."""
    if settings.ct_window != "none":
        lo, hi = hu_bounds(settings.ct_window)
        return replace(settings, data_range=hi - lo)
    if data_range is not None:
        return replace(settings, data_range=float(data_range))
    return settings


def to_metric_domain(x01: np.ndarray, settings: MetricSettings,
                     value_range: np.ndarray | None = None, offset: np.ndarray | float = 0.0) -> np.ndarray:
    """Map an image (or stack) in [0, 1] to the metric domain ``[0, data_range]``.

    Args:
        x01: float array in [0, 1], any shape (``(H, W)``, ``(H, W, 3)``, ``(N, H, W[, 3])``).
            Integer arrays are refused (they are not in [0, 1]; pass them directly to
            :func:`compute_metrics_batch` with the matching ``data_range``).
        settings: uses ``data_range``, ``quantize`` and ``ct_window``.
        value_range: physical value of 0 and of 1 of each image, ``(N, 2)`` for a stack or ``(2,)``:
            HU for ``ct_window`` other than ``"none"`` (required then), raw intensities for
            ``reduce="volume"`` (then ``offset`` is subtracted: the volume's minimum).
        offset: per-image (``(N,)``) or scalar value subtracted after the mapping (``reduce="volume"``).

    Returns:
        float64 array of the same shape. Without ``value_range``: ``clip(x01, 0, 1) * data_range``.
        With a CT window ``[lo, hi]`` (:func:`hu_bounds`): ``clip(v0 + x (v1 - v0), lo, hi) - lo``
        with ``x = clip(x01, 0, 1)``, in HU (``[0, W]``). With ``value_range`` and no window:
        ``v0 + x (v1 - v0) - offset``. Rounded half-to-even to integers when ``settings.quantize``
        (as ``(x * 255).round()`` before writing an 8-bit PNG). NaN stays NaN.

    Raises:
        TypeError: for non-floating input.
        ValueError: a CT window without ``value_range``, or a ``value_range`` of the wrong shape.
    """
    x = np.asarray(x01)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"to_metric_domain expects a float array in [0, 1], got dtype {x.dtype}")
    x = np.clip(x.astype(np.float64), 0.0, 1.0)
    if value_range is None:
        if settings.ct_window != "none":
            raise ValueError(f"metric.ct_window={settings.ct_window} needs the HU of each image "
                             f"(value_range), got none")
        y = x * settings.data_range
    else:
        vr = np.asarray(value_range, dtype=np.float64)
        if vr.shape not in ((2,), (x.shape[0], 2)):
            raise ValueError(f"value_range must be (2,) or ({x.shape[0]}, 2), got shape {vr.shape}")
        expand = (slice(None),) + (None,) * (x.ndim - 1) if vr.ndim == 2 else ()
        v0, v1 = vr[..., 0][expand], vr[..., 1][expand]
        y = v0 + x * (v1 - v0)
        if settings.ct_window != "none":
            lo, hi = hu_bounds(settings.ct_window)
            y = np.clip(y, lo, hi) - lo
        else:
            off = np.asarray(offset, dtype=np.float64)
            y = y - (off[expand] if off.ndim == 1 else off)
    if settings.quantize:
        y = np.rint(y)
    return y


def as_float64(a: np.ndarray) -> np.ndarray:
    """Any numeric array -> float64 (no integer arithmetic ever happens on the inputs)."""
    a = np.asarray(a)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.number)):
        raise TypeError(f"images must be numeric arrays, got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def rgb_to_y(rgb: np.ndarray, data_range: float) -> np.ndarray:
    """BT.601 luma (16-235 for 8-bit) of RGB images in ``[0, data_range]``; last axis = channels.

    ``Y = data_range * 16/255 + (65.481 R + 128.553 G + 24.966 B) / 255`` (BasicSR ``rgb2ycbcr``
    with ``y_only=True``, generalised to any ``data_range``). Returns float64 with the channel axis
    removed.
    """
    rgb = as_float64(rgb)
    w = np.asarray(_Y_WEIGHTS, dtype=np.float64) / 255.0
    return rgb @ w + data_range * (_Y_OFFSET / 255.0)


def prepare_pair(sr: np.ndarray, hr: np.ndarray, settings: MetricSettings) -> tuple[np.ndarray, np.ndarray]:
    """Apply the channel policy and ``crop_border`` to a stack pair.

    Args:
        sr, hr: same-shape arrays ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)`` in the metric
            domain ``[0, data_range]``; any real dtype (uint8, uint16, int16, float32, float64).
        settings: uses ``channel``, ``data_range``, ``crop_border``.

    Returns:
        ``(sr, hr)`` as float64 arrays ``(N, C, H', W')`` with C = 1 or 3 and
        ``H' = H - 2 crop_border``, ``W' = W - 2 crop_border``.

    Raises:
        ValueError: shape mismatch, unsupported rank / channel count, channel policy violations
            (``gray`` with distinct RGB channels), or a crop that leaves no pixel.
    """
    sr = np.asarray(sr)
    hr = np.asarray(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr shapes differ: {sr.shape} vs {hr.shape}")
    if sr.ndim == 3:
        sr = sr[..., None]
        hr = hr[..., None]
    if sr.ndim != 4 or sr.shape[-1] not in (1, 3):
        raise ValueError(
            f"expected (N, H, W), (N, H, W, 1) or (N, H, W, 3) stacks, got shape {tuple(sr.shape)}"
        )
    sr = as_float64(sr)
    hr = as_float64(hr)
    if sr.shape[-1] == 3:
        if settings.channel == "y":
            sr = rgb_to_y(sr, settings.data_range)[..., None]
            hr = rgb_to_y(hr, settings.data_range)[..., None]
        elif settings.channel == "matlab-gray":
            w = np.asarray(_MATLAB_GRAY_WEIGHTS)
            sr, hr = sr @ w, hr @ w
            if settings.quantize:
                sr, hr = np.rint(sr), np.rint(hr)
            sr, hr = sr[..., None], hr[..., None]
        elif settings.channel == "gray":
            for name, a in (("sr", sr), ("hr", hr)):
                if not (np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2])):
                    raise ValueError(
                        f"channel='gray' but {name} has 3 distinct channels; use channel='rgb' or 'y', "
                        f"or convert to grayscale explicitly upstream"
                    )
            sr = sr[..., :1]
            hr = hr[..., :1]
    c = settings.crop_border
    if c:
        if 2 * c >= sr.shape[1] or 2 * c >= sr.shape[2]:
            raise ValueError(f"crop_border={c} leaves no pixel of a {sr.shape[1]}x{sr.shape[2]} image")
        sr = sr[:, c:-c, c:-c, :]
        hr = hr[:, c:-c, c:-c, :]
    sr = np.ascontiguousarray(np.moveaxis(sr, -1, 1))
    hr = np.ascontiguousarray(np.moveaxis(hr, -1, 1))
    return sr, hr
