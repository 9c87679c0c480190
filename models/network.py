"""Deep SR models: one :class:`DeepModel` wrapper for every family, and the helper that registers them.

A family module (``models/rrdbnet.py``, ``models/srvgg.py``...) only declares its architectures and
checkpoints through :func:`deep_spec`; loading, the grayscale policy, x2-from-x4 and the engine are
shared here.

Grayscale policy (option ``gray``), for a 3-channel network on a grayscale input ``(N, h, w)``:
the image is replicated to RGB, the network runs, and the 3 output channels are reduced back by
``average`` (default: mean of R, G, B; the papers do not say) or ``luma`` (ITU-R BT.601
0.299 R + 0.587 G + 0.114 B, which is what the official ``RealESRGANer`` does for ``L`` images via
``cv2.COLOR_BGR2GRAY``). The mean absolute spread between the output channels (max - min over R, G, B,
averaged over pixels) is kept per image in ``model.diagnostics["gray_channel_spread"]`` (P3 saw
colour casts on grayscale MR). A 1-channel network on an RGB input runs each channel separately.

Scale (option ``x2_mode``): a network runs at its native scale; a smaller integer target (x2 from an
x4 network) is ``outscale`` (default: native output, clipped to [0, 1], then OpenCV Lanczos4 resize
to the target, as the official ``inference_realesrgan.py --outscale 2``, but on float32 without its
8-bit rounding) or ``native-x2`` (load the companion x2 network named by the spec option ``x2_model``,
e.g. RealESRGAN_x2plus for RealESRGAN_x4plus). Larger targets than native are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from medsr_bench.models.engine import Engine, EngineSettings
from medsr_bench.models.ncnn import SOURCE_OFFICIAL, backend_network, resolve_source
from medsr_bench.models.options import (  # declared once there
    DEEP_DEFAULTS,
    GRAY_WEIGHTS,
    ModelOptions,
)
from medsr_bench.models.registry import (
    ModelSpec,
    PretrainedCfg,
    SRModel,
    WeightsError,
    load_model,
    register_aux,
    register_model,
)
from medsr_bench.models.weights import (
    cache_dir,
    check_sha256,
    load_strict,
    read_state_dict,
    require_file,
    sha256_file,
)


def _to_nchw(lr: np.ndarray, in_ch: int) -> tuple[torch.Tensor, bool]:
    """(N,h,w[,3]) float -> (N',C,h,w) tensor for a network with ``in_ch`` channels, and is_gray."""
    x = torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32))
    gray = x.ndim == 3
    if gray:
        x = x[:, None]
        return (x.expand(-1, 3, -1, -1) if in_ch == 3 else x), True
    x = x.permute(0, 3, 1, 2)
    if in_ch == 1:  # one pass per colour channel
        x = x.reshape(-1, 1, *x.shape[-2:])
    return x, False


def _check_lr(lr: np.ndarray) -> None:
    if not isinstance(lr, np.ndarray) or not (lr.ndim == 3 or (lr.ndim == 4 and lr.shape[-1] == 3)):
        shape = getattr(lr, "shape", type(lr).__name__)
        raise ValueError(f"lr must be a float array (N, h, w) or (N, h, w, 3), got {shape}")


def _lanczos(img: np.ndarray, scale: int, h: int, w: int) -> np.ndarray:
    """(N, C, H, W) float32 -> (N, C, scale*h, scale*w) by cv2 INTER_LANCZOS4, per image."""
    out = np.empty((*img.shape[:2], scale * h, scale * w), np.float32)
    for i, im in enumerate(img):
        r = cv2.resize(np.ascontiguousarray(im.transpose(1, 2, 0)), (scale * w, scale * h),
                       interpolation=cv2.INTER_LANCZOS4)
        out[i] = r.reshape(scale * h, scale * w, -1).transpose(2, 0, 1)
    return out


def describe_arch(build: Callable) -> str:
    """Readable ``module.builder(args, kwargs)`` of an architecture builder (for run.json)."""
    import functools

    args: tuple = ()
    kwargs: dict = {}
    while isinstance(build, functools.partial):
        args, kwargs = build.args + args, {**build.keywords, **kwargs}
        build = build.func
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{getattr(build, '__module__', '?')}.{getattr(build, '__qualname__', build)}({', '.join(parts)})"


