"""Diagnostic regions: region metrics against skimage / NumPy, mask alignment on synthetic and real
DRIVE / BraTS data, thin-vessel rule, missing mask files."""

from __future__ import annotations

import math

import numpy as np
import pytest
from data_fixtures import make_brats_tree, rng_image, write_png, write_tiff
from skimage.metrics import structural_similarity

from medsr_bench.benchmark.metrics.domain import MetricSettings, prepare_pair, to_metric_domain
from medsr_bench.benchmark.metrics.fsim import fsim
from medsr_bench.benchmark.metrics.regions import region_metric_names, region_metrics
from medsr_bench.benchmark.metrics.ssim import ssim
from medsr_bench.data_prep import get_protocol
from medsr_bench.data_prep.protocols.brats2018 import BratsParams
from medsr_bench.data_prep.protocols.drive import DriveParams
from medsr_bench.data_prep.regions import (
    VesselRegionSettings,
    resize_mask,
    thin_vessels,
    vessel_width,
)

TOL = 1e-10  # float64 reference vs float64 implementation (same window, same constants)


def pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    hr = rng.random(shape).astype(np.float32)
    sr = np.clip(hr + rng.normal(0, 0.08, shape), 0, 1).astype(np.float32)
    return sr, hr


def blob_masks(n, h, w, seed=1):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    out = np.zeros((n, h, w), bool)
    for i in range(n):
        cy, cx, r = rng.integers(8, h - 8), rng.integers(8, w - 8), rng.integers(5, 12)
        out[i] = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    return out


def reference(sr, hr, mask, dr, rgb):
    """Direct computation: NumPy MSE over the mask, skimage's full SSIM map over the mask's valid
    pixels (5 from the border)."""
    d = (sr - hr)[mask]
    psnr = 10 * math.log10(dr * dr / np.mean(d * d))
    _, smap = structural_similarity(hr, sr, data_range=dr, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, full=True,
                                    channel_axis=-1 if rgb else None)
    v = mask[5:-5, 5:-5]
    return psnr, float(smap[5:-5, 5:-5][v].mean())


@pytest.mark.parametrize("channel,shape", [("gray", (3, 40, 48)), ("rgb", (2, 36, 44, 3))])
def test_region_metrics_match_skimage_and_numpy(channel, shape):
    st = MetricSettings(data_range=255, channel=channel)
    sr01, hr01 = pair(shape)
    sr, hr = to_metric_domain(sr01, st), to_metric_domain(hr01, st)
    masks = blob_masks(shape[0], shape[1], shape[2])
    got = region_metrics(sr, hr, {"blob": masks}, st)
    assert list(got) == ["psnr@blob", "ssim@blob"]
    for i in range(shape[0]):
        p, s = reference(sr[i], hr[i], masks[i], 255.0, channel == "rgb")
        assert abs(got["psnr@blob"][i] - p) < TOL and abs(got["ssim@blob"][i] - s) < TOL


def test_full_mask_equals_the_full_image_metrics_and_y_channel():
    st = MetricSettings(data_range=255, channel="y")
    sr01, hr01 = pair((2, 32, 32, 3), seed=3)
    sr, hr = to_metric_domain(sr01, st), to_metric_domain(hr01, st)
    got = region_metrics(sr, hr, {"all": np.ones((32, 32), bool)}, st, metrics=("psnr", "ssim", "mse"))
    x, y = prepare_pair(sr, hr, st)
    for i in range(2):
        mse = np.mean((x[i] - y[i]) ** 2)
        assert abs(got["mse@all"][i] - mse) < TOL
        assert abs(got["psnr@all"][i] - 10 * math.log10(255**2 / mse)) < TOL
        assert abs(got["ssim@all"][i] - ssim(x[i], y[i], st)[0]) < TOL


def test_crop_border_applies_to_masks_like_images():
    sr01, hr01 = pair((2, 40, 40), seed=5)
    masks = blob_masks(2, 40, 40, seed=6)
    cropped = region_metrics(to_metric_domain(sr01, MetricSettings()), to_metric_domain(hr01, MetricSettings()),
                             {"b": masks}, MetricSettings(crop_border=4))
    pre = region_metrics(to_metric_domain(sr01[:, 4:-4, 4:-4], MetricSettings()),
                         to_metric_domain(hr01[:, 4:-4, 4:-4], MetricSettings()),
                         {"b": masks[:, 4:-4, 4:-4]}, MetricSettings())
    for k in pre:
        np.testing.assert_allclose(cropped[k], pre[k], rtol=0, atol=TOL)


