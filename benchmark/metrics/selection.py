"""The per-run choice of metrics (``bench run --metrics psnr,ssim,haarpsi`` / TOML ``metrics = [...]``)."""

from __future__ import annotations

from collections.abc import Sequence

from medsr_bench.benchmark.metrics.registry import canonical_name, get_metric, list_metrics


def parse_metric_list(spec: str | Sequence[str]) -> tuple[str, ...]:
    """Canonical metric names of ``"psnr, SSIM,msssim"`` or ``["psnr", "ssim"]``, in the given order,
    duplicates dropped (aliases resolved: ``msssim`` -> ``ms-ssim``).

    Raises:
        ValueError: an empty list, or unknown names; the message lists every valid name
            (``"unknown metric 'x'; valid: psnr, ssim, ..."``).
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(n).strip() for n in items if str(n).strip()]
    valid = ", ".join(list_metrics())
    if not names:
        raise ValueError(f"metrics: expected at least one metric name; valid: {valid}")
    bad = []
    out: list[str] = []
    for n in names:
        try:
            c = get_metric(n).name
        except KeyError:
            bad.append(n)
            continue
        if c not in out:
            out.append(c)
    if bad:
        raise ValueError(f"unknown metric {', '.join(repr(b) for b in bad)}; valid: {valid}")
    return tuple(out)


__all__ = ["parse_metric_list", "canonical_name"]
