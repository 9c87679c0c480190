"""Diagnostic regions: boolean masks aligned to a sample's HR image (FOV, vessels, brain).

A protocol's ``regions(data_root, meta, settings=None)`` hook (default: none) returns a
:class:`RegionMasks`, a ``dict`` of bool ``(H, W)`` arrays aligned pixel for pixel with the sample's
HR, plus ``notes`` naming every mask file that was missing or unusable (never fatal). The metric
side is :func:`benchmark.metrics.regions.region_metrics` (``<metric>@<region>`` columns).

Regions derived from the HR image itself (a protocol's ``image_regions(hr, meta)`` hook, no mask
file): the CT body mask by HU threshold (:func:`ct_body_mask`) and the radiograph field of view
(:func:`radiograph_field`).

Helpers here: aligning a raw-resolution mask with the image's own resize (:func:`resize_mask`),
the skeleton-based local vessel width and the thin-vessel mask (:func:`thin_vessels`), and finding a
sample's raw file again from its meta (:func:`source_path`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsr_bench.data_prep import ops
from medsr_bench.data_prep.sample import SampleMeta

log = logging.getLogger("data_prep")


class RegionMasks(dict):
    """``{region name: bool (H, W) array}`` aligned with the HR image, plus ``notes``: one line per
    region that could not be made (missing or unusable mask file), naming the file."""

    def __init__(self, *args, notes: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.notes: list[str] = list(notes or [])

    def note(self, line: str) -> None:
        """Record (and log) why a region is absent."""
        self.notes.append(line)
        log.warning("region mask: %s", line)


@dataclass(frozen=True)
class VesselRegionSettings:
    """How the DRIVE vessel regions are derived from ``1st_manual`` (not part of the protocol
    params: they change no prepared image, so the prepared-set hash stays the same).

    Attributes:
        thin_max_width: a vessel pixel is *thin* when the local width of its vessel, estimated at
            the nearest skeleton pixel as ``2 d - 1`` (``d`` = Euclidean distance to the background,
            scipy ``distance_transform_edt``; skeleton by ``skimage.morphology.skeletonize``), is at
            most this many pixels of the raw 565x584 annotation. Default 2.0: vessels one or two
            pixels wide, the "thin vessel" class of Yan, Yang & Cheng (IEEE TBME 65(9), 2018, thin
            = width below 3 pixels on DRIVE).
        threshold: a raw 0/1 mask is resized to the HR grid with the protocol's own resize method
            and kept where the result is >= this value (0.5: the pixel is at least half inside).
    """

    thin_max_width: float = 2.0
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not self.thin_max_width > 0:
            raise ValueError(f"thin_max_width must be > 0, got {self.thin_max_width}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")


@dataclass(frozen=True)
class VolumeRef:
    """Where a 2-D sample sits in its volume (a protocol's ``volume_of(data_root, meta)`` hook).

    Attributes:
        volume_id: the volume's id (its source file), shared by all of its slices.
        index: the slice's position along the volume's slice axis.
        value_range: raw intensity of the slice image's 0 and 1 (the inverse of its normalisation).
        volume_range: ``(min, max)`` raw intensity of the whole volume.
    """

    volume_id: str
    index: int
    value_range: tuple[float, float]
    volume_range: tuple[float, float]


def resize_mask(mask: np.ndarray, size_hw: tuple[int, int], method: str, threshold: float = 0.5) -> np.ndarray:
    """Bool ``(h, w)`` -> bool ``size_hw``: the 0/1 mask resized as float32 by the same
    :func:`data_prep.ops.resize` method as the image (same geometry), then ``>= threshold``."""
    m = np.asarray(mask, dtype=bool)
    if tuple(m.shape) == tuple(size_hw):
        return m.copy()
    return ops.resize(m.astype(np.float32), size_hw, method) >= threshold


def vessel_width(vessels: np.ndarray) -> np.ndarray:
    """Local vessel width (pixels) for every vessel pixel: ``2 d - 1`` at its nearest skeleton pixel
    (``d``: Euclidean distance to the nearest background pixel); 0 outside the vessels.

    Args:
        vessels: bool ``(H, W)``.

    Returns:
        float64 ``(H, W)``.
    """
    from scipy.ndimage import distance_transform_edt
    from skimage.morphology import skeletonize

    v = np.asarray(vessels, dtype=bool)
    out = np.zeros(v.shape, np.float64)
    if not v.any():
        return out
    skel = skeletonize(v)
    dist = distance_transform_edt(v)
    _, (iy, ix) = distance_transform_edt(~skel, return_indices=True)
    out[v] = 2.0 * dist[iy[v], ix[v]] - 1.0
    return out


def thin_vessels(vessels: np.ndarray, max_width: float) -> np.ndarray:
    """Bool mask of the vessel pixels whose :func:`vessel_width` is ``<= max_width``."""
    v = np.asarray(vessels, dtype=bool)
    return v & (vessel_width(v) <= max_width)


def source_path(protocol, data_root: Path | None, meta: SampleMeta) -> Path | None:
    """The raw file a sample came from: ``data_root / meta.source`` (or ``meta.source`` when
    absolute), else the protocol's item with that source (packaged demo files). None if not found."""
    src = Path(meta.source)
    for cand in ([src] if src.is_absolute() else []) + ([Path(data_root) / src] if data_root is not None else []):
        if cand.exists():
            return cand
    try:
        resolved = protocol.resolve(data_root)
        protocol._data_root = None if getattr(protocol, "is_demo", False) else Path(data_root or ".")
        items = protocol.list_items(resolved)
    except Exception:  # the dataset itself is absent: the caller names the file as missing
        return None
    return next((it.path for it in items if it.source == meta.source and it.path.exists()), None)


#: CT body mask threshold (HU): air is about -1000 HU, lung parenchyma -900..-500, fat about -100,
#: so ``> -500`` separates the patient (and the table) from the surrounding air.
BODY_HU_THRESHOLD = -500.0


def _largest_filled(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of ``mask`` with its holes filled (empty stays empty)."""
    from scipy import ndimage

    lab, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.zeros(mask.shape, bool)
    sizes = np.bincount(lab.ravel())[1:]
    return ndimage.binary_fill_holes(lab == (1 + int(np.argmax(sizes))))


def ct_body_mask(hu: np.ndarray, threshold: float = BODY_HU_THRESHOLD) -> np.ndarray:
    """Body mask of one CT slice: pixels above ``threshold`` HU, the largest 8-connected
    component kept, holes filled (air in the airways, sinuses, lungs and bowel then counts as body).

    Limits: the patient table or a head holder touching the body joins the component; a slice
    showing two separate body parts (e.g. both legs) keeps only the larger one.

    Args:
        hu: ``(H, W)`` float HU.
        threshold: HU threshold (default :data:`BODY_HU_THRESHOLD`).

    Returns:
        bool ``(H, W)`` (all False when no pixel exceeds the threshold).
    """
    a = np.asarray(hu, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"ct_body_mask expects one 2-D slice, got shape {a.shape}")
    return _largest_filled(a > threshold)


#: Radiograph field-of-view rule: a pixel is outside the exposed field when it belongs to a
#: border-connected run of near-black pixels (value <= this fraction of the image's 99th percentile).
FIELD_DARK_FRACTION = 0.02


def radiograph_field(img01: np.ndarray, dark_fraction: float = FIELD_DARK_FRACTION) -> np.ndarray:
    """Field of view of a radiograph: everything except the near-black frame around it.

    Rule: pixels ``<= dark_fraction x`` the image's 99th percentile that are connected (4-connected)
    to the image border are the unexposed frame / black padding (letterboxing of a resized film, a
    scanned film's border); the field is the rest, its largest 8-connected component with holes
    filled. Limits: a bright collimation (shutter) border, burnt-in text and markers are not
    removed (they count as field); a dark lung touching the border is not excluded as it is not
    near-black in a normal exposure. It is a field-of-view mask, not a lung segmentation.

    Args:
        img01: ``(H, W)`` float image in [0, 1] (or ``(H, W, 3)`` with equal channels).
        dark_fraction: near-black threshold as a fraction of the 99th percentile.

    Returns:
        bool ``(H, W)``; the whole image when no frame is found.
    """
    from scipy import ndimage

    a = np.asarray(img01, dtype=np.float64)
    if a.ndim == 3:
        a = a[..., 0]
    if a.ndim != 2:
        raise ValueError(f"radiograph_field expects a 2-D image, got shape {a.shape}")
    dark = a <= dark_fraction * float(np.percentile(a, 99))
    lab, _ = ndimage.label(dark)
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    frame = np.isin(lab, edge[edge > 0])
    return _largest_filled(~frame)
