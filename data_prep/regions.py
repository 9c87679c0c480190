"""Diagnostic regions: boolean masks aligned to a sample's HR image (FOV, vessels, brain).

A protocol's ``regions(data_root, meta, settings=None)`` hook (default: none) returns a
:class:`RegionMasks`, a ``dict`` of bool ``(H, W)`` arrays aligned pixel for pixel with the sample's
HR, plus ``notes`` naming every mask file that was missing or unusable (never fatal). The metric
side is :func:`benchmark.metrics.regions.region_metrics` (``<metric>@<region>`` columns).

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
