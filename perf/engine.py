"""Engine benchmark: this project's :class:`~models.engine.Engine` vs realesrgan's ``RealESRGANer``.

Both run the same network with the same weights on the same real RGB crops (scikit-image's
``astronaut``, resized to the input size). ``RealESRGANer.enhance`` is the official inference helper:
one image at a time, uint8 BGR in and out, fp32 (or ``half=True`` fp16 on CUDA), optionally tiled.
The engine runs ``batch`` images per forward pass under the requested autocast precision, with the
speed options of :class:`~models.engine.EngineSettings` (channels_last, torch.compile, CUDA graphs,
pinned memory) and either I/O contract: ``float`` (float32 [0, 1] in and out, conversions on the
host) or ``uint8`` (:meth:`~models.engine.Engine.run_uint8`: uint8 in and out, conversion, clamp and
rounding on the device). Reported per (size, precision): images/s for both (median of ``reps``
alternating repetitions after a warm-up of each, so both see the same machine load), their ratio,
the max absolute difference between the outputs (in [0, 1] units; 1/255 is one 8-bit step), and the
achieved TFLOP/s (convolution FLOPs counted with forward hooks; RRDBNet x4 = 35.85 MFLOP per LR
pixel), with the fraction of ``peak_tflops`` when given.

When the model's weights are absent, a randomly initialised network of the same architecture is
used (seeded) and every output says so: speed does not depend on the weight values.
"""

from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from medsr_bench.core import load_average, machine_description
from medsr_bench.models.engine import Engine, EngineSettings, resolve_device
from medsr_bench.models.network import load_network
from medsr_bench.models.registry import WeightsMissing, get_spec


@dataclass
class PerfRow:
    """One measured line; ``*_ips`` are images/s (medians), ``max_abs_diff`` in [0, 1] units."""

    size: int
    precision: str
    ours_ips: float
    theirs_ips: float
    theirs_mode: str
    max_abs_diff: float
    tflops: float
    peak_fraction: float | None
    tile: int = 0

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


def _network(model: str, weights_dir) -> tuple[torch.nn.Module, str, str | None]:
    """(network on CPU, label, checkpoint path); random-init architecture when the file is absent."""

    spec = get_spec(model)
    try:
        net, info = load_network(spec, weights_dir)
        return net, model, info.get("path")
    except WeightsMissing as e:
        torch.manual_seed(0)
        label = (f"{model} architecture with RANDOM-INIT weights (seed 0; "
                 f"{spec.pretrained.file if spec.pretrained else 'weights'} absent: {e.expected_path})")
        return spec.arch(), label, None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_pair(fn_a, fn_b, reps: int, device: torch.device) -> tuple[float, float]:
    """Median seconds of ``fn_a`` and ``fn_b`` over ``reps`` alternating runs after one warm-up
    each, so that both see the same machine load (shared CPUs, GPU clocks)."""
    import statistics

    fn_a(), fn_b()
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(max(1, reps)):
        for fn, acc in ((fn_a, ta), (fn_b, tb)):
            _sync(device)
            t = time.perf_counter()
            fn()
            _sync(device)
            acc.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


IO_MODES = ("float", "uint8")


@dataclass
class PerfOptions:
    """Engine options of one benchmark run (see :class:`~models.engine.EngineSettings`).

    Attributes:
        batch: images per forward pass (0 = all ``n_images`` at once).
        io: ``float`` | ``uint8`` (see module doc).
        channels_last, compile, compile_backend, cuda_graphs, pin_memory: passed to the engine.
        tile, tile_pad, tile_batch: tiling of both sides for the ``tiled`` sizes.
        theirs_half: RealESRGANer ``half=True`` on CUDA for fp16/bf16 rows (its only reduced
            precision); fp32 otherwise.
    """

    batch: int = 0
    io: str = "float"
    channels_last: bool | str = "auto"
    compile: str = ""
    compile_backend: str = "inductor"
    cuda_graphs: bool = False
    pin_memory: bool = False
    tile: int = 256
    tile_pad: int = 10
    tile_batch: int = 16
    theirs_half: bool = True

    def __post_init__(self):
        if self.io not in IO_MODES:
            raise ValueError(f"io must be one of {IO_MODES}, got {self.io!r}")
        if self.batch < 0:
            raise ValueError("batch must be >= 0")

    def describe(self) -> str:
        return (f"batch {self.batch or 'all'}, io {self.io}, channels_last {self.channels_last}, "
                f"compile {self.compile or 'off'}"
                f"{f' ({self.compile_backend})' if self.compile else ''}, cuda_graphs {self.cuda_graphs}, "
                f"pin_memory {self.pin_memory}; tiled sizes: tile {self.tile}, tile_pad {self.tile_pad}, "
                f"tile_batch {self.tile_batch}")


