"""``bench report``: a run directory as one self-contained HTML page, or its paper-vs-reproduced
tables and verdicts as Markdown, CSV, JSON or LaTeX (:mod:`.export`).

The page, results first: the headline "k of n paper cells and j of m claims reproduced", a table
of contents, the claim verdicts, a method x protocol heatmap of the main metric; then one section
per suite in paper order (P1-P4, then the rest): claims with their paired per-image scatter, and
per protocol (and per variant of its settings) the paper's numbers beside our mean, 95 % CI and n
with Δ coloured by direction, every computed model, the per-image distributions, one crop-zoom
figure per sample image (embedded once, referenced by every suite that uses it) and the settings.
Models that were not computed are gathered into one collapsed list with their reason and the
command that fetches every downloadable file. Figures are base64 PNGs: the page is one file.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from medsr_bench.benchmark.report.export import EXTENSIONS, FORMATS, num
from medsr_bench.benchmark.report.figures import (
    Region,
    crop_zoom_figure,
    read_masks,
    read_png01,
    upsample_nearest,
)
from medsr_bench.benchmark.report.paper import audit_psnr_mse, load_claims, load_paper_tables
from medsr_bench.benchmark.report.rundata import RunData, RunDirError, Variant, load_run
from medsr_bench.benchmark.report.verdicts import (
    CONTRADICTED,
    DEFAULT_STATS,
    NOT_TESTABLE,
    REPRODUCED,
    StatsSettings,
    Verdicts,
    evaluate,
    higher_is_better,
)
from medsr_bench.core import atomic_write_text
from medsr_bench.models.registry import get_spec

__all__ = ["FORMATS", "ReportError", "ReportSettings", "build_context", "render_report"]


class ReportError(Exception):
    """The run directory cannot be rendered (missing or unreadable files). One line."""


@dataclass(frozen=True)
class ReportSettings:
    """Choices of the page (defaults stated).

    Attributes:
        main_metric: metric of the summary heatmap (default ``"ssim"``: the one metric all four
            papers report).
        zoom: crop-zoom region (x, y, w, h) in HR pixels for every figure, or None for the most
            detailed window of each HR image (deterministic).
        per_row: crop-zoom panels per row (default 6).
        stats: intervals and tests of the verdicts.
    """

    main_metric: str = "ssim"
    zoom: Region | None = None
    per_row: int = 6
    stats: StatsSettings = DEFAULT_STATS


def _b64(png: bytes | None) -> str | None:
    return base64.b64encode(png).decode() if png else None


def _paper_rank(meta: dict, name: str) -> tuple:
    paper = meta.get("suites", {}).get(name, {}).get("paper", "")
    return (0, paper, name) if paper.startswith("P") else (1, "", name)


def _paper_label(meta: dict, suite: str) -> str:
    """``"P1"``..``"P4"`` for a paper's suite, ``""`` for the others (demo)."""
    paper = meta.get("suites", {}).get(suite, {}).get("paper", "")
    return paper if paper.startswith("P") else ""


def _delta(c) -> dict:
    """Display of a cell's Δ: text, direction word and CSS class."""
    if c.n == 0 or not math.isfinite(c.diff):
        return {"text": "", "word": "", "cls": ""}
    if c.inside_ci:
        return {"text": num(c.diff, signed=True), "word": "within CI", "cls": "same"}
    if c.better is None:  # untested (n too small) or zero: no direction shown
        return {"text": num(c.diff, signed=True),
                "word": "untested" if c.verdict != CONTRADICTED else "equal", "cls": "same"}
    return {"text": num(c.diff, signed=True), "word": "better" if c.better else "worse",
            "cls": "better" if c.better else "worse"}


def _cell_row(c) -> dict:
    ci = f"[{num(c.ci_low)}, {num(c.ci_high)}]" if math.isfinite(c.ci_low) else ""
    paper = num(c.paper) + (f" ± {num(c.paper_std)}" if c.paper_std is not None else "")
    return {"model": c.model, "metric": c.metric, "paper": paper, "split": c.split,
            "source": c.source, "rule": c.rule, "n": c.n, "mean": num(c.mean), "ci": ci, "delta": _delta(c),
            "verdict": c.verdict, "reason": c.reason, "missing": c.n == 0}


