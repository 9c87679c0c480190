"""The clinical measures in the metric registry (direction, range, ``bench check`` tolerance).

They are not image-pair metrics: :mod:`benchmark.clinical` computes them from segmentations and
correctness maps and writes them as ``<measure>@<what>`` columns (``dice@vessel``,
``hallucination@opensr``); registering them here gives the verdicts (``higher_is_better``) and
``bench check`` (tolerance) their one home. Their ``fn`` refuses to score an image pair.
"""

from __future__ import annotations

import math

from medsr_bench.benchmark.metrics.registry import CheckTolerance, MetricSpec, register_metric


def _not_pairwise(sr, hr, settings) -> tuple[float, str]:
    return math.nan, "computed by benchmark.clinical, not from an image pair"


_DICE_TOL = CheckTolerance(1e-4, 0.0, "1e-4: one pixel of a 512x512 mask moves Dice by ~1e-5")
_PCT_TOL = CheckTolerance(0.01, 0.0, "0.01 percentage points: about 26 pixels of a 512x512 image")

for _name, _higher, _rng, _unit, _tol, _desc, _ref in (
    ("dice", True, (0.0, 1.0), "1", _DICE_TOL,
     "Dice 2|A&B|/(|A|+|B|) of a segmentation of the SR output vs a reference mask",
     "own code, tested against a hand count (tests/test_clinical.py)"),
    ("cldice", True, (0.0, 1.0), "1", _DICE_TOL,
     "clDice (Shit et al., CVPR 2021): harmonic mean of skeleton precision and sensitivity",
     "skimage.morphology.skeletonize + own eq. 1-2 (tests/test_clinical.py)"),
    ("improvement", True, (0.0, 100.0), "%", _PCT_TOL,
     "opensr-test correctness: % of potential pixels closer to HR than the interpolation",
     "opensr-test (Aybar et al. 2024) definitions, own code, planted cases"),
    ("omission", False, (0.0, 100.0), "%", _PCT_TOL,
     "opensr-test correctness: % of potential pixels where SR stays at the interpolation",
     "opensr-test (Aybar et al. 2024) definitions, own code, planted cases"),
    ("hallucination", False, (0.0, 100.0), "%", _PCT_TOL,
     "opensr-test correctness: % of potential pixels far from both HR and the interpolation",
     "opensr-test (Aybar et al. 2024) definitions, own code, planted cases"),
):
    register_metric(MetricSpec(name=_name, higher_is_better=_higher, value_range=_rng,
                               needs_weights=False, reference=_ref, unit=_unit, description=_desc,
                               fn=_not_pairwise, check_tolerance=_tol))

register_metric(MetricSpec(
    name="mos", higher_is_better=True, value_range=(1.0, 5.0), needs_weights=False,
    reference="bench reader score (benchmark/clinical/reader.py): mean of 1-5 reader scores",
    unit="score", description="mean opinion score of blinded readers on P4's 1-5 scale",
    fn=_not_pairwise, check_tolerance=CheckTolerance(0.01, 0.0, "MOS is printed to 2 decimals")))

#: the clinical measure names (not image-pair metrics)
CLINICAL_MEASURES = ("dice", "cldice", "improvement", "omission", "hallucination", "mos")

#: why a measure is absent from a run and what makes it computable (verdict reasons)
MISSING_REASONS = {
    "mos": ("testable with your readers: bench reader make RUN --out DIR, readers rate the page, "
            "then bench reader score CSV... --run RUN"),
}
