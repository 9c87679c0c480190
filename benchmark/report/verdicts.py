"""Verdicts with evidence: does each paper number and each comparative claim hold on this run?

Two questions, both answered from the per-image rows of the split the paper scored on:

- **Paper cells** (one reported mean, e.g. P4 Table 2 SRResNet PSNR 34.67): our mean with a 95 %
  Student-t CI of the mean over images (``scipy.stats.ttest_1samp(...).confidence_interval``) and
  n. The t interval is used because it keeps its coverage at small n for roughly normal per-image
  values, where bootstrap intervals (percentile and BCa alike) are too narrow. A cell needs at least
  :attr:`StatsSettings.cell_min_n` images (default 6, the same minimum as a claim's paired test:
  the smallest n at which an exact two-sided Wilcoxon test can reach p < 0.05, so a cell and a claim
  ask for the same evidence; at n < 6 the t quantile exceeds 2.57 and per-image metric values are
  rarely normal enough for the interval to be trusted); below it the cell is ``not testable here``
  ("n too small") and the headline counts such cells. The paper value is read as an interval by
  one of two rules, named in :attr:`CellVerdict.rule`:

  - ``rounding``: value +- half a unit of its last printed digit (0.92 stands for [0.915, 0.925]);
  - ``paper CI``: the paper prints a std and states its n (``reported.csv`` columns ``std`` and
    ``n``; P3: mean +- std over 7,823 test slices): value +- t(0.975, n-1) * std / sqrt(n), widened
    to the rounding interval when that is wider.

  The cell is ``reproduced`` when that interval meets our CI and ``contradicted`` when it does not.
  Δ = mean - paper carries a direction (``better``) only for a contradicted cell: without a test
  the sign of Δ is not evidence.
- **Claims** (``claims.csv``: "a > b > c on metrics"): each adjacent pair and metric is one paired
  comparison over the images both models scored: the paired bootstrap 95 % CI of the mean
  difference (oriented so that > 0 means the claimed direction, from the metric registry's
  ``higher_is_better``) and a two-sided Wilcoxon signed-rank test (``scipy.stats.wilcoxon``), whose
  p-values are Holm-corrected within a paper (all comparisons of that paper's claims). A comparison
  is ``reproduced`` when the corrected p < alpha and the CI lies above 0, ``contradicted`` when the
  corrected p < alpha and the CI lies below 0, ``inconclusive`` otherwise, and ``not testable
  here`` when a model has no values (weights missing, not run, split absent, metric not computed)
  or n is below the smallest n at which the exact Wilcoxon test can reach alpha (6 at 0.05). A
  claim is contradicted if any of its comparisons is, reproduced if all are, not testable if any is
  not testable, inconclusive otherwise.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from medsr_bench.benchmark.report.rundata import RunData, Variant

REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_TESTABLE = (
    "reproduced", "contradicted", "inconclusive", "not testable here")
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_TESTABLE)


@dataclass(frozen=True)
class StatsSettings:
    """Settings of every interval and test (defaults are the usual reporting conventions).

    Attributes:
        confidence_level: of the bootstrap CIs (default 0.95).
        alpha: significance level of the Holm-corrected Wilcoxon tests (default 0.05).
        n_resamples: bootstrap resamples (default 9999, scipy's default).
        seed: seed of the bootstrap generator (numbers are reproducible run to run).
        method: ``scipy.stats.bootstrap`` method of the claims' paired CIs (default ``"BCa"``;
            ``"percentile"`` is used when BCa is undefined, e.g. for constant data).
        cell_min_n: fewest images a paper cell is judged on (default 6, see the module doc).
    """

    confidence_level: float = 0.95
    alpha: float = 0.05
    n_resamples: int = 9999
    seed: int = 0
    method: str = "BCa"
    cell_min_n: int = 6


DEFAULT_STATS = StatsSettings()


def min_pairs(alpha: float) -> int:
    """Smallest number of pairs at which an exact two-sided Wilcoxon signed-rank test can give
    p < ``alpha``: the smallest attainable p is 2 / 2^n (all differences of one sign), so 6 at
    alpha = 0.05. Below it a comparison is "not testable here: n too small"."""
    n = 1
    while 2.0 ** (1 - n) >= alpha:
        n += 1
    return n


def _bootstrap(data: tuple, statistic, s: StatsSettings, paired: bool) -> tuple[float, float]:
    def run(method):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DegenerateDataWarning: handled below
            res = stats.bootstrap(data, statistic, paired=paired, vectorized=True,
                                  confidence_level=s.confidence_level, n_resamples=s.n_resamples,
                                  method=method, rng=np.random.default_rng(s.seed))
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    lo, hi = run(s.method)
    if not (math.isfinite(lo) and math.isfinite(hi)) and s.method != "percentile":
        lo, hi = run("percentile")
    return lo, hi


def mean_ci(x, s: StatsSettings = DEFAULT_STATS) -> tuple[float, float, float]:
    """Mean of ``x`` and its bootstrap CI (``scipy.stats.bootstrap``, settings ``s``).

    Args:
        x: 1-D array-like of finite floats (one value per image).
    Returns:
        (mean, low, high); low = high = NaN when n < 2; low = high = mean for constant data.
    """
    x, m, trivial = _mean_or_trivial(x)
    if trivial is not None:
        return trivial
    lo, hi = _bootstrap((x,), lambda a, axis: np.mean(a, axis=axis), s, paired=False)
    return m, lo, hi


def _mean_or_trivial(x) -> tuple[np.ndarray, float, tuple | None]:
    """``(x as float64, mean, answer)``: the answer of a CI function when no interval is computed
    (``(nan, nan, nan)`` for no data, ``(m, nan, nan)`` for n < 2, ``(m, m, m)`` for constant data),
    else None."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x, math.nan, (math.nan, math.nan, math.nan)
    m = float(x.mean())
    if x.size < 2:
        return x, m, (m, math.nan, math.nan)
    if np.all(x == x[0]):
        return x, m, (m, m, m)
    return x, m, None


