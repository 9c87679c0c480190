"""``execute(task) -> part``: one model on one shard, scored by every suite reading it.

``execute`` reads the prepared set (or the raw data), loads the model (cached per process, so a
worker reuses one model instance across shards) and returns the part: per-image rows, per-image
timings and the figure images (PNG bytes). It writes nothing in the run directory; the caller
(:func:`run_task`, used by every executor) stores the part atomically under ``parts/``.

Test hook: ``MEDSR_BENCH_FAIL_ONCE="<protocol>:<shard index>@<marker file>"`` makes the first attempt
at that shard raise :class:`InjectedFailure` (the marker file records that it happened), so tests can
check that executors retry a failed shard and leave no partial part.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import os
import socket
import sys
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import medsr_bench.compat  # noqa: F401  (before torchvision/basicsr)
from medsr_bench.benchmark import save_sr
from medsr_bench.benchmark.tasks import Task
from medsr_bench.core import atomic_write_bytes, canonical_json
from medsr_bench.data_prep import get_protocol
from medsr_bench.data_prep.io import DEFAULT_MAX_PIXELS, pixel_limit
from medsr_bench.data_prep.manifest import read_manifest
from medsr_bench.data_prep.prepared import load_rows, resolve_selection, set_dir
from medsr_bench.data_prep.regions import RegionMasks
from medsr_bench.data_prep.registry import params_class
from medsr_bench.models import WeightsError, WeightsMissing, load_model
from medsr_bench.models.spandrel_model import register_entry

PART_FORMAT = 1
FAIL_ONCE_ENV = "MEDSR_BENCH_FAIL_ONCE"


class InjectedFailure(RuntimeError):
    """Raised by the ``MEDSR_BENCH_FAIL_ONCE`` test hook."""


class WorkerSetupError(RuntimeError):
    """A worker cannot see the data root, the prepared set or the run dir (one line)."""


@dataclass(frozen=True)
class ExecContext:
    """Where a worker finds things; not part of any task's identity.

    Attributes:
        data_root: datasets folder (None: embedded demo).
        weights_dir: weights folder.
        prepared_dir: prepared-set cache (None: prepare on the fly).
        device: ``cpu`` | ``cuda``.
        batch_size: same-size images per model call.
        strict: a bad input file stops the dataset.
        show_progress: log lines on stderr.
        threads: torch intra-op threads of the worker. Reductions over large images round
            differently with another thread count (last bits), so every executor runs tasks with
            the same count (default 1; parallelism comes from workers) and the tables are
            bit-identical whatever the executor.
        save_sr: ``--save-sr DIR``: the worker writes every SR output there (None: not saved;
            :mod:`~medsr_bench.benchmark.save_sr`).
        save_sr_dirs: ``{variant id: folder under save_sr}`` (:func:`save_sr.variant_dirs`).
    """

    data_root: str | None
    weights_dir: str | None
    prepared_dir: str | None
    device: str = "cpu"
    batch_size: int = 4
    strict: bool = False
    show_progress: bool = False
    threads: int = 1
    save_sr: str | None = None
    save_sr_dirs: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_MODELS: dict[tuple, object] = {}
_FAILED: dict[tuple, tuple[str, str]] = {}


def get_model(name: str, options: dict, ctx: ExecContext):
    """``(model, None)`` or ``(None, (status, note))``; cached per process (one instance per worker)."""

    k = (name, canonical_json(options), ctx.weights_dir, ctx.device)
    if k in _MODELS:
        return _MODELS[k], None
    if k in _FAILED:
        return None, _FAILED[k]
    try:
        m = load_model(name, weights_dir=Path(ctx.weights_dir) if ctx.weights_dir else None,
                       device=ctx.device, **options)
    except WeightsMissing as e:
        _FAILED[k] = ("missing-weights", f"expected {e.expected_path.name} in "
                                         f"{e.expected_path.parent}; get it: {e.obtain}")
        return None, _FAILED[k]
    except (WeightsError, ValueError) as e:
        _FAILED[k] = ("error", one_line(e))
        return None, _FAILED[k]
    _MODELS[k] = m
    return m, None


def one_line(e: BaseException) -> str:
    """``Type: first line`` of an exception (the bare message for KeyError/ValueError)."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return f"{type(e).__name__}: {msg}" if not isinstance(e, (KeyError, ValueError)) else msg


