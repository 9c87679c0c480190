"""``bench report``: render a run directory as one self-contained HTML page.

Sections per suite: the paper's reported numbers beside the reproduced mean +- std (n) with the
difference; every model on every dataset; per-image tables; a crop-zoom figure per dataset; the
metric settings and protocol parameters used. Missing cells carry their reason and the command that
fixes it. Figures are embedded as base64 PNG, so the page is one file.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import jinja2
import pandas as pd

from medsr_bench.benchmark.report.figures import crop_zoom_figure, read_png01, upsample_nearest
from medsr_bench.benchmark.report.paper import audit_psnr_mse, load_paper_tables
from medsr_bench.benchmark.results_io import atomic_write_text, read_per_image


class ReportError(Exception):
    """The run directory cannot be rendered (missing or unreadable files). One line."""


def fmt(v, digits: int = 4) -> str:
    """Number for display: '' for None/NaN, 'inf' for infinity, else ``digits`` significant-ish."""
    if v is None:
        return ""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return ""
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f != 0 and (abs(f) >= 1000 or abs(f) < 1e-3):
        return f"{f:.{digits - 1}e}"
    return f"{f:.{digits}f}" if abs(f) < 10 else f"{f:.{max(digits - 2, 1)}f}"


def _read(run_dir: Path):
    try:
        meta = json.loads((run_dir / "run.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ReportError(f"{run_dir / 'run.json'}: unreadable ({e})") from e
    summary = pd.DataFrame()
    per_image = pd.DataFrame()
    if (run_dir / "summary.csv").is_file():
        summary = pd.read_csv(run_dir / "summary.csv", keep_default_na=False, na_values=[""])
    if (run_dir / "per_image.csv").is_file():
        per_image = read_per_image(run_dir / "per_image.csv")
    return meta, summary, per_image


def _row_notes(per_image: pd.DataFrame) -> dict:
    """(suite, dataset, model) -> the note of its first non-ok row (why the cell is blank)."""
    if per_image.empty:
        return {}
    bad = per_image[per_image.status != "ok"]
    notes = bad.note.fillna("").astype(str) if "note" in bad else pd.Series("", index=bad.index)
    return {(r.suite, r.dataset, r.model): n
            for r, n in zip(bad.itertuples(index=False), notes, strict=True)}


def _cell(summary: pd.DataFrame, notes: dict, suite: str, dataset: str | None, model: str,
          metric: str) -> dict:
    """Reproduced value of one (suite, dataset, model, metric): mean, std, n, status, note."""
    if dataset is None:
        return {"status": "skipped", "text": "", "note": "dataset absent"}
    if summary.empty:
        return {"status": "not-run", "text": "", "note": "no summary.csv"}
    sel = summary[(summary.suite == suite) & (summary.dataset == dataset)
                  & (summary.model == model) & (summary.metric == metric)]
    if sel.empty:
        return {"status": "not-run", "text": "",
                "note": f"not in this run (add --models {model})"}
    r = sel.iloc[0]
    if r.status != "ok":
        return {"status": r.status, "text": "",
                "note": notes.get((suite, dataset, model)) or r.status}
    text = fmt(r["mean"]) + (f" ± {fmt(r['std'])}" if pd.notna(r["std"]) else " (n=1)")
    return {"status": "ok", "mean": r["mean"], "std": r["std"], "n": int(r["n"]),
            "text": text, "note": ""}


def _figure(run_dir: Path, dataset: str, image_id: str, per_image: pd.DataFrame,
            suite: str | None, models: list[str], samples_dir: str = "") -> str | None:
    d = run_dir / samples_dir if samples_dir else run_dir / "samples" / dataset / image_id
    if not (d / "hr.png").is_file():
        return None
    hr = read_png01(d / "hr.png")
    lr = read_png01(d / "lr.png")
    panels = [(f"LR ({lr.shape[1]}x{lr.shape[0]}, nearest view)", upsample_nearest(lr, hr.shape))]
    for m in models:
        p = d / f"{m}.png"
        if not p.is_file():
            continue
        label = m
        if suite is not None and not per_image.empty:
            row = per_image[(per_image.suite == suite) & (per_image.dataset == dataset)
                            & (per_image.image_id == image_id) & (per_image.model == m)]
            if len(row) and "psnr" in row and "ssim" in row:
                label += f"\n{fmt(row.psnr.iloc[0], 2)} dB / {fmt(row.ssim.iloc[0], 3)}"
        panels.append((label, read_png01(p)))
    panels.append((f"HR ({hr.shape[1]}x{hr.shape[0]})", hr))
    png = crop_zoom_figure(panels, hr, title=f"{dataset} / {image_id}")
    return base64.b64encode(png).decode()


def _comparison(prows: pd.DataFrame, summary, notes, suite, dataset) -> list[dict]:
    """Paper mean (+- std) beside the reproduced cell and the difference, one row per metric."""
    out = []
    for r in prows[prows["image"] == ""].itertuples(index=False):
        c = _cell(summary, notes, suite, dataset, r.model, r.metric)
        out.append({
            "model": r.model, "metric": r.metric,
            "paper": fmt(r.value) + (f" ± {fmt(r.std)}" if pd.notna(r.std) else ""),
            "paper_split": r.split, "source": r.source, "cell": c,
            "diff": fmt(c["mean"] - r.value if c["status"] == "ok" else None),
            "n": c.get("n", ""),
        })
    return out


def _per_image_comparison(prows: pd.DataFrame, summary, notes, suite, dataset) -> list[dict]:
    """Papers that report single images (P2): their values beside our mean +- std."""
    per_img = prows[prows["image"] != ""]
    out = []
    for m in dict.fromkeys(per_img.model):
        for metric in dict.fromkeys(per_img.metric):
            vals = per_img[(per_img.model == m) & (per_img.metric == metric)]
            out.append({
                "model": m, "metric": metric,
                "paper": ", ".join(f"{i}: {fmt(v)}"
                                   for i, v in zip(vals.image, vals.value, strict=True)),
                "cell": _cell(summary, notes, suite, dataset, m, metric),
                "source": vals.source.iloc[0]})
    return out


def _section(run_dir: Path, meta: dict, d: dict, suite: str, metrics: list[str], ctx: dict) -> dict:
    """One dataset of one suite: comparison tables, every model, per-image rows, figure."""
    summary, per_image, notes, paper = ctx["summary"], ctx["per_image"], ctx["notes"], ctx["paper"]
    ds_meta = meta.get("datasets", {}).get(d["protocol"], {})
    dataset = ds_meta.get("dataset") if ds_meta.get("status") in ("done", "running",
                                                                  "incomplete") else None
    prows = paper[(paper.suite == suite) & (paper.protocol == d["protocol"])]
    all_rows, per_image_rows, fig = [], [], None
    if dataset is not None:
        if not summary.empty:
            sub = summary[(summary.suite == suite) & (summary.dataset == dataset)]
            for m in dict.fromkeys(sub.model):
                cells = [_cell(summary, notes, suite, dataset, m, k) for k in metrics]
                all_rows.append({"model": m, "cells": cells,
                                 "status": cells[0]["status"] if cells else "",
                                 "note": cells[0]["note"] if cells else ""})
        if not per_image.empty:
            pi = per_image[(per_image.suite == suite) & (per_image.dataset == dataset)
                           & (per_image.status == "ok")]
            per_image_rows = [
                {"image_id": r["image_id"], "model": r["model"],
                 "values": [fmt(r.get(k)) for k in metrics], "seconds": fmt(r.get("seconds"), 3)}
                for r in pi.to_dict("records")]
        if ds_meta.get("figure_image"):
            figures = ctx["figures"]  # one figure per dataset, shared by the suites that use it
            if dataset not in figures:
                figures[dataset] = _figure(run_dir, dataset, ds_meta["figure_image"], per_image,
                                           suite, ctx["models"], ds_meta.get("samples_dir", ""))
            fig = figures[dataset]
    return {
        "protocol": d["protocol"], "dataset": dataset, "ds": ds_meta,
        "paper_table": d.get("paper_table", ""), "eval": d.get("eval", {}),
        "comparison": _comparison(prows, summary, notes, suite, dataset),
        "per_img_cmp": _per_image_comparison(prows, summary, notes, suite, dataset),
        "all_rows": all_rows, "metrics": metrics, "per_image_rows": per_image_rows, "figure": fig,
    }


def build_context(run_dir: Path) -> dict:
    """Everything the template shows, computed from the run directory."""
    meta, summary, per_image = _read(run_dir)
    paper = load_paper_tables()
    models = [m for m in meta.get("model_order", []) if m in meta.get("models", {})]
    models += [m for m in meta.get("models", {}) if m not in models]
    ctx = {"summary": summary, "per_image": per_image, "notes": _row_notes(per_image),
           "paper": paper, "models": models, "figures": {}}
    audit = audit_psnr_mse(paper)
    suites = []
    for sname, s in meta.get("suites", {}).items():
        metrics = s.get("metrics", [])
        sections = [_section(run_dir, meta, d, sname, metrics, ctx) for d in s["datasets"]]
        suites.append({"name": sname, "meta": s, "sections": sections,
                       "audit": [a for a in audit if a["suite"] == sname]})
    return {"meta": meta, "suites": suites, "fmt": fmt, "run_dir": str(run_dir),
            "paper_tables_found": not paper.empty,
            "model_rows": [{"name": k, **meta["models"][k]} for k in models]}


def render_report(run_dir: Path, out: Path) -> Path:
    """Write the HTML report of ``run_dir`` to ``out`` (atomically). Returns ``out``.

    Raises:
        ReportError: run.json missing or unreadable.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise ReportError(f"{run_dir}: no run.json (expected a folder written by `bench run`)")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("medsr_bench.benchmark.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    html = env.get_template("report.html").render(**build_context(run_dir))
    out = Path(out)
    atomic_write_text(out, html)
    return out
