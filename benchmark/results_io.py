"""Run-directory tables: the columns of ``per_image.csv`` / ``summary.csv``, exact cell formatting,
reading, and the summary statistics.

Both tables are written whole by :func:`medsr_bench.benchmark.rundir.merge` through the atomic writer
(temp file + ``os.replace``), so a reader never sees half a table and a killed run leaves the previous
tables intact; finished work survives a kill as part files (``parts/``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medsr_bench.core import atomic_write_json, atomic_write_text  # noqa: F401  (re-exported)

# Contract columns of per_image.csv: the id part, then the suites' metric columns, ``note`` and the
# diagnostics (sorted). ``variant`` is the hash of one reading of a protocol (params, split, metric
# settings, model options; see benchmark.tasks.variant_id). Per-image seconds live in timings.csv.
ID_COLUMNS = ("suite", "dataset", "variant", "image_id", "split", "model", "scale", "status")
TAIL_COLUMNS = ("note",)
SUMMARY_COLUMNS = ("suite", "dataset", "variant", "model", "metric", "mean", "std", "n", "status")
KEY = ("suite", "dataset", "variant", "image_id", "model")


def format_value(v) -> str:
    """CSV cell text: '' for None/NaN, 'inf' for +inf, repr-exact floats otherwise."""
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return ""
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    return str(v)


def _csv_text(header: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> str:
    """CSV text (csv module quoting, ``\n`` line ends) of an optional header and rows of cells."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header is not None:
        w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def read_per_image(path: Path) -> pd.DataFrame:
    """Load ``per_image.csv`` (keeping ids as strings; 'inf' parsed as float inf)."""
    df = pd.read_csv(path, dtype={"image_id": str, "suite": str, "dataset": str, "model": str,
                                  "variant": str},
                     keep_default_na=False, na_values=[""])
    return df


def summarise(per_image: pd.DataFrame, metrics: Sequence[str],
              model_order: Sequence[str] | None = None) -> pd.DataFrame:
    """``summary.csv`` rows from per-image rows.

    For status ``ok``: mean and sample std (ddof=1; undefined, NaN, when n=1) over images, per (suite,
    dataset, variant, model, metric); an infinite value (PSNR of identical images) makes the mean ``inf``. Models with
    no ``ok`` row get one row per metric with their status (``missing-weights``, ``error``) and
    empty mean/std, n = number of images marked so.

    Row order is canonical (independent of the order rows were appended, e.g. by a resumed run):
    suites, datasets and variants in order of first appearance, models in ``model_order`` (then first
    appearance), metrics in ``metrics`` order.
    """
    out = []
    if per_image.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    if "variant" not in per_image:
        per_image = per_image.assign(variant="")
    rank = {m: i for i, m in enumerate(dict.fromkeys([*(model_order or []), *per_image.model]))}
    suites = {v: i for i, v in enumerate(dict.fromkeys(per_image.suite))}
    datasets = {v: i for i, v in enumerate(dict.fromkeys(per_image.dataset))}
    variants = {v: i for i, v in enumerate(dict.fromkeys(per_image.variant))}
    groups = sorted(per_image.groupby(["suite", "dataset", "variant", "model"], sort=False),
                    key=lambda kv: (suites[kv[0][0]], datasets[kv[0][1]], variants[kv[0][2]],
                                    rank[kv[0][3]]))
    for (suite, dataset, variant, model), g in groups:
        ok = g[g["status"] == "ok"]
        if len(ok):
            for m in metrics:
                if m not in ok:
                    continue
                v = pd.to_numeric(ok[m], errors="coerce").to_numpy(dtype=float)
                v = v[~np.isnan(v)]
                if "@" in m and not len(v):  # a region this dataset does not have
                    continue
                mean = float(np.mean(v)) if len(v) else float("nan")
                std = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
                if np.isinf(v).any():
                    std = float("nan")
                out.append(dict(suite=suite, dataset=dataset, variant=variant, model=model,
                                metric=m, mean=mean, std=std, n=len(v), status="ok"))
        else:
            status = str(g["status"].iloc[0])
            for m in metrics:
                out.append(dict(suite=suite, dataset=dataset, variant=variant, model=model,
                                metric=m, mean=float("nan"), std=float("nan"), n=len(g),
                                status=status))
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def write_summary(path: Path, df: pd.DataFrame) -> None:
    """Write a summary DataFrame atomically, formatting floats exactly (see :func:`format_value`)."""
    cells = [[format_value(getattr(r, c)) for c in SUMMARY_COLUMNS] for r in df.itertuples(index=False)]
    atomic_write_text(Path(path), _csv_text(SUMMARY_COLUMNS, cells))