def load_shard(task: Task, ctx: ExecContext) -> list:
    """The shard's samples (``Sample`` list, manifest order); the time it takes is added to
    :data:`READ_SECONDS`.

    Raises:
        WorkerSetupError: the data root or prepared set is not visible from this worker.
        DataError: unreadable prepared file (or any input under strict).
    """
    t0 = time.perf_counter()
    try:
        with pixel_limit(task.max_pixels or DEFAULT_MAX_PIXELS):  # the run's, not this host's env
            return _load_shard(task, ctx)
    finally:
        READ_SECONDS[0] += time.perf_counter() - t0


def _load_shard(task: Task, ctx: ExecContext) -> list:
    proto = _protocol(task)
    root = Path(ctx.data_root) if ctx.data_root else None
    if root is not None and not root.is_dir():
        raise WorkerSetupError(f"worker {socket.gethostname()} cannot see the data root {root}: "
                               "workers need the data root and the prepared cache on a shared path")
    if not task.image_ids:
        return list(proto.samples(root, task.split, task.limit, strict=ctx.strict))

    split, limit = resolve_selection(proto, task.split, task.limit)
    folders = [set_dir(Path(ctx.prepared_dir), proto, split, limit)]
    if limit is None:
        folders.append(set_dir(Path(ctx.prepared_dir), proto, "all", None))
    for folder in folders:
        found = read_manifest(folder)
        if found is not None and found[0].get("source_fingerprint") == task.source_fingerprint:
            by_id = {r["image_id"]: r for r in found[1]}
            if all(i in by_id for i in task.image_ids):
                return list(load_rows(folder, [by_id[i] for i in task.image_ids]))
    raise WorkerSetupError(f"worker {socket.gethostname()} cannot find the prepared set "
                           f"{folders[0]}: workers need the prepared cache (--prepared-dir) on a "
                           "shared path")


_PROTOS: dict[str, object] = {}


def _protocol(task: Task):
    """The task's protocol with its params, built once per process (and params hash)."""
    from medsr_bench.benchmark.settings import params_from_dict

    key = f"{task.protocol}:{task.params_hash}"
    if key not in _PROTOS:
        params = params_from_dict(params_class(task.protocol), task.params)
        _PROTOS[key] = get_protocol(task.protocol, params)
    return _PROTOS[key]


def _metric_settings(d: dict):
    from medsr_bench.benchmark.metrics import MetricSettings
    from medsr_bench.benchmark.settings import params_from_dict

    return params_from_dict(MetricSettings, d)


def _batches(samples: list, size: int) -> Iterable[list]:
    """Consecutive same-shape samples, at most ``size`` per batch."""
    batch: list = []
    for s in samples:
        if batch and (len(batch) >= size or s.lr.shape != batch[0].lr.shape):
            yield batch
            batch = []
        batch.append(s)
    if batch:
        yield batch


def png16(x01: np.ndarray) -> bytes:
    """A [0, 1] float image ``(H, W)`` / ``(H, W, 3)`` as 16-bit PNG bytes (lossless at 1/65535)."""
    import cv2

    img = np.round(np.clip(x01, 0, 1) * 65535).astype(np.uint16)
    if img.ndim == 3:
        img = img[..., ::-1]
    ok, png = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - OpenCV failure
        raise OSError("could not encode PNG")
    return png.tobytes()


def _row(task: Task, sc, s_id: str, split: str, dataset: str, status: str, note: str = "") -> dict:
    return {"suite": sc.suite, "dataset": dataset, "variant": sc.variant, "image_id": s_id,
            "split": split, "model": task.model, "scale": task.scale, "status": status, "note": note}


