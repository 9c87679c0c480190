"""Run-directory files: incremental ``per_image.csv``, atomic ``summary.csv`` / ``run.json``.

Crash safety: rows are appended as whole lines and flushed + fsync'ed per batch; a trailing partial
line left by a kill is cut off when the table is reopened. Whole-file outputs are written to a
temporary file in the same folder and moved over the target with ``os.replace`` (atomic on POSIX),
so a reader never sees half a table.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medsr_bench.core import atomic_write_json, atomic_write_text  # noqa: F401  (re-exported)

# Contract columns of per_image.csv (issue 2); metric columns follow the suite's metric list and
# extra diagnostics are appended after ``seconds``.
ID_COLUMNS = ("suite", "dataset", "image_id", "split", "model", "scale", "status")
TAIL_COLUMNS = ("seconds", "note")
SUMMARY_COLUMNS = ("suite", "dataset", "model", "metric", "mean", "std", "n", "status")
KEY = ("suite", "dataset", "image_id", "model")


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


class PerImageTable:
    """Append-only ``per_image.csv`` with resume.

    Args:
        path: the CSV file.
        columns: full column list (ID_COLUMNS + metrics + TAIL_COLUMNS + extras).

    On open, an existing file is repaired (partial last line dropped) and rows whose status is not
    ``ok`` are dropped (they are recomputed: weights may have appeared since), using an atomic
    rewrite. ``done`` holds the keys of finished rows. If the existing header differs from
    ``columns`` (new metric or diagnostic columns), the table is rewritten with the union.
    """

    def __init__(self, path: Path, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = list(columns)
        self.done: set[tuple] = set()
        self._open_existing()

    def _open_existing(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            atomic_write_text(self.path, ",".join(self.columns) + "\n")
            return
        raw = self.path.read_text(encoding="utf-8")
        if not raw.endswith("\n"):
            raw = raw[: raw.rfind("\n") + 1]  # drop a partial last line (killed mid-write)
        reader = csv.DictReader(raw.splitlines())
        kept = [r for r in reader if r.get("status") == "ok"]
        for c in reader.fieldnames or []:
            if c not in self.columns:
                self.columns.append(c)
        self._rewrite(kept)
        self.done = {tuple(r[k] for k in KEY) for r in kept}

    def _rewrite(self, rows: list[dict]) -> None:
        cells = [[r.get(c) or "" for c in self.columns] for r in rows]
        atomic_write_text(self.path, _csv_text(self.columns, cells))

    def is_done(self, suite: str, dataset: str, image_id: str, model: str) -> bool:
        return (suite, dataset, image_id, model) in self.done

    def ensure_columns(self, extra: Iterable[str]) -> None:
        """Add new columns (e.g. a model's diagnostics) by rewriting the table atomically."""
        new = list(dict.fromkeys(c for c in extra if c not in self.columns))
        if not new:
            return
        rows = list(csv.DictReader(self.path.read_text(encoding="utf-8").splitlines()))
        self.columns.extend(new)
        self._rewrite(rows)

    def append(self, rows: Sequence[dict]) -> None:
        """Append whole rows, then flush + fsync. Rows with status ``ok`` become ``done``."""
        if not rows:
            return
        self.ensure_columns(k for r in rows for k in r if k not in self.columns)
        text = _csv_text(None, [[format_value(r.get(c)) for c in self.columns] for r in rows])
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        for r in rows:
            if r.get("status") == "ok":
                self.done.add(tuple(str(r[k]) for k in KEY))


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
    df = pd.read_csv(path, dtype={"image_id": str, "suite": str, "dataset": str, "model": str},
                     keep_default_na=False, na_values=[""])
    return df


def summarise(per_image: pd.DataFrame, metrics: Sequence[str],
              model_order: Sequence[str] | None = None) -> pd.DataFrame:
    """``summary.csv`` rows from per-image rows.

    For status ``ok``: mean and sample std (ddof=1; undefined, NaN, when n=1) over images, per (suite, dataset,
    model, metric); an infinite value (PSNR of identical images) makes the mean ``inf``. Models with
    no ``ok`` row get one row per metric with their status (``missing-weights``, ``error``) and
    empty mean/std, n = number of images marked so.

    Row order is canonical (independent of the order rows were appended, e.g. by a resumed run):
    suites and datasets in order of first appearance, models in ``model_order`` (then first
    appearance), metrics in ``metrics`` order.
    """
    out = []
    if per_image.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    rank = {m: i for i, m in enumerate(dict.fromkeys([*(model_order or []), *per_image.model]))}
    suites = {v: i for i, v in enumerate(dict.fromkeys(per_image.suite))}
    datasets = {v: i for i, v in enumerate(dict.fromkeys(per_image.dataset))}
    groups = sorted(per_image.groupby(["suite", "dataset", "model"], sort=False),
                    key=lambda kv: (suites[kv[0][0]], datasets[kv[0][1]], rank[kv[0][2]]))
    for (suite, dataset, model), g in groups:
        ok = g[g["status"] == "ok"]
        if len(ok):
            for m in metrics:
                if m not in ok:
                    continue
                v = pd.to_numeric(ok[m], errors="coerce").to_numpy(dtype=float)
                v = v[~np.isnan(v)]
                mean = float(np.mean(v)) if len(v) else float("nan")
                std = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
                if np.isinf(v).any():
                    std = float("nan")
                out.append(dict(suite=suite, dataset=dataset, model=model, metric=m,
                                mean=mean, std=std, n=len(v), status="ok"))
        else:
            status = str(g["status"].iloc[0])
            for m in metrics:
                out.append(dict(suite=suite, dataset=dataset, model=model, metric=m,
                                mean=float("nan"), std=float("nan"), n=len(g), status=status))
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def write_summary(path: Path, df: pd.DataFrame) -> None:
    """Write a summary DataFrame atomically, formatting floats exactly (see :func:`format_value`)."""
    cells = [[format_value(getattr(r, c)) for c in SUMMARY_COLUMNS] for r in df.itertuples(index=False)]
    atomic_write_text(Path(path), _csv_text(SUMMARY_COLUMNS, cells))
