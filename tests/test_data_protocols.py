"""Every protocol on tiny fixture trees: exact shapes, dtypes, ranges, splits, filters, limits."""

from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import (
    make_brats_tree,
    rng_image,
    textured,
    write_dicom,
    write_png,
    write_ppm_gz,
    write_tiff,
)

import medsr_bench.data_prep.protocols.brats2018 as brats_mod
from medsr_bench.data_prep import DatasetMissing, get_protocol, list_protocols
from medsr_bench.data_prep.errors import DataError
from medsr_bench.data_prep.protocols.brats2018 import BratsParams
from medsr_bench.data_prep.protocols.chestxray14 import ChestXray14Params
from medsr_bench.data_prep.protocols.cptac_gbm import CptacParams
from medsr_bench.data_prep.protocols.drive import DriveParams
from medsr_bench.data_prep.protocols.shenzhen import ShenzhenParams
from medsr_bench.data_prep.protocols.stare import StareParams

NAMES = ["brats2018", "chestxray14", "cptac-gbm", "demo-brain", "demo-ct", "demo-cxr", "demo-retina",
         "drive", "shenzhen", "stare"]


def on_grid(x: np.ndarray, bits: int = 8) -> bool:
    peak = 2**bits - 1
    return bool(np.array_equal(np.round(x * peak) / np.float32(peak), x))


def check_pair(s, hr_shape, lr_shape):
    assert s.hr.shape == hr_shape and s.lr.shape == lr_shape
    assert s.hr.dtype == np.float32 and s.lr.dtype == np.float32
    for a in (s.hr, s.lr):
        assert 0.0 <= a.min() and a.max() <= 1.0 and np.isfinite(a).all()
    assert len(s.meta.source_sha256) == 64


# ---------------------------------------------------------------- contract
def test_registry_names_and_class_attributes():
    assert list_protocols() == NAMES
    for n in NAMES:
        p = get_protocol(n)
        assert p.name == n and p.scale in (2, 4) and p.title and p.layout and p.how_to_get
        assert p.eval_split in p.splits
        assert isinstance(p.params_dict(), dict) and len(p.params_hash()) == 16
    with pytest.raises(KeyError, match="unknown dataset protocol 'nope'; known: brats2018"):
        get_protocol("nope")


def test_params_hash_follows_params():
    a = get_protocol("drive")
    b = get_protocol("drive", DriveParams(blur_sigma=2.0))
    assert a.params_hash() == get_protocol("drive").params_hash() != b.params_hash()
    assert b.params_dict()["blur_sigma"] == 2.0


@pytest.mark.parametrize("name", ["drive", "chestxray14", "brats2018", "cptac-gbm", "stare", "shenzhen"])
def test_missing_dataset_names_layout_and_source(tmp_path, name):
    p = get_protocol(name)
    with pytest.raises(DatasetMissing) as e:
        list(p.samples(tmp_path))
    msg = str(e.value)
    assert "dataset folder not found" in msg and p.layout in msg and p.how_to_get in msg
    assert "\n" not in msg


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="invalid normalisation 'slices'; allowed: slice, volume"):
        BratsParams(normalisation="slices")
    with pytest.raises(ValueError, match="invalid threshold_mode"):
        CptacParams(threshold_mode="top")
    with pytest.raises(ValueError, match="blur_ksize must be odd"):
        DriveParams(blur_ksize=4)
    with pytest.raises(TypeError, match="drive: params must be DriveParams, got BratsParams"):
        get_protocol("drive", BratsParams())


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="unknown split 'val'"):
        list(get_protocol("drive").samples(tmp_path, split="val"))


# ---------------------------------------------------------------- DRIVE
DRIVE_SMALL = DriveParams(expected_hw=(36, 30), hr_hw=(32, 32))


def make_drive(root, n=3):
    for i in range(1, n + 1):
        write_tiff(root / "DRIVE" / "test" / "images" / f"{i:02d}_test.tif", rng_image((36, 30, 3), i))
        write_tiff(root / "DRIVE" / "training" / "images" / f"{20 + i}_training.tif", rng_image((36, 30, 3), 50 + i))
    return root


