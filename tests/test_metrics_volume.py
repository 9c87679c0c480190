"""``metric.reduce=volume``: slices read in their volume's raw intensities with the volume's range
as ``data_range``, and the 3-D SSIM (column ``ssim@volume``), validated against scikit-image's n-D
``structural_similarity`` (gaussian_weights, sigma 1.5, population covariance) to 1e-12."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
from cli_helpers import bench
from skimage.metrics import structural_similarity

from medsr_bench.benchmark.execute import VOLUME_SSIM, _volume_ssim_rows
from medsr_bench.benchmark.metrics import MetricSettings, compute_metrics_batch
from medsr_bench.benchmark.metrics.domain import reading_settings, to_metric_domain
from medsr_bench.benchmark.metrics.ssim import ssim3d
from medsr_bench.benchmark.sweep import grid_points, parse_grid
from medsr_bench.data_prep import get_protocol
from medsr_bench.data_prep.sample import SampleMeta

SSIM3D_TOL = 1e-12


def _pair(shape, data_range, seed):
    rng = np.random.default_rng(seed)
    x = rng.random(shape) * data_range
    return x, np.clip(x + rng.normal(0, 0.1 * data_range, shape), 0, data_range)


@pytest.mark.parametrize(("shape", "data_range"), [((11, 11, 11), 1.0), ((14, 30, 25), 255.0),
                                                   ((20, 16, 40), 4095.0), ((12, 13, 14, 15), 1.0)])
def test_ssim3d_equals_skimage_nd(shape, data_range):
    x, y = _pair(shape, data_range, sum(shape))
    want = structural_similarity(x, y, data_range=data_range, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    assert abs(ssim3d(x, y, data_range) - want) <= SSIM3D_TOL
    assert ssim3d(x, x, data_range) == pytest.approx(1.0, abs=1e-12)


def test_ssim3d_refuses_small_or_mismatched_volumes():
    with pytest.raises(ValueError, match="every side >= 11"):
        ssim3d(np.zeros((10, 20, 20)), np.zeros((10, 20, 20)), 1.0)
    with pytest.raises(ValueError, match="same-shape"):
        ssim3d(np.zeros((11, 20, 20)), np.zeros((11, 20, 21)), 1.0)


def test_volume_reading_maps_slices_to_raw_intensity_and_volume_range():
    """A slice normalised per slice (raw 100..300 -> 0..1) in a volume 0..1000: reduce=volume
    scores it as raw intensities with data_range 1000 (fastMRI's volume maximum)."""
    rng = np.random.default_rng(5)
    hr01 = rng.random((1, 32, 32))
    sr01 = np.clip(hr01 + rng.normal(0, 0.02, hr01.shape), 0, 1)
    ms = MetricSettings(data_range=1.0, quantize=False, reduce="volume")
    vr = np.array([[100.0, 300.0]])
    srd, hrd = to_metric_domain(sr01, ms, vr, 0.0), to_metric_domain(hr01, ms, vr, 0.0)
    np.testing.assert_allclose(hrd, 100.0 + 200.0 * hr01)
    rs = reading_settings(ms, 1000.0)
    v, _ = compute_metrics_batch(srd, hrd, rs, names=["psnr"])
    mse = np.mean((200.0 * (sr01 - hr01)) ** 2)
    assert v["psnr"][0] == pytest.approx(10 * math.log10(1000.0**2 / mse), abs=1e-9)
    s, _ = compute_metrics_batch(sr01, hr01, MetricSettings(data_range=1.0, quantize=False), names=["psnr"])
    assert s["psnr"][0] != pytest.approx(v["psnr"][0])  # the per-slice reading differs


def test_brats_volume_of_reads_the_volume(tmp_path):
    import nibabel as nib

    vol = np.zeros((16, 16, 6), np.int16)
    vol[4:12, 4:12, 1:5] = np.arange(1, 5, dtype=np.int16) * 100
    vol[8, 8, 3] = 1234
    path = tmp_path / "Case1_t1.nii.gz"
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(path))
    base = get_protocol("brats2018")
    p = get_protocol("brats2018", dataclasses.replace(base.params, expected_shape=None))
    meta = SampleMeta(dataset="brats2018", image_id="Case1_z003", split="test", scale=4, source=str(path),
                      source_sha256="", orig_dtype="int16", orig_data_range=1234.0, bit_depth=None,
                      extra={"slice": 3, "raw_min": 0.0, "raw_max": 1234.0})
    ref = p.volume_of(tmp_path, meta)
    assert ref.volume_id == str(path) and ref.index == 3
    assert ref.value_range == (0.0, 1234.0) and ref.volume_range == (0.0, 1234.0)
    gone = SampleMeta(**{**meta.to_dict(), "source": str(tmp_path / "missing.nii.gz")})
    assert p.volume_of(tmp_path, gone) is None


