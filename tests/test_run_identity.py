"""Run identity (issue 11): settings, variants, refused/added configurations, the run-dir lock,
executors (real local Ray cluster, submitit's local executor), fault retry, run health and small
datasets. Runs start from the Python API (``medsr_bench.evaluate``) where the test is about the run;
through the CLI where it is about what ``bench`` says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import bench, runner

from medsr_bench import evaluate
from medsr_bench.benchmark.results_io import KEY, read_per_image
from medsr_bench.benchmark.run_config import RunError
from medsr_bench.cli import app

DEMO = ["run", "--suite", "demo", "--limit", "2", "--models", "bilinear,bicubic,esrgan", "-q"]
DEMO_API = dict(suite="demo", limit=2, models=["bilinear", "bicubic", "esrgan"], quiet=True)






def tables(out: Path) -> tuple[bytes, bytes]:
    return (out / "per_image.csv").read_bytes(), (out / "summary.csv").read_bytes()


@pytest.fixture
def local_ref(bench_env):
    out = bench_env / "local"
    assert evaluate(**DEMO_API, shard_size=1, out=out).exit_code == 0
    return out


# ---------------------------------------------------------------- settings
def test_every_protocol_field_is_settable_and_changes_the_prepared_hash():
    from medsr_bench.benchmark import settings as st
    from medsr_bench.data_prep import get_protocol, list_protocols

    infos = st.setting_infos()
    for name in list_protocols():
        default_hash = get_protocol(name).params_hash()
        keys = [k for k, i in infos.items() if i.group == name]
        assert keys, name
        seed_key = next(k for k in keys if k.endswith(".seed"))
        over = st.validate_settings({seed_key: "12345"})
        params = st.protocol_params(name, over)
        assert get_protocol(name, params).params_hash() != default_hash, name
    assert {"metric.vif_rescale", "metric.crop_border", "model.gray", "model.tile"} <= set(infos)


@pytest.mark.parametrize("assignment, message", [
    ("drive.blur_sgma=1", "valid keys of drive: lr_resize, blur_sigma"),
    ("nothing.x=1", "the first part must be one of metric, model"),
    ("brats2018.normalisation=vol", "allowed: slice, volume"),
    ("metric.vif_rescale=maybe", "expected true or false"),
    ("model.gray=green", "gray must be one of average, luma"),
    ("drive.blur_sigma", "expected KEY=VALUE"),
])
def test_bad_settings_fail_with_one_line(assignment, message, bench_env):
    r = runner.invoke(app, ["run", "--suite", "demo", "--set", assignment, "--out", str(bench_env / "x")])
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert message in lines[0]
    assert not (bench_env / "x" / "run.json").exists()


def test_config_file_and_print_config(bench_env):
    cfg = bench_env / "run.toml"
    cfg.write_text('suite = "demo"\nmodels = ["bicubic"]\nlimit = 1\n\n[demo-brain]\n'
                   'normalisation = "volume"\n\n[metric]\nvif_rescale = false\n')
    r = bench("run", "--config", cfg, "--set", "model.gray=luma", "--print-config")
    assert r.exit_code == 0, r.output
    assert 'normalisation = "volume"  # set (default "slice")' in r.output
    assert "vif_rescale = false  # set" in r.output and 'gray = "luma"  # set' in r.output
    assert 'models = ["bicubic"]' in r.output and "limit = 1" in r.output
    out = bench_env / "cfgrun"
    assert bench("run", "--config", cfg, "--out", out, "-q").exit_code == 0
    meta = json.loads((out / "run.json").read_text())
    brain = [v for v in meta["variants"].values() if v["protocol"] == "demo-brain"]
    assert brain[0]["params"]["normalisation"] == "volume"
    assert brain[0]["metric_settings"]["vif_rescale"] is False
    assert meta["config"]["settings"] == {"metric.vif_rescale": False,
                                          "demo-brain.normalisation": "volume"}
    assert meta["config"]["resolved_settings"]["demo-retina.blur_sigma"] == 1.0
    assert "drive.blur_sigma" not in meta["config"]["resolved_settings"]  # groups of this run only


# ---------------------------------------------------------------- identity, --add, lock
def test_changed_configuration_is_refused_and_add_adds_variants(bench_env):
    out = bench_env / "run"
    base = dict(suite="demo", limit=1, models="bicubic", quiet=True, out=out)
    volume = {"demo-brain.normalisation": "volume"}
    assert evaluate(**base).exit_code == 0
    before = tables(out)
    for extra, what in ((dict(settings=volume), "demo-brain.normalisation=volume (recorded: default)"),
                        (dict(data_root=bench_env), "data_root"),
                        (dict(strict=True), "strict True (recorded: False)")):
        with pytest.raises(RunError) as e:
            evaluate(**base, **extra)
        assert what in str(e.value) and "--add" in str(e.value), e.value
        assert tables(out) == before
    assert evaluate(**base, settings=volume, add=True).exit_code == 0
    df = read_per_image(out / "per_image.csv")
    brain = df[df.dataset == "demo-brain"]
    assert brain.variant.nunique() == 2 and not df.duplicated(list(KEY)).any()
    assert len(df[df.dataset != "demo-brain"].variant.unique()) == 3  # shared, not doubled
    meta = json.loads((out / "run.json").read_text())
    assert len(meta["configs"]) == 2
    labels = {v["label"] for v in meta["variants"].values() if v["protocol"] == "demo-brain"}
    assert labels == {"", "demo-brain.normalisation=volume"}
    # either configuration resumes without --add and changes nothing
    after = tables(out)
    assert evaluate(**base).exit_code == 0 and tables(out) == after


def test_a_second_writer_is_refused_with_the_holder_named(bench_env):
    from medsr_bench.benchmark.rundir import RunDirLock

    out = bench_env / "run"
    with RunDirLock(out):
        r = runner.invoke(app, [*DEMO, "--out", str(out)])
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "is in use by pid" in lines[0]
    assert str(os.getpid()) in lines[0]


def test_two_processes_on_one_out_one_runs_one_stops(bench_env):
    out = bench_env / "run"
    cmd = [sys.executable, "-m", "medsr_bench", *DEMO[:-1], "--out", str(out)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not (out / ".lock.json").exists() and time.time() - t0 < 60:
        time.sleep(0.05)
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    o1, e1 = first.communicate(timeout=300)
    assert first.returncode == 0, e1
    assert second.returncode == 2 and "is in use by pid" in second.stderr
    assert second.stderr.strip().count("\n") == 0
    df = read_per_image(out / "per_image.csv")
    assert not df.duplicated(list(KEY)).any() and len(df) == 3 * 4 * 2


def test_stale_lock_of_a_killed_run_is_detected(bench_env):
    out = bench_env / "run"
    out.mkdir()
    (out / ".lock.json").write_text(json.dumps({"pid": 999999, "host": os.uname().nodename,
                                                "command": "bench run", "since": "then"}))
    r = runner.invoke(app, [*DEMO[:-1], "--models", "bicubic", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "left by a killed run (pid 999999)" in r.output


# ---------------------------------------------------------------- executors
def test_ray_cluster_gives_byte_identical_tables_and_retries_a_failed_shard(bench_env, local_ref,
                                                                            monkeypatch):
    pytest.importorskip("ray")
    marker = bench_env / "failed-once"
    monkeypatch.setenv("MEDSR_BENCH_FAIL_ONCE", f"demo-cxr:0@{marker}")
    out = bench_env / "ray"
    assert evaluate(**DEMO_API, shard_size=1, executor="ray", workers=2, out=out).exit_code == 0
    assert marker.exists()  # the shard failed once and was retried by Ray
    assert tables(out) == tables(local_ref)
    assert not list((out / "parts").glob("*.failed"))


def test_submitit_local_executor_gives_byte_identical_tables(bench_env, local_ref):
    pytest.importorskip("submitit")
    out = bench_env / "slurm"
    res = evaluate(**DEMO_API, shard_size=1, executor="slurm", slurm_cluster="local", out=out)
    assert res.exit_code == 0
    assert tables(out) == tables(local_ref)


def test_local_executor_retries_and_reports_failures(bench_env, local_ref, monkeypatch):
    marker = bench_env / "failed-once"
    monkeypatch.setenv("MEDSR_BENCH_FAIL_ONCE", f"demo-ct:1@{marker}")
    out = bench_env / "retried"
    assert evaluate(**DEMO_API, shard_size=1, out=out).exit_code == 0
    assert marker.exists() and tables(out) == tables(local_ref)
    # no retries left: the shard fails, nothing partial is written, the run exits 1
    marker.unlink()
    out2 = bench_env / "failed"
    res = evaluate(**DEMO_API, shard_size=1, max_retries=0, out=out2)
    assert res.exit_code == 1 and res.status == "failed" and "task(s) failed" in res.incomplete_reason
    r = bench("status", out2)
    assert "1 failed, 0 pending" in r.output and "injected failure" in r.output
    r = bench(*DEMO, "--shard-size", "1", "--out", out2)  # resume completes, from the CLI too
    assert r.exit_code == 0, r.output
    assert tables(out2) == tables(local_ref)
    assert "0 failed, 0 pending" in bench("status", out2).output


def test_ray_missing_gives_the_install_line(bench_env, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray":
            raise ImportError("no ray")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    r = runner.invoke(app, [*DEMO, "--executor", "ray", "--out", str(bench_env / "x")])
    assert r.exit_code == 2 and "pip install -e '.[ray]'" in r.output


# ---------------------------------------------------------------- health and small datasets
def _brats_root(root: Path, cases: dict[str, str], blank: tuple[str, ...] = ()) -> Path:
    import nibabel as nib

    rng = np.random.default_rng(0)
    for case, grade in cases.items():
        d = root / "BraTS2018" / grade / case
        d.mkdir(parents=True)
        vol = np.zeros((240, 240, 155), np.int16)
        if case not in blank:
            vol[60:180, 50:190, 40:110] = rng.integers(100, 900, (120, 140, 70), dtype=np.int16)
        nib.save(nib.Nifti1Image(vol, np.eye(4)), str(d / f"{case}_t1.nii.gz"))
    return root


def test_a_few_brats_volumes_evaluate_at_least_one_slice(bench_env):
    root = _brats_root(bench_env / "data", {"C1": "HGG", "C2": "LGG"})
    res = evaluate(suite="rashid", data_root=root, models="bicubic", limit=2,
                   out=bench_env / "run")
    assert res.exit_code == 0
    (v,) = res.meta["variants"].values()
    assert v["n_evaluated"] >= 1 and "evaluated split gets at least one" in v["selection_rule"]


def test_nothing_evaluated_exits_1_with_the_reason(bench_env):
    root = _brats_root(bench_env / "data", {"C1": "HGG"})
    r = runner.invoke(app, ["run", "--suite", "rashid", "--data-root", str(root), "--models",
                            "bicubic", "--out", str(bench_env / "run")])
    assert r.exit_code == 1
    assert "rashid/brats2018[test]: empty - no image in split 'test'" in r.output
    assert "error: run incomplete: nothing was evaluated" in r.output


@pytest.mark.shared
def test_a_few_dicom_slices_evaluate_at_least_one(bench_env, shared_data):
    src = sorted(p for p in (shared_data / "CT_head_DICOM").rglob("*") if p.is_file()
                 and p.suffix.lower() in (".dcm", "") and p.name not in ("SHA256SUMS",))[:10]
    d = bench_env / "data" / "CT_head_DICOM"
    d.mkdir(parents=True)
    for i, p in enumerate(src):
        shutil.copy(p, d / f"s{i:02d}.dcm")
    r = bench("run", "--suite", "beallor", "--data-root", bench_env / "data", "--models", "bicubic",
              "--out", bench_env / "run")
    assert r.exit_code == 0, r.output
    assert "beallor/ct-head-standin[val]: empty - no image in split 'val' (counts: kept_after_p_d 2" \
        in r.output
    meta = json.loads((bench_env / "run" / "run.json").read_text())
    test = [v for v in meta["variants"].values() if v["split"] == "test"]
    assert test[0]["n_evaluated"] >= 1


def test_usage_errors_are_one_line_through_the_entry_point(bench_env):
    for args, msg in ((["run", "--limit", "0"], "--limit"), (["run", "--sett", "x"], "--sett"),
                      (["status"], "run_dir")):
        p = subprocess.run([sys.executable, "-m", "medsr_bench", *args], capture_output=True,
                           text=True, timeout=120)
        lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
        assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), p.stderr
        assert msg in lines[0]


@pytest.mark.shared
def test_limit_takes_nested_subsets(shared_data):
    from medsr_bench.data_prep import get_protocol

    for name in ("brats2018", "drive"):
        p = get_protocol(name)
        two = {s.meta.image_id for s in p.samples(shared_data, limit=2)}
        three = {s.meta.image_id for s in p.samples(shared_data, limit=3)}
        assert len(two) == 2 and len(three) == 3 and two <= three, name


# ---------------------------------------------------------------- user datasets and regions
def test_user_dataset_config_runs_end_to_end_and_bad_config_is_one_line(bench_env):
    import cv2
    import skimage.data

    imgs = bench_env / "lab" / "imgs"
    imgs.mkdir(parents=True)
    for n in ("camera", "moon", "coins"):
        cv2.imwrite(str(imgs / f"{n}.png"), getattr(skimage.data, n)())
    cfg = bench_env / "lab" / "my.toml"
    cfg.write_text('models = ["bicubic"]\n[datasets.lab-gray]\ntitle = "Lab photos"\n'
                   'images = "imgs/*.png"\n[datasets.lab-gray.intensity]\nhr_bits = 8\n'
                   '[datasets.lab-gray.split]\nrule = "all"\n'
                   '[datasets.lab-gray.metrics]\ndata_range = 255\n')
    out = bench_env / "run"
    r = bench("run", "--config", cfg, "--set", "custom-lab-gray.blur_sigma=1.0", "--out", out)
    assert r.exit_code == 0, r.output
    assert "custom/lab-gray[test] (custom-lab-gray.blur_sigma=1.0): 3 images evaluated" in r.output
    meta = json.loads((out / "run.json").read_text())
    (v,) = meta["variants"].values()
    assert v["suite"] == "custom" and v["params"]["blur_sigma"] == 1.0
    assert meta["suites"]["custom"]["title"].startswith("User datasets")
    assert bench("report", "--run", out, "--out", bench_env / "r.html").exit_code == 0
    assert "lab-gray" in (bench_env / "r.html").read_text()
    bad = bench_env / "lab" / "bad.toml"
    bad.write_text(cfg.read_text().replace("hr_bits = 8", "hr_bits = 7"))
    r = runner.invoke(app, ["run", "--config", str(bad), "--out", str(bench_env / "r2")])
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "hr_bits" in lines[0], r.output


@pytest.mark.shared
def test_region_metrics_are_columns_of_drive_and_brats(bench_env, shared_data):
    res = evaluate(suite="aghelan,rashid", data_root=shared_data, limit=1, models="bicubic",
                   out=bench_env / "run", quiet=True)
    assert res.exit_code == 0
    df = res.per_image()
    drive = df[df.dataset == "drive"].iloc[0]
    assert all(np.isfinite(drive[c]) for c in ("psnr@fov", "ssim@vessel", "ssim@thin_vessel"))
    brats = df[df.dataset == "brats2018"].iloc[0]
    assert np.isfinite(brats["ssim@brain"]) and np.isnan(drive["ssim@brain"])


def test_user_config_over_pngs_dicoms_and_a_nifti_runs_and_sweeps(bench_env):
    from test_custom_config import make_folder

    make_folder(bench_env / "lab")
    cfg = bench_env / "mixed.toml"
    cfg.write_text('models = ["bilinear", "bicubic"]\n[datasets.mixed]\nimages = "lab"\n'
                   '[datasets.mixed.geometry]\nhr_size = [32, 32]\n'
                   '[datasets.mixed.split]\nrule = "all"\n')
    out = bench_env / "run"
    r = bench("run", "--config", cfg, "--out", out)
    assert r.exit_code == 0, r.output
    df = read_per_image(out / "per_image.csv")
    ids = set(df.image_id)
    assert any("gray16" in i for i in ids) and any("s1" in i for i in ids)
    assert any(i.startswith("nii") or "v_" in i or "v.nii" in i or "_z" in i for i in ids), ids
    assert (df.status == "ok").all()
    sw = bench_env / "sweep"
    r = bench("sweep", "--config", cfg, "--grid", "custom-mixed.blur_sigma=0,1", "--out", sw)
    assert r.exit_code == 0, r.output
    md = (sw / "sweep.md").read_text()
    assert "No paper cell could be compared" in md and "| mixed | bicubic | psnr |" in md