def test_drive_pairs(tmp_path):
    make_drive(tmp_path)
    out = list(get_protocol("drive", DRIVE_SMALL).samples(tmp_path))
    assert [s.meta.image_id for s in out] == ["01_test", "02_test", "03_test", "21_training", "22_training", "23_training"]
    for s in out:
        check_pair(s, (32, 32, 3), (16, 16, 3))
        assert on_grid(s.hr) and on_grid(s.lr)
        assert s.meta.dataset == "drive" and s.meta.split == "all" and s.meta.bit_depth == 8
        assert s.meta.orig_dtype == "uint8" and s.meta.orig_data_range == 255.0
    assert out[0].meta.source == "DRIVE/test/images/01_test.tif"


def test_drive_lr_is_bicubic_then_blur(tmp_path):
    from medsr_bench.data_prep import ops

    make_drive(tmp_path, 1)
    s = next(get_protocol("drive", DRIVE_SMALL).samples(tmp_path))
    want = ops.quantize(ops.gaussian_blur(ops.resize(s.hr, (16, 16), "matlab-bicubic"), 1.0, 7), 8)
    np.testing.assert_array_equal(s.lr, want)


def test_drive_wrong_size_is_skipped_with_message(tmp_path):
    make_drive(tmp_path, 2)
    write_tiff(tmp_path / "DRIVE" / "test" / "images" / "09_test.tif", rng_image((20, 20, 3)))
    skipped = []
    out = list(get_protocol("drive", DRIVE_SMALL).samples(tmp_path, skipped=skipped))
    assert len(out) == 4
    assert skipped == [("DRIVE/test/images/09_test.tif",
                        "DRIVE/test/images/09_test.tif: image of size 20x20 (WxH) (expected 30x36 (WxH))")]


def test_limit_is_deterministic_and_a_subset(tmp_path):
    make_drive(tmp_path, 5)
    p = get_protocol("drive", DRIVE_SMALL)
    a = [s.meta.image_id for s in p.samples(tmp_path, limit=3)]
    b = [s.meta.image_id for s in p.samples(tmp_path, limit=3)]
    assert a == b and len(a) == 3
    assert set(a) <= {s.meta.image_id for s in p.samples(tmp_path)}


# ---------------------------------------------------------------- ChestX-ray14
CXR_SMALL = ChestXray14Params(expected_hw=(64, 64), n_images=4)


def make_cxr(root, n=6):
    d = root / "NIH_ChestXray14" / "images"
    for i in range(n):
        g = rng_image((64, 64), i)
        if i == 1:  # RGBA storing a grayscale image, like 2 of the real files
            write_png(d / f"{i:08d}_000.png", np.dstack([g, g, g, np.full_like(g, 255)]))
        else:
            write_png(d / f"{i:08d}_000.png", g)
    return d


def test_chestxray14_seeded_sample_gray(tmp_path):
    make_cxr(tmp_path, 8)
    p = get_protocol("chestxray14", CXR_SMALL)
    out = list(p.samples(tmp_path))
    ids = [s.meta.image_id for s in out]
    assert len(ids) == 4 and ids == sorted(ids)
    assert ids == [s.meta.image_id for s in p.samples(tmp_path)]
    assert ids != [s.meta.image_id for s in get_protocol(
        "chestxray14", ChestXray14Params(expected_hw=(64, 64), n_images=4, seed=7)).samples(tmp_path)]
    for s in out:
        check_pair(s, (64, 64), (16, 16))
        assert on_grid(s.hr) and on_grid(s.lr) and s.meta.split == "test"


def test_chestxray14_rgba_equal_channels_and_16bit(tmp_path):
    d = make_cxr(tmp_path, 2)
    a16 = rng_image((64, 64), 9, np.uint16, 65535)
    write_png(d / "00000009_000.png", a16)
    out = {s.meta.image_id: s for s in get_protocol("chestxray14", CXR_SMALL).samples(tmp_path)}
    assert out["00000001_000"].meta.extra["gray_from"] == "RGBA"
    s16 = out["00000009_000"]
    assert s16.meta.bit_depth == 16 and s16.meta.orig_dtype == "uint16" and s16.meta.orig_data_range == 65535
    np.testing.assert_array_equal(s16.hr, a16.astype(np.float32) / np.float32(65535))
    assert on_grid(s16.lr, 16)


