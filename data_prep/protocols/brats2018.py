"""BraTS 2018 native T1 slices (P3, Rashid et al., sec. 3.1), x4: 256x256 HR, 64x64 LR.

Walks ``HGG/`` and ``LGG/`` case folders, reads ``<case>_t1.nii.gz`` with nibabel one volume at a time
(memory does not grow with the number of subjects), splits 80/20 *by volume* (seeded), removes blank
slices, normalises to [0, 1], zero-pads 240x240 -> 256x256 and makes LR by bilinear /4.

Diagnostic region (:meth:`Brats2018Protocol.regions`): ``brain`` = the slice's voxels above the
background value 0 in the raw T1 volume (the blank-slice rule's own definition of brain tissue),
zero-padded exactly as the HR.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsr_bench.data_prep import ops
from medsr_bench.data_prep.errors import DataError
from medsr_bench.data_prep.io import open_nifti, read_nifti_volume, sha256_file
from medsr_bench.data_prep.protocols.base import BaseProtocol, Item, RunContext
from medsr_bench.data_prep.regions import RegionMasks, VolumeRef, source_path
from medsr_bench.data_prep.registry import ResolvedSource, register_protocol
from medsr_bench.data_prep.sample import Sample, SampleMeta
from medsr_bench.data_prep.splits import evenly_spaced, seeded_order, seeded_split

log = logging.getLogger("data_prep")
GRADES = ("HGG", "LGG")


@dataclass(frozen=True)
class BratsParams:
    """BraTS protocol settings.

    Attributes:
        modality: P3 3.1 uses the native T1 volumes (``<case>_t1.nii.gz``).
        expected_shape: BraTS volumes are 240x240x155; other shapes are skipped with a message
            (None accepts any shape).
        test_fraction: P3 3.1: 80 % of the volumes for training, 20 % for testing (by volume).
        stratify_by_grade: P3 does not say; default True keeps the HGG:LGG ratio in both splits
            (with the 10 local volumes, 6 HGG + 4 LGG, this gives exactly 8/2).
        seed: seed of the volume split (NOT given by P3).
        min_brain_pixels: a slice is blank (removed) when fewer than this many voxels are above
            the background value 0. P3 3.1 removes slices with "no brain tissue"; default 1 (any
            non-zero voxel is brain) keeps 88.3 % of the slices of the 10 local volumes against 88.6 %
            (31,322 of 35,340) in P3, the closest of the thresholds tried (1, 100, 500, 1000).
        normalisation: ``"slice"`` (min-max per 2D slice) or ``"volume"`` (per 3D volume). P3 3.1
            only says "normalized ... to the range of 0 to 1". Default per slice: P3 describes the
            normalisation as part of preparing its 2D images, and per-slice scaling keeps every slice
            on the full [0, 1] range whatever the volume's outliers (two local T1 volumes each hold
            one saturated 32767 voxel, about 1.6x their 99.9th percentile).
        hr_hw: P3 3.1: zero padding 240x240 -> 256x256.
        pad_position: where the padding goes; P3 does not say, default centred (8 px each side).
        lr_resize: P3 3.1: "down-sampling ... by a factor of four using bilinear interpolation";
            the library is not named. Default ``cv2-bilinear`` (cv2.resize INTER_LINEAR, no
            antialiasing: the plain textbook bilinear); ``pil-bilinear`` is the antialiased variant.
    """

    modality: str = "t1"
    expected_shape: tuple[int, int, int] | None = (240, 240, 155)
    test_fraction: float = 0.2
    stratify_by_grade: bool = True
    seed: int = 0
    min_brain_pixels: int = 1
    normalisation: str = "slice"
    hr_hw: tuple[int, int] = (256, 256)
    pad_position: str = "center"
    lr_resize: str = "cv2-bilinear"

    def __post_init__(self) -> None:
        ops.check_choice("normalisation", self.normalisation, ("slice", "volume"))
        ops.check_choice("pad_position", self.pad_position, ("center", "bottom-right"))
        ops.check_choice("lr_resize", self.lr_resize, ops.RESIZE_METHODS)
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")


def brain_area(vol: np.ndarray) -> np.ndarray:
    """Number of non-background (> 0) voxels in each axial slice ``vol[:, :, z]`` -> ``(Z,)``."""
    return (vol > 0).sum(axis=(0, 1))


def kept_slices(vol: np.ndarray, min_brain_pixels: int) -> list[int]:
    """Indices ``z`` of the non-blank slices (brain area >= ``min_brain_pixels``), ascending."""
    return [int(z) for z in np.flatnonzero(brain_area(vol) >= max(1, min_brain_pixels))]


@register_protocol
class Brats2018Protocol(BaseProtocol):
    name = "brats2018"
    title = "BraTS 2018 T1 slices (240 -> pad 256, x4 bilinear -> 64)"
    scale = 4
    params_cls = BratsParams
    paper = "P3 (Rashid, Shakibapour & Ebrahimi) sec. 3.1, Table 2"
    layout = ("BraTS2018/[MICCAI_BraTS_2018_Data_Training/]{HGG,LGG}/<case>/<case>_t1.nii.gz "
              "(240x240x155 NIfTI)")
    how_to_get = ("https://www.med.upenn.edu/sbia/brats2018/data.html (registration with CBICA "
                  "required; research use; cite Menze et al. 2015 and Bakas et al. 2017/2018)")
    folder = "BraTS2018"
    dataset_id = "brats2018"
    eval_split = "test"
    splits = ("train", "test")
    reported_counts = "31,322 train / 7,823 test non-blank slices from all 285 subjects (P3 sec. 3.1)"

    # ---------------------------------------------------------------- items and split
    def grade_dirs(self, root: Path) -> list[tuple[str, Path]]:
        """The ``HGG``/``LGG`` folders directly under ``root`` or one level below it."""
        for base in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
            found = [(g, base / g) for g in GRADES if (base / g).is_dir()]
            if found:
                return found
        return []

    def list_items(self, src: ResolvedSource) -> list[Item]:
        suffix = f"_{self.params.modality}.nii.gz"
        items = []
        for grade, gdir in self.grade_dirs(src.path):
            for case in sorted(p for p in gdir.iterdir() if p.is_dir()):
                f = case / f"{case.name}{suffix}"
                plain = case / f"{case.name}{suffix[:-3]}"  # also accept an uncompressed .nii
                f = plain if not f.exists() and plain.exists() else f
                items.append(self.item_for(f, case.name, grade, grade=grade))
        return items

    def plan(self, src: ResolvedSource, items: list[Item], ctx: RunContext) -> list[tuple[Item, str]]:
        """Seeded 80/20 split by volume (stratified by grade unless disabled).

        Volumes that cannot contribute (file missing, unreadable header, wrong shape) are named
        in the skipped list and left out before the split is drawn (header only: cheap); with at
        least two usable volumes the test split gets at least one."""
        usable = []
        for it in items:
            try:
                if not it.path.exists():
                    raise DataError(it.source, "T1 volume file not found",
                                    f"{it.item_id}_{self.params.modality}.nii.gz")
                open_nifti(it.path, self.params.expected_shape)
            except DataError as e:
                ctx.skip(it.source, e)
                continue
            usable.append(it)
        test = self.params.test_fraction
        strata = {it.item_id: it.group for it in usable} if self.params.stratify_by_grade else None
        assign = seeded_split([it.item_id for it in usable], ("train", "test"), (1 - test, test),
                              self.params.seed, strata, ensure=(self.eval_split,))
        return [(it, assign[it.item_id]) for it in usable]

    # ---------------------------------------------------------------- slices
    def generate(self, src: ResolvedSource, planned: list[tuple[Item, str]], limit: int | None,
                 ctx: RunContext) -> Iterator[Sample]:
        """Stream volume by volume. ``limit`` N deals N slices round robin over the volumes in one
        fixed seeded order (``seed + 1``), and inside a volume takes spread-out non-blank slices
        (never N edge slices); both are nested, so ``limit 3`` contains ``limit 2``."""
        if limit is not None:
            rank = {v: i for i, v in enumerate(seeded_order([it.item_id for it, _ in planned],
                                                            self.params.seed + 1))}
            planned = sorted(planned, key=lambda p: rank[p[0].item_id])
        quota = spread_quota(len(planned), limit)
        counts: dict[str, list[int]] = {}
        for (it, split), q in zip(planned, quota, strict=True):
            if q == 0:
                continue
            try:
                produced = list(self.pairs(src, it, split, ctx, q))
            except DataError as e:
                ctx.skip(it.source, e)
                continue
            c = counts.setdefault(split, [0, 0])
            c[0] += 1
            c[1] += len(produced)
            yield from produced
        ctx.counts.update({s: {"volumes": v, "slices": n} for s, (v, n) in counts.items()})
        for s, (v, n) in sorted(counts.items()):
            log.info("%s %s: %d volumes, %d non-blank slices", src.dataset, s, v, n)

    def pairs(self, src: ResolvedSource, item: Item, split: str, ctx: RunContext,
              limit: int | None = None) -> Iterator[Sample]:
        p = self.params
        if not item.path.exists():
            raise DataError(item.source, "T1 volume file not found", f"{item.item_id}_{p.modality}.nii.gz")
        vol, dtype = read_nifti_volume(item.path, p.expected_shape)
        if vol.ndim != 3:
            raise DataError(item.source, f"{vol.ndim}-D image", "a 3-D volume")
        zs = kept_slices(vol, p.min_brain_pixels)
        blank = vol.shape[2] - len(zs)
        if limit is not None:
            zs = evenly_spaced(zs, limit)
        vlo, vhi = float(vol.min()), float(vol.max())
        sha = sha256_file(item.path)
        out = []
        for z in zs:
            sl = vol[:, :, z].astype(np.float64)
            norm = ops.minmax(sl) if p.normalisation == "slice" else ops.minmax(sl, vlo, vhi)
            hr = ops.pad_to(norm, p.hr_hw, p.pad_position)
            lr = self.degrade_hr(hr, None)
            out.append(self.make_sample(
                src, item, f"{item.item_id}_z{z:03d}", split, hr, lr,
                orig_dtype=dtype, orig_data_range=(float(sl.max() - sl.min()) if p.normalisation == "slice"
                                                   else vhi - vlo),
                bit_depth=None, sha256=sha,
                extra={"slice": z, "blank_slices_in_volume": blank, "raw_min": float(sl.min()),
                       "raw_max": float(sl.max())},
            ))
        del vol
        return iter(out)

    def degrade_hr(self, hr: np.ndarray, meta) -> np.ndarray:
        """``lr_resize`` by 1/scale, kept as floats (P3's normalised slices); ``meta`` unused."""
        h, w = hr.shape[:2]
        return ops.quantize(ops.resize(hr, (h // self.scale, w // self.scale), self.params.lr_resize), None)

    # ---------------------------------------------------------------- diagnostic regions
    def regions(self, data_root: Path | None, meta: SampleMeta, settings=None) -> RegionMasks:
        """``brain``: bool ``hr_hw`` mask of the raw T1 slice's voxels > 0 (background is 0 in
        BraTS, and in the min-max-normalised HR exactly those voxels are > 0 when the slice holds
        background), padded like the HR. The last volume read is kept, so the slices of one volume
        cost one read. A missing volume is named in ``notes``."""
        p = self.params
        out = RegionMasks()
        path = source_path(self, data_root, meta)
        if path is None or "slice" not in meta.extra:
            out.note(f"{meta.source}: T1 volume not found under data root {data_root}, so no brain mask")
            return out
        try:
            vol = self._cached_volume(path)
        except DataError as e:
            out.note(str(e))
            return out
        out["brain"] = ops.pad_to(np.asarray(vol[:, :, int(meta.extra["slice"])]) > 0, p.hr_hw,
                                  p.pad_position, value=False)
        return out

    def _cached_volume(self, path: Path) -> np.ndarray:
        """The raw volume at ``path``; the last one read is kept, so the slices of one volume cost
        one read (regions and volume readings share it). Raises DataError."""
        cached = getattr(self, "_region_volume", None)
        if cached is None or cached[0] != path:
            vol, _ = read_nifti_volume(path, self.params.expected_shape)
            cached = self._region_volume = (path, vol)
        return cached[1]

    def volume_of(self, data_root: Path | None, meta: SampleMeta) -> VolumeRef | None:
        """The volume a slice belongs to (``metric.reduce=volume``): its T1 file, the slice index,
        the raw intensities of the slice's 0 and 1 (``raw_min`` / ``raw_max`` of ``meta.extra`` for
        per-slice normalisation, the volume's min / max for per-volume) and the volume's range.
        None when the volume file is not found or unreadable."""
        path = source_path(self, data_root, meta)
        if path is None or "slice" not in meta.extra:
            return None
        try:
            vol = self._cached_volume(path)
        except DataError:
            return None
        vlo, vhi = float(vol.min()), float(vol.max())
        ex = meta.extra
        unit = (float(ex["raw_min"]), float(ex["raw_max"])) if self.params.normalisation == "slice" \
            else (vlo, vhi)
        return VolumeRef(volume_id=meta.source, index=int(ex["slice"]), value_range=unit,
                         volume_range=(vlo, vhi))


def spread_quota(n_items: int, limit: int | None) -> list[int | None]:
    """Per-volume slice quota: None (all slices) without limit; else slice k of N goes to volume
    ``k mod n_items`` (round robin), so every quota grows with N (nested selections)."""
    if limit is None:
        return [None] * n_items
    return [len(range(i, limit, n_items)) for i in range(n_items)]
