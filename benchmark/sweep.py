"""``bench sweep``: which reading of a paper's open choices reproduces its numbers?

A sweep runs the product of a grid of settings (the same dotted keys as ``bench run --set``) as
variants of one run. Planning merges the tasks of all grid points that compute the same SR outputs
(same protocol params, shard, model, engine options and weights), so a metric-only variant reuses
the SR pass of its sibling, and a model-only variant reuses the prepared set (prepared sets are
keyed by the protocol params alone).

Then every paper cell (``reported.csv``: suite, protocol, split, model, metric, value, std) is
compared with every variant: the reproduced mean and its 95 % bootstrap CI, the distance to the
paper value in units of the paper's std where it gives one (else relative to the value), whether
the paper value lies inside our CI (read as value +- half a unit of its last printed digit) and
whether our mean lies within one paper std. ``sweep.csv`` holds every (variant, cell),
``closest.csv`` the closest readings per cell, and ``sweep.md`` the plain findings.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from medsr_bench.benchmark import settings as st
from medsr_bench.benchmark.tasks import Plan
from medsr_bench.core import atomic_write_text, canonical_json

#: The open choices each paper leaves, with the plausible values (``bench sweep --suite S`` uses
#: these when no ``--grid`` is given). Sources: ../shared/papers/README.md and each params
#: dataclass's docstring.
DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    # P1 (Aghelan & Rouhani): blur strength and kernel, which bicubic, RGB vs Y, crop border.
    "aghelan": {
        "drive.blur_sigma": [0.0, 1.0, 2.0],
        "drive.lr_resize": ["matlab-bicubic", "cv2-bicubic", "pil-bicubic"],
        "metric.channel": ["rgb", "y"],
        "metric.crop_border": [0, 4],
    },
    # P2 (Khandare et al.): nothing about the degradation is stated; blur and bicubic kind.
    "khandare": {
        "chestxray14.blur_sigma": [0.0, 1.0],
        "chestxray14.lr_resize": ["matlab-bicubic", "cv2-bicubic"],
        "metric.crop_border": [0, 4],
    },
    # P3 (Rashid et al.): normalisation unit, antialiased bilinear or not, NRMSE denominator,
    # VIF scale, metric domain ([0, 1] floats or 8-bit).
    "rashid": {
        "brats2018.normalisation": ["slice", "volume"],
        "brats2018.lr_resize": ["cv2-bilinear", "pil-bilinear"],
        "metric.nrmse_norm": ["mean", "euclidean", "min-max"],
        "metric.vif_rescale": [True, False],
    },
    # P4 (Beallor et al.): window vs min-max, HR filtered or not, bicubic kind, crop border.
    "beallor": {
        "cptac-gbm.intensity": ["minmax", "window"],
        "cptac-gbm.filter_hr": [False, True],
        "cptac-gbm.lr_resize": ["cv2-bicubic", "pil-bicubic"],
        "metric.crop_border": [0, 4],
    },
}

SWEEP_COLUMNS = ("suite", "protocol", "split", "model", "metric", "paper", "paper_std", "variant",
                 "label", "mean", "ci_low", "ci_high", "n", "distance", "distance_unit",
                 "in_ci", "within_std", "note")


class SweepError(ValueError):
    """A bad grid (unknown key, bad value, too many variants); one line."""


def estimate(plan: Plan, n_points: int, n_dropped: int) -> str:
    """One line: variants, SR passes and preparations with sharing vs the naive product."""
    c, n = plan.counts(), plan.naive
    return (f"{n_points} grid points ({n_dropped} invalid combinations dropped) -> "
            f"{len(plan.variants)} variants; SR passes: {c['images']} images in {c['tasks']} tasks "
            f"(naive product: {n['images']} images in {n['tasks']} tasks); preparations: "
            f"{c['preparations']} (naive: {n['preparations']})")


def parse_grid(items: Sequence[str], grid_file: Path | None = None) -> dict[str, list]:
    """``["metric.vif_rescale=true,false", ...]`` (and a TOML grid file: ``[grid]`` table of
    lists, or top-level keys) -> ``{key: [raw values]}``.

    Raises:
        SweepError: an item without ``=`` or an empty value list; unreadable grid file.
    """
    grid: dict[str, list] = {}
    if grid_file is not None:
        try:  # settings' tomllib: the tomli fallback on Python 3.10
            data = st.tomllib.loads(Path(grid_file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, st.tomllib.TOMLDecodeError) as e:
            raise SweepError(f"--grid-file {grid_file}: cannot read ({e})") from None
        data = data.get("grid", data)
        for k, v in st.flatten_tables(data).items():
            grid[k] = list(v) if isinstance(v, (list, tuple)) else [v]
            for x in grid[k]:  # typed TOML values: checked as --config's, not converted
                try:
                    st.parse_setting(k, x, typed=True)
                except st.SettingError as e:
                    raise SweepError(f"--grid-file {grid_file}: {e}") from None
    for item in items:
        key, sep, values = item.partition("=")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not vals:
            raise SweepError(f"--grid {item!r}: expected KEY=V1,V2,... e.g. metric.vif_rescale=true,false")
        grid[key.strip()] = vals
    return grid


def grid_points(grid: Mapping[str, list], base: Mapping[str, Any]) -> tuple[list[dict], list]:
    """Every combination of ``grid`` on top of ``base`` settings, validated.

    Returns:
        ``(points, dropped)``: ``points`` are normalised settings dicts (defaults dropped, as
        :func:`settings.validate_settings` gives them), deduplicated; ``dropped`` lists the
        combinations an owner rejects (e.g. ``quantize`` with a non-integer ``data_range``).

    Raises:
        SweepError: an unknown key or a value invalid on its own (one line).
    """
    infos = st.setting_infos()
    for k, vals in grid.items():
        if k not in infos:
            raise SweepError(str(st._unknown(k, infos)))
        for v in vals:
            try:
                st.validate_settings({k: v})
            except st.SettingError as e:
                raise SweepError(f"--grid {k}: {e}") from None
    keys = list(grid)
    points, dropped, seen = [], [], set()
    for combo in itertools.product(*(grid[k] for k in keys)):
        raw = {**base, **dict(zip(keys, combo, strict=True))}
        try:
            pt = st.validate_settings(raw)
        except st.SettingError as e:
            dropped.append((raw, str(e)))
            continue
        sig = canonical_json(pt)
        if sig not in seen:
            seen.add(sig)
            points.append(pt)
    return points, dropped


# ---------------------------------------------------------------- analysis
def _axis_values(v, axes: Sequence[str]) -> dict:
    """The value of each grid axis in variant ``v`` (its settings, else the default)."""
    infos = st.setting_infos()
    groups = {v.protocol, "metric", "model"}
    return {a: v.settings.get(a, infos[a].default) for a in axes if a.split(".", 1)[0] in groups}


def analyse(run_dir: Path, axes: Sequence[str], paper_path: Path | None = None,
            suites: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(sweep, closest)`` frames for a sweep's run dir (see module doc).

    Distance: ``|mean - paper| / paper_std`` when the paper gives a std (unit ``paper std``),
    else ``|mean - paper| / |paper|`` (unit ``relative``). ``closest`` keeps, per cell, every
    reading ranked by distance (ties by label), with ``any_within``: whether any reading has
    ``in_ci`` or ``within_std``; readings that differ only in axes that do not matter for the
    cell are one row (see :func:`_collapse_ties`: ``readings``, ``same_for``).
    """
    from medsr_bench.benchmark.report.paper import load_paper_tables
    from medsr_bench.benchmark.report.rundata import load_run
    from medsr_bench.benchmark.report.verdicts import inside, mean_ci, model_values

    run = load_run(run_dir)
    paper = load_paper_tables(paper_path)
    paper = paper[paper["image"].fillna("") == ""]
    if suites:
        paper = paper[paper.suite.isin(suites)]
    rows = []
    for pr in paper.itertuples(index=False):
        for v in run.variants_of(pr.suite, pr.protocol, pr.split):
            vals, why = model_values(run, v, pr.model, pr.metric, pr.split)
            point = _axis_values(v, axes)
            base = {"suite": pr.suite, "protocol": pr.protocol, "split": pr.split,
                    "model": pr.model, "metric": pr.metric, "paper": pr.value,
                    "paper_std": pr.std, "variant": v.id,
                    # every grid axis of the variant, defaults included (the run's own label
                    # names only the settings that differ from the default)
                    "label": ", ".join(f"{k}={x}" for k, x in point.items()) or v.label or "default",
                    **{f"set:{k}": x for k, x in point.items()}}
            if vals is None:
                rows.append({**base, "mean": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                             "n": 0, "distance": math.nan, "distance_unit": "", "in_ci": False,
                             "within_std": False, "note": why})
                continue
            mean, lo, hi = mean_ci(vals.to_numpy())
            has_std = pr.std is not None and not pd.isna(pr.std) and pr.std > 0
            d = abs(mean - pr.value)
            rows.append({**base, "mean": mean, "ci_low": lo, "ci_high": hi, "n": len(vals),
                         "distance": d / pr.std if has_std else d / abs(pr.value),
                         "distance_unit": "paper std" if has_std else "relative",
                         "in_ci": bool(math.isfinite(lo) and inside(pr.value, pr.decimals, lo, hi)),
                         "within_std": bool(has_std and d <= pr.std), "note": ""})
    sweep = pd.DataFrame(rows)
    if sweep.empty:
        return sweep, sweep
    cell = ["suite", "protocol", "split", "model", "metric"]
    ok = sweep[sweep.distance.notna()].copy()
    ok["within"] = ok.in_ci | ok.within_std
    ok = ok.sort_values([*cell, "distance", "label"], kind="mergesort")
    ok["any_within"] = ok.groupby(cell, sort=False)["within"].transform("any")
    set_cols = [c for c in ok.columns if c.startswith("set:")]
    ok = pd.concat([_collapse_ties(g, set_cols) for _, g in ok.groupby(cell, sort=False)])
    ok["rank"] = ok.groupby(cell, sort=False).cumcount() + 1
    closest = ok[[*cell, "rank", "label", "variant", "mean", "ci_low", "ci_high", "paper",
                  "paper_std", "distance", "distance_unit", "within", "any_within", "readings",
                  "same_for"]]
    return sweep, closest.reset_index(drop=True)


