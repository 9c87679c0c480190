"""Batched inference engine for SR networks: padding, overlap-blended tiling, autocast.

:class:`Engine` runs a ``torch.nn.Module`` that maps ``(B, C, h, w)`` float in [0, 1] to
``(B, C', s*h, s*w)`` on whole batches of same-size images:

- **pre-padding** (``pre_pad``): reflect-pad right and bottom by ``pre_pad`` LR pixels, then crop the
  output (the official ``RealESRGANer`` behaviour; ``inference_realesrgan.py`` uses 0). Inputs whose
  size is not a multiple of ``input_multiple`` (RRDBNet x2: 2), is below ``input_minimum`` or, with
  ``input_square``, not square, are padded the same way (the size requirements spandrel reports per
  architecture: ``SizeRequirements(minimum, multiple_of, square)``).
- **tiling** (``tile`` > 0): the padded image is cut into windows of ``tile + 2*tile_pad`` LR pixels
  at a stride of ``tile``; all windows have the same size (the last one is shifted back inside the
  image), so they run as batches of ``tile_batch``. Overlapping outputs are *blended*, not
  hard-pasted: each window's weight is 0 on the outer quarter of its overlap, rises linearly over the
  middle half and is 1 inside, so that two neighbours' weights sum to 1 (a cross-fade) and the pixels
  with least context never contribute. With ``tile_pad`` at least the network's receptive radius,
  tiled output equals untiled output up to float rounding.
- **precision**: ``fp32`` | ``bf16`` | ``fp16`` through ``torch.autocast`` (weights stay fp32, the
  output is returned as float32), or ``bf16-net``: the whole network (weights and activations) cast
  to bfloat16, no autocast (fastest on CPUs with AMX / AVX512-BF16; emulated and several times slower
  than fp32 on CPUs without them, e.g. AVX2-only: measured in ``results/perf/parity_cpu_avx2.md``); ``channels_last`` memory format (``auto``: on, CPU and CUDA alike);
  ``torch.inference_mode``; ``device`` ``auto`` = CUDA when available, else CPU.
- **speed options** (what the field uses on GPUs; all off by default, all tested on CPU where they
  apply): ``compile`` (``torch.compile`` of the network with a mode, e.g. ``default``,
  ``reduce-overhead``, ``max-autotune``), ``cuda_graphs`` (capture the forward pass once per input
  shape and replay it: no per-layer launch cost; CUDA only), ``pin_memory`` (page-locked
  host staging of the input and ``non_blocking`` host-to-device copies), and device-side
  post-processing in :meth:`Engine.run_uint8` (uint8 HWC in, uint8 HWC out: the conversion to
  float, the clamp, the rounding and the layout change run on the device, so 1 byte per value
  crosses the bus each way instead of 4; Real-ESRGAN PR #650).

CPU results are deterministic (same input -> same bits); the engine sets no global flags.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from medsr_bench.core import resolve_device as resolve_name

#: autocast dtype per precision (None: no autocast)
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16, "bf16-net": None}
#: precisions that cast the network itself (weights and activations) to a dtype
NET_DTYPES = {"bf16-net": torch.bfloat16}
COMPILE_MODES = ("", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> ``cuda`` when available else ``cpu``; other strings pass to ``torch.device``."""

    if isinstance(device, torch.device):
        return device
    return torch.device(resolve_name(device))


