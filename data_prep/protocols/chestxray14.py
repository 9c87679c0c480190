"""NIH ChestX-ray14 evaluation set (P1 v2 sec. IV-B; also P2's chest X-rays), x4.

"40 random images" at 1024x1024 = HR: a seeded sample of whatever ``images/`` holds. Grayscale:
RGB/RGBA files storing R = G = B become one channel, unequal channels are an error. LR = bicubic /4
then the P1 Gaussian blur (:class:`~data_prep.degrade.BicubicBlur`).

Diagnostic region (:meth:`ChestXray14Protocol.image_regions`): ``field``, the exposed field of view
(:func:`data_prep.regions.radiograph_field`: the image without its border-connected near-black frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsr_bench.data_prep.degrade import BicubicBlur
from medsr_bench.data_prep.protocols.base import Item, RunContext
from medsr_bench.data_prep.protocols.raster import RasterProtocol
from medsr_bench.data_prep.regions import RegionMasks, radiograph_field
from medsr_bench.data_prep.registry import ResolvedSource, register_protocol
from medsr_bench.data_prep.sample import SampleMeta
from medsr_bench.data_prep.splits import seeded_sample


@dataclass(frozen=True)
class ChestXray14Params(BicubicBlur):
    """ChestX-ray14 protocol settings (plus the LR degradation settings of :class:`BicubicBlur`).

    Attributes:
        n_images: P1 IV-B: "We randomly select 40 images".
        seed: seed of that draw (NOT given by P1).
        expected_hw: P1 IV-B: every image is 1024x1024; other sizes are skipped with a message.
    """

    n_images: int = 40
    seed: int = 0
    expected_hw: tuple[int, int] | None = (1024, 1024)


@register_protocol
class ChestXray14Protocol(RasterProtocol):
    name = "chestxray14"
    title = "NIH ChestX-ray14 (40 random 1024x1024 images, x4)"
    scale = 4
    params_cls = ChestXray14Params
    paper = "P1 (Aghelan & Rouhani, v2) sec. IV-B, Table 2; P2 (Khandare et al.)"
    layout = "NIH_ChestXray14/images/<8 digits>_<3 digits>.png (1024x1024 8-bit grayscale PNG)"
    how_to_get = ("https://nihcc.app.box.com/v/ChestXray-NIHCC (no registration; cite Wang et al., "
                  "CVPR 2017, acknowledge the NIH Clinical Center)")
    folder = "NIH_ChestXray14/images"
    dataset_id = "chestxray14"
    patterns = ("*.png",)
    color = "gray"

    def plan(self, src: ResolvedSource, items: list[Item], ctx: RunContext) -> list[tuple[Item, str]]:
        """The seeded ``n_images`` draw over the file names (content-independent), split ``test``."""
        keep = set(seeded_sample([it.item_id for it in items], self.params.n_images, self.params.seed))
        return [(it, "test") for it in items if it.item_id in keep]

    def lr_from_hr(self, hr: np.ndarray, bits: int | None) -> np.ndarray:
        return self.params.apply(hr, self.scale, bits=bits)

    def image_regions(self, hr: np.ndarray, meta: SampleMeta) -> RegionMasks:
        """``field``: :func:`~data_prep.regions.radiograph_field` of the HR (``meta`` unused)."""
        return RegionMasks({"field": radiograph_field(hr)})
