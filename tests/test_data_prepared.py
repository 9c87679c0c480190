"""Prepared-set cache: lossless storage, reuse, invalidation, determinism; the ``bench data`` CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from data_fixtures import (
    make_brats_tree,
    rng_image,
    snapshot,
    textured,
    write_dicom,
    write_png,
    write_tiff,
)
from typer.testing import CliRunner

from medsr_bench.cli.data import data_app
from medsr_bench.data_prep import DataError, get_protocol
from medsr_bench.data_prep.manifest import COLUMNS, MANIFEST_CSV, MANIFEST_JSON
from medsr_bench.data_prep.prepared import iter_samples, set_dir
from medsr_bench.data_prep.protocols.brats2018 import BratsParams
from medsr_bench.data_prep.protocols.chestxray14 import ChestXray14Params
from medsr_bench.data_prep.protocols.cptac_gbm import CptacParams
from medsr_bench.data_prep.protocols.drive import DriveParams

DRIVE = DriveParams(expected_hw=(36, 30), hr_hw=(32, 32))
CXR = ChestXray14Params(expected_hw=(32, 32), n_images=3)
BRATS = BratsParams(expected_shape=(24, 24, 10), hr_hw=(32, 32))
CT = CptacParams(hw=(32, 32), keep_fraction=0.5)


def make_all(root):
    for i in range(2):
        write_tiff(root / "DRIVE" / "test" / "images" / f"0{i}_test.tif", rng_image((36, 30, 3), i))
    d = root / "NIH_ChestXray14" / "images"
    for i in range(4):
        write_png(d / f"0000000{i}_000.png", rng_image((32, 32), i))
    write_png(d / "00000009_000.png", rng_image((32, 32), 9, np.uint16, 65535))  # a 16-bit PNG
    make_brats_tree(root, {"HGG": ["H1", "H2", "H3", "H4"], "LGG": ["L1"]})
    for i in range(6):
        write_dicom(root / "CPTAC-GBM" / "a" / f"{i}.dcm", textured((32, 32), seed=i, frac=0.2 + 0.1 * i))
    return root


@pytest.fixture()
def data(tmp_path):
    return make_all(tmp_path / "data")


PROTOS = [("drive", DRIVE), ("chestxray14", CXR), ("brats2018", BRATS), ("cptac-gbm", CT)]


@pytest.mark.parametrize("name,params", PROTOS)
def test_cache_roundtrip_is_bit_exact_and_reused(data, tmp_path, monkeypatch, name, params):
    cache = tmp_path / "cache"
    p = get_protocol(name, params)
    fresh = list(p.samples(data, split="all"))
    built = list(iter_samples(p, data, "all", cache_dir=cache))
    folder = set_dir(cache, p, "all", None)
    assert (folder / MANIFEST_CSV).is_file() and (folder / MANIFEST_JSON).is_file()
    monkeypatch.setattr(type(p), "samples", lambda *a, **k: (_ for _ in ()).throw(AssertionError("rebuilt")))
    reused = list(iter_samples(p, data, "all", cache_dir=cache))
    assert len(fresh) == len(built) == len(reused) > 0
    for a, b in zip(fresh, reused, strict=True):
        assert a.meta == b.meta
        assert np.array_equal(a.hr, b.hr) and np.array_equal(a.lr, b.lr)
        assert a.hr.dtype == b.hr.dtype == np.float32


def test_manifest_contents(data, tmp_path):
    cache = tmp_path / "cache"
    p = get_protocol("chestxray14", CXR)
    list(iter_samples(p, data, "all", cache_dir=cache))
    folder = set_dir(cache, p, "all", None)
    rows = list(csv.DictReader(open(folder / MANIFEST_CSV)))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 3
    meta = json.loads((folder / MANIFEST_JSON).read_text())
    assert meta["params"] == p.params_dict() and meta["params_hash"] == p.params_hash()
    assert meta["counts"] == {"test": 3} and meta["n_skipped"] == 0 and meta["complete"] is True
    for r in rows:
        assert r["params_hash"] == p.params_hash() and r["hr_shape"] == "32x32" and r["lr_shape"] == "8x8"
        assert (folder / r["hr_file"]).is_file() and r["source"].startswith("NIH_ChestXray14/images/")
        assert float(r["hr_min"]) >= 0 and float(r["hr_max"]) <= 1
    sixteen = [r for r in rows if r["image_id"] == "00000009_000"]
    if sixteen:
        assert sixteen[0]["stored_dtype"] == "uint16" and sixteen[0]["bit_depth"] == "16"


def test_storage_formats(data, tmp_path):
    cache = tmp_path / "cache"
    p = get_protocol("chestxray14", ChestXray14Params(expected_hw=(32, 32), n_images=10))
    list(iter_samples(p, data, "all", cache_dir=cache))
    rows = {r["image_id"]: r for r in csv.DictReader(open(set_dir(cache, p, "all", None) / MANIFEST_CSV))}
    assert rows["00000009_000"]["stored_dtype"] == "uint16" and rows["00000009_000"]["hr_file"].endswith(".png")
    assert rows["00000000_000"]["stored_dtype"] == "uint8"
    b = get_protocol("brats2018", BRATS)
    list(iter_samples(b, data, "all", cache_dir=cache))
    brow = next(csv.DictReader(open(set_dir(cache, b, "all", None) / MANIFEST_CSV)))
    assert brow["hr_file"].endswith(".npy") and brow["stored_dtype"] == "float32" and brow["bit_depth"] == ""


def test_prepared_files_are_byte_identical(data, tmp_path):
    for name, params in PROTOS:
        p = get_protocol(name, params)
        list(iter_samples(p, data, "all", cache_dir=tmp_path / "a"))
        list(iter_samples(p, data, "all", cache_dir=tmp_path / "b", rebuild=True))
    a, b = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    assert a == b and len(a) > 20


def test_params_and_inputs_invalidate(data, tmp_path):
    cache = tmp_path / "cache"
    p = get_protocol("drive", DRIVE)
    list(iter_samples(p, data, "all", cache_dir=cache))
    q = get_protocol("drive", DriveParams(expected_hw=(36, 30), hr_hw=(32, 32), blur_sigma=2.0))
    list(iter_samples(q, data, "all", cache_dir=cache))
    assert set_dir(cache, p, "all", None).exists() and set_dir(cache, q, "all", None).exists()
    assert set_dir(cache, p, "all", None).parent != set_dir(cache, q, "all", None).parent
    write_tiff(data / "DRIVE" / "training" / "images" / "21_training.tif", rng_image((36, 30, 3), 21))
    assert len(list(iter_samples(p, data, "all", cache_dir=cache))) == 3  # input changed: rebuilt


def test_split_and_limit_selections(data, tmp_path):
    cache = tmp_path / "cache"
    p = get_protocol("brats2018", BRATS)
    all_ = list(iter_samples(p, data, "all", cache_dir=cache))
    test = list(iter_samples(p, data, cache_dir=cache))  # evaluation split, served from the 'all' set
    assert not set_dir(cache, p, "test", None).exists()
    assert [s.meta.image_id for s in test] == [s.meta.image_id for s in all_ if s.meta.split == "test"]
    lim = list(iter_samples(p, data, limit=3, cache_dir=cache))
    assert len(lim) == 3 and set_dir(cache, p, "test", 3).exists()
    assert [s.meta.image_id for s in lim] == [s.meta.image_id for s in p.samples(data, limit=3)]


# ---------------------------------------------------------------- CLI
runner = CliRunner()


def test_cli_prepare_and_info(tmp_path):
    out = tmp_path / "prep"
    r = runner.invoke(data_app, ["prepare", "--dataset", "demo-ct", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "demo-ct: demo-ct ->" in r.output and "samples per split: test 2; skipped files: 0" in r.output
    assert "excluded by the protocol (1): multi-frame DICOM (2 frames)" in r.output
    r = runner.invoke(data_app, ["info", "--dataset", "demo-ct", "--dataset", "drive", "--out", str(out),
                                 "--data-root", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "prepared all: test 2; skipped 0" in r.output
    assert "drive: " in r.output and "missing:" in r.output and "drive.grand-challenge.org" in r.output


def test_cli_prepare_missing_and_unknown(tmp_path):
    r = runner.invoke(data_app, ["prepare", "-d", "drive", "--data-root", str(tmp_path), "--out", str(tmp_path / "p")])
    assert r.exit_code == 0 and "skipped drive:" in r.output and "dataset folder not found" in r.output
    r = runner.invoke(data_app, ["prepare", "-d", "drive", "--strict", "--data-root", str(tmp_path),
                                 "--out", str(tmp_path / "p")])
    assert r.exit_code == 2 and "dataset folder not found" in r.output
    r = runner.invoke(data_app, ["prepare", "-d", "nope"])
    assert r.exit_code == 2 and "error: unknown dataset 'nope'; known: brats2018" in r.output
    r = runner.invoke(data_app, ["prepare"])
    assert r.exit_code == 2 and "give --suite NAME or --dataset NAME" in r.output


def test_cli_strict_fails_and_keeps_the_prepared_set(tmp_path):
    root = tmp_path / "data"
    d = root / "DRIVE" / "test" / "images"
    for i in range(2):
        write_tiff(d / f"0{i}_test.tif", rng_image((584, 565, 3), i))
    out = tmp_path / "prep"
    args = ["prepare", "-d", "drive", "--data-root", str(root), "--out", str(out)]
    assert runner.invoke(data_app, args).exit_code == 0
    before = snapshot(out)
    write_tiff(d / "09_test.tif", rng_image((100, 100, 3), 9))
    r = runner.invoke(data_app, [*args, "--strict"])
    assert r.exit_code == 2
    assert "09_test.tif: image of size 100x100 (WxH) (expected 565x584 (WxH))" in r.output
    assert snapshot(out) == before
    r = runner.invoke(data_app, args)
    assert r.exit_code == 0 and "samples per split: all 2; skipped files: 1" in r.output
    assert "skipped: DRIVE/test/images/09_test.tif: image of size 100x100" in r.output


def test_cli_suite_uses_benchmark_suites(tmp_path):
    pytest.importorskip("medsr_bench.benchmark.suites")
    r = runner.invoke(data_app, ["prepare", "--suite", "nope", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "unknown suite" in r.output



def test_strict_fails_on_a_set_built_leniently(tmp_path):
    """A prepared set that skipped a bad file must not let a later --strict run pass."""
    root, cache = tmp_path / "data", tmp_path / "prepared"
    d = root / "NIH_ChestXray14" / "images"
    for i in range(3):
        write_png(d / f"0000000{i}_000.png", rng_image((32, 32), i))
    (d / "00000009_000.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    proto = get_protocol("chestxray14", ChestXray14Params(expected_hw=(32, 32), n_images=4))
    skipped: list = []
    assert len(list(iter_samples(proto, root, "all", cache_dir=cache, skipped=skipped))) == 3
    assert len(skipped) == 1
    with pytest.raises(DataError, match=r"00000009_000.png.*--strict"):
        list(iter_samples(proto, root, "all", cache_dir=cache, strict=True))
