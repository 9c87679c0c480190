"""Crop-zoom figures: LR | each model | HR, with a magnified region, like the papers' figures.

Inputs are the 16-bit PNGs the runner saves under ``samples/<dataset>/<image_id>/``. Output is a
PNG (bytes) drawn with matplotlib (Agg).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def read_png01(path: Path) -> np.ndarray:
    """Read an 8/16-bit PNG as float in [0, 1], RGB order, (H, W) or (H, W, 3)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f"{path}: unreadable PNG")
    peak = 65535.0 if img.dtype == np.uint16 else 255.0
    img = img.astype(np.float32) / peak
    return img[..., ::-1].copy() if img.ndim == 3 else img


def detail_window(hr: np.ndarray, frac: float = 0.18, background: float = 0.04,
                  max_background: float = 0.05) -> tuple[int, int, int]:
    """Top-left (y, x) and side of the square window (``frac`` of the short side) richest in fine
    detail: the largest mean gradient magnitude, with magnitudes clipped at the 90th percentile of
    the non-zero ones so
    one strong edge (a field-of-view border, a burnt-in label) does not win, among windows with at
    most ``max_background`` of near-black background pixels (value < ``background``). Falls back
    to all windows when none qualifies."""
    from scipy.ndimage import uniform_filter

    g = (hr.mean(axis=2) if hr.ndim == 3 else hr).astype(np.float64)
    gy, gx = np.gradient(g)
    mag = np.hypot(gy, gx)
    nonzero = mag[mag > 0]
    if nonzero.size:
        mag = np.minimum(mag, np.percentile(nonzero, 90))
    side = max(8, int(min(g.shape) * frac))
    h, w = g.shape
    half = side // 2

    def inner(a):
        return uniform_filter(a, size=side, mode="constant")[half : h - side + half + 1,
                                                             half : w - side + half + 1]

    score = inner(mag)
    bg = inner((g < background).astype(np.float64))
    allowed = bg <= max_background
    if allowed.any():
        score = np.where(allowed, score, -np.inf)
    iy, ix = np.unravel_index(np.argmax(score), score.shape)
    return int(iy), int(ix), side


def crop_zoom_figure(panels: list[tuple[str, np.ndarray]], hr: np.ndarray,
                     title: str = "") -> bytes:
    """Draw the figure and return PNG bytes.

    Args:
        panels: (label, image in [0, 1]) pairs, each at HR size except the LR, which is shown
            nearest-upsampled to HR size (labelled as such by the caller).
        hr: the HR image, used to choose the magnified window.
        title: figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    y, x, side = detail_window(hr)
    n = len(panels)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 5.0), squeeze=False,
                             gridspec_kw={"hspace": 0.25, "wspace": 0.05})
    for i, (label, img) in enumerate(panels):
        cmap = "gray" if img.ndim == 2 else None
        top, bottom = axes[0][i], axes[1][i]
        top.imshow(np.clip(img, 0, 1), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        top.add_patch(Rectangle((x, y), side, side, fill=False, edgecolor="#ff3b30", lw=1.2))
        bottom.imshow(np.clip(img[y : y + side, x : x + side], 0, 1), cmap=cmap, vmin=0, vmax=1,
                      interpolation="nearest")
        top.set_title(label, fontsize=8)
        for a in (top, bottom):
            a.set_xticks([])
            a.set_yticks([])
        for s in bottom.spines.values():
            s.set_edgecolor("#ff3b30")
    if title:
        fig.suptitle(title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def upsample_nearest(lr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Nearest-neighbour enlargement of ``lr`` to ``shape[:2]`` (display only)."""
    ry, rx = shape[0] // lr.shape[0], shape[1] // lr.shape[1]
    return np.repeat(np.repeat(lr, ry, axis=0), rx, axis=1)
