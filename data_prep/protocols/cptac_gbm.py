"""CPTAC-GBM DICOM images (P4, Beallor et al., sec. 3.2 and 4.5), x4: 512x512 HR, 128x128 LR.

Reads a TCIA-style DICOM tree of any depth with pydicom, applies RescaleSlope/RescaleIntercept,
keeps 512x512 single-frame grayscale images, maps them to [0, 1], scores detail with the
pixel-difference score P_D (Eq. 1) after a Gaussian filter, keeps the detailed images, draws the
seeded 1000/200/200 split and makes LR with OpenCV bicubic /4.

When ``CPTAC-GBM/`` is absent, ``CT_head_DICOM/`` (one head-CT series) stands in; every output then
says ``ct-head-standin`` / ``stand_in_for = CPTAC-GBM``.

Hounsfield units (:meth:`CptacGbmProtocol.hu_range`): a CT sample's [0, 1] image maps back to HU
through its ``extra`` (``rescaled_min`` / ``rescaled_max``, the rescaled DICOM values, for
``intensity="minmax"``; the window for ``intensity="window"``), used by ``metric.ct_window``.
Diagnostic region (:meth:`CptacGbmProtocol.image_regions`): ``body``, the CT body mask by HU
threshold (:func:`data_prep.regions.ct_body_mask`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from medsr_bench.data_prep import ops
from medsr_bench.data_prep.errors import DataError, Excluded
from medsr_bench.data_prep.io import DicomImage, is_dicom_file, read_dicom, read_dicom_header
from medsr_bench.data_prep.protocols.base import BaseProtocol, Item, RunContext
from medsr_bench.data_prep.regions import RegionMasks, ct_body_mask
from medsr_bench.data_prep.registry import ResolvedSource, register_protocol
from medsr_bench.data_prep.sample import Sample, SampleMeta
from medsr_bench.data_prep.splits import seeded_sample, seeded_split

log = logging.getLogger("data_prep")


@dataclass(frozen=True)
class CptacParams:
    """CPTAC-GBM protocol settings.

    Attributes:
        hw: P4 3.2: only 512x512 images are kept.
        intensity: how rescaled values map to [0, 1]: ``"minmax"`` (per image) or ``"window"``
            (fixed ``window_center``/``window_width``). P4 does not say; default per-image min-max,
            the one mapping that works for all of CPTAC-GBM's CT, MR and CR images (a HU window only
            fits CT).
        window_center, window_width: the window used with ``intensity="window"`` (default a
            brain window 40/80 HU).
        hr_bits: HR rounded to this bit depth. P4 does not say; its OpenCV/scikit-image workflow on
            converted images suggests 8-bit images. None keeps float HR.
        score_sigma, score_ksize: P4 3.2: "a Gaussian filter was first applied to each image to
            remove noise before the pixel difference score was calculated"; parameters NOT given.
            Default sigma 1.0, kernel 7 (2*ceil(3*sigma)+1).
        filter_hr: whether the Gaussian-filtered image is also the HR image. P4's wording ties the
            filter to scoring; default False (HR keeps the original detail).
        threshold_mode: ``"quantile"`` keeps the top ``keep_fraction`` by P_D; ``"absolute"`` keeps
            P_D >= ``threshold`` (P_D in units of the [0, 1] image); ``"none"`` keeps all.
            P4 gives no threshold, only that ~5000 of 24,000 images remained.
        keep_fraction: default 5000/24000 = 0.208 (P4 3.2). That ratio also includes P4's size
            filter, so on 512x512-only input it is the strictest plausible reading.
        threshold: absolute P_D threshold (``threshold_mode="absolute"``).
        split_counts: P4 4.5: 1400 random images, 1000 train / 200 validation / 200 test. With fewer
            kept images the counts are scaled down proportionally (largest remainder).
        seed: seed of the 1400 draw and of the split (NOT given by P4).
        lr_resize: P4 4.2/Table 1: OpenCV interpolation; LR by ``cv2-bicubic`` (INTER_CUBIC) /4.
    """

    hw: tuple[int, int] = (512, 512)
    intensity: str = "minmax"
    window_center: float = 40.0
    window_width: float = 80.0
    hr_bits: int | None = 8
    score_sigma: float = 1.0
    score_ksize: int = 7
    filter_hr: bool = False
    threshold_mode: str = "quantile"
    keep_fraction: float = 5000 / 24000
    threshold: float = 0.0
    split_counts: tuple[int, int, int] = (1000, 200, 200)
    seed: int = 0
    lr_resize: str = "cv2-bicubic"

    def __post_init__(self) -> None:
        ops.check_choice("intensity", self.intensity, ("minmax", "window"))
        ops.check_choice("threshold_mode", self.threshold_mode, ("quantile", "absolute", "none"))
        ops.check_choice("lr_resize", self.lr_resize, ops.RESIZE_METHODS)
        ops.check_choice("hr_bits", self.hr_bits, (8, 16, None))
        if not 0 < self.keep_fraction <= 1:
            raise ValueError(f"keep_fraction must be in (0, 1], got {self.keep_fraction}")


def pixel_difference_loop(img: np.ndarray) -> float:
    """Eq. 1 of P4 written as the plain double loop (reference for tests; slow)."""
    h, w = img.shape
    s = 0.0
    for i in range(h):
        for j in range(w - 1):
            s += abs(float(img[i, j]) - float(img[i, j + 1]))
    for j in range(w):
        for i in range(h - 1):
            s += abs(float(img[i, j]) - float(img[i + 1, j]))
    return s


@register_protocol
class CptacGbmProtocol(BaseProtocol):
    name = "cptac-gbm"
    title = "CPTAC-GBM DICOM (512x512, P_D filter, x4 OpenCV bicubic)"
    scale = 4
    params_cls = CptacParams
    paper = "P4 (Beallor et al.) sec. 3.2 (Eq. 1), 4.5, Tables 1-2"
    layout = "CPTAC-GBM/<patient>/<study>/<series>/*.dcm (TCIA download tree, any depth)"
    how_to_get = ("https://www.cancerimagingarchive.net/collection/cptac-gbm/ via the NBIA Data "
                  "Retriever (TCIA data usage policy; free account may be required; "
                  "doi:10.7937/K9/TCIA.2018.3RJE41Q1)")
    folder = "CPTAC-GBM"
    dataset_id = "cptac-gbm"
    standin = ("CT_head_DICOM", "ct-head-standin", "CPTAC-GBM",
               "head-CT DICOM series standing in; this is NOT CPTAC-GBM")
    eval_split = "test"
    splits = ("train", "val", "test")
    reported_counts = "~5000 of 24,000 images kept; 1000 train / 200 val / 200 test (P4 sec. 3.2, 4.5)"

    def list_items(self, src: ResolvedSource) -> list[Item]:
        out = []
        for p in sorted(q for q in src.path.rglob("*") if q.is_file()):
            if is_dicom_file(p):
                rel = p.relative_to(src.path).with_suffix("").as_posix()
                out.append(self.item_for(p, rel.replace("/", "__")))
        return out

    # ---------------------------------------------------------------- image mapping
    def to_unit(self, dcm: DicomImage) -> np.ndarray:
        """Rescaled pixels -> float32 [0, 1] (``intensity`` setting), MONOCHROME1 inverted,
        rounded to ``hr_bits``."""
        p = self.params
        if p.intensity == "window":
            x = ops.window(dcm.pixels, p.window_center, p.window_width)
        elif p.intensity == "minmax":
            x = ops.minmax(dcm.pixels)
        else:
            raise ValueError(f"unknown intensity mapping {p.intensity!r}")
        if dcm.photometric == "MONOCHROME1":
            x = 1.0 - x
        return ops.quantize(x, p.hr_bits)

    def smooth(self, x: np.ndarray) -> np.ndarray:
        return ops.gaussian_blur(x, self.params.score_sigma, self.params.score_ksize)

    def check_header(self, item: Item) -> None:
        """Protocol filter on the header: 512x512, one frame, one sample per pixel.

        Raises:
            Excluded: the image is not one the protocol keeps (the reason names the file).
        """
        ds = read_dicom_header(item.path)
        if "PixelData" not in ds and "FloatPixelData" not in ds and "Rows" not in ds:
            raise Excluded(item.source, "no image (no pixel data)", "a DICOM image")
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        if frames > 1:
            raise Excluded(item.source, f"multi-frame DICOM ({frames} frames)", "a single-frame image")
        if int(ds.get("SamplesPerPixel", 1)) != 1:
            raise Excluded(item.source, f"{ds.get('PhotometricInterpretation')} colour image", "grayscale")
        rc = (int(ds.get("Rows", 0)), int(ds.get("Columns", 0)))
        if rc != tuple(self.params.hw):
            raise Excluded(item.source, f"image of size {rc[1]}x{rc[0]}", "512x512 (P4 keeps 512x512 only)")

    def load(self, item: Item) -> tuple[DicomImage, np.ndarray]:
        self.check_header(item)
        dcm = read_dicom(item.path)
        if dcm.pixels.shape != tuple(self.params.hw):
            raise DataError(item.source, f"pixel array of shape {dcm.pixels.shape}", "512x512")
        return dcm, self.to_unit(dcm)

    # ---------------------------------------------------------------- plan: score, filter, split
    def plan(self, src: ResolvedSource, items: list[Item], ctx: RunContext) -> list[tuple[Item, str]]:
        """Pass 1 over every file: P_D of the Gaussian-filtered image (pixels are then dropped);
        filter by the threshold; seeded draw of ``sum(split_counts)``; seeded split."""
        p = self.params
        scored: list[tuple[Item, float]] = []
        for it in items:
            try:
                dcm, x = self.load(it)
            except DataError as e:
                ctx.skip(it.source, e)
                continue
            scored.append((replace(it, extra={**it.extra, "p_d": ops.pixel_difference_score(self.smooth(x)),
                                              "modality": dcm.modality}), 0.0))
        scores = [it.extra["p_d"] for it, _ in scored]
        keep = self.select(scores)
        kept = [scored[i][0] for i in keep]
        ctx.counts["scored"] = len(scored)
        ctx.counts["kept_after_p_d"] = len(kept)
        n_total = sum(p.split_counts)
        ids = seeded_sample([it.item_id for it in kept], n_total, p.seed)
        names = self.splits
        assign = seeded_split(ids, names, p.split_counts, p.seed, ensure=(self.eval_split, "val"))
        log.info("%s: %d images scored, %d kept by P_D, split %s", src.dataset, len(scored), len(kept),
                 {n: sum(1 for v in assign.values() if v == n) for n in names})
        return [(it, assign[it.item_id]) for it in kept if it.item_id in assign]

    def select(self, scores: list[float]) -> list[int]:
        """Indices of the images kept by the P_D rule (in input order)."""
        p = self.params
        n = len(scores)
        if p.threshold_mode == "none" or n == 0:
            return list(range(n))
        if p.threshold_mode == "absolute":
            return [i for i, s in enumerate(scores) if s >= p.threshold]
        if p.threshold_mode == "quantile":
            k = max(1, int(math.floor(n * p.keep_fraction + 0.5)))
            order = sorted(range(n), key=lambda i: (-scores[i], i))  # stable: ties by input order
            return sorted(order[:k])
        raise ValueError(f"unknown threshold_mode {p.threshold_mode!r}")

    def degrade_hr(self, hr: np.ndarray, meta) -> np.ndarray:
        """``lr_resize`` by 1/scale, rounded to ``hr_bits`` (``meta`` unused)."""
        h, w = hr.shape[:2]
        return ops.quantize(ops.resize(hr, (h // self.scale, w // self.scale), self.params.lr_resize),
                            self.params.hr_bits)

    def pairs(self, src: ResolvedSource, item: Item, split: str, ctx: RunContext,
              limit: int | None = None) -> Iterator[Sample]:
        dcm, x = self.load(item)
        hr = ops.quantize(self.smooth(x), self.params.hr_bits) if self.params.filter_hr else x
        lr = self.degrade_hr(hr, None)
        rng = float(dcm.pixels.max() - dcm.pixels.min()) if self.params.intensity == "minmax" \
            else float(self.params.window_width)
        yield self.make_sample(
            src, item, item.item_id, split, hr, lr,
            orig_dtype=dcm.stored_dtype, orig_data_range=rng, bit_depth=self.params.hr_bits,
            extra={"modality": dcm.modality, "photometric": dcm.photometric,
                   "rescaled_min": float(dcm.pixels.min()), "rescaled_max": float(dcm.pixels.max()),
                   **{k: v for k, v in dcm.info.items() if k != "series_uid"}},
        )

    # ---------------------------------------------------------------- Hounsfield units, regions
    def hu_range(self, meta: SampleMeta) -> tuple[float, float] | None:
        """HU of the values 0 and 1 of a sample's [0, 1] image, or None (not CT, or no HU facts).

        ``intensity="minmax"``: ``(rescaled_min, rescaled_max)`` from ``meta.extra`` (the image is
        ``(HU - min) / (max - min)``, rounded to ``hr_bits``: with 8 bits one step is
        ``(max - min) / 255`` HU, about 16 HU for a -1024..3071 image). ``intensity="window"``:
        ``(center - width/2, center + width/2)``; HU outside the window were clipped at preparation
        and cannot be recovered. MONOCHROME1 images (inverted) give the pair reversed.
        """
        ex = meta.extra
        if str(ex.get("modality", "")).upper() != "CT":
            return None
        p = self.params
        if p.intensity == "window":
            lo, hi = p.window_center - p.window_width / 2.0, p.window_center + p.window_width / 2.0
        elif "rescaled_min" in ex and "rescaled_max" in ex:
            lo, hi = float(ex["rescaled_min"]), float(ex["rescaled_max"])
        else:
            return None
        return (hi, lo) if ex.get("photometric") == "MONOCHROME1" else (lo, hi)

    def image_regions(self, hr: np.ndarray, meta: SampleMeta) -> RegionMasks:
        """``body``: :func:`~data_prep.regions.ct_body_mask` of the HR in HU (:meth:`hu_range`);
        no region (with a note) for images without HU."""
        out = RegionMasks()
        hu = self.hu_range(meta)
        if hu is None:
            out.note(f"{meta.source}: no HU (modality {meta.extra.get('modality', '?')}), so no body mask")
            return out
        out["body"] = ct_body_mask(hu[0] + np.asarray(hr, np.float64) * (hu[1] - hu[0]))
        return out
