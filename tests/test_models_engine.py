"""Engine and model wrapper: tiling (blended) vs untiled, padding, batching, precision, grayscale
policy, 1-channel models on RGB, x2 from x4, determinism. Small random networks keep this fast."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch
from realesrgan.archs.srvgg_arch import SRVGGNetCompact

from medsr_bench.models import get_spec
from medsr_bench.models.engine import Engine, _ramp
from medsr_bench.models.network import DeepModel


def tiny_srvgg(scale=4, num_conv=4, in_ch=3, seed=0):
    torch.manual_seed(seed)
    net = SRVGGNetCompact(num_in_ch=in_ch, num_out_ch=in_ch, num_feat=16, num_conv=num_conv,
                          upscale=scale, act_type="prelu")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


def model_with(name, net, **options):
    """The registered spec ``name`` driving a small network (same code path as load_model)."""
    spec = get_spec(name)
    spec = dataclasses.replace(spec, arch=lambda: net)
    return DeepModel(spec, net, {"test": True}, "cpu", {**spec.options, **options})


def ref(net, x):
    with torch.inference_mode():
        return net(torch.from_numpy(x)).numpy()


RNG = np.random.default_rng(0)
RADIUS = 6  # receptive radius (LR px) of tiny_srvgg(num_conv=4): 6 stacked 3x3 convs


def test_ramp_weights_cross_fade():
    o = 40  # overlap in output px
    a = _ramp(100, False, True, o)
    b = _ramp(100, True, False, o)
    # a's last 40 px overlap b's first 40 px
    np.testing.assert_allclose((a[-o:] + b[:o]).numpy(), 1.0)
    assert a[-1] == 0 and b[0] == 0 and a[0] == 1 and b[-1] == 1


@pytest.mark.parametrize("tile, tile_pad, atol", [
    (16, 2 * RADIUS, 1e-5),  # tile_pad >= 2 x receptive radius: identical up to float rounding
    (12, 4, 0.05),           # less context: blended seams stay small
])
def test_tiled_matches_untiled(tile, tile_pad, atol):
    net = tiny_srvgg()
    x = RNG.random((2, 3, 37, 45), dtype=np.float32)
    full = Engine(net, 4, "cpu")(torch.from_numpy(x)).numpy()
    tiled = Engine(net, 4, "cpu", tile=tile, tile_pad=tile_pad, tile_batch=3)(
        torch.from_numpy(x)).numpy()
    assert tiled.shape == full.shape == (2, 3, 148, 180)
    assert np.abs(tiled - full).max() <= atol
    np.testing.assert_allclose(full, ref(net, x), atol=1e-6)


def test_tiled_blends_not_pastes():
    net = tiny_srvgg()
    x = RNG.random((1, 3, 40, 40), dtype=np.float32)
    full = Engine(net, 4, "cpu")(torch.from_numpy(x)).numpy()
    blended = Engine(net, 4, "cpu", tile=16, tile_pad=2)(torch.from_numpy(x)).numpy()
    hard = Engine(net, 4, "cpu", tile=16, tile_pad=0)(torch.from_numpy(x)).numpy()
    assert np.abs(blended - full).mean() < np.abs(hard - full).mean()


def test_pre_pad_and_input_multiple():
    from basicsr.archs.rrdbnet_arch import RRDBNet

    torch.manual_seed(0)
    net = RRDBNet(3, 3, scale=2, num_feat=8, num_block=1, num_grow_ch=4).eval()
    x = RNG.random((1, 3, 15, 13), dtype=np.float32)  # odd sizes: pixel-unshuffle needs even
    out = Engine(net, 2, "cpu", input_multiple=2, pre_pad=3)(torch.from_numpy(x)).numpy()
    padded = torch.nn.functional.pad(torch.from_numpy(x), (0, 3, 0, 3), mode="reflect")  # 15+3, 13+3 even
    expect = ref(net, padded.numpy())[..., :30, :26]
    assert out.shape == (1, 3, 30, 26)
    np.testing.assert_allclose(out, expect, atol=1e-6)


def test_batching_and_determinism():
    net = tiny_srvgg()
    x = torch.from_numpy(RNG.random((5, 3, 20, 20), dtype=np.float32))
    a = Engine(net, 4, "cpu", batch_size=1)(x).numpy()
    b = Engine(net, 4, "cpu", batch_size=4)(x).numpy()
    c = Engine(net, 4, "cpu", batch_size=4)(x).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_array_equal(b, c)  # CPU results are deterministic


@pytest.mark.parametrize("precision, atol", [("bf16", 0.05), ("fp16", 0.01)])
def test_reduced_precision_close_to_fp32(precision, atol):
    net = tiny_srvgg()
    x = torch.from_numpy(RNG.random((2, 3, 16, 16), dtype=np.float32))
    full = Engine(net, 4, "cpu")(x)
    low = Engine(net, 4, "cpu", precision=precision)(x)
    assert low.dtype == torch.float32
    assert (low - full).abs().max() < atol


def test_channels_last_same_result():
    net = tiny_srvgg()
    x = torch.from_numpy(RNG.random((2, 3, 16, 16), dtype=np.float32))
    np.testing.assert_allclose(Engine(net, 4, "cpu", channels_last=True)(x).numpy(),
                               Engine(net, 4, "cpu", channels_last=False)(x).numpy(), atol=1e-5)


def test_bad_settings():
    with pytest.raises(ValueError, match="precision"):
        Engine(tiny_srvgg(), 4, "cpu", precision="int8")
    with pytest.raises(ValueError, match="shape"):
        Engine(tiny_srvgg(), 4, "cpu")(torch.zeros(3, 8, 8))


# ----------------------------------------------------------------------------- model wrapper
@pytest.mark.parametrize("policy, weights", [("average", (1 / 3, 1 / 3, 1 / 3)),
                                             ("luma", (0.299, 0.587, 0.114))])
def test_gray_input_on_rgb_model(policy, weights):
    net = tiny_srvgg()
    m = model_with("realesrgan-x4plus", net, gray=policy)
    lr = RNG.random((2, 10, 12), dtype=np.float32)
    out = m.upscale(lr, 4)
    rgb = np.clip(ref(net, np.repeat(lr[:, None], 3, axis=1)), 0, 1)
    expect = np.clip(np.tensordot(np.asarray(weights, np.float32), rgb, axes=([0], [1])), 0, 1)
    assert out.shape == (2, 40, 48) and out.dtype == np.float32
    np.testing.assert_allclose(out, expect, atol=1e-6)
    spread = m.diagnostics["gray_channel_spread"]
    assert spread.shape == (2,) and np.all(spread > 0)
    np.testing.assert_allclose(spread, (rgb.max(1) - rgb.min(1)).reshape(2, -1).mean(1), rtol=1e-5)
    assert m.info()["gray_policy"] == policy


def test_rgb_input_on_rgb_model_has_no_gray_diagnostic():
    m = model_with("realesrgan-x4plus", tiny_srvgg())
    out = m.upscale(RNG.random((1, 8, 8, 3), dtype=np.float32), 4)
    assert out.shape == (1, 32, 32, 3) and m.diagnostics == {}


def test_one_channel_model_on_rgb_and_gray():
    net = tiny_srvgg(in_ch=1)
    m = model_with("realesrgan-1ch", net)
    lr = RNG.random((2, 8, 9, 3), dtype=np.float32)
    out = m.upscale(lr, 4)
    assert out.shape == (2, 32, 36, 3)
    for c in range(3):  # each colour channel separately
        np.testing.assert_allclose(out[..., c], np.clip(ref(net, lr[..., c][:, None])[:, 0], 0, 1),
                                   atol=1e-6)
    g = m.upscale(lr[..., 0], 4)
    np.testing.assert_allclose(g, out[..., 0], atol=1e-6)
    assert m.diagnostics == {}


def test_x2_from_x4_outscale():
    net = tiny_srvgg()
    m = model_with("realesrgan-x4plus", net)
    lr = RNG.random((2, 10, 11, 3), dtype=np.float32)
    out = m.upscale(lr, 2)
    assert out.shape == (2, 20, 22, 3)
    x4 = np.clip(ref(net, lr.transpose(0, 3, 1, 2)), 0, 1).transpose(0, 2, 3, 1)
    for i in range(2):
        expect = np.clip(cv2.resize(x4[i], (22, 20), interpolation=cv2.INTER_LANCZOS4), 0, 1)
        np.testing.assert_allclose(out[i], expect, atol=1e-6)
    # gray input through the x2 path
    assert m.upscale(lr[..., 0], 2).shape == (2, 20, 22)


def test_native_x2_mode_uses_companion():
    x4, x2 = tiny_srvgg(4, seed=1), tiny_srvgg(2, seed=2)
    m = model_with("realesrgan-x4plus", x4, x2_mode="native-x2")
    m.companion = model_with("realesrgan-x2plus", x2)
    lr = RNG.random((1, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(m.upscale(lr, 2), m.companion.upscale(lr, 2))
    assert m.upscale(lr, 4).shape == (1, 32, 32)
    assert m.info()["x2_model"]["name"] == "realesrgan-x2plus"


def test_impossible_scales_and_shapes():
    m = model_with("realesrgan-x4plus", tiny_srvgg())
    with pytest.raises(ValueError, match="cannot produce x8"):
        m.upscale(np.zeros((1, 4, 4), np.float32), 8)
    with pytest.raises(ValueError, match="cannot produce x3"):
        m.upscale(np.zeros((1, 4, 4), np.float32), 3)
    with pytest.raises(ValueError, match=r"\(N, h, w\)"):
        m.upscale(np.zeros((4, 4), np.float32), 4)
    with pytest.raises(ValueError, match="gray"):
        model_with("realesrgan-x4plus", tiny_srvgg(), gray="green")
    with pytest.raises(ValueError, match="unknown options"):
        model_with("realesrgan-x4plus", tiny_srvgg(), tilesize=3)


def test_sixteen_bit_values_are_not_rounded():
    net = tiny_srvgg()
    m = model_with("realesrgan-x4plus", net)
    lr = (RNG.integers(0, 65536, (1, 8, 8)) / 65535).astype(np.float32)
    rounded = np.round(lr * 255) / 255
    assert not np.array_equal(m.upscale(lr, 4), m.upscale(rounded.astype(np.float32), 4))


def test_outputs_clipped_and_info():
    m = model_with("realesrgan-x4plus", tiny_srvgg(), tile=8, tile_pad=4, precision="bf16")
    out = m.upscale(RNG.random((1, 20, 20, 3), dtype=np.float32) * 4 - 2, 4)
    assert out.min() >= 0 and out.max() <= 1
    eng = m.info()["engine"]
    assert eng["tile"] == 8 and eng["tile_pad"] == 4 and eng["precision"] == "bf16"
    assert eng["device"] == "cpu" and eng["channels_last"] is True
