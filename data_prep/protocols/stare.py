"""STARE retina images (P1 v2 sec. III-A): the retina fine-tuning set, HR = the original images.

``stare-images/im####.ppm.gz`` (or ``.ppm``), 700x605 RGB. P1 makes LR online with Real-ESRGAN's
high-order degradation during training; the ``lr`` of these samples is a fixed bicubic /4 of the HR
so that the set can be inspected and sanity-checked like the others (split ``train``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsr_bench.data_prep import ops
from medsr_bench.data_prep.protocols.raster import Decoded, RasterProtocol
from medsr_bench.data_prep.registry import register_protocol


@dataclass(frozen=True)
class StareParams:
    """STARE protocol settings.

    Attributes:
        expected_hw: P1 III-A: 700x605 (W x H); other sizes are skipped with a message.
        mod_crop: HR cropped at the bottom/right to a multiple of the scale (605 -> 604 rows), the
            usual SR convention, so that HR = LR x 4 exactly.
        lr_resize: implementation of the inspection LR (bicubic /4, MATLAB-style).
        seed: only used to pick ``limit`` images.
    """

    expected_hw: tuple[int, int] | None = (605, 700)
    mod_crop: bool = True
    lr_resize: str = "matlab-bicubic"
    seed: int = 0


class HrOnlyTrainingSet(RasterProtocol):
    """Fine-tuning sets: HR images, split ``train``, LR = plain bicubic /scale for inspection."""

    eval_split = "train"
    splits = ("train",)

    def lr_from_hr(self, hr: np.ndarray, bits: int | None) -> np.ndarray:
        h, w = hr.shape[:2]
        lr = ops.resize(hr, (h // self.scale, w // self.scale), self.params.lr_resize)
        return ops.quantize(lr, bits)


@register_protocol
class StareProtocol(HrOnlyTrainingSet):
    name = "stare"
    title = "STARE retina (fine-tuning HR, 700x605 RGB)"
    scale = 4
    params_cls = StareParams
    paper = "P1 (Aghelan & Rouhani, v2) sec. III-A (retina fine-tuning set)"
    layout = "STARE/stare-images/im####.ppm.gz (or .ppm; 700x605 RGB)"
    how_to_get = ("https://cecas.clemson.edu/~ahoover/stare/ (no registration; research use; cite "
                  "Hoover et al., IEEE TMI 2000)")
    folder = "STARE"
    dataset_id = "stare"
    patterns = ("*.ppm.gz", "*.ppm", "*.PPM")
    color = "rgb"

    def hr_images(self, dec: Decoded, item) -> list[tuple[str, np.ndarray, dict]]:
        hr = dec.unit()
        return [(item.item_id, ops.mod_crop(hr, self.scale) if self.params.mod_crop else hr, {})]
