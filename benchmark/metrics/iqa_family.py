"""Registers the perceptual full-reference metrics of issue 20, one module each (importing a
module runs its ``register_metric`` call)."""

from medsr_bench.benchmark.metrics import dists, fsim, gmsd, haarpsi, vsi  # noqa: F401

IQA_METRICS = ("gmsd", "haarpsi", "fsim", "vsi", "dists")
"""Names registered here, in display order (after the engine metrics, NIQE and LPIPS)."""