def _same(means: pd.Series) -> bool:
    """Whether ``means`` are one value (to 1e-12 relative): readings that tie exactly."""
    return bool(means.max() - means.min() <= 1e-12 * max(1.0, float(means.abs().max())))


def _collapse_ties(g: pd.DataFrame, set_cols: Sequence[str]) -> pd.DataFrame:
    """One cell's readings (sorted by distance) with the readings that differ only in axes that
    do not matter for this cell merged into one row.

    An axis does not matter for a cell when every pair of its readings that differ in that axis
    alone gives the same mean (``metric.nrmse_norm`` for an SSIM cell, say). The merged row keeps
    the closest reading's numbers, its ``label`` names only the axes that matter (``any reading``
    when none does), ``readings`` counts the merged readings and ``same_for`` lists the axes that
    do not matter ("" when nothing was merged).
    """
    vals = g[list(set_cols)].astype(object)
    vals = vals.where(vals.notna(), "n/a").astype(str)
    varying = [c for c in set_cols if vals[c].nunique() > 1]
    idle = []
    for c in varying:
        rest = [x for x in varying if x != c]
        groups = g.groupby([vals[x] for x in rest], sort=False)["mean"] if rest else [(None, g["mean"])]
        if all(_same(m) for _, m in groups):
            idle.append(c)
    if not idle:
        return g.assign(readings=1, same_for="")
    keep = [c for c in varying if c not in idle]
    key = vals[keep].agg(", ".join, axis=1) if keep else pd.Series("", index=g.index)
    first = ~key.duplicated()
    out = g[first].copy()
    out["readings"] = key.map(key.value_counts()).loc[first].to_numpy()
    out["same_for"] = ", ".join(c[4:] for c in idle)
    out["label"] = ([", ".join(f"{c[4:]}={vals.at[i, c]}" for c in keep) for i in out.index]
                    if keep else "any reading")
    return out