def t_ci(x, confidence_level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``x`` and its Student-t confidence interval (``scipy.stats.ttest_1samp``).

    Args:
        x: 1-D array-like of finite floats (one value per image).
        confidence_level: two-sided level in (0, 1).
    Returns:
        (mean, low, high); low = high = NaN when n < 2; low = high = mean for constant data.
    """
    x, m, trivial = _mean_or_trivial(x)
    if trivial is not None:
        return trivial
    ci = stats.ttest_1samp(x, m).confidence_interval(confidence_level)
    return m, float(ci.low), float(ci.high)


def paper_ci(value: float, decimals: int, std: float | None, n: float | None,
             confidence_level: float = 0.95) -> tuple[float, float, str]:
    """The interval a paper's mean stands for, and the rule used (see the module doc).

    Args:
        value, decimals: the printed mean and its digits after the decimal point.
        std, n: the paper's std and its number of images (None/NaN when not given).
    Returns:
        (low, high, rule) with rule ``"rounding"`` or ``"paper CI (std, n=N)"``.
    """
    lo, hi = paper_interval(value, decimals)
    if std is None or n is None or not (math.isfinite(std) and math.isfinite(n)) or n < 2:
        return lo, hi, "rounding"
    h = float(stats.t.ppf(0.5 + confidence_level / 2, n - 1)) * std / math.sqrt(n)
    return min(lo, value - h), max(hi, value + h), f"paper CI (std, n={int(n)})"


@dataclass
class PairedResult:
    """A paired comparison: n pairs, mean oriented difference (> 0 = claimed direction), its
    bootstrap CI and the two-sided Wilcoxon p-value (uncorrected)."""

    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float


def paired_test(better, worse, higher_is_better: bool,
                s: StatsSettings = DEFAULT_STATS) -> PairedResult:
    """Compare two models on the same images.

    Args:
        better, worse: 1-D float arrays of equal length, pair i = image i; ``better`` is the model
            the claim says is better.
        higher_is_better: the metric's direction (metric registry); for errors (MSE, MAE, NRMSE)
            the oriented difference is ``worse - better``.
    Returns:
        :class:`PairedResult`. CI via ``scipy.stats.bootstrap(paired=True)``; p via
        ``scipy.stats.wilcoxon`` (two-sided, zero differences dropped; p = 1 when every difference
        is zero). n < 2 gives NaN CI and p.
    Raises:
        ValueError: the arrays differ in length.
    """
    a = np.asarray(better, dtype=np.float64)
    b = np.asarray(worse, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_test: arrays must be 1-D of equal length, got {a.shape}, {b.shape}")
    if not higher_is_better:
        a, b = b, a
    d = a - b
    n = int(d.size)
    if n < 2:
        return PairedResult(n, float(d.mean()) if n else math.nan, math.nan, math.nan, math.nan)
    if np.all(d == d[0]):
        lo = hi = float(d[0])
    else:
        lo, hi = _bootstrap((a, b), lambda x, y, axis: np.mean(x - y, axis=axis), s, paired=True)
    p = 1.0 if np.all(d == 0) else float(stats.wilcoxon(a, b, alternative="two-sided").pvalue)
    return PairedResult(n, float(d.mean()), lo, hi, p)


def holm(pvalues) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values: sort ascending, p_(i) * (m - i + 1) (i from 1),
    running maximum, capped at 1; returned in the input order. NaNs stay NaN and do not count in m.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out[order] = adj
    return out


def decide(p_holm: float, ci_low: float, ci_high: float, alpha: float) -> str:
    """Verdict of one comparison from its corrected p and its CI of the oriented difference."""
    if not (p_holm < alpha):
        return INCONCLUSIVE
    if ci_low > 0:
        return REPRODUCED
    if ci_high < 0:
        return CONTRADICTED
    return INCONCLUSIVE


def combine(verdicts: list[str]) -> str:
    """Claim verdict from its comparisons' verdicts (see module doc)."""
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    if NOT_TESTABLE in verdicts or not verdicts:
        return NOT_TESTABLE
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return INCONCLUSIVE


def higher_is_better(metric: str) -> bool:
    """Direction of ``metric`` from the metric registry; region metrics (``ssim@vessel``) take the
    direction of their base metric. Raises ``KeyError`` for an unknown metric."""
    from medsr_bench.benchmark.metrics.registry import get_metric

    return get_metric(metric.split("@", 1)[0]).higher_is_better


def paper_interval(value: float, decimals: int) -> tuple[float, float]:
    """The interval a printed value stands for: value +- half a unit of its last digit."""
    h = 0.5 * 10.0 ** (-int(decimals))
    return value - h, value + h


def inside(value: float, decimals: int, ci_low: float, ci_high: float) -> bool:
    """True when the paper value's rounding interval meets the CI [ci_low, ci_high]."""
    lo, hi = paper_interval(value, decimals)
    return bool(ci_low <= hi and ci_high >= lo)


# ---------------------------------------------------------------------------------------------
# Values of one (variant, model, metric, split), or the reason there are none


def model_values(run: RunData, v: Variant, model: str, metric: str,
                 split: str) -> tuple[pd.Series | None, str]:
    """Finite per-image values of ``model`` on ``metric`` (Series indexed by image_id) restricted
    to the paper's ``split`` (``"all"`` = every split), or ``(None, reason)`` saying why there are
    none: dataset skipped, model not run, weights missing, split or metric absent."""
    if not v.usable:
        why = v.reason or v.status or "not run"
        return None, f"dataset {v.protocol} not evaluated ({why})"
    rows = run.rows(v)
    rows = rows[rows.model == model]
    if rows.empty:
        if model not in run.meta.get("models", {}):
            return None, f"{model} not in this run (add --models {model})"
        return None, f"{model} has no rows on {v.dataset}"
    ok = rows[rows.status == "ok"]
    if ok.empty:
        status = str(rows.status.iloc[0])
        if status == "missing-weights":
            return None, "missing weights"
        note = str(rows["note"].iloc[0]) if "note" in rows and pd.notna(rows["note"].iloc[0]) else ""
        return None, f"{status}{': ' + note if note else ''}"
    if split != "all":
        ok = ok[ok["split"] == split]
        if ok.empty:
            have = ", ".join(sorted(set(rows["split"].dropna().astype(str)))) or "none"
            return None, f"no {split}-split images in this run (the paper scored the {split} set; " \
                         f"splits here: {have})"
    if metric not in ok.columns:
        from medsr_bench.benchmark.clinical.measures import MISSING_REASONS

        why = MISSING_REASONS.get(metric) or (
            "region metric: needs the dataset's masks" if "@" in metric else "not computed")
        return None, f"{metric} not in this run ({why})"
    vals = pd.to_numeric(ok.set_index("image_id")[metric], errors="coerce")
    vals = vals[np.isfinite(vals)]
    if vals.empty:
        return None, f"{metric}: no finite value in this run"
    return vals, ""


# ---------------------------------------------------------------------------------------------
# Paper cells


@dataclass
class CellVerdict:
    """One reported mean beside ours. ``diff`` = mean - paper; ``better`` tells whether the
    difference is in the metric's better direction, set only for a contradicted cell (None
    otherwise: an untested sign is no evidence). ``rule`` names how the paper value was read
    (``rounding`` or ``paper CI (std, n=...)``); ``paper_low``/``paper_high`` is that interval;
    ``too_small`` marks a cell refused for n < ``cell_min_n``."""

    suite: str
    protocol: str
    variant: str
    label: str
    split: str
    model: str
    metric: str
    paper: float
    paper_std: float | None
    decimals: int
    source: str
    paper_n: float | None = None
    rule: str = ""
    paper_low: float = math.nan
    paper_high: float = math.nan
    too_small: bool = False
    dataset: str = ""  # the data actually scored (a stand-in's own name, e.g. ct-head-standin)
    model_note: str = ""  # e.g. "UNDER-TRAINED (3 of 200 iterations)" (rundata.model_tags)
    weights_source: str = ""  # e.g. "ncnn release, fp16-truncated" (rundata.weights_sources)
    n: int = 0
    mean: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    diff: float = math.nan
    better: bool | None = None
    inside_ci: bool | None = None
    verdict: str = NOT_TESTABLE
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_cell(run: RunData, v: Variant, prow, s: StatsSettings = DEFAULT_STATS) -> CellVerdict:
    """Verdict of one ``reported.csv`` row (``prow``: a namedtuple/Series with its columns)."""
    std = float(prow.std) if pd.notna(prow.std) else None
    pn = getattr(prow, "n", None)
    pn = float(pn) if pn is not None and pd.notna(pn) else None
    c = CellVerdict(v.suite, v.protocol, v.id, v.label, prow.split, prow.model, prow.metric,
                    float(prow.value), std, int(prow.decimals), prow.source, paper_n=pn)
    c.dataset = v.dataset or ""
    c.model_note = run.model_tags.get(prow.model, "")
    c.weights_source = run.weights_sources.get(prow.model, "")
    c.paper_low, c.paper_high, c.rule = paper_ci(c.paper, c.decimals, std, pn, s.confidence_level)
    vals, why = model_values(run, v, prow.model, prow.metric, prow.split)
    if vals is None:
        c.reason = why
        return c
    c.n = int(vals.size)
    c.diff = float(vals.mean()) - c.paper
    if c.n < s.cell_min_n:
        c.mean = float(vals.mean())
        c.too_small = True
        c.reason = (f"n too small (n={c.n}; a cell needs >= {s.cell_min_n} images for a "
                    f"{s.confidence_level:.0%} t interval to be trusted)")
        return c
    c.mean, c.ci_low, c.ci_high = t_ci(vals.to_numpy(), s.confidence_level)
    c.inside_ci = bool(c.ci_low <= c.paper_high and c.ci_high >= c.paper_low)
    c.verdict = REPRODUCED if c.inside_ci else CONTRADICTED
    if c.verdict == CONTRADICTED and c.diff != 0:
        c.better = bool((c.diff > 0) == higher_is_better(prow.metric))
    return c


# ---------------------------------------------------------------------------------------------
# Claims


@dataclass
class Comparison:
    """One adjacent pair of a claim on one metric (``better`` claimed better than ``worse``)."""

    claim: str
    variant: str
    better: str
    worse: str
    metric: str
    n: int = 0
    mean_diff: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p_value: float = math.nan
    p_holm: float = math.nan
    verdict: str = NOT_TESTABLE
    reason: str = ""
    model_notes: str = ""  # marks of the two models ("srresnet: UNDER-TRAINED (...)"), or ""
    pairs: pd.DataFrame | None = field(default=None, repr=False)  # image_id, better, worse

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("pairs")
        return d


@dataclass
class ClaimVerdict:
    """A claim of ``claims.csv`` tested on one variant."""

    id: str
    suite: str
    protocol: str
    variant: str
    label: str
    split: str
    ranking: str
    metrics: str
    statement: str
    source: str
    verdict: str = NOT_TESTABLE
    reason: str = ""
    comparisons: list[Comparison] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("id", "suite", "protocol", "variant", "label", "split",
                                           "ranking", "metrics", "statement", "source", "verdict",
                                           "reason")}
        d["comparisons"] = [c.to_dict() for c in self.comparisons]
        return d


