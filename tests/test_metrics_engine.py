"""The batched engine (CPU backend: tiled NumPy + OpenCV; torch backend: the CUDA code path, run
here on CPU) against the per-image NumPy implementations (and its building blocks), over shapes,
channel policies, crops, tilings and settings; CUDA when available."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metric_tester import ENGINE_TOL, assert_close, synthetic_stack

from medsr_bench.benchmark.metrics import MetricSettings, compute_metrics_batch
from medsr_bench.benchmark.metrics import _kernels as K
from medsr_bench.benchmark.metrics import engine as E
from medsr_bench.benchmark.metrics import ssim as S
from medsr_bench.benchmark.metrics.domain import prepare_pair

FR = sorted(E.ENGINE_METRICS)


@pytest.mark.parametrize(
    ("shape", "channels", "settings"),
    [
        ((3, 64, 64), 0, MetricSettings()),
        ((2, 97, 45), 0, MetricSettings(crop_border=3, nrmse_norm="euclidean")),
        ((2, 181, 203), 0, MetricSettings(nrmse_norm="min-max", vif_rescale=False)),
        ((2, 70, 88), 3, MetricSettings(channel="rgb")),
        ((2, 70, 88), 3, MetricSettings(channel="y", crop_border=4)),
        ((1, 300, 50), 0, MetricSettings(msssim_weights=(0.5, 0.5), ssim_k1=0.02, ssim_k2=0.05)),
        ((2, 41, 41), 0, MetricSettings(vif_sigma_nsq=0.5)),
    ],
)
@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_engine_equals_numpy(shape, channels, settings, backend):
    sr, hr = synthetic_stack(*shape, channels=channels, dtype=np.uint8, seed=sum(shape))
    a, na = compute_metrics_batch(sr, hr, settings, FR, engine="numpy")
    x, y = prepare_pair(sr, hr, settings)
    b, nb = E.compute_batch(x, y, settings, FR, backend=backend, chunk=1)
    for m in FR:
        assert_close(b[m], a[m], ENGINE_TOL, 1e-12, m)
    assert na == ["; ".join(t) for t in nb]


@pytest.mark.parametrize("tile_pixels", [1, 2**20])
@pytest.mark.parametrize("workers", [1, 3])
def test_engine_cpu_tiles_and_threads_change_nothing(monkeypatch, tile_pixels, workers):
    """Bands of rows (down to the smallest band: 8 window halos), plane groups and threads give the
    same values as the per-image NumPy path (sums over tiles add up)."""
    monkeypatch.setattr(E, "TILE_PIXELS", tile_pixels)
    sr, hr = synthetic_stack(2, 300, 60, channels=3, dtype=np.uint8, seed=5)  # 4 SSIM, 3 VIF bands
    s = MetricSettings(channel="rgb")
    a, _ = compute_metrics_batch(sr, hr, s, FR, engine="numpy")
    x, y = prepare_pair(sr, hr, s)
    b, _ = E.compute_batch(x, y, s, FR, backend="cpu", workers=workers)
    for m in FR:
        assert_close(b[m], a[m], ENGINE_TOL, 1e-12, m)


def test_row_bands_cover_every_output_row_once():
    for h, w, g, k in ((131, 77, 3, 11), (1024, 1024, 1, 17), (41, 41, 1, 3), (300, 8, 40, 9)):
        rows = []
        for r0, r1 in E._row_bands(h, w, g, k):
            assert r1 - r0 >= k and r1 <= h
            rows += list(range(r0, r1 - k + 1))
        assert rows == list(range(h - k + 1))


def test_cv_filter_equals_scipy():
    rng = np.random.default_rng(3)
    x = rng.random((2, 3, 37, 50)) * 255
    for k, sigma, stride in ((11, 1.5, 1), (17, 3.4, 1), (9, 1.8, 2), (3, 0.6, 2)):
        want = K.gaussian_valid(x, k, sigma)[..., ::stride, ::stride]
        got = E.cv_gaussian_valid(x, k, sigma, stride)
        assert got.shape == want.shape
        assert np.max(np.abs(got - want)) < 1e-10


@pytest.mark.parametrize("method", ["shift", "gemm"])
@pytest.mark.parametrize(("k", "sigma", "stride"), [(11, 1.5, 1), (17, 3.4, 1), (9, 1.8, 2), (3, 0.6, 2)])
def test_engine_filter_equals_direct(k, sigma, stride, method):
    rng = np.random.default_rng(k)
    x = rng.random((2, 3, 37, 50)) * 255
    want = K.filter_valid(x, K.gaussian_taps(k, sigma))[..., ::stride, ::stride]
    got = E.filter_valid(torch.from_numpy(x), k, sigma, stride, method=method).numpy()
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) < 1e-10


def test_box2_decimate_matches_sewar_uniform_filter():
    from scipy.ndimage import uniform_filter

    rng = np.random.default_rng(0)
    for h, w in ((16, 16), (15, 22), (7, 9)):
        x = rng.random((h, w))
        want = uniform_filter(x, 2)[::2, ::2]
        assert np.allclose(S.box2_decimate(x), want, atol=1e-14)
        assert np.allclose(E.box2_decimate(torch.from_numpy(x)).numpy(), want, atol=1e-14)


def test_gaussian_taps_equal_sewar_fspecial():
    from sewar.utils import Filter, fspecial

    for n, sig in ((11, 1.5), (17, 3.4), (9, 1.8), (5, 1.0), (3, 0.6)):
        g = K.gaussian_taps(n, sig)
        assert np.allclose(np.outer(g, g), fspecial(Filter.GAUSSIAN, ws=n, sigma=sig), atol=1e-15)


def test_engine_rejects_unknown_metric_and_backend():
    z = np.zeros((1, 1, 20, 20))
    with pytest.raises(KeyError):
        E.compute_batch(z, z, MetricSettings(), ["niqe"])
    with pytest.raises(ValueError, match="backend"):
        E.compute_batch(z, z, MetricSettings(), ["ssim"], backend="jax")


def test_engine_option_validation():
    a = np.zeros((1, 20, 20), np.uint8)
    with pytest.raises(ValueError, match="engine"):
        compute_metrics_batch(a, a, MetricSettings(), ["psnr"], engine="jax")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_engine_cuda_equals_cpu():
    sr, hr = synthetic_stack(4, 128, 96, dtype=np.uint8, seed=1)
    a, _ = compute_metrics_batch(sr, hr, MetricSettings(), FR, device="cpu")
    b, _ = compute_metrics_batch(sr, hr, MetricSettings(), FR, device="cuda")
    for m in FR:
        assert_close(b[m], a[m], ENGINE_TOL, 1e-12, m)


def test_engine_gemm_filter_path_equals_numpy(monkeypatch):
    """The Toeplitz-GEMM filter (used on CUDA) through the whole engine, run here on CPU."""
    import functools

    monkeypatch.setattr(E, "filter_valid", functools.partial(E.filter_valid, method="gemm"))
    sr, hr = synthetic_stack(2, 83, 70, channels=3, dtype=np.uint8, seed=13)
    s = MetricSettings(channel="rgb", crop_border=2)
    a, _ = compute_metrics_batch(sr, hr, s, FR, engine="numpy")
    b, _ = E.compute_batch(*prepare_pair(sr, hr, s), s, FR, backend="torch")
    for m in FR:
        assert_close(b[m], a[m], ENGINE_TOL, 1e-12, m)
