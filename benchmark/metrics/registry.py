"""The metric registry: one :class:`MetricSpec` object per metric name, in
:data:`METRICS` (a :class:`~medsr_bench.core.registry.Registry`).

Each metric module of this folder registers its metrics with :func:`register_metric` right beside
the implementation (the registry imports every module of the folder on first lookup: no import
list to keep). A spec holds everything about the metric: whether higher is better, the value
range, whether it needs weights, the per-image function, the batched stack function (or None), the
library reference it is tested against (``reference_fn``), the tolerance against it with its
reason (``tolerance``; :func:`reference_tolerances` is the one table the tests and
``bench metrics bench`` use), the ``bench check`` tolerance and the aliases (pattern: timm's
``_registry.py`` / pyiqa's ``default_model_configs.py``).

A per-image function has the signature ``fn(sr, hr, settings) -> (value, note)`` where ``sr`` and
``hr`` are float64 arrays ``(C, H, W)`` already in the metric domain, channel-converted and cropped
(see :func:`benchmark.metrics.domain.prepare_pair`), ``value`` is a Python float (may be ``inf`` or
``nan``) and ``note`` is ``""`` or the reason for a non-finite value. No-reference metrics ignore
``hr``.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from medsr_bench.core.registry import DuplicateError, Registry, import_submodules

PerImageFn = Callable[[np.ndarray, np.ndarray, object], tuple[float, str]]


@dataclass(frozen=True)
class CheckTolerance:
    """Default tolerance of ``bench check`` for a metric's summary mean: a value passes when
    ``|now - baseline| <= atol + rtol * |baseline|`` (numpy.isclose's rule), with the reason."""

    atol: float
    rtol: float
    reason: str


_FALLBACK_TOLERANCE = CheckTolerance(0.0, 1e-6, "no stated tolerance: near-exact (relative 1e-6)")

# Why the check tolerances of the pixel metrics are what they are (each module states its own):
# on CPU the same code and inputs give the same numbers up to float32 reassociation (BLAS build,
# thread count), which flips a few SR pixels by one 8-bit level at most. That moves a mean over a
# handful of images by about 1e-3 dB of PSNR and 1e-5 of SSIM/VIF; any real change (resize kernel,
# blur, crop, channel, weights) moves them by orders of magnitude more. Errors scale with the data
# range (8-bit vs [0, 1]), so they get a relative tolerance.


@dataclass(frozen=True)
class ReferenceTolerance:
    """How close the metric must stay to its reference implementation, per image:
    ``|ours - reference| <= atol`` (plus ``1e-12`` relative), with the reason. Used by the tests
    (``tests/metric_tester.py``) and printed by ``bench metrics bench``."""

    atol: float
    reason: str


BatchedFn = Callable[..., tuple[dict[str, np.ndarray], list[list[str]]]]
"""``batched(sr, hr, settings, names, device="cpu", chunk=None) -> (values, notes)`` on float64
``(N, C, H, W)`` stacks in the metric domain: ``values[name]`` float64 ``(N,)`` for every name in
``names``; ``notes[i]`` a list of ``"name: reason"`` strings of image i. Metrics that share one
batched function (the engine's fused PSNR/SSIM/VIF pass) are computed in one call."""

ReferenceFn = Callable[[np.ndarray, np.ndarray, object], float]
"""``reference(sr, hr, settings) -> float`` on one image pair ``(H, W)`` or ``(H, W, C)`` (as the
caller holds it, ``crop_border`` already applied; integer arrays raw, float arrays float64): the
library implementation the metric is tested against."""


@dataclass(frozen=True)
class MetricSpec:
    """What a metric is and how it is checked.

    Attributes:
        name: registry key (lower case, e.g. ``"psnr"``, ``"ms-ssim"``).
        higher_is_better: True for PSNR/SSIM/VIF, False for errors, NIQE and LPIPS.
        value_range: ``(low, high)`` of attainable values (``inf`` allowed), e.g. ``(0, inf)`` for
            PSNR (inf for identical images), ``(-1, 1)`` for SSIM.
        needs_weights: True when the metric needs a learned model file (LPIPS); such a metric
            reports NaN with a ``missing weights`` note when the file is absent.
        reference: the implementation the tests compare against (library + function + settings).
        unit: unit of the value (``dB``, ``intensity``, ``intensity^2``, ``1`` for unitless).
        description: one line with the formula and the source (paper / equation).
        no_reference: True when only the SR image is used (NIQE).
        fn: per-image implementation (see module doc); not part of equality or repr.
        check_tolerance: default tolerance of ``bench check`` with its reason; filled from
            the near-exact fallback by :func:`register_metric` when not given.
        weights_note: for ``needs_weights`` metrics, a function returning ``""`` when the weight
            files are present, else the ``missing weights: ...`` note with the fetch command.
        batched: stack implementation (:data:`BatchedFn`), or ``"package.module:attr"`` of one
            (imported on first use; avoids import cycles with the engine), or None. Used instead
            of ``fn`` unless the caller asks for ``engine="numpy"``.
        batched_always: True when ``batched`` is used under ``engine="numpy"`` too (a network
            metric: no NumPy implementation to fall back to).
        reference_fn: the library call of ``reference`` (:data:`ReferenceFn`), or None when it
            needs an optional extra / a port kept in the tests.
        tolerance: agreement with the reference (:class:`ReferenceTolerance`), or None.
        aliases: other accepted names (``"vifp"`` for ``"vif"``).
    """

    name: str
    higher_is_better: bool
    value_range: tuple[float, float]
    needs_weights: bool
    reference: str
    unit: str
    description: str
    no_reference: bool = False
    fn: PerImageFn | None = field(default=None, compare=False, repr=False)
    check_tolerance: CheckTolerance | None = None
    weights_note: Callable[[], str] | None = field(default=None, compare=False, repr=False)
    batched: BatchedFn | str | None = field(default=None, compare=False, repr=False)
    batched_always: bool = field(default=False, compare=False, repr=False)
    reference_fn: ReferenceFn | None = field(default=None, compare=False, repr=False)
    tolerance: ReferenceTolerance | None = field(default=None, compare=False)
    aliases: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def batched_fn(self) -> BatchedFn | None:
        """:attr:`batched` as a callable (a ``"module:attr"`` string imported here), or None."""
        if isinstance(self.batched, str):
            mod, _, attr = self.batched.partition(":")
            return getattr(importlib.import_module(mod), attr)
        return self.batched

    def to_dict(self) -> dict:
        """JSON-serialisable description (without the function)."""
        return {
            "name": self.name,
            "higher_is_better": self.higher_is_better,
            "value_range": list(self.value_range),
            "needs_weights": self.needs_weights,
            "reference": self.reference,
            "unit": self.unit,
            "description": self.description,
            "no_reference": self.no_reference,
            "check_tolerance": (None if self.check_tolerance is None
                                else dataclasses.asdict(self.check_tolerance)),
        }


# Canonical display order of the first metrics (full-reference pixel metrics, then NIQE and
# LPIPS); every other metric follows in the order its module is found (see _load_families).
METRICS: Registry[MetricSpec] = Registry(
    "metric", kind=MetricSpec,
    order=("psnr", "ssim", "mse", "rmse", "mae", "nrmse", "ms-ssim", "vif", "niqe", "lpips"))


class DuplicateMetricError(DuplicateError, KeyError):
    """A metric name registered twice (a ``KeyError`` too, as this error was before
    :class:`~medsr_bench.core.registry.DuplicateError` existed)."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add ``spec`` (and its ``aliases``) to :data:`METRICS`; returns the stored spec (its
    ``check_tolerance`` defaults to the near-exact fallback when not given).

    Raises:
        DuplicateMetricError: the name or an alias is already registered.
        TypeError: ``spec`` is not a :class:`MetricSpec`.
    """
    if not isinstance(spec, MetricSpec):
        raise TypeError(f"metric: expected MetricSpec, got {type(spec).__name__}")
    if spec.check_tolerance is None:
        spec = dataclasses.replace(spec, check_tolerance=_FALLBACK_TOLERANCE)
    try:
        return METRICS.register(spec.name, spec, aliases=spec.aliases)
    except DuplicateError as e:
        raise DuplicateMetricError(f"{e} (metric registered twice)") from None


def canonical_name(name: str) -> str:
    """Lower-case name with aliases resolved (``msssim`` -> ``ms-ssim``, ``vifp`` -> ``vif``)."""
    return METRICS.resolve(name.strip().lower())


def get_metric(name: str) -> MetricSpec:
    """The :class:`MetricSpec` of ``name`` (aliases accepted). Raises ``KeyError`` listing known names."""
    n = canonical_name(name)
    if n not in METRICS:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(list_metrics())}")
    return METRICS.get(n)


def list_metrics() -> list[str]:
    """Registered metric names: full-reference ones first (PSNR, SSIM, errors, MS-SSIM, VIF), then
    NIQE and LPIPS, then the others in the order their modules are found."""
    return METRICS.names()


def reference_tolerances() -> dict[str, float]:
    """The one table of per-image tolerances against the references: ``{name: atol}`` for every
    metric whose spec states a :class:`ReferenceTolerance` (tests and ``bench metrics bench``)."""
    return {n: s.tolerance.atol for n, s in METRICS.items() if s.tolerance is not None}


def _load_families() -> None:
    # The clinical measures (dice, cldice, correctness %; in benchmark.clinical), then every module
    # of this folder, in name order: each registers its metrics on import.
    importlib.import_module("medsr_bench.benchmark.clinical.measures")
    import_submodules("medsr_bench.benchmark.metrics")


METRICS.add_loader(_load_families)
