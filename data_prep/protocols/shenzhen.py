"""Shenzhen TB chest X-ray set (P1 v2 sec. III-A): the chest X-ray fine-tuning set, multi-scale GT.

``CHNCXR_*.png`` of mixed sizes (about 2.5K-3K px). P1 downsamples each original with Lanczos to
several scales and combines them with the originals: five GT images per original. When the set is
absent, ``NIH_ChestXray14/finetune/`` stands in (``cxr14-finetune-standin``; NOT Shenzhen data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsr_bench.data_prep import ops
from medsr_bench.data_prep.protocols.raster import Decoded
from medsr_bench.data_prep.protocols.stare import HrOnlyTrainingSet
from medsr_bench.data_prep.registry import ResolvedSource, register_protocol


@dataclass(frozen=True)
class ShenzhenParams:
    """Shenzhen protocol settings.

    Attributes:
        scales: P1 III-A gives no scales, only "five times more GT images". Default: the recipe of
            Real-ESRGAN's multi-scale DF2K preparation, which P1 follows: 0.75, 0.5, 1/3 of the
            original, plus ``shortest_edge``; with the original that is 5 GT images per file.
        shortest_edge: one more GT with the shorter side resized to this many pixels (None: off;
            skipped for originals that are not larger).
        gt_resize: P1 III-A: "downsampling ... using the Lanczos method" (Pillow LANCZOS).
        lr_resize: implementation of the inspection LR (bicubic /4).
        seed: only used to pick ``limit`` images.
    """

    scales: tuple[float, ...] = (0.75, 0.5, 1 / 3)
    shortest_edge: int | None = 400
    gt_resize: str = "pil-lanczos"
    lr_resize: str = "matlab-bicubic"
    seed: int = 0


@register_protocol
class ShenzhenProtocol(HrOnlyTrainingSet):
    name = "shenzhen"
    title = "Shenzhen TB chest X-ray (fine-tuning, multi-scale GT x5)"
    scale = 4
    params_cls = ShenzhenParams
    paper = "P1 (Aghelan & Rouhani, v2) sec. III-A (chest X-ray fine-tuning set)"
    layout = "Shenzhen/[ChinaSet_AllFiles/CXR_png/]CHNCXR_####_#.png (PNG, about 3000x3000)"
    how_to_get = ("https://lhncbc.nlm.nih.gov/LHC-downloads/downloads.html#tuberculosis-image-data-sets "
                  "(NLM, no registration; cite Jaeger et al., QIMS 2014)")
    folder = "Shenzhen"
    dataset_id = "shenzhen"
    standin = ("NIH_ChestXray14/finetune", "cxr14-finetune-standin", "Shenzhen",
               "NIH ChestX-ray14 finetune/ images standing in; this is NOT the Shenzhen TB set")
    patterns = ("CHNCXR_*.png",)
    color = "gray"

    def list_items(self, src: ResolvedSource):
        pats = ("*.png",) if src.stand_in_for else self.patterns
        return [self.item_for(p) for p in self.find_files(src.path, pats)]

    def gt_sizes(self, h: int, w: int) -> list[tuple[str, tuple[int, int]]]:
        """``[(tag, (H, W))]`` of the GT images of one ``h x w`` original, original first."""
        out = [("x1", (h, w))]
        for s in self.params.scales:
            out.append((f"x{s:.3f}", (int(round(h * s)), int(round(w * s)))))
        e = self.params.shortest_edge
        if e and e < min(h, w):  # downscaling only, as the multi-scale recipe does
            r = e / min(h, w)
            out.append((f"e{e}", (int(round(h * r)), int(round(w * r)))))
        return out

    def hr_images(self, dec: Decoded, item) -> list[tuple[str, np.ndarray, dict]]:
        h, w = dec.pixels.shape[:2]
        out = []
        for tag, size in self.gt_sizes(h, w):
            if size == (h, w):
                gt = dec.unit()
            elif dec.bits == 8:
                gt = ops.to_unit(ops.resize(dec.pixels, size, self.params.gt_resize), 255.0)
            else:
                gt = ops.quantize(ops.resize(dec.unit(), size, self.params.gt_resize), dec.bits)
            out.append((f"{item.item_id}_{tag}", ops.mod_crop(gt, self.scale), {"gt_scale": tag}))
        return out
