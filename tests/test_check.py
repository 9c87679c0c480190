"""`bench check`: the CI gate passes on its own run, fails on a perturbed baseline, reports rows
that appeared or vanished, and --update rewrites the baseline."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from typer.testing import CliRunner

from medsr_bench.benchmark.check import (
    Tolerance,
    compare,
    default_tolerance,
    parse_overrides,
    read_table,
    tolerance_for,
)
from medsr_bench.cli import app

runner = CliRunner()

SUMMARY = """suite,dataset,model,metric,mean,std,n,status
rashid,brats2018,bicubic,ssim,0.9281,0.02,6,ok
rashid,brats2018,bicubic,psnr,30.5,1.0,6,ok
rashid,brats2018,bicubic,mse,0.0012,0.0001,6,ok
rashid,brats2018,realesrgan-1ch,ssim,,,6,missing-weights
"""


def bench(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    (d / "summary.csv").write_text(SUMMARY)
    return d


def perturb(path, metric, value):
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[df.metric == metric, "mean"] = str(value)
    df.to_csv(path, index=False)


def test_registry_tolerances_have_reasons_and_region_metrics_use_the_base():
    for m in ("psnr", "ssim", "mse", "vif"):
        t = default_tolerance(m)
        assert t.reason and (t.atol > 0 or t.rtol > 0)
    assert default_tolerance("ssim@thin_vessel") == default_tolerance("ssim")
    assert default_tolerance("not-a-metric").rtol == 1e-6


def test_tolerance_rule_and_overrides():
    t = Tolerance(0.01, 0.0, "")
    assert t.allows(30.0, 30.009) and not t.allows(30.0, 30.02)
    assert t.allows(math.nan, math.nan) and not t.allows(math.nan, 1.0)
    assert t.allows(math.inf, math.inf) and not t.allows(math.inf, 30.0)
    assert Tolerance(0, 1e-3, "").allows(100.0, 100.09) and not Tolerance(0, 1e-3, "").allows(100.0, 100.2)
    over = parse_overrides(["psnr=0.5", "0.2"], "--atol")
    assert over == {"psnr": 0.5, "*": 0.2}
    assert tolerance_for("psnr@fov", over, {}).atol == 0.5
    assert tolerance_for("ssim", over, {}).atol == 0.2


def test_old_layout_baseline_reads_variant_as_empty(run_dir):
    df = read_table(run_dir / "summary.csv", "run summary")
    assert list(df.variant.unique()) == [""]
    new = df.assign(variant="0123456789abcdef")
    res = compare(df, new)
    assert res.counts() == {"appeared": 4, "vanished": 4}


def test_check_passes_on_its_own_run(tmp_path, run_dir):
    base = tmp_path / "baselines" / "cpu.csv"
    r = bench("check", "--baseline", base, "--run", run_dir, "--update")
    assert r.exit_code == 0 and "wrote new baseline" in r.output
    r = bench("check", "--baseline", base, "--run", run_dir)
    assert r.exit_code == 0, r.output
    assert "ok: 4 rows within tolerance" in r.output


def test_check_fails_on_a_perturbed_baseline_with_a_diff_table(tmp_path, run_dir):
    base = tmp_path / "cpu.csv"
    assert bench("check", "--baseline", base, "--run", run_dir, "--update").exit_code == 0
    perturb(base, "psnr", 30.5 + 0.005)  # within the registry's 0.01 dB
    assert bench("check", "--baseline", base, "--run", run_dir).exit_code == 0
    perturb(base, "psnr", 30.3)
    r = bench("check", "--baseline", base, "--run", run_dir)
    assert r.exit_code == 1
    head, row = r.output.splitlines()[:2]
    for col in ("change", "metric", "baseline", "now", "delta", "tolerance"):
        assert col in head
    assert row.split() == ["moved", "rashid", "brats2018", "-", "bicubic", "psnr", "30.3", "30.5",
                           "+0.2", "0.01"]
    # a looser tolerance on the command line lets it pass
    assert bench("check", "--baseline", base, "--run", run_dir, "--atol", "psnr=0.3").exit_code == 0
    perturb(base, "mse", 0.0012 * 1.01)  # 1 % > the registry's 0.1 % relative tolerance
    r = bench("check", "--baseline", base, "--run", run_dir, "--atol", "psnr=0.3")
    assert r.exit_code == 1 and "mse" in r.output and "0.1%" in r.output


def test_check_reports_appeared_and_vanished_rows_and_status_changes(tmp_path, run_dir):
    base = tmp_path / "cpu.csv"
    assert bench("check", "--baseline", base, "--run", run_dir, "--update").exit_code == 0
    df = pd.read_csv(base, dtype=str, keep_default_na=False)
    df = df[df.metric != "mse"]  # the run now has a row the baseline lacks
    extra = df.iloc[[0]].assign(model="lanczos")  # the baseline has a row the run lacks
    df.loc[df.model == "realesrgan-1ch", "status"] = "ok"
    pd.concat([df, extra]).to_csv(base, index=False)
    r = bench("check", "--baseline", base, "--run", run_dir)
    assert r.exit_code == 1
    lines = {ln.split()[0]: ln for ln in r.output.splitlines()[1:] if ln.split()}
    assert "appeared" in lines and " mse " in lines["appeared"]
    assert "vanished" in lines and "lanczos" in lines["vanished"]
    assert "status" in lines and "missing-weights" in lines["status"]
    assert "1 appeared" in r.output and "1 vanished" in r.output


def test_update_rewrites_the_baseline_and_prints_what_changed(tmp_path, run_dir):
    base = tmp_path / "cpu.csv"
    assert bench("check", "--baseline", base, "--run", run_dir, "--update").exit_code == 0
    perturb(base, "ssim", 0.5)
    r = bench("check", "--baseline", base, "--run", run_dir, "--update")
    assert r.exit_code == 0
    assert "moved" in r.output and "ssim" in r.output and "updated" in r.output
    assert bench("check", "--baseline", base, "--run", run_dir).exit_code == 0


@pytest.mark.parametrize("args,msg", [
    (["--baseline", "/no/such.csv"], "no such file"),
    (["--atol", "psnr=abc"], "expected METRIC=NUMBER"),
])
def test_user_errors_are_one_line_exit_2(tmp_path, run_dir, args, msg):
    base = tmp_path / "cpu.csv"
    assert bench("check", "--baseline", base, "--run", run_dir, "--update").exit_code == 0
    full = ["check", "--baseline", base, "--run", run_dir, *args]
    r = runner.invoke(app, [str(a) for a in full])
    assert r.exit_code == 2 and r.output.strip().startswith("error:") and msg in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_real_runs_pass_against_each_others_baseline(tmp_path, monkeypatch):
    """Two `bench run`s of the same command agree within the registry tolerances."""
    monkeypatch.setenv("BENCH_WEIGHTS", str(tmp_path / "w"))
    monkeypatch.setenv("BENCH_PREPARED", str(tmp_path / "prepared"))
    args = ["run", "--suite", "demo", "--limit", "1", "--models", "nearest,bicubic", "-q"]
    for name in ("a", "b"):
        assert bench(*args, "--out", tmp_path / name).exit_code == 0
    base = tmp_path / "baseline.csv"
    assert bench("check", "--baseline", base, "--run", tmp_path / "a", "--update").exit_code == 0
    r = bench("check", "--baseline", base, "--run", tmp_path / "b")
    assert r.exit_code == 0, r.output


def test_a_run_of_one_suite_is_checked_against_its_rows_only(tmp_path, run_dir):
    """A baseline of two suites and three models, a run of one suite and two models: only the
    run's rows are compared (no "vanished" for the rest), the line says how many were left out,
    and --update keeps the rows the run could not have (issue 18)."""
    import json

    base = tmp_path / "cpu.csv"
    other = ("aghelan,drive,,bicubic,ssim,0.8,6,ok\n"
             "rashid,brats2018,,lanczos,ssim,0.9,6,ok\n")
    rows = SUMMARY.replace("suite,dataset,model,metric,mean,std,n,status\n", "")
    base.write_text("suite,dataset,variant,model,metric,mean,n,status\n"
                    + "".join(",".join([*ln.split(",")[:2], "", *ln.split(",")[2:5],
                                        *ln.split(",")[6:]]) + "\n"
                              for ln in rows.splitlines()) + other)
    (run_dir / "run.json").write_text(json.dumps({
        "suites": {"rashid": {}}, "models": {"bicubic": {}, "realesrgan-1ch": {}}, "variants": {}}))
    from medsr_bench.benchmark.rundir import table_digests

    meta = json.loads((run_dir / "run.json").read_text())
    meta["tables"] = table_digests(run_dir)
    (run_dir / "run.json").write_text(json.dumps(meta))
    r = bench("check", "--baseline", base, "--run", run_dir)
    assert r.exit_code == 0, r.output
    assert r.output.strip() == ("ok: 4 rows within tolerance (2 baseline rows outside this run's "
                                "suites rashid; models bicubic, realesrgan-1ch not compared)")
    perturb(run_dir / "summary.csv", "psnr", 31.5)
    meta["tables"] = table_digests(run_dir)
    (run_dir / "run.json").write_text(json.dumps(meta))
    r = bench("check", "--baseline", base, "--run", run_dir)
    assert r.exit_code == 1 and "1 moved" in r.output and "vanished" not in r.output
    assert bench("check", "--baseline", base, "--run", run_dir, "--update").exit_code == 0
    kept = read_table(base, "baseline")
    assert len(kept) == 6 and {"aghelan", "rashid"} == set(kept.suite)
    assert "lanczos" in set(kept.model)
    assert kept[kept.metric == "psnr"]["mean"].iloc[0] == 31.5
