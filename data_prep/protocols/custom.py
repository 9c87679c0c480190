"""Bring-your-own dataset: a protocol defined by a config (a TOML section or a dict), not by a paper.

A lab points the harness at a folder (or glob) of its own HR images in any supported format (PNG,
TIFF, JPEG, PPM/PGM, BMP, GIF, DICOM trees, NIfTI volumes) and chooses, with stated defaults, every
step the paper protocols fix in code:

1. read (``data_prep.io``) and, for NIfTI volumes, cut 2-D slices along ``volume.axis`` with a slice
   rule (blank-slice rule of :func:`data_prep.protocols.brats2018.kept_slices`);
2. channel policy (``gray`` or ``rgb``; how a colour file becomes gray);
3. intensity mapping to [0, 1] (file bit depth, per-image or per-volume min-max, a window);
   DICOM ``MONOCHROME1`` is inverted afterwards (as in :mod:`~data_prep.protocols.cptac_gbm`);
4. geometry: optional HR size by crop / pad / crop-or-pad / resize, then the SR "mod crop" so that
   H and W are multiples of the scale;
5. HR rounded to ``hr_bits``;
6. the LR degradation chain: Gaussian blur (on HR or on LR), resize /scale, Gaussian noise (seeded
   per image), JPEG, rounding to ``lr_bits``;
7. the split rule (everything is ``test``, or a seeded train/[val/]test split by file or by folder).

Every setting is a field of the frozen :class:`CustomParams` (so ``params_hash`` and the prepared-set
cache work as for the paper protocols) and has one entry in :data:`KEYS`, which drives validation,
the one-line :class:`~data_prep.config.ConfigError` messages and the README reference table. The
config loader is :func:`data_prep.config.load_custom_config`.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from medsr_bench.data_prep import ops
from medsr_bench.data_prep.errors import DataError, DatasetMissing
from medsr_bench.data_prep.io import (
    is_dicom_file,
    read_dicom,
    read_nifti_volume,
    read_raster,
    sha256_file,
    to_gray,
    to_rgb,
)
from medsr_bench.data_prep.protocols.base import BaseProtocol, Item, RunContext, relative_source
from medsr_bench.data_prep.protocols.brats2018 import kept_slices, spread_quota
from medsr_bench.data_prep.registry import ResolvedSource
from medsr_bench.data_prep.sample import Sample
from medsr_bench.data_prep.splits import evenly_spaced, seeded_split


class ConfigError(ValueError):
    """A bad dataset config. ``str(err)`` is one line: where (file, key), the bad value and the
    valid values, e.g. ``my.toml: datasets.lab.degradation.lr_resize = 'bicubc': expected one of
    pil-lanczos, ...``."""


# ---------------------------------------------------------------------------- formats
RASTER_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm", ".bmp", ".gif")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
FORMATS = ("auto", "raster", "dicom", "nifti")


def file_kind(path: Path) -> str | None:
    """``raster`` / ``nifti`` / ``dicom`` from the name (``.gz`` allowed for rasters) or, for a file
    without a known suffix, the DICOM preamble; None for anything else (ignored)."""
    name = path.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    base = name[:-3] if name.endswith(".gz") else name
    if base.endswith(RASTER_SUFFIXES):
        return "raster"
    if is_dicom_file(path):
        return "dicom"
    return None


# ---------------------------------------------------------------------------- the settings
def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


@dataclass(frozen=True)
class Key:
    """One config key: where it lives in the TOML (``group``, ``key``), the :class:`CustomParams`
    field it sets, its default, the valid values (``expected``, shown in errors and docs), the check
    and a one-line description."""

    group: str
    key: str
    field: str
    default: object
    expected: str
    check: Callable[[object], bool]
    doc: str

    @property
    def path(self) -> str:
        return f"{self.group}.{self.key}" if self.group else self.key


def _choice(*vals) -> tuple[str, Callable]:
    return "one of " + ", ".join(map(str, vals)), lambda v: not isinstance(v, (bool, list, dict)) and v in vals


def _int_in(lo: int, hi: int | None = None) -> tuple[str, Callable]:
    what = f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}"
    return what, lambda v: _is_int(v) and v >= lo and (hi is None or v <= hi)


def _num(lo: float | None = None, lo_open: bool = False, hi: float | None = None,
         hi_open: bool = False) -> tuple[str, Callable]:
    lo_s = "" if lo is None else f"{'>' if lo_open else '>='} {lo:g}"
    hi_s = "" if hi is None else f"{'<' if hi_open else '<='} {hi:g}"
    what = "a number" + (" " + " and ".join(s for s in (lo_s, hi_s) if s) if lo_s or hi_s else "")

    def ok(v) -> bool:
        if not _is_num(v):
            return False
        if lo is not None and (v <= lo if lo_open else v < lo):
            return False
        return not (hi is not None and (v >= hi if hi_open else v > hi))

    return what, ok


def _bits(*extra: str) -> tuple[str, Callable]:
    vals = (8, 16, *extra)
    return "one of " + ", ".join(f"{v!r}" if isinstance(v, str) else str(v) for v in vals), \
        lambda v: (_is_int(v) and v in (8, 16)) or (isinstance(v, str) and v in extra)


_HW = ("a list [height, width] of two positive integers",
       lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) and x > 0 for x in v))
_BOOL = ("true or false", lambda v: isinstance(v, bool))
_TEXT = ("a non-empty string", lambda v: isinstance(v, str) and v.strip() != "")
_METHODS = _choice(*ops.RESIZE_METHODS)


def _key(group, key, field, default, spec, doc) -> Key:
    return Key(group, key, field, default, spec[0], spec[1], doc)


#: Every key of a dataset table, in documentation order. ``default`` None = not set.
KEYS: tuple[Key, ...] = (
    _key("", "title", "title", "", _TEXT, "display name in the report (default: the dataset's name)"),
    _key("", "images", "images", None, _TEXT,
         "required: a folder (searched recursively) or a glob (`*`, `?`, `**`); relative paths are "
         "relative to the config file's folder"),
    _key("", "format", "format", "auto", _choice(*FORMATS),
         "`auto` decides per file by suffix (.png .tif .tiff .jpg .jpeg .ppm .pgm .pnm .bmp .gif, "
         "optionally .gz; .nii .nii.gz) or the DICOM preamble (.dcm or none); other files are ignored"),
    _key("volume", "axis", "volume_axis", 2, _int_in(0, 2),
         "NIfTI: array axis the 2-D slices are cut along (as stored, no reorientation)"),
    _key("volume", "slice_rule", "slice_rule", "nonblank", _choice("nonblank", "all", "middle"),
         "NIfTI: which slices become samples; `nonblank` = at least `min_foreground_pixels` voxels "
         "above `background`"),
    _key("volume", "min_foreground_pixels", "min_foreground_pixels", 1, _int_in(1),
         "NIfTI `nonblank` rule: voxels above `background` a slice needs"),
    _key("volume", "background", "background", 0.0, _num(), "NIfTI `nonblank` rule: background value"),
    _key("intensity", "channels", "channels", "gray", _choice("gray", "rgb"),
         "HR/LR channels; gray DICOM/NIfTI/raster data is replicated for `rgb`"),
    _key("intensity", "color_to_gray", "color_to_gray", "error", _choice("error", "luma", "mean", "green"),
         "`channels = gray` with a colour file: `error` (skip it unless R = G = B), `luma` (BT.601, "
         "cv2.COLOR_RGB2GRAY), `mean` of R, G, B, `green` channel (fundus photos)"),
    _key("intensity", "mapping", "intensity", "auto", _choice("auto", "bit-depth", "minmax", "window"),
         "to [0, 1]: `auto` = `bit-depth` for integer image files, `minmax` for DICOM and NIfTI; "
         "`bit-depth` = value / (2^bits - 1); `minmax` = per image (or volume); `window` = "
         "[center - width/2, center + width/2], clipped"),
    _key("intensity", "input_bits", "input_bits", "auto", ("`\"auto\"` or an integer in 1..32",
                                                             lambda v: v == "auto" or (_is_int(v) and 1 <= v <= 32)),
         "`bit-depth` mapping: bits of the input; `auto` = the file's (8/16 for images, BitsStored for "
         "DICOM; NIfTI needs a number)"),
    _key("intensity", "minmax_scope", "minmax_scope", "image", _choice("image", "volume"),
         "`minmax` mapping: per 2-D image/slice, or per NIfTI volume"),
    _key("intensity", "window_center", "window_center", 0.0, _num(), "`window` mapping: center (e.g. HU)"),
    _key("intensity", "window_width", "window_width", 0.0, _num(lo=0.0),
         "`window` mapping: width, must be > 0 for `window`"),
    _key("intensity", "hr_bits", "hr_bits", "auto", _bits("auto", "float"),
         "HR rounded to 8 or 16 bits, or kept `float`; `auto` = the file's bit depth for integer image "
         "files, `float` otherwise"),
    _key("geometry", "hr_size", "hr_size", None, _HW, "HR size [H, W]; not set = each image's own size"),
    _key("geometry", "fit", "fit", "crop-or-pad", _choice("crop-or-pad", "crop", "pad", "resize"),
         "how an image reaches `hr_size`: centred crop and/or zero pad per axis, or a resize "
         "(`crop`/`pad` skip images that would need the other)"),
    _key("geometry", "pad_position", "pad_position", "center", _choice("center", "bottom-right"),
         "where padding goes"),
    _key("geometry", "hr_resize", "hr_resize", "pil-lanczos", _METHODS, "`fit = resize`: the method"),
    _key("degradation", "scale", "scale", 4, _int_in(2, 16),
         "SR factor; HR is then cropped bottom/right to a multiple of it (mod crop)"),
    _key("degradation", "lr_resize", "lr_resize", "matlab-bicubic", _METHODS, "HR -> LR resize method"),
    _key("degradation", "blur_sigma", "blur_sigma", 0.0, _num(lo=0.0),
         "Gaussian blur sigma in pixels of the stage it runs on; 0 = no blur"),
    _key("degradation", "blur_ksize", "blur_ksize", 0, ("0 (auto) or an odd positive integer",
                                                          lambda v: _is_int(v) and v >= 0 and (v == 0 or v % 2)),
         "Gaussian kernel side; 0 = 2 ceil(3 sigma) + 1"),
    _key("degradation", "blur_stage", "blur_stage", "lr", _choice("lr", "hr"),
         "`lr` = resize then blur (P1), `hr` = blur then resize (classical BD)"),
    _key("degradation", "noise_sigma", "noise_sigma", 0.0, _num(lo=0.0),
         "additive Gaussian noise std on LR, in [0, 1] units (e.g. 0.01); 0 = none"),
    _key("degradation", "noise_seed", "noise_seed", 0, _int_in(0),
         "noise seed; each image draws from (seed, sha256 of its id): same image, same noise"),
    _key("degradation", "jpeg_quality", "jpeg_quality", 0, _int_in(0, 100),
         "LR through an 8-bit JPEG (Pillow) of this quality; 0 = none"),
    _key("degradation", "lr_bits", "lr_bits", "same", _bits("same", "float"),
         "LR rounded to 8 or 16 bits or kept `float`; `same` = as HR"),
    _key("split", "rule", "split_rule", "all", _choice("all", "fraction"),
         "`all` = every image is evaluated (split `test`); `fraction` = seeded train/[val/]test"),
    _key("split", "test_fraction", "test_fraction", 0.2, _num(lo=0.0, lo_open=True, hi=1.0, hi_open=True),
         "`fraction`: share of test units"),
    _key("split", "val_fraction", "val_fraction", 0.0, _num(lo=0.0, hi=1.0, hi_open=True),
         "`fraction`: share of validation units (0 = no val split)"),
    _key("split", "seed", "seed", 0, _int_in(0), "seed of the split and of `--limit` draws"),
    _key("split", "unit", "split_unit", "file", _choice("file", "folder"),
         "what is split: files/volumes, or whole folders (patients, series) so none straddles splits"),
)
KEY_BY_FIELD = {k.field: k for k in KEYS}

#: Metric settings carried as a dict (mapped by the benchmark to its MetricSettings; valid values
#: are checked against benchmark.metrics.domain in tests/test_custom_config.py).
METRIC_KEYS: tuple[Key, ...] = (
    _key("metrics", "data_range", "data_range", None, _num(lo=0.0, lo_open=True),
         "peak of the metric domain; default 255 (8-bit HR), 65535 (16-bit), 1.0 (float)"),
    _key("metrics", "channel", "channel", None, _choice("gray", "rgb", "y", "matlab-gray"),
         "metric channel policy; default `rgb` for rgb data, else `gray`"),
    _key("metrics", "crop_border", "crop_border", 0, _int_in(0), "pixels removed at each edge before scoring"),
    _key("metrics", "quantize", "quantize", None, _BOOL,
         "round to the integer grid 0..data_range; default true for 8/16-bit HR, false for float"),
    _key("metrics", "nrmse_norm", "nrmse_norm", "mean", _choice("mean", "euclidean", "min-max"),
         "NRMSE denominator"),
    _key("metrics", "vif_rescale", "vif_rescale", True, _BOOL, "VIFp noise variance in 8-bit units"),
)


def check_value(k: Key, value, where: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is valid for ``k`` (``where`` prefixes the key)."""
    if not k.check(value):
        raise ConfigError(f"{where}{k.path} = {value!r}: expected {k.expected}")


