"""Image operations shared by the protocols: resize, blur, pad, normalise, quantise, detail score.

Thin wrappers around OpenCV, Pillow, basicsr and NumPy so that every protocol names its choice
(e.g. ``"pil-lanczos"``) instead of re-implementing it. All functions take and return float32 arrays
``(H, W)`` or ``(H, W, C)`` unless stated otherwise and never change the value range except where said.
"""

from __future__ import annotations

import cv2
import numpy as np

# name -> one-line description (goes into docs / run.json through the protocol params)
RESIZE_METHODS = {
    "pil-lanczos": "Pillow Image.resize LANCZOS (a=3, antialiased: the support grows with the downscale factor)",
    "pil-bicubic": "Pillow Image.resize BICUBIC (antialiased)",
    "pil-bilinear": "Pillow Image.resize BILINEAR (antialiased)",
    "matlab-bicubic": "basicsr.utils.matlab_functions.imresize (MATLAB imresize bicubic, antialiased)",
    "cv2-bicubic": "cv2.resize INTER_CUBIC (no antialiasing)",
    "cv2-bilinear": "cv2.resize INTER_LINEAR (no antialiasing)",
    "cv2-area": "cv2.resize INTER_AREA (pixel-area averaging)",
    "cv2-lanczos": "cv2.resize INTER_LANCZOS4 (no antialiasing)",
    "cv2-nearest": "cv2.resize INTER_NEAREST",
}

_CV2 = {
    "cv2-bicubic": cv2.INTER_CUBIC,
    "cv2-bilinear": cv2.INTER_LINEAR,
    "cv2-area": cv2.INTER_AREA,
    "cv2-lanczos": cv2.INTER_LANCZOS4,
    "cv2-nearest": cv2.INTER_NEAREST,
}


def resize(img: np.ndarray, size_hw: tuple[int, int], method: str) -> np.ndarray:
    """Resize ``img`` to ``size_hw = (H, W)`` with a named implementation (see ``RESIZE_METHODS``).

    ``img`` is float32 (any range) or uint8. uint8 input gives uint8 output for the Pillow methods
    (Pillow rounds on its own 8-bit path, as an image-file workflow would); every other case returns
    float32 without clipping (bicubic/Lanczos may overshoot [0, 1]: callers clip or quantise).

    Raises:
        ValueError: unknown method.
    """
    h, w = int(size_hw[0]), int(size_hw[1])
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r}; known: {', '.join(RESIZE_METHODS)}")
    if method.startswith("pil-"):
        return _pil_resize(img, h, w, method)
    x = img.astype(np.float32, copy=False)
    if method == "matlab-bicubic":
        # isort: off
        import medsr_bench.compat  # noqa: F401  (must precede basicsr)
        from basicsr.utils.matlab_functions import imresize
        # isort: on

        if x.shape[0] / h != x.shape[1] / w:
            raise ValueError(f"matlab-bicubic needs one scale for both axes: {x.shape[:2]} -> {(h, w)}")
        out = imresize(np.ascontiguousarray(x), h / x.shape[0], antialiasing=True)
        return np.asarray(out, dtype=np.float32)
    out = cv2.resize(x, (w, h), interpolation=_CV2[method])
    return out.reshape((h, w) + x.shape[2:]).astype(np.float32, copy=False)


def _pil_resize(img: np.ndarray, h: int, w: int, method: str) -> np.ndarray:
    from PIL import Image

    flt = {"pil-lanczos": Image.Resampling.LANCZOS, "pil-bicubic": Image.Resampling.BICUBIC,
           "pil-bilinear": Image.Resampling.BILINEAR}[method]
    if img.dtype == np.uint8:
        return np.asarray(Image.fromarray(img).resize((w, h), flt))
    x = img.astype(np.float32, copy=False)
    if x.ndim == 2:  # mode "F" keeps full float precision
        return np.asarray(Image.fromarray(x, mode="F").resize((w, h), flt), dtype=np.float32)
    chans = [np.asarray(Image.fromarray(np.ascontiguousarray(x[..., c]), mode="F").resize((w, h), flt))
             for c in range(x.shape[2])]
    return np.stack(chans, axis=2).astype(np.float32)


