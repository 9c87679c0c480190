"""Task fidelity: does a segmenter find on the SR output what it finds on HR and what the annotator drew?

A :class:`SegmentationTask` segments the HR and every SR output of a dataset with a deterministic
classical segmenter (:mod:`data_prep.vessels`) and scores, per image, inside the task's ROI:

- ``dice@<task>`` / ``cldice@<task>``: seg(SR) against the truth mask (DRIVE: ``1st_manual``);
- ``dice@<task>-hrseg`` / ``cldice@<task>-hrseg``: seg(SR) against seg(HR) (what SR changed for the
  segmenter, whatever the segmenter's own error);
- diagnostics ``<task>_hr_dice`` (seg(HR) vs truth: the segmenter's own quality) and
  ``<task>_threshold``.

clDice (Shit et al., "clDice - a novel topology-preserving loss function for tubular structure
segmentation", CVPR 2021, eq. 1-2): ``Tprec = |S(P) & L| / |S(P)|``, ``Tsens = |S(L) & P| / |S(L)|``,
``clDice = 2 Tprec Tsens / (Tprec + Tsens)`` with ``S`` = ``skimage.morphology.skeletonize``; it
rewards keeping thin, connected vessels, which Dice barely weighs.

**Threshold, chosen outside the evaluated images.** P1 evaluates all 40 DRIVE images (protocol
``drive``, split ``test`` holds ``training/`` and ``test/``), so no DRIVE image is outside the
evaluated split. The threshold is therefore *cross-fitted* on DRIVE's own partition: an image from
``test/`` is segmented with the threshold that maximises the mean HR Dice over the 20 ``training/``
images, and vice versa (``fit = "cross-folder"``: the group of an image is the folder two levels
above its file). No image's own annotation chooses its threshold. A fixed threshold (``fit =
<number>``) needs no held-out images.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from medsr_bench.data_prep.io import read_raster
from medsr_bench.data_prep.vessels import SegmenterSettings, dice, fit_threshold, roi, vesselness


def cldice(pred: np.ndarray, truth: np.ndarray) -> float:
    """clDice of two bool masks (Shit et al. 2021); 1.0 when both are empty, 0.0 when one is.

    Args:
        pred, truth: bool ``(H, W)``.
    """
    from skimage.morphology import skeletonize

    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    if not p.any() and not t.any():
        return 1.0
    if not p.any() or not t.any():
        return 0.0
    sp, st = skeletonize(p), skeletonize(t)
    tprec = (sp & t).sum() / max(int(sp.sum()), 1)
    tsens = (st & p).sum() / max(int(st.sum()), 1)
    return 0.0 if tprec + tsens == 0 else float(2 * tprec * tsens / (tprec + tsens))


def folder_group(source: str) -> str:
    """Cross-fit group of a sample: its file's folder two levels up (``DRIVE/test/images/x.tif``
    -> ``DRIVE/test``)."""
    parts = PurePosixPath(str(source).replace("\\", "/")).parts
    return "/".join(parts[:-2]) if len(parts) > 2 else "/".join(parts[:-1])


@dataclass(frozen=True)
class SegmentationTask:
    """A downstream segmentation task on one or more protocols.

    Attributes:
        name: the task's column suffix (``vessel`` -> ``dice@vessel``...).
        protocols: protocol names it applies to.
        truth: region of the protocol's ``regions()`` hook holding the truth mask (``vessel``), or a
            file template with ``{root}`` (data root), ``{dir}`` (the image's folder), ``{stem}``
            and ``{image_id}`` (a user's own masks: ``"{dir}/../labels/{stem}.png"``).
        roi: region of ``regions()`` limiting the evaluation (``fov``), or '' for the whole image.
        seg: :class:`~data_prep.vessels.SegmenterSettings`.
        fit: ``"cross-folder"`` (see module doc) or a fixed threshold as a number.
        source: where the task was defined (``built-in`` or a config file).
    """

    name: str
    protocols: tuple[str, ...]
    truth: str = "vessel"
    roi: str = "fov"
    seg: SegmenterSettings = field(default_factory=SegmenterSettings)
    fit: str | float = "cross-folder"
    source: str = "built-in"

    @property
    def columns(self) -> tuple[str, ...]:
        n = self.name
        return (f"dice@{n}", f"cldice@{n}", f"dice@{n}-hrseg", f"cldice@{n}-hrseg")

    def describe(self) -> dict:
        """JSON-able description (run.json, report)."""
        import dataclasses

        return {"name": self.name, "protocols": list(self.protocols), "truth": self.truth,
                "roi": self.roi, "segmenter": dataclasses.asdict(self.seg), "fit": self.fit,
                "source": self.source}

    # ---------------------------------------------------------------- masks
    def masks(self, proto, data_root: Path | None, meta) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """``(truth bool, roi bool, note)`` of one sample (None + note when absent)."""
        regs = proto.regions(data_root, meta)
        note = "; ".join(getattr(regs, "notes", []))
        if "{" in self.truth:
            truth = _read_template_mask(self.truth, data_root, meta)
            if isinstance(truth, str):
                return None, None, truth
        else:
            truth = regs.get(self.truth)
            if truth is None:
                return None, None, note or f"no {self.truth!r} region for {meta.image_id}"
        r = regs.get(self.roi) if self.roi else None
        if self.roi and r is None:
            return None, None, note or f"no {self.roi!r} region for {meta.image_id}"
        return truth, roi(r, truth.shape, self.seg), ""

    def threshold_for(self, proto, data_root: Path | None, meta) -> tuple[float, str]:
        """``(threshold, note)`` for one sample (NaN + note when it cannot be fitted)."""
        if not isinstance(self.fit, str):
            return float(self.fit), ""
        fits = _cross_fit(self, proto, str(data_root) if data_root is not None else None)
        g = folder_group(meta.source)
        if g not in fits:
            return math.nan, (f"{self.name}: no held-out folder to fit the threshold for {g!r} "
                              "(one folder only); set a fixed fit threshold")
        return fits[g][0], ""


def _read_template_mask(template: str, data_root: Path | None, meta) -> np.ndarray | str:
    src = Path(data_root or ".") / meta.source
    path = Path(template.format(root=data_root or ".", dir=src.parent, stem=src.stem,
                                image_id=meta.image_id))
    if not path.exists():
        return f"{path}: truth mask not found"
    m = read_raster(path).pixels
    return (m.max(axis=2) if m.ndim == 3 else m) > 0


@functools.lru_cache(maxsize=16)
def _cross_fit(task: SegmentationTask, proto, data_root: str | None) -> dict[str, tuple[float, float, int]]:
    """``{group: (threshold, mean HR Dice on the other groups, n fit images)}``: each group's
    threshold is fitted on the HR images of all *other* groups of the protocol's evaluation set."""
    root = Path(data_root) if data_root else None
    per_group: dict[str, list] = {}
    for s in proto.samples(root, proto.eval_split, None):
        truth, r, _ = task.masks(proto, root, s.meta)
        if truth is None:
            continue
        per_group.setdefault(folder_group(s.meta.source), []).append((vesselness(s.hr, task.seg), r, truth))
    out = {}
    for g in per_group:
        held = [x for h, xs in per_group.items() if h != g for x in xs]
        if held:
            t, d = fit_threshold([x[0] for x in held], [x[1] for x in held], [x[2] for x in held])
            out[g] = (t, d, len(held))
    return out


def evaluate_segmentation(task: SegmentationTask, proto, data_root: Path | None, samples: list,
                          sr: np.ndarray) -> tuple[dict[str, np.ndarray], list[str]]:
    """Per-image task columns for one batch.

    Args:
        task: the task.
        proto: the samples' protocol.
        data_root: data root they were prepared from.
        samples: the batch's ``Sample`` list (HR and meta used).
        sr: SR outputs ``(N, H, W[, 3])`` float in [0, 1], aligned with ``samples``.

    Returns:
        ``({column: float64 (N,)}, notes)``; NaN + a note where the truth, ROI or threshold is absent.
    """
    n = len(samples)
    cols = {c: np.full(n, np.nan) for c in (*task.columns, f"{task.name}_hr_dice", f"{task.name}_threshold")}
    notes = [""] * n
    for i, s in enumerate(samples):
        truth, r, why = task.masks(proto, data_root, s.meta)
        if truth is None:
            notes[i] = f"{task.name}: {why}"
            continue
        t, why = task.threshold_for(proto, data_root, s.meta)
        if not np.isfinite(t):
            notes[i] = why
            continue
        seg_hr = (vesselness(s.hr, task.seg) >= t) & r
        seg_sr = (vesselness(sr[i], task.seg) >= t) & r
        tr = truth & r
        n_ = task.name
        cols[f"dice@{n_}"][i] = dice(seg_sr, tr)
        cols[f"cldice@{n_}"][i] = cldice(seg_sr, tr)
        cols[f"dice@{n_}-hrseg"][i] = dice(seg_sr, seg_hr)
        cols[f"cldice@{n_}-hrseg"][i] = cldice(seg_sr, seg_hr)
        cols[f"{n_}_hr_dice"][i] = dice(seg_hr, tr)
        cols[f"{n_}_threshold"][i] = t
    return cols, notes


#: the built-in task: P1's "preserves fine vessels" on DRIVE
DRIVE_VESSELS = SegmentationTask(name="vessel", protocols=("drive",))
