"""The metric registry: one :class:`MetricSpec` per metric name.

Each metric family module (``psnr.py``, ``ssim.py``, ``vif.py``, ``niqe.py``, ``lpips.py``) registers
its metrics with :func:`register_metric` right beside the implementation, stating whether higher is
better, the value range, whether it needs weights, and the reference implementation it is tested
against (pattern: timm's ``_registry.py`` / pyiqa's ``default_model_configs.py``).

A per-image function has the signature ``fn(sr, hr, settings) -> (value, note)`` where ``sr`` and
``hr`` are float64 arrays ``(C, H, W)`` already in the metric domain, channel-converted and cropped
(see :func:`benchmark.metrics.domain.prepare_pair`), ``value`` is a Python float (may be ``inf`` or
``nan``) and ``note`` is ``""`` or the reason for a non-finite value. No-reference metrics ignore
``hr``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

PerImageFn = Callable[[np.ndarray, np.ndarray, object], tuple[float, str]]


@dataclass(frozen=True)
class CheckTolerance:
    """Default tolerance of ``bench check`` for a metric's summary mean: a value passes when
    ``|now - baseline| <= atol + rtol * |baseline|`` (numpy.isclose's rule), with the reason."""

    atol: float
    rtol: float
    reason: str


# Why these sizes: on CPU the same code and inputs give the same numbers up to float32 reassociation
# (BLAS build, thread count), which flips a few SR pixels by one 8-bit level at most. That moves a
# mean over a handful of images by about 1e-3 dB of PSNR and 1e-5 of SSIM/VIF; any real change
# (resize kernel, blur, crop, channel, weights) moves them by orders of magnitude more. Errors scale
# with the data range (8-bit vs [0, 1]), so they get a relative tolerance.
_CHECK_TOLERANCES = {
    "psnr": CheckTolerance(0.01, 0.0, "0.01 dB: 10x the drift of float32 reassociation on CPU; "
                                      "papers print PSNR to 2 decimals"),
    "ssim": CheckTolerance(1e-4, 0.0, "1e-4: 10x the reassociation drift; papers print SSIM to "
                                      "2-4 decimals"),
    "ms-ssim": CheckTolerance(1e-4, 0.0, "as SSIM"),
    "vif": CheckTolerance(1e-4, 0.0, "1e-4: 10x the reassociation drift of the float64 VIF"),
    "mse": CheckTolerance(0.0, 1e-3, "0.1 % relative: units depend on data_range (8-bit or [0, 1])"),
    "rmse": CheckTolerance(0.0, 1e-3, "as MSE"),
    "mae": CheckTolerance(0.0, 1e-3, "as MSE"),
    "nrmse": CheckTolerance(0.0, 1e-3, "as MSE (unitless but scale-free)"),
    "niqe": CheckTolerance(0.01, 0.0, "0.01: NIQE is printed to 2 decimals"),
    "lpips": CheckTolerance(1e-4, 0.0, "1e-4: 10x the float32 drift of the AlexNet features"),
}
_FALLBACK_TOLERANCE = CheckTolerance(0.0, 1e-6, "no stated tolerance: near-exact (relative 1e-6)")


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
            ``_CHECK_TOLERANCES`` by :func:`register_metric` when not given.
        weights_note: for ``needs_weights`` metrics, a function returning ``""`` when the weight
            files are present, else the ``missing weights: ...`` note with the fetch command.
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


_REGISTRY: dict[str, MetricSpec] = {}
_ORDER = ("psnr", "ssim", "mse", "rmse", "mae", "nrmse", "ms-ssim", "vif", "niqe", "lpips")
_ALIASES = {"msssim": "ms-ssim", "ms_ssim": "ms-ssim", "vifp": "vif"}


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add ``spec`` to the registry (a second registration of the same name raises ``KeyError``)."""
    if spec.name in _REGISTRY:
        raise KeyError(f"metric {spec.name!r} registered twice")
    if spec.check_tolerance is None:
        spec = dataclasses.replace(
            spec, check_tolerance=_CHECK_TOLERANCES.get(spec.name, _FALLBACK_TOLERANCE))
    _REGISTRY[spec.name] = spec
    return spec


def canonical_name(name: str) -> str:
    """Lower-case name with aliases resolved (``msssim`` -> ``ms-ssim``, ``vifp`` -> ``vif``)."""
    n = name.strip().lower()
    return _ALIASES.get(n, n)


def get_metric(name: str) -> MetricSpec:
    """The :class:`MetricSpec` of ``name`` (aliases accepted). Raises ``KeyError`` listing known names."""
    _load_families()
    n = canonical_name(name)
    if n not in _REGISTRY:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(list_metrics())}")
    return _REGISTRY[n]


def list_metrics() -> list[str]:
    """Registered metric names: full-reference ones first (PSNR, SSIM, errors, MS-SSIM, VIF), then
    NIQE and LPIPS, then anything registered later."""
    _load_families()
    known = [n for n in _ORDER if n in _REGISTRY]
    return known + [n for n in _REGISTRY if n not in _ORDER]


def _load_families() -> None:
    # Importing the family modules registers their metrics (idempotent).
    from medsr_bench.benchmark.clinical import measures  # noqa: F401  (dice, cldice, correctness %)

    # iqa_family: GMSD, HaarPSI, ... (issue 20), one module per metric
    from medsr_bench.benchmark.metrics import iqa_family, lpips, niqe, psnr, ssim, vif  # noqa: F401
