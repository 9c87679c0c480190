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