def _claim_row(cv, figure_b64: str | None) -> dict:
    comps = []
    for c in cv.comparisons:
        comps.append({"pair": f"{c.better} > {c.worse}", "metric": c.metric, "n": c.n,
                      "diff": num(c.mean_diff, signed=True),
                      "ci": f"[{num(c.ci_low)}, {num(c.ci_high)}]" if math.isfinite(c.ci_low) else "",
                      "p": num(c.p_value), "p_holm": num(c.p_holm), "verdict": c.verdict,
                      "reason": c.reason, "model_notes": c.model_notes})
    return {"id": cv.id, "statement": cv.statement, "source": cv.source, "label": cv.label,
            "split": cv.split, "protocol": cv.protocol, "verdict": cv.verdict,
            "reason": cv.reason, "comparisons": comps, "figure": figure_b64}


def merge_untestable(rows: list[dict]) -> list[dict]:
    """Claim rows (as :func:`_claim_row` makes them) with a claim that is not testable for the same
    reason in several variants (a sweep's readings) shown once: the first row kept, its ``label``
    saying in how many readings (``"all 16 readings"``), the others dropped. Tested rows and rows
    of other reasons are kept as they are, in their order."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["verdict"] == NOT_TESTABLE and r["reason"]:
            groups.setdefault((r["id"], r["protocol"], r["split"], r["reason"]), []).append(r)
    out = []
    for r in rows:
        g = groups.get((r["id"], r["protocol"], r["split"], r["reason"]))
        if g is None or len(g) == 1:
            out.append(r)
        elif r is g[0]:
            out.append({**r, "label": f"all {len(g)} readings"})
    return out


class _Builder:
    def __init__(self, run: RunData, verdicts: Verdicts, paper: pd.DataFrame, s: ReportSettings):
        self.run, self.v, self.paper, self.s = run, verdicts, paper, s
        self.models = run.model_order()
        self.figures: dict[tuple, dict] = {}  # crop-zoom figures, embedded once
        self.computed_seen: dict[tuple, dict] = {}  # identical "every computed model" tables

    # -- models not computed ------------------------------------------------------------------
    def not_computed(self) -> list[dict]:
        out = []
        for name in self.models:
            m = self.run.meta["models"][name]
            if m.get("status", "ok") == "ok":
                continue
            try:
                spec = get_spec(name)
                url = bool(spec.pretrained and spec.pretrained.url)
            except KeyError:
                url = False
            out.append({"name": name, "status": m.get("status", ""), "note": m.get("note", ""),
                        "downloadable": url})
        return out

    # -- crop-zoom ----------------------------------------------------------------------------
    def crop_zoom(self, v: Variant, suite_title: str) -> dict | None:
        if not v.samples_dir:
            return None
        d = self.run.run_dir / v.samples_dir
        key = (v.dataset, str(d))
        if key in self.figures:
            f = self.figures[key]
            f["users"].append(suite_title)  # same list object as in the first embedding
            return {**f, "b64": None}
        if not (d / "hr.png").is_file() or not (d / "lr.png").is_file():
            return None
        hr, lr = read_png01(d / "hr.png"), read_png01(d / "lr.png")
        panels = [(f"LR {lr.shape[1]}x{lr.shape[0]}\n(nearest view)", upsample_nearest(lr, hr.shape))]
        rows = self.run.rows(v)
        for m in self.models:
            p = d / f"{m}.png"
            if not p.is_file():
                continue
            label = m + (f"\n{self.run.model_tags[m]}" if m in self.run.model_tags else "")
            r = rows[(rows.image_id == v.figure_image) & (rows.model == m)]
            if len(r) and {"psnr", "ssim"} <= set(r.columns):
                label += f"\n{num(r.psnr.iloc[0])} dB / {num(r.ssim.iloc[0])}"
            panels.append((label, read_png01(p)))
        panels.append((f"HR {hr.shape[1]}x{hr.shape[0]}", hr))
        from medsr_bench.benchmark.report.clinical import correctness_panels  # issue 21

        panels += correctness_panels(d, hr, lr, self.models)
        png = crop_zoom_figure(panels, hr, title=f"{v.dataset} / {v.figure_image}",
                               region=self.s.zoom, per_row=self.s.per_row, masks=read_masks(d))
        fig = {"id": f"fig-{len(self.figures) + 1}", "number": len(self.figures) + 1,
               "dataset": v.dataset, "image": v.figure_image, "first": suite_title,
               "users": [suite_title]}
        self.figures[key] = fig
        return {**fig, "b64": _b64(png)}

    # -- one variant of one protocol ----------------------------------------------------------
    def variant_section(self, v: Variant, suite: dict, metrics: list[str]) -> dict:
        from medsr_bench.benchmark.report.plots import distribution_figure

        cells = [c for c in self.v.cells if c.suite == v.suite and c.protocol == v.protocol
                 and c.variant == v.id]
        prows = self.paper[(self.paper.suite == v.suite) & (self.paper.protocol == v.protocol)
                           & (self.paper.image != "")]
        rows = self.run.rows(v)
        ok = rows[rows.status == "ok"] if len(rows) else rows
        computed, absent = [], []
        summ = self.run.summary
        summ = summ[(summ.suite == v.suite) & (summ.dataset == (v.dataset or ""))
                    & (summ.variant == v.id)] if not summ.empty else summ
        for m in self.models:
            mr = rows[rows.model == m] if len(rows) else rows
            if mr.empty:
                continue
            if (mr.status == "ok").any():
                vals = []
                for k in metrics:
                    x = pd.to_numeric(ok[ok.model == m][k], errors="coerce") if k in ok else None
                    x = x[x.notna()] if x is not None else None
                    if x is None or x.empty:
                        vals.append(("", ""))
                    else:
                        sd = x.std(ddof=1) if len(x) > 1 else math.nan
                        vals.append((num(x.mean()), f"± {num(sd)}" if math.isfinite(sd) else ""))
                computed.append({"model": m, "values": vals, "n": int((mr.status == "ok").sum())})
            else:
                absent.append({"model": m, "status": str(mr.status.iloc[0])})
        dist = {k: {m: pd.to_numeric(ok[ok.model == m][k], errors="coerce").dropna().to_numpy()
                    for m in dict.fromkeys(ok.model)} for k in metrics[:3] if k in ok}
        per_image = [{"image_id": r["image_id"], "model": r["model"],
                      "values": [num(r.get(k)) for k in metrics]}
                     for r in ok.to_dict("records")] if len(ok) else []
        per_img_cmp = []
        for m in dict.fromkeys(prows.model):
            for k in dict.fromkeys(prows.metric):
                vals = prows[(prows.model == m) & (prows.metric == k)]
                x = pd.to_numeric(ok[ok.model == m][k], errors="coerce").dropna() \
                    if k in ok and len(ok) else pd.Series(dtype=float)
                per_img_cmp.append({
                    "model": m, "metric": k, "source": vals.source.iloc[0],
                    "paper": ", ".join(f"{i}: {num(x_)}" for i, x_ in zip(vals.image, vals.value,
                                                                             strict=True)),
                    "ours": (f"{num(x.min())} – {num(x.max())} (mean {num(x.mean())}, n {len(x)})"
                             if len(x) else ""),
                    "missing": "" if len(x) else
                    ("missing weights" if any(a["model"] == m and a["status"] == "missing-weights"
                                              for a in absent) else "not computed")})
        # a dataset scored identically by an earlier suite (P2 re-runs P1's ChestX-ray14 images):
        # link to that table instead of repeating it
        key = (v.dataset, tuple(metrics), repr(computed),
               tuple(sorted(ok.image_id.astype(str))) if len(ok) else ())
        same_as = self.computed_seen.get(key) if computed else None
        if computed and same_as is None:
            self.computed_seen[key] = {"anchor": f"computed-{v.suite}-{v.id}",
                                       "title": suite["anchor_title"]}
        return {
            "v": v, "meta": v.meta, "dataset": v.dataset, "usable": v.usable,
            "computed_anchor": f"computed-{v.suite}-{v.id}", "same_as": same_as,
            "cells": [_cell_row(c) for c in cells], "per_img_cmp": per_img_cmp,
            "computed": computed, "absent": absent, "metrics": metrics,
            "summary_rows": len(summ),
            "dist": _b64(distribution_figure(dist, title=f"{v.dataset}: per-image values"))
            if any(dist.values()) else None,
            "crop": self.crop_zoom(v, suite["anchor_title"]) if v.usable else None,
            "per_image": per_image,
        }

    # -- suites -------------------------------------------------------------------------------
    def suites(self) -> list[dict]:
        from medsr_bench.benchmark.report.plots import paired_scatter_figure

        meta = self.run.meta
        out = []
        audit = audit_psnr_mse(self.paper)
        for name in sorted(meta.get("suites", {}), key=lambda n: _paper_rank(meta, n)):
            s = meta["suites"][name]
            paper = _paper_label(meta, name)
            suite = {"name": name, "meta": s, "anchor": f"suite-{name}",
                     "heading": f"{paper} — {s.get('title', name)}" if paper
                     else s.get("title", name), "anchor_title": f"{paper} {name}".strip()}
            claims = []
            for cv in (c for c in self.v.claims if c.suite == name):
                panels = [{"better": c.better, "worse": c.worse, "metric": c.metric,
                           "higher_is_better": higher_is_better(c.metric), "pairs": c.pairs,
                           "verdict": c.verdict} for c in cv.comparisons]
                claims.append(_claim_row(cv, _b64(paired_scatter_figure(panels, title=cv.id))))
            claims = merge_untestable(claims)
            protocols = []
            for d in s.get("datasets", []):
                # one section per (protocol, split): P4 scores cptac-gbm on val (Table 1) and
                # test (Table 2), each under its own heading
                split = d.get("split") or None
                variants = self.run.variants_of(name, d.get("protocol", ""), split)
                protocols.append({
                    "protocol": d.get("protocol", ""), "paper_table": d.get("paper_table", ""),
                    "split": split or "", "anchor": d.get("protocol", "") + (f"-{split}" if split
                                                                              else ""),
                    "eval": d.get("eval", {}), "many": len(variants) > 1,
                    "variants": [self.variant_section(v, suite, s.get("metrics", []))
                                 for v in variants]})
            suite.update(claims=claims, protocols=protocols,
                         audit=[a for a in audit if a["suite"] == name])
            out.append(suite)
        return out

    # -- heatmap ------------------------------------------------------------------------------
    def heatmap(self) -> dict:
        """Method x protocol table of the main metric's mean, coloured per column (best = darkest)."""
        import matplotlib

        metric = self.s.main_metric
        try:
            hib = higher_is_better(metric)
        except KeyError:
            hib = True
        cols, values = [], {}
        for v in sorted(self.run.variants, key=lambda v: _paper_rank(self.run.meta, v.suite)):
            rows = self.run.rows(v)
            if rows.empty or metric not in rows:
                continue
            ok = rows[rows.status == "ok"]
            means = ok.groupby("model")[metric].mean() if len(ok) else pd.Series(dtype=float)
            if means.dropna().empty:
                continue
            paper = _paper_label(self.run.meta, v.suite)
            split = v.meta.get("split")
            cols.append({"title": f"{paper} {v.protocol}".strip() + (f" {split}" if split else ""),
                         "sub": v.dataset + (
                f" · {v.label}" if v.label else ""), "key": (v.suite, v.protocol, v.id)})
            values[(v.suite, v.protocol, v.id)] = means
        cmap = matplotlib.colormaps["YlGn"]
        rows_out = []
        models = [m for m in self.models if any(m in s.dropna().index for s in values.values())]
        spans = {}
        for k, s in values.items():
            s = s.dropna()
            spans[k] = (float(s.min()), float(s.max()))
        for m in models:
            cells = []
            for c in cols:
                s = values[c["key"]]
                x = s.get(m, math.nan)
                if x is None or not math.isfinite(float(x)):
                    cells.append({"text": "", "bg": "", "fg": ""})
                    continue
                lo, hi = spans[c["key"]]
                t = 0.5 if hi == lo else (float(x) - lo) / (hi - lo)
                t = t if hib else 1 - t
                rgba = cmap(0.1 + 0.75 * t)
                bg = matplotlib.colors.to_hex(rgba)
                lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
                cells.append({"text": num(x), "bg": bg, "fg": "#000" if lum > 0.55 else "#fff"})
            rows_out.append({"model": m, "cells": cells})
        return {"metric": metric, "higher_is_better": hib, "cols": cols, "rows": rows_out}


