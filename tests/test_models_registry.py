"""Registry contract: names and order, specs, interpolation models, missing weights are cheap."""

from __future__ import annotations

import time

import numpy as np
import pytest

from medsr_bench import models
from medsr_bench.models import WeightsMissing, get_spec, list_models, load_model
from medsr_bench.models.registry import list_aux, list_checkpoints

PAPER_ORDER = [
    "nearest", "bilinear", "bicubic", "lanczos", "bicubic-matlab", "srresnet", "srgan", "esrgan",
    "realesrgan-x4plus", "realesrgan-x2plus", "realesrgan-finetuned-retina",
    "realesrgan-finetuned-cxr", "realesrgan-1ch",
]
EXTRAS = [
    "srgan-leftthomas-x4", "realesr-animevideov3", "realesrgan-animevideo-xsx4",
    "realesrgan-animevideo-xsx2", "realesrnet-x4plus", "esrgan-basicsr", "msrresnet-x4",
    "realesr-general-x4v3",
]
INTERP = PAPER_ORDER[:5]


def test_names_in_contract_order():
    names = list_models()
    assert names[: len(PAPER_ORDER)] == PAPER_ORDER
    assert set(EXTRAS) <= set(names[len(PAPER_ORDER):])
    assert len(names) == len(set(names))


def test_public_api_exports():
    for n in ("load_model", "list_models", "get_spec", "WeightsMissing", "WeightsError"):
        assert hasattr(models, n)


def test_aux_networks_are_not_sr_models():
    assert {"realesrgan-x4plus-netd", "realesrgan-1ch-netd", "srgan-netd"} <= set(list_aux())
    assert not set(list_aux()) & set(list_models())
    with pytest.raises(TypeError, match="auxiliary"):
        get_spec("realesrgan-x4plus-netd").factory(get_spec("realesrgan-x4plus-netd"), None, "cpu")


def test_unknown_model_is_keyerror():
    with pytest.raises(KeyError, match="unknown model"):
        get_spec("no-such-model")


@pytest.mark.parametrize("name", list_models())
def test_spec_fields(name):
    spec = get_spec(name)
    assert spec.description and spec.paper
    if name in INTERP:
        assert spec.scale is None and spec.in_channels == 0 and spec.pretrained is None
        return
    cfg = spec.pretrained
    assert spec.scale in (2, 4) and spec.in_channels in (1, 3) and spec.arch is not None
    assert cfg.file and cfg.obtain and cfg.license and cfg.paper
    assert cfg.sha256 is None or len(cfg.sha256) == 64
    assert cfg.key in ("params_ema", "params", None)
    if cfg.url is None:
        assert "weights dir" in cfg.obtain or "train it" in cfg.obtain
    # documented defaults
    assert spec.options["gray"] == "average" and spec.options["x2_mode"] == "outscale"
    assert spec.options["precision"] == "fp32"


def test_project_models_say_how_to_get_them():
    from medsr_bench.models.train.recipes import get_recipe, list_recipes

    rows = {get_recipe(r).model_row: r for r in list_recipes()}
    for n in ("srresnet", "srgan", "realesrgan-finetuned-retina", "realesrgan-finetuned-cxr",
              "realesrgan-1ch", "realesrnet-1ch"):
        cfg = get_spec(n).pretrained
        assert cfg.url is None and cfg.obtain.startswith(f"bench train --recipe {rows[n]}")
        assert cfg.file in cfg.obtain


def test_known_hashes_from_weights_readme():
    assert get_spec("realesrgan-x4plus").pretrained.sha256.startswith("4fa0d38905f75ac0")
    assert get_spec("realesrgan-x2plus").pretrained.sha256.startswith("49fafd45f8fd7aa8")
    assert get_spec("esrgan").pretrained.sha256.startswith("65fece06e1ccb488")
    assert get_spec("esrgan").pretrained.loader == "spandrel"  # old key layout: spandrel reads it
    assert get_spec("realesr-general-x4v3").pretrained.sha256.startswith("8dc7edb9ac80ccdc")


def test_missing_weights_are_cheap_and_informative(tmp_path):
    for name in list_models():
        spec = get_spec(name)
        if spec.pretrained is None:
            continue
        t = time.perf_counter()
        with pytest.raises(WeightsMissing) as ei:
            load_model(name, tmp_path, "cpu")
        assert time.perf_counter() - t < 0.5, name  # raised before building the network
        e = ei.value
        assert e.model == name and e.expected_path == tmp_path / spec.pretrained.file
        assert e.obtain == spec.pretrained.obtain and "\n" not in str(e)


def test_checkpoint_listing_covers_models_and_aux():
    names = [s.name for s in list_checkpoints()]
    assert "realesrgan-x4plus" in names and "realesrgan-x4plus-netd" in names
    assert "bicubic" not in names


# ----------------------------------------------------------------------------- interpolation
@pytest.mark.parametrize("name", INTERP)
@pytest.mark.parametrize("shape", [(2, 9, 7), (1, 8, 6, 3)])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_interpolation_contract(name, shape, scale):
    rng = np.random.default_rng(0)
    lr = rng.random(shape, dtype=np.float32)
    m = load_model(name)
    out = m.upscale(lr, scale)
    assert out.dtype == np.float32
    assert out.shape == (shape[0], shape[1] * scale, shape[2] * scale, *shape[3:])
    assert out.min() >= 0 and out.max() <= 1
    assert m.diagnostics == {}
    assert m.info()["name"] == name


def test_interpolation_matches_reference_implementations():
    import cv2
    from basicsr.utils.matlab_functions import imresize

    rng = np.random.default_rng(1)
    lr = rng.random((1, 10, 12), dtype=np.float32) * 0.8 + 0.1
    np.testing.assert_array_equal(
        load_model("bicubic").upscale(lr, 4)[0],
        np.clip(cv2.resize(lr[0], (48, 40), interpolation=cv2.INTER_CUBIC), 0, 1))
    np.testing.assert_array_equal(
        load_model("nearest").upscale(lr, 2)[0], np.repeat(np.repeat(lr[0], 2, 0), 2, 1))
    ref = imresize(lr[0], 4).astype(np.float32)
    np.testing.assert_allclose(load_model("bicubic-matlab").upscale(lr, 4)[0], np.clip(ref, 0, 1),
                               atol=1e-6)


def test_no_8bit_rounding_on_16bit_data():
    lr = (np.arange(64, dtype=np.float32).reshape(1, 8, 8) * 1001 % 65535) / 65535
    out = load_model("bilinear").upscale(lr, 2)
    on_grid = np.abs(out * 255 - np.round(out * 255)) < 1e-4
    assert on_grid.mean() < 0.5  # values are not snapped to multiples of 1/255


def test_interpolation_ignores_deep_options_but_rejects_unknown():
    load_model("bicubic", gray="luma", precision="bf16", tile=32)
    with pytest.raises(ValueError, match="unknown options"):
        load_model("bicubic", colour="blue")