def cell_name(suite: str, protocol: str, split: str, model: str, metric: str,
              multi_split: bool = False) -> str:
    """How a paper cell is named in the sweep's findings and tables: suite, dataset (a suite may
    score several: P1 has DRIVE and ChestX-ray14), the split when a dataset has several, model
    and metric (``"aghelan drive realesrgan-x4plus PSNR"``)."""
    where = f" ({split} set)" if multi_split else ""
    return f"{suite} {protocol}{where} {model} {metric.upper()}"


def best_grid_point(g: pd.DataFrame, set_cols: Sequence[str]
                    ) -> tuple[dict | None, float, int, int]:
    """The grid point (one value per axis) closest to all of a suite's paper cells at once.

    ``g``: the suite's compared rows of :func:`analyse`'s frame (``distance`` finite) with a
    ``within`` column. A row's ``set:`` value is NaN where the axis does not apply to its dataset
    (``drive.blur_sigma`` on the ChestX-ray14 rows): it matches every value of that axis. A point
    counts only when it gives every cell exactly one reading. Returns ``(point, mean distance,
    cells within, cells)``, the point as ``{"set:<key>": value}`` over the axes that vary;
    ``(None, nan, 0, 0)`` when no point covers every cell. Ranking: most cells within the
    paper's uncertainty first (a reading that reproduces every cell beats one that is closer on
    average but misses one), then lowest mean distance (the paper's std or relative units, as
    :func:`analyse`), ties by the order of the grid.
    """
    cell = ["protocol", "split", "model", "metric"]
    n_cells = g[cell].drop_duplicates().shape[0]
    vals = g[list(set_cols)].apply(lambda col: col.map(lambda x: None if pd.isna(x) else str(x)))
    axes = [c for c in set_cols if vals[c].dropna().nunique() > 1]
    choices = [sorted(vals[c].dropna().unique(), key=str) for c in axes]
    best: tuple[dict | None, float, int, int] = (None, math.nan, 0, n_cells)
    for combo in itertools.product(*choices):
        keep = pd.Series(True, index=g.index)
        for c, v in zip(axes, combo, strict=True):
            keep &= vals[c].isna() | (vals[c] == v)
        sel = g[keep]
        if sel.groupby(cell).size().reindex(pd.MultiIndex.from_frame(
                g[cell].drop_duplicates())).ne(1).any():
            continue
        d, w = float(sel.distance.mean()), int(sel.within.sum())
        if best[0] is None or (-w, d) < (-best[2], best[1]):
            best = (dict(zip(axes, combo, strict=True)), d, w, n_cells)
    return best