def _status_rows(task: Task, ids, splits, dataset: str, status: str, note: str) -> list[dict]:
    return [_row(task, sc, i, sp, dataset, status, note) for sc in task.scorings
            for i, sp in zip(ids, splits, strict=True)]


def _check_fail_once(task: Task) -> None:
    spec = os.environ.get(FAIL_ONCE_ENV, "")
    if not spec or "@" not in spec:
        return
    target, marker = spec.split("@", 1)
    if target != f"{task.protocol}:{task.shard[0]}":
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    raise InjectedFailure(f"injected failure of {task.describe()} ({FAIL_ONCE_ENV})")


def execute(task: Task, ctx: ExecContext, samples: list | None = None) -> dict:
    """Run one task and return its part (a JSON-able dict); writes nothing.

    Args:
        task: the task.
        ctx: where data, prepared sets and weights are.
        samples: the shard's samples when the caller already loaded them (local executor).

    Returns:
        ``{"format", "key", "task", "rows", "timings", "figures", "model", "complete", "host",
        "device", "seconds"}``; ``complete`` is False when the model failed on some batch (the part
        is then recomputed on resume).

    Raises:
        InjectedFailure (test hook), WorkerSetupError, DataError (unreadable prepared data).
    """
    from medsr_bench.benchmark.metrics import compute_metrics_batch, to_metric_domain

    t_start = time.perf_counter()
    phases = {"sr": 0.0, "metrics": 0.0}
    _check_fail_once(task)
    dataset = ""
    rows: list[dict] = []
    timings: list[dict] = []
    figures: dict[str, str] = {}
    model_entry: dict = {}
    complete = True
    if task.plan_status and task.image_ids:
        dataset = _dataset_of(task, ctx)
        rows = _status_rows(task, task.image_ids, task.image_splits, dataset, task.plan_status,
                            task.plan_note)
        model_entry = {"status": task.plan_status, "note": task.plan_note}
    else:
        if samples is None:
            samples = load_shard(task, ctx)
        dataset = samples[0].meta.dataset if samples else _dataset_of(task, ctx)
        if task.model_source and not task.plan_status:
            register_entry(task.model_source)  # a user model: this worker may not know it yet
        model, failed = (None, (task.plan_status, task.plan_note)) if task.plan_status else \
            get_model(task.model, task.model_options, ctx)
        if failed is not None:
            ids = [s.meta.image_id for s in samples]
            rows = _status_rows(task, ids, [s.meta.split for s in samples], dataset, *failed)
            model_entry = {"status": failed[0], "note": failed[1]}
        else:
            model_entry = {"status": "ok", "info": model.info()}
            volumes: dict = {}  # (settings, metrics) -> volume id -> slices (metric.reduce=volume)
            for batch in _batches(samples, ctx.batch_size):
                brows, btimes, ok = _run_batch(task, ctx, model, batch, figures,
                                               compute_metrics_batch, to_metric_domain, phases, volumes)
                rows.extend(brows)
                timings.extend(btimes)
                complete = complete and ok
            _volume_ssim_rows(task, rows, volumes)
            if not complete:
                model_entry = {"status": "error", "note": next(
                    (r["note"] for r in rows if r["status"] == "error"), "")}
    if task.figure_image and samples:
        for s in samples:
            if s.meta.image_id == task.figure_image:
                figures["lr"] = base64.b64encode(png16(s.lr)).decode()
                figures["hr"] = base64.b64encode(png16(s.hr)).decode()
    return {"format": PART_FORMAT, "key": task.key, "task": task.to_dict(), "dataset": dataset,
            "rows": rows, "timings": timings, "figures": figures, "model": model_entry,
            "complete": complete, "host": socket.gethostname(), "device": ctx.device,
            "seconds": time.perf_counter() - t_start, "phases": phases}


def _dataset_of(task: Task, ctx: ExecContext) -> str:
    proto = _protocol(task)
    try:
        return proto.resolve(Path(ctx.data_root) if ctx.data_root else Path(".")).dataset
    except Exception:
        return task.protocol