@dataclass(frozen=True)
class CustomParams:
    """Settings of a user dataset; one field per entry of :data:`KEYS` (see there, and the README
    section "Bring your own dataset", for each default and the valid values), plus ``name``.

    ``images`` is stored absolute (resolved by the loader). Invalid values raise
    :class:`ConfigError` naming the config key.
    """

    name: str = "custom"
    title: str = ""
    images: str = ""
    format: str = "auto"
    volume_axis: int = 2
    slice_rule: str = "nonblank"
    min_foreground_pixels: int = 1
    background: float = 0.0
    channels: str = "gray"
    color_to_gray: str = "error"
    intensity: str = "auto"
    input_bits: int | str = "auto"
    minmax_scope: str = "image"
    window_center: float = 0.0
    window_width: float = 0.0
    hr_bits: int | str = "auto"
    hr_size: tuple[int, int] | None = None
    fit: str = "crop-or-pad"
    pad_position: str = "center"
    hr_resize: str = "pil-lanczos"
    scale: int = 4
    lr_resize: str = "matlab-bicubic"
    blur_sigma: float = 0.0
    blur_ksize: int = 0
    blur_stage: str = "lr"
    noise_sigma: float = 0.0
    noise_seed: int = 0
    jpeg_quality: int = 0
    lr_bits: int | str = "same"
    split_rule: str = "all"
    test_fraction: float = 0.2
    val_fraction: float = 0.0
    seed: int = 0
    split_unit: str = "file"

    def __post_init__(self) -> None:
        where = f"datasets.{self.name}."
        if self.hr_size is not None:
            object.__setattr__(self, "hr_size", tuple(self.hr_size))
        for f in fields(self):
            k = KEY_BY_FIELD.get(f.name)
            v = getattr(self, f.name)
            if k is None or (k.default is None and v is None) or (f.name == "title" and v == ""):
                continue
            check_value(k, v, where)
        if self.intensity == "window" and self.window_width <= 0:
            raise ConfigError(f"{where}intensity.window_width = {self.window_width!r}: expected a number > 0 "
                              "with mapping = 'window'")
        if self.intensity == "bit-depth" and self.format == "nifti" and self.input_bits == "auto":
            raise ConfigError(f"{where}intensity.input_bits = 'auto': expected an integer bit depth "
                              "with mapping = 'bit-depth' on NIfTI volumes (they carry none)")
        if self.hr_size is not None and (self.hr_size[0] % self.scale or self.hr_size[1] % self.scale):
            raise ConfigError(f"{where}geometry.hr_size = {list(self.hr_size)}: expected multiples of "
                              f"degradation.scale = {self.scale}")
        if self.split_rule == "fraction" and self.test_fraction + self.val_fraction >= 1:
            raise ConfigError(f"{where}split.val_fraction = {self.val_fraction!r}: expected "
                              f"test_fraction + val_fraction < 1 (test_fraction = {self.test_fraction!r})")

    @property
    def ksize(self) -> int:
        """Gaussian kernel side actually used (``blur_ksize``, or 2 ceil(3 sigma) + 1 when 0)."""
        return self.blur_ksize or 2 * math.ceil(3 * self.blur_sigma) + 1


