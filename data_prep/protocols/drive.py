"""DRIVE retina evaluation set (P1, Aghelan & Rouhani v2, sec. IV-A), x2.

All 40 images (``training/`` + ``test/``), RGB 565x584 -> Lanczos 512x512 = HR; LR = bicubic /2 then
Gaussian blur (:class:`~data_prep.degrade.BicubicBlur`). Every image is evaluated (split ``test``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsr_bench.data_prep.degrade import BicubicBlur
from medsr_bench.data_prep.protocols.raster import Decoded, RasterProtocol, resize_hr
from medsr_bench.data_prep.registry import register_protocol


@dataclass(frozen=True)
class DriveParams(BicubicBlur):
    """DRIVE protocol settings (inherits the LR degradation settings of :class:`BicubicBlur`).

    Attributes:
        hr_hw: HR size; P1 IV-A: "rescale ... to 512x512".
        hr_resize: P1 IV-A: "using the Lanczos method"; the library is not named: Pillow LANCZOS
            on the 8-bit image (what writing the rescaled GT as an image file gives).
        expected_hw: raw size check, DRIVE is 565x584 (W x H); None accepts any size.
        seed: only used to pick ``limit`` images.
    """

    hr_hw: tuple[int, int] = (512, 512)
    hr_resize: str = "pil-lanczos"
    expected_hw: tuple[int, int] | None = (584, 565)
    seed: int = 0


@register_protocol
class DriveProtocol(RasterProtocol):
    name = "drive"
    title = "DRIVE retina (40 images, 565x584 -> 512x512, x2)"
    scale = 2
    params_cls = DriveParams
    paper = "P1 (Aghelan & Rouhani, v2) sec. IV-A, Table 1"
    layout = "DRIVE/{training,test}/images/NN_{training,test}.tif (40 RGB TIFF, 565x584)"
    how_to_get = ("https://drive.grand-challenge.org (free registration required; research use; "
                  "cite Staal et al., IEEE TMI 2004)")
    folder = "DRIVE"
    dataset_id = "drive"
    patterns = ("images/*.tif", "images/*.tiff")
    color = "rgb"

    def hr_images(self, dec: Decoded, item) -> list[tuple[str, np.ndarray, dict]]:
        return [(item.item_id, resize_hr(dec, self.params.hr_hw, self.params.hr_resize), {})]

    def lr_from_hr(self, hr: np.ndarray, dec: Decoded) -> np.ndarray:
        return self.params.apply(hr, self.scale, bits=dec.bits)
