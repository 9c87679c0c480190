"""Image-quality metrics with explicit conventions, one registry and a batched torch engine.

Public API::

    from medsr_bench.benchmark.metrics import (MetricSettings, to_metric_domain, compute_metrics_batch,
                                   list_metrics, get_metric)
    s = MetricSettings(data_range=255.0, channel="gray", crop_border=0, quantize=True, nrmse_norm="mean")
    hr = to_metric_domain(hr01, s)            # float in [0, 1] -> float64 in [0, 255], rounded
    vals, notes = compute_metrics_batch(sr, hr, s, names=["psnr", "ssim"], device="cpu")

See ``domain.py`` for the settings and channel policy, ``registry.py`` for :class:`MetricSpec` (one
object per metric: functions, reference, tolerances), one module per metric family (``psnr.py``,
``ssim.py``, ``vif.py``, ``niqe.py``, ``lpips.py``, ``gmsd.py``, ``pcc.py``...; found by folder),
``engine.py`` for the batched implementation and :mod:`medsr_bench.perf.metrics` for the speed
benchmark.
"""

from medsr_bench.benchmark.metrics.compute import (
    DEFAULT_METRICS,
    compute_metrics,
    compute_metrics_batch,
    metric_status,
)
from medsr_bench.benchmark.metrics.domain import (
    MetricSettings,
    prepare_pair,
    rgb_to_y,
    to_metric_domain,
)
from medsr_bench.benchmark.metrics.registry import (
    MetricSpec,
    ReferenceTolerance,
    get_metric,
    list_metrics,
    reference_tolerances,
    register_metric,
)

__all__ = [
    "DEFAULT_METRICS",
    "MetricSettings",
    "MetricSpec",
    "ReferenceTolerance",
    "compute_metrics",
    "compute_metrics_batch",
    "get_metric",
    "list_metrics",
    "metric_status",
    "prepare_pair",
    "reference_tolerances",
    "register_metric",
    "rgb_to_y",
    "to_metric_domain",
]