def test_chestxray14_unequal_rgb_is_skipped(tmp_path):
    d = make_cxr(tmp_path, 2)
    write_png(d / "00000005_000.png", rng_image((64, 64, 3), 5))
    skipped = []
    out = list(get_protocol("chestxray14", CXR_SMALL).samples(tmp_path, skipped=skipped))
    assert len(out) == 2
    assert skipped[0][1] == ("NIH_ChestXray14/images/00000005_000.png: RGB image with unequal colour "
                             "channels (expected a grayscale image (R = G = B))")
    with pytest.raises(DataError, match="unequal colour channels"):
        list(get_protocol("chestxray14", CXR_SMALL).samples(tmp_path, strict=True))


# ---------------------------------------------------------------- BraTS
BRATS_SMALL = BratsParams(expected_shape=(24, 24, 10), hr_hw=(32, 32))
CASES = {"HGG": ["H1", "H2", "H3", "H4", "H5", "H6"], "LGG": ["L1", "L2", "L3", "L4"]}


def test_brats_split_by_volume_blank_rule_padding(tmp_path):
    make_brats_tree(tmp_path, CASES)
    p = get_protocol("brats2018", BRATS_SMALL)
    out = list(p.samples(tmp_path, split="all"))
    by_split: dict[str, set] = {}
    for s in out:
        check_pair(s, (32, 32), (8, 8))
        by_split.setdefault(s.meta.split, set()).add(s.meta.image_id.split("_z")[0])
        assert s.meta.bit_depth is None and s.meta.orig_dtype == "int16"
    assert len(by_split["train"]) == 8 and len(by_split["test"]) == 2
    assert not by_split["train"] & by_split["test"]
    assert {c[0] for c in by_split["test"]} == {"H", "L"}  # stratified by grade
    zs = sorted({s.meta.extra["slice"] for s in out})
    assert zs == [2, 3, 4, 5, 6, 7, 8]  # blank slices 0, 1, 9 removed
    assert len(out) == 10 * 7
    s = out[0]
    assert s.hr[:4].max() == 0 and s.hr[-4:].max() == 0 and s.hr[:, :4].max() == 0 and s.hr[:, -4:].max() == 0
    assert s.hr[4:28, 4:28].max() == 1.0  # per-slice min-max
    assert p.last_context.counts == {"train": {"volumes": 8, "slices": 56}, "test": {"volumes": 2, "slices": 14}}


def test_brats_normalisation_and_blank_threshold_settings(tmp_path):
    from dataclasses import replace

    make_brats_tree(tmp_path, {"HGG": ["H1"], "LGG": ["L1"]})
    vol = list(get_protocol("brats2018", replace(BRATS_SMALL, normalisation="volume")).samples(tmp_path, split="all"))
    assert max(s.hr.max() for s in vol) == 1.0 and min(s.hr.max() for s in vol) < 1.0
    none = list(get_protocol("brats2018", replace(BRATS_SMALL, min_brain_pixels=10**6)).samples(tmp_path, split="all"))
    assert none == []