def join_reasons(items: list[tuple[str, str]]) -> str:
    """``[(model, reason), ...]`` -> one line, each distinct reason once with its models
    (``"missing weights: esrgan, srgan"``), the models left out where the reason already names
    them (``"srgan not in this run (add --models srgan)"``); empty reasons are dropped."""
    by_reason: dict[str, list[str]] = {}
    for model, why in items:
        if why:
            by_reason.setdefault(why, []).append(model)
    out = []
    for why, ms in by_reason.items():
        ms = list(dict.fromkeys(ms))
        named = all(re.search(rf"(?<![\w-]){re.escape(m)}(?![\w-])", why) for m in ms)
        out.append(why if named else f"{why}: {', '.join(ms)}")
    return "; ".join(out)


def _comparison(run: RunData, v: Variant, claim, better: str, worse: str, metric: str,
                s: StatsSettings) -> Comparison:
    c = Comparison(claim.id, v.id, better, worse, metric)
    c.model_notes = "; ".join(f"{m}: {run.model_tags[m]}" for m in (better, worse)
                              if run.model_tags.get(m))
    va, why_a = model_values(run, v, better, metric, claim.split)
    vb, why_b = model_values(run, v, worse, metric, claim.split)
    if va is None or vb is None:
        c.reason = join_reasons([(better, why_a), (worse, why_b)])
        return c
    pairs = pd.concat([va.rename("better"), vb.rename("worse")], axis=1, join="inner").dropna()
    c.pairs = pairs.reset_index()
    c.n = len(pairs)
    need = min_pairs(s.alpha)
    if c.n < need:
        c.reason = (f"n too small ({c.n} paired image{'s' if c.n != 1 else ''}; the Wilcoxon test "
                    f"needs >= {need} for p < {s.alpha:g})")
        if c.n:
            c.mean_diff = paired_test(pairs.better.to_numpy(), pairs.worse.to_numpy(),
                                      higher_is_better(metric), s).mean_diff
        return c
    r = paired_test(pairs.better.to_numpy(), pairs.worse.to_numpy(), higher_is_better(metric), s)
    c.mean_diff, c.ci_low, c.ci_high, c.p_value = r.mean_diff, r.ci_low, r.ci_high, r.p_value
    c.verdict = ""  # decided after the Holm correction
    return c