def findings(sweep: pd.DataFrame, axes: Sequence[str]) -> list[str]:
    """Plain sentences: per cell, which readings match (or the closest one), per axis that moves
    no cell, that it is irrelevant; per suite, the best reading overall (lowest mean distance)."""
    out: list[str] = []
    if sweep.empty:
        return ["No paper cell could be compared (no finite values)."]
    ok = sweep[sweep.distance.notna()].copy()
    if ok.empty:
        why = sorted({f"{r.model} {r.metric}: {r.note}" for r in sweep.itertuples() if r.note})
        return ["No paper cell could be compared here" + (f" ({'; '.join(why[:6])})" if why else "")
                + "; the table below shows how much each choice moves the reproduced means."]
    ok["within"] = ok.in_ci | ok.within_std
    set_cols = [c for c in ok.columns if c.startswith("set:")]
    for suite, g in ok.groupby("suite", sort=False):
        point, dist, n_within, n_cells = best_grid_point(g, set_cols)
        if point is None:
            continue
        label = ", ".join(f"{k[4:]}={v}" for k, v in point.items()) or "default"
        out.append(f"{suite}: best reading overall: {label} (mean distance {dist:.3g} over "
                   f"{n_cells} cells; {n_within} of {n_cells} within the paper's uncertainty).")
    multi_split = ok.groupby(["suite", "protocol"]).split.nunique().max() > 1
    for key, g in ok.groupby(["suite", "protocol", "split", "model", "metric"], sort=False):
        suite, _, split, model, metric = key
        g = g.sort_values(["distance", "label"], kind="mergesort")
        name = (f"{cell_name(suite, key[1], split, model, metric, multi_split)} "
                f"(paper {g.paper.iloc[0]:g}, n={g.n.iloc[0]})")
        w = g[g.within]
        if w.empty:
            b = g.iloc[0]
            out.append(f"{name}: no reading lies within the paper's uncertainty; closest "
                       f"{b.label} at {b['mean']:.4g} ({b.distance:.3g} {b.distance_unit}).")
            continue
        only = []
        for c in set_cols:
            vals_w = set(map(str, w[c].dropna()))
            vals_all = set(map(str, g[c].dropna()))
            if len(vals_w) == 1 and len(vals_all) > 1:
                only.append(f"{c[4:]}={next(iter(vals_w))}")
        cond = f"only when {' and '.join(only)}" if only else f"for {len(w)} of {len(g)} readings"
        out.append(f"{name}: matches {cond} (closest {w.iloc[0].label} at "
                   f"{w.iloc[0]['mean']:.4g}).")
    for c in set_cols:
        moved = False
        for _, g in ok.groupby(["suite", "protocol", "model", "metric"], sort=False):
            others = [x for x in set_cols if x != c]
            for _, gg in g.groupby(others, dropna=False) if others else [(None, g)]:
                if gg["mean"].max() - gg["mean"].min() > 1e-12 * max(1.0, abs(gg["mean"]).max()):
                    moved = True
                    break
            if moved:
                break
        if not moved:
            out.append(f"{c[4:]} moves no cell: irrelevant for these cells.")
    return out