@dataclass
class EngineSettings:
    """Engine options (all land in ``run.json`` through ``SRModel.info()``).

    Attributes:
        precision: ``fp32`` | ``bf16`` | ``fp16`` (autocast dtype; fp32 = no autocast) |
            ``bf16-net`` (network cast to bfloat16, input cast on the way in, output back to fp32).
        tile: tile core size in LR pixels; 0 = whole image.
        tile_pad: context on each side of a tile (LR pixels); overlap between tiles is 2*tile_pad.
        tile_batch: windows per forward pass when tiling (default 1: on CPU one window at a time
            measured 2.5x faster than 4 per pass, results/perf/engine_cpu.md; raise it on a GPU).
        pre_pad: reflect padding (right/bottom) before the network, cropped after.
        batch_size: images per forward pass without tiling.
        channels_last: ``auto`` (= True) | True | False. NHWC tensors and weights: oneDNN on CPU
            runs the SR networks about 1.3-1.9x faster that way (RRDBNet 64^2, SRVGGNetCompact
            128^2-256^2, measured on this project's CPU machine; see results/perf/engine_cpu.md),
            as cuDNN does on CUDA; outputs agree to 1e-5.
        compile: ``""`` (off) or a ``torch.compile`` mode (``default``, ``reduce-overhead``,
            ``max-autotune``, ``max-autotune-no-cudagraphs``).
        compile_backend: ``torch.compile`` backend (``inductor``; ``eager`` / ``aot_eager`` check
            the plumbing without a compiler).
        cuda_graphs: replay a CUDA graph captured once per input shape (tile batches included;
            CUDA only).
        pin_memory: stage CPU inputs in pinned memory and copy them with ``non_blocking=True``.
    """

    precision: str = "fp32"
    tile: int = 0
    tile_pad: int = 10
    tile_batch: int = 1
    pre_pad: int = 0
    batch_size: int = 4
    channels_last: bool | str = "auto"
    compile: str = ""
    compile_backend: str = "inductor"
    cuda_graphs: bool = False
    pin_memory: bool = False

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be one of {list(COMPILE_MODES)}, got {self.compile!r}")
        for k in ("tile", "tile_pad", "pre_pad"):
            if int(getattr(self, k)) < 0:
                raise ValueError(f"{k} must be >= 0")
        if self.batch_size < 1 or self.tile_batch < 1:
            raise ValueError("batch_size and tile_batch must be >= 1")


