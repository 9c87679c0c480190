"""The library calls the pixel metrics are tested against (each spec's ``reference_fn``).

Each function takes one image pair ``(H, W)`` or ``(H, W, C)`` as the caller holds it
(``crop_border`` already applied; integer arrays raw, float arrays float64) and the
:class:`~medsr_bench.benchmark.metrics.domain.MetricSettings`, and returns a float. Argument order
is the libraries' (reference first: ``image_true`` in skimage, ``GT`` in sewar). skimage and sewar
are imported on first call (start-up cost: a run never needs them).
"""

from __future__ import annotations

import numpy as np


def skimage_psnr(sr: np.ndarray, hr: np.ndarray, s) -> float:
    """``skimage.metrics.peak_signal_noise_ratio(hr, sr, data_range=s.data_range)``."""
    from skimage.metrics import peak_signal_noise_ratio  # start-up cost: tests/perf only

    return float(peak_signal_noise_ratio(hr, sr, data_range=s.data_range))


def skimage_mse(sr: np.ndarray, hr: np.ndarray, s) -> float:
    """``skimage.metrics.mean_squared_error(hr, sr)``."""
    from skimage.metrics import mean_squared_error  # start-up cost: tests/perf only

    return float(mean_squared_error(hr, sr))


def sewar_rmse(sr: np.ndarray, hr: np.ndarray, s) -> float:
    """``sewar.full_ref.rmse(hr, sr)``."""
    from sewar.full_ref import rmse  # start-up cost: tests/perf only

    return float(rmse(hr, sr))


def numpy_mae(sr: np.ndarray, hr: np.ndarray, s) -> float:
    """``mean(|hr - sr|)`` in float64 (no library function exists)."""
    return float(np.mean(np.abs(hr.astype(np.float64) - sr.astype(np.float64))))


def skimage_nrmse(sr: np.ndarray, hr: np.ndarray, s) -> float:
    """``skimage.metrics.normalized_root_mse(hr, sr, normalization=s.nrmse_norm)``."""
    from skimage.metrics import normalized_root_mse  # start-up cost: tests/perf only

    return float(normalized_root_mse(hr, sr, normalization=s.nrmse_norm))


def skimage_ssim(sr: np.ndarray, hr: np.ndarray, s) -> float:
    """``skimage.metrics.structural_similarity`` with Wang et al.'s settings (Gaussian weights,
    sigma 1.5, population covariance, ``data_range``); ``channel_axis=-1`` for ``(H, W, C)``."""
    from skimage.metrics import structural_similarity  # start-up cost: tests/perf only

    return float(structural_similarity(hr, sr, data_range=s.data_range, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False,
                                       channel_axis=-1 if sr.ndim == 3 else None))


def sewar_msssim(sr: np.ndarray, hr: np.ndarray, s) -> float:
    """``sewar.full_ref.msssim(hr, sr, MAX=s.data_range)``: the reference of the
    ``msssim_downsample="sewar"`` reading only.

    Raises:
        ValueError: other ``msssim_downsample`` (the default ``msssim.m`` reading is checked
            against the port in ``tests/msssim_m_port.py``).
    """
    if s.msssim_downsample != "sewar":
        raise ValueError(f"ms-ssim reference: sewar.msssim reads msssim_downsample='sewar', "
                         f"not {s.msssim_downsample!r}")
    from sewar.full_ref import msssim  # start-up cost: tests/perf only

    return float(np.real(msssim(hr, sr, MAX=s.data_range)))


def sewar_vifp(sr: np.ndarray, hr: np.ndarray, s) -> float:
    """``sewar.full_ref.vifp(hr, sr, sigma_nsq)`` on float64 images scaled by ``255 / data_range``
    (when ``s.vif_rescale``)."""
    from sewar.full_ref import vifp  # start-up cost: tests/perf only

    f = 255.0 / s.data_range if s.vif_rescale else 1.0
    return float(vifp(hr.astype(np.float64) * f, sr.astype(np.float64) * f, sigma_nsq=s.vif_sigma_nsq))
