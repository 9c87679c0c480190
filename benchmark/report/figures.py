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


#: outline colours of the diagnostic-region masks drawn on the HR panel (cycled)
MASK_COLOURS = ("#34c759", "#0a84ff", "#ffcc00", "#ff2d55")


def read_masks(sample_dir: Path) -> dict[str, np.ndarray]:
    """The diagnostic-region masks saved beside a figure's images (``masks/<region>.png``, written
    by the runner for regions that are non-empty on that image): ``{region: bool (H, W)}``."""
    return {p.stem: read_png01(p) >= 0.5 for p in sorted((Path(sample_dir) / "masks").glob("*.png"))}


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


Region = tuple[int, int, int, int]  # x, y, w, h in HR pixels


def parse_region(text: str) -> Region:
    """``"x,y,w,h"`` (HR pixels, top-left corner and size) -> tuple of ints.

    Raises:
        ValueError: not four integers, or a non-positive width/height.
    """
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--zoom {text!r}: expected x,y,w,h (four integers, HR pixels)") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise ValueError(f"--zoom {text!r}: x, y must be >= 0 and w, h > 0")
    return x, y, w, h


def zoom_region(hr: np.ndarray, region: Region | None = None) -> Region:
    """The magnified region: ``region`` clipped to the image, or :func:`detail_window` of ``hr``
    (deterministic: same image, same region)."""
    h, w = hr.shape[:2]
    if region is None:
        y, x, side = detail_window(hr)
        return x, y, side, side
    x, y, rw, rh = region
    x, y = min(x, w - 1), min(y, h - 1)
    return x, y, max(1, min(rw, w - x)), max(1, min(rh, h - y))


def png_bytes(fig) -> bytes:
    """Save a matplotlib figure as PNG bytes (dpi 100, tight box) and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def crop_zoom_figure(panels: list[tuple[str, np.ndarray]], hr: np.ndarray, title: str = "",
                     region: Region | None = None, per_row: int = 6,
                     masks: dict[str, np.ndarray] | None = None) -> bytes:
    """Draw the crop-zoom figure and return PNG bytes.

    Each panel is the full image with the magnified region outlined in red, above that region
    enlarged (nearest neighbour, red frame). Panels wrap after ``per_row`` so titles stay legible
    (12 pt at 2.4 in per panel).

    Args:
        panels: (label, image in [0, 1]) pairs, (H, W) or (H, W, 3) float, each at HR size except
            the LR, which the caller passes nearest-upsampled to HR size (and labels as such).
        hr: the HR image (chooses the region when ``region`` is None).
        title: figure title.
        region: (x, y, w, h) in HR pixels, or None for :func:`detail_window`.
        per_row: panels per row (default 6).
        masks: ``{region: bool (H, W)}`` outlined (contour at the mask edge, one colour each,
            :data:`MASK_COLOURS`) on the panels labelled ``HR ...``, whose title then names them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    x, y, w, h = zoom_region(hr, region)
    n = len(panels)
    cols = max(1, min(n, per_row))
    rows = -(-n // cols)
    panel_w, gap, title_h = 2.4, 0.06, 0.55  # inches: panel width, gap, two-line title
    aspect, zaspect = hr.shape[0] / hr.shape[1], h / w
    row_h = title_h + panel_w * aspect + gap + panel_w * zaspect + 0.15
    width = cols * panel_w + (cols - 1) * gap
    height = rows * row_h + (0.45 if title else 0.0)
    fig = plt.figure(figsize=(width, height))
    ratios = []
    for _ in range(rows):  # per panel row: title space, full image, gap, zoom, spacing
        ratios += [title_h, panel_w * aspect, gap, panel_w * zaspect, 0.15]
    grid = fig.add_gridspec(5 * rows, cols, height_ratios=ratios, hspace=0, wspace=gap / panel_w,
                            left=0, right=1, bottom=0,
                            top=1 - (0.45 / height if title else 0.0))
    masks = {k: m for k, m in (masks or {}).items() if m.shape == hr.shape[:2] and m.any()}
    for i, (label, img) in enumerate(panels):
        outline = bool(masks) and label.startswith("HR ")
        if outline:
            label += "\noutline: " + ", ".join(masks)
        label = "\n".join(_wrap_label(line) for line in label.split("\n"))
        r, c = divmod(i, cols)
        top, bottom = fig.add_subplot(grid[5 * r + 1, c]), fig.add_subplot(grid[5 * r + 3, c])
        cmap = "gray" if img.ndim == 2 else None
        top.imshow(np.clip(img, 0, 1), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        top.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor="#ff3b30", lw=1.6))
        for j, m in enumerate(masks.values() if outline else ()):
            top.contour(m.astype(np.float64), levels=[0.5], colors=[MASK_COLOURS[j % len(MASK_COLOURS)]],
                        linewidths=0.8)
        bottom.imshow(np.clip(img[y : y + h, x : x + w], 0, 1), cmap=cmap, vmin=0, vmax=1,
                      interpolation="nearest")
        top.set_title(label, fontsize=12 if max(map(len, label.split("\n"))) <= 20 else 10.5,
                      pad=4)
        for a in (top, bottom):
            a.set_xticks([])
            a.set_yticks([])
        for sp in bottom.spines.values():
            sp.set_edgecolor("#ff3b30")
            sp.set_linewidth(1.6)
    if title:
        fig.suptitle(title, fontsize=14, y=1 - 0.1 / height, va="top")
    return png_bytes(fig)


def _wrap_label(line: str, width: int = 22) -> str:
    """Keep a panel title within ``width`` characters: long model names break after a hyphen."""
    if len(line) <= width or "-" not in line:
        return line
    cut = line.rfind("-", 0, width)
    return line[: cut + 1] + "\n" + line[cut + 1 :] if cut > 0 else line


def upsample_nearest(lr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Nearest-neighbour enlargement of ``lr`` to ``shape[:2]`` (display only)."""
    ry, rx = shape[0] // lr.shape[0], shape[1] // lr.shape[1]
    return np.repeat(np.repeat(lr, ry, axis=0), rx, axis=1)
