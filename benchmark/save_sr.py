"""``bench run --save-sr DIR``: every SR output of a run as a lossless PNG, written by the worker
that computed it (any executor, any number of workers).

Layout: ``DIR/<dataset>/<model>/<image_id>.png``; when the run scores a dataset in more than one
variant (two suites, two splits, ``--set`` readings, a sweep), ``DIR/<dataset>/<variant>/<model>/
<image_id>.png`` with ``<variant>`` = ``<suite>-<split>[-<label>]`` (:func:`variant_dirs`).
``<dataset>`` is the data actually scored (a stand-in's own name, e.g. ``ct-head-standin``).

Values (:func:`sr_png`): the SR image in the variant's metric domain, ``clip(sr, 0, 1) *
data_range`` (the images' own [0, 1] reading: ``metric.ct_window`` and ``metric.reduce=volume``
readings are not applied), RGB stays RGB:

* an integer domain (``metric.quantize`` with integer ``data_range``) of at most 255: **uint8**,
  the metric-domain values themselves (the 8-bit protocols: ``data_range`` 255);
* an integer domain up to 65535: **uint16**, the values themselves;
* a float domain (``quantize=false``, e.g. P3 / rashid, ``data_range`` 1.0): **uint16** holding
  ``round(value / data_range * 65535)``, i.e. value = PNG / 65535 * data_range (error at most
  ``data_range / 131070``).

A task's PNGs are complete when its marker ``DIR/.medsr-tasks/<task key>`` exists; a resumed run
with ``--save-sr`` recomputes the tasks of the run whose marker is missing (their parts are
rewritten with the same bytes). The option is not part of the run's identity (like ``--out``);
``run.json`` records it under ``save_sr`` (:func:`record`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from medsr_bench.benchmark.metrics import MetricSettings, to_metric_domain
from medsr_bench.core import atomic_write_bytes

MARKERS = ".medsr-tasks"
ENCODING = ("uint8 PNG = the metric-domain value (clip(sr, 0, 1) * data_range) when the domain is "
            "integer with data_range <= 255; uint16 PNG = that value when integer up to 65535; "
            "uint16 PNG = round(value / data_range * 65535) for a float domain (quantize=false)")


def _safe(name: str) -> str:
    """``name`` as one path component (characters other than letters, digits, ``._=,+-`` -> ``_``)."""
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", str(name)).strip(".") or "_"


def variant_dirs(variants: Mapping[str, dict]) -> dict[str, str]:
    """``{variant id: folder relative to DIR}`` of a plan's variants that read data (``dataset``
    set): ``<dataset>`` when the dataset has one variant in the run, else
    ``<dataset>/<suite>-<split>[-<label>]`` (the variant id's first 8 characters appended when
    that is still ambiguous)."""
    by: dict[str, list[str]] = {}
    for vid, e in variants.items():
        if isinstance(e, dict) and e.get("dataset"):
            by.setdefault(str(e["dataset"]), []).append(vid)
    out: dict[str, str] = {}
    for ds, vids in by.items():
        if len(vids) == 1:
            out[vids[0]] = _safe(ds)
            continue
        names = {v: _safe("-".join(str(x) for x in (variants[v].get("suite"), variants[v].get("split"),
                                                   variants[v].get("label")) if x))
                 for v in vids}
        for v in vids:
            n = names[v]
            if list(names.values()).count(n) > 1:
                n = f"{n}-{v[:8]}"
            out[v] = f"{_safe(ds)}/{n}"
    return out


def sr_png(sr01: np.ndarray, ms: MetricSettings) -> bytes:
    """PNG bytes of one SR image ``(H, W)`` / ``(H, W, 3)`` (float, [0, 1] reading) in the metric
    domain of ``ms`` (module docstring: uint8 / uint16 values)."""
    import cv2

    dr = float(ms.data_range)
    y = to_metric_domain(np.asarray(sr01), MetricSettings(data_range=dr, quantize=ms.quantize))
    integer = ms.quantize and dr.is_integer()
    if integer and dr <= 255:
        img = y.astype(np.uint8)
    elif integer and dr <= 65535:
        img = y.astype(np.uint16)
    else:
        img = np.round(y / dr * 65535).astype(np.uint16)
    if img.ndim == 3:
        img = img[..., ::-1]  # OpenCV writes BGR
    ok, png = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - OpenCV failure
        raise OSError("could not encode PNG")
    return png.tobytes()


def write_batch(root: Path | str, dirs: Mapping[str, str], model: str, scorings, ids: list[str],
                sr: np.ndarray) -> int:
    """Write a batch's SR images (``sr``: ``(N, H, W[, 3])`` in [0, 1]) for every scoring (a
    variant: ``scorings[i].variant`` and ``.metric_settings``) whose folder ``dirs`` knows, each
    atomically; returns the number of files written."""
    n = 0
    for sc in scorings:
        sub = dirs.get(sc.variant)
        if sub is None:
            continue
        ms = MetricSettings(**{k: v for k, v in dict(sc.metric_settings).items()
                               if k in MetricSettings.__dataclass_fields__})
        for i, image_id in enumerate(ids):
            atomic_write_bytes(Path(root) / sub / _safe(model) / f"{_safe(image_id)}.png",
                               sr_png(sr[i], ms))
            n += 1
    return n


def marker(root: Path | str, key: str) -> Path:
    """The file saying task ``key``'s PNGs are all written under ``root``."""
    return Path(root) / MARKERS / key


def record(root: Path | str, dirs: Mapping[str, str]) -> dict:
    """``run.json``'s ``save_sr`` entry: the folder, the layout per variant and the encoding."""
    return {"dir": str(Path(root).resolve()), "layout": "<dir>/<variant folder>/<model>/<image_id>.png",
            "variants": dict(dirs), "encoding": ENCODING}