def run_perf(model: str = "realesrgan-x4plus", weights_dir=None, sizes=(64, 128, 256),
             precisions=("fp32", "bf16"), n_images: int = 4, reps: int = 3, device: str = "auto",
             peak_tflops: float | None = None, log=print, tiled=(), options: PerfOptions | None = None,
             ) -> tuple[list[PerfRow], dict]:
    """Benchmark; returns rows and a header dict (model label, machine, device, settings).

    Args:
        sizes: LR input sizes run whole; ``tiled``: LR sizes run tiled on both sides.
        options: :class:`PerfOptions`.

    Times are medians of ``reps`` alternating repetitions (after a warm-up) of the whole set of
    ``n_images`` images. Raises KeyError for an unknown model, ValueError for a non-network or a
    bad option.
    """
    from realesrgan import RealESRGANer


    opt = options or PerfOptions()
    spec = get_spec(model)
    if spec.arch is None:
        raise ValueError(f"{model} is not a network")
    dev = resolve_device(device)
    net, label, path = _network(model, weights_dir)
    rows: list[PerfRow] = []
    load = load_average(first_only=True)
    header = {"model": label, "device": str(dev), "machine": machine_description(str(dev)), "load": load,
              "n_images": n_images, "reps": reps, "torch": torch.__version__, "options": opt.describe(),
              "peak_tflops": peak_tflops}
    cases = [(sz, 0) for sz in sizes] + [(sz, opt.tile) for sz in tiled]
    with tempfile.TemporaryDirectory() as tmp:
        if path is None:  # RealESRGANer needs a file: save the same random weights
            path = str(Path(tmp) / "random_init.pth")
            torch.save({"params_ema": net.state_dict()}, path)
        for prec in precisions:
            half = prec != "fp32" and dev.type == "cuda" and opt.theirs_half
            theirs_mode = "fp16 (half=True)" if half else "fp32"
            for size, tile in cases:
                st = EngineSettings(precision=prec, batch_size=opt.batch or n_images, tile=tile,
                                    tile_pad=opt.tile_pad, tile_batch=opt.tile_batch,
                                    channels_last=opt.channels_last, compile=opt.compile,
                                    compile_backend=opt.compile_backend, cuda_graphs=opt.cuda_graphs,
                                    pin_memory=opt.pin_memory)
                ours = Engine(copy.deepcopy(net), spec.scale, dev, spec.input_multiple, st)
                helper = RealESRGANer(scale=spec.scale, model_path=path, model=spec.arch(), tile=tile,
                                      tile_pad=opt.tile_pad, pre_pad=0, half=half, device=dev)
                imgs = perf_images(size, n_images)
                res: dict = {}

                def theirs(res=res, imgs=imgs, helper=helper):
                    res["theirs"] = [helper.enhance(np.ascontiguousarray(im[..., ::-1]),
                                                    outscale=spec.scale)[0][..., ::-1] for im in imgs]

                if opt.io == "uint8":
                    def ours_fn(res=res, imgs=imgs, ours=ours):
                        res["ours"] = ours.run_uint8(imgs).astype(np.float32) / 255
                else:
                    def ours_fn(res=res, imgs=imgs, ours=ours):
                        x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div_(255)
                        res["ours"] = ours(x).clamp(0, 1).permute(0, 2, 3, 1).numpy()

                t_ours, t_theirs = _time_pair(ours_fn, theirs, reps, dev)
                theirs_out = np.stack(res["theirs"]).astype(np.float32) / 255
                flops = conv_flops(net, (1, spec.in_channels, size, size)) * n_images / t_ours
                tf = flops / 1e12
                row = PerfRow(size, prec, n_images / t_ours, n_images / t_theirs, theirs_mode,
                              float(np.abs(res["ours"] - theirs_out).max()), tf,
                              tf / peak_tflops if peak_tflops else None, tile)
                rows.append(row)
                log(format_row(row))
                del ours, helper
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
    return rows, header


def format_row(r: PerfRow) -> str:
    frac = f"{100 * r.peak_fraction:.1f}%" if r.peak_fraction is not None else "n/a"
    size = f"{r.size}x{r.size}" + (f" tiled {r.tile}" if r.tile else "")
    return (f"| {size} | {r.precision} | {r.ours_ips:.3f} | {r.theirs_ips:.3f} "
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
        f"median of {header.get('reps')} alternating repetition(s) after one warm-up each",
        f"- engine options: {header.get('options')}",
        f"- peak used for the last column: {header.get('peak_tflops') or 'none given'} TFLOP/s",
        f"- command: `{command}`",
        "",
        TABLE_HEAD,
        *[format_row(r) for r in rows],
        "",
        "Engine: `batch` images per forward pass, torch.inference_mode, autocast for bf16/fp16. "
        "RealESRGANer: one image per call, uint8 in/out (8-bit rounding), fp32 unless half=True on "
        "CUDA. Max abs diff is in [0, 1] units between the engine's output (float, or uint8 / 255 "
        "with io uint8) and RealESRGANer's uint8 output / 255; 1/255 = 0.00392 is one 8-bit step.",
    ]
    return "\n".join(lines) + "\n"
