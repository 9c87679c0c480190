"""Plots of the report (matplotlib, Agg, PNG bytes): per-image distributions per model, paired
per-image scatter per claim, training curves.

Every function returns PNG bytes (embedded as base64 by the report), or None when there is nothing
to draw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from medsr_bench.benchmark.report.figures import png_bytes

PER_ROW = 3  # subplots per row: each stays >= 4.5 in wide

#: Narrowest page width the report is read at (px of the figure's box: an 800 px window less the
#: page margins) and the smallest text a reader can read there (px).
NARROW_PX, LEGIBLE_PX = 760, 10.0
DPI = 100  # figures.png_bytes


def legible_pt(fig_width_in: float, px: float = LEGIBLE_PX, box_px: int = NARROW_PX) -> float:
    """Font size (pt) that is at least ``px`` pixels tall once a figure ``fig_width_in`` inches
    wide is shrunk into a ``box_px`` wide box (the page at 800 px; never enlarged past its own
    size): ``pt * dpi / 72 * min(1, box / (width * dpi)) >= px``."""
    shrink = min(1.0, box_px / (fig_width_in * DPI))
    return px * 72 / (DPI * shrink)


def displayed_px(png: bytes, pt: float, box_px: int = NARROW_PX) -> float:
    """Height in screen pixels of ``pt``-point text of a PNG (dpi :data:`DPI`) shown in a
    ``box_px`` wide box: the check :func:`legible_pt` is made for."""
    import struct

    width = struct.unpack(">I", png[16:20])[0]  # IHDR
    return pt * DPI / 72 * min(1.0, box_px / width)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int, width: float = 4.6, height: float = 3.4):
    plt = _plt()
    cols = min(n, PER_ROW)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def distribution_layout(n_metrics: int, n_models: int) -> tuple[float, float, float]:
    """``(panel width in, panel height in, font pt)`` of :func:`distribution_figure`: narrow
    panels and a font that stays >= :data:`LEGIBLE_PX` tall on an 800 px page, where the figure
    is shrunk to the page's width (~11 pt at three panels of 3.4 in)."""
    width = 3.4
    tick = legible_pt(width * min(n_metrics, PER_ROW) + 1.0)  # + the model-name margin
    return width, max(2.6, 0.045 * tick * n_models + 1.4), tick


def distribution_figure(values: dict[str, dict[str, np.ndarray]], title: str = "") -> bytes | None:
    """Box plots of per-image values, one subplot per metric, one box per model (points overlaid).

    Args:
        values: ``{metric: {model: 1-D float array of per-image values}}``; empty arrays skipped.
        title: figure title.
    """
    metrics = {m: {k: v for k, v in d.items() if len(v)} for m, d in values.items()}
    metrics = {m: d for m, d in metrics.items() if d}
    if not metrics:
        return None
    from matplotlib.ticker import MaxNLocator

    width, height, tick = distribution_layout(len(metrics), max(len(d) for d in metrics.values()))
    fig, axes = _grid(len(metrics), width=width, height=height)
    for ax, (metric, d) in zip(axes, metrics.items(), strict=True):
        names = list(d)[::-1]  # first model on top
        ax.boxplot([d[k] for k in names], orientation="horizontal", widths=0.6, showfliers=False)
        rng = np.random.default_rng(0)
        for i, k in enumerate(names, start=1):
            ax.plot(d[k], i + rng.uniform(-0.15, 0.15, len(d[k])), "o", ms=3, alpha=0.6,
                    color="#1f77b4")
        ax.set_yticks(range(1, len(names) + 1), names, fontsize=tick)
        ax.set_title(metric, fontsize=tick + 1)
        ax.tick_params(axis="x", labelsize=tick)
        ax.xaxis.set_major_locator(MaxNLocator(4))  # large ticks: fewer of them
        ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=tick + 1)
    fig.tight_layout()
    return png_bytes(fig)


def paired_scatter_figure(panels: list[dict], title: str = "") -> bytes | None:
    """Per-image scatter of a claim: x = the model claimed worse, y = the model claimed better,
    one point per image, with the identity line; for lower-is-better metrics the axes are
    flipped so that points above the line always favour the claim.

    Args:
        panels: dicts with ``better``, ``worse`` (model names), ``metric``, ``higher_is_better``,
            ``pairs`` (DataFrame with columns better, worse) and ``verdict``.
    """
    panels = [p for p in panels if p.get("pairs") is not None and len(p["pairs"])]
    if not panels:
        return None
    fig, axes = _grid(len(panels), width=3.8, height=3.8)
    for ax, p in zip(axes, panels, strict=True):
        x, y = p["pairs"]["worse"].to_numpy(float), p["pairs"]["better"].to_numpy(float)
        ax.plot(x, y, "o", ms=4, alpha=0.7)
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        pad = (hi - lo) * 0.05 or 1e-3
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "-", color="#888", lw=1)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        if not p["higher_is_better"]:
            ax.invert_xaxis()
            ax.invert_yaxis()
        ax.set_xlabel(p["worse"], fontsize=9)
        ax.set_ylabel(p["better"], fontsize=9)
        ax.set_title(f"{p['metric']}: {p['verdict']}", fontsize=10)
        ax.tick_params(labelsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return png_bytes(fig)


def distance_heatmap(matrix: pd.DataFrame, title: str = "", cap: float = 3.0) -> bytes | None:
    """Heatmap of a sweep's distances: rows = readings (variants), columns = paper cells, colour
    = distance to the paper value (capped at ``cap``; green within 1, red far), value printed.
    Returns PNG bytes, or None for an empty matrix."""
    if matrix.empty:
        return None
    plt = _plt()
    n_r, n_c = matrix.shape
    fig, ax = plt.subplots(figsize=(min(2.0 + 1.0 * n_c, 14), min(1.2 + 0.32 * n_r, 30)))
    data = np.clip(matrix.to_numpy(dtype=float), 0, cap)
    im = ax.imshow(data, cmap="RdYlGn_r", vmin=0, vmax=cap, aspect="auto")
    ax.set_xticks(range(n_c), matrix.columns, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(n_r), matrix.index, fontsize=7)
    for i in range(n_r):
        for j in range(n_c):
            v = matrix.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, fraction=0.03, label=f"distance (capped at {cap:g})")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def training_figures(run_dir: Path) -> list[tuple[str, bytes]]:
    """One figure per ``training/*.csv`` of the run (columns ``iter`` and one or more losses or
    validation scores): each numeric column against ``iter``. Files without ``iter`` are skipped.
    Returns ``[(file name, png), ...]``."""
    out = []
    for path in sorted((Path(run_dir) / "training").glob("*.csv")):
        try:
            df = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
            continue
        if "iteration" in df.columns and "iter" not in df.columns:  # bench train's log.csv
            df = df.rename(columns={"iteration": "iter"})
        if "iter" not in df.columns or df.empty:
            continue
        cols = [c for c in df.columns if c != "iter" and pd.api.types.is_numeric_dtype(df[c])]
        if not cols:
            continue
        fig, axes = _grid(len(cols), height=3.0)
        for ax, c in zip(axes, cols, strict=True):
            ax.plot(df["iter"], df[c], lw=1.2)
            ax.set_title(c, fontsize=10)
            ax.set_xlabel("iteration", fontsize=9)
            ax.grid(alpha=0.3)
        fig.suptitle(path.stem, fontsize=11)
        fig.tight_layout()
        out.append((path.name, png_bytes(fig)))
    return out
