"""Clinical-fidelity evaluators: what pixel metrics cannot say about an SR output.

Registered evaluators (:data:`EVALUATORS`, :func:`register_evaluator`), each adding per-image
columns to ``per_image.csv`` (named ``<measure>@<what>`` so ``summary.csv``, the verdicts and
``bench check`` pick them up like region metrics):

- ``lr-consistency`` (every protocol): the SR output degraded back by the protocol's own
  degradation (``Protocol.degrade_hr``) against the LR input: ``psnr@lr``, ``ssim@lr`` (metric
  settings of the suite). A model that changes content it was given, or invents content that does
  not survive the degradation, scores low; the ideal is the LR's own re-degradation.
- ``correctness`` (every protocol): opensr-test's improvement / omission / hallucination classes
  (:mod:`.correctness`) as percentages of the potential pixels: ``improvement@opensr``,
  ``omission@opensr``, ``hallucination@opensr``.
- segmentation tasks (:mod:`.segmentation`): built-in ``vessel`` on DRIVE; more from a TOML file
  (:func:`load_task_config`, setting ``clinical.tasks_file``).

Entry point for the executor: :func:`evaluate_batch`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsr_bench.benchmark.clinical.correctness import (
    CorrectnessSettings,
    correctness_map,
    percentages,
)
from medsr_bench.benchmark.clinical.segmentation import (
    DRIVE_VESSELS,
    SegmentationTask,
    evaluate_segmentation,
)
from medsr_bench.data_prep.vessels import SegmenterSettings
from medsr_bench.models import load_model


@dataclass(frozen=True)
class ClinicalSettings:
    """Which clinical evaluators run and how (settings group ``clinical``).

    Attributes:
        evaluators: registered evaluator names run on every applicable dataset (default all
            three built-ins: ``lr-consistency``, ``correctness``, ``vessel``).
        tasks_file: TOML file of user segmentation tasks (``[tasks.<name>]`` tables, see
            :func:`load_task_config`); '' = none. Its tasks run beside ``evaluators``.
        min_ref: correctness maps: classed pixels need ``|bicubic - HR| >= min_ref`` ([0, 1]).
        patch: correctness maps: distance averaging window (1 = per pixel, opensr-test default).
    """

    evaluators: tuple[str, ...] = ("lr-consistency", "correctness", "vessel")
    tasks_file: str = ""
    min_ref: float = 0.01
    patch: int = 1

    def __post_init__(self) -> None:
        unknown = [e for e in self.evaluators if e not in EVALUATORS]
        if unknown:
            raise ValueError(f"unknown evaluator(s) {', '.join(unknown)}; registered: {', '.join(EVALUATORS)}")
        CorrectnessSettings(min_ref=self.min_ref, patch=self.patch)
        if self.tasks_file and not Path(self.tasks_file).is_file():
            raise ValueError(f"tasks_file {self.tasks_file}: file not found")

    def correctness(self) -> CorrectnessSettings:
        return CorrectnessSettings(min_ref=self.min_ref, patch=self.patch)


@dataclass
class EvalBatch:
    """What an evaluator sees of one batch.

    Attributes:
        protocol: the samples' protocol object (``degrade_hr``, ``regions``).
        samples: ``Sample`` list (HR, LR float32 [0, 1], meta).
        sr: SR outputs float32 ``(N, H, W[, 3])`` in [0, 1].
        data_root: data root (None: embedded demo).
        metric_settings: the scoring suite's :class:`MetricSettings`.
        settings: :class:`ClinicalSettings`.
    """

    protocol: object
    samples: list
    sr: np.ndarray
    data_root: Path | None
    metric_settings: object
    settings: ClinicalSettings


@dataclass(frozen=True)
class Evaluator:
    """A registered evaluator.

    Attributes:
        name: registry key.
        applies: fn(protocol) -> bool.
        fn: fn(EvalBatch) -> ({column: float64 (N,)}, notes list of N strings).
        uses_metric_settings: True when the values depend on the suite's metric settings (so it
            runs once per distinct metric settings, else once per batch).
        description: one line for the report.
    """

    name: str
    applies: Callable[[object], bool]
    fn: Callable[[EvalBatch], tuple[dict[str, np.ndarray], list[str]]]
    uses_metric_settings: bool = False
    description: str = ""


EVALUATORS: dict[str, Evaluator] = {}


def register_evaluator(ev: Evaluator) -> Evaluator:
    """Add an evaluator (a second one with the same name raises ``KeyError``)."""
    if ev.name in EVALUATORS:
        raise KeyError(f"evaluator {ev.name!r} registered twice")
    EVALUATORS[ev.name] = ev
    return ev


def segmentation_evaluator(task: SegmentationTask) -> Evaluator:
    """An :class:`Evaluator` running a :class:`SegmentationTask`."""
    return Evaluator(
        name=task.name, applies=lambda p, t=task: getattr(p, "name", "") in t.protocols,
        fn=lambda b, t=task: evaluate_segmentation(t, b.protocol, b.data_root, b.samples, b.sr),
        description=f"segmentation task {task.name!r} ({task.seg.method}, fit {task.fit}; {task.source})")


# ---------------------------------------------------------------- built-ins
def _lr_consistency(b: EvalBatch) -> tuple[dict[str, np.ndarray], list[str]]:
    from medsr_bench.benchmark.metrics import compute_metrics_batch, to_metric_domain

    n = len(b.samples)
    try:
        lr_hat = np.stack([b.protocol.degrade_hr(np.asarray(b.sr[i], np.float32), s.meta)
                           for i, s in enumerate(b.samples)])
    except NotImplementedError as e:
        return {c: np.full(n, np.nan) for c in ("psnr@lr", "ssim@lr")}, [f"lr-consistency: {e}"] * n
    lr = np.stack([s.lr for s in b.samples])
    ms = b.metric_settings
    vals, notes = compute_metrics_batch(to_metric_domain(lr_hat, ms), to_metric_domain(lr, ms), ms,
                                        names=["psnr", "ssim"])
    return {"psnr@lr": vals["psnr"], "ssim@lr": vals["ssim"]}, \
        [f"lr-consistency: {x}" if x else "" for x in notes]


_BASELINES: dict[str, object] = {}


def baseline_upscale(name: str, lr: np.ndarray, scale: int) -> np.ndarray:
    """LR stack upscaled by interpolation model ``name`` (cached per process)."""

    if name not in _BASELINES:
        _BASELINES[name] = load_model(name, device="cpu")
    return _BASELINES[name].upscale(lr, scale)


def _correctness(b: EvalBatch) -> tuple[dict[str, np.ndarray], list[str]]:
    s = b.settings.correctness()
    n = len(b.samples)
    lr = np.stack([x.lr for x in b.samples])
    base = baseline_upscale(s.baseline, lr, b.samples[0].meta.scale)
    cols = {f"{k}@opensr": np.full(n, np.nan) for k in ("improvement", "omission", "hallucination")}
    notes = [""] * n
    for i, smp in enumerate(b.samples):
        pct = percentages(correctness_map(b.sr[i], base[i], smp.hr, s))
        for k, v in pct.items():
            cols[f"{k}@opensr"][i] = v
        if not np.isfinite(pct["omission"]):
            notes[i] = f"correctness: no pixel where {s.baseline} misses HR by >= {s.min_ref}"
    return cols, notes


register_evaluator(Evaluator(
    "lr-consistency", lambda p: True, _lr_consistency, uses_metric_settings=True,
    description="SR degraded back by the protocol's own degradation vs the LR input (psnr@lr, ssim@lr)"))
register_evaluator(Evaluator(
    "correctness", lambda p: True, _correctness,
    description="opensr-test improvement / omission / hallucination, % of potential pixels"))
register_evaluator(segmentation_evaluator(DRIVE_VESSELS))


# ---------------------------------------------------------------- user tasks
def load_task_config(path: str | Path) -> list[SegmentationTask]:
    """Segmentation tasks from a TOML file and registered as evaluators.

    Format: one table per task::

        [tasks.lesion]
        protocols = ["custom-mydata"]
        truth = "{dir}/../labels/{stem}.png"   # or a region name of the protocol (vessel)
        roi = ""                                # or a region name (fov)
        fit = 0.05                              # or "cross-folder"
        [tasks.lesion.segmenter]                # data_prep.vessels.SegmenterSettings fields
        method = "frangi"
        sigmas = [1, 2, 3]

    Raises:
        ValueError: unreadable file, bad TOML, unknown key or value (one line naming the file).
    """
    import tomllib


    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: cannot read a TOML tasks file ({e})") from None
    tasks = []
    known = {"protocols", "truth", "roi", "fit", "segmenter"}
    for name, t in (data.get("tasks") or {}).items():
        if not isinstance(t, dict) or set(t) - known or "protocols" not in t:
            raise ValueError(f"{path}: [tasks.{name}] needs 'protocols' and only keys {', '.join(sorted(known))}")
        try:
            seg = SegmenterSettings(**{k: tuple(v) if isinstance(v, list) else v
                                       for k, v in (t.get("segmenter") or {}).items()})
            fit = t.get("fit", "cross-folder")
            if isinstance(fit, str) and fit != "cross-folder":
                raise ValueError(f"fit must be 'cross-folder' or a number, got {fit!r}")
            task = SegmentationTask(name=name, protocols=tuple(t["protocols"]), truth=t.get("truth", "vessel"),
                                    roi=t.get("roi", ""), seg=seg, fit=fit, source=str(path))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: [tasks.{name}]: {e}") from None
        tasks.append(task)
        if name not in EVALUATORS:
            register_evaluator(segmentation_evaluator(task))
    return tasks


def active_evaluators(settings: ClinicalSettings, protocol) -> list[Evaluator]:
    """The evaluators of ``settings`` (and its tasks file) that apply to ``protocol``."""
    names = list(settings.evaluators)
    if settings.tasks_file:
        names += [t.name for t in load_task_config(settings.tasks_file)]
    return [EVALUATORS[n] for n in dict.fromkeys(names) if EVALUATORS[n].applies(protocol)]


def evaluate_batch(protocol, samples: list, sr: np.ndarray, data_root: Path | None,
                   metric_settings, settings: ClinicalSettings | None = None,
                   memo: dict | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """Every applicable evaluator's columns for one batch and one suite's metric settings.

    Args:
        memo: a dict shared across the scorings of one batch, so evaluators that do not use the
            metric settings run once.

    Returns:
        ``({column: float64 (N,)}, notes)``. An evaluator that raises adds no column and a note on
        every image naming the error (one evaluator never stops a run).
    """
    settings = settings or ClinicalSettings()
    memo = {} if memo is None else memo
    b = EvalBatch(protocol, samples, sr, data_root, metric_settings, settings)
    cols: dict[str, np.ndarray] = {}
    notes = [""] * len(samples)
    for ev in active_evaluators(settings, protocol):
        key = (ev.name, metric_settings if ev.uses_metric_settings else None)
        if key not in memo:
            try:
                memo[key] = ev.fn(b)
            except Exception as e:  # noqa: BLE001 - one evaluator never stops a run
                memo[key] = ({}, [f"{ev.name} failed: {type(e).__name__}: {e}"] * len(samples))
        c, nt = memo[key]
        cols.update(c)
        notes = ["; ".join(x for x in (a, n_) if x) for a, n_ in zip(notes, nt, strict=True)]
    return cols, notes


def clinical_meta(overrides: dict) -> dict:
    """run.json's ``clinical`` entry: the resolved settings (defaults + ``clinical.*`` overrides),
    the correctness settings, and per evaluator its description (and a task's full definition)."""
    from medsr_bench.benchmark.settings import params_from_dict

    s = params_from_dict(ClinicalSettings, overrides) if overrides else ClinicalSettings()
    tasks = {t.name: t for t in ([DRIVE_VESSELS] + (load_task_config(s.tasks_file) if s.tasks_file else []))}
    names = list(dict.fromkeys([*s.evaluators, *(t for t in tasks if t != DRIVE_VESSELS.name and s.tasks_file)]))
    return {"settings": dataclasses.asdict(s), "correctness": dataclasses.asdict(s.correctness()),
            "evaluators": {n: {"description": EVALUATORS[n].description,
                               **({"task": tasks[n].describe()} if n in tasks else {})} for n in names}}