def test_empty_region_is_nan_with_a_note_and_bad_masks_raise():
    st = MetricSettings()
    sr, hr = (to_metric_domain(a, st) for a in pair((2, 24, 24)))
    edge = np.zeros((24, 24), bool)
    edge[:2] = True  # only inside the SSIM margin
    notes: list = []
    got = region_metrics(sr, hr, {"none": np.zeros((24, 24), bool), "edge": edge}, st, notes=notes)
    assert np.isnan(got["psnr@none"]).all() and np.isnan(got["ssim@none"]).all()
    assert np.isfinite(got["psnr@edge"]).all() and np.isnan(got["ssim@edge"]).all()
    assert {(c, r.split(" ")[0]) for _, c, r in notes} == {("psnr@none", "empty"), ("ssim@none", "empty"),
                                                          ("ssim@edge", "empty")}
    with pytest.raises(ValueError, match="expected bool"):
        region_metrics(sr, hr, {"x": np.ones((24, 24), np.uint8)}, st)
    with pytest.raises(ValueError, match="expected bool"):
        region_metrics(sr, hr, {"x": np.ones((3, 24, 24), bool)}, st)
    with pytest.raises(ValueError, match="unknown region metric"):
        region_metrics(sr, hr, {"x": np.ones((24, 24), bool)}, st, metrics=("vif",))


@pytest.mark.parametrize("channel,hw", [("gray", (48, 56)), ("rgb", (520, 530))])
def test_fsim_with_an_all_true_mask_is_the_whole_image_fsim(channel, hw):
    # (520, 530): FeatureSIM.m's F = 2 box reduction applies to the mask as to the images
    st = MetricSettings(data_range=255, channel=channel)
    shape = (1, *hw, 3) if channel == "rgb" else (1, *hw)
    sr, hr = (to_metric_domain(a, st) for a in pair(shape, seed=7))
    got = region_metrics(sr, hr, {"all": np.ones(hw, bool)}, st, metrics=("fsim",))
    x, y = prepare_pair(sr, hr, st)
    assert got["fsim@all"][0] == fsim(x[0], y[0], st)[0]


