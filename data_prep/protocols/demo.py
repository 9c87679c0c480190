"""Embedded-default ("demo") datasets: real medical images shipped inside installed packages, run
through the unchanged dataset protocols so that the harness works on a fresh machine without data.

Each demo subclasses a real protocol and only replaces where the raw images come from (``data_root``
is ignored) and, where the packaged image does not have the dataset's native form, a documented
conversion to that form:

* ``demo-retina``: ``skimage/data/retina.jpg`` (1411x1411 RGB fundus photo) -> DRIVE protocol (no
  diagnostic regions: the photo has no FOV or vessel annotation). Six
  images: the whole photo, its central 584x565 crop (DRIVE's native size) and four 584x565 crops
  centred on the quadrant centres; each is Lanczos-resized to 512x512 by the protocol.
* ``demo-cxr``: pydicom-data ``RG1_UNCR.dcm``/``RG3_UNCR.dcm`` (CR chest, MONOCHROME1, 16-bit) ->
  ChestX-ray14 protocol, after: modality LUT, per-image min-max to [0, 1], inversion (MONOCHROME1 ->
  bright bones, as NIH PNGs), central square crop, Pillow Lanczos to 1024x1024, rounding to 8 bit.
* ``demo-brain``: nilearn's MNI152 T1 template (``MNI152_FILE_PATH``, 197x233x189, the image behind
  ``load_mni152_template(resolution=1)``) -> BraTS protocol with no 240x240x155 shape check (its
  197x233 slices are zero-padded, centred, straight to 256x256); 6 evenly spaced non-blank slices.
  Its ``brain`` region is the BraTS rule (template voxels > 0, i.e. the template's nonzero head).
* ``demo-ct``: every uncompressed 512x512 CT/MR DICOM in pydicom-data / pydicom's test files
  (``693_UNCR.dcm``, ``693_UNCI.dcm``, and the 2-frame ``eCT_Supplemental.dcm``, which the protocol
  excludes as multi-frame) -> CPTAC-GBM protocol with ``threshold_mode="none"`` (a detail filter
  over two images is meaningless).

All demos evaluate every image the protocol keeps (every one is labelled ``test``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medsr_bench.data_prep import ops
from medsr_bench.data_prep.errors import DataError, DatasetMissing
from medsr_bench.data_prep.io import RasterImage, read_dicom, read_dicom_header
from medsr_bench.data_prep.protocols.base import Item
from medsr_bench.data_prep.protocols.brats2018 import Brats2018Protocol
from medsr_bench.data_prep.protocols.chestxray14 import ChestXray14Protocol
from medsr_bench.data_prep.protocols.cptac_gbm import CptacGbmProtocol
from medsr_bench.data_prep.protocols.drive import DriveProtocol
from medsr_bench.data_prep.protocols.raster import Decoded
from medsr_bench.data_prep.regions import RegionMasks
from medsr_bench.data_prep.registry import ResolvedSource, register_protocol

_UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}


class DemoMixin:
    """Demo behaviour: packaged source, ``data_root`` ignored, every image in split ``test``."""

    is_demo = True
    eval_split = "test"
    how_to_get = "installed with the project's dependencies (no download)"
    demo_note = ""

    def package_dir(self) -> Path:  # pragma: no cover - abstract
        raise NotImplementedError

    def plan(self, src, items, ctx):
        """The protocol's own plan (filters, draws), every kept image then evaluated as ``test``."""
        return [(it, "test") for it, _ in super().plan(src, items, ctx)]

    def resolve(self, data_root: Path | None = None) -> ResolvedSource:
        try:
            path = self.package_dir()
        except (ImportError, OSError) as e:
            raise DatasetMissing(self.name, self.layout, self.how_to_get) from e
        if not path.exists():
            raise DatasetMissing(path, self.layout, self.how_to_get)
        return ResolvedSource(self.name, path, note=f"{self.name} ({self.demo_note})")

    def packaged(self, path: Path, item_id: str, package: str, **extra) -> Item:
        rel = path.relative_to(self.package_dir().parent).as_posix()
        return Item(item_id, path, f"{package}:{rel}", None, extra)


def _data_store_dir() -> Path:
    import data_store  # the pydicom-data package

    return Path(data_store.__file__).parent / "data"


