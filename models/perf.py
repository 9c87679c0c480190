"""Engine benchmark: this project's :class:`~models.engine.Engine` vs realesrgan's ``RealESRGANer``.

Both run the same network with the same weights on the same real RGB crops (scikit-image's
``astronaut``, resized to the input size). ``RealESRGANer.enhance`` is the official inference helper:
one image at a time, uint8 BGR in and out, fp32 (or ``half=True`` fp16 on CUDA). The engine runs
the whole batch at once under the requested autocast precision. Reported per (size, precision):
images/s for both, their ratio, the max absolute difference between the outputs (in [0, 1] units;
RealESRGANer rounds to 8 bit, so about 0.5/255 is the floor), and the achieved TFLOP/s (convolution
FLOPs counted with forward hooks; RRDBNet x4 = 35.85 MFLOP per LR pixel), with the fraction of a given
peak when ``peak_tflops`` is set.

When the model's weights are absent, a randomly initialised network of the same architecture is
used (seeded) and every output says so: speed does not depend on the weight values.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from medsr_bench.core import machine_description
from medsr_bench.models.network import DeepModel
from medsr_bench.models.registry import SRModel, WeightsMissing, get_spec, load_model


@dataclass
class PerfRow:
    size: int
    precision: str
    ours_ips: float
    theirs_ips: float
    theirs_mode: str
    max_abs_diff: float
    tflops: float
    peak_fraction: float | None

    @property
    def ratio(self) -> float:
        return self.ours_ips / self.theirs_ips if self.theirs_ips else float("nan")


def conv_flops(net: torch.nn.Module, shape: tuple[int, int, int, int]) -> int:
    """FLOPs (2 x MACs) of all Conv2d layers of ``net`` for one forward pass of ``shape``."""
    total = [0]

    def hook(m, _inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        total[0] += 2 * m.in_channels * m.out_channels * k * out.numel() // (m.out_channels * m.groups)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        p = next(net.parameters())
        with torch.inference_mode():
            net(torch.zeros(shape, device=p.device, dtype=p.dtype))
    finally:
        for h in handles:
            h.remove()
    return total[0]




def perf_images(size: int, n: int) -> np.ndarray:
    """``n`` real RGB uint8 crops ``(n, size, size, 3)`` from scikit-image's astronaut (512x512)."""
    import cv2
    from skimage import data

    img = data.astronaut()
    crops = []
    for i in range(n):
        side = 256 + (i * 64) % 256
        y0, x0 = (i * 97) % (512 - side + 1), (i * 53) % (512 - side + 1)
        crops.append(cv2.resize(img[y0 : y0 + side, x0 : x0 + side], (size, size),
                                interpolation=cv2.INTER_AREA))
    return np.stack(crops)


def _load(model: str, weights_dir, device: str, precision: str) -> tuple[SRModel, str, str | None]:
    """(model, label, checkpoint path); random-init architecture when the weights are absent."""
    try:
        m = load_model(model, weights_dir, device, precision=precision, batch_size=64)
        return m, model, m.weights["path"]
    except WeightsMissing as e:
        spec = get_spec(model)
        torch.manual_seed(0)
        net = spec.arch()
        m = DeepModel(spec, net, {"random_init": True, "missing": str(e.expected_path)}, device,
                      {**spec.options, "precision": precision, "batch_size": 64})
        label = (f"{model} architecture with RANDOM-INIT weights (seed 0; "
                 f"{spec.pretrained.file} absent)")
        return m, label, None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time_pair(fn_a, fn_b, reps: int, device: torch.device) -> tuple[float, float]:
    """Best-of-``reps`` seconds of ``fn_a`` and ``fn_b``, run alternately after one warm-up each,
    so that both see the same machine load (shared CPUs)."""
    fn_a(), fn_b()
    best_a = best_b = float("inf")
    for _ in range(reps):
        for fn, which in ((fn_a, "a"), (fn_b, "b")):
            _sync(device)
            t = time.perf_counter()
            fn()
            _sync(device)
            dt = time.perf_counter() - t
            if which == "a":
                best_a = min(best_a, dt)
            else:
                best_b = min(best_b, dt)
    return best_a, best_b