def build_context(run_dir: Path, settings: ReportSettings = ReportSettings()) -> dict:
    """Everything the template shows, computed from the run directory.

    Raises:
        ReportError: the run directory cannot be read.
    """
    from medsr_bench.benchmark.report.plots import training_figures
    from medsr_bench.benchmark.sweep import report_context as sweep_context

    try:
        run = load_run(run_dir)
    except RunDirError as e:
        raise ReportError(str(e)) from e
    paper, claims = load_paper_tables(), load_claims()
    verdicts = evaluate(run, paper, claims, settings.stats)
    b = _Builder(run, verdicts, paper, settings)
    suites = b.suites()
    not_computed = b.not_computed()
    return {
        "meta": run.meta, "run_dir": str(run_dir), "headline": verdicts.headline(),
        "claims": [c for s in suites for c in s["claims"]], "suites": suites,
        "suite_of_claim": {c.id: c.suite for c in verdicts.claims},
        "heatmap": b.heatmap(), "not_computed": not_computed,
        "n_downloadable": sum(m["downloadable"] for m in not_computed),
        "training": [(name, _b64(png)) for name, png in training_figures(run.run_dir)],
        "paper_tables_found": not paper.empty, "stats": settings.stats,
        "verdict_class": {REPRODUCED: "v-rep", CONTRADICTED: "v-con", "inconclusive": "v-inc",
                          "not testable here": "v-nt"},
        "model_rows": [{"name": k, **run.meta["models"][k]} for k in b.models],
        "verdicts": verdicts, "num": num, "sweep": sweep_context(run.run_dir),
        "clinical": _clinical_context(run, b.models),
        "problems": run.problems, "stand_ins": run.notes, "mlabel": _model_label(run.model_tags),
    }