@dataclass
class Verdicts:
    """All cells and claims of a run, with the headline counts."""

    cells: list[CellVerdict]
    claims: list[ClaimVerdict]
    settings: StatsSettings = DEFAULT_STATS

    def headline(self) -> dict:
        """Counts for "k of n paper cells and j of m claims reproduced" (+ per-verdict counts)."""
        def count(items):
            out = {k: 0 for k in VERDICTS}
            for it in items:
                out[it.verdict] += 1
            return out

        cc, kc = count(self.cells), count(self.claims)
        small = sum(c.too_small for c in self.cells)
        small_claims = sum(any(k.reason.startswith("n too small") for k in cv.comparisons)
                           for cv in self.claims if cv.verdict == NOT_TESTABLE)
        text = (f"{cc[REPRODUCED]} of {len(self.cells)} paper cells and "
                f"{kc[REPRODUCED]} of {len(self.claims)} claims reproduced")
        if small or small_claims:
            text += (f" ({small} cell{'s' if small != 1 else ''} and {small_claims} "
                     f"claim{'s' if small_claims != 1 else ''} not testable: n too small, "
                     f"a cell needs >= {self.settings.cell_min_n} images, a paired comparison "
                     f">= {min_pairs(self.settings.alpha)})")
        return {"cells_reproduced": cc[REPRODUCED], "cells": len(self.cells),
                "claims_reproduced": kc[REPRODUCED], "claims": len(self.claims),
                "cells_too_small": small, "claims_too_small": small_claims,
                "cell_verdicts": cc, "claim_verdicts": kc, "text": text}

    def to_dict(self) -> dict:
        return {"headline": self.headline(), "settings": asdict(self.settings),
                "cells": [c.to_dict() for c in self.cells],
                "claims": [c.to_dict() for c in self.claims]}


