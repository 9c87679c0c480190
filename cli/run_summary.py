"""The compact results table `bench run` prints at its end (as lm-eval prints its results table):
the mean of the headline metric (SSIM, the one metric all four papers report; PSNR when a run has
no SSIM) per model (rows) and dataset (columns), read from the run's ``summary.csv``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from medsr_bench.benchmark.report.rundata import model_tags, with_tag

HEADLINE_METRICS = ("ssim", "psnr")


def headline_table(run_dir: Path, width: int = 9) -> list[str]:
    """Lines of the table (empty when ``summary.csv`` is absent or has no headline metric).

    Columns are ``suite/dataset`` (with the split, else the first 6 digits of the variant id, when
    a dataset has several variants); a model without an ``ok`` mean on a dataset shows ``-``; an
    under-trained (or smoke) checkpoint of ``bench train`` is named with its mark
    (``srresnet [UNDER-TRAINED (3 of 200 iterations)]``). Values are means over the dataset's
    images, 4 significant digits.
    """
    path = Path(run_dir) / "summary.csv"
    if not path.is_file():
        return []
    df = pd.read_csv(path, dtype={"variant": str, "dataset": str, "model": str, "suite": str},
                     keep_default_na=False, na_values=[""])
    metric = next((m for m in HEADLINE_METRICS if (df.get("metric") == m).any()), None)
    if metric is None:
        return []
    d = df[df.metric == metric].copy()
    nvar = d.groupby(["suite", "dataset"])["variant"].transform("nunique")
    try:  # a dataset scored on two splits (P4 val / test) is labelled by split
        meta = json.loads((Path(run_dir) / "run.json").read_text())
        meta = meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        meta = {}
    variants = meta.get("variants") or {}
    tags = model_tags(meta)

    def tag(v: str) -> str:
        split = (variants.get(v) or {}).get("split")
        return f" {split}" if split else f"@{v[:6]}"

    d["col"] = d.suite + "/" + d.dataset + [tag(v) if k > 1 else ""
                                            for v, k in zip(d.variant, nvar, strict=True)]
    ok = d[d.status == "ok"] if "status" in d else d
    table = ok.pivot_table(index="model", columns="col", values="mean", aggfunc="first", sort=False)
    models = list(dict.fromkeys(d.model))
    cols = list(dict.fromkeys(d.col))
    table = table.reindex(index=models, columns=cols)
    names = {m: with_tag(m, tags) for m in models}
    mw = max(len("model"), *(len(n) for n in names.values()))
    colw = [max(width, len(c)) for c in cols]
    head = f"{'model':<{mw}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cols, colw, strict=True))
    lines = [f"mean {metric.upper()} per dataset (summary.csv):", head, "-" * len(head)]
    for m in models:
        vals = [("-" if pd.isna(x) else f"{x:.4g}") for x in table.loc[m]]
        lines.append(f"{names[m]:<{mw}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(vals, colw, strict=True)))
    return lines