def _model_label(tags: dict[str, str]):
    """The template's ``mlabel(name)``: a model name, followed by its mark (``UNDER-TRAINED
    (3 of 200 iterations)``, see :func:`.rundata.model_tags`) where it has one; HTML-escaped."""
    def mlabel(name) -> Markup:
        tag = tags.get(name)
        return Markup('{} <span class="tag">{}</span>').format(name, tag) if tag else escape(name)

    return mlabel


def _clinical_context(run, models):
    from medsr_bench.benchmark.report.clinical import clinical_context  # issue 21

    return clinical_context(run, models)


def render_report(run_dir: Path, out: Path, fmt: str = "html",
                  settings: ReportSettings = ReportSettings()) -> list[Path]:
    """Write the report of ``run_dir`` in format ``fmt`` (one of :data:`FORMATS`) to ``out``
    (atomically). CSV writes two files (cells, and ``<stem>-claims.csv``). Returns the paths.

    Raises:
        ReportError: run.json missing or unreadable, an unknown format, or a report that cannot
            be written (a full disk, a read-only folder: one line naming it; a report already
            at ``out`` is left as it was, the writes being atomic).
    """
    import errno

    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    try:
        return _render(Path(run_dir), Path(out), fmt, settings)
    except OSError as e:
        where = e.filename or out
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
            raise ReportError(f"{where}: cannot write the report ({e.strerror}); free space or "
                              "pass another --out") from e
        raise ReportError(f"{where}: {e.strerror or e}") from e


