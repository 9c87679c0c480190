"""End-to-end: `bench run` + `bench report` on the embedded default and on real data; resume;
one-line errors for bad options."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from medsr_bench.benchmark.cli import app
from medsr_bench.benchmark.results_io import KEY, read_per_image

runner = CliRunner()


def bench(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


def finite(df, model, metrics=("psnr", "ssim", "mse", "nrmse", "mae", "vif")):
    sel = df[df.model == model]
    assert len(sel) and (sel.status == "ok").all(), sel[["dataset", "status", "note"]]
    vals = sel[list(metrics)].to_numpy(dtype=float)
    assert np.isfinite(vals).all()
    return sel


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    d = tmp_path / "empty-weights"
    d.mkdir()
    monkeypatch.setenv("BENCH_WEIGHTS", str(d))
    monkeypatch.setenv("BENCH_PREPARED", str(tmp_path / "prepared"))
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    return d


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
    df = read_per_image(path).drop(columns=["seconds"])
    return df.sort_values(list(KEY)).reset_index(drop=True)


def test_resume_after_interrupt_gives_same_tables(tmp_path, no_weights, monkeypatch):
    args = ["run", "--suite", "demo", "--limit", "2", "--models", "bilinear,lanczos,esrgan", "-q"]
    ref = tmp_path / "ref"
    assert bench(*args, "--out", ref).exit_code == 0

    import medsr_bench.benchmark.results_io as rio

    calls = {"n": 0}
    orig = rio.PerImageTable.append

    def flaky(self, rows):
        calls["n"] += 1
        if calls["n"] == 4:
            # killed in the middle of writing a row
            with open(self.path, "a") as f:
                f.write("demo,demo-cxr,half")
            raise KeyboardInterrupt
        return orig(self, rows)

    out = tmp_path / "resumed"
    monkeypatch.setattr(rio.PerImageTable, "append", flaky)
    r = runner.invoke(app, [*args, "--out", str(out)])
    assert r.exit_code != 0  # click reports the interrupt as "Aborted!"
    assert '"status": "interrupted"' in (out / "run.json").read_text()
    monkeypatch.setattr(rio.PerImageTable, "append", orig)
    partial = read_per_image(out / "per_image.csv")
    assert 0 < (partial.status == "ok").sum() < (_table(ref / "per_image.csv").status == "ok").sum()

    assert bench(*args, "--out", out).exit_code == 0
    a, b = _table(ref / "per_image.csv"), _table(out / "per_image.csv")
    assert not b.duplicated(list(KEY)).any()
    pd.testing.assert_frame_equal(a, b)
    # a third run finds everything done and changes nothing; the report still renders
    assert bench(*args, "--out", out).exit_code == 0
    pd.testing.assert_frame_equal(a, _table(out / "per_image.csv"))
    assert bench("report", "--run", out, "--out", tmp_path / "r.html").exit_code == 0
    assert "missing-weights" in (tmp_path / "r.html").read_text()
    s_ref = pd.read_csv(ref / "summary.csv")
    s_out = pd.read_csv(out / "summary.csv")
    pd.testing.assert_frame_equal(s_ref, s_out)


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
    assert r.exit_code == 2 and "--limit" in r.output
    assert (out / "per_image.csv").read_text() == before


def test_help_on_every_command():
    for cmd in ([], ["run"], ["report"], ["data"], ["weights"], ["metrics"], ["perf"], ["suites"],
                ["models"]):
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
    assert "skipped datasets (absent): chestxray14" in r.output
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
    r = bench(*args, "--out", out)
    assert r.exit_code == 0, r.output
    assert "1 unreadable input file(s) skipped" in r.output
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
    assert r.exit_code == 1 and "dataset drive stopped" in r.output and "05_test.tif" in r.output


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
    a = read_per_image(tmp_path / "cached" / "per_image.csv").drop(columns=["seconds"])
    b = read_per_image(tmp_path / "fly" / "per_image.csv").drop(columns=["seconds"])
    pd.testing.assert_frame_equal(a, b)


def test_model_failing_on_a_partly_finished_batch_adds_no_duplicate_rows(tmp_path, no_weights,
                                                                         monkeypatch):
    out = tmp_path / "run"
    args = ["run", "--suite", "demo", "--limit", "2", "--models", "bilinear", "--batch-size", "2",
            "-q", "--out", out]
    assert bench(*args).exit_code == 0
    path = out / "per_image.csv"
    lines = path.read_text().splitlines()
    dropped = next(i for i, ln in enumerate(lines) if ",demo-retina," in ln and i > 1)
    path.write_text("\n".join(lines[:dropped] + lines[dropped + 1:]) + "\n")  # one image undone

    import medsr_bench.benchmark.runner as runner_mod

    class Broken:
        diagnostics: dict = {}

        def upscale(self, lr, scale):
            raise RuntimeError("boom")

    monkeypatch.setattr(runner_mod._ModelCache, "get", lambda self, name: Broken())
    assert bench(*args).exit_code == 0
    df = read_per_image(path)
    assert not df.duplicated(list(KEY)).any()
    retina = df[df.dataset == "demo-retina"].set_index("image_id").status
    assert sorted(retina) == ["error", "ok"]
