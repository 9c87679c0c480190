"""Model registry: every method of the four papers (and a few extra checkpoints) by name.

Pattern after timm's ``@register_model`` + ``pretrained_cfg``: each family module
(``models/interpolation.py``, ``models/rrdbnet.py``, ...) registers its models right beside the
architecture, with the pretrained config (file, URL, sha256, state-dict key, licence, paper).

The runner only uses :func:`load_model` and :meth:`SRModel.upscale`; a model whose weights are absent
raises :class:`WeightsMissing`, which the runner turns into rows with status ``missing-weights``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from medsr_bench.core.registry import DuplicateError, Registry


@dataclass(frozen=True)
class PretrainedCfg:
    """Where a model's weights come from.

    Attributes:
        file: expected file name in the weights dir (e.g. ``RealESRGAN_x4plus.pth``).
        url: official download URL, or None when the weights are produced by this project
            (fine-tuned / trained models).
        sha256: expected sha256 of the file, or None when not published.
        key: state-dict key inside the checkpoint (``params_ema`` / ``params``), or None for a
            bare state dict.
        license: licence of the weights.
        paper: the paper / release that provides them.
        obtain: the command (or instruction) that gets the file, shown in every output where the
            file is missing (e.g. ``bench weights fetch realesrgan-x4plus``).
        loader: how :func:`load_model` reads the file for inference: ``basicsr`` (``arch()`` +
            strict ``load_state_dict``; this project's and basicsr-layout files) or ``spandrel``
            (third-party checkpoints: spandrel detects the layout, e.g. ESRGAN's old key names, and
            builds its own module; ``models.spandrel_model``). :func:`~models.network.load_network`
            (training, perf) always builds ``arch()``.
        size: expected file size in bytes when published (for progress bars / quick checks).
        manual: True when ``url`` is a page (Google Drive...) rather than a direct download: fetching
            still tries it, but the sha256 check will reject an HTML page and the error says so.
        sources: alternative sources of the same weights besides ``url`` (as timm's pretrained cfg
            lists url / hf-hub): :class:`models.ncnn.NcnnSource` (the Real-ESRGAN team's ncnn
            release, converted by ``bench weights fetch NAME --source ncnn``).
    """

    file: str
    url: str | None
    sha256: str | None
    key: str | None
    license: str
    paper: str
    obtain: str
    size: int | None = None
    manual: bool = False
    loader: str = "basicsr"
    sources: tuple = ()


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    Attributes:
        name: registry key (``bicubic``, ``realesrgan-x4plus``...).
        family: ``interpolation`` | ``srresnet`` | ``srgan`` | ``esrgan`` | ``realesrgan`` | ...
        scale: native scale of the network, or None for interpolation (any integer scale).
        in_channels: 1 or 3 for networks; 0 for interpolation (any channel count).
        description: one line for reports.
        paper: which of the papers (P1..P4) uses it, and how.
        pretrained: :class:`PretrainedCfg` or None (interpolation).
        factory: ``factory(spec, weights_dir, device, **options) -> SRModel``.
        options: default engine options of this model (documented settings, into run.json).
        arch: zero-argument builder of the ``torch.nn.Module`` (deep models), None for
            interpolation. Used by the weights tools and the training recipes.
        input_multiple: the network needs input height/width divisible by this (RRDBNet x2 uses
            pixel-unshuffle: 2); the engine pads and crops back.
    """

    name: str
    family: str
    scale: int | None
    in_channels: int
    description: str
    paper: str
    pretrained: PretrainedCfg | None
    factory: Callable[..., SRModel]
    options: dict = field(default_factory=dict)
    arch: Callable[[], object] | None = None
    input_multiple: int = 1


def project_cfg(file: str, recipe: str, paper: str) -> PretrainedCfg:
    """:class:`PretrainedCfg` of weights this project produces with its training recipes (no URL,
    no published sha256; stored under ``params_ema`` like basicsr's trainer does). A finished
    ``bench train --recipe <recipe>`` run registers its checkpoint (``models.train.trained``), which
    :func:`load_model` then uses; ``file`` is where a checkpoint put by hand is looked for."""
    return PretrainedCfg(
        file=file, url=None, sha256=None, key="params_ema", license="project (MIT)", paper=paper,
        obtain=f"bench train --recipe {recipe} (or put a trained {file} in the weights dir)",
    )


class WeightsError(Exception):
    """A weights file exists but is unusable (wrong sha256, truncated, wrong keys). One line."""


class WeightsMissing(WeightsError):
    """The weights file is absent.

    Attributes:
        model: registry name.
        expected_path: where the file was looked for.
        obtain: the command / instruction that gets it.
    """

    def __init__(self, model: str, expected_path: Path, obtain: str):
        self.model = model
        self.expected_path = Path(expected_path)
        self.obtain = obtain
        super().__init__(f"{model}: weights not found at {expected_path} (get them: {obtain})")


class SRModel(ABC):
    """A loaded, ready-to-run SR model.

    Subclasses implement :meth:`upscale`. ``spec`` is the :class:`ModelSpec`.
    """

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        #: per-image diagnostics of the last :meth:`upscale` call, name -> float array ``(N,)``
        #: (e.g. ``gray_channel_spread``); empty when the model has none.
        self.diagnostics: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    @abstractmethod
    def upscale(self, lr: np.ndarray, scale: int) -> np.ndarray:
        """Super-resolve a batch of same-size images.

        Args:
            lr: float32 ``(N, h, w)`` (grayscale) or ``(N, h, w, 3)`` (RGB), values in [0, 1].
            scale: integer target factor (may differ from the native scale: x2 from an x4 model).

        Returns:
            float32 array ``(N, scale*h, scale*w[, 3])`` with the input's channel layout,
            clipped to [0, 1].
        """

    def info(self) -> dict:
        """JSON-serialisable facts for run.json: weights file + sha256, engine settings."""
        return {"name": self.name, "family": self.spec.family}


ORDER = (
    # interpolation (P3, P4 baselines)
    "nearest",
    "bilinear",
    "bicubic",
    "lanczos",
    "bicubic-matlab",
    # the papers' deep models
    "srresnet",
    "srgan",
    "esrgan",
    "realesrgan-x4plus",
    "realesrgan-x2plus",
    "realesrgan-finetuned-retina",
    "realesrgan-finetuned-cxr",
    "realesrgan-1ch",
    "realesrnet-1ch",
    # extra checkpoints (real files here, or official loaders)
    "srgan-leftthomas-x4",
    "realesr-animevideov3",
    "realesrgan-animevideo-xsx4",
    "realesrgan-animevideo-xsx2",
    "realesrnet-x4plus",
    "esrgan-basicsr",
    "msrresnet-x4",
    "realesr-general-x4v3",
)
"""Canonical order of :func:`list_models`: interpolation, then the four papers' deep models, then
extra checkpoints (anything registered but not listed goes last, in registration order)."""

MODELS: Registry[ModelSpec] = Registry("model", kind=ModelSpec, order=ORDER)
"""The SR models by name (family modules register theirs; user models too, see
:func:`register_user_model`)."""

AUX: Registry[ModelSpec] = Registry("network", kind=ModelSpec)
"""Auxiliary networks with checkpoints that are not SR models (discriminators, the VGG19 loss
network): fetched, verified and loaded by the same code, but never listed by :func:`list_models`."""

# the names the trained-checkpoint hook and the CLI use for the two tables
_REGISTRY = MODELS
_AUX = AUX


def _register(table: Registry[ModelSpec], spec: ModelSpec, replace: bool = False) -> ModelSpec:
    other = AUX if table is MODELS else MODELS
    if spec.name in other:  # one name space over both tables
        raise DuplicateError(f"{other.name} {spec.name!r} is already registered")
    return table.register(spec.name, spec, replace=replace)


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` under ``spec.name``.

    Raises:
        medsr_bench.core.registry.DuplicateError: (a ``ValueError``) the name is taken by a model
            or an auxiliary network. TypeError: ``spec`` is not a :class:`ModelSpec`.
    """
    return _register(MODELS, spec)


def register_aux(spec: ModelSpec) -> ModelSpec:
    """Add an auxiliary network (e.g. a discriminator) with a checkpoint.

    Raises:
        medsr_bench.core.registry.DuplicateError: the name is taken (model or network).
    """
    return _register(AUX, spec)


#: names of user models (``[models.<name>]`` / ``--models FILE``, see ``models.spandrel_model``)
_USER: set[str] = set()


def register_user_model(spec: ModelSpec) -> ModelSpec:
    """Register a user model for this process; registering the same name again replaces it (a
    run re-registers its user models per configuration and per worker).

    Raises:
        ValueError: the name is a built-in model (one line).
    """
    _load_all()
    if spec.name in AUX or (spec.name in MODELS and spec.name not in _USER):
        raise ValueError(f"model name {spec.name!r} is a built-in model; expected another name")
    MODELS.register(spec.name, spec, replace=True)
    _USER.add(spec.name)
    return spec


_DISCOVERED: set[str] = set()
# Trained-checkpoint hooks: modules with discover / read_record / spec_for_record / smoke_allowed /
# record_path (``models.train.trained`` appends itself on import; ``models.zoo`` imports it), so this
# registry never imports ``models.train``.
_CHECKPOINT_HOOKS: list = []


def register_checkpoint_hook(hook) -> None:
    """Add ``hook`` (a module or object with ``discover(weights_dir) -> list[str]``,
    ``read_record(weights_dir, row) -> dict | None``, ``spec_for_record(spec, rec)``,
    ``smoke_allowed(options) -> bool`` and ``record_path(weights_dir, row) -> Path``) as the source
    of ``bench train`` checkpoints; called by :mod:`medsr_bench.models.train.trained` on import."""
    if hook not in _CHECKPOINT_HOOKS:
        _CHECKPOINT_HOOKS.append(hook)


def _trained():
    """The registered trained-checkpoint hook (importing ``models.zoo`` registers it).

    Raises RuntimeError when none is registered (``models.zoo`` no longer imports ``models.train.trained``)."""
    import medsr_bench.models.zoo  # noqa: F401  (cycle: zoo's family modules import this registry)

    if not _CHECKPOINT_HOOKS:
        raise RuntimeError("no trained-checkpoint hook registered (models.zoo imports models.train.trained)")
    return _CHECKPOINT_HOOKS[-1]


def _load_all() -> None:
    import medsr_bench.models.zoo  # noqa: F401  (imports every family module, which registers its models)

    _discover(default_weights_dir())


def _discover(weights_dir: Path | None) -> None:
    """Register the rows of checkpoints ``bench train`` recorded in ``weights_dir`` (trained on
    another protocol than the recipe's: ``srresnet-brats2018``), once per folder."""
    key = str(weights_dir)
    if key in _DISCOVERED:
        return
    _DISCOVERED.add(key)
    _trained().discover(weights_dir)


def list_models() -> list[str]:
    """Registered SR model names in the canonical :data:`ORDER` (interpolation first, then the
    papers' deep models, then extra checkpoints)."""
    _load_all()
    return MODELS.names()


def list_aux() -> list[str]:
    """Names of auxiliary networks (discriminators) that have checkpoints."""
    _load_all()
    return AUX.names()


def list_checkpoints() -> list[ModelSpec]:
    """Every spec (SR models then auxiliary networks) that has a :class:`PretrainedCfg`."""
    _load_all()
    specs = [MODELS.get(n) for n in list_models()] + [AUX.get(n) for n in AUX.names()]
    return [s for s in specs if s.pretrained is not None]


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name`` (SR model or auxiliary network).

    Raises KeyError naming the known models.
    """
    _load_all()
    if name in MODELS:
        return MODELS.get(name)
    if name in AUX:
        return AUX.get(name)
    raise KeyError(f"unknown model {name!r}; known: {', '.join(list_models())}")


def default_weights_dir() -> Path:
    """``$BENCH_WEIGHTS``, else ``weights/`` in the user cache dir of platformdirs
    (``~/.cache/medsr-bench/weights`` on Linux, honouring ``XDG_CACHE_HOME``)."""
    import os

    import platformdirs

    env = os.environ.get("BENCH_WEIGHTS")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("medsr-bench", appauthor=False)) / "weights"


def discover_trained(weights_dir: Path | None) -> list[str]:
    """Register the model rows of checkpoints ``bench train`` recorded in ``weights_dir``
    (``srresnet-brats2018``...) so they can be named like any model; returns their names."""
    _load_all()
    return _trained().discover(Path(weights_dir) if weights_dir is not None else default_weights_dir())


class ResolvedWeights(NamedTuple):
    """Where :func:`load_model` would read a model's weights (:func:`resolve_weights`).

    Attributes:
        path: the file (it may be absent: check ``path.is_file()``), or None for a model without
            weights (interpolation).
        sha256: the sha256 the file must have: the registry's published one, a ``bench train``
            record's or an ncnn-conversion record's; ``""`` when none is known.
        obtain: how to get the file (shown where it is missing).
        source: ``official download`` | ``ncnn release, fp16-truncated`` | ``project-trained``
            (:func:`medsr_bench.models.ncnn.resolve_source`); ``""`` without weights.
    """

    path: Path | None
    sha256: str
    obtain: str
    source: str


def resolve_weights(name: str, weights_dir: Path | None = None) -> ResolvedWeights:
    """Where :func:`load_model` would read ``name``'s weights, without loading them: a registered
    ``bench train`` checkpoint takes precedence over the pretrained file, as in
    :func:`load_model`; else the registry's file, else an ncnn-converted one
    (:func:`medsr_bench.models.ncnn.resolve_source`, as :func:`~models.network.load_network`).
    The one home of "which file": ``bench run`` (plan time), ``bench models``, ``bench weights list``.

    Raises:
        KeyError: unknown model. ValueError: an unreadable trained-checkpoint or conversion record.
    """
    from medsr_bench.models.ncnn import SOURCE_PROJECT, resolve_source

    wd = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    discover_trained(wd)
    trained = _trained()
    spec = get_spec(name)
    if spec.pretrained is None:
        return ResolvedWeights(None, "", "", "")
    rec = trained.read_record(wd, name)
    if rec is not None:
        spec, source = trained.spec_for_record(spec, rec), SOURCE_PROJECT
    else:
        spec, source, _ = resolve_source(spec, wd)
    return ResolvedWeights(wd / spec.pretrained.file, spec.pretrained.sha256 or "",
                           spec.pretrained.obtain, source)


def load_model(
    name: str, weights_dir: Path | None = None, device: str = "auto", **options
) -> SRModel:
    """Build model ``name`` and load its weights.

    Args:
        name: registry key.
        weights_dir: folder holding weight files (default :func:`default_weights_dir`).
        device: ``auto`` (CUDA when available) | ``cpu`` | ``cuda``.
        **options: overrides of ``spec.options``. Deep models (see ``models.network``):
            ``gray`` ``average`` (default) | ``luma``; ``x2_mode`` ``outscale`` (default: native x4
            then float Lanczos4, as official ``--outscale 2``) | ``native-x2`` (companion model
            ``x2_model``); ``precision`` ``fp32`` (default) | ``bf16`` | ``fp16``; ``tile`` (0 = off),
            ``tile_pad`` (10), ``tile_batch`` (4), ``pre_pad`` (0), ``batch_size`` (4),
            ``channels_last`` (``auto`` = CUDA only); ``verify_hash`` (True); ``allow_smoke``
            (False; or ``$BENCH_ALLOW_SMOKE=1``): accept a checkpoint of a ``bench train --smoke``
            run. Interpolation models ignore these and reject any other key.

    A checkpoint registered by ``bench train`` for ``name`` (``<weights_dir>/trained/<name>.json``,
    see :mod:`medsr_bench.models.train.trained`) takes precedence over ``spec.pretrained.file``; its
    sha256 is checked and its training facts (iterations done vs the recipe's, data, commit) go into
    ``model.info()["weights"]["trained"]``. Without one, the official file is used when present, else
    a converted ncnn release (``bench weights fetch NAME --source ncnn``) when its record is there
    (:func:`medsr_bench.models.ncnn.resolve_source`); ``info()["weights"]["source"]`` says which.

    Raises:
        KeyError: unknown model.
        WeightsMissing: the weights file is absent.
        WeightsError: the file is present but wrong (sha256 mismatch, truncated, wrong keys).
        ValueError: an unknown option or value; TypeError: ``name`` is an auxiliary network.
    """
    wd = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    _load_all()
    trained = _trained()
    trained.discover(wd)  # not memoised: a run may have finished since
    spec = get_spec(name)
    options = dict(options)
    allow_smoke = trained.smoke_allowed(options)
    try:
        rec = trained.read_record(wd, name) if spec.pretrained is not None else None
    except ValueError as e:
        raise WeightsError(str(e)) from None
    if rec is not None:
        if rec.get("smoke") and not allow_smoke:
            raise WeightsError(
                f"{name}: the registered checkpoint {trained.record_path(wd, name)} comes from a "
                f"smoke run (random VGG / random init, tests only); retrain without --smoke, or pass "
                f"allow_smoke=True / BENCH_ALLOW_SMOKE=1 to use it anyway")
        spec = trained.spec_for_record(spec, rec)
    model = spec.factory(spec, wd, device, **{**spec.options, **options})
    if rec is not None and isinstance(getattr(model, "weights", None), dict):
        model.weights["trained"] = rec
        model.weights["source"] = "project-trained"
    return model