def _run_batch(task: Task, ctx: ExecContext, model, batch: list, figures: dict,
               compute_metrics_batch, to_metric_domain,
               phases: dict, volumes: dict | None = None) -> tuple[list[dict], list[dict], bool]:
    meta0 = batch[0].meta
    lr = np.stack([s.lr for s in batch])
    hr = np.stack([s.hr for s in batch])
    t0 = time.perf_counter()
    try:
        sr = model.upscale(lr, task.scale)
        if sr.shape != hr.shape:
            raise ValueError(f"{task.model} returned {sr.shape}, expected {hr.shape}")
    except Exception as e:  # one model failing must not stop the run
        note = one_line(e)
        if ctx.show_progress:
            print(f"{task.model} failed on {meta0.dataset}: {note}", file=sys.stderr)
            traceback.print_exc(limit=3, file=sys.stderr)
        ids = [s.meta.image_id for s in batch]
        return _status_rows(task, ids, [s.meta.split for s in batch], meta0.dataset, "error",
                            note), [], False
    phases["sr"] += time.perf_counter() - t0
    seconds = (time.perf_counter() - t0) / len(batch)
    if ctx.save_sr:
        save_sr.write_batch(ctx.save_sr, ctx.save_sr_dirs, task.model, task.scorings,
                            [s.meta.image_id for s in batch], sr)
    t_metrics = time.perf_counter()
    diag = getattr(model, "diagnostics", {}) or {}
    for i, s in enumerate(batch):
        if s.meta.image_id == task.figure_image:
            figures["sr"] = base64.b64encode(png16(sr[i])).decode()
    masks, mask_notes = _region_masks(task, ctx, batch)
    for i, s in enumerate(batch):  # the figure image's masks, outlined in the report's figure
        if s.meta.image_id == task.figure_image:
            for name, m in masks.items():
                if m[i].any():
                    figures[f"mask-{name}"] = base64.b64encode(png16(m[i].astype(np.float64))).decode()
    clinical_memo: dict = {}  # clinical evaluators that ignore metric settings run once per batch
    scored: dict = {}  # suites with identical metric settings share one computation
    rows: list[dict] = []
    for sc in task.scorings:
        ms = _metric_settings(sc.metric_settings)
        k = (ms, sc.metrics)
        if k not in scored:
            vals, notes, hrd = _score_readings(task, ctx, batch, sr, hr, ms, sc.metrics, masks,
                                               compute_metrics_batch, to_metric_domain,
                                               volumes.setdefault(k, {}) if volumes is not None else {})
            for i, extra in mask_notes.items():
                notes[i] = "; ".join(x for x in (notes[i], extra) if x)
            # clinical columns keep the images' own reading (their evaluators take [0, 1] images)
            cms = dataclasses.replace(ms, ct_window="none", reduce="slice")
            cvals, cnotes = _clinical(task, ctx, batch, sr, cms, clinical_memo)
            vals = {**vals, **cvals}
            notes = ["; ".join(x for x in (a, b) if x) for a, b in zip(notes, cnotes, strict=True)]
            scored[k] = (vals, notes, degenerate_reasons(hrd, vals))
        vals, notes, degen = scored[k]
        for i, s in enumerate(batch):
            status, note = ("degenerate", "; ".join(x for x in (degen[i], notes[i]) if x)) \
                if degen[i] else ("ok", notes[i])
            r = _row(task, sc, s.meta.image_id, s.meta.split, s.meta.dataset, status, note)
            r.update({m: float(v[i]) for m, v in vals.items()})
            r.update({k2: float(v[i]) for k2, v in diag.items()})
            rows.append(r)
    times = [{"image_id": s.meta.image_id, "seconds": seconds} for s in batch]
    phases["metrics"] += time.perf_counter() - t_metrics
    return rows, times, True


