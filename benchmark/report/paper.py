"""The papers' reported numbers (``results/paper_tables/reported.csv``) and their audit.

Columns of the CSV: suite, protocol, split, model, image, metric, value, std, source.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "results" / "paper_tables" / "reported.csv"


def load_paper_tables(path: Path | None = None) -> pd.DataFrame:
    """Read the reported-numbers table (``$BENCH_PAPER_TABLES`` or the repo's copy).

    Returns an empty frame with the right columns when the file is absent (non-editable install),
    so the report still renders and says so.
    """
    path = Path(path or os.environ.get("BENCH_PAPER_TABLES", DEFAULT_PATH))
    cols = ["suite", "protocol", "split", "model", "image", "metric", "value", "std", "source"]
    if not path.is_file():
        return pd.DataFrame(columns=cols)
    df = pd.read_csv(path, dtype={"image": str}, keep_default_na=False, na_values=[""])
    df["image"] = df["image"].fillna("")
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
