"""Paper-vs-reproduced tables and claim verdicts as Markdown, CSV, JSON and LaTeX.

Two tables: **cells** (one reported mean beside ours: mean, 95 % CI, n, Δ = ours - paper, whether
Δ is in the metric's better direction, whether the paper value lies in the CI, verdict, reason) and
**claims** (one row per paired comparison of a claim: models, metric, n, mean oriented difference
with its CI, Wilcoxon p and Holm-corrected p, the comparison's and the claim's verdict).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from medsr_bench.benchmark.report.rundata import with_tag
from medsr_bench.benchmark.report.verdicts import NOT_TESTABLE, Verdicts
from medsr_bench.core import atomic_write_text

FORMATS = ("html", "md", "csv", "json", "latex")
EXTENSIONS = {"html": ".html", "md": ".md", "csv": ".csv", "json": ".json", "latex": ".tex"}

CELL_COLUMNS = ["suite", "protocol", "dataset", "variant", "label", "split", "model", "model_note",
                "weights_source",
                "metric", "paper",
                "paper_std", "paper_n", "rule", "paper_low", "paper_high", "n", "mean", "ci_low",
                "ci_high", "diff", "better", "inside_ci", "too_small", "verdict", "reason", "source"]
CLAIM_COLUMNS = ["id", "suite", "protocol", "variant", "label", "split", "statement", "source",
                 "claim_verdict", "better", "worse", "model_notes", "metric", "n", "mean_diff",
                 "ci_low", "ci_high", "p_value", "p_holm", "verdict", "reason"]


def num(v, signed: bool = False, sig: int = 4) -> str:
    """The report's one number format: ``sig`` significant digits in fixed point (never
    scientific), ``""`` for None/NaN, ``inf``/``-inf``; ``signed`` adds ``+`` to positives."""
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
    if f == 0:
        return "0"
    decimals = min(8, max(0, sig - 1 - math.floor(math.log10(abs(f)))))
    return f"{f:{'+' if signed else ''}.{decimals}f}"


def cells_frame(v: Verdicts) -> pd.DataFrame:
    """The cells table (:data:`CELL_COLUMNS`), one row per paper cell and variant."""
    return pd.DataFrame([c.to_dict() for c in v.cells], columns=CELL_COLUMNS)


def claims_frame(v: Verdicts) -> pd.DataFrame:
    """The claims table (:data:`CLAIM_COLUMNS`), one row per comparison of each claim."""
    rows = []
    for cv in v.claims:
        head = cv.to_dict()
        for c in head.pop("comparisons"):
            rows.append({**{k: head[k] for k in ("id", "suite", "protocol", "variant", "label",
                                                 "split", "statement", "source")},
                         "claim_verdict": head["verdict"], **c})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _display(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [num(x, signed=c in ("diff", "mean_diff")) for x in out[c]]
    return out.fillna("").astype(str)


def _md_table(df: pd.DataFrame) -> str:
    d = _display(df)

    def esc(s):
        return str(s).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(c) for c in d.columns) + " |",
             "|" + "|".join("---" for _ in d.columns) + "|"]
    lines += ["| " + " | ".join(esc(x) for x in row) + " |" for row in d.itertuples(index=False)]
    return "\n".join(lines)


_MD_CELLS = ["suite", "protocol", "dataset", "label", "split", "model", "weights_source", "metric",
             "paper", "rule", "n",
             "mean", "ci_low", "ci_high", "diff", "verdict", "reason"]
_MD_CLAIMS = ["id", "statement", "label", "claim_verdict", "better", "worse", "metric", "n",
              "mean_diff", "ci_low", "ci_high", "p_holm", "verdict", "reason"]


def _merge_untestable(claims: pd.DataFrame) -> pd.DataFrame:
    """The text formats' claims: a comparison not testable for the same reason in several readings
    (a sweep's variants) is one row, its ``label`` saying in how many (``all 16 readings``), as the
    HTML summary shows it (``report.merge_untestable``); CSV and JSON keep one row per variant."""
    if claims.empty:
        return claims
    key = ["id", "protocol", "split", "better", "worse", "metric", "reason"]
    untested = (claims.claim_verdict == NOT_TESTABLE) & (claims.reason.fillna("") != "")
    sizes = claims[untested].groupby(key, dropna=False).transform("size")
    first = ~claims[untested].duplicated(subset=key)
    keep = ~untested
    keep[first[first].index] = True
    out = claims[keep].copy()
    many = sizes.reindex(out.index).fillna(1) > 1
    out.loc[many, "label"] = [f"all {int(n)} readings" for n in sizes.reindex(out.index)[many]]
    return out


def _marked(v: Verdicts) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The claims and cells tables of the text formats (Markdown, LaTeX): a model whose rows
    carry a mark (``UNDER-TRAINED (...)``) is shown with it, as ``srresnet [UNDER-TRAINED
    (...)]``, wherever its name appears."""
    tags = {c.model: c.model_note for c in v.cells if c.model_note}
    for cv in v.claims:
        for k in cv.comparisons:
            for part in filter(None, k.model_notes.split("; ")):
                m, _, tag = part.partition(": ")
                tags.setdefault(m, tag)
    claims, cells = _merge_untestable(claims_frame(v)), cells_frame(v)[_MD_CELLS].copy()
    claims = claims[_MD_CLAIMS].copy()
    for df, cols in ((claims, ("better", "worse")), (cells, ("model",))):
        for c in cols:
            df[c] = [with_tag(m, tags) if isinstance(m, str) else m for m in df[c]]
    return claims, cells


def to_markdown(v: Verdicts, title: str = "") -> str:
    """Headline, claims table and cells table as GitHub-flavoured Markdown."""
    h = v.headline()
    claims, cells = _marked(v)
    parts = [f"# {title or 'medsr-bench: paper vs reproduced'}", "", f"**{h['text']}.**", "",
             "## Claims", "", _md_table(claims), "", "## Paper cells", "", _md_table(cells), ""]
    return "\n".join(parts)


def to_json(v: Verdicts, meta: dict | None = None) -> str:
    """Headline, settings, cells and claims (with comparisons) as JSON (NaN written as null)."""
    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None if math.isnan(o) else ("inf" if o > 0 else "-inf")
        if isinstance(o, dict):
            return {k: clean(x) for k, x in o.items()}
        if isinstance(o, list):
            return [clean(x) for x in o]
        return o

    d = v.to_dict()
    if meta is not None:
        d["run"] = meta
    return json.dumps(clean(d), indent=1, allow_nan=False)


def to_latex(v: Verdicts) -> str:
    """The claims and cells tables as two LaTeX ``tabular`` environments (booktabs rules; needs
    ``\\usepackage{booktabs}``), text escaped."""
    def tab(df, caption):
        body = _display(df).to_latex(index=False, escape=True)
        return f"% {caption}\n{body}"

    h = v.headline()
    claims, cells = _marked(v)
    return "\n".join([f"% medsr-bench: {h['text']}", tab(claims, "Claims"),
                      tab(cells, "Paper cells")])


def write_csv(v: Verdicts, out: Path) -> list[Path]:
    """Write the cells table to ``out`` and the claims table to ``<out stem>-claims.csv``
    (full precision). Returns both paths."""

    out = Path(out)
    claims = out.with_name(out.stem + "-claims.csv")
    atomic_write_text(out, cells_frame(v).to_csv(index=False))
    atomic_write_text(claims, claims_frame(v).to_csv(index=False))
    return [out, claims]
