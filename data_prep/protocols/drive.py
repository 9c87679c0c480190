"""DRIVE retina evaluation set (P1, Aghelan & Rouhani v2, sec. IV-A), x2.

All 40 images (``training/`` + ``test/``), RGB 565x584 -> Lanczos 512x512 = HR; LR = bicubic /2 then
Gaussian blur (:class:`~data_prep.degrade.BicubicBlur`). Every image is evaluated: DRIVE's own
training/test division is not P1's, so the one split is named ``all`` (P1 Table 1's reading).

Diagnostic regions (:meth:`DriveProtocol.regions`): ``fov`` from ``mask/NN_<set>_mask.gif``,
``vessel`` from ``1st_manual/NN_manual1.gif`` and ``thin_vessel`` (its thin part, see
:class:`~data_prep.regions.VesselRegionSettings`), each resized exactly as the image (same method,
565x584 -> ``hr_hw``) and thresholded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsr_bench.data_prep.degrade import BicubicBlur
from medsr_bench.data_prep.errors import DataError
from medsr_bench.data_prep.io import read_raster
from medsr_bench.data_prep.protocols.raster import Decoded, RasterProtocol, resize_hr
from medsr_bench.data_prep.regions import (
    RegionMasks,
    VesselRegionSettings,
    resize_mask,
    source_path,
    thin_vessels,
)
from medsr_bench.data_prep.registry import register_protocol
from medsr_bench.data_prep.sample import SampleMeta


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
    eval_split = "all"
    splits = ("all",)
    patterns = ("images/*.tif", "images/*.tiff")
    color = "rgb"

    def hr_images(self, dec: Decoded, item) -> list[tuple[str, np.ndarray, dict]]:
        return [(item.item_id, resize_hr(dec, self.params.hr_hw, self.params.hr_resize), {})]

    def lr_from_hr(self, hr: np.ndarray, bits: int | None) -> np.ndarray:
        return self.params.apply(hr, self.scale, bits=bits)

    # ---------------------------------------------------------------- diagnostic regions
    region_settings_cls = VesselRegionSettings

    def mask_files(self, image: Path, image_id: str) -> dict[str, Path]:
        """DRIVE's own annotation files of an image: ``{"fov": mask/<id>_mask.gif, "vessel":
        1st_manual/<NN>_manual1.gif}`` beside its ``images/`` folder."""
        folder = image.parent.parent
        return {"fov": folder / "mask" / f"{image_id}_mask.gif",
                "vessel": folder / "1st_manual" / f"{image_id.split('_')[0]}_manual1.gif"}

    def regions(self, data_root: Path | None, meta: SampleMeta,
                settings: VesselRegionSettings | None = None) -> RegionMasks:
        """``fov``, ``vessel`` and ``thin_vessel`` masks, bool ``hr_hw``, aligned with the HR.

        The raw 565x584 masks (non-zero = inside) go through the image's own resize
        (``params.hr_resize``) as 0/1 floats and are kept at ``>= settings.threshold``; thin vessels
        are chosen on the raw annotation (``settings.thin_max_width`` raw pixels), resized the same
        way and kept inside the aligned ``vessel`` mask. A missing or unreadable mask file, or one
        whose size differs from the image, is named in ``notes`` and its regions are left out.
        """
        s = settings or VesselRegionSettings()
        out = RegionMasks()
        image = source_path(self, data_root, meta)
        if image is None:
            out.note(f"{meta.source}: image not found under data root {data_root}, so no DRIVE masks")
            return out
        raw_hw = tuple(meta.extra.get("orig_hw", ()))
        for kind, f in self.mask_files(image, meta.image_id).items():
            try:
                if not f.exists():
                    raise DataError(f, "mask file not found", f"DRIVE layout {f.parent.name}/{f.name}")
                m = read_raster(f).pixels
                m = (m.max(axis=2) if m.ndim == 3 else m) > 0
                if raw_hw and m.shape != raw_hw:
                    raise DataError(f, f"mask of size {m.shape[1]}x{m.shape[0]}",
                                    f"the image's {raw_hw[1]}x{raw_hw[0]} (WxH)")
            except DataError as e:
                out.note(str(e))
                continue
            regions = {"fov": m} if kind == "fov" else {"vessel": m, "thin_vessel": thin_vessels(m, s.thin_max_width)}
            for name, raw in regions.items():
                out[name] = resize_mask(raw, self.params.hr_hw, self.params.hr_resize, s.threshold)
        if "thin_vessel" in out:  # Lanczos' negative lobes could put a thin pixel outside the vessels
            out["thin_vessel"] &= out["vessel"]
        return out