def _rows_and_volumes(n_slices, gap=False):
    ms = MetricSettings(data_range=1.0, quantize=False, reduce="volume")
    task = SimpleNamespace(scorings=[SimpleNamespace(variant="v", metric_settings=ms.to_dict())])
    x, y = _pair((n_slices, 24, 24), 1.0, n_slices)
    zs = [z + (5 if gap and z >= n_slices // 2 else 0) for z in range(n_slices)]
    slices = [(z, f"vol_z{z:03d}", x[i], y[i], ms) for i, z in enumerate(zs)]
    rows = [{"variant": "v", "image_id": f"vol_z{z:03d}", "note": ""} for z in zs[::-1]]
    return task, rows, {(ms, ("psnr",)): {"vol": slices}}, x, y


def test_volume_ssim_on_the_first_slice_row_only():
    assert VOLUME_SSIM == "ssim@volume"  # a region-style column: summarised and directed as SSIM
    task, rows, vols, x, y = _rows_and_volumes(12)
    _volume_ssim_rows(task, rows, vols)
    by_id = {r["image_id"]: r for r in rows}
    want = structural_similarity(x, y, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    assert abs(by_id["vol_z000"]["ssim@volume"] - want) <= SSIM3D_TOL
    assert all(math.isnan(r["ssim@volume"]) for k, r in by_id.items() if k != "vol_z000")


@pytest.mark.parametrize(("n", "gap", "why"), [(5, False, "fewer than 11"), (12, True, "not consecutive")])
def test_volume_ssim_nan_with_note(n, gap, why):
    task, rows, vols, _, _ = _rows_and_volumes(n, gap)
    _volume_ssim_rows(task, rows, vols)
    head = next(r for r in rows if r["image_id"] == "vol_z000")
    assert math.isnan(head["ssim@volume"]) and why in head["note"]


def test_reduce_is_a_setting_and_a_sweep_axis():
    assert MetricSettings().reduce == "slice"
    with pytest.raises(ValueError, match="reduce must be one of"):
        MetricSettings(reduce="study")
    points, dropped = grid_points(parse_grid(["metric.reduce=slice,volume"]), {})
    assert points == [{}, {"metric.reduce": "volume"}] and not dropped


@pytest.mark.shared
@pytest.mark.slow
def test_rashid_volume_reading_end_to_end(bench_env, shared_data):
    from medsr_bench.benchmark.results_io import read_per_image

    out = bench_env / "sweep"
    r = bench("sweep", "--suite", "rashid", "--data-root", shared_data, "--limit", "2", "--models", "bicubic",
              "--grid", "metric.reduce=slice,volume", "--workers", "1", "--out", out)
    assert r.exit_code == 0, r.output
    df = read_per_image(out / "per_image.csv")
    assert df.variant.nunique() == 2
    vol = df[df["ssim@volume"].notna() | df.note.str.contains("ssim@volume", na=False)]
    assert len(vol) == 2 and vol.note.str.contains("fewer than 11").all()  # --limit 2: one slice each
    psnr = df.pivot_table(index="image_id", columns="variant", values="psnr")
    assert (psnr.iloc[:, 0] != psnr.iloc[:, 1]).all()  # the volume's range moves PSNR
