"""The papers' reported numbers and comparative claims (package data), and the P2 number audit.

Both tables ship inside the installed package (``medsr_bench/benchmark/paper_tables/``), so a wheel
or a non-editable install renders the same paper values as the repository:

- ``reported.csv``: suite, protocol, split, model, image, metric, value, std, source. One row per
  number a paper prints; ``image`` is empty for means over a set and names the image for papers
  that report single images (P2). ``split`` is the split the paper scored on (``all``, ``val``,
  ``test``). Optional column ``n``: the number of images the paper's mean is over, where the paper
  states it (P3: 7,823 test slices); with ``std`` it sets the interval a cell is judged against
  (:func:`medsr_bench.benchmark.report.verdicts.paper_ci`).
- ``claims.csv``: id, suite, protocol, split, ranking, metrics, statement, source. ``ranking`` is an
  ordered chain ``"a > b > c"`` meaning *a is better than b, which is better than c* on every metric
  of ``metrics`` (space-separated, region metrics like ``ssim@vessel`` allowed); "better" follows
  the metric registry's ``higher_is_better``.
"""

from __future__ import annotations

import math
import os
from importlib import resources
from pathlib import Path

import pandas as pd

PAPER_COLUMNS = ["suite", "protocol", "split", "model", "image", "metric", "value", "std", "source"]
CLAIM_COLUMNS = ["id", "suite", "protocol", "split", "ranking", "metrics", "statement", "source"]


def _package_table(name: str) -> Path:
    return Path(str(resources.files("medsr_bench.benchmark") / "paper_tables" / name))


def default_paper_tables_path() -> Path:
    """``reported.csv`` inside the installed package (``$BENCH_PAPER_TABLES`` overrides it)."""
    return Path(os.environ.get("BENCH_PAPER_TABLES") or _package_table("reported.csv"))


def default_claims_path() -> Path:
    """``claims.csv`` inside the installed package (``$BENCH_CLAIMS`` overrides it)."""
    return Path(os.environ.get("BENCH_CLAIMS") or _package_table("claims.csv"))


def decimals(text: str) -> int:
    """Number of digits after the decimal point of a number as printed (``"0.90"`` -> 2)."""
    text = str(text).strip()
    return len(text.split(".", 1)[1]) if "." in text else 0


def load_paper_tables(path: Path | None = None) -> pd.DataFrame:
    """Read the reported-numbers table.

    Returns the columns of :data:`PAPER_COLUMNS`, ``n`` (float, NaN when the file has no ``n``
    column or the cell is empty) and ``decimals`` (digits the paper printed after
    the decimal point, so a value can be read as the interval value +- half a unit of its last
    digit). Returns an empty frame with those columns when the file is absent.

    Raises:
        ValueError: the file lacks a required column (message names the file).
    """
    path = Path(path or default_paper_tables_path())
    if not path.is_file():
        return pd.DataFrame(columns=[*PAPER_COLUMNS, "n", "decimals"])
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in PAPER_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected {PAPER_COLUMNS}")
    df = raw[PAPER_COLUMNS].copy()
    df["decimals"] = raw["value"].map(decimals)
    df["value"] = pd.to_numeric(raw["value"])
    df["std"] = pd.to_numeric(raw["std"].replace("", None))
    df["n"] = pd.to_numeric(raw["n"].replace("", None)) if "n" in raw.columns else float("nan")
    return df


def load_claims(path: Path | None = None) -> pd.DataFrame:
    """Read the claims table (:data:`CLAIM_COLUMNS`); adds ``models`` (list, best first) and
    ``metric_list`` (list). Empty frame when the file is absent.

    Raises:
        ValueError: a missing column, or a ranking with fewer than two models (names the file and id).
    """
    path = Path(path or default_claims_path())
    if not path.is_file():
        return pd.DataFrame(columns=[*CLAIM_COLUMNS, "models", "metric_list"])
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in CLAIM_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected {CLAIM_COLUMNS}")
    df["models"] = [[m.strip() for m in r.split(">")] for r in df["ranking"]]
    df["metric_list"] = [m.split() for m in df["metrics"]]
    for cid, models in zip(df["id"], df["models"], strict=True):
        if len(models) < 2 or not all(models):
            raise ValueError(f"{path}: claim {cid}: ranking needs 'a > b' (two or more models)")
    return df


def implied_peak(psnr: float, mse: float) -> float:
    """Peak value P with PSNR = 10 log10(P^2 / MSE), i.e. P = sqrt(MSE * 10^(PSNR/10)).

    For 8-bit images scored in 8-bit units P should be 255 (up to the rounding of the reported
    digits). Source: the PSNR definition; P2's tables are audited with it.
    """
    return math.sqrt(mse * 10 ** (psnr / 10))


def psnr_from_mse(mse: float, peak: float = 255.0) -> float:
    """PSNR in dB implied by an MSE at the given peak."""
    return 10 * math.log10(peak**2 / mse)


# Peak values a (PSNR, MSE) pair could have been computed with, and what each would mean.
PEAK_CONVENTIONS = {
    "8-bit (peak 255)": 255.0,
    "8-bit RGB, MSE summed over 3 channels (peak 255*sqrt(3))": 255.0 * math.sqrt(3),
    "[0, 1] floats (peak 1)": 1.0,
    "16-bit (peak 65535)": 65535.0,
}


def explain_peak(peak: float, rel_tol: float = 0.02) -> str:
    """The :data:`PEAK_CONVENTIONS` entry within ``rel_tol`` of ``peak``, or "none"."""
    for name, p in PEAK_CONVENTIONS.items():
        if abs(peak - p) / p <= rel_tol:
            return name
    return "none"


def audit_psnr_mse(paper: pd.DataFrame, rel_tol: float = 0.02) -> list[dict]:
    """Check every reported (PSNR, MSE) pair of the same image and model for consistency.

    A pair is called consistent with 8-bit scoring when the implied peak is within ``rel_tol`` of
    255 (2 % covers the rounding of two-decimal PSNRs and MSEs); ``convention`` names the
    :data:`PEAK_CONVENTIONS` entry the implied peak matches, if any. Returns one dict per pair:
    suite, model, image, psnr, mse, implied_peak, psnr_at_255, consistent, convention, source.
    """
    out = []
    per_img = paper[paper["image"] != ""]
    for (suite, model, image), g in per_img.groupby(["suite", "model", "image"], sort=False):
        vals = dict(zip(g["metric"], g["value"], strict=True))
        if "psnr" in vals and "mse" in vals:
            peak = implied_peak(vals["psnr"], vals["mse"])
            out.append(dict(suite=suite, model=model, image=image, psnr=vals["psnr"],
                            mse=vals["mse"], implied_peak=peak,
                            psnr_at_255=psnr_from_mse(vals["mse"]),
                            consistent=abs(peak - 255) / 255 <= rel_tol,
                            convention=explain_peak(peak, rel_tol),
                            source=g["source"].iloc[0]))
    return out