def _pad_br(x: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    """Pad right/bottom; reflect when possible, replicate for images too small to reflect."""
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _starts(length: int, window: int, stride: int) -> list[int]:
    """Window starts covering [0, length) with equal-size windows; the last is shifted back."""
    if length <= window:
        return [0]
    s = list(range(0, length - window, stride))
    return s + [length - window]


def _ramp(n: int, left: bool, right: bool, overlap: int) -> torch.Tensor:
    """1-D blending weight of a window of ``n`` output pixels.

    ``overlap`` is the overlap with a neighbour in output pixels; sides at the image border get
    weight 1 everywhere. Weight at distance ``d`` from an inner edge: clip((d + 0.5 - o/4) / (o/2), 0, 1).
    """
    w = torch.ones(n, dtype=torch.float64)
    if overlap <= 0:
        return w
    d = torch.arange(n, dtype=torch.float64)
    q = overlap / 4.0
    if left:
        w = torch.minimum(w, ((d + 0.5 - q) / (2 * q)).clamp(0, 1))
    if right:
        w = torch.minimum(w, ((n - 1 - d + 0.5 - q) / (2 * q)).clamp(0, 1))
    return w


class Engine:
    """Runs ``net`` on batches of same-size images.

    Args:
        net: module ``(B, C, h, w) -> (B, C', scale*h, scale*w)``; put in eval mode and moved to the
            device here.
        scale: the network's native scale.
        device: ``auto`` | ``cpu`` | ``cuda`` | torch.device.
        input_multiple: required divisor of the input height/width.
        input_minimum: smallest input height/width the network accepts (0 = any).
        input_square: the network needs a square input (height == width).
        settings: :class:`EngineSettings` (or keyword overrides via ``**kw``).
    """

    def __init__(self, net: torch.nn.Module, scale: int, device="auto", input_multiple: int = 1,
                 settings: EngineSettings | None = None, input_minimum: int = 0,
                 input_square: bool = False, **kw):
        self.settings = settings or EngineSettings(**kw)
        self.device = resolve_device(device)
        self.scale = int(scale)
        self.input_multiple = int(input_multiple)
        self.input_minimum = int(input_minimum)
        self.input_square = bool(input_square)
        cl = self.settings.channels_last
        self.channels_last = True if cl == "auto" else bool(cl)
        if self.settings.cuda_graphs and self.device.type != "cuda":
            raise ValueError(f"cuda_graphs needs a CUDA device, got {self.device}")
        if self.settings.pin_memory and self.device.type != "cuda":
            raise ValueError(f"pin_memory needs a CUDA device, got {self.device}")
        net = net.eval().to(self.device)
        self.net_dtype = NET_DTYPES.get(self.settings.precision, torch.float32)
        if self.net_dtype != torch.float32:
            net = net.to(self.net_dtype)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.net = net
        self._call = net
        if self.settings.compile:
            self._call = torch.compile(net, mode=self.settings.compile, backend=self.settings.compile_backend,
                                       dynamic=False)
        self._graphs: dict[tuple, tuple] = {}

    def info(self) -> dict:
        """Settings as resolved (device, channels_last) for run.json."""
        d = asdict(self.settings)
        d.update(device=str(self.device), channels_last=self.channels_last,
                 input_multiple=self.input_multiple, input_minimum=self.input_minimum,
                 input_square=self.input_square)
        return d

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        if x.device == self.device:
            return x
        if self.settings.pin_memory and x.device.type == "cpu":
            x = x.pin_memory()
        return x.to(self.device, non_blocking=True)

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        dtype = PRECISIONS[self.settings.precision]
        if dtype is None:
            return self._call(x)
        with torch.autocast(device_type=self.device.type, dtype=dtype):
            return self._call(x)

    def _graphed(self, x: torch.Tensor) -> torch.Tensor:
        """Forward pass through a CUDA graph captured for ``x``'s shape (warm-up on a side stream
        first, as ``torch.cuda.graphs`` requires); returns the graph's static output."""
        key = (tuple(x.shape), x.dtype, x.is_contiguous(memory_format=torch.channels_last))
        entry = self._graphs.get(key)
        if entry is None:
            static_x = x.clone()
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(2):
                    self._net(static_x)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_y = self._net(static_x)
            entry = self._graphs[key] = (graph, static_x, static_y)
        graph, static_x, static_y = entry
        static_x.copy_(x)
        graph.replay()
        return static_y

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._to_device(x)
        # feed the memory format of the weights (a permuted NHWC view would otherwise reach the
        # convolutions as channels_last against contiguous weights)
        x = x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        if x.dtype != self.net_dtype:
            x = x.to(self.net_dtype)
        if self.settings.cuda_graphs:  # the graph's output buffer is reused: copy it out
            y = self._graphed(x)
            return y.float() if y.dtype != torch.float32 else y.clone()
        return self._net(x).float()

    def _run_tiled(self, x: torch.Tensor) -> torch.Tensor:
        st, s = self.settings, self.scale
        b, _, h, w = x.shape
        win = st.tile + 2 * st.tile_pad
        ys, xs = _starts(h, win, st.tile), _starts(w, win, st.tile)
        wh, ww = min(win, h), min(win, w)
        boxes = [(y0, x0) for y0 in ys for x0 in xs]
        out = weight = None
        for i in range(b):
            img = x[i : i + 1]
            for j in range(0, len(boxes), st.tile_batch):
                chunk = boxes[j : j + st.tile_batch]
                batch = torch.cat([img[..., y0 : y0 + wh, x0 : x0 + ww] for y0, x0 in chunk])
                pred = self._forward(batch)
                if out is None:
                    out = pred.new_zeros((b, pred.shape[1], h * s, w * s))
                    weight = pred.new_zeros((1, 1, h * s, w * s))
                for (y0, x0), p in zip(chunk, pred, strict=True):
                    # overlap with the neighbour on each side, in output pixels
                    ov_y = 2 * st.tile_pad * s
                    ov_x = 2 * st.tile_pad * s
                    wy = _ramp(wh * s, y0 > 0, y0 + wh < h, ov_y)
                    wx = _ramp(ww * s, x0 > 0, x0 + ww < w, ov_x)
                    wt = (wy[:, None] * wx[None, :]).to(p)
                    sl = (..., slice(y0 * s, (y0 + wh) * s), slice(x0 * s, (x0 + ww) * s))
                    out[i][sl] += p * wt
                    if i == 0:
                        weight[0][sl] += wt
        return out / weight.clamp_min(1e-8)

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``x``: float32 ``(N, C, h, w)`` in [0, 1] (any device) ->
        float32 CPU tensor ``(N, C', scale*h, scale*w)``, not clipped (callers clip)."""
        return self._run(x).cpu()

    @torch.inference_mode()
    def run_uint8(self, imgs: np.ndarray) -> np.ndarray:
        """RealESRGANer's I/O contract with device-side pre- and post-processing.

        Args:
            imgs: uint8 ``(N, h, w, C)`` NumPy array (RGB order for 3-channel networks).

        Returns:
            uint8 ``(N, scale*h, scale*w, C')``: the network output clamped to [0, 1], times 255,
            rounded (as ``RealESRGANer.enhance``), all on the device; only uint8 crosses back.

        Raises:
            ValueError: not a 4-D uint8 array.
        """
        if not (isinstance(imgs, np.ndarray) and imgs.dtype == np.uint8 and imgs.ndim == 4):
            raise ValueError(f"expected a uint8 (N, h, w, C) array, got {getattr(imgs, 'dtype', type(imgs))} "
                             f"{getattr(imgs, 'shape', '')}")
        x = self._to_device(torch.from_numpy(imgs))
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        y = self._run(x).clamp_(0, 1).mul_(255.0).round_().to(torch.uint8)
        return y.permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def padding(self, h: int, w: int) -> tuple[int, int]:
        """``(pad_bottom, pad_right)`` in LR pixels for an ``h`` x ``w`` input: ``pre_pad``, then up to
        ``input_minimum``, then up to a multiple of ``input_multiple``, then (``input_square``) up to
        a square. Same rule as spandrel's ``SizeRequirements.get_padding`` plus ``pre_pad``."""
        m = self.input_multiple
        th = max(h + self.settings.pre_pad, self.input_minimum)
        tw = max(w + self.settings.pre_pad, self.input_minimum)
        th, tw = th + (-th) % m, tw + (-tw) % m
        if self.input_square:
            th = tw = max(th, tw)
        return th - h, tw - w

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """Padding, batching and tiling of :meth:`__call__`; the result stays on the device."""
        if x.ndim != 4:
            raise ValueError(f"expected (N, C, h, w), got shape {tuple(x.shape)}")
        st, s = self.settings, self.scale
        n, _, h, w = x.shape
        m = self.input_multiple
        ph, pw = self.padding(h, w)
        outs = []
        step = 1 if st.tile else st.batch_size
        for i in range(0, n, step):
            xb = _pad_br(x[i : i + step].float(), ph, pw)
            if st.tile and (xb.shape[-2] > st.tile + 2 * st.tile_pad or
                            xb.shape[-1] > st.tile + 2 * st.tile_pad):
                if (st.tile % m) or (st.tile_pad % m):
                    raise ValueError(f"tile and tile_pad must be multiples of {m} for this model")
                if st.tile + 2 * st.tile_pad < self.input_minimum or self.input_square:
                    raise ValueError(f"tiling is not supported for this model (windows of "
                                     f"tile + 2*tile_pad = {st.tile + 2 * st.tile_pad} px; it needs "
                                     f"at least {self.input_minimum} px"
                                     f"{' and square inputs' if self.input_square else ''}); "
                                     "use tile=0 or a larger tile")
                yb = self._run_tiled(xb)
            else:
                yb = self._forward(xb)
            outs.append(yb[..., : h * s, : w * s])
        return torch.cat(outs)