@dataclass
class _Reading:
    """One group of a batch scored with the same metric-domain mapping (``metric.ct_window``,
    ``metric.reduce``): image indices, per-image value ranges (None: the images' own [0, 1]
    reading), offsets, and the ``data_range`` override (None: the settings' own)."""

    idx: np.ndarray
    value_range: np.ndarray | None = None
    offset: np.ndarray | float = 0.0
    data_range: float | None = None


def _readings(task: Task, ctx: ExecContext, batch: list, ms) -> tuple[list[_Reading], dict, dict]:
    """How each image of a batch enters the metric domain under ``ms``: the groups, notes for the
    images that cannot be read this way (``{index: note}``, scored NaN), and the volume of each
    image (``{index: VolumeRef}``, ``metric.reduce=volume``)."""
    n = len(batch)
    every = np.arange(n)
    proto = _protocol(task)
    if ms.ct_window != "none":
        hook = getattr(proto, "hu_range", None)
        hu = [hook(s.meta) if hook is not None else None for s in batch]
        ok = [i for i in range(n) if hu[i] is not None]
        skipped = {i: f"metric.ct_window={ms.ct_window} needs HU; {batch[i].meta.dataset} image "
                      f"{batch[i].meta.image_id} carries none (not a CT image with rescaled values)"
                   for i in range(n) if hu[i] is None}
        groups = [_Reading(np.asarray(ok), np.asarray([hu[i] for i in ok], np.float64))] if ok else []
        return groups, skipped, {}
    if ms.reduce == "volume":
        hook = getattr(proto, "volume_of", None)
        root = Path(ctx.data_root) if ctx.data_root else None
        refs = {i: r for i, s in enumerate(batch)  # a constant volume keeps the slice reading
                if hook is not None and (r := hook(root, s.meta)) is not None
                and r.volume_range[1] > r.volume_range[0]}
        groups = []
        for vr in dict.fromkeys(r.volume_range for r in refs.values()):
            idx = np.asarray([i for i, r in refs.items() if r.volume_range == vr])
            groups.append(_Reading(idx, np.asarray([refs[i].value_range for i in idx], np.float64),
                                   vr[0], vr[1] - vr[0]))
        rest = np.asarray([i for i in range(n) if i not in refs], dtype=np.int64)
        if rest.size:
            groups.append(_Reading(rest))
        return groups, {}, refs
    return [_Reading(every)], {}, {}


def _score_readings(task: Task, ctx: ExecContext, batch: list, sr: np.ndarray, hr: np.ndarray, ms,
                    metrics, masks: dict, compute_metrics_batch, to_metric_domain,
                    volumes: dict) -> tuple[dict, list[str], np.ndarray]:
    """Metric and region columns of a batch under ``ms`` (``(vals, notes, hr in the metric
    domain)``); the default reading is one group over the whole batch, as before readings
    existed. Slices of volumes are collected in ``volumes`` for the 3-D SSIM."""
    # function-level, as execute()'s own metrics import: the metrics package loads torch (start-up cost)
    from medsr_bench.benchmark.metrics.domain import reading_settings
    from medsr_bench.benchmark.metrics.regions import region_metric_names, region_metrics

    n = len(batch)
    ids = [s.meta.image_id for s in batch]
    groups, skipped, refs = _readings(task, ctx, batch, ms)
    vals: dict[str, np.ndarray] = {}
    notes = [skipped.get(i, "") for i in range(n)]
    hrd_all = np.full(hr.shape, np.nan)
    whole = len(groups) == 1 and groups[0].idx.size == n
    for g in groups:
        sel = slice(None) if whole else g.idx
        gms = reading_settings(ms, g.data_range)
        srd = to_metric_domain(sr[sel], ms, g.value_range, g.offset)
        hrd = to_metric_domain(hr[sel], ms, g.value_range, g.offset)
        gv, gn = compute_metrics_batch(srd, hrd, gms, names=list(metrics), device=ctx.device)
        gn = list(gn)
        if masks:
            rnotes: list = []
            gv = {**gv, **region_metrics(srd, hrd, {r: m[sel] for r, m in masks.items()}, gms,
                                         metrics=region_metric_names(metrics), notes=rnotes)}
            for i, col, why in rnotes:
                gn[i] = "; ".join(x for x in (gn[i], f"{col}: {why}") if x)
        _collect_volumes(volumes, refs, ids, g.idx, srd, hrd, gms)
        if whole:
            return gv, gn, hrd
        for m, v in gv.items():
            vals.setdefault(m, np.full(n, np.nan))[g.idx] = v
        for j, i in enumerate(g.idx):
            notes[i] = gn[j]
        hrd_all[g.idx] = hrd
    for m in (metrics if not vals else ()):
        vals[m] = np.full(n, np.nan)
    return vals, notes, hrd_all


