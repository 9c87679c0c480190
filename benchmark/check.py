"""``bench check``: the CI gate on metric tables.

Compares a run's ``summary.csv`` with a committed baseline (a CSV of the same rows), matching rows
on (suite, dataset, variant, model, metric). A row passes when its status and n are unchanged and
its mean is within tolerance: ``|now - baseline| <= atol + rtol * |baseline|`` (numpy.isclose's
rule; NaN equals NaN, inf equals inf of the same sign). Default tolerances per metric live in the
metric registry (``MetricSpec.check_tolerance``, with the reason); region metrics (``psnr@fov``)
use their base metric's. Rows present on one side only are reported as appeared / vanished.

Only the baseline rows the run could have are compared: a run of one suite (or of some models)
is checked against the baseline's rows of those suites and models (``run.json`` ``suites`` and
``models``); the other rows are counted as not compared, never as vanished, and ``--update``
keeps them in the baseline.

Baselines written before run variants existed have no ``variant`` column: it reads as ``""``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from medsr_bench.core import atomic_write_text

KEY = ("suite", "dataset", "variant", "model", "metric")
BASELINE_COLUMNS = (*KEY, "mean", "n", "status")


class CheckError(Exception):
    """A baseline or run table that cannot be read, or a bad tolerance option. One line."""


@dataclass(frozen=True)
class Tolerance:
    """Tolerance of one metric: ``atol + rtol * |baseline|``, with where it came from."""

    atol: float
    rtol: float
    reason: str

    def allows(self, baseline: float, now: float) -> bool:
        """True when ``now`` is within tolerance of ``baseline`` (NaN == NaN, inf == inf)."""
        if math.isnan(baseline) or math.isnan(now):
            return math.isnan(baseline) and math.isnan(now)
        if math.isinf(baseline) or math.isinf(now):
            return baseline == now
        return abs(now - baseline) <= self.atol + self.rtol * abs(baseline)

    def text(self) -> str:
        """``"0.01"`` / ``"0.1%"`` / ``"0.01 + 0.1%"``."""
        parts = [f"{self.atol:g}"] if self.atol else []
        if self.rtol:
            parts.append(f"{self.rtol * 100:g}%")
        return " + ".join(parts) or "0"


def default_tolerance(metric: str) -> Tolerance:
    """The metric registry's ``check_tolerance`` of ``metric`` (base metric for ``m@region``);
    a near-exact fallback (relative 1e-6) for a metric the registry does not know."""
    from medsr_bench.benchmark.metrics.registry import _FALLBACK_TOLERANCE, get_metric

    try:
        t = get_metric(metric.split("@", 1)[0]).check_tolerance or _FALLBACK_TOLERANCE
    except KeyError:
        t = _FALLBACK_TOLERANCE
    return Tolerance(t.atol, t.rtol, t.reason)


def parse_overrides(items: list[str] | None, option: str) -> dict[str, float]:
    """``["psnr=0.05", "ssim=1e-3"]`` -> ``{"psnr": 0.05, "ssim": 0.001}``; a bare number applies
    to every metric (key ``"*"``).

    Raises:
        CheckError: an item that is not ``metric=number`` or ``number`` (names the option).
    """
    out: dict[str, float] = {}
    for item in items or []:
        name, _, val = item.rpartition("=")
        try:
            v = float(val)
        except ValueError:
            raise CheckError(f"{option} {item!r}: expected METRIC=NUMBER (e.g. psnr=0.05) "
                             "or NUMBER") from None
        if v < 0 or math.isnan(v):
            raise CheckError(f"{option} {item!r}: tolerance must be >= 0")
        out[name.strip().lower() or "*"] = v
    return out


def tolerance_for(metric: str, atol: dict[str, float], rtol: dict[str, float]) -> Tolerance:
    """Default tolerance of ``metric`` with the user's ``--atol`` / ``--rtol`` overrides applied
    (the exact metric name first, then its base metric, then ``*``)."""
    t = default_tolerance(metric)
    keys = (metric.lower(), metric.split("@", 1)[0].lower(), "*")

    def pick(over, default):
        return next((over[k] for k in keys if k in over), default)

    a, r = pick(atol, t.atol), pick(rtol, t.rtol)
    if (a, r) == (t.atol, t.rtol):
        return t
    return Tolerance(a, r, "set on the command line")


def read_table(path: Path, what: str) -> pd.DataFrame:
    """Read a summary or baseline CSV into :data:`BASELINE_COLUMNS` (``variant`` "" if absent).

    Raises:
        CheckError: the file is missing, unparsable or lacks a column (one line naming it).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckError(f"{what} {path}: no such file")
    try:
        df = pd.read_csv(path, dtype={k: str for k in (*KEY, "status")},
                         keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise CheckError(f"{what} {path}: unreadable CSV ({e})") from e
    if "variant" not in df.columns:
        df["variant"] = ""
    missing = [c for c in BASELINE_COLUMNS if c not in df.columns]
    if missing:
        raise CheckError(f"{what} {path}: missing column(s) {', '.join(missing)}; expected a "
                         f"summary.csv written by `bench run` ({', '.join(BASELINE_COLUMNS)})")
    df = df[list(BASELINE_COLUMNS)].copy()
    for k in (*KEY, "status"):
        df[k] = df[k].fillna("").astype(str)
    df["mean"] = pd.to_numeric(df["mean"], errors="coerce")
    df["n"] = pd.to_numeric(df["n"], errors="coerce").fillna(0).astype(int)
    dup = df.duplicated(list(KEY))
    if dup.any():
        r = df[dup].iloc[0]
        raise CheckError(f"{what} {path}: duplicate row {'/'.join(str(r[k]) for k in KEY)}")
    return df.reset_index(drop=True)


@dataclass
class CheckResult:
    """Differences between a baseline and a run. ``rows``: one dict per difference with change
    (moved | status | n | appeared | vanished), the key columns, baseline, now, delta, tolerance."""

    rows: list[dict] = field(default_factory=list)
    n_compared: int = 0
    not_compared: int = 0  # baseline rows outside the run's suites / models
    scope: str = ""  # which suites / models the run had ("" when it does not say)

    @property
    def ok(self) -> bool:
        return not self.rows

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r["change"]] = out.get(r["change"], 0) + 1
        return out

    def table(self) -> str:
        """The differences as an aligned text table (empty string when none)."""
        if not self.rows:
            return ""
        df = pd.DataFrame(self.rows, columns=["change", *KEY, "baseline", "now", "delta",
                                              "tolerance"])
        df["variant"] = df["variant"].replace("", "-")
        return df.to_string(index=False)

    def summary_line(self) -> str:
        """One line: ok or the counts of each change, and the baseline rows left out."""
        skipped = (f" ({self.not_compared} baseline rows outside this run's {self.scope} not "
                   "compared)" if self.not_compared else "")
        if self.ok:
            return f"ok: {self.n_compared} rows within tolerance{skipped}"
        c = self.counts()
        return (f"{len(self.rows)} difference(s) in {self.n_compared} compared rows: "
                + ", ".join(f"{v} {k}" for k, v in c.items()) + skipped)


