"""The report's "Clinical fidelity" section: task fidelity (segmentation Dice / clDice), consistency
with the LR input, opensr-test correctness percentages, the metrics inside each diagnostic region
(:mod:`benchmark.metrics.regions`) and the reader study, per protocol reading
and model, from the columns :mod:`benchmark.clinical` wrote into ``per_image.csv``; plus the
correctness-map panels of the crop-zoom figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from medsr_bench.benchmark.metrics.regions import REGION_METRICS

#: column -> (header, what it says); the order of the table
COLUMNS = {
    "dice@vessel": ("Dice vs manual", "seg(SR) vs 1st_manual"),
    "cldice@vessel": ("clDice vs manual", "thin, connected vessels"),
    "dice@vessel-hrseg": ("Dice vs seg(HR)", "what SR changed for the segmenter"),
    "cldice@vessel-hrseg": ("clDice vs seg(HR)", ""),
    "psnr@lr": ("LR PSNR (dB)", "degrade(SR) vs LR"),
    "ssim@lr": ("LR SSIM", ""),
    "improvement@opensr": ("improvement %", "opensr-test"),
    "omission@opensr": ("omission %", ""),
    "hallucination@opensr": ("hallucination %", ""),
    "mos": ("MOS (readers)", "bench reader score"),
}

#: the section's tables: name -> columns
GROUPS = {
    "Task fidelity (vessel segmentation)": ("dice@vessel", "cldice@vessel", "dice@vessel-hrseg",
                                            "cldice@vessel-hrseg"),
    "Consistency with the input and correctness": ("psnr@lr", "ssim@lr", "improvement@opensr",
                                                   "omission@opensr", "hallucination@opensr"),
    "Reader study": ("mos",),
}

#: the region-metric table's name (its columns are found in the run: :func:`region_columns`)
REGION_GROUP = "Inside the diagnostic regions (the masks are outlined in the figures)"
_REGION_HEAD = {"psnr": "PSNR (dB)", "ssim": "SSIM", "fsim": "FSIM", "mse": "MSE"}


def region_columns(columns) -> dict[str, tuple[str, str]]:
    """``{column: (header, note)}`` of the ``<metric>@<region>`` columns in ``columns`` that are
    region metrics (:data:`~benchmark.metrics.regions.REGION_METRICS` inside a protocol's mask:
    ``ssim@vessel``, ``psnr@brain``, ``fsim@body``; not those :data:`COLUMNS` already shows, such
    as ``psnr@lr``), grouped by region in first-seen order, metrics in registry order."""
    order = list(REGION_METRICS)
    found = [(c, *c.split("@", 1)) for c in columns if "@" in c and c not in COLUMNS]
    found = [(c, m, r) for c, m, r in found if m in REGION_METRICS]
    regions = list(dict.fromkeys(r for _, _, r in found))
    found.sort(key=lambda f: (regions.index(f[2]), order.index(f[1])))
    return {c: (f"{_REGION_HEAD.get(m, m)} @ {r}", "") for c, m, r in found}


READER_HOWTO = ("testable with your readers: <code>bench reader make RUN --out DIR</code>, give "
                "<code>DIR/index.html</code> to the readers (it works offline), then <code>bench "
                "reader score ratings-*.csv --run RUN --key DIR/key.json</code> and re-run "
                "<code>bench report</code>")


def _fmt(x: float, col: str) -> str:
    if not math.isfinite(x):
        return "inf" if x > 0 else ""
    return f"{x:.2f}" if col.startswith("psnr") or "@opensr" in col or col == "mos" else f"{x:.3f}"


def clinical_context(run, models: list[str]) -> dict | None:
    """Tables per usable protocol reading: per model mean ± sd and n of every clinical column
    present; the segmenter's own HR Dice and thresholds; the reader study's files if scored.
    None when the run has no clinical column."""
    pi = run.per_image
    regions = region_columns(pi.columns)
    heads = {**COLUMNS, **regions}
    groups = {**GROUPS, REGION_GROUP: tuple(regions)}
    cols = [c for c in heads if c in pi.columns]
    if not cols:
        return None
    sections = []
    for v in run.variants:
        if not v.usable:
            continue
        rows = run.rows(v)
        ok = rows[rows.status == "ok"] if len(rows) else rows
        present = [c for c in cols if c in ok and pd.to_numeric(ok[c], errors="coerce").notna().any()]
        if not present:
            continue
        tables = []
        for gname, gcols in groups.items():
            gcols = [c for c in gcols if c in present]
            if not gcols:
                continue
            table = []
            for m in models:
                g = ok[ok.model == m]
                if g.empty:
                    continue
                cells = []
                for c in gcols:
                    x = pd.to_numeric(g[c], errors="coerce").dropna()
                    sd = x.std(ddof=1) if len(x) > 1 else math.nan
                    cells.append({"text": _fmt(float(x.mean()), c) if len(x) else "",
                                  "sd": f"± {_fmt(float(sd), c)}" if math.isfinite(sd) else "",
                                  "n": len(x)})
                table.append({"model": m, "cells": cells})
            tables.append({"name": gname, "headers": [heads[c] for c in gcols], "rows": table})
        seg = None
        if "vessel_hr_dice" in ok:
            hd = pd.to_numeric(ok.drop_duplicates("image_id")["vessel_hr_dice"], errors="coerce").dropna()
            th = pd.to_numeric(ok["vessel_threshold"], errors="coerce").dropna().unique()
            if len(hd):
                seg = {"hr_dice": f"{hd.mean():.3f}", "sd": f"{hd.std(ddof=1):.3f}" if len(hd) > 1 else "",
                       "n": len(hd), "thresholds": ", ".join(f"{t:.4g}" for t in sorted(th))}
        sections.append({"title": f"{v.suite} / {v.dataset}" + (f" ({v.label})" if getattr(v, "label", "") else ""),
                         "tables": tables, "seg": seg,
                         "protocol": v.protocol})
    reader = _reader(Path(run.run_dir)) if run.run_dir else None
    meta = run.meta.get("clinical") or {}
    settings = [(k, json.dumps(v)) for k, v in (meta.get("settings") or {}).items()]
    for name, e in (meta.get("evaluators") or {}).items():
        for k, v in ((e.get("task") or {}).get("segmenter") or {}).items():
            settings.append((f"{name}.segmenter.{k}", json.dumps(v)))
        if e.get("task"):
            settings.append((f"{name}.fit", json.dumps(e["task"]["fit"])))
    return {"sections": sections, "reader": reader, "reader_howto": READER_HOWTO,
            "settings": settings or [("settings", "not recorded in run.json (run made before issue 21)")]}


def _reader(run_dir: Path) -> dict | None:
    d = run_dir / "reader"
    if not (d / "mos.csv").is_file():
        return None
    mos = pd.read_csv(d / "mos.csv")
    agr = json.loads((d / "agreement.json").read_text()) if (d / "agreement.json").is_file() else {}
    return {"mos": mos.to_dict("records"), "agreement": agr, "dir": str(d)}


def correctness_panels(sample_dir: Path, hr: np.ndarray, lr: np.ndarray, models: list[str],
                       baseline: str = "bicubic") -> list[tuple[str, np.ndarray]]:
    """Crop-zoom panels: per non-baseline model, its opensr-test class map (green improvement,
    blue omission, red hallucination over the dimmed HR), from the 16-bit sample PNGs; the baseline
    is ``baseline`` applied to the LR sample. Empty when no model other than the baseline."""
    from medsr_bench.benchmark.clinical import baseline_upscale
    from medsr_bench.benchmark.clinical.correctness import colour_map, correctness_map, percentages
    from medsr_bench.benchmark.report.figures import read_png01

    scale = hr.shape[0] // lr.shape[0]
    others = [m for m in models if m != baseline and (sample_dir / f"{m}.png").is_file()]
    if not others or scale < 1:
        return []
    base = baseline_upscale(baseline, lr[None].astype(np.float32), scale)[0]
    out = []
    for m in others:
        cls = correctness_map(read_png01(sample_dir / f"{m}.png"), base, hr)
        p = percentages(cls)
        out.append((f"{m} map\nH {p['hallucination']:.1f}% O {p['omission']:.1f}% I {p['improvement']:.1f}%",
                    colour_map(cls, hr)))
    return out
