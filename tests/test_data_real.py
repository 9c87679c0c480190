"""The protocols on the real data in ``../shared/data`` (skipped with a reason when absent)."""

from __future__ import annotations

import numpy as np
import pytest

from medsr_bench.data_prep import get_protocol

pytestmark = pytest.mark.shared


def _check(s, hr, lr, bits=8):
    assert s.hr.shape == hr and s.lr.shape == lr
    assert s.hr.dtype == np.float32 and s.lr.dtype == np.float32
    assert 0 <= s.hr.min() and s.hr.max() <= 1 and 0 <= s.lr.min() and s.lr.max() <= 1
    if bits:
        assert np.array_equal(np.round(s.hr * 255) / np.float32(255), s.hr)


def test_drive_40_pairs_512_to_256(shared_data):
    out = list(get_protocol("drive").samples(shared_data))
    assert len(out) == 40
    assert sum(s.meta.source.startswith("DRIVE/training/") for s in out) == 20
    for s in out:
        _check(s, (512, 512, 3), (256, 256, 3))
        assert s.meta.extra["orig_hw"] == [584, 565] and s.meta.dataset == "drive"


def test_chestxray14_40_pairs_1024_to_256(shared_data):
    out = list(get_protocol("chestxray14").samples(shared_data))
    assert len(out) == 40
    for s in out:
        _check(s, (1024, 1024), (256, 256))
    rgba = {s.meta.image_id for s in out if s.meta.extra.get("gray_from") == "RGBA"}
    assert rgba == {"00000100_000", "00001369_000"}


def test_brats_10_volumes_split_8_2_pairs_256_to_64(shared_data):
    p = get_protocol("brats2018")
    counts: dict[str, set] = {"train": set(), "test": set()}
    n = {"train": 0, "test": 0}
    for s in p.samples(shared_data, split="all"):
        _check(s, (256, 256), (64, 64), bits=None)
        counts[s.meta.split].add(s.meta.image_id.rsplit("_z", 1)[0])
        n[s.meta.split] += 1
    assert len(counts["train"]) == 8 and len(counts["test"]) == 2
    assert not counts["train"] & counts["test"]
    assert p.last_context.counts == {"train": {"volumes": 8, "slices": n["train"]},
                                     "test": {"volumes": 2, "slices": n["test"]}}
    # the "any non-zero voxel" blank rule keeps about 88 % of slices, as P3's 31,322 / 35,340
    assert 0.85 < (n["train"] + n["test"]) / 1550 < 0.92


def test_head_ct_standin_512_to_128_after_filtering(shared_data):
    p = get_protocol("cptac-gbm")
    src = p.resolve(shared_data)
    assert src.dataset == "ct-head-standin" and src.stand_in_for == "CPTAC-GBM"
    out = list(p.samples(shared_data, split="all"))
    assert p.last_context.counts == {"scored": 28, "kept_after_p_d": 6}
    assert sorted(s.meta.split for s in out) == ["test", "train", "train", "train", "train", "val"]
    for s in out:
        _check(s, (512, 512), (128, 128))
        assert s.meta.dataset == "ct-head-standin" and s.meta.stand_in_for == "CPTAC-GBM"
        assert s.meta.orig_dtype == "int16" and s.meta.source.startswith("CT_head_DICOM/In/GE/")


def test_stare_and_shenzhen_standin(shared_data):
    st = list(get_protocol("stare").samples(shared_data))
    assert len(st) == 19
    for s in st:
        _check(s, (604, 700, 3), (151, 175, 3))
    sz = list(get_protocol("shenzhen").samples(shared_data, limit=10))
    assert len(sz) == 10 and all(s.meta.dataset == "cxr14-finetune-standin" for s in sz)
    assert {s.hr.shape for s in sz} <= {(1024, 1024), (768, 768), (512, 512), (340, 340), (400, 400)}


def test_limit_is_deterministic_on_real_data(shared_data):
    p = get_protocol("brats2018")
    a = [s.meta.image_id for s in p.samples(shared_data, limit=5)]
    assert a == [s.meta.image_id for s in p.samples(shared_data, limit=5)]
    assert len({i.rsplit("_z", 1)[0] for i in a}) == 2  # both test volumes, not 5 slices of one