def _render(run_dir: Path, out: Path, fmt: str, settings: ReportSettings) -> list[Path]:
    from medsr_bench.benchmark.report import export

    if not (run_dir / "run.json").is_file():
        raise ReportError(f"{run_dir}: no run.json (expected a folder written by `bench run`)")
    if fmt != "html":
        try:
            run = load_run(run_dir)
        except RunDirError as e:
            raise ReportError(str(e)) from e
        _warn(run.problems, run.notes)
        v = evaluate(run, load_paper_tables(), load_claims(), settings.stats)
        if fmt == "csv":
            return export.write_csv(v, out)
        text = {"md": lambda: "".join(f"> **{p}**\n\n" for p in run.problems)
                + "".join(f"> Stand-in: {n}\n\n" for n in run.notes)
                + export.to_markdown(v, f"medsr-bench: {run_dir}"),
                "json": lambda: export.to_json(v, {"run_dir": str(run_dir),
                                                   "git_commit": run.meta.get("git_commit"),
                                                   "problems": run.problems,
                                                   "stand_ins": run.notes}),
                "latex": lambda: export.to_latex(v)}[fmt]()
        atomic_write_text(out, text)
        return [out]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("medsr_bench.benchmark.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    ctx = build_context(run_dir, settings)
    _warn(ctx["problems"], ctx["stand_ins"])
    html = env.get_template("report.html").render(**ctx)
    atomic_write_text(out, html)
    return [out]


def _warn(problems: list[str], notes: list[str] = ()) -> None:
    """Say on the console (stderr, one line each) what the report states about the run: its
    problems (``warning:``) and its stand-in datasets (``stand-in:``)."""
    import sys

    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    for n in notes:
        print(f"stand-in: {n}", file=sys.stderr)


def default_extension(fmt: str) -> str:
    """File extension of a report format (``latex`` -> ``.tex``)."""
    return EXTENSIONS[fmt]
