"""End-to-end: `bench run` + `bench report` on the embedded default and on real data; resume;
one-line errors for bad options."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cli_helpers import bench, invoke, runner

from medsr_bench.benchmark.results_io import KEY, read_per_image
from medsr_bench.cli import app


def finite(df, model, metrics=("psnr", "ssim", "mse", "nrmse", "mae", "vif")):
    sel = df[df.model == model]
    assert len(sel) and (sel.status == "ok").all(), sel[["dataset", "status", "note"]]
    vals = sel[list(metrics)].to_numpy(dtype=float)
    assert np.isfinite(vals).all()
    return sel


@pytest.fixture
def no_weights(bench_env):
    """An empty weights dir (and the clean environment of ``bench_env``)."""
    return bench_env / "weights"


def test_demo_suite_end_to_end(tmp_path, no_weights):
    out = tmp_path / "run"
    r = bench("run", "--suite", "demo", "--limit", "1", "--models",
              "nearest,bicubic,bicubic-matlab,realesrgan-x4plus", "--out", out, "-q")
    assert r.exit_code == 0, r.output
    df = read_per_image(out / "per_image.csv")
    assert set(df.dataset) >= {"demo-retina", "demo-cxr", "demo-brain", "demo-ct"}
    for m in ("nearest", "bicubic", "bicubic-matlab"):
        finite(df, m)
    miss = df[df.model == "realesrgan-x4plus"]
    assert (miss.status == "missing-weights").all()
    assert miss.note.str.contains("RealESRGAN_x4plus.pth").all()
    summary = pd.read_csv(out / "summary.csv")
    assert {"suite", "dataset", "model", "metric", "mean", "std", "n", "status"} <= set(summary.columns)
    html = tmp_path / "report.html"
    r = bench("report", "--run", out, "--out", html)
    assert r.exit_code == 0, r.output
    text = html.read_text()
    assert "data:image/png;base64," in text and "missing-weights" in text
    assert "RealESRGAN_x4plus.pth" in text


@pytest.mark.shared
def test_all_suites_on_real_data(tmp_path, shared_data, shared_weights, monkeypatch):
    monkeypatch.setenv("BENCH_WEIGHTS", str(shared_weights))
    monkeypatch.setenv("BENCH_PREPARED", str(tmp_path / "prepared"))
    out = tmp_path / "run"
    r = bench("run", "--suite", "all", "--data-root", shared_data, "--limit", "1",
              "--models", "bicubic,lanczos,srgan-leftthomas-x4,realesrgan-x4plus", "--out", out, "-q")
    assert r.exit_code == 0, r.output
    df = read_per_image(out / "per_image.csv")
    assert {"drive", "chestxray14", "brats2018", "ct-head-standin"} <= set(df.dataset)
    assert set(df.suite) == {"aghelan", "khandare", "rashid", "beallor"}
    meta = json.loads((out / "run.json").read_text())
    read = {(v["suite"], v["protocol"], v["split"]) for v in meta["variants"].values()}
    assert {("aghelan", "drive", "all"), ("aghelan", "chestxray14", "test"),
            ("khandare", "chestxray14", "test"), ("beallor", "cptac-gbm", "val"),
            ("beallor", "cptac-gbm", "test")} <= read
    for m in ("bicubic", "lanczos"):
        finite(df, m)
    finite(df, "srgan-leftthomas-x4", metrics=("psnr", "ssim"))
    assert (df[df.model == "realesrgan-x4plus"].status == "missing-weights").all()
    html = tmp_path / "r.html"
    assert bench("report", "--run", out, "--out", html).exit_code == 0
    text = html.read_text()
    assert "stand-in" in text.lower() and "CPTAC-GBM" in text
    assert text.count("data:image/png;base64,") >= 4


def _table(path):
    df = read_per_image(path)
    return df.sort_values(list(KEY)).reset_index(drop=True)


def test_resume_after_interrupt_recomputes_only_missing_tasks(tmp_path, no_weights, monkeypatch):
    args = ["run", "--suite", "demo", "--limit", "2", "--models", "bilinear,lanczos,esrgan", "-q",
            "--workers", "1"]  # in-process, so the monkeypatched execute is the one called
    ref = tmp_path / "ref"
    assert bench(*args, "--out", ref).exit_code == 0

    import medsr_bench.benchmark.execute as ex

    calls = {"n": 0}
    orig = ex.execute

    def killed_after_five(task, ctx, samples=None):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt  # killed while computing the sixth task
        return orig(task, ctx, samples)

    out = tmp_path / "resumed"
    monkeypatch.setattr(ex, "execute", killed_after_five)
    r = runner.invoke(app, [*args, "--out", str(out)])
    assert r.exit_code != 0
    assert '"status": "interrupted"' in (out / "run.json").read_text()
    assert len(list((out / "parts").glob("*.json"))) == 5  # no partial part
    monkeypatch.setattr(ex, "execute", orig)
    partial = read_per_image(out / "per_image.csv")
    assert 0 < len(partial) < len(read_per_image(ref / "per_image.csv"))

    counted = {"n": 0}

    def counting(task, ctx, samples=None):
        counted["n"] += 1
        return orig(task, ctx, samples)

    monkeypatch.setattr(ex, "execute", counting)
    assert bench(*args, "--out", out).exit_code == 0
    n_tasks = len(json.loads((out / "plan.json").read_text())["tasks"])
    assert counted["n"] == n_tasks - 5  # only the missing tasks were computed
    assert (out / "per_image.csv").read_bytes() == (ref / "per_image.csv").read_bytes()
    assert (out / "summary.csv").read_bytes() == (ref / "summary.csv").read_bytes()
    # a third run finds everything done, computes nothing and changes nothing
    counted["n"] = 0
    assert bench(*args, "--out", out).exit_code == 0
    assert counted["n"] == 0
    assert (out / "per_image.csv").read_bytes() == (ref / "per_image.csv").read_bytes()
    assert bench("report", "--run", out, "--out", tmp_path / "r.html").exit_code == 0
    assert "missing-weights" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize("args, message", [
    (["run", "--suite", "nope"], "unknown suite nope"),
    (["run", "--suite", "demo", "--models", "bicubic,warp9"], "unknown model warp9"),
    (["run", "--suite", "all", "--data-root", "/definitely/not/here"], "not a directory"),
    (["run", "--suite", "all"], "needs real data"),
    (["report", "--run", "/definitely/not/here"], "no run.json"),
])
def test_bad_options_fail_with_one_line(args, message, no_weights):
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.output


def test_changed_limit_on_same_out_is_refused(tmp_path, no_weights):
    out = tmp_path / "run"
    assert bench("run", "--suite", "demo", "--limit", "1", "--models", "nearest", "--out", out,
                 "-q").exit_code == 0
    before = (out / "per_image.csv").read_text()
    r = runner.invoke(app, ["run", "--suite", "demo", "--limit", "2", "--models", "nearest",
                            "--out", str(out), "-q"])
    assert r.exit_code == 2 and "limit 2 (recorded: 1)" in r.output
    assert (out / "per_image.csv").read_text() == before


def test_help_on_every_command():
    for cmd in ([], ["run"], ["report"], ["data"], ["weights"], ["metrics"], ["perf"], ["suites"],
                ["models"], ["status"], ["settings"]):
        r = runner.invoke(app, [*cmd, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output, (cmd, r.output)




@pytest.mark.shared
def test_absent_dataset_is_skipped_with_reason_and_run_goes_on(tmp_path, shared_data, no_weights):
    root = tmp_path / "data"
    root.mkdir()
    (root / "DRIVE").symlink_to(shared_data / "DRIVE")  # only DRIVE present
    out = tmp_path / "run"
    r = bench("run", "--suite", "aghelan", "--data-root", root, "--limit", "1", "--models",
              "bicubic", "--out", out, "-q")
    assert r.exit_code == 0, r.output
    assert "aghelan/chestxray14[test]: skipped" in r.output
    meta = json.loads((out / "run.json").read_text())
    cxr = meta["datasets"]["chestxray14"]
    assert cxr["status"] == "skipped" and "NIH_ChestXray14" in cxr["reason"]
    assert cxr["how_to_get"]
    df = read_per_image(out / "per_image.csv")
    assert set(df.dataset) == {"drive"}
    html = tmp_path / "r.html"
    assert bench("report", "--run", out, "--out", html).exit_code == 0
    assert "Dataset skipped" in html.read_text()


@pytest.mark.shared
def test_bad_input_file_is_skipped_and_listed_or_stops_with_strict(tmp_path, shared_data, no_weights):
    root = tmp_path / "data"
    for split in ("training", "test"):
        d = root / "DRIVE" / split / "images"
        d.mkdir(parents=True)
        for f in sorted((shared_data / "DRIVE" / split / "images").glob("*.tif")):
            (d / f.name).symlink_to(f)
    bad = root / "DRIVE" / "test" / "images" / "05_test.tif"
    data = bad.read_bytes()
    bad.unlink()
    bad.write_bytes(data[: len(data) // 3])  # truncated TIFF
    out = tmp_path / "run"
    args = ["run", "--suite", "aghelan", "--data-root", root, "--models", "nearest", "-q"]
    r = runner.invoke(app, [str(a) for a in (*args[:-1], "--out", out)])
    assert r.exit_code == 0, r.output
    assert "39 images evaluated, 1 files skipped" in r.output
    meta = json.loads((out / "run.json").read_text())
    files = meta["datasets"]["drive"]["skipped_files"]
    assert len(files) == 1 and "05_test.tif" in files[0]["reason"]
    df = read_per_image(out / "per_image.csv")
    assert len(df[df.dataset == "drive"]) == 39
    html = tmp_path / "r.html"
    assert bench("report", "--run", out, "--out", html).exit_code == 0
    assert "05_test.tif" in html.read_text()

    strict_out = tmp_path / "strict"
    r = runner.invoke(app, [str(a) for a in (*args, "--out", strict_out, "--strict")])
    assert r.exit_code == 1 and "drive[all]: error" in r.output and "05_test.tif" in r.output


def test_run_reuses_the_set_bench_data_prepare_wrote(tmp_path, no_weights, monkeypatch):
    cache = tmp_path / "prepared"
    r = bench("data", "prepare", "--dataset", "demo-ct", "--limit", "1")
    assert r.exit_code == 0, r.output
    manifests = sorted(cache.rglob("manifest.csv"))
    assert len(manifests) == 1
    stamp = manifests[0].stat().st_mtime_ns
    args = ["run", "--suite", "demo", "--limit", "1", "--models", "bicubic", "-q"]
    assert bench(*args, "--out", tmp_path / "cached").exit_code == 0
    assert manifests[0].stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert bench(*args, "--out", tmp_path / "fly", "--no-prepared-cache").exit_code == 0
    a = (tmp_path / "cached" / "per_image.csv").read_bytes()
    assert a == (tmp_path / "fly" / "per_image.csv").read_bytes()


def test_a_failing_model_gives_error_rows_once_and_is_retried_on_resume(tmp_path, no_weights,
                                                                          monkeypatch):
    out = tmp_path / "run"
    args = ["run", "--suite", "demo", "--limit", "2", "--models", "bilinear", "--batch-size", "1",
            "-q", "--workers", "1", "--out", out]
    import medsr_bench.benchmark.execute as ex

    class Broken:
        diagnostics: dict = {}
        calls = 0

        def info(self):
            return {}

        def upscale(self, lr, scale):
            Broken.calls += 1
            if Broken.calls == 2:
                raise RuntimeError("boom")
            from medsr_bench.models import load_model

            return load_model("bilinear").upscale(lr, scale)

    monkeypatch.setattr(ex, "get_model", lambda name, options, ctx: (Broken(), None))
    r = invoke(*args)  # a model that errored: said on the console, exit 1
    assert r.exit_code == 1 and "model bilinear failed: RuntimeError: boom" in r.output, r.output
    df = read_per_image(out / "per_image.csv")
    assert not df.duplicated(list(KEY)).any()
    assert (df.status == "error").sum() == 1 and "boom" in df[df.status == "error"].note.iloc[0]
    monkeypatch.undo()
    monkeypatch.setenv("BENCH_WEIGHTS", str(no_weights))
    monkeypatch.setenv("BENCH_PREPARED", str(tmp_path / "prepared"))
    assert bench(*args).exit_code == 0  # the incomplete part is recomputed
    df = read_per_image(out / "per_image.csv")
    assert (df.status == "ok").all() and not df.duplicated(list(KEY)).any()