def sensitivity(run_dir: Path, axes: Sequence[str]) -> pd.DataFrame:
    """How much each grid axis moves each reproduced mean, paper cell or not: for every (suite,
    dataset, model, metric) and axis, the largest change of the mean between readings that differ
    in that axis alone. Columns: suite, dataset, model, metric, axis, max_change, low, high (the
    range of the mean over all readings)."""
    import json

    run_dir = Path(run_dir)
    summary = pd.read_csv(run_dir / "summary.csv", dtype={"variant": str})
    meta = json.loads((run_dir / "run.json").read_text())
    infos = st.setting_infos()
    summary = summary[summary.status == "ok"]
    rows = []
    for (suite, dataset, model, metric), g in summary.groupby(["suite", "dataset", "model",
                                                                "metric"], sort=False):
        vals = {}
        for r in g.itertuples(index=False):
            v = meta["variants"].get(r.variant, {})
            groups = {v.get("protocol"), "metric", "model"}
            vals[r.variant] = (tuple((a, str(v.get("settings", {}).get(a, infos[a].default)))
                                     for a in axes if a.split(".", 1)[0] in groups), r.mean)
        lo, hi = g["mean"].min(), g["mean"].max()
        for a in axes:
            best = 0.0
            by_rest: dict = {}
            for key, mean in vals.values():
                rest = tuple(x for x in key if x[0] != a)
                if any(x[0] == a for x in key):
                    by_rest.setdefault(rest, []).append(mean)
            for means in by_rest.values():
                if len(means) > 1:
                    best = max(best, max(means) - min(means))
            if by_rest:
                rows.append({"suite": suite, "dataset": dataset, "model": model, "metric": metric,
                             "axis": a, "max_change": best, "low": lo, "high": hi})
    return pd.DataFrame(rows)