class DeepModel(SRModel):
    """A loaded network behind the :class:`SRModel` contract (see the module docstring).

    Attributes:
        net: the ``torch.nn.Module`` (eval mode, on ``engine.device``).
        engine: the :class:`~models.engine.Engine` that runs it.
        weights: dict with file, path, sha256, sha256_expected, sha256_verified, key.
        companion: the x2 model when ``x2_mode='native-x2'``.

    ``input_minimum`` / ``input_square`` / ``input_multiple`` (default ``spec.input_multiple``) are
    the network's size requirements (spandrel-loaded networks report them; see
    :class:`~models.engine.Engine`).
    """

    def __init__(self, spec: ModelSpec, net: torch.nn.Module, weights: dict, device, options: dict,
                 input_minimum: int = 0, input_square: bool = False,
                 input_multiple: int | None = None):
        super().__init__(spec)
        opts = {**DEEP_DEFAULTS, **options}
        unknown = set(opts) - set(DEEP_DEFAULTS) - {"verify_hash", "x2_model"}
        if unknown:
            raise ValueError(f"{spec.name}: unknown options {sorted(unknown)}")
        checked = ModelOptions.from_dict({k: v for k, v in opts.items() if k in DEEP_DEFAULTS})
        self.options = opts
        self.weights = weights
        self.engine = Engine(net, spec.scale, device,
                             spec.input_multiple if input_multiple is None else input_multiple,
                             EngineSettings(**checked.engine_fields()),
                             input_minimum=input_minimum, input_square=input_square)
        self.net = self.engine.net
        self.companion: SRModel | None = None

    def _run(self, lr: np.ndarray) -> tuple[np.ndarray, bool]:
        """Native-scale output (N, C_out, H, W) clipped to [0, 1] and is_gray."""
        n = lr.shape[0]
        x, gray = _to_nchw(lr, self.spec.in_channels)
        y = self.engine(x).clamp(0, 1).numpy()
        if self.spec.in_channels == 1 and not gray:
            y = y.reshape(n, 3, *y.shape[-2:])
        return y, gray

    def upscale(self, lr: np.ndarray, scale: int) -> np.ndarray:
        """Super-resolve a batch (contract of :meth:`SRModel.upscale`).

        Args:
            lr: float ``(N, h, w)`` or ``(N, h, w, 3)`` in [0, 1] (16-bit or [0, 1] data is used as
                is, never rounded to 8 bit).
            scale: target factor: the native scale, or a divisor of it (see ``x2_mode``).

        Returns:
            float32 ``(N, scale*h, scale*w[, 3])`` in [0, 1]; ``self.diagnostics`` is refreshed.

        Raises:
            ValueError: bad shape, or a scale the model cannot produce.
        """
        _check_lr(lr)
        native = self.spec.scale
        scale = int(scale)
        if scale > native or native % scale:
            raise ValueError(f"{self.name} is x{native}; cannot produce x{scale}")
        if scale != native and self.options["x2_mode"] == "native-x2":
            if self.companion is None:
                raise ValueError(f"{self.name}: x2_mode='native-x2' needs an x2 companion model")
            out = self.companion.upscale(lr, scale)
            self.diagnostics = dict(self.companion.diagnostics)
            return out
        n, h, w = lr.shape[:3]
        y, gray = self._run(lr)
        if scale != native:
            y = np.clip(_lanczos(y, scale, h, w), 0, 1)
        self.diagnostics = {}
        if gray and y.shape[1] == 3:
            self.diagnostics["gray_channel_spread"] = (
                (y.max(axis=1) - y.min(axis=1)).reshape(n, -1).mean(axis=1).astype(np.float64)
            )
            y = np.tensordot(np.asarray(GRAY_WEIGHTS[self.options["gray"]], np.float32), y,
                             axes=([0], [1]))
            return np.clip(y, 0, 1).astype(np.float32)
        if gray:
            return y[:, 0]
        return np.ascontiguousarray(y.transpose(0, 2, 3, 1))

    def info(self) -> dict:
        """Spec facts, weights (file, path, sha256 checked or not, key used) and engine settings."""
        d = super().info()
        d.update(
            scale=self.spec.scale,
            in_channels=self.spec.in_channels,
            arch=describe_arch(self.spec.arch) if self.spec.arch is not None else None,
            weights=self.weights,
            gray_policy=self.options["gray"],
            x2_mode=self.options["x2_mode"],
            backend=self.options["backend"],
            engine=self.engine.info(),
        )
        if self.companion is not None:
            d["x2_model"] = self.companion.info()
        return d