def _num(v) -> str:
    f = float(v)
    if math.isnan(f):
        return "-"
    return f"{f:.6g}"


def compare(baseline: pd.DataFrame, now: pd.DataFrame, atol: dict[str, float] | None = None,
            rtol: dict[str, float] | None = None) -> CheckResult:
    """Compare two tables of :data:`BASELINE_COLUMNS` row by row (see module doc)."""
    atol, rtol = atol or {}, rtol or {}
    b = baseline.set_index(list(KEY))
    n = now.set_index(list(KEY))
    res = CheckResult()
    for key in b.index.union(n.index, sort=False):
        rec = dict(zip(KEY, key, strict=True))
        in_b, in_n = key in b.index, key in n.index
        if in_b and not in_n:
            rb = b.loc[key]
            res.rows.append({"change": "vanished", **rec, "baseline": _num(rb["mean"]),
                             "now": "(no row)", "delta": "", "tolerance": ""})
            continue
        if in_n and not in_b:
            rn = n.loc[key]
            res.rows.append({"change": "appeared", **rec, "baseline": "(no row)",
                             "now": _num(rn["mean"]), "delta": "", "tolerance": ""})
            continue
        res.n_compared += 1
        rb, rn = b.loc[key], n.loc[key]
        if rb["status"] != rn["status"]:
            res.rows.append({"change": "status", **rec, "baseline": rb["status"],
                             "now": rn["status"], "delta": "", "tolerance": ""})
            continue
        if int(rb["n"]) != int(rn["n"]):
            res.rows.append({"change": "n", **rec, "baseline": f"n={int(rb['n'])}",
                             "now": f"n={int(rn['n'])}", "delta": "", "tolerance": ""})
            continue
        tol = tolerance_for(key[KEY.index("metric")], atol, rtol)
        vb, vn = float(rb["mean"]), float(rn["mean"])
        if not tol.allows(vb, vn):
            delta = vn - vb if math.isfinite(vb) and math.isfinite(vn) else math.nan
            res.rows.append({"change": "moved", **rec, "baseline": _num(vb), "now": _num(vn),
                             "delta": f"{delta:+.3g}" if math.isfinite(delta) else "-",
                             "tolerance": tol.text()})
    return res