def test_brats_streams_one_volume_at_a_time(tmp_path, monkeypatch):
    make_brats_tree(tmp_path, CASES)
    calls = []
    real = brats_mod.read_nifti_volume
    monkeypatch.setattr(brats_mod, "read_nifti_volume", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    gen = get_protocol("brats2018", BRATS_SMALL).samples(tmp_path, split="train")
    next(gen)
    assert len(calls) == 1
    gen.close()


def test_brats_memory_does_not_grow_with_subjects(tmp_path):
    import tracemalloc

    def peak(n_cases):
        root = tmp_path / f"n{n_cases}"
        make_brats_tree(root, {"HGG": [f"H{i}" for i in range(n_cases)]}, shape=(64, 64, 12))
        p = get_protocol("brats2018", BratsParams(expected_shape=(64, 64, 12), hr_hw=(64, 64)))
        tracemalloc.start()
        n = sum(1 for _ in p.samples(root, split="all"))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return n, top

    n2, p2 = peak(2)
    n8, p8 = peak(8)
    assert n8 == 4 * n2
    assert p8 < 1.5 * p2


def test_brats_limit_spreads_over_volumes(tmp_path):
    make_brats_tree(tmp_path, CASES)
    p = get_protocol("brats2018", BRATS_SMALL)
    a = [s.meta.image_id for s in p.samples(tmp_path, split="train", limit=4)]
    assert a == [s.meta.image_id for s in p.samples(tmp_path, split="train", limit=4)]
    assert len({i.split("_z")[0] for i in a}) == 4
    assert all(i.split("_z")[1] not in ("002", "008") for i in a)  # no edge slices
    b = [s.meta.image_id for s in p.samples(tmp_path, split="test", limit=6)]
    assert len(b) == 6 and len({i.split("_z")[0] for i in b}) == 2


def test_brats_wrong_shape_volume_is_skipped(tmp_path):
    from data_fixtures import brain_volume, write_nifti

    base = make_brats_tree(tmp_path, {"HGG": ["H1", "H2"], "LGG": ["L1"]})
    write_nifti(base / "HGG" / "H2" / "H2_t1.nii.gz", brain_volume((20, 24, 10)))
    skipped = []
    out = list(get_protocol("brats2018", BRATS_SMALL).samples(tmp_path, split="all", skipped=skipped))
    assert {s.meta.image_id.split("_z")[0] for s in out} == {"H1", "L1"}
    assert skipped[0][1].endswith("H2_t1.nii.gz: volume shape (20, 24, 10) (expected shape (24, 24, 10))")


# ---------------------------------------------------------------- CPTAC-GBM
CT_SMALL = CptacParams(hw=(32, 32), keep_fraction=0.5)


def make_ct(root, folder="CPTAC-GBM", n=10):
    d = root / folder / "P001" / "study" / "series"
    for i in range(n):  # detail grows with i
        write_dicom(d / f"{i:02d}.dcm", textured((32, 32), seed=i, frac=0.1 + 0.09 * i), intercept=-1024)
    write_dicom(d / "small.dcm", textured((16, 16)))
    write_dicom(d / "multi.dcm", np.stack([textured(), textured()]), frames=2)
    (root / folder / "README.txt").write_text("not a DICOM file")
    return d


def test_cptac_filter_split_and_pairs(tmp_path):
    make_ct(tmp_path)
    p = get_protocol("cptac-gbm", CT_SMALL)
    out = list(p.samples(tmp_path, split="all"))
    kept = sorted(s.meta.image_id for s in out)
    assert kept == [f"P001__study__series__{i:02d}" for i in range(5, 10)]  # top half by P_D
    assert sorted(s.meta.split for s in out) == ["test", "train", "train", "train", "val"]
    for s in out:
        check_pair(s, (32, 32), (8, 8))
        assert on_grid(s.hr) and on_grid(s.lr) and s.meta.dataset == "cptac-gbm" and s.meta.stand_in_for is None
        assert s.meta.extra["p_d"] > 0 and s.meta.extra["rescale_intercept"] == -1024
    ctx = p.last_context
    assert ctx.counts == {"scored": 10, "kept_after_p_d": 5}
    assert ctx.excluded == {"image of size 16x16 (expected 512x512 (P4 keeps 512x512 only))": 1,
                            "multi-frame DICOM (2 frames) (expected a single-frame image)": 1}


def test_cptac_lr_is_opencv_bicubic(tmp_path):
    import cv2

    make_ct(tmp_path, n=2)
    s = next(get_protocol("cptac-gbm", CptacParams(hw=(32, 32), threshold_mode="none")).samples(tmp_path, split="all"))
    want = np.clip(cv2.resize(s.hr, (8, 8), interpolation=cv2.INTER_CUBIC), 0, 1)
    np.testing.assert_array_equal(s.lr, np.round(want * 255) / np.float32(255))


def test_cptac_standin_is_named(tmp_path):
    make_ct(tmp_path, folder="CT_head_DICOM", n=4)
    p = get_protocol("cptac-gbm", CT_SMALL)
    src = p.resolve(tmp_path)
    assert (src.dataset, src.stand_in_for) == ("ct-head-standin", "CPTAC-GBM") and "NOT CPTAC-GBM" in src.note
    out = list(p.samples(tmp_path, split="all"))
    assert out and all(s.meta.dataset == "ct-head-standin" and s.meta.stand_in_for == "CPTAC-GBM" for s in out)
    assert out[0].meta.source.startswith("CT_head_DICOM/P001/")


def test_cptac_window_and_monochrome1(tmp_path):
    d = tmp_path / "CPTAC-GBM"
    px = np.array([[-1000, 0], [40, 80]], np.int16).repeat(16, 0).repeat(16, 1)
    write_dicom(d / "a.dcm", px)
    write_dicom(d / "b.dcm", px, photometric="MONOCHROME1")
    prm = CptacParams(hw=(32, 32), intensity="window", threshold_mode="none", hr_bits=None)
    out = {s.meta.image_id: s for s in get_protocol("cptac-gbm", prm).samples(tmp_path, split="all")}
    np.testing.assert_allclose(out["a"].hr[::16, ::16], [[0, 0], [0.5, 1]])
    np.testing.assert_allclose(out["b"].hr[::16, ::16], [[1, 1], [0.5, 0]])
    assert out["a"].meta.bit_depth is None and out["a"].meta.orig_data_range == 80


def test_cptac_absolute_threshold(tmp_path):
    make_ct(tmp_path, n=4)
    p = get_protocol("cptac-gbm", CptacParams(hw=(32, 32), threshold_mode="absolute", threshold=1e9))
    assert list(p.samples(tmp_path, split="all")) == []


# ---------------------------------------------------------------- STARE / Shenzhen
def test_stare_ppm_gz_and_ppm(tmp_path):
    d = tmp_path / "STARE" / "stare-images"
    write_ppm_gz(d / "im0001.ppm.gz", rng_image((13, 10, 3), 1))
    from PIL import Image

    Image.fromarray(rng_image((13, 10, 3), 2)).save(d / "im0002.ppm")
    out = list(get_protocol("stare", StareParams(expected_hw=(13, 10))).samples(tmp_path))
    assert [s.meta.image_id for s in out] == ["im0001", "im0002"]
    for s in out:
        check_pair(s, (12, 8, 3), (3, 2, 3))
        assert s.meta.split == "train"
    np.testing.assert_array_equal(out[0].hr, rng_image((13, 10, 3), 1)[:12, :8].astype(np.float32) / np.float32(255))


def test_shenzhen_multiscale_and_standin(tmp_path):
    prm = ShenzhenParams(shortest_edge=20)
    d = tmp_path / "Shenzhen" / "CXR_png"
    write_png(d / "CHNCXR_0001_0.png", rng_image((40, 48), 1))
    write_png(d / "notes.png", rng_image((40, 48), 2))  # not a CHNCXR file: ignored
    out = list(get_protocol("shenzhen", prm).samples(tmp_path))
    assert [(s.meta.image_id, s.hr.shape, s.lr.shape) for s in out] == [
        ("CHNCXR_0001_0_x1", (40, 48), (10, 12)),
        ("CHNCXR_0001_0_x0.750", (28, 36), (7, 9)),
        ("CHNCXR_0001_0_x0.500", (20, 24), (5, 6)),
        ("CHNCXR_0001_0_x0.333", (12, 16), (3, 4)),
        ("CHNCXR_0001_0_e20", (20, 24), (5, 6)),
    ]
    assert all(s.meta.dataset == "shenzhen" for s in out)
    ft = tmp_path / "other" / "NIH_ChestXray14" / "finetune"
    write_png(ft / "00000001_000.png", rng_image((40, 40), 3))
    out = list(get_protocol("shenzhen", prm).samples(tmp_path / "other"))
    assert len(out) == 5 and all(s.meta.dataset == "cxr14-finetune-standin" and s.meta.stand_in_for == "Shenzhen"
                                 for s in out)


# ---------------------------------------------------------------- demos (packaged data, no data root)
@pytest.mark.parametrize("name,n,hr,lr", [
    ("demo-retina", 6, (512, 512, 3), (256, 256, 3)),
    ("demo-cxr", 2, (1024, 1024), (256, 256)),
    ("demo-brain", 6, (256, 256), (64, 64)),
    ("demo-ct", 2, (512, 512), (128, 128)),
])
def test_demo_protocols(tmp_path, name, n, hr, lr):
    p = get_protocol(name)
    out = list(p.samples(tmp_path / "nothing-here"))
    assert len(out) == n
    src = p.resolve(None)
    assert src.dataset == name and src.note.startswith(f"{name} (")
    for s in out:
        check_pair(s, hr, lr)
        assert s.meta.dataset == name and s.meta.split == "test" and ":" in s.meta.source
