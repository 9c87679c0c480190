"""Newcomer habits of the CLI: "did you mean" on unknown names, which run `bench report` rendered."""

from __future__ import annotations

from cli_helpers import invoke as bench

from medsr_bench.core import did_you_mean


def test_did_you_mean_on_unknown_models_suites_and_settings():
    assert did_you_mean("bicubc", ["bilinear", "bicubic"]) == " (did you mean 'bicubic'?)"
    assert did_you_mean("zzzz", ["bilinear", "bicubic"]) == ""
    r = bench("run", "--suite", "demo", "--models", "bicubc", "--limit", "1")
    assert r.exit_code != 0 and "did you mean 'bicubic'?" in r.output
    r = bench("run", "--suite", "rashdi", "--limit", "1")
    assert r.exit_code != 0 and "did you mean 'rashid'?" in r.output
    r = bench("run", "--suite", "demo", "--set", "metric.data_rang=1", "--limit", "1")
    assert r.exit_code != 0 and "did you mean 'metric.data_range'?" in r.output


def test_run_prints_a_headline_table_and_report_renders_the_last_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "elsewhere"
    r = bench("run", "--suite", "demo", "--models", "bilinear,bicubic", "--limit", "2",
              "--out", out, "-q")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("mean SSIM per dataset"))
    assert lines[i + 1].split()[0] == "model"
    assert lines[i + 3].split()[0] == "bilinear" and float(lines[i + 3].split()[1]) > 0
    assert f"report: bench report --run {out}" in r.output
    (tmp_path / "results" / "runs" / "newer").mkdir(parents=True)  # not a run: no run.json
    r = bench("report", "--format", "md", "--out", tmp_path / "r.md")
    assert r.exit_code == 0, r.output
    assert f"rendering {out.resolve()} (the last `bench run`" in r.output


def test_parts_keep_numbers_and_figures_are_stored_once(tmp_path):
    import json

    out = tmp_path / "run"
    r = bench("run", "--suite", "demo", "--models", "bilinear,bicubic", "--limit", "2",
              "--out", out, "-q")
    assert r.exit_code == 0, r.output
    parts = sorted((out / "parts").glob("*.json"))
    figs = [json.loads(p.read_text()).get("figures") or {} for p in parts]
    assert any(figs)
    for f in figs:
        for k, v in f.items():  # a path into samples/, not base64
            assert v.startswith("samples/") and v.endswith(".png") and (out / v).is_file(), (k, v)
    assert sum(p.stat().st_size for p in parts) < 200_000
    meta = json.loads((out / "run.json").read_text())
    dirs = {v["samples_dir"] for v in meta["variants"].values() if v.get("samples_dir")}
    assert dirs and all((out / d / "hr.png").is_file() and (out / d / "bicubic.png").is_file()
                        for d in dirs)