def write_baseline(now: pd.DataFrame, path: Path) -> None:
    """Write ``now`` (:data:`BASELINE_COLUMNS`) as the baseline CSV (atomically, repr-exact)."""
    from medsr_bench.benchmark.results_io import format_value

    lines = [",".join(BASELINE_COLUMNS)]
    for r in now.itertuples(index=False):
        lines.append(",".join(format_value(getattr(r, c)) for c in BASELINE_COLUMNS))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(path), "\n".join(lines) + "\n")


def run_scope(meta: dict) -> tuple[set[str] | None, set[str] | None]:
    """The suites and models a run could have rows for (``run.json`` ``suites`` / ``models``
    keys); None for what ``meta`` does not record (a run dir without run.json)."""
    def keys(k):
        v = meta.get(k) if isinstance(meta, dict) else None
        return set(map(str, v)) if isinstance(v, (dict, list)) and v else None

    return keys("suites"), keys("models")


def split_scope(base: pd.DataFrame, meta: dict) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """``(in_scope, out_of_scope, scope text)``: the baseline rows of the run's suites and models,
    the others, and ``"suites rashid; models bicubic, bilinear"`` naming the run's scope."""
    suites, models = run_scope(meta)
    keep = pd.Series(True, index=base.index)
    text = []
    if suites is not None:
        keep &= base.suite.isin(suites)
        text.append(f"suites {', '.join(sorted(suites))}")
    if models is not None:
        keep &= base.model.isin(models)
        text.append(f"models {', '.join(sorted(models))}")
    return base[keep], base[~keep], "; ".join(text)


def run_check(baseline_path: Path, run_dir: Path, atol: list[str] | None = None,
              rtol: list[str] | None = None, update: bool = False) -> CheckResult:
    """Compare ``run_dir/summary.csv`` with the rows of ``baseline_path`` the run could have (its
    suites and models, see :func:`split_scope`); with ``update`` write the run's table as the new
    baseline, keeping the baseline's other rows (a missing baseline is then created), and return
    what changed.

    Raises:
        CheckError: unreadable files, bad tolerance options, tables that do not match run.json
            or that run.json records no digests of (an old run dir: the gate cannot tell a
            stale summary.csv from a merged one).
    """
    from medsr_bench.benchmark.rundir import digests_missing, load_meta, table_problem
    from medsr_bench.benchmark.tasks import RunError

    at, rt = parse_overrides(atol, "--atol"), parse_overrides(rtol, "--rtol")
    summary = Path(run_dir) / "summary.csv"
    if not summary.is_file():
        raise CheckError(f"--run {run_dir}: no summary.csv (expected a folder written by "
                         "`bench run`)")
    if Path(baseline_path).is_dir():
        raise CheckError(f"--baseline {baseline_path}: is a directory, expected a CSV file "
                         "(e.g. results/baselines/cpu.csv)")
    try:
        meta = load_meta(Path(run_dir))
        problem = table_problem(Path(run_dir), meta) or digests_missing(Path(run_dir), meta)
    except RunError as e:
        raise CheckError(str(e)) from e
    if problem:
        raise CheckError(problem)
    now = read_table(summary, "run summary")
    if now.empty:
        raise CheckError(f"run summary {summary}: no rows (the run evaluated nothing); nothing to "
                         "compare")
    if update and not Path(baseline_path).is_file():
        base = now.iloc[0:0]
    else:
        base = read_table(baseline_path, "baseline")
        if base.empty and not update:
            raise CheckError(f"baseline {baseline_path}: no rows; expected a summary.csv of a run "
                             "(write one with --update)")
    base, others, scope = split_scope(base, meta)
    res = compare(base, now, at, rt)
    res.not_compared, res.scope = len(others), scope
    if update:
        suite_rank = {x: i for i, x in enumerate(dict.fromkeys([*others.suite, *now.suite]))}
        merged = pd.concat([others, now]).sort_values(
            "suite", key=lambda col: col.map(suite_rank), kind="mergesort")
        try:
            write_baseline(merged, baseline_path)
        except OSError as e:
            raise CheckError(f"--baseline {baseline_path}: cannot write ({e.strerror or e})") from e
    return res
