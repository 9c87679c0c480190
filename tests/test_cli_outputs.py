"""What the console commands show: ``bench status`` (stand-ins named), ``bench models`` /
``bench weights list`` (header, weights state), ``bench settings`` (full text, per-suite
defaults) and ``bench run --save-sr``."""

from __future__ import annotations

import json

from cli_helpers import invoke as bench
from cli_helpers import runner

from medsr_bench.benchmark.rundir import write_plan
from medsr_bench.benchmark.tasks import Plan
from medsr_bench.cli import app
from medsr_bench.core import sha256_file
from medsr_bench.models.registry import resolve_weights

STANDIN = {"suite": "beallor", "protocol": "cptac-gbm", "split": "val", "dataset": "ct-head-standin",
           "stand_in_for": "CPTAC-GBM", "note": "this is NOT CPTAC-GBM", "params": {"hw": [32, 32]}}
TASK = {"key": "k1", "protocol": "cptac-gbm", "split": "val", "shard": [0, 1], "model": "nearest",
        "n_images": 1, "n_rows": 1, "plan_status": ""}


def test_status_names_the_stand_in_from_the_plan_and_from_run_json(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_plan(run, Plan(variants={"v1": STANDIN}))
    plan = json.loads((run / "plan.json").read_text())
    assert plan["variants"]["v1"]["dataset"] == "ct-head-standin" and "params" not in plan["variants"]["v1"]
    plan["tasks"] = [TASK]  # a task not yet run: pending, before any run.json exists
    (run / "plan.json").write_text(json.dumps(plan))
    r = bench("status", run)
    assert r.exit_code == 0, r.output
    assert "cptac-gbm[val] on ct-head-standin (stand-in)" in r.output
    assert "stand-in: cptac-gbm: scored on ct-head-standin, which stands in for CPTAC-GBM" in r.output
    # a plan.json written before it recorded variants: run.json's entries name it
    (run / "plan.json").write_text(json.dumps({"tasks": [{**TASK, "plan_status": ""}]}))
    (run / "run.json").write_text(json.dumps({"variants": {"v1": STANDIN}}))
    assert "cptac-gbm[val] on ct-head-standin (stand-in)" in bench("status", run).output
    # not a stand-in: the protocol alone
    (run / "run.json").write_text(json.dumps({"variants": {"v1": {**STANDIN, "stand_in_for": None,
                                                                  "dataset": "cptac-gbm"}}}))
    r = bench("status", run)
    assert "cptac-gbm[val]  " in r.output and "stand-in" not in r.output


def _line(output: str, name: str) -> str:
    return next(x for x in output.splitlines() if x.split()[:1] == [name])


def test_models_and_weights_list_show_the_file_bench_run_reads(tmp_path):
    """A converted ncnn file (record beside it) and a `bench train` checkpoint are what `bench run`
    loads (models.registry.resolve_weights): both listings show them, verified, with the source."""
    w = tmp_path / "w"
    (w / "trained").mkdir(parents=True)
    conv = w / "RealESRGAN_x4plus.ncnn-fp16.pth"
    conv.write_bytes(b"converted")
    (w / "RealESRGAN_x4plus.ncnn-fp16.json").write_text(json.dumps(
        {"version": 1, "model": "realesrgan-x4plus", "file": conv.name, "sha256": sha256_file(conv)}))
    (w / "trained" / "srresnet_p4_x4.pth").write_bytes(b"trained")
    (w / "trained" / "srresnet.json").write_text(json.dumps(
        {"row": "srresnet", "base_row": "srresnet", "file": "srresnet_p4_x4.pth", "recipe": "beallor-srresnet",
         "dataset": "cptac-gbm", "sha256": sha256_file(w / "trained" / "srresnet_p4_x4.pth")}))
    (w / "netG_epoch_4_100.pth").write_bytes(b"not the published file")
    assert resolve_weights("realesrgan-x4plus", w).path == conv  # what bench run plans with
    r = bench("models", "--weights-dir", w)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[1].split() == ["name", "scale", "family", "weights", "source", "file",
                                                "obtain"]
    line = _line(r.output, "realesrgan-x4plus")
    assert "verified" in line and "ncnn release, fp16-truncated" in line and conv.name in line
    assert "fetch" not in line
    line = _line(r.output, "srresnet")
    assert "verified" in line and "project-trained" in line and "srresnet_p4_x4.pth" in line
    assert _line(r.output, "bicubic").split()[1:] == ["x*", "interpolation", "-", "-", "-"]
    line = _line(r.output, "srgan-leftthomas-x4")
    assert "SHA256-MISMATCH" in line and "bench weights fetch srgan-leftthomas-x4" in line
    line = _line(r.output, "realesrgan-x2plus")
    assert "missing" in line and "bench weights fetch realesrgan-x2plus" in line
    # BENCH_WEIGHTS is the default, as for bench run
    r2 = runner.invoke(app, ["models"], env={"BENCH_WEIGHTS": str(w)})
    assert "verified" in _line(r2.output, "realesrgan-x4plus")
    r = bench("weights", "list", "--weights-dir", w)
    assert r.exit_code == 0, r.output
    line = _line(r.output, "realesrgan-x4plus")
    assert "verified" in line and "ncnn release, fp16-truncated" in line and "fetch" not in line
    assert "present" in _line(bench("weights", "list", "--no-check", "--weights-dir", w).output,
                              "realesrgan-x4plus")
    conv.write_bytes(b"changed since conversion")
    line = _line(bench("models", "--weights-dir", w).output, "realesrgan-x4plus")
    assert "SHA256-MISMATCH" in line and "bench weights fetch realesrgan-x4plus" in line


def test_settings_full_plain_text_wrapped_with_per_suite_defaults():
    from medsr_bench.benchmark.settings import setting_infos

    infos = setting_infos()
    assert all(i.doc for i in infos.values()), [k for k, i in infos.items() if not i.doc]
    assert infos["drive.blur_sigma"].doc.startswith("Gaussian sigma in LR pixels")  # a base's field
    assert infos["cptac-gbm.window_width"].doc.startswith("the window used with")  # "a, b: ..."
    r = runner.invoke(app, ["settings"], env={"COLUMNS": "72"})
    assert r.exit_code == 0, r.output
    assert "``" not in r.output and ":func:" not in r.output and ":data:" not in r.output
    assert all(len(x) <= 72 for x in r.output.splitlines() if x.startswith("    "))
    text = " ".join(r.output.split())
    assert infos["metric.data_range"].doc in text  # whole, not cut
    assert "in to_metric_domain, round to the integer grid" in text
    assert "metric.data_range = 255.0 [float]" in text and "per suite: rashid = 1.0" in text
    r = bench("settings", "metric", "--suite", "rashid")
    assert r.exit_code == 0, r.output
    assert "metric.data_range = 1.0  [float]  (default 255.0)" in r.output
    assert "metric.crop_border = 0  [int]\n" in r.output
    r = bench("settings", "--suite", "rashid")
    assert "brats2018." in r.output and "drive." not in r.output
    r = bench("settings", "--suite", "rashd")
    assert r.exit_code == 2 and "did you mean 'rashid'?" in r.output


def test_save_sr_png_values_and_layout():
    import cv2
    import numpy as np

    from medsr_bench.benchmark.metrics import MetricSettings
    from medsr_bench.benchmark.save_sr import sr_png, variant_dirs

    x = np.array([[0.0, 0.5, 1.0], [0.25, 0.75, 2.0]], np.float32)
    a = cv2.imdecode(np.frombuffer(sr_png(x, MetricSettings()), np.uint8), cv2.IMREAD_UNCHANGED)
    assert a.dtype == np.uint8 and a.tolist() == [[0, 128, 255], [64, 191, 255]]  # the 8-bit values
    b = cv2.imdecode(np.frombuffer(sr_png(x, MetricSettings(data_range=1.0, quantize=False)), np.uint8),
                     cv2.IMREAD_UNCHANGED)
    assert b.dtype == np.uint16 and b.tolist() == [[0, 32768, 65535], [16384, 49151, 65535]]
    c = cv2.imdecode(np.frombuffer(sr_png(x, MetricSettings(data_range=4095)), np.uint8),
                     cv2.IMREAD_UNCHANGED)
    assert c.dtype == np.uint16 and c.tolist() == [[0, 2048, 4095], [1024, 3071, 4095]]
    rgb = np.zeros((2, 2, 3), np.float32)
    rgb[..., 0] = 1.0  # red stays red (OpenCV writes BGR)
    d = cv2.imdecode(np.frombuffer(sr_png(rgb, MetricSettings(channel="rgb")), np.uint8),
                     cv2.IMREAD_UNCHANGED)
    assert d[..., 2].min() == 255 and d[..., :2].max() == 0
    v = {"a": {"dataset": "drive", "suite": "aghelan", "split": "test", "label": ""},
         "b": {"dataset": "ct-head-standin", "suite": "beallor", "split": "val", "label": ""},
         "c": {"dataset": "ct-head-standin", "suite": "beallor", "split": "test",
               "label": "cptac-gbm.hw=(32, 32)"},
         "d": {"status": "skipped"}}
    assert variant_dirs(v) == {"a": "drive", "b": "ct-head-standin/beallor-val",
                               "c": "ct-head-standin/beallor-test-cptac-gbm.hw=_32,_32_"}


def test_run_save_sr_writes_every_sr_output_from_the_workers(bench_env, monkeypatch):
    import cv2
    import numpy as np
    import pandas as pd

    monkeypatch.chdir(bench_env)
    out, sr = bench_env / "run", bench_env / "sr"
    args = ["run", "--suite", "demo", "--models", "bilinear", "--limit", "1", "--out", out, "-q"]
    r = bench(*args, "--workers", "2", "--save-sr", sr)
    assert r.exit_code == 0, r.output
    rows = pd.read_csv(out / "per_image.csv")
    assert len(rows) == 4
    meta = json.loads((out / "run.json").read_text())
    assert meta["save_sr"]["dir"] == str(sr.resolve()) and "uint16" in meta["save_sr"]["encoding"]
    assert "save_sr" not in json.dumps(meta["config"])  # not part of the identity
    for row in rows.itertuples():
        png = sr / row.dataset / "bilinear" / f"{row.image_id}.png"
        img = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        hr16 = cv2.imread(str(next((out / "samples").glob(f"{row.dataset}-*/{row.image_id}/hr.png"))),
                          cv2.IMREAD_UNCHANGED)
        assert img.shape == hr16.shape
        if row.dataset == "demo-brain":  # float domain, data_range 1: uint16 / 65535
            assert img.dtype == np.uint16
            srd, hrd, peak = img / 65535.0, hr16 / 65535.0, 1.0
            tol = 0.01
        else:  # 8-bit protocols: the uint8 values the metrics scored
            assert img.dtype == np.uint8
            srd, hrd, peak = img.astype(float), np.round(hr16 / 65535 * 255), 255.0
            tol = 1e-6
        psnr = 10 * np.log10(peak ** 2 / np.mean((srd - hrd) ** 2))
        assert abs(psnr - row.psnr) < tol, (row.dataset, psnr, row.psnr)
    before = (out / "per_image.csv").read_bytes()
    r = bench(*args, "--workers", "1")  # same identity without --save-sr: nothing to recompute
    assert r.exit_code == 0, r.output
    assert (out / "per_image.csv").read_bytes() == before
    # tasks whose images were not all saved (no marker) run again; the tables do not change
    pngs = sorted(sr.rglob("*.png"))
    markers = sorted((sr / ".medsr-tasks").iterdir())
    assert len(pngs) == 4 and len(markers) == 4
    for p in (*pngs, *markers):
        p.unlink()
    r = bench(*args, "--workers", "1", "--save-sr", sr)
    assert r.exit_code == 0, r.output
    assert sorted(sr.rglob("*.png")) == pngs and all(m.exists() for m in markers)
    assert (out / "per_image.csv").read_bytes() == before
