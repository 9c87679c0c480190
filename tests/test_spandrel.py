"""Bring your own model (models/spandrel_model.py, models/config.py): spandrel-loaded checkpoints
through the engine, one-line errors, and ``bench run`` with ``[models.<name>]`` tables / ``--models
FILE`` (the acceptance run on ../shared skips when it is absent)."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pytest
import torch
from cli_helpers import invoke

import medsr_bench.compat  # noqa: F401  (before spandrel imports torchvision)
from medsr_bench.models import load_model
from medsr_bench.models.config import load_model_tables
from medsr_bench.models.engine import Engine
from medsr_bench.models.registry import WeightsError
from medsr_bench.models.spandrel_model import make_entry, read_checkpoint, register_entry

COMPACT = "realesr-animevideov3.pth"
COMPACT_SHA = "b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d"


def swinir(path, scale=4, seed=0):
    """A small random-init SwinIR (spandrel's own module = the official layout), saved as
    ``{"params": state_dict}`` like the official SwinIR releases."""
    from spandrel.architectures.SwinIR import SwinIR

    torch.manual_seed(seed)
    net = SwinIR(upscale=scale, in_chans=3, img_size=32, window_size=8, img_range=1.0, depths=[2, 2],
                 embed_dim=24, num_heads=[2, 2], mlp_ratio=2, upsampler="pixelshuffledirect",
                 resi_connection="1conv")
    torch.save({"params": net.state_dict()}, path)
    return net.eval()


def compact(path, scale=2, seed=0):
    """A random-init 1-channel SRVGGNetCompact (realesrgan's module) saved under ``params``."""
    from realesrgan.archs.srvgg_arch import SRVGGNetCompact

    torch.manual_seed(seed)
    net = SRVGGNetCompact(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=2, upscale=scale)
    torch.save({"params": net.state_dict()}, path)
    return net.eval()


@pytest.mark.parametrize("minimum,multiple,square", [(0, 1, False), (16, 1, False), (0, 8, False),
                                                     (12, 4, True), (0, 2, True)])
def test_engine_padding_matches_spandrel(minimum, multiple, square):
    from spandrel import SizeRequirements

    req = SizeRequirements(minimum=minimum, multiple_of=multiple, square=square)
    eng = Engine(torch.nn.Identity(), 1, "cpu", req.multiple_of, input_minimum=req.minimum,
                 input_square=req.square, channels_last=False)
    for h, w in [(5, 9), (16, 16), (17, 31), (40, 8)]:
        pw, ph = req.get_padding(w, h)
        assert eng.padding(h, w) == (ph, pw)


def test_swinir_entry_and_model(tmp_path):
    f = tmp_path / "s.pth"
    net = swinir(f)
    e = make_entry("t-swinir", f, "test")
    d = e["detected"]
    assert (d["architecture"], d["scale"], d["input_channels"]) == ("SwinIR", 4, 3)
    assert d["hyperparameters"]["embed_dim"] == 24 and d["size_requirements"]["minimum"] == 16
    register_entry(e)
    m = load_model("t-swinir", device="cpu", channels_last=False)
    lr = np.random.default_rng(0).random((2, 10, 12, 3), dtype=np.float32)  # below minimum 16
    sr = m.upscale(lr, 4)
    assert sr.shape == (2, 40, 48, 3)
    # the engine pads 10x12 to 16x16 (reflect, bottom/right), as done here by hand
    x = torch.nn.functional.pad(torch.from_numpy(lr).permute(0, 3, 1, 2), (0, 4, 0, 6), mode="reflect")
    with torch.no_grad():
        ref = net(x)[..., :40, :48].clamp(0, 1).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(sr, ref, atol=1e-5)
    info = m.info()
    assert info["spandrel"]["architecture"] == "SwinIR" and info["weights"]["sha256"] == e["sha256"]


def test_unsupported_precision_runs_fp32_with_note(tmp_path):
    f = tmp_path / "s.pth"
    swinir(f)
    register_entry(make_entry("t-swinir-fp16", f, "test"))  # SwinIR: supports_half False
    m = load_model("t-swinir-fp16", device="cpu", precision="fp16")
    assert m.engine.settings.precision == "fp32"
    assert "does not support fp16" in m.info()["precision_note"]


def test_gray_network_and_rgb_input(tmp_path):
    f = tmp_path / "c.pth"
    net = compact(f)
    e = make_entry("t-compact1", f, "test", channels=1, scale=2)
    register_entry(e)
    m = load_model("t-compact1", device="cpu", channels_last=False)
    lr = np.random.default_rng(1).random((1, 8, 8), dtype=np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(lr)[:, None]).clamp(0, 1)[:, 0].numpy()
    np.testing.assert_allclose(m.upscale(lr, 2), ref, atol=1e-6)
    assert m.upscale(np.stack([lr[0]] * 3, -1)[None], 2).shape == (1, 16, 16, 3)


class RunsCode:
    """A pickle whose loading would call ``os.system`` (must be refused, never run)."""

    def __reduce__(self):
        import os

        return (os.system, ("echo code ran",))


class NotTensors:
    """A pickled object that needs code (a global outside the tensor whitelist) to load."""

    def __init__(self):
        self.w = torch.zeros(1)


@pytest.mark.parametrize("case,expected", [
    ("unknown", "unknown architecture (spandrel"),
    ("list", "not a state dict"),
    ("code", "refused: the pickle needs code execution"),
    ("reduce", "refused: the pickle needs code execution to load (global posix.system)"),
    ("suffix", "unsupported checkpoint suffix"),
    ("garbage", "cannot read as a checkpoint"),
])
def test_one_line_errors(tmp_path, case, expected):
    f = tmp_path / ("m.bin" if case == "suffix" else "m.pth")
    if case == "unknown":
        torch.save({"foo.weight": torch.zeros(3, 3), "bar.bias": torch.zeros(3)}, f)
    elif case == "list":
        torch.save([torch.zeros(2)], f)
    elif case == "code":
        torch.save({"params": NotTensors()}, f)
    elif case == "reduce":
        torch.save({"params": RunsCode()}, f)
    elif case == "garbage":
        f.write_bytes(b"not a checkpoint at all")
    else:
        torch.save({"a": torch.zeros(1)}, f)
    with pytest.raises(WeightsError) as err:
        make_entry("t-bad", f, "test")
    msg = str(err.value)
    assert expected in msg and str(f) in msg and "\n" not in msg
    if case == "unknown":
        assert "SwinIR" in msg and "ESRGAN" in msg  # what spandrel supports


def test_config_checks(tmp_path):
    f = tmp_path / "s.pth"
    swinir(f, scale=2)
    cfg = tmp_path / "c.toml"
    ok = load_model_tables({"mine": {"file": "s.pth", "gray": "luma"}}, cfg)[0]
    assert ok["path"] == str(f) and ok["options"] == {"gray": "luma"}
    for table, expected in [
        ({"file": "s.pth", "scale": 4}, "is x2, the config expects scale = 4"),
        ({"file": "s.pth", "channels": 1}, "takes 3 channel(s), the config expects channels = 1"),
        ({"file": "s.pth", "sha256": "0" * 64}, "sha256 mismatch"),
        ({"file": "s.pth", "gray": "red"}, "models.mine.gray = 'red': expected one of"),
        ({"file": "s.pth", "colour": 1}, "models.mine.colour: unknown key"),
        ({"scale": 2}, "models.mine.file: missing"),
        ({"file": "absent.pth"}, "weights not found"),
    ]:
        with pytest.raises((ValueError, WeightsError)) as err:
            load_model_tables({"mine": table}, cfg)
        assert expected in str(err.value) and str(err.value).startswith(str(cfg)), str(err.value)


def test_read_checkpoint_unwraps_params_ema(tmp_path):
    f = tmp_path / "w.pth"
    torch.save({"params_ema": {"a": torch.ones(1)}, "params": {"a": torch.zeros(1)}}, f)
    assert float(read_checkpoint(f)["a"]) == 1.0


def _rows(out):
    with open(out / "per_image.csv") as fh:
        return list(csv.DictReader(fh))


def test_bench_run_models_file_on_demo(tmp_path):
    """``bench run --models FILE`` on the embedded demo suite: ok rows and the architecture."""
    f = tmp_path / "My_SwinIR x4.pth"
    swinir(f)
    out = tmp_path / "run"
    r = invoke("run", "--suite", "demo", "--models", f"bicubic,{f}", "--limit", "1", "--out", out,
               "--no-prepared-cache", "--workers", "1", "-q")
    assert r.exit_code == 0, r.output
    models = json.loads((out / "run.json").read_text())["models"]
    assert models["my_swinir-x4"]["info"]["spandrel"]["architecture"] == "SwinIR"
    ident = json.loads((out / "run.json").read_text())
    assert "my_swinir-x4" in json.dumps(ident)
    st = Counter((r["model"], r["status"]) for r in _rows(out))
    assert st[("my_swinir-x4", "ok")] >= 1 and st[("bicubic", "ok")] >= 1
    bad = invoke("run", "--suite", "demo", "--models", str(tmp_path / "nope.pth"), "--out", out)
    assert bad.exit_code != 0 and "file not found" in bad.output


@pytest.mark.shared
def test_acceptance_aghelan_two_architectures(tmp_path, shared_weights, shared_data):
    """Acceptance of issue 22: a config naming a real compact checkpoint and a random-init SwinIR
    runs ``bench run --suite aghelan --limit 2`` with ok rows for both and the architecture."""
    if not (shared_weights / COMPACT).is_file():
        pytest.skip(f"{shared_weights / COMPACT} absent")
    swinir(tmp_path / "swinir_x4.pth")
    cfg = tmp_path / "models.toml"
    cfg.write_text(f'[models.lab-compact]\nfile = "{shared_weights / COMPACT}"\nsha256 = "{COMPACT_SHA}"\n'
                   'scale = 4\ngray = "luma"\n\n[models.lab-swinir]\nfile = "swinir_x4.pth"\n')
    out = tmp_path / "run"
    r = invoke("run", "--config", cfg, "--suite", "aghelan", "--limit", "2", "--data-root",
               shared_data, "--out", out, "--prepared-dir", tmp_path / "prep", "--workers", "1", "-q")
    assert r.exit_code == 0, r.output
    st = Counter((r["model"], r["status"]) for r in _rows(out))
    assert st[("lab-compact", "ok")] >= 2 and st[("lab-swinir", "ok")] >= 2, st
    assert {m for m, _ in st} == {"lab-compact", "lab-swinir"}
    models = json.loads((out / "run.json").read_text())["models"]
    assert models["lab-compact"]["info"]["spandrel"]["architecture"] == "Compact"
    assert models["lab-compact"]["info"]["weights"]["sha256"] == COMPACT_SHA
    assert models["lab-swinir"]["info"]["spandrel"]["architecture"] == "SwinIR"
    assert models["lab-compact"]["info"]["gray_policy"] == "luma"


@pytest.mark.shared
@pytest.mark.parametrize("name", ["realesr-animevideov3", "realesrgan-animevideo-xsx4",
                                  "realesrgan-animevideo-xsx2"])
def test_real_compact_spandrel_matches_realesrgan_module(name, shared_weights):
    """Parity on the real compact files: the registry (spandrel's SRVGGNetCompact) against
    realesrgan's SRVGGNetCompact loaded strictly with the same weights (load_network), 1e-5."""
    from medsr_bench.models import get_spec
    from medsr_bench.models.network import load_network

    spec = get_spec(name)
    if not (shared_weights / spec.pretrained.file).is_file():
        pytest.skip(f"{shared_weights / spec.pretrained.file} absent")
    m = load_model(name, shared_weights, "cpu")
    assert m.info()["spandrel"]["architecture"] == "Compact"
    ref, _ = load_network(spec, shared_weights)
    lr = np.random.default_rng(2).random((2, 20, 24, 3), dtype=np.float32)
    with torch.inference_mode():
        y = ref.eval()(torch.from_numpy(lr).permute(0, 3, 1, 2)).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(m.upscale(lr, spec.scale), y, rtol=0, atol=1e-5)
