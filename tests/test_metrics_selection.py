"""``bench run --metrics`` / TOML ``metrics``: the per-run metric set, its validation, its place in
the variant identity; and ``bench metrics list``."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from cli_helpers import bench, invoke

from medsr_bench.benchmark.metrics.selection import parse_metric_list
from medsr_bench.benchmark.tasks import RunConfig, plan


def test_parse_metric_list():
    assert parse_metric_list("psnr, SSIM,msssim,psnr") == ("psnr", "ssim", "ms-ssim")
    assert parse_metric_list(["haarpsi", "gmsd"]) == ("haarpsi", "gmsd")
    with pytest.raises(ValueError, match=r"unknown metric 'nope'; valid: psnr, ssim"):
        parse_metric_list("psnr,nope")
    with pytest.raises(ValueError, match="at least one"):
        parse_metric_list(" , ")


def test_default_set_keeps_variant_ids(bench_env):
    base = RunConfig(suites=["demo"], models=["bicubic"], limit=1, out=bench_env / "r")
    from medsr_bench.benchmark.suites import SUITES

    same = RunConfig(suites=["demo"], models=["bicubic"], limit=1, out=bench_env / "r",
                     metrics=tuple(SUITES["demo"].metrics))
    other = RunConfig(suites=["demo"], models=["bicubic"], limit=1, out=bench_env / "r",
                      metrics=("psnr", "gmsd"))
    a, b, c = plan(base), plan(same), plan(other)
    assert set(a.variants) == set(b.variants)
    assert not set(a.variants) & set(c.variants)
    assert c.metric_names == ["psnr", "gmsd"]
    assert all(sc.metrics == ("psnr", "gmsd") for t in c.tasks for sc in t.scorings)
    assert "metrics" not in base.identity() and other.identity()["metrics"] == ["psnr", "gmsd"]


def test_cli_unknown_metric_is_one_error_line(bench_env):
    r = invoke("run", "--suite", "demo", "--limit", "1", "--models", "bicubic", "--metrics",
               "psnr,nope", "--out", bench_env / "r", "-q")
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --metrics: unknown metric 'nope'; valid: ")
    assert "haarpsi" in lines[0]


def _demo_run(bench_env, metrics: str):
    """``bench run --suite demo --limit 1 --models bicubic --metrics METRICS``: (run dir, per_image)."""
    out = bench_env / "r"
    r = bench("run", "--suite", "demo", "--limit", "1", "--models", "bicubic", "--metrics",
              metrics, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    return out, pd.read_csv(out / "per_image.csv")


def test_cli_run_with_metric_set_and_toml(bench_env):
    out, df = _demo_run(bench_env, "psnr,haarpsi,gmsd")
    assert {"psnr", "haarpsi", "gmsd"} <= set(df.columns) and "ssim" not in df.columns
    assert not [c for c in df.columns if c.startswith("fsim@")]  # only a run scoring FSIM has them
    ok = df[df.status == "ok"]
    assert len(ok) and ok.haarpsi.between(0, 1).all() and ok.gmsd.between(0, 1).all()
    meta = json.loads((out / "run.json").read_text())
    assert any("metrics=psnr,haarpsi,gmsd" in v.get("label", "") for v in meta["variants"].values())

    cfg = bench_env / "run.toml"
    cfg.write_text('suite = "demo"\nmodels = ["bicubic"]\nlimit = 1\nmetrics = ["psnr", "fsim"]\n')
    r = bench("run", "--config", cfg, "--print-config")
    assert r.exit_code == 0 and 'metrics = ["psnr", "fsim"]' in r.output, r.output


def test_a_run_scoring_fsim_writes_fsim_inside_each_region(bench_env):
    out, df = _demo_run(bench_env, "psnr,fsim")
    brain = df[(df.dataset == "demo-brain") & (df.status == "ok")]
    body = df[(df.dataset == "demo-ct") & (df.status == "ok")]
    assert len(brain) and brain["fsim@brain"].between(0, 1).all()
    assert len(body) and body["fsim@body"].between(0, 1).all()
    # the padded background's near-1 similarity is left out inside the brain
    assert (brain["fsim@brain"] != brain["fsim"]).all()
    assert df[df.dataset == "demo-retina"]["fsim@brain"].isna().all()
    # the report's region table of each reading, its columns grouped by region
    r = bench("report", "--run", out, "--out", out / "report.html")
    assert r.exit_code == 0, r.output
    page = (out / "report.html").read_text()
    assert "Inside the diagnostic regions" in page
    assert page.index("PSNR (dB) @ brain") < page.index("SSIM @ brain") < page.index("FSIM @ brain")


def test_region_columns_of_the_report():
    from medsr_bench.benchmark.report.clinical import region_columns

    cols = ["psnr", "fsim@body", "psnr@lr", "ssim@body", "dice@vessel", "psnr@body", "ssim@fov"]
    assert region_columns(cols) == {"psnr@body": ("PSNR (dB) @ body", ""),
                                    "ssim@body": ("SSIM @ body", ""),
                                    "fsim@body": ("FSIM @ body", ""), "ssim@fov": ("SSIM @ fov", "")}


def test_metrics_list_shows_weights_state():
    r = bench("metrics", "list")
    assert r.exit_code == 0
    rows = {ln.split()[0]: ln for ln in r.output.splitlines()[1:] if ln and not ln.startswith(" ")}
    assert {"gmsd", "haarpsi", "fsim", "dists", "lpips"} <= set(rows)
    assert rows["haarpsi"].split()[1] == "higher" and rows["gmsd"].split()[1] == "lower"
    assert rows["dists"].split()[4] in ("missing", "present") and rows["psnr"].split()[4] == "no"  # range has a space