def write_outputs(run_dir: Path, axes: Sequence[str], sp_text: str, paper_path: Path | None = None,
                  suites: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Write ``sweep.csv``, ``closest.csv`` and ``sweep.md`` into ``run_dir``; return the frames
    and the findings."""
    sweep, closest = analyse(run_dir, axes, paper_path, suites)
    run_dir = Path(run_dir)
    atomic_write_text(run_dir / "sweep.csv", sweep.to_csv(index=False, float_format="%.10g"))
    atomic_write_text(run_dir / "closest.csv", closest.to_csv(index=False, float_format="%.10g"))
    lines = findings(sweep, axes)
    md = ["# Which reading reproduces the paper?", "", f"Run: `{run_dir}`", "", sp_text, "",
          "Grid axes: " + ", ".join(f"`{a}`" for a in axes), "", "## Findings", ""]
    md += [f"- {x}" for x in lines]
    if not closest.empty:
        multi = bool(closest.groupby(["suite", "protocol"]).split.nunique().max() > 1)
        md += ["", "## Closest readings per cell (top 3)", "",
               "| cell | rank | reading | mean [95 % CI] | paper | distance | within |",
               "|---|---|---|---|---|---|---|"]
        for r in closest[closest["rank"] <= 3].itertuples(index=False):
            ps = f" ± {r.paper_std:g}" if not pd.isna(r.paper_std) else ""
            md.append(f"| {cell_name(r.suite, r.protocol, r.split, r.model, r.metric, multi)} "
                      f"| {r.rank} | "
                      f"{reading_text(r.label, r.readings, r.same_for)} | "
                      f"{r.mean:.4g} [{r.ci_low:.4g}, {r.ci_high:.4g}] | {r.paper:g}{ps} | "
                      f"{r.distance:.3g} {r.distance_unit} | {'yes' if r.within else 'no'} |")
    sens = sensitivity(run_dir, axes)
    if not sens.empty:
        md += ["", "## How much each choice moves the reproduced means", "",
               "Largest change of the mean between readings that differ in that choice alone "
               "(every model and metric of the run, paper cell or not).", "",
               "| dataset | model | metric | range over readings | " + " | ".join(axes) + " |",
               "|---|---|---|---|" + "---|" * len(axes)]
        for (ds, model, metric), g in sens.groupby(["dataset", "model", "metric"], sort=False):
            ch = dict(zip(g.axis, g.max_change, strict=True))
            md.append(f"| {ds} | {model} | {metric} | {g['low'].iloc[0]:.4g} to "
                      f"{g['high'].iloc[0]:.4g} | "
                      + " | ".join(f"{ch[a]:.3g}" if a in ch else "-" for a in axes) + " |")
    atomic_write_text(run_dir / "sweep.md", "\n".join(md) + "\n")
    return sweep, closest, lines


def reading_text(label: str, readings: int, same_for: str) -> str:
    """A closest-readings line's reading: its label, plus which axes do not matter for the cell
    when ties were merged (``"x=1 (4 readings: metric.vif_rescale does not matter here)"``)."""
    if not same_for or pd.isna(same_for):
        return label
    verb = "does" if "," not in same_for else "do"
    return f"{label} ({int(readings)} readings: {same_for} {verb} not matter here)"


def report_context(run_dir: Path) -> dict | None:
    """What the report's "Which reading reproduces the paper?" section shows, from the run dir's
    ``sweep.csv`` / ``closest.csv`` (None when the run is no sweep): per suite the best reading,
    the findings, a distance heatmap (reading x cell) and the three closest readings per cell."""
    import base64

    from medsr_bench.benchmark.report.plots import distance_heatmap

    run_dir = Path(run_dir)
    if not (run_dir / "sweep.csv").is_file():
        return None
    try:
        sweep = pd.read_csv(run_dir / "sweep.csv", keep_default_na=False, na_values=[""])
        closest = pd.read_csv(run_dir / "closest.csv", keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if sweep.empty:
        return None
    axes = [c[4:] for c in sweep.columns if c.startswith("set:")]
    suites = []
    for suite, g in sweep.groupby("suite", sort=False):
        g = g[g.distance.notna()]
        if g.empty:
            continue
        g = g.assign(cell=g.protocol + " " + g.model + " " + g.metric.str.upper())
        matrix = g.pivot_table(index="label", columns="cell", values="distance", aggfunc="first")
        matrix = matrix.loc[matrix.mean(axis=1).sort_values(kind="mergesort").index]
        png = distance_heatmap(matrix, f"{suite}: distance to the paper per reading and cell")
        c = closest[(closest.suite == suite) & (closest["rank"] <= 3)]
        suites.append({
            "suite": suite, "findings": [x for x in findings(sweep[sweep.suite == suite], axes)],
            "heatmap": base64.b64encode(png).decode() if png else None,
            "closest": [{**r, "reading": reading_text(r["label"], r.get("readings", 1),
                                                      r.get("same_for", ""))}
                        for r in c.to_dict("records")],
            "n_readings": int(matrix.shape[0])})
    return {"axes": axes, "suites": suites}


def check_paper_table(path: Path | None) -> None:
    """Validate a ``--paper-table`` before a sweep starts any work.

    Raises:
        ValueError: the file is missing, not a readable CSV, lacks a column of
            ``report.paper.PAPER_COLUMNS``, or has a non-numeric ``value`` (one line naming it).
    """
    if path is None:
        return
    import pandas as pd

    from medsr_bench.benchmark.report.paper import load_paper_tables

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--paper-table {path}: no such file (expected a CSV with the columns of "
                         "reported.csv)")
    try:
        df = load_paper_tables(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"--paper-table {path}: unreadable CSV ({str(e).splitlines()[0]})") from None
    except ValueError as e:
        raise ValueError(f"--paper-table {e}") from None
    bad = pd.to_numeric(df["value"], errors="coerce").isna() & df["value"].notna()
    if bad.any():
        raise ValueError(f"--paper-table {path}: non-numeric value {df['value'][bad].iloc[0]!r} "
                         f"(row {int(bad.idxmax()) + 2}); expected numbers")
