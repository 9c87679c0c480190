"""Bring-your-own dataset: config validation (one line per bad config), the custom protocol end to
end on PNG / TIFF / JPEG / DICOM / NIfTI files, and the prepared-set cache on it."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import (
    brain_volume,
    rng_image,
    textured,
    write_dicom,
    write_nifti,
    write_png,
    write_tiff,
)

from medsr_bench.data_prep.config import ConfigError, config_reference_markdown, load_custom_config
from medsr_bench.data_prep.prepared import iter_samples
from medsr_bench.data_prep.protocols.custom import KEYS, METRIC_KEYS, CustomParams

REPO = Path(__file__).resolve().parents[1]


def make_folder(root: Path) -> Path:
    """PNGs (8-bit gray, RGB, 16-bit), a TIFF, a JPEG, DICOMs in two patient folders (written by
    pydicom, plus pydicom's own CT_small.dcm), and one NIfTI volume."""
    import pydicom
    from PIL import Image

    write_png(root / "png" / "gray8.png", rng_image((30, 34), 1))
    write_png(root / "png" / "rgb8.png", rng_image((30, 34, 3), 2))
    write_png(root / "png" / "gray16.png", rng_image((30, 34), 3, np.uint16, 65535))
    write_tiff(root / "tif" / "t.tif", rng_image((32, 32), 4))
    (root / "jpg").mkdir()
    Image.fromarray(rng_image((32, 40), 5)).save(root / "jpg" / "j.jpg", quality=95)
    write_dicom(root / "dcm" / "p1" / "s1.dcm", textured((32, 32), 1))
    write_dicom(root / "dcm" / "p2" / "s1.dcm", textured((32, 32), 2), photometric="MONOCHROME1")
    shutil.copy(Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm", root / "dcm" / "p3.dcm")
    write_nifti(root / "nii" / "v.nii.gz", brain_volume((24, 28, 10)))
    (root / "README.txt").write_text("not an image")
    return root


@pytest.fixture()
def folder(tmp_path):
    return make_folder(tmp_path / "lab")


def one(table: dict, name: str = "lab", **kw):
    return load_custom_config({"datasets": {name: table}}, **kw)[0]


def test_mixed_folder_end_to_end(folder):
    d = one({"images": str(folder), "intensity": {"color_to_gray": "luma"},
             "degradation": {"scale": 2, "blur_sigma": 1.0}})
    assert d.name == "lab" and d.title == "lab" and d.protocol.name == "custom-lab"
    assert d.display_name == "lab (user dataset)"
    skipped: list = []
    samples = list(d.protocol.samples(None, skipped=skipped))
    assert not skipped
    ids = [s.meta.image_id for s in samples]
    assert {"png__gray8", "png__rgb8", "png__gray16", "tif__t", "jpg__j", "dcm__p1__s1", "dcm__p2__s1",
            "dcm__p3"} <= set(ids)
    vol_ids = [i for i in ids if i.startswith("nii__v_z")]
    assert vol_ids == [f"nii__v_z{z:03d}" for z in range(2, 9)]  # brain_volume blanks slices 0, 1, 9
    for s in samples:
        assert s.hr.ndim == 2 and s.meta.split == "test" and s.meta.dataset == "lab"
        assert s.lr.shape == (s.hr.shape[0] // 2, s.hr.shape[1] // 2)
        assert 0 <= s.hr.min() and s.hr.max() <= 1 and 0 <= s.lr.min() and s.lr.max() <= 1
    by = {s.meta.image_id: s for s in samples}
    assert by["dcm__p3"].hr.shape == (128, 128) and by["nii__v_z004"].hr.shape == (24, 28)
    assert by["png__gray8"].meta.bit_depth == 8 and by["png__gray16"].meta.bit_depth == 16
    np.testing.assert_array_equal(by["png__gray8"].hr * 255, np.round(by["png__gray8"].hr * 255))
    raw8 = rng_image((30, 34), 1)
    np.testing.assert_array_equal(by["png__gray8"].hr, raw8.astype(np.float32) / 255)  # bit-depth mapping
    assert by["dcm__p1__s1"].meta.bit_depth is None and by["dcm__p1__s1"].hr.max() == 1.0  # min-max
    # MONOCHROME1 is inverted: same pixels mapped, then 1 - x
    assert by["dcm__p2__s1"].meta.extra["photometric"] == "MONOCHROME1"
    raw2 = textured((32, 32), 2).astype(np.float64)
    np.testing.assert_allclose(by["dcm__p2__s1"].hr, 1 - (raw2 - raw2.min()) / np.ptp(raw2), atol=1e-6)
    assert d.metrics == {"data_range": 1.0, "channel": "gray", "crop_border": 0, "quantize": False,
                         "nrmse_norm": "mean", "vif_rescale": True}


def test_rgb_channels_gray_files_and_color_policy(folder):
    rgb = one({"images": str(folder / "png"), "intensity": {"channels": "rgb", "hr_bits": 8}})
    s = {x.meta.image_id: x for x in rgb.protocol.samples(None)}
    assert s["gray8"].hr.shape == (28, 32, 3) and s["rgb8"].hr.shape == (28, 32, 3)  # mod crop to x4
    assert rgb.metrics["channel"] == "rgb" and rgb.metrics["data_range"] == 255.0 and rgb.metrics["quantize"]
    # 16-bit file with hr_bits 8: HR on the 8-bit grid
    np.testing.assert_array_equal(s["gray16"].hr * 255, np.round(s["gray16"].hr * 255))
    strict_gray = one({"images": str(folder / "png")})
    skipped: list = []
    kept = [x.meta.image_id for x in strict_gray.protocol.samples(None, skipped=skipped)]
    assert "rgb8" not in kept and len(skipped) == 1 and "unequal colour channels" in skipped[0][1]
    green = one({"images": str(folder / "png"), "intensity": {"color_to_gray": "green"}})
    g = {x.meta.image_id: x for x in green.protocol.samples(None)}
    np.testing.assert_array_equal(g["rgb8"].hr, rng_image((30, 34, 3), 2)[:28, :32, 1] / np.float32(255))


def test_nifti_axis_slice_rules_and_volume_minmax(folder):
    vol = brain_volume((24, 28, 10)).astype(np.float64)
    ax0 = one({"images": str(folder / "nii"), "volume": {"axis": 0, "slice_rule": "all"},
               "degradation": {"scale": 2}})
    s = list(ax0.protocol.samples(None))
    assert len(s) == 24 and s[0].hr.shape == (28, 10) and s[0].meta.image_id == "v_x000"
    mid = one({"images": str(folder / "nii"), "volume": {"slice_rule": "middle"},
               "intensity": {"minmax_scope": "volume"}, "degradation": {"scale": 2}})
    (m,) = mid.protocol.samples(None)
    np.testing.assert_allclose(m.hr, vol[:, :, 5] / vol.max(), atol=1e-6)


def test_geometry_fit_and_degradation_chain(folder):
    base = {"images": str(folder / "tif"), "intensity": {"hr_bits": 8}}
    for fit, shape in (("pad", (40, 48)), ("resize", (40, 48)), ("crop-or-pad", (24, 48))):
        hw = [24, 48] if fit == "crop-or-pad" else [40, 48]
        d = one({**base, "geometry": {"hr_size": hw, "fit": fit}})
        (s,) = d.protocol.samples(None)
        assert s.hr.shape == shape and s.lr.shape == (shape[0] // 4, shape[1] // 4)
    padded = one({**base, "geometry": {"hr_size": [40, 48], "fit": "pad"}})
    (s,) = padded.protocol.samples(None)
    np.testing.assert_array_equal(s.hr[4:36, 8:40], rng_image((32, 32), 4) / np.float32(255))
    assert s.hr[:4].max() == 0
    crop_only = one({**base, "geometry": {"hr_size": [40, 48], "fit": "crop"}})
    skipped: list = []
    assert list(crop_only.protocol.samples(None, skipped=skipped)) == [] and "fit = crop" in skipped[0][1]

    def lr(**deg):
        (x,) = one({**base, "degradation": deg}).protocol.samples(None)
        return x.lr

    plain, noisy, noisy2 = lr(), lr(noise_sigma=0.05), lr(noise_sigma=0.05)
    np.testing.assert_array_equal(noisy, noisy2)  # seeded per image
    assert not np.array_equal(plain, noisy) and not np.array_equal(noisy, lr(noise_sigma=0.05, noise_seed=1))
    jpg = lr(jpeg_quality=10)
    assert not np.array_equal(jpg, plain)
    np.testing.assert_array_equal(jpg * 255, np.round(jpg * 255))
    assert not np.array_equal(lr(blur_sigma=1.0), lr(blur_sigma=1.0, blur_stage="hr"))
    assert lr(lr_bits="float").dtype == np.float32 and not np.array_equal(lr(lr_bits="float"), plain)


def test_fraction_split_by_folder_is_seeded_and_disjoint(tmp_path):
    root = tmp_path / "tree"
    for p in range(10):
        for k in range(2):
            write_png(root / f"patient{p}" / f"img{k}.png", rng_image((16, 16), 10 * p + k))
    cfg = {"images": str(root / "*/*.png"),
           "split": {"rule": "fraction", "test_fraction": 0.3, "val_fraction": 0.2, "unit": "folder", "seed": 3}}
    d = one(cfg)
    assert d.protocol.splits == ("train", "val", "test")
    got = {s.meta.image_id: s.meta.split for s in d.protocol.samples(None, split="all")}
    assert len(got) == 20
    per_patient = {}
    for iid, split in got.items():
        per_patient.setdefault(iid.split("__")[0], set()).add(split)
    assert all(len(v) == 1 for v in per_patient.values())  # no patient straddles splits
    counts = {s: sum(1 for v in per_patient.values() if v == {s}) for s in ("train", "val", "test")}
    assert counts == {"train": 5, "val": 2, "test": 3}
    assert {s.meta.image_id for s in d.protocol.samples(None)} == {i for i, s in got.items() if s == "test"}
    again = {s.meta.image_id: s.meta.split for s in one(cfg).protocol.samples(None, split="all")}
    assert again == got
    other = one({**cfg, "split": {**cfg["split"], "seed": 4}})
    assert {s.meta.image_id: s.meta.split for s in other.protocol.samples(None, split="all")} != got


def test_prepared_cache_round_trip(folder, tmp_path, caplog):
    d = one({"images": str(folder), "intensity": {"color_to_gray": "mean"},
             "degradation": {"noise_sigma": 0.01, "scale": 2}})
    cache = tmp_path / "cache"
    first = list(iter_samples(d.protocol, None, cache_dir=cache))
    caplog.set_level("INFO", logger="data_prep")
    second = list(iter_samples(d.protocol, None, cache_dir=cache))
    assert any("reusing prepared set" in r.message for r in caplog.records)
    assert len(first) == len(second) > 10
    for a, b in zip(first, second, strict=True):
        assert a.meta == b.meta
        np.testing.assert_array_equal(a.hr, b.hr)
        np.testing.assert_array_equal(a.lr, b.lr)
    # a limited selection is its own set, also reused
    lim = [s.meta.image_id for s in iter_samples(d.protocol, None, limit=4, cache_dir=cache)]
    assert lim == [s.meta.image_id for s in iter_samples(d.protocol, None, limit=4, cache_dir=cache)]
    assert len(lim) == 4


def test_params_hash_is_stable_and_settings_change_it(folder):
    a = one({"images": str(folder)})
    b = one({"images": str(folder)})
    c = one({"images": str(folder), "degradation": {"blur_sigma": 0.5}})
    assert a.protocol.params_hash() == b.protocol.params_hash() != c.protocol.params_hash()
    with pytest.raises(ConfigError, match=r"degradation.blur_sigma = -1"):
        dataclasses.replace(a.protocol.params, blur_sigma=-1)  # sweeps/--set go through the same checks


def test_toml_file_relative_paths_and_example(folder, tmp_path):
    cfg = folder.parent / "my.toml"
    cfg.write_text('[run]\nmodels = "bicubic"\n\n[datasets.mine]\ntitle = "My scans"\nimages = "lab/png"\n'
                   '[datasets.mine.degradation]\nscale = 2\n[datasets.mine.metrics]\ncrop_border = 2\n')
    (d,) = load_custom_config(cfg)
    assert d.title == "My scans" and d.protocol.params.images == str((folder / "png").resolve())
    assert d.source == str(cfg) and d.metrics["crop_border"] == 2
    assert "My scans" in d.protocol.resolve(None).note
    example = load_custom_config(REPO / "examples" / "custom_dataset.toml", check_files=False)
    assert [x.name for x in example] == ["lab-fundus", "lab-headct", "lab-t1"]


BAD = [
    # (dataset table or whole config, the one line must contain)
    ({"images": "X", "scal": 2}, "datasets.lab.scal: unknown key; expected one of title, images, format, volume"),
    ({"images": "X", "degradation": {"scael": 2}}, "datasets.lab.degradation.scael: unknown key; expected one of scale"),
    ({"images": "X", "degradation": {"lr_resize": "bicubc"}},
     "datasets.lab.degradation.lr_resize = 'bicubc': expected one of pil-lanczos"),
    ({"images": "X", "degradation": {"scale": "4"}}, "degradation.scale = '4': expected an integer in 2..16"),
    ({"images": "X", "degradation": {"scale": 1}}, "degradation.scale = 1: expected an integer in 2..16"),
    ({"images": "X", "degradation": {"blur_ksize": 4}}, "blur_ksize = 4: expected 0 (auto) or an odd positive"),
    ({"images": "X", "intensity": {"hr_bits": 12}}, "intensity.hr_bits = 12: expected one of 8, 16, 'auto', 'float'"),
    ({"images": "X", "intensity": {"mapping": "window"}}, "intensity.window_width = 0.0: expected a number > 0"),
    ({"images": "X", "format": "nifti", "intensity": {"mapping": "bit-depth"}},
     "intensity.input_bits = 'auto': expected an integer bit depth"),
    ({"images": "X", "geometry": {"hr_size": [30, 32]}}, "geometry.hr_size = [30, 32]: expected multiples of"),
    ({"images": "X", "geometry": {"hr_size": 32}}, "geometry.hr_size = 32: expected a list [height, width]"),
    ({"images": "X", "split": {"rule": "fraction", "test_fraction": 0.6, "val_fraction": 0.5}},
     "split.val_fraction = 0.5: expected test_fraction + val_fraction < 1"),
    ({"images": "X", "split": {"test_fraction": 1.0}}, "split.test_fraction = 1.0: expected a number > 0 and < 1"),
    ({"images": "X", "metrics": {"channel": "Y"}}, "metrics.channel = 'Y': expected one of gray, rgb, y, matlab-gray"),
    ({"images": "X", "metrics": {"data_range": 1.0, "quantize": True}},
     "metrics.quantize = true: expected an integer data_range >= 2"),
    ({"images": "X", "volume": 2}, "datasets.lab.volume = 2: expected a table"),
    ({"title": "t"}, "datasets.lab.images: missing; expected a folder or glob"),
    ({"images": "nowhere/*.png"}, "folder"),
    ({"images": "."}, "no supported file found"),
    ({"datasets": {}}, "datasets: expected at least one [datasets.<name>] table"),
    ({"datasets": {"My Lab": {"images": "X"}}}, "invalid dataset name 'My Lab'; expected lower-case"),
    ({"datasets": {"drive": {"images": "X"}}}, "the name 'drive' is a built-in dataset"),
]


@pytest.mark.parametrize("table,expected", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_config_gives_one_line(tmp_path, table, expected):
    (tmp_path / "X").mkdir()
    write_png(tmp_path / "X" / "a.png", rng_image((16, 16)))
    (tmp_path / "empty").mkdir()
    cfg = table if "datasets" in table else {"datasets": {"lab": table}}
    with pytest.raises(ConfigError) as err:
        load_custom_config(cfg, base_dir=tmp_path if table.get("images") != "." else tmp_path / "empty")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("<dict>: ") and expected in msg, msg
    assert isinstance(err.value, ValueError)


def test_bad_toml_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[datasets.lab\nimages = 1\n")
    for path, expected in ((bad, "invalid TOML"), (tmp_path / "missing.toml", "cannot read the config")):
        with pytest.raises(ConfigError) as err:
            load_custom_config(path)
        assert str(err.value).startswith(f"{path}: ") and expected in str(err.value) and "\n" not in str(err.value)


def test_metric_keys_match_the_benchmark_metric_settings(folder):
    from medsr_bench.benchmark.metrics.domain import CHANNEL_POLICIES, NRMSE_NORMS, MetricSettings

    names = {f.name for f in dataclasses.fields(MetricSettings)}
    assert {k.field for k in METRIC_KEYS} <= names
    by = {k.key: k for k in METRIC_KEYS}
    assert by["channel"].expected == "one of " + ", ".join(CHANNEL_POLICIES)
    assert by["nrmse_norm"].expected == "one of " + ", ".join(NRMSE_NORMS)
    for hr_bits in (8, 16, "float", "auto"):
        d = one({"images": str(folder / "png"), "intensity": {"hr_bits": hr_bits}})
        MetricSettings(**d.metrics)  # every default combination is a valid MetricSettings


def test_readme_documents_every_key():
    readme = (REPO / "README.md").read_text()
    assert "## Bring your own dataset" in readme
    assert config_reference_markdown() in readme, "regenerate the README table with config_reference_markdown()"
    assert len(KEYS) + len(METRIC_KEYS) == config_reference_markdown().count("\n| `")
    assert {f.name for f in dataclasses.fields(CustomParams)} == {k.field for k in KEYS} | {"name"}
    defaults = {f.name: f.default for f in dataclasses.fields(CustomParams)}
    assert all(defaults[k.field] == ("" if k.key in ("title", "images") else k.default) for k in KEYS)


def test_limit_spreads_slices_over_volumes(tmp_path):
    for i in range(2):
        write_nifti(tmp_path / "v" / f"vol{i}.nii.gz", brain_volume((16, 16, 10), seed=i))
    d = one({"images": str(tmp_path / "v"), "degradation": {"scale": 2}})
    ids = [s.meta.image_id for s in d.protocol.samples(None, limit=5)]
    # 3 + 2 slices (spread_quota: round robin), spread inside the non-blank slices 2..8 of each
    # volume, nested in N like the paper protocols
    assert [i[:4] for i in ids].count("vol0") == 3 and [i[:4] for i in ids].count("vol1") == 2
    assert all(2 <= int(i[-3:]) <= 8 for i in ids)
    assert set(ids) > {s.meta.image_id for s in d.protocol.samples(None, limit=4)}