def _padded_slice(h=160, w=160, seed=0):
    """A BraTS-like slice: a textured ellipse ("brain") in zero padding, [0, 1] floats, and an SR
    blurred inside it."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    brain = ((yy - h / 2) / (0.38 * h)) ** 2 + ((xx - w / 2) / (0.31 * w)) ** 2 < 1
    tex = ndimage.gaussian_filter(rng.random((h, w)), 2)
    hr = np.where(brain, 0.3 + 0.6 * (tex - tex.min()) / np.ptp(tex), 0.0)
    return np.where(brain, ndimage.gaussian_filter(hr, 1.2), 0.0), hr, brain


def _pyiqa_fsim_in_region(sr, hr, mask):
    """FSIM (1 channel, F = 1) from pyiqa 0.1.16's own phase congruency, Scharr gradient and
    similarity maps, pooled over ``mask`` (pyiqa has no region form; its ``fsim`` pools over the
    whole image the same way)."""
    import torch
    from pyiqa.archs import fsim_arch as pf

    x, y = (torch.from_numpy(a[None, None] * 255.0) for a in (sr, hr))
    pc = [pf._phase_congruency(a, scales=4, orientations=4, min_length=6, mult=2, sigma_f=0.55,
                               delta_theta=1.2, k=2.0) for a in (x, y)]
    scharr = torch.tensor([[[-3.0, 0.0, 3.0], [-10.0, 0.0, 10.0], [-3.0, 0.0, 3.0]]], dtype=x.dtype) / 16
    kernels = torch.stack([scharr, scharr.transpose(-1, -2)])
    g = [pf.gradient_map(a, kernels) for a in (x, y)]
    s = pf.similarity_map(*pc, 0.85) * pf.similarity_map(*g, 160)
    pcm = torch.maximum(*pc) * torch.from_numpy(mask)[None, None].to(x.dtype)
    return float((s * pcm).sum() / pcm.sum())


def test_fsim_inside_the_brain_matches_pyiqa_maps_and_leaves_the_padding_out():
    pytest.importorskip("pyiqa")
    import medsr_bench.compat  # noqa: F401  (before pyiqa's torchvision import)

    sr, hr, brain = _padded_slice()
    st = MetricSettings(data_range=1.0, channel="gray", quantize=False)
    got = region_metrics(sr[None], hr[None], {"brain": brain}, st, metrics=("fsim",))["fsim@brain"][0]
    # 8e-8 here: the whole-image FSIM tolerance vs pyiqa (1e-5) comes from the zero background
    # (fsim.py: pyiqa's epsilon), which the region leaves out
    assert abs(got - _pyiqa_fsim_in_region(sr, hr, brain)) < 1e-6
    whole = fsim(sr[None], hr[None], st)[0]
    assert whole - got > 0.02  # 0.970 vs 0.939: the padding's similarity pulls FSIM towards 1


def test_region_metric_names_follow_the_run_metric_set():
    assert region_metric_names(("psnr", "ssim", "mse", "vif")) == ("psnr", "ssim")
    assert region_metric_names(("psnr", "fsim")) == ("psnr", "ssim", "fsim")


def test_thin_vessel_rule_on_lines_of_known_width():
    v = np.zeros((40, 60), bool)
    v[5, 5:55] = True          # 1 px wide
    v[15:17, 5:55] = True      # 2 px
    v[25:30, 5:55] = True      # 5 px
    w = vessel_width(v)
    assert w[5, 30] == 1 and w[15, 30] == 1 and w[27, 30] == 5 and w[25, 30] == 5
    thin = thin_vessels(v, VesselRegionSettings().thin_max_width)
    assert thin[5, 10:50].all() and thin[15:17, 10:50].all() and not thin[25:30, 10:50].any()
    assert not (thin & ~v).any()


def write_gif(path, mask):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path, format="GIF")


def test_drive_masks_follow_the_image_transform(tmp_path):
    """A raw image whose bright pixels are exactly the FOV mask: after the protocol's resize the
    aligned mask matches the bright HR pixels (and a shifted mask does not)."""
    h, w = 36, 30
    yy, xx = np.mgrid[:h, :w]
    fov = (yy - 17) ** 2 + ((xx - 13) * 1.2) ** 2 < 12**2
    img = np.where(fov[..., None], 255, 0).astype(np.uint8).repeat(3, axis=2)
    d = tmp_path / "DRIVE" / "test"
    write_tiff(d / "images" / "01_test.tif", img)
    write_gif(d / "mask" / "01_test_mask.gif", fov)
    vessel = np.zeros((h, w), bool)
    vessel[17, 4:24] = True
    vessel[10:14, 12] = True
    write_gif(d / "1st_manual" / "01_manual1.gif", vessel)
    write_tiff(d / "images" / "02_test.tif", img)  # no mask files
    p = get_protocol("drive", DriveParams(expected_hw=(h, w), hr_hw=(32, 32), hr_resize="cv2-bilinear"))
    s1, s2 = list(p.samples(tmp_path))
    r = p.regions(tmp_path, s1.meta)
    assert set(r) == {"fov", "vessel", "thin_vessel"} and not r.notes
    assert all(m.dtype == bool and m.shape == (32, 32) for m in r.values())
    bright = np.round(s1.hr[..., 0] * 255) >= 128  # 8-bit HR: round(255 f) >= 128 <=> f >= 0.5
    np.testing.assert_array_equal(r["fov"], bright)  # same bilinear geometry, same 0.5 threshold
    assert not np.array_equal(np.roll(r["fov"], 1, axis=1), bright)
    assert r["thin_vessel"].any() and not (r["thin_vessel"] & ~r["vessel"]).any()
    np.testing.assert_array_equal(r["vessel"], resize_mask(vessel, (32, 32), "cv2-bilinear"))
    missing = p.regions(tmp_path, s2.meta)  # never fatal: the files are named
    assert dict(missing) == {} and len(missing.notes) == 2
    assert "02_test_mask.gif: mask file not found" in missing.notes[0]
    assert "02_manual1.gif: mask file not found" in missing.notes[1]


def test_brats_brain_mask_is_the_nonzero_slice_padded(tmp_path):
    make_brats_tree(tmp_path, {"HGG": ["H1", "H2"], "LGG": ["L1"]})
    p = get_protocol("brats2018", BratsParams(expected_shape=(24, 24, 10), hr_hw=(32, 32)))
    samples = list(p.samples(tmp_path, split="all"))
    for s in samples:
        r = p.regions(tmp_path, s.meta)
        assert set(r) == {"brain"} and r["brain"].shape == (32, 32) and not r.notes
        np.testing.assert_array_equal(r["brain"], s.hr > 0)
        assert not r["brain"][:4].any()  # the 4-px pad is never brain
    assert len(samples) == 3 * 7
    lgg = next(s for s in samples if s.meta.source.endswith("L1_t1.nii.gz"))
    (tmp_path / lgg.meta.source).unlink()
    fresh = get_protocol("brats2018", BratsParams(expected_shape=(24, 24, 10), hr_hw=(32, 32)))
    r = fresh.regions(tmp_path, lgg.meta)
    assert dict(r) == {} and r.notes == [f"{lgg.meta.source}: T1 volume not found under data root {tmp_path}, "
                                         "so no brain mask"]


def test_protocols_without_regions_return_empty(tmp_path):
    write_png(tmp_path / "NIH_ChestXray14" / "images" / "00000001_000.png", rng_image((32, 32)))
    from medsr_bench.data_prep.protocols.chestxray14 import ChestXray14Params

    p = get_protocol("chestxray14", ChestXray14Params(expected_hw=(32, 32)))
    (s,) = p.samples(tmp_path)
    r = p.regions(tmp_path, s.meta)
    assert dict(r) == {} and r.notes == []


def iou(m, ref):
    return (m & ref).sum() / (m | ref).sum()


def ring_contrast(v, g, fov):
    """Mean of ``g`` on a 1-4 px ring around ``v`` (inside ``fov``) minus its mean on ``v``."""
    from scipy.ndimage import binary_dilation

    ring = binary_dilation(v, iterations=4) & ~binary_dilation(v, iterations=1) & fov
    return g[ring].mean() - g[v & fov].mean()


@pytest.mark.shared
def test_drive_regions_on_real_data(shared_data):
    """Real DRIVE: the FOV mask covers the non-black retina of the HR sample (better overlap than
    when shifted); vessels (and thin vessels) are darker than their surroundings in the green
    channel, most so at zero shift, i.e. the annotation is aligned to the pixel."""
    p = get_protocol("drive")
    for s in p.samples(shared_data, limit=2):
        r = p.regions(shared_data, s.meta)
        assert not r.notes and set(r) == {"fov", "vessel", "thin_vessel"}
        fov, ves, thin = r["fov"], r["vessel"], r["thin_vessel"]
        retina = s.hr.mean(axis=2) > 0.05
        assert retina[fov].mean() > 0.99 and iou(fov, retina) > 0.99
        assert all(iou(fov, retina) > iou(np.roll(fov, k, axis=a), retina) for k in (-3, 3) for a in (0, 1))
        g = s.hr[..., 1]
        for m in (ves, thin):
            c0 = ring_contrast(m, g, fov)
            assert c0 > 0.01
            assert all(c0 > ring_contrast(np.roll(m, k, axis=a), g, fov) for k in (-1, 1) for a in (0, 1))
        assert 0 < thin.sum() < ves.sum() and not (thin & ~ves).any() and (ves & ~fov).mean() < 0.01


# ------------------------------------------------ regions from the image itself: CT body, radiograph field
def _ct_phantom() -> np.ndarray:
    """A 64x64 HU slice: air -1000; a body disc (40 HU) holding an air pocket (-1000, a hole) and a
    lung-like area (-800); a separate small 'table' strip (200 HU) below it."""
    from medsr_bench.data_prep.regions import BODY_HU_THRESHOLD

    assert BODY_HU_THRESHOLD == -500.0
    yy, xx = np.mgrid[:64, :64]
    hu = np.full((64, 64), -1000.0)
    hu[np.hypot(yy - 30, xx - 32) < 22] = 40.0
    hu[np.hypot(yy - 30, xx - 26) < 4] = -1000.0
    hu[np.hypot(yy - 30, xx - 40) < 5] = -800.0
    hu[58:61, 10:54] = 200.0
    return hu


def test_ct_body_mask_threshold_largest_component_holes_filled():
    from medsr_bench.data_prep.regions import ct_body_mask

    hu = _ct_phantom()
    yy, xx = np.mgrid[:64, :64]
    m = ct_body_mask(hu)
    np.testing.assert_array_equal(m, np.hypot(yy - 30, xx - 32) < 22)  # pockets filled, table dropped
    assert not ct_body_mask(np.full((8, 8), -1000.0)).any()
    with pytest.raises(ValueError, match="2-D slice"):
        ct_body_mask(np.zeros((2, 8, 8)))


def test_cptac_body_region_from_the_hr_in_hu():
    from medsr_bench.data_prep.regions import ct_body_mask
    from medsr_bench.data_prep.sample import SampleMeta

    hu = _ct_phantom()
    lo, hi = -1024.0, 1000.0
    hr01 = (hu - lo) / (hi - lo)
    meta = SampleMeta(dataset="ct-head-standin", image_id="a", split="test", scale=4, source="a.dcm",
                      source_sha256="", orig_dtype="int16", orig_data_range=hi - lo,
                      extra={"modality": "CT", "rescaled_min": lo, "rescaled_max": hi})
    r = get_protocol("cptac-gbm").image_regions(hr01, meta)
    np.testing.assert_array_equal(r["body"], ct_body_mask(hu))
    mr = SampleMeta(**{**meta.to_dict(), "extra": {"modality": "MR"}})
    r2 = get_protocol("cptac-gbm").image_regions(hr01, mr)
    assert "body" not in r2 and "no HU" in r2.notes[0]


def test_radiograph_field_drops_the_black_frame_only():
    from medsr_bench.data_prep.regions import radiograph_field

    img = np.full((80, 100), 0.6)
    img[:, :12] = 0.0  # letterbox frame left and right
    img[:, 90:] = 0.005
    img[30:40, 40:50] = 0.0  # near-black inside the field (not border-connected): stays field
    f = radiograph_field(img)
    want = np.zeros_like(f)
    want[:, 12:90] = True
    np.testing.assert_array_equal(f, want)
    assert radiograph_field(np.full((20, 20), 0.5)).all()  # no frame: the whole image
    r = get_protocol("chestxray14").image_regions(img, None)
    np.testing.assert_array_equal(r["field"], want)


@pytest.mark.shared
def test_radiograph_field_on_real_cxr(shared_data):
    import cv2

    from medsr_bench.data_prep.regions import radiograph_field

    for f in sorted((shared_data / "NIH_ChestXray14" / "images").glob("*.png"))[:3]:
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE).astype(np.float64) / 255.0
        m = radiograph_field(img)
        assert 0.5 < m.mean() <= 1.0  # the exposed field is most of a chest film
        assert img[m].mean() > img[~m].mean() if (~m).any() else True


def test_mask_outline_in_the_crop_zoom_figure(tmp_path):
    import cv2

    from medsr_bench.benchmark.report.figures import crop_zoom_figure, read_masks

    hr = np.random.default_rng(0).random((64, 64))
    mask = np.zeros((64, 64), bool)
    mask[10:50, 12:40] = True
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "masks" / "body.png"), (mask * 65535).astype(np.uint16))
    masks = read_masks(tmp_path)
    assert list(masks) == ["body"]
    np.testing.assert_array_equal(masks["body"], mask)
    plain = crop_zoom_figure([("SR", hr), ("HR 64x64", hr)], hr)
    outlined = crop_zoom_figure([("SR", hr), ("HR 64x64", hr)], hr, masks=masks)
    assert outlined[:8] == b"\x89PNG\r\n\x1a\n" and outlined != plain
    assert read_masks(tmp_path / "none") == {}