def gaussian_blur(img: np.ndarray, sigma: float, ksize: int) -> np.ndarray:
    """Isotropic Gaussian blur with ``cv2.GaussianBlur`` (square kernel ``ksize``, reflect-101 border).

    ``ksize`` must be odd and positive; ``sigma <= 0`` returns the input unchanged.
    """
    if sigma <= 0:
        return img.astype(np.float32, copy=True)
    if ksize <= 0 or ksize % 2 == 0:
        raise ValueError(f"Gaussian kernel size must be odd and positive, got {ksize}")
    x = img.astype(np.float32, copy=False)
    out = cv2.GaussianBlur(x, (ksize, ksize), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
    return out.reshape(x.shape)


def quantize(img: np.ndarray, bits: int | None) -> np.ndarray:
    """Clip to [0, 1] and, when ``bits`` is 8 or 16, round to that integer grid (still float32 in [0, 1]).

    This is what saving an image file of that bit depth does; ``bits=None`` only clips.
    """
    x = np.clip(img.astype(np.float32, copy=False), 0.0, 1.0)
    if bits is None:
        return x
    peak = float(2**bits - 1)
    return (np.round(x * peak) / peak).astype(np.float32)


def to_unit(pixels: np.ndarray, peak: float) -> np.ndarray:
    """Integer pixels -> float32 in [0, 1] by dividing by the grid's ``peak`` (255, 65535)."""
    return (pixels.astype(np.float32) / np.float32(peak)).astype(np.float32)


def minmax(img: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Map ``[lo, hi]`` (default: the array's own min/max) linearly to [0, 1] and clip.

    A constant array maps to zeros.
    """
    x = img.astype(np.float64, copy=False)
    lo = float(x.min()) if lo is None else float(lo)
    hi = float(x.max()) if hi is None else float(hi)
    if hi <= lo:
        return np.zeros(x.shape, np.float32)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def window(img: np.ndarray, center: float, width: float) -> np.ndarray:
    """Linear intensity window (e.g. CT HU): ``[center - width/2, center + width/2]`` -> [0, 1], clipped."""
    return minmax(img, center - width / 2.0, center + width / 2.0)


def pad_to(img: np.ndarray, size_hw: tuple[int, int], position: str = "center", value: float = 0.0) -> np.ndarray:
    """Constant-pad ``(H, W[, C])`` to ``size_hw``.

    ``position="center"`` puts the extra rows/columns half before, half after (an odd remainder goes
    after); ``"bottom-right"`` pads only after. Raises ValueError when the image is larger.
    """
    h, w = img.shape[:2]
    th, tw = size_hw
    if h > th or w > tw:
        raise ValueError(f"cannot pad {img.shape[:2]} to smaller {tuple(size_hw)}")
    if position == "center":
        top, left = (th - h) // 2, (tw - w) // 2
    elif position == "bottom-right":
        top, left = 0, 0
    else:
        raise ValueError(f"unknown pad position {position!r}")
    pads = [(top, th - h - top), (left, tw - w - left)] + [(0, 0)] * (img.ndim - 2)
    return np.pad(img, pads, mode="constant", constant_values=value)


def center_crop(img: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Crop the central ``size_hw`` region (odd remainders are cut at the bottom/right)."""
    h, w = img.shape[:2]
    th, tw = size_hw
    top, left = (h - th) // 2, (w - tw) // 2
    return img[top:top + th, left:left + tw]


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop bottom/right so that H and W are multiples of ``scale`` (the usual SR 'mod crop')."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def pixel_difference_score(img: np.ndarray) -> float:
    """Pixel-difference detail score P_D (P4, Beallor et al., sec. 3.2, Eq. 1), vectorised.

    ``P_D = sum_ij |I[i,j] - I[i,j+1]| + sum_ij |I[i,j] - I[i+1,j]|`` over a 2D image, in the units
    of ``img`` (computed in float64).
    """
    x = np.asarray(img, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"P_D needs a 2D image, got shape {x.shape}")
    return float(np.abs(np.diff(x, axis=1)).sum() + np.abs(np.diff(x, axis=0)).sum())


def check_finite(img: np.ndarray) -> bool:
    return bool(np.isfinite(img).all())


def check_choice(field: str, value, allowed) -> None:
    """Raise ``ValueError`` (one line) when a protocol setting is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"invalid {field} {value!r}; allowed: {', '.join(map(str, allowed))}")
