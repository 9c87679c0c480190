"""Building blocks: resize, blur, pad, quantise, P_D, seeded splits."""

from __future__ import annotations

import numpy as np
import pytest

from medsr_bench.data_prep import ops
from medsr_bench.data_prep.protocols.cptac_gbm import pixel_difference_loop
from medsr_bench.data_prep.splits import evenly_spaced, seeded_sample, seeded_split, split_counts


@pytest.mark.parametrize("method", sorted(ops.RESIZE_METHODS))
@pytest.mark.parametrize("shape", [(16, 12), (16, 12, 3)])
def test_resize_shapes_and_dtype(method, shape):
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    y = ops.resize(x, (8, 6), method)
    assert y.shape == (8, 6) + shape[2:]
    assert y.dtype == np.float32


def test_resize_pil_uint8_path_stays_uint8():
    x = np.random.default_rng(1).integers(0, 256, (20, 18, 3)).astype(np.uint8)
    y = ops.resize(x, (16, 16), "pil-lanczos")
    assert y.dtype == np.uint8 and y.shape == (16, 16, 3)


def test_resize_constant_is_preserved():
    x = np.full((32, 32), 0.25, np.float32)
    for m in ("matlab-bicubic", "cv2-bicubic", "pil-lanczos", "cv2-bilinear"):
        np.testing.assert_allclose(ops.resize(x, (8, 8), m), 0.25, atol=1e-6)


def test_resize_unknown_method():
    with pytest.raises(ValueError, match="unknown resize method"):
        ops.resize(np.zeros((4, 4), np.float32), (2, 2), "magic")


def test_gaussian_blur_matches_opencv_kernel_and_preserves_mean():
    x = np.zeros((15, 15), np.float32)
    x[7, 7] = 1.0
    y = ops.gaussian_blur(x, 1.0, 7)
    assert y.sum() == pytest.approx(1.0, abs=1e-5)
    assert y[7, 7] == y.max() and y[7, 6] == pytest.approx(y[6, 7])
    with pytest.raises(ValueError, match="odd"):
        ops.gaussian_blur(x, 1.0, 6)
    np.testing.assert_array_equal(ops.gaussian_blur(x, 0.0, 7), x)


def test_quantize_grid():
    x = np.array([0.0, 0.5, 1.2, -0.1], np.float32)
    q = ops.quantize(x, 8)
    assert q.dtype == np.float32
    np.testing.assert_array_equal(np.round(q * 255), [0, 128, 255, 0])
    assert ops.quantize(x, None).max() == 1.0


def test_pad_center_and_bottom_right():
    x = np.ones((240, 240), np.float32)
    p = ops.pad_to(x, (256, 256))
    assert p.shape == (256, 256)
    assert p[:8].sum() == 0 and p[-8:].sum() == 0 and p[:, :8].sum() == 0 and p[:, -8:].sum() == 0
    assert p[8:248, 8:248].min() == 1
    q = ops.pad_to(np.ones((3, 5, 3), np.float32), (4, 8), "bottom-right")
    assert q.shape == (4, 8, 3) and q[:3, :5].min() == 1 and q[3:].max() == 0
    with pytest.raises(ValueError):
        ops.pad_to(x, (100, 100))


def test_minmax_and_window():
    x = np.array([[-1000.0, 0.0], [40.0, 1000.0]])
    np.testing.assert_allclose(ops.minmax(x), [[0, 0.5], [0.52, 1]])
    np.testing.assert_allclose(ops.window(x, 40, 80), [[0, 0], [0.5, 1]])
    assert ops.minmax(np.full((2, 2), 3.0)).max() == 0


def test_pixel_difference_equals_double_loop():
    rng = np.random.default_rng(3)
    for shape in [(7, 9), (1, 5), (6, 1), (12, 12)]:
        img = rng.random(shape) * 255
        assert ops.pixel_difference_score(img) == pytest.approx(pixel_difference_loop(img), rel=1e-12)
    assert ops.pixel_difference_score(np.full((5, 5), 7.0)) == 0.0
    with pytest.raises(ValueError):
        ops.pixel_difference_score(np.zeros((2, 2, 3)))


def test_seeded_sample_is_order_independent_and_sorted():
    ids = [f"im{i:03d}" for i in range(100)]
    a = seeded_sample(ids, 40, 0)
    b = seeded_sample(list(reversed(ids)), 40, 0)
    assert a == b and a == sorted(a) and len(set(a)) == 40
    assert seeded_sample(ids, 40, 1) != a
    assert seeded_sample(ids[:10], 40, 0) == ids[:10]


def test_split_counts_and_stratified_split():
    assert split_counts(1400, (1000, 200, 200)) == [1000, 200, 200]
    assert split_counts(6, (1000, 200, 200)) == [4, 1, 1]
    assert sum(split_counts(285, (0.8, 0.2))) == 285
    ids = [f"c{i}" for i in range(10)]
    strata = {i: ("HGG" if k < 6 else "LGG") for k, i in enumerate(ids)}
    a = seeded_split(ids, ("train", "test"), (0.8, 0.2), 0, strata)
    assert sorted(a) == sorted(ids)
    test = [i for i, s in a.items() if s == "test"]
    assert len(test) == 2 and {strata[i] for i in test} == {"HGG", "LGG"}
    assert a == seeded_split(list(reversed(ids)), ("train", "test"), (0.8, 0.2), 0, strata)


def test_evenly_spaced_avoids_edges():
    items = list(range(100))
    assert evenly_spaced(items, 1) == [50] or evenly_spaced(items, 1) == [49]
    picks = evenly_spaced(items, 4)
    assert len(picks) == 4 and min(picks) > 5 and max(picks) < 94
    assert evenly_spaced(items[:3], 5) == [0, 1, 2]


def test_seeded_sample_is_nested_in_n():
    ids = [f"id{i:03d}" for i in range(500)]
    prev: set = set()
    for n in (1, 2, 3, 10, 11, 200):
        cur = set(seeded_sample(ids, n, 4))
        assert len(cur) == n and prev <= cur
        prev = cur


def test_spread_order_is_a_permutation_and_evenly_spaced_is_nested():
    from medsr_bench.data_prep.splits import spread_order

    for m in (1, 2, 3, 7, 9, 64, 155):
        assert sorted(spread_order(m)) == list(range(m))
    items = list(range(140))
    for n in range(1, 20):
        assert set(evenly_spaced(items, n)) <= set(evenly_spaced(items, n + 1))
    picks = evenly_spaced(items, 3)
    assert min(picks) > 10 and max(picks) < 130  # spread out, not the edges


@pytest.mark.parametrize("n", [2, 3, 4])
def test_seeded_split_ensures_the_evaluated_split(n):
    ids = [f"v{i}" for i in range(n)]
    strata = {i: ("HGG" if k % 2 else "LGG") for k, i in enumerate(ids)}
    for st in (None, strata):
        a = seeded_split(ids, ("train", "test"), (0.8, 0.2), 0, st, ensure=("test",))
        assert "test" in a.values() and "train" in a.values()
    one = seeded_split(["only"], ("train", "test"), (0.8, 0.2), 0, ensure=("test",))
    assert list(one.values()) == ["train"]  # one usable item: nothing to guarantee