def _collect_volumes(volumes: dict, refs: dict, ids: list[str], idx: np.ndarray, srd: np.ndarray,
                     hrd: np.ndarray, gms) -> None:
    """Keep the metric-domain slices of each volume (``volumes[id] -> [(slice index, image id,
    sr, hr, settings)]``) for :func:`_volume_ssim_rows`."""
    for j, i in enumerate(idx):
        r = refs.get(int(i))
        if r is not None:
            volumes.setdefault(r.volume_id, []).append((r.index, ids[int(i)], srd[j], hrd[j], gms))


#: Column of the 3-D SSIM of ``metric.reduce=volume`` (a ``<metric>@<region>`` name, so it is
#: summarised, checked and directed like SSIM and never makes a pair degenerate).
VOLUME_SSIM = "ssim@volume"


def _volume_ssim_rows(task: Task, rows: list[dict], volumes: dict) -> None:
    """Add ``ssim@volume`` (:data:`VOLUME_SSIM`: the 3-D SSIM :func:`benchmark.metrics.ssim.ssim3d`)
    to the rows of ``metric.reduce=volume`` scorings: each volume's value on the row of its first slice (lowest index) in this task, NaN
    on its other slices, so the column's mean is a mean over volumes. The volume is the task's
    slices stacked in slice order; fewer than 11 slices, or slices that are not consecutive
    (e.g. ``--limit``), give NaN with a note on that row. A volume split over two tasks (shards)
    is scored per part."""
    from medsr_bench.benchmark.metrics.ssim import SSIM_WIN, ssim3d  # torch start-up cost, as above

    for (ms, _metrics), vols in volumes.items():
        if not vols:
            continue
        variants = {sc.variant for sc in task.scorings if _metric_settings(sc.metric_settings) == ms}
        head: dict[str, tuple[float, str]] = {}
        for slices in vols.values():
            slices = sorted(slices, key=lambda t: t[0])
            zs = [t[0] for t in slices]
            if len(zs) < SSIM_WIN:
                v, why = math.nan, f"{VOLUME_SSIM}: {len(zs)} slices of this volume here, fewer than {SSIM_WIN}"
            elif zs != list(range(zs[0], zs[0] + len(zs))):
                v, why = math.nan, f"{VOLUME_SSIM}: the volume's slices here are not consecutive"
            else:
                gms = slices[0][4]
                v, why = ssim3d(np.stack([t[2] for t in slices]), np.stack([t[3] for t in slices]),
                                gms.data_range, gms.ssim_k1, gms.ssim_k2), ""
            head[slices[0][1]] = (v, why)
        for r in rows:
            if r["variant"] not in variants:
                continue
            v, why = head.get(r["image_id"], (math.nan, ""))
            r[VOLUME_SSIM] = v
            if why:
                r["note"] = "; ".join(x for x in (r["note"], why) if x)


def _clinical(task: Task, ctx: ExecContext, batch: list, sr: np.ndarray, ms,
              memo: dict) -> tuple[dict, list[str]]:
    """Clinical-fidelity columns of a batch (:mod:`benchmark.clinical`, settings ``clinical.*``)."""
    from medsr_bench.benchmark.clinical import ClinicalSettings, evaluate_batch
    from medsr_bench.benchmark.settings import params_from_dict

    settings = params_from_dict(ClinicalSettings, task.clinical) if task.clinical else ClinicalSettings()
    root = Path(ctx.data_root) if ctx.data_root else None
    return evaluate_batch(_protocol(task), batch, sr, root, ms, settings, memo)