def run_perf(model: str = "realesrgan-x4plus", weights_dir=None, sizes=(64, 128, 256),
             precisions=("fp32", "bf16"), n_images: int = 4, reps: int = 3, device: str = "auto",
             peak_tflops: float | None = None, log=print) -> tuple[list[PerfRow], dict]:
    """Benchmark; returns rows and a header dict (model label, machine, device, settings).

    Times are the best of ``reps`` alternating repetitions (after a warm-up) of the whole set of
    ``n_images`` images. Raises KeyError for an unknown model, ValueError for a non-network.
    """
    from realesrgan import RealESRGANer

    spec = get_spec(model)
    if spec.arch is None:
        raise ValueError(f"{model} is not a network")
    rows: list[PerfRow] = []
    header: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for prec in precisions:
            ours, label, path = _load(model, weights_dir, device, prec)
            dev = ours.engine.device
            if path is None:  # RealESRGANer needs a file: save the same random weights
                path = str(Path(tmp) / "random_init.pth")
                if not Path(path).exists():
                    torch.save({"params_ema": ours.net.state_dict()}, path)
            load = "n/a" if not hasattr(os, "getloadavg") else f"{os.getloadavg()[0]:.1f}"
            header = {"model": label, "device": str(dev), "machine": machine_description(str(dev)),
                      "load": load,
                      "n_images": n_images, "reps": reps, "torch": torch.__version__}
            half = prec != "fp32" and dev.type == "cuda"
            theirs_mode = "fp16 (half=True)" if half else "fp32"
            helper = RealESRGANer(scale=spec.scale, model_path=path, model=spec.arch(), tile=0,
                                  pre_pad=0, half=half, device=dev)
            for size in sizes:
                imgs = perf_images(size, n_images)
                lr = imgs.astype(np.float32) / 255.0
                res: dict = {}

                def theirs(res=res, imgs=imgs, helper=helper):
                    res["theirs"] = [helper.enhance(np.ascontiguousarray(im[..., ::-1]),
                                                    outscale=spec.scale)[0][..., ::-1] for im in imgs]

                def ours_fn(res=res, lr=lr, ours=ours):
                    res["ours"] = ours.upscale(lr, spec.scale)

                t_ours, t_theirs = _time_pair(ours_fn, theirs, reps, dev)
                theirs_out = np.stack(res["theirs"]).astype(np.float32) / 255
                flops = conv_flops(ours.net, (1, spec.in_channels, size, size)) * n_images / t_ours
                tf = flops / 1e12
                row = PerfRow(size, prec, n_images / t_ours, n_images / t_theirs, theirs_mode,
                              float(np.abs(res["ours"] - theirs_out).max()), tf,
                              tf / peak_tflops if peak_tflops else None)
                rows.append(row)
                log(format_row(row))
            del ours, helper
    return rows, header


def format_row(r: PerfRow) -> str:
    frac = f"{100 * r.peak_fraction:.1f}%" if r.peak_fraction is not None else "n/a"
    return (f"| {r.size}x{r.size} | {r.precision} | {r.ours_ips:.3f} | {r.theirs_ips:.3f} "
            f"({r.theirs_mode}) | {r.ratio:.2f}x | {r.max_abs_diff:.5f} ({255 * r.max_abs_diff:.2f}/255) "
            f"| {r.tflops:.3f} | {frac} |")


TABLE_HEAD = ("| input | engine precision | engine img/s | RealESRGANer img/s | ratio | max abs diff "
              "| engine TFLOP/s | of peak |\n|---|---|---|---|---|---|---|---|")


def markdown(rows: list[PerfRow], header: dict, command: str) -> str:
    """The results table as Markdown with machine, model and command."""
    lines = [
        "# Engine vs RealESRGANer",
        "",
        f"- machine: {header.get('machine')}",
        f"- device: {header.get('device')}; torch {header.get('torch')}; 1-min load average at "
        f"start: {header.get('load')} (shared machines: compare the two columns, which run "
        f"alternately under the same load, rather than absolute numbers)",
        f"- model: {header.get('model')}",
        f"- images per measurement: {header.get('n_images')} real RGB crops (skimage astronaut); "
        f"best of {header.get('reps')} alternating repetition(s) after one warm-up each",
        f"- command: `{command}`",
        "",
        TABLE_HEAD,
        *[format_row(r) for r in rows],
        "",
        "Engine: whole batch per forward pass, torch.inference_mode, autocast for bf16/fp16. "
        "RealESRGANer: one image per call, uint8 in/out (8-bit rounding), fp32 unless half=True on "
        "CUDA. Max abs diff is in [0, 1] units between the engine's float output and "
        "RealESRGANer's uint8 output / 255.",
    ]
    return "\n".join(lines) + "\n"