def evaluate(run: RunData, paper: pd.DataFrame, claims: pd.DataFrame,
             s: StatsSettings = DEFAULT_STATS) -> Verdicts:
    """Every paper cell (``image == ""`` rows of ``reported.csv``) and every claim of the run's
    suites, on each variant of the claim's (suite, protocol) that evaluates the paper's split. Single-image paper values (P2) are
    not cells: the papers do not name their images (shown beside our spread in the report)."""
    suites = set(run.meta.get("suites", {}))
    cells: list[CellVerdict] = []
    means = paper[(paper["image"] == "") & paper["suite"].isin(suites)]
    for prow in means.itertuples(index=False):
        for v in run.variants_of(prow.suite, prow.protocol, prow.split):
            cells.append(evaluate_cell(run, v, prow, s))
    out: list[ClaimVerdict] = []
    for claim in claims[claims["suite"].isin(suites)].itertuples(index=False):
        for v in run.variants_of(claim.suite, claim.protocol, claim.split):
            cv = ClaimVerdict(claim.id, claim.suite, claim.protocol, v.id, v.label, claim.split,
                              claim.ranking, claim.metrics, claim.statement, claim.source)
            for metric in claim.metric_list:
                for better, worse in zip(claim.models[:-1], claim.models[1:], strict=True):
                    cv.comparisons.append(_comparison(run, v, claim, better, worse, metric, s))
            out.append(cv)
    for suite in {c.suite for c in out}:  # Holm within a paper
        comps = [c for cv in out if cv.suite == suite for c in cv.comparisons if c.verdict == ""]
        for c, p in zip(comps, holm([c.p_value for c in comps]), strict=True):
            c.p_holm = float(p)
            c.verdict = decide(c.p_holm, c.ci_low, c.ci_high, s.alpha)
    for cv in out:
        cv.verdict = combine([c.verdict for c in cv.comparisons])
        if cv.verdict == NOT_TESTABLE:
            cv.reason = "; ".join(dict.fromkeys(c.reason for c in cv.comparisons
                                                if c.verdict == NOT_TESTABLE and c.reason))
    return Verdicts(cells, out, s)
