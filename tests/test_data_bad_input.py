"""Bad input: each case gives one clear line naming the file, ``strict`` turns the skip into an
error, the manifest lists the skipped file, and nothing already prepared is corrupted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import (
    brain_volume,
    make_brats_tree,
    rng_image,
    snapshot,
    textured,
    truncate,
    write_dicom,
    write_nifti,
    write_png,
    write_ppm_gz,
    write_tiff,
)

from medsr_bench.data_prep import DataError, DatasetMissing, get_protocol
from medsr_bench.data_prep.manifest import MANIFEST_JSON
from medsr_bench.data_prep.prepared import iter_samples, set_dir
from medsr_bench.data_prep.protocols.brats2018 import BratsParams
from medsr_bench.data_prep.protocols.chestxray14 import ChestXray14Params
from medsr_bench.data_prep.protocols.cptac_gbm import CptacParams
from medsr_bench.data_prep.protocols.drive import DriveParams
from medsr_bench.data_prep.protocols.stare import StareParams

CXR = ("chestxray14", ChestXray14Params(expected_hw=(32, 32), n_images=10))
BRATS = ("brats2018", BratsParams(expected_shape=(24, 24, 10), hr_hw=(32, 32)))
CT = ("cptac-gbm", CptacParams(hw=(32, 32), threshold_mode="none"))
STARE = ("stare", StareParams(expected_hw=(12, 8)))
DRIVE = ("drive", DriveParams(expected_hw=(8, 8), hr_hw=(8, 8)))


def good_tree(root: Path, which: str) -> Path:
    """A valid little dataset; returns the folder where bad files go."""
    if which == "chestxray14":
        d = root / "NIH_ChestXray14" / "images"
        for i in range(3):
            write_png(d / f"0000000{i}_000.png", rng_image((32, 32), i))
        return d
    if which == "brats2018":
        return make_brats_tree(root, {"HGG": ["H1", "H2", "H3", "H4"], "LGG": ["L1"]})
    if which == "cptac-gbm":
        d = root / "CPTAC-GBM" / "P1" / "S1"
        for i in range(3):
            write_dicom(d / f"{i}.dcm", textured((32, 32), seed=i))
        return d
    if which == "stare":
        d = root / "STARE" / "stare-images"
        for i in range(2):
            write_ppm_gz(d / f"im000{i}.ppm.gz", rng_image((12, 8, 3), i))
        return d
    if which == "drive":
        d = root / "DRIVE" / "test" / "images"
        for i in range(2):
            write_tiff(d / f"0{i}_test.tif", rng_image((8, 8, 3), i))
        return d
    raise AssertionError(which)


def _truncated_png(d):
    truncate(write_png(d / "00000009_000.png", rng_image((32, 32), 9)), 0.4)


def _wrong_size_png(d):
    write_png(d / "00000009_000.png", rng_image((16, 16), 9))


def _rgba_unequal(d):
    write_png(d / "00000009_000.png", np.dstack([rng_image((32, 32, 3), 9), np.full((32, 32), 255, np.uint8)]))


def _rgba_transparent(d):
    g = rng_image((32, 32), 9)
    write_png(d / "00000009_000.png", np.dstack([g, g, g, np.zeros_like(g)]))


def _corrupt_gz(d):
    (d / "im0009.ppm.gz").write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03broken")


def _nan_tiff(d):
    a = np.ones((8, 8), np.float32)
    a[2, 2] = np.inf
    write_tiff(d / "09_test.tif", a)


def _nifti_wrong_shape(d):
    write_nifti(d / "HGG" / "H9" / "H9_t1.nii.gz", brain_volume((24, 24, 7)))


def _nifti_truncated(d):
    p = write_nifti(d / "HGG" / "H9" / "H9_t1.nii.gz", rng_image((24, 24, 10), 3, np.int16, 30000))
    truncate(p, 0.5)


def _nifti_nan(d):
    v = brain_volume((24, 24, 10)).astype(np.float32)
    v[5, 5, 5] = np.nan
    write_nifti(d / "HGG" / "H9" / "H9_t1.nii.gz", v)


def _nifti_missing(d):
    (d / "LGG" / "L9").mkdir(parents=True)


def _dicom_undecodable(d):
    write_dicom(d / "9.dcm", textured((32, 32)), transfer_syntax="1.2.840.10008.1.2.4.80",
                pixel_bytes=b"\xff\xd8 garbage")


def _dicom_garbage(d):
    (d / "9.dcm").write_bytes(b"\x00" * 50)


CASES = {
    "truncated-png": (CXR, _truncated_png, r"00000009_000.png: cannot decode image"),
    "unexpected-size": (CXR, _wrong_size_png, r"00000009_000.png: image of size 16x16 \(WxH\) \(expected 32x32"),
    "rgba-unequal": (CXR, _rgba_unequal, r"00000009_000.png: RGBA image with unequal colour channels"),
    "rgba-transparent": (CXR, _rgba_transparent, r"00000009_000.png: RGBA image with transparent pixels"),
    "corrupt-gzip": (STARE, _corrupt_gz, r"im0009.ppm.gz: cannot read file"),
    "nan-inf": (DRIVE, _nan_tiff, r"09_test.tif: NaN or Inf pixel values"),
    "nifti-wrong-shape": (BRATS, _nifti_wrong_shape, r"H9_t1.nii.gz: volume shape \(24, 24, 7\) \(expected shape \(24, 24, 10\)\)"),
    "nifti-truncated": (BRATS, _nifti_truncated, r"H9_t1.nii.gz: cannot read"),
    "nifti-nan": (BRATS, _nifti_nan, r"H9_t1.nii.gz: NaN or Inf voxel values"),
    "nifti-missing": (BRATS, _nifti_missing, r"L9_t1.nii.gz: T1 volume file not found"),
    "dicom-undecodable": (CT, _dicom_undecodable, r"9.dcm: cannot decode pixel data, transfer syntax JPEG-LS"),
    "dicom-garbage": (CT, _dicom_garbage, r"9.dcm: cannot read DICOM header"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(tmp_path, case):
    (name, params), mutate, pattern = CASES[case]
    root, cache = tmp_path / "data", tmp_path / "prepared"
    folder = good_tree(root, name)
    proto = get_protocol(name, params)
    first = list(iter_samples(proto, root, "all", cache_dir=cache))
    assert first
    before = snapshot(cache)
    mutate(folder)

    # strict: one line naming the file and the problem; the prepared set is untouched, no temp left
    with pytest.raises(DataError) as e:
        list(iter_samples(proto, root, "all", cache_dir=cache, strict=True))
    msg = str(e.value)
    assert re.search(pattern, msg) and "\n" not in msg
    assert snapshot(cache) == before

    # default: the file is skipped, named in the manifest, good samples are byte-identical
    skipped: list = []
    again = list(iter_samples(proto, root, "all", cache_dir=cache, skipped=skipped))
    assert [s.meta.image_id for s in again] == [s.meta.image_id for s in first]
    assert len(skipped) == 1 and re.search(pattern, skipped[0][1])
    meta = json.loads((set_dir(cache, proto, "all", None) / MANIFEST_JSON).read_text())
    assert meta["n_skipped"] == 1 and re.search(pattern, meta["skipped"][0]["reason"])
    after = snapshot(cache)
    assert {k: v for k, v in after.items() if "/hr/" in k or "/lr/" in k} == \
        {k: v for k, v in before.items() if "/hr/" in k or "/lr/" in k}
    assert not [p for p in cache.rglob(".tmp-*")]


def test_missing_dataset_leaves_other_sets_alone(tmp_path):
    root, cache = tmp_path / "data", tmp_path / "prepared"
    good_tree(root, "chestxray14")
    list(iter_samples(get_protocol(*CXR), root, "all", cache_dir=cache))
    before = snapshot(cache)
    with pytest.raises(DatasetMissing) as e:
        list(iter_samples(get_protocol("drive"), root, cache_dir=cache))
    assert "DRIVE: dataset folder not found (expected layout DRIVE/{training,test}/images" in str(e.value)
    assert "drive.grand-challenge.org (free registration required" in str(e.value)
    assert snapshot(cache) == before


def test_interrupted_build_publishes_nothing(tmp_path):
    root, cache = tmp_path / "data", tmp_path / "prepared"
    good_tree(root, "chestxray14")
    proto = get_protocol(*CXR)
    gen = iter_samples(proto, root, "all", cache_dir=cache)
    next(gen)
    gen.close()  # consumer stops early (e.g. Ctrl-C in bench run)
    folder = set_dir(cache, proto, "all", None)
    assert not folder.exists() and not list(cache.rglob(".tmp-*"))


def test_multiframe_dicom_is_excluded_and_counted(tmp_path):
    root, cache = tmp_path / "data", tmp_path / "prepared"
    d = good_tree(root, "cptac-gbm")
    write_dicom(d / "mf.dcm", np.stack([textured((32, 32))] * 3), frames=3)
    proto = get_protocol(*CT)
    out = list(iter_samples(proto, root, "all", cache_dir=cache, strict=True))
    assert len(out) == 3
    meta = json.loads((set_dir(cache, proto, "all", None) / MANIFEST_JSON).read_text())
    assert meta["excluded"] == {"multi-frame DICOM (3 frames) (expected a single-frame image)": 1}


def test_empty_dataset_folder(tmp_path):
    (tmp_path / "DRIVE").mkdir()
    with pytest.raises(DataError, match=r"DRIVE: no input files found \(expected DRIVE/\{training,test\}/images"):
        list(get_protocol("drive").samples(tmp_path))


def test_tampered_prepared_file_is_detected(tmp_path):
    root, cache = tmp_path / "data", tmp_path / "prepared"
    good_tree(root, "chestxray14")
    proto = get_protocol(*CXR)
    list(iter_samples(proto, root, "all", cache_dir=cache))
    f = sorted((set_dir(cache, proto, "all", None) / "hr").iterdir())[0]
    f.write_bytes(f.read_bytes()[:-5] + b"xxxxx")
    with pytest.raises(DataError, match=r"hr/00000000_000.png: prepared file changed since it was written"):
        list(iter_samples(proto, root, "all", cache_dir=cache))
