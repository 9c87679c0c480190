"""``compute_metrics_batch``: the one call the runner makes.

It applies the channel policy and ``crop_border`` (:func:`benchmark.metrics.domain.prepare_pair`),
then computes each requested metric as its :class:`~medsr_bench.benchmark.metrics.registry.MetricSpec`
says: with the spec's ``batched`` stack function (the engine of
:mod:`benchmark.metrics.engine` for PSNR, SSIM, MSE, RMSE, MAE, NRMSE, MS-SSIM, VIF, where metrics
that share one batched function run in one call; the stack functions of GMSD, HaarPSI, FSIM and
VSI, vectorised over the images and run in chunks on CPU threads by
:func:`benchmark.metrics._iqa_common.batched`), or with its per-image ``fn`` (every metric;
``engine="numpy"`` forces it; for the four IQA metrics the same code on a batch of one). Network metrics (LPIPS: ``batched_always``) always run on stacks.
Both paths agree within the tolerances the specs state (``reference_tolerances()``).
"""

from __future__ import annotations

import math

import numpy as np

from medsr_bench.benchmark.metrics.domain import MetricSettings, prepare_pair
from medsr_bench.benchmark.metrics.registry import canonical_name, get_metric, list_metrics

DEFAULT_METRICS = ("psnr", "ssim", "mse", "rmse", "mae", "nrmse", "ms-ssim", "vif")


def compute_metrics_batch(
    sr: np.ndarray,
    hr: np.ndarray,
    settings: MetricSettings,
    names: list[str] | tuple[str, ...] | None = None,
    device: str = "cpu",
    engine: str = "auto",
    chunk: int | None = None,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Compute metrics for a stack of image pairs.

    Args:
        sr: super-resolved stack ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)`` (RGB order),
            already in the metric domain ``[0, settings.data_range]``; any real dtype (uint8,
            uint16, int16, float32, float64). Converted to float64 before any arithmetic, so integer
            inputs never overflow.
        hr: ground-truth stack, same shape.
        settings: :class:`MetricSettings` (data_range, channel policy, crop_border, ...).
        names: metric names (see :func:`list_metrics`; aliases ``msssim``, ``vifp`` accepted);
            default :data:`DEFAULT_METRICS` (all full-reference metrics without weights).
        device: torch device for the engine and LPIPS (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        engine: ``"auto"`` (torch engine for the metrics it implements), ``"torch"`` (same), or
            ``"numpy"`` (per-image NumPy implementations only; the slow, simple path).
        chunk: images per engine batch (default: sized to keep the float64 work set near 256 MB).

    Returns:
        ``(values, notes)``: ``values`` maps each canonical metric name to a float64 array ``(N,)``
        (``inf`` for PSNR of identical images; NaN where undefined); ``notes`` is a list of N strings,
        ``""`` or ``"metric: reason; ..."`` for every non-finite value.

    Raises:
        ValueError: shapes differ, unsupported shapes, channel-policy violations, crop too large,
            unknown ``engine``. KeyError: unknown metric name.
    """
    if engine not in ("auto", "torch", "numpy"):
        raise ValueError(f"engine must be auto, torch or numpy, got {engine!r}")
    names = list(DEFAULT_METRICS if names is None else names)
    specs = [get_metric(n) for n in names]
    canon = [s.name for s in specs]
    x, y = prepare_pair(sr, hr, settings)
    n = x.shape[0]
    values: dict[str, np.ndarray] = {c: np.full(n, math.nan) for c in canon}
    per_notes: list[list[str]] = [[] for _ in range(n)]

    bad = ~(np.isfinite(x).all(axis=(1, 2, 3)) & np.isfinite(y).all(axis=(1, 2, 3)))
    good = np.flatnonzero(~bad)
    for i in np.flatnonzero(bad):
        per_notes[i].append("input contains NaN or inf: all metrics NaN")

    remaining = list(dict.fromkeys(canon))
    by_name = {s.name: s for s in specs}

    if engine != "numpy" and len(good):
        # fused stack passes first (metrics sharing one batched function: one call for all of them)
        groups: dict[object, list[str]] = {}
        for c in remaining:
            spec = by_name[c]
            if spec.batched is not None and not spec.batched_always:
                groups.setdefault(spec.batched, []).append(c)
        for todo in groups.values():
            fn = by_name[todo[0]].batched_fn()
            vals, notes = fn(x[good], y[good], settings, todo, device=device, chunk=chunk)
            for c in todo:
                values[c][good] = vals[c]
            for j, i in enumerate(good):
                per_notes[i].extend(notes[j])
            remaining = [c for c in remaining if c not in todo]

    for c in remaining:
        spec = by_name[c]
        if spec.batched is not None and spec.batched_always:
            # a network metric: one stack call of its own, in request order
            if len(good):
                vals, notes = spec.batched_fn()(x[good], y[good], settings, [c], device=device,
                                                chunk=chunk)
                values[c][good] = vals[c]
                for j, i in enumerate(good):
                    per_notes[i].extend(notes[j])
            continue
        for i in good:
            try:
                v, note = spec.fn(x[i], y[i], settings)
            except Exception as e:  # noqa: BLE001 - a metric never kills a run
                v, note = math.nan, f"failed: {type(e).__name__}: {e}"
            values[c][i] = v
            if note:
                per_notes[i].append(f"{c}: {note}")
    return values, ["; ".join(p) for p in per_notes]


def metric_status(name: str) -> tuple[str, str]:
    """``("ok", "")``, or ``("missing-weights", reason)`` for a metric whose weight files are absent
    (LPIPS, DISTS: the spec's ``weights_note``), so the runner can mark a whole column without
    computing it."""
    spec = get_metric(name)
    if spec.needs_weights and spec.weights_note is not None:
        note = spec.weights_note()
        if note:
            return "missing-weights", note
    return "ok", ""


def compute_metrics(sr: np.ndarray, hr: np.ndarray, settings: MetricSettings,
                    names: list[str] | None = None, **kw) -> tuple[dict[str, float], str]:
    """Single-image convenience wrapper: ``(H, W[, C])`` arrays -> ``({name: float}, note)``."""
    vals, notes = compute_metrics_batch(np.asarray(sr)[None], np.asarray(hr)[None], settings, names, **kw)
    return {k: float(v[0]) for k, v in vals.items()}, notes[0]


__all__ = ["compute_metrics_batch", "compute_metrics", "metric_status", "DEFAULT_METRICS",
           "list_metrics", "canonical_name"]