#: Row status of a degenerate pair (see :func:`degenerate_reasons`): scored, kept in per_image.csv,
#: left out of every mean and counted per variant in run.json (``n_degenerate``).
DEGENERATE = "degenerate"


def degenerate_reasons(hr: np.ndarray, vals: dict[str, np.ndarray]) -> list[str]:
    """Why each pair of a batch cannot enter a mean ("" when it can).

    The policy (fixed, stated in the report and run.json): a pair whose HR is constant in the
    metric domain (zero variance: a blank X-ray, an empty slice) is degenerate - PSNR is inf or
    undefined, SSIM is 1 or 0 by its constants alone, NRMSE divides by zero - and so is any pair
    with an infinite image-level metric value (e.g. PSNR inf of an SR identical to its HR): a
    single inf would make the mean inf. A NaN value (a metric undefined on that image) is left out
    of that metric's mean only, as before; region metrics (``m@region``) do not count.

    Args:
        hr: ``(N, H, W)`` or ``(N, H, W, C)`` metric-domain HR batch.
        vals: ``{metric: (N,) values}``.

    Returns:
        One reason per image, e.g. ``"degenerate pair: constant HR (zero variance); excluded
        from means"``.
    """
    flat = hr.reshape(hr.shape[0], -1)
    out = []
    for i in range(hr.shape[0]):
        why = ""
        if flat[i].size and float(flat[i].max()) == float(flat[i].min()):
            why = "constant HR (zero variance)"
        else:
            bad = [f"{m} {float(v[i])}" for m, v in vals.items()
                   if "@" not in m and np.isinf(float(v[i]))]
            if bad:
                why = "infinite " + ", ".join(bad)
        out.append(f"degenerate pair: {why}; excluded from means" if why else "")
    return out


def _region_masks(task: Task, ctx: ExecContext, batch: list) -> tuple[dict, dict[int, str]]:
    """Diagnostic-region masks of a batch (``{region: bool (N, H, W)}``) from the protocol's
    ``regions`` hook (mask files: DRIVE FOV / vessels, BraTS brain) and ``image_regions`` hook
    (rules on the HR itself: CT body, radiograph field), and per-image notes naming a missing mask.
    A region absent for some image of the batch is all-False there (its value is NaN)."""
    proto = _protocol(task)
    hook = getattr(proto, "regions", None)
    image_hook = getattr(proto, "image_regions", None)
    if hook is None and image_hook is None:
        return {}, {}
    root = Path(ctx.data_root) if ctx.data_root else None
    per = []
    for s in batch:
        m = hook(root, s.meta) if hook is not None else RegionMasks()
        if image_hook is not None:
            extra = image_hook(s.hr, s.meta)
            m.update(extra)
            m.notes.extend(extra.notes)
        per.append(m)
    names = list(dict.fromkeys(n for m in per for n in m))
    notes = {i: "; ".join(m.notes) for i, m in enumerate(per) if getattr(m, "notes", None)}
    masks = {}
    for n in names:
        masks[n] = np.stack([m[n] if n in m else np.zeros(s.hr.shape[:2], bool)
                             for m, s in zip(per, batch, strict=True)])
    return masks, notes


# ---------------------------------------------------------------- the worker-side wrapper
#: seconds this process spent reading samples / storing parts (``bench perf --pipeline``)
READ_SECONDS = [0.0]
WRITE_SECONDS = [0.0]


def figure_family(t: Task) -> str:
    """Id of the SR family a task's figure belongs to (protocol params, split, model options):
    variants sharing it share one ``samples/`` folder."""
    from medsr_bench.core import stable_hash

    return stable_hash({"params_hash": t.params_hash, "split": t.split,
                        "options": t.model_options})


