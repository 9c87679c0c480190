"""Verdict statistics on synthetic paired data with known answers, Holm, and the cell-in-CI rule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from report_fixtures import make_run

from medsr_bench.benchmark.report.paper import audit_psnr_mse, load_claims, load_paper_tables
from medsr_bench.benchmark.report.rundata import load_run
from medsr_bench.benchmark.report.verdicts import (
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_TESTABLE,
    REPRODUCED,
    decide,
    evaluate,
    holm,
    inside,
    mean_ci,
    min_pairs,
    paired_test,
)

RNG = np.random.default_rng(0)
BASE = RNG.normal(0.9, 0.02, 30)


def verdict(better, worse, hib=True, m=1):
    r = paired_test(better, worse, hib)
    return decide(min(1.0, r.p_value * m), r.ci_low, r.ci_high, 0.05), r


def test_clear_win_is_reproduced():
    v, r = verdict(BASE + 0.01 + RNG.normal(0, 0.002, 30), BASE)
    assert v == REPRODUCED and r.ci_low > 0 and r.p_value < 1e-6 and r.n == 30


def test_clear_loss_is_contradicted():
    v, r = verdict(BASE - 0.01 + RNG.normal(0, 0.002, 30), BASE)
    assert v == CONTRADICTED and r.ci_high < 0


def test_noise_is_inconclusive():
    v, r = verdict(BASE + RNG.normal(0, 0.01, 30), BASE)
    assert v == INCONCLUSIVE and r.ci_low < 0 < r.ci_high


def test_lower_is_better_metrics_are_oriented():
    v, r = verdict(BASE - 0.01, BASE, hib=False)  # lower error claimed better: holds
    assert v == REPRODUCED and math.isclose(r.mean_diff, 0.01)


def test_n1_has_no_interval_and_too_few_pairs_are_flagged():
    r = paired_test([0.9], [0.8], True)
    assert r.n == 1 and math.isnan(r.ci_low) and math.isnan(r.p_value)
    assert min_pairs(0.05) == 6  # exact two-sided Wilcoxon: 2/2^5 = 0.0625 > 0.05
    m, lo, hi = mean_ci([0.5])
    assert m == 0.5 and math.isnan(lo) and math.isnan(hi)


def test_bootstrap_ci_is_seeded_and_covers_the_mean():
    a, b = mean_ci(BASE), mean_ci(BASE)
    assert a == b and a[1] < BASE.mean() < a[2]


def test_holm_matches_hand_computation():
    # sorted p 0.01, 0.02, 0.04 with m=3: 0.03, 0.04, max(0.04, 0.04) -> order restored
    np.testing.assert_allclose(holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
    np.testing.assert_allclose(holm([0.5, np.nan, 0.01]), [0.5, np.nan, 0.02])


def test_paper_value_rounding_interval_meets_ci():
    assert inside(0.93, 2, 0.9349, 0.95)  # 0.93 stands for [0.925, 0.935]
    assert not inside(0.93, 2, 0.9351, 0.95)
    assert inside(0.93, 2, 0.90, 0.926) and not inside(0.93, 2, 0.90, 0.9249)
    assert inside(32.19, 2, 32.0, 32.5)


def test_cells_and_claims_on_a_synthetic_run(tmp_path):
    root = make_run(tmp_path / "run")
    pi = pd.read_csv(root / "per_image.csv")
    pi.loc[pi.model == "bicubic", "vif"] += 0.05  # ~0.70: far from the paper's 0.64
    pi.to_csv(root / "per_image.csv", index=False)
    run = load_run(root)
    v = evaluate(run, load_paper_tables(), load_claims())
    cells = {(c.model, c.metric): c for c in v.cells}
    # bilinear SSIM: synthetic mean ~0.92 with a CI around it -> the paper's 0.92 lies inside
    c = cells[("bilinear", "ssim")]
    assert c.n == 8 and c.verdict == REPRODUCED and c.inside_ci and c.ci_low < c.mean < c.ci_high
    # bicubic VIF ~0.70: the paper's 0.64 lies outside our tight CI, ours is better
    c = cells[("bicubic", "vif")]
    assert c.verdict == CONTRADICTED and c.better is True and not c.inside_ci
    c = cells[("realesrgan-1ch", "ssim")]
    assert c.verdict == NOT_TESTABLE and c.reason == "missing weights" and c.n == 0
    claims = {c.id: c for c in v.claims}
    p3 = claims["P3-ssim-vif"]
    assert p3.verdict == NOT_TESTABLE and "missing weights: realesrgan-1ch" in p3.reason
    tested = [k for k in p3.comparisons if k.better == "bicubic"]
    assert {k.verdict for k in tested} == {REPRODUCED}  # 8/8 images favour bicubic
    # Holm over the 3 testable comparisons of P3 (ssim, vif, mae): p = 2/2^8 each -> x3
    assert all(math.isclose(k.p_holm, 3 * k.p_value) for k in tested)
    h = v.headline()
    assert h["text"] == f"{h['cells_reproduced']} of 12 paper cells and 0 of 2 claims reproduced"


def test_paper_split_is_respected(tmp_path):
    root = make_run(tmp_path / "run")
    pi = pd.read_csv(root / "per_image.csv")
    pi["split"] = "val"
    pi.to_csv(root / "per_image.csv", index=False)
    v = evaluate(load_run(root), load_paper_tables(), load_claims())
    assert all(c.verdict == NOT_TESTABLE for c in v.cells)
    assert any("no test-split images" in c.reason for c in v.cells)


def test_p4_tables_use_their_own_splits_and_p2_audit_flags_every_pair():
    paper = load_paper_tables()
    p4 = paper[paper.suite == "beallor"]
    assert set(p4[p4.source.str.contains("Table 1")].split) == {"val"}
    assert set(p4[p4.source.str.contains("Table 2")].split) == {"test"}
    assert len(p4[(p4.model == "bicubic")]) == 5  # bicubic is in both tables (+ Table 2's MOS)
    audit = audit_psnr_mse(paper)
    assert len(audit) == 9 and not any(a["consistent"] for a in audit)
    claims = load_claims()
    assert {"P1-drive-ssim", "P1-drive-vessels", "P3-ssim-vif", "P4-deep", "P4-interp"} <= set(claims.id)
    vessels = claims[claims.id == "P1-drive-vessels"].iloc[0]
    assert vessels.metric_list == ["dice@vessel", "cldice@vessel"]
    pixels = claims[claims.id == "P1-drive-vessel-pixels"].iloc[0]
    assert pixels.metric_list == ["ssim@vessel", "ssim@thin_vessel"]


def test_region_metric_absent_is_not_testable_with_reason(tmp_path):
    from medsr_bench.benchmark.report.verdicts import model_values

    run = load_run(make_run(tmp_path / "run"))
    vals, why = model_values(run, run.variants[0], "bicubic", "ssim@vessel", "test")
    assert vals is None and "ssim@vessel not in this run" in why and "masks" in why


def test_cells_and_claims_use_only_the_variants_of_the_papers_split():
    from medsr_bench.benchmark.report.rundata import RunData, Variant

    val = Variant("v1", "beallor", "cptac-gbm", "ct", meta={"split": "val"})
    test = Variant("v2", "beallor", "cptac-gbm", "ct", meta={"split": "test"})
    old = Variant("", "beallor", "cptac-gbm", "ct", meta={})
    run = RunData(None, {}, pd.DataFrame(), pd.DataFrame(), [val, test, old])
    assert run.variants_of("beallor", "cptac-gbm", "val") == [val, old]
    assert run.variants_of("beallor", "cptac-gbm", "test") == [test, old]
    assert run.variants_of("beallor", "cptac-gbm", "all") == [val, test, old]
    assert run.variants_of("beallor", "cptac-gbm") == [val, test, old]


def test_t_ci_matches_scipy_t_interval_and_small_n_cells_are_refused(tmp_path):
    from scipy import stats

    from medsr_bench.benchmark.report.verdicts import DEFAULT_STATS, paper_ci, t_ci

    x = BASE[:7]
    m, lo, hi = t_ci(x)
    ref = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    assert math.isclose(lo, ref[0], rel_tol=1e-12) and math.isclose(hi, ref[1], rel_tol=1e-12)
    assert DEFAULT_STATS.cell_min_n == 6
    # paper CI rule: P3 0.92 +- 0.03 over 7,823 slices -> half-width 1.96*0.03/88 < rounding 0.005
    lo, hi, rule = paper_ci(0.92, 2, 0.03, 7823)
    assert rule == "paper CI (std, n=7823)" and math.isclose(lo, 0.915) and math.isclose(hi, 0.925)
    lo, hi, rule = paper_ci(0.92, 2, 0.3, 100)  # wide std: the t half-width wins
    assert math.isclose(hi - 0.92, stats.t.ppf(0.975, 99) * 0.03) and lo < 0.915
    assert paper_ci(0.92, 2, None, None)[2] == "rounding"
    # a 2-image run: every cell with values is refused, none is coloured, the headline counts them
    root = make_run(tmp_path / "run")
    pi = pd.read_csv(root / "per_image.csv")
    keep = pi.groupby(["model"]).head(2)
    keep.to_csv(root / "per_image.csv", index=False)
    v = evaluate(load_run(root), load_paper_tables(), load_claims())
    small = [c for c in v.cells if c.n]
    assert small and all(c.too_small and c.verdict == NOT_TESTABLE and c.better is None
                         and "n too small" in c.reason and math.isnan(c.ci_low) for c in small)
    assert {c.rule for c in v.cells if c.suite == "rashid"} == {"paper CI (std, n=7823)"}
    h = v.headline()
    assert h["cells_too_small"] == len(small)
    assert f"{len(small)} cells and" in h["text"] and "n too small" in h["text"]


def test_exports_name_the_dataset_scored(tmp_path):
    """md/csv/json cells carry the dataset actually scored (a stand-in's name, not the protocol)."""
    import json

    from report_fixtures import VARIANT

    from medsr_bench.benchmark.report.export import cells_frame, to_json, to_markdown

    root = make_run(tmp_path / "run")
    meta = json.loads((root / "run.json").read_text())
    meta["variants"][VARIANT]["dataset"] = "mri-standin"
    (root / "run.json").write_text(json.dumps(meta))
    pi = pd.read_csv(root / "per_image.csv")
    pi.assign(dataset="mri-standin").to_csv(root / "per_image.csv", index=False)
    v = evaluate(load_run(root), load_paper_tables(), load_claims())
    assert set(cells_frame(v).dataset) == {"mri-standin"}
    assert "| mri-standin |" in to_markdown(v)
    assert json.loads(to_json(v))["cells"][0]["dataset"] == "mri-standin"