# ---------------------------------------------------------------------------- retina
@register_protocol
class DemoRetina(DemoMixin, DriveProtocol):
    name = "demo-retina"
    title = "demo: skimage retina photo through the DRIVE protocol (x2)"
    layout = "skimage/data/retina.jpg (installed with scikit-image)"
    demo_note = "skimage retina.jpg"
    CROP_HW = (584, 565)
    splits = ("test",)  # the demos' one split (DRIVE's own is ``all``)

    def __init__(self, params=None):
        super().__init__(params if params is not None else DriveProtocol.params_cls(expected_hw=None))

    def package_dir(self) -> Path:
        import skimage

        return Path(skimage.__file__).parent / "data"

    def list_items(self, src: ResolvedSource) -> list[Item]:
        f = src.path / "retina.jpg"
        h, w = 1411, 1411
        ch, cw = self.CROP_HW
        centres = {"center": (h // 2, w // 2), "q1": (h // 4, w // 4), "q2": (h // 4, 3 * w // 4),
                   "q3": (3 * h // 4, w // 4), "q4": (3 * h // 4, 3 * w // 4)}
        items = [self.packaged(f, "retina_full", "skimage")]
        for tag, (cy, cx) in centres.items():
            top, left = min(max(cy - ch // 2, 0), h - ch), min(max(cx - cw // 2, 0), w - cw)
            items.append(self.packaged(f, f"retina_{tag}", "skimage", crop=[top, left, ch, cw]))
        return items

    def regions(self, data_root, meta, settings=None) -> RegionMasks:
        """None: the packaged photo comes without FOV or vessel annotations."""
        return RegionMasks()

    def decode(self, item: Item) -> Decoded:
        dec = super().decode(item)
        if "crop" in item.extra:
            t, left, ch, cw = item.extra["crop"]
            dec.pixels = np.ascontiguousarray(dec.pixels[t:t + ch, left:left + cw])
        return dec


# ---------------------------------------------------------------------------- chest X-ray
@register_protocol
class DemoCxr(DemoMixin, ChestXray14Protocol):
    name = "demo-cxr"
    title = "demo: pydicom-data CR chest images through the ChestX-ray14 protocol (x4)"
    layout = "data_store/data/RG{1,3}_UNCR.dcm (installed with pydicom-data)"
    demo_note = "pydicom-data RG1/RG3 CR chest, converted to 1024x1024 8-bit"
    FILES = ("RG1_UNCR.dcm", "RG3_UNCR.dcm")

    def package_dir(self) -> Path:
        return _data_store_dir()

    def list_items(self, src: ResolvedSource) -> list[Item]:
        return [self.packaged(src.path / f, f[:-4], "pydicom-data") for f in self.FILES]

    def decode(self, item: Item) -> Decoded:
        """CR DICOM -> the form of an NIH PNG (1024x1024 uint8, bright bones); see module doc."""
        dcm = read_dicom(item.path)
        x = ops.minmax(dcm.pixels)
        if dcm.photometric == "MONOCHROME1":
            x = 1.0 - x
        side = min(x.shape)
        x = ops.resize(ops.center_crop(x, (side, side)), (1024, 1024), "pil-lanczos")
        px = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
        return Decoded(px, 255.0, 8, RasterImage(px, 8, "L", {"converted_from": "DICOM CR"}))


# ---------------------------------------------------------------------------- brain MRI
@register_protocol
class DemoBrain(DemoMixin, Brats2018Protocol):
    name = "demo-brain"
    title = "demo: nilearn MNI152 T1 template through the BraTS protocol (x4)"
    layout = "nilearn MNI152 template (installed with nilearn)"
    demo_note = "nilearn MNI152 T1 template, 6 axial slices"
    default_limit = 6

    def __init__(self, params=None):
        super().__init__(params if params is not None else Brats2018Protocol.params_cls(expected_shape=None))

    def package_dir(self) -> Path:
        from nilearn.datasets import MNI152_FILE_PATH

        return Path(MNI152_FILE_PATH).parent

    def list_items(self, src: ResolvedSource) -> list[Item]:
        from nilearn.datasets import MNI152_FILE_PATH

        return [self.packaged(Path(MNI152_FILE_PATH), "mni152_t1", "nilearn", grade="template")]


# ---------------------------------------------------------------------------- CT
@register_protocol
class DemoCt(DemoMixin, CptacGbmProtocol):
    name = "demo-ct"
    title = "demo: pydicom-data 512x512 CT through the CPTAC-GBM protocol (x4)"
    layout = "data_store/data/693_*.dcm and pydicom test files (installed with pydicom-data)"
    demo_note = "pydicom-data 693_UNCR/693_UNCI CT 512x512"
    standin = None

    def __init__(self, params=None):
        super().__init__(params if params is not None
                         else CptacGbmProtocol.params_cls(threshold_mode="none"))

    def package_dir(self) -> Path:
        return _data_store_dir()

    def list_items(self, src: ResolvedSource) -> list[Item]:
        import pydicom

        dirs = [("pydicom-data", src.path), ("pydicom", Path(pydicom.__file__).parent / "data" / "test_files")]
        items = []
        for pkg, d in dirs:
            for f in sorted(d.glob("*.dcm")):
                try:
                    ds = read_dicom_header(f)
                except DataError:
                    continue
                ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
                if ds.get("Modality") in ("CT", "MR") and ds.get("Rows") == 512 and ds.get("Columns") == 512 \
                        and ts in _UNCOMPRESSED:
                    rel = f.relative_to(d.parent.parent if pkg == "pydicom" else d.parent).as_posix()
                    items.append(Item(f.stem, f, f"{pkg}:{rel}"))
        return items