def load_network(spec: ModelSpec, weights_dir: Path | str | None = None,
                 verify_hash: bool = True) -> tuple[torch.nn.Module, dict]:
    """Build ``spec.arch()`` on CPU and load its checkpoint strictly.

    The official file is read when present, else a converted ncnn release when its record is in the
    weights dir (:func:`medsr_bench.models.ncnn.resolve_source`); ``weights_info["source"]`` is
    ``official download`` / ``ncnn release, fp16-truncated`` / ``project-trained``.

    Returns ``(net, weights_info)``. Raises :class:`~models.registry.WeightsMissing` (checked before
    the network is built) or :class:`~models.registry.WeightsError` (sha256 mismatch when
    ``verify_hash``, unreadable / truncated file, keys or shapes that do not fit).
    """
    try:
        spec, source, ncnn_rec = resolve_source(spec, cache_dir(weights_dir))
    except ValueError as e:
        raise WeightsError(str(e)) from None
    path = require_file(spec, weights_dir)
    cfg = spec.pretrained
    if verify_hash:
        digest = check_sha256(spec, path)
    else:
        digest = sha256_file(path)
    state, key = read_state_dict(spec, path)
    net = spec.arch()
    load_strict(net, state, spec.name, path)
    info = {
        "file": cfg.file,
        "path": str(path),
        "sha256": digest,
        "sha256_expected": cfg.sha256,
        "sha256_verified": bool(cfg.sha256) and verify_hash and digest == cfg.sha256,
        "key": key,
        "loader": "basicsr",
        "source": source,
    }
    if ncnn_rec is not None:
        info["ncnn"] = {k: ncnn_rec.get(k) for k in ("origin", "param_sha256", "bin_sha256", "note",
                                                     "official_file", "official_sha256")}
    return net, info


def _ncnn_model(spec: ModelSpec, weights_dir: Path, options: dict) -> DeepModel:
    """``spec`` run through its ncnn release on CPU (option ``backend=ncnn``): fp32 only, NCHW,
    not compiled (the engine's tiling, padding and batching stay the same)."""
    if options.get("precision", "fp32") != "fp32":
        raise ValueError(f"{spec.name}: backend=ncnn runs fp32 arithmetic only; "
                         f"drop model.precision={options['precision']}")
    try:
        net, info = backend_network(spec, cache_dir(weights_dir))
    except ValueError as e:
        raise WeightsError(str(e)) from None
    opts = {k: v for k, v in options.items() if k != "x2_model"}
    return DeepModel(spec, net, info, "cpu", {**opts, "channels_last": False})


def _deep_factory(spec: ModelSpec, weights_dir: Path, device, **options) -> DeepModel:
    verify_hash = options.pop("verify_hash", True)
    if options.get("backend", "torch") == "ncnn":
        model = _ncnn_model(spec, weights_dir, options)
        if model.options["x2_mode"] == "native-x2" and spec.scale != 2:
            raise ValueError(f"{spec.name}: backend=ncnn supports x2_mode=outscale only")
        return model
    try:  # an ncnn-converted file (basicsr layout) stands in when the official file is absent
        ncnn_rec = resolve_source(spec, cache_dir(weights_dir))[2]
    except ValueError as e:
        raise WeightsError(str(e)) from None
    if spec.pretrained.loader == "spandrel" and ncnn_rec is None:  # third-party file: spandrel
        from medsr_bench.models.spandrel_model import load_registered

        model = load_registered(spec, weights_dir, device, verify_hash,
                                {k: v for k, v in options.items() if k != "x2_model"})
        if isinstance(getattr(model, "weights", None), dict):
            model.weights.setdefault("source", SOURCE_OFFICIAL)
    else:
        net, info = load_network(spec, weights_dir, verify_hash=verify_hash)
        model = DeepModel(spec, net, info, device, options)
    if model.options["x2_mode"] == "native-x2" and spec.scale != 2:
        companion = options.get("x2_model")
        if not companion:
            raise ValueError(f"{spec.name}: no x2 companion model; use x2_mode='outscale'")
        passed = {k: v for k, v in options.items() if k not in ("x2_mode", "x2_model")}
        model.companion = load_model(companion, weights_dir, device, verify_hash=verify_hash,
                                     **passed)
    return model


def _not_sr(spec: ModelSpec, *args, **kwargs):
    raise TypeError(f"{spec.name} is an auxiliary network, not an SR model; use load_network()")


def deep_spec(
    name: str,
    *,
    family: str,
    scale: int,
    in_channels: int,
    description: str,
    paper: str,
    pretrained: PretrainedCfg,
    arch: Callable[[], torch.nn.Module],
    options: dict | None = None,
    input_multiple: int = 1,
    aux: bool = False,
) -> ModelSpec:
    """Register a deep model (or, with ``aux=True``, an auxiliary network such as a discriminator,
    which is fetched / verified / loaded by :func:`load_network` but not listed as an SR model).

    ``options`` are the model's documented defaults on top of :data:`DEEP_DEFAULTS` (e.g.
    ``x2_model``); they are what ``spec.options`` shows.
    """
    spec = ModelSpec(
        name=name,
        family=family,
        scale=scale,
        in_channels=in_channels,
        description=description,
        paper=paper,
        pretrained=pretrained,
        factory=_not_sr if aux else _deep_factory,
        options={**DEEP_DEFAULTS, **(options or {})} if not aux else dict(options or {}),
        arch=arch,
        input_multiple=input_multiple,
    )
    return (register_aux if aux else register_model)(spec)
