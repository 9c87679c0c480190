"""The ``Sample`` contract between data protocols and everything downstream.

Source: ../shared/DESIGN.md ("Contracts worth fixing early").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class SampleMeta:
    """What a sample is and where it came from.

    Attributes:
        dataset: dataset id as written in every output (e.g. ``drive``, ``ct-head-standin``).
        image_id: stable id inside the dataset (file stem, or ``<case>_z<slice>`` for volumes).
        split: ``train`` | ``val`` | ``test`` | ``all``.
        scale: the protocol's SR factor (HR side / LR side).
        source: path of the raw file, relative to the data root when possible.
        source_sha256: sha256 of the raw file's bytes.
        orig_dtype: dtype of the decoded raw pixels (``uint8``, ``uint16``, ``int16``, ``float32``...).
        orig_data_range: peak-to-peak range the raw dtype can hold or the protocol used to map
            to [0, 1] (255 for 8-bit; for CT the window width in HU).
        bit_depth: 8 or 16 when the prepared HR is meant to be quantised to that grid, else None
            (float data such as normalised MRI).
        stand_in_for: name of the dataset this one replaces (``CPTAC-GBM``), or None.
        extra: protocol-specific facts (slice index, grade, P_D score, ...), JSON-serialisable.
    """

    dataset: str
    image_id: str
    split: str
    scale: int
    source: str
    source_sha256: str
    orig_dtype: str
    orig_data_range: float
    bit_depth: int | None = 8
    stand_in_for: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Sample:
    """One HR/LR pair.

    Attributes:
        hr: float32 array ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB), values in [0, 1].
        lr: float32 array ``(H // scale, W // scale[, 3])``, values in [0, 1].
        meta: :class:`SampleMeta`.
    """

    hr: np.ndarray
    lr: np.ndarray
    meta: SampleMeta

    def __post_init__(self) -> None:
        for name in ("hr", "lr"):
            a = getattr(self, name)
            if a.dtype != np.float32 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
                raise ValueError(
                    f"{self.meta.source}: Sample.{name} has dtype {a.dtype} shape {a.shape} "
                    "(expected float32 (H, W) or (H, W, 3))"
                )
        s = self.meta.scale
        if self.hr.shape[0] != self.lr.shape[0] * s or self.hr.shape[1] != self.lr.shape[1] * s:
            raise ValueError(
                f"{self.meta.source}: HR {self.hr.shape} is not LR {self.lr.shape} x{s}"
            )

    @property
    def channels(self) -> int:
        return 1 if self.hr.ndim == 2 else self.hr.shape[2]
