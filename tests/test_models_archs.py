"""Architectures: parameter counts, and random weights saved in each official file layout load through
the registry and reproduce the basicsr / realesrgan reference module exactly (CPU)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from basicsr.archs.discriminator_arch import UNetDiscriminatorSN, VGGStyleDiscriminator
from basicsr.archs.rrdbnet_arch import RRDBNet
from basicsr.archs.srresnet_arch import MSRResNet
from realesrgan.archs.srvgg_arch import SRVGGNetCompact

from medsr_bench.models import get_spec, load_model
from medsr_bench.models.network import load_network

#: basicsr RRDBNet names -> xinntao/ESRGAN's original names (RRDB_ESRGAN_x4.pth), to write a
#: random-init state dict in that official old layout
_TO_OLD_ESRGAN = [(r"^body\.", "RRDB_trunk."), (r"\.rdb([123])\.", r".RDB\1."),
                  (r"^conv_body\.", "trunk_conv."), (r"^conv_up([12])\.", r"upconv\1."),
                  (r"^conv_hr\.", "HRconv.")]


def to_old_esrgan(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        for pat, rep in _TO_OLD_ESRGAN:
            k = re.sub(pat, rep, k)
        out[k] = v
    return out


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("name, expected", [
    ("realesrgan-x4plus", 16_697_987),
    ("realesrgan-x2plus", 16_703_171),
    ("realesrgan-1ch", 16_695_681),
    ("esrgan", 16_697_987),
    ("realesrgan-x4plus-netd", 4_376_897),
    ("realesrgan-1ch-netd", 4_375_745),
    ("msrresnet-x4", 1_517_571),
    ("realesr-animevideov3", 621_424),
    ("realesrgan-animevideo-xsx2", 600_652),
    ("srgan-leftthomas-x4", 734_092),
    ("srresnet", 1_528_724),
])
def test_parameter_counts(name, expected):
    assert n_params(get_spec(name).arch()) == expected


# name -> (reference module from basicsr / realesrgan, file layout, LR size)
REFERENCES = {
    "esrgan": (lambda: RRDBNet(3, 3, scale=4, num_feat=64, num_block=23, num_grow_ch=32),
               "old-esrgan", 12),
    "realesrgan-x4plus": (lambda: RRDBNet(3, 3, scale=4), "params_ema", 12),
    "realesrgan-x2plus": (lambda: RRDBNet(3, 3, scale=2), "params_ema", 12),
    "realesrgan-1ch": (lambda: RRDBNet(1, 1, scale=4), "params_ema", 12),
    "esrgan-basicsr": (lambda: RRDBNet(3, 3, scale=4), "params", 12),
    "msrresnet-x4": (lambda: MSRResNet(3, 3, 64, 16, 4), "params", 16),
    "realesr-general-x4v3": (lambda: SRVGGNetCompact(3, 3, 64, 32, 4, "prelu"), "params", 16),
    "realesrgan-animevideo-xsx2": (lambda: SRVGGNetCompact(3, 3, 64, 16, 2, "prelu"), "params", 16),
}


def _write(path, layout, sd, decoy):
    if layout == "old-esrgan":
        old = to_old_esrgan(sd)
        assert {"RRDB_trunk.22.RDB3.conv5.bias", "trunk_conv.weight", "upconv2.bias",
                "HRconv.weight"} <= set(old)
        torch.save(old, path)  # bare dict, old names
    elif layout == "params_ema":  # official Real-ESRGAN files carry both; EMA must win
        torch.save({"params": decoy, "params_ema": sd}, path)
    else:
        torch.save({layout: sd}, path)


@pytest.mark.parametrize("name", list(REFERENCES))
def test_official_layout_loads_and_matches_reference(name, tmp_path):
    build_ref, layout, size = REFERENCES[name]
    spec = get_spec(name)
    torch.manual_seed(1)
    ref = build_ref().eval()
    for p in ref.parameters():  # make the weights clearly non-default
        p.data.add_(torch.randn_like(p) * 0.01)
    decoy = {k: torch.randn_like(v) for k, v in ref.state_dict().items()}
    _write(tmp_path / spec.pretrained.file, layout, ref.state_dict(), decoy)

    m = load_model(name, tmp_path, "cpu", verify_hash=False)
    info = m.info()["weights"]
    # third-party checkpoints are read by spandrel (which unwraps params_ema first, then params);
    # this test is their parity test against basicsr's / realesrgan's module on the same weights
    if spec.pretrained.loader == "spandrel":
        assert info["loader"].startswith("spandrel") and type(m.net).__module__.startswith("spandrel")
    assert info["key"] == (None if layout == "old-esrgan" else layout)
    rng = np.random.default_rng(0)
    shape = (2, size, size) if spec.in_channels == 1 else (2, size, size, 3)
    lr = rng.random(shape, dtype=np.float32)
    out = m.upscale(lr, spec.scale)
    with torch.inference_mode():
        x = torch.from_numpy(lr)
        x = x[:, None] if spec.in_channels == 1 else x.permute(0, 3, 1, 2)
        y = ref(x).clamp(0, 1)
        y = y[:, 0].numpy() if spec.in_channels == 1 else y.permute(0, 2, 3, 1).numpy()
    assert out.shape == y.shape and out.dtype == np.float32
    # the engine runs channels_last (NHWC): another convolution algorithm, same values to 1e-5
    np.testing.assert_allclose(out, y, rtol=0, atol=1e-5)


def test_ledig_srresnet_round_trip(tmp_path):
    spec = get_spec("srgan")
    torch.manual_seed(2)
    net = spec.arch().eval()
    with torch.no_grad():  # non-trivial BN statistics
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    torch.save({"params": net.state_dict()}, tmp_path / spec.pretrained.file)
    m = load_model("srgan", tmp_path, "cpu")
    lr = np.random.default_rng(0).random((1, 10, 10), dtype=np.float32)
    with torch.inference_mode():
        y = net(torch.from_numpy(lr)[:, None]).clamp(0, 1)[:, 0].numpy()
    np.testing.assert_allclose(m.upscale(lr, 4), y, rtol=0, atol=1e-5)  # NHWC engine, see above
    assert m.upscale(lr, 4).shape == (1, 40, 40)


@pytest.mark.parametrize("name, build_ref, shape", [
    ("realesrgan-x4plus-netd", lambda: UNetDiscriminatorSN(3, 64), (1, 3, 32, 32)),
    ("srgan-netd", lambda: VGGStyleDiscriminator(1, 64, 128), (1, 1, 128, 128)),
])
def test_discriminator_loads(name, build_ref, shape, tmp_path):
    spec = get_spec(name)
    torch.manual_seed(3)
    ref = build_ref().eval()
    torch.save({"params": ref.state_dict()}, tmp_path / spec.pretrained.file)
    net, info = load_network(spec, tmp_path, verify_hash=False)
    net.eval()
    x = torch.rand(shape)
    with torch.inference_mode():
        assert torch.equal(net(x), ref(x))
    assert info["key"] == "params"
