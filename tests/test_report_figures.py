"""Crop-zoom figure: the magnified window lands on fine detail, not on a border or background;
the per-image distribution figure stays legible on an 800 px page."""

import numpy as np
import pytest

from medsr_bench.benchmark.report.figures import crop_zoom_figure, detail_window, upsample_nearest


def test_window_prefers_texture_over_one_strong_edge():
    rng = np.random.default_rng(0)
    img = np.zeros((200, 200), np.float32)
    img[:, 100:] = 0.5  # mid-grey half
    img[:, :20] = 0.0   # black background strip (like a retina FOV border)
    img[20:200, 20:100] = 0.5
    img[20:60, 20:60] = 1.0  # one strong edge: bright square
    img[130:170, 130:170] += 0.1 * rng.standard_normal((40, 40)).astype(np.float32)  # texture
    y, x, side = detail_window(img, frac=0.18)
    assert side == 36
    assert 130 - side <= y <= 170 and 130 - side <= x <= 170, (y, x)


def test_figure_is_a_png_and_lr_view_matches_hr_size():
    hr = np.random.default_rng(1).random((64, 64, 3)).astype(np.float32)
    lr = hr[::4, ::4]
    up = upsample_nearest(lr, hr.shape)
    assert up.shape == hr.shape
    png = crop_zoom_figure([("LR", up), ("HR", hr)], hr, title="t")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("n_metrics, n_models", [(1, 2), (3, 3), (3, 12), (5, 6)])
def test_boxplot_ticks_stay_legible_on_an_800px_page(n_metrics, n_models):
    """The per-image distribution figure is shrunk to the page width at 800 px: its tick labels
    must still be >= 10 px tall there (they were ~6 px; issue 18)."""
    import numpy as np

    from medsr_bench.benchmark.report.plots import (
        LEGIBLE_PX,
        displayed_px,
        distribution_figure,
        distribution_layout,
    )

    rng = np.random.default_rng(0)
    values = {f"metric{i}": {f"realesrgan-model-{j}": rng.random(5) for j in range(n_models)}
              for i in range(n_metrics)}
    png = distribution_figure(values, title="t")
    tick = distribution_layout(n_metrics, n_models)[2]
    assert displayed_px(png, tick) >= LEGIBLE_PX - 0.5