def _bits_value(v: int | str, auto: int | None) -> int | None:
    """Resolve an ``hr_bits``/``lr_bits`` value: 8/16 as is, ``float`` -> None, else ``auto``."""
    if _is_int(v):
        return int(v)
    return None if v == "float" else auto


def split_glob(pattern: str) -> tuple[Path, str | None]:
    """``(base folder, glob relative to it or None)``: the base is the longest leading part of
    ``pattern`` without glob characters; None when ``pattern`` has none (a folder: all files)."""
    parts = Path(pattern).parts
    for i, part in enumerate(parts):
        if any(c in part for c in "*?["):
            return Path(*parts[:i]) if i else Path("."), "/".join(parts[i:])
    return Path(pattern), None


# ---------------------------------------------------------------------------- the protocol
class CustomProtocol(BaseProtocol):
    """A user dataset described by :class:`CustomParams` (see the module docstring for the steps).

    Unlike the paper protocols, ``name``, ``title``, ``scale`` and ``splits`` are per instance:
    ``name`` is ``custom-<dataset name>`` (the prepared-set folder), the dataset id in outputs is the
    dataset name. ``data_root`` is ignored: ``params.images`` is absolute.
    """

    name = "custom"
    title = "user dataset"
    scale = 4
    params_cls = CustomParams
    paper = "user dataset (no paper)"
    how_to_get = "your own images, described by a dataset config (see README: Bring your own dataset)"

    def __init__(self, params: CustomParams | None = None, config_source: str = ""):
        super().__init__(params)
        p = self.params
        self.name = f"custom-{p.name}"
        self.title = p.title or p.name
        self.scale = p.scale
        self.config_source = config_source
        self.layout = p.images
        self.splits = ("test",) if p.split_rule == "all" else (
            ("train", "val", "test") if p.val_fraction > 0 else ("train", "test"))

    # ---------------------------------------------------------------- items and split
    def base_dir(self) -> Path:
        return split_glob(self.params.images)[0]

    def resolve(self, data_root: Path | None = None) -> ResolvedSource:
        """The base folder of ``images``. Raises :class:`DatasetMissing` when it is absent."""
        base = self.base_dir()
        if not base.is_dir():
            raise DatasetMissing(base, self.layout, self.how_to_get)
        note = f"user dataset '{self.title}'" + (f" (config {self.config_source})" if self.config_source else "")
        return ResolvedSource(self.params.name, base, note=note)

    def files(self) -> list[tuple[Path, str]]:
        """``[(path, kind)]`` of every input file ``images`` selects (sorted by relative path)."""
        base, pattern = split_glob(self.params.images)
        if not base.is_dir():
            return []
        cands = base.glob(pattern) if pattern else base.rglob("*")
        out = []
        for p in sorted((q for q in cands if q.is_file()), key=lambda q: q.relative_to(base).as_posix()):
            kind = file_kind(p)
            if kind is not None and self.params.format in ("auto", kind):
                out.append((p, kind))
        return out

    def list_items(self, src: ResolvedSource) -> list[Item]:
        """One item per file; ids are the relative path without suffix (``/`` -> ``__``), with the
        suffix kept where two files would otherwise share an id."""
        base = self.base_dir()
        found = self.files()
        rel = [relative_source(p, base) for p, _ in found]
        ids = [r[: -len(_suffix(r))] if _suffix(r) else r for r in rel]
        clash = {i for i in ids if ids.count(i) > 1}
        items = []
        for (p, kind), r, i in zip(found, rel, ids, strict=True):
            iid = (r if i in clash else i).replace("/", "__")
            items.append(Item(iid, p, r, Path(r).parent.as_posix(), {"format": kind}))
        return items

    def plan(self, src: ResolvedSource, items: list[Item], ctx: RunContext) -> list[tuple[Item, str]]:
        """``all``: every item in ``test``. ``fraction``: seeded split of files or folders."""
        p = self.params
        if p.split_rule == "all":
            return [(it, "test") for it in items]
        unit = {it.item_id: (it.group if p.split_unit == "folder" else it.item_id) for it in items}
        fr = {"train": 1 - p.test_fraction - p.val_fraction, "val": p.val_fraction, "test": p.test_fraction}
        assign = seeded_split(sorted(set(unit.values())), self.splits, [fr[s] for s in self.splits], p.seed)
        return [(it, assign[unit[it.item_id]]) for it in items]

    def limit_items(self, planned: list[tuple[Item, str]], limit: int | None) -> list[tuple[Item, str]]:
        """``limit``: a seeded sample of the items (as the paper protocols); the N samples are then
        spread over the chosen items (:func:`~data_prep.protocols.brats2018.spread_quota`), evenly
        spaced slices inside each volume, as BraTS."""
        chosen = super().limit_items(planned, limit)
        self._slice_quota = dict(zip((it.item_id for it, _ in chosen), spread_quota(len(chosen), limit), strict=True))
        return chosen

    # ---------------------------------------------------------------- reading
    def pairs(self, src: ResolvedSource, item: Item, split: str, ctx: RunContext,
              limit: int | None = None) -> Iterator[Sample]:
        kind = item.extra["format"]
        if limit is None:
            limit = getattr(self, "_slice_quota", {}).get(item.item_id)
        images = {"raster": self._raster, "dicom": self._dicom, "nifti": self._nifti}[kind](item, limit)
        sha = sha256_file(item.path)
        out = []
        for image_id, unit, info in images:
            hr, bits = self.to_hr(unit, info.pop("default_bits"), item)
            lr = self.degrade(hr, image_id, bits)
            out.append(self.make_sample(
                src, item, image_id, split, hr, lr, orig_dtype=info.pop("orig_dtype"),
                orig_data_range=info.pop("orig_data_range"), bit_depth=bits, sha256=sha,
                extra={**info, "orig_hw": list(unit.shape[:2])}))
        return iter(out)

    def _raster(self, item: Item, limit):
        p = self.params
        img = read_raster(item.path)
        px = img.pixels
        if p.channels == "rgb":
            px = to_rgb(img, item.source)
        elif px.ndim == 3:
            px = _COLOR_TO_GRAY[p.color_to_gray](img, item.source)
        info = {"file_mode": img.mode, "orig_dtype": str(px.dtype), "default_bits": img.bit_depth}
        mapping = p.intensity if p.intensity != "auto" else ("bit-depth" if img.bit_depth else "minmax")
        unit, rng = self.map_intensity(px, mapping, img.bit_depth, item)
        yield item.item_id, unit, {**info, "orig_data_range": rng, "intensity": mapping}

    def _dicom(self, item: Item, limit):
        p = self.params
        dcm = read_dicom(item.path)
        mapping = p.intensity if p.intensity != "auto" else "minmax"
        unit, rng = self.map_intensity(dcm.pixels, mapping, dcm.info["bits_stored"] or None, item)
        if dcm.photometric == "MONOCHROME1":
            unit = 1.0 - unit
        yield item.item_id, self._channels(unit), {
            "modality": dcm.modality, "photometric": dcm.photometric, "orig_dtype": dcm.stored_dtype,
            "orig_data_range": rng, "intensity": mapping, "default_bits": None}

    def _nifti(self, item: Item, limit):
        p = self.params
        vol, dtype = read_nifti_volume(item.path)
        if vol.ndim != 3:
            raise DataError(item.source, f"{vol.ndim}-D image", "a 3-D volume")
        vol = np.moveaxis(vol, p.volume_axis, 2)
        if p.slice_rule == "all":
            zs = list(range(vol.shape[2]))
        elif p.slice_rule == "middle":
            zs = [vol.shape[2] // 2]
        else:
            zs = kept_slices(vol - p.background, p.min_foreground_pixels)
        if limit is not None:
            zs = evenly_spaced(zs, limit)
        mapping = p.intensity if p.intensity != "auto" else "minmax"
        vlo, vhi = float(vol.min()), float(vol.max())
        for z in zs:
            sl = np.asarray(vol[:, :, z], dtype=np.float64)
            if mapping == "minmax" and p.minmax_scope == "volume":
                unit, rng = ops.minmax(sl, vlo, vhi), vhi - vlo
            else:
                unit, rng = self.map_intensity(sl, mapping, None, item)
            yield f"{item.item_id}_{'xyz'[p.volume_axis]}{z:03d}", self._channels(unit), {
                "slice": int(z), "axis": p.volume_axis, "orig_dtype": dtype, "orig_data_range": rng,
                "intensity": mapping, "default_bits": None}

    # ---------------------------------------------------------------- steps
    def _channels(self, unit: np.ndarray) -> np.ndarray:
        return np.repeat(unit[..., None], 3, axis=2) if self.params.channels == "rgb" else unit

    def map_intensity(self, px: np.ndarray, mapping: str, file_bits: int | None,
                      item: Item) -> tuple[np.ndarray, float]:
        """Native pixels -> float32 [0, 1] and the range used (``orig_data_range``).

        Raises:
            DataError: ``bit-depth`` with ``input_bits = auto`` on a file that states no bit depth.
        """
        p = self.params
        if mapping == "bit-depth":
            bits = file_bits if p.input_bits == "auto" else p.input_bits
            if bits is None:
                raise DataError(item.source, "no bit depth in the file for intensity.mapping = 'bit-depth'",
                                "intensity.input_bits set to the data's bit depth")
            peak = float(2**bits - 1)
            return np.clip(ops.to_unit(px, peak), 0.0, 1.0), peak
        if mapping == "window":
            return ops.window(px, p.window_center, p.window_width), float(p.window_width)
        x = np.asarray(px, dtype=np.float64)
        return ops.minmax(x), float(x.max() - x.min())

    def to_hr(self, unit: np.ndarray, file_bits: int | None, item: Item) -> tuple[np.ndarray, int | None]:
        """Geometry (crop / pad / resize to ``hr_size``, then mod crop) and ``hr_bits`` rounding."""
        p = self.params
        x = unit
        if p.hr_size is not None and tuple(x.shape[:2]) != p.hr_size:
            th, tw = p.hr_size
            h, w = x.shape[:2]
            if p.fit == "resize":
                x = ops.resize(x, p.hr_size, p.hr_resize)
            else:
                if (p.fit == "pad" and (h > th or w > tw)) or (p.fit == "crop" and (h < th or w < tw)):
                    raise DataError(item.source, f"image of size {h}x{w} (HxW) with geometry.fit = {p.fit}",
                                    f"an image that fits {th}x{tw} by {p.fit} only")
                x = ops.pad_to(ops.center_crop(x, (min(h, th), min(w, tw))), p.hr_size, p.pad_position)
        x = ops.mod_crop(x, p.scale)
        if min(x.shape[:2]) == 0:
            raise DataError(item.source, f"image of size {unit.shape[0]}x{unit.shape[1]}",
                            f"at least {p.scale}x{p.scale} pixels")
        bits = _bits_value(p.hr_bits, file_bits)
        return ops.quantize(x, bits), bits

    def degrade_hr(self, hr: np.ndarray, meta) -> np.ndarray:
        """:meth:`degrade` with the sample's id (seeded noise) and bit depth."""
        return self.degrade(hr, meta.image_id, meta.bit_depth)

    def degrade(self, hr: np.ndarray, image_id: str, hr_bits: int | None) -> np.ndarray:
        """HR float32 [0, 1] -> LR float32 [0, 1] ``(H/scale, W/scale[, 3])``: blur (HR or LR
        stage), resize, noise, JPEG, rounding to ``lr_bits``."""
        p = self.params
        h, w = hr.shape[:2]
        x = hr
        if p.blur_stage == "hr":
            x = ops.gaussian_blur(x, p.blur_sigma, p.ksize)
        x = ops.resize(x, (h // p.scale, w // p.scale), p.lr_resize)
        if p.blur_stage == "lr":
            x = ops.gaussian_blur(x, p.blur_sigma, p.ksize)
        if p.noise_sigma > 0:
            key = int(hashlib.sha256(image_id.encode()).hexdigest()[:8], 16)
            x = x + np.random.default_rng([p.noise_seed, key]).normal(0.0, p.noise_sigma, x.shape)
        if p.jpeg_quality > 0:
            x = jpeg_roundtrip(x, p.jpeg_quality)
        return ops.quantize(x, _bits_value(p.lr_bits, hr_bits) if p.lr_bits != "same" else hr_bits)


def jpeg_roundtrip(x: np.ndarray, quality: int) -> np.ndarray:
    """Encode float [0, 1] ``(H, W[, 3])`` as an 8-bit JPEG with Pillow (default 4:2:0 chroma
    subsampling for RGB) at ``quality`` and decode it; float32 [0, 1] on the 8-bit grid."""
    from PIL import Image

    u = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u).save(buf, format="JPEG", quality=int(quality))
    return ops.to_unit(np.asarray(Image.open(io.BytesIO(buf.getvalue()))), 255.0)


def _suffix(rel: str) -> str:
    low = rel.lower()
    for s in (".nii.gz", ".ppm.gz", ".png.gz", ".pgm.gz", ".tif.gz"):
        if low.endswith(s):
            return rel[-len(s):]
    return Path(rel).suffix


def _gray_mean(img, source) -> np.ndarray:
    m = img.pixels.mean(axis=2)
    return m.astype(np.float32) if img.bit_depth is None else np.round(m).astype(img.pixels.dtype)


_COLOR_TO_GRAY: dict[str, Callable] = {
    "error": to_gray,
    "luma": lambda img, source: cv2.cvtColor(img.pixels, cv2.COLOR_RGB2GRAY),
    "mean": _gray_mean,
    "green": lambda img, source: np.ascontiguousarray(img.pixels[..., 1]),
}