def store_figures(run_dir: Path, task: Task, part: dict) -> dict:
    """Write a part's figure PNGs (base64 in ``part["figures"]``: ``lr``, ``hr``, ``sr``, and
    ``mask-<region>`` for the figure image's diagnostic regions, written to ``masks/<region>.png``
    beside them) once per
    run as ``samples/<dataset>-<family[:8]>/<image>/{lr,hr,<model>}.png`` and return the map
    ``{name: path relative to run_dir}`` the part keeps instead, so parts hold numbers only and
    the LR/HR images every model's part used to repeat are stored once."""
    figs = part.get("figures") or {}
    if not figs or not task.figure_image:
        return {}
    d = Path("samples") / f"{part['dataset']}-{figure_family(task)[:8]}" / task.figure_image
    out = {}
    for k, v in figs.items():
        if isinstance(v, str) and v.endswith(".png"):  # already a file
            out[k] = v
            continue
        rel = d / "masks" / f"{k[len('mask-'):]}.png" if k.startswith("mask-") else \
            d / f"{task.model if k == 'sr' else k}.png"
        data = base64.b64decode(v)
        p = Path(run_dir) / rel
        if not p.is_file() or p.read_bytes() != data:
            atomic_write_bytes(p, data)
        out[k] = rel.as_posix()
    return out


def part_path(run_dir: Path, key: str) -> Path:
    return Path(run_dir) / "parts" / f"{key}.json"


def run_task(task_dict: dict, ctx_dict: dict, run_dir: str, samples: list | None = None) -> str:
    """Execute a task (given as dicts, so any executor can ship it) and store its part atomically
    under ``<run_dir>/parts/<key>.json``; returns the key. A ``.running`` marker names the worker
    while it runs; a failure leaves a ``.failed`` note and no part.

    Raises:
        Whatever :func:`execute` raises (the executor retries).
    """
    import json

    task = Task.from_dict(task_dict)
    ctx = ExecContext(**ctx_dict)
    set_threads(ctx.threads)
    parts = Path(run_dir) / "parts"
    if not parts.is_dir():
        raise WorkerSetupError(f"worker {socket.gethostname()} cannot see the run directory "
                               f"{run_dir}: workers need it on a shared path")
    running = parts / f"{task.key}.running"
    atomic_write_bytes(running, json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                            "task": task.describe(),
                                            "since": time.time()}).encode())
    try:
        part = execute(task, ctx, samples)
        part["figures"] = store_figures(Path(run_dir), task, part)
        t0 = time.perf_counter()
        atomic_write_bytes(part_path(run_dir, task.key),
                           (json.dumps(part, sort_keys=True, allow_nan=True) + "\n").encode())
        WRITE_SECONDS[0] += time.perf_counter() - t0
        if ctx.save_sr and part.get("complete", True):  # this task's SR images are all written
            atomic_write_bytes(save_sr.marker(ctx.save_sr, task.key), b"")
        (parts / f"{task.key}.failed").unlink(missing_ok=True)
    except (KeyboardInterrupt, SystemExit):
        raise  # interrupted, not failed: the task stays pending and the next run computes it
    except BaseException as e:
        atomic_write_bytes(parts / f"{task.key}.failed",
                           json.dumps({"host": socket.gethostname(), "error": one_line(e),
                                       "task": task.describe(), "at": time.time()}).encode())
        raise
    finally:
        running.unlink(missing_ok=True)
    return task.key


def set_threads(n: int) -> None:
    """Fix torch's intra-op thread count for this worker (see :class:`ExecContext`)."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def run_bundle(task_dicts: list[dict], ctx_dict: dict, run_dir: str) -> list[str]:
    """Run several tasks of one shard in order, loading the shard's samples once."""
    ctx = ExecContext(**ctx_dict)
    set_threads(ctx.threads)
    samples = None
    keys = []
    for td in task_dicts:
        task = Task.from_dict(td)
        if samples is None and not (task.plan_status and task.image_ids):
            samples = load_shard(task, ctx)
        keys.append(run_task(td, ctx_dict, run_dir, samples))
    return keys
