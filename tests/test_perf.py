"""Speed options of the inference engine and the device-check script, on CPU (no timing asserts:
speed claims live in ``bench perf`` / ``bench metrics bench``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from medsr_bench.models.engine import Engine, EngineSettings
from medsr_bench.perf.engine import PerfOptions, run_perf

ROOT = Path(__file__).resolve().parents[1]


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 12, 3, padding=1), torch.nn.PixelShuffle(2))


def test_run_uint8_is_rounded_clamped_float_path():
    net = _net()
    eng = Engine(net, 2, "cpu")
    imgs = np.random.default_rng(0).integers(0, 256, (3, 9, 11, 3), dtype=np.uint8)
    got = eng.run_uint8(imgs)
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255
    want = (eng(x).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert got.dtype == np.uint8 and got.shape == (3, 18, 22, 3)
    assert np.array_equal(got, want)
    with pytest.raises(ValueError, match="uint8"):
        eng.run_uint8(imgs.astype(np.float32))


def test_compile_option_same_output():
    x = torch.rand(2, 3, 8, 8)
    plain = Engine(_net(), 2, "cpu")(x)
    compiled = Engine(_net(), 2, "cpu", compile="default", compile_backend="eager")(x)
    assert torch.allclose(plain, compiled, atol=1e-6)


def test_cuda_only_options_refused_on_cpu():
    with pytest.raises(ValueError, match="CUDA"):
        Engine(_net(), 2, "cpu", cuda_graphs=True)
    with pytest.raises(ValueError, match="CUDA"):
        Engine(_net(), 2, "cpu", pin_memory=True)
    with pytest.raises(ValueError, match="compile"):
        EngineSettings(compile="fastest")
    with pytest.raises(ValueError, match="io"):
        PerfOptions(io="int4")


@pytest.mark.parametrize("io", ["float", "uint8"])
def test_perf_rows_within_one_step_of_realesrganer(io):
    rows, header = run_perf("realesr-general-x4v3", None, sizes=[12], precisions=["fp32"], n_images=2,
                            reps=1, device="cpu", log=lambda _: None, tiled=[30],
                            options=PerfOptions(io=io, batch=1, tile=12, tile_pad=4, channels_last=True))
    assert [(r.size, r.tile) for r in rows] == [(12, 0), (30, 12)]
    assert rows[0].max_abs_diff <= 1 / 255 + 1e-6  # same network, fp32: RealESRGANer's 8-bit rounding
    assert rows[1].max_abs_diff <= 2 / 255 + 1e-6  # tiled: blended seams vs hard-pasted tiles
    assert all(r.ours_ips > 0 and r.theirs_ips > 0 and r.tflops > 0 for r in rows)
    assert "io " + io in header["options"]


@pytest.mark.slow
def test_gpu_script_cpu_smoke(tmp_path):
    """The device-check driver end to end on CPU with tiny sizes: every table is written."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu" / "gpu_perf.py"), "--device", "cpu",
                        "--tiny", "--model", "realesr-general-x4v3", "--reps", "1", "--out", str(tmp_path),
                        "--max-steps", "2",
                        "--data-dir", str(tmp_path / "no-data")],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    inf = (tmp_path / "inference.md").read_text()
    assert "| 16x16 | fp16 |" in inf and "| 40x40 tiled 16 | bf16 |" in inf and "failed" not in inf
    assert "CUDA-only options dropped on CPU" in inf
    met = (tmp_path / "metrics.md").read_text()
    assert "| 256-gray | vif |" in met or "torchmetrics is not installed" in met
    assert "device: cpu" in (tmp_path / "env.md").read_text()
