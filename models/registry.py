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

import numpy as np


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
    """

    file: str
    url: str | None
    sha256: str | None
    key: str | None
    license: str
    paper: str
    obtain: str


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


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` under ``spec.name``. Raises ValueError on a duplicate name."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def _load_all() -> None:
    import models.zoo  # noqa: F401  (imports every family module, which registers its models)


def list_models() -> list[str]:
    """Registered model names in registry order (interpolation first)."""
    _load_all()
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``. Raises KeyError naming the known models."""
    _load_all()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def default_weights_dir() -> Path:
    """``$BENCH_WEIGHTS`` or the user cache dir ``~/.cache/medsr-bench/weights``."""
    import os

    env = os.environ.get("BENCH_WEIGHTS")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "medsr-bench" / "weights"


def load_model(
    name: str, weights_dir: Path | None = None, device: str = "auto", **options
) -> SRModel:
    """Build model ``name`` and load its weights.

    Args:
        name: registry key.
        weights_dir: folder holding weight files (default :func:`default_weights_dir`).
        device: ``auto`` (CUDA when available) | ``cpu`` | ``cuda``.
        **options: engine options overriding ``spec.options`` (tile, precision, gray policy...).

    Raises:
        KeyError: unknown model.
        WeightsMissing: the weights file is absent.
        WeightsError: the file is present but wrong (sha256 mismatch, truncated, wrong keys).
    """
    spec = get_spec(name)
    wd = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    return spec.factory(spec, wd, device, **{**spec.options, **options})
