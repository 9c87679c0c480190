"""The options every deep model takes (``--set model.<field>``, ``[model]`` in a run config, a user
model's table), as one typed, validated dataclass with one codec (:meth:`ModelOptions.to_dict` /
:meth:`ModelOptions.from_dict`).

``DEEP_DEFAULTS`` (the plain dict the model wrappers merge a spec's own options onto) is
``ModelOptions().to_dict()``: the defaults are declared once, here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medsr_bench.models.engine import PRECISIONS, EngineSettings

#: grayscale policy of a 3-channel network on a grayscale input: weights of R, G, B in the
#: reduction of its output back to one channel (see models/network.py)
GRAY_WEIGHTS = {
    "average": (1 / 3, 1 / 3, 1 / 3),
    "luma": (0.299, 0.587, 0.114),
}
#: how a x2 target is reached with a x4 network (see models/network.py)
X2_MODES = ("outscale", "native-x2")
#: what runs the network: ``torch`` (models/engine.py) or ``ncnn`` (models/ncnn.py)
BACKENDS = ("torch", "ncnn")

_ENGINE_FIELDS = frozenset(EngineSettings.__dataclass_fields__)
_ENGINE = EngineSettings()


@dataclass(frozen=True)
class ModelOptions:
    """Options of every deep model; the engine fields are passed to
    :class:`~medsr_bench.models.engine.EngineSettings` (whose docstring describes each).

    Attributes:
        gray: grayscale input through a 3-channel network: ``average`` (mean of R, G, B; the
            papers do not say) | ``luma`` (ITU-R BT.601, as the official RealESRGANer) (models/network.py)
        x2_mode: x2 from a x4 network: ``outscale`` (native output, Lanczos4 resize) |
            ``native-x2`` (the spec's companion x2 network) (models/network.py)
        precision: engine precision, one of ``models.engine.PRECISIONS``.
        tile: tile core size in LR pixels; 0 = whole image.
        tile_pad: context on each side of a tile (LR pixels).
        tile_batch: windows per forward pass when tiling.
        pre_pad: reflect padding (right/bottom) before the network, cropped after.
        batch_size: images per forward pass without tiling.
        channels_last: ``auto`` (= True) | True | False: NHWC tensors and weights.
        backend: what runs the network: ``torch`` | ``ncnn``.

    Raises:
        ValueError: a value outside its choices or an engine setting the engine refuses (one line
            naming the field and the choices).
    """

    gray: str = "average"
    x2_mode: str = "outscale"
    # the engine's fields: their defaults are EngineSettings' own (declared once, there)
    precision: str = _ENGINE.precision
    tile: int = _ENGINE.tile
    tile_pad: int = _ENGINE.tile_pad
    tile_batch: int = _ENGINE.tile_batch
    pre_pad: int = _ENGINE.pre_pad
    batch_size: int = _ENGINE.batch_size
    channels_last: bool | str = _ENGINE.channels_last
    backend: str = "torch"

    def __post_init__(self) -> None:
        for name, choices in (("gray", GRAY_WEIGHTS), ("x2_mode", X2_MODES),
                              ("precision", PRECISIONS), ("backend", BACKENDS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, "
                                 f"got {getattr(self, name)!r}")
        EngineSettings(**self.engine_fields())

    def engine_fields(self) -> dict[str, Any]:
        """The fields that are :class:`~medsr_bench.models.engine.EngineSettings` fields."""
        return {k: v for k, v in self.to_dict().items() if k in _ENGINE_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """Every field as a JSON-ready ``{name: value}`` (the codec's one encoding)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "model options") -> ModelOptions:
        """Options from ``{name: value}`` (missing fields keep their defaults).

        Raises:
            ValueError: an unknown key (one line naming ``where`` and the valid keys) or a bad
                value (see the class).
        """
        unknown = [k for k in values if k not in cls.__dataclass_fields__]
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}; expected one of "
                             f"{', '.join(cls.__dataclass_fields__)}")
        return cls(**values)


#: every deep model's default options as a plain dict (a spec's ``options`` add / override)
DEEP_DEFAULTS: dict[str, Any] = ModelOptions().to_dict()
