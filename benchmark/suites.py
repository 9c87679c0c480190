"""What each paper's suite runs: datasets (protocols), scale, metric settings, paper table.

Every metric convention a paper left open is an explicit field here with its default and the
reason; ``run.json`` and the report print the values used. Source: ../shared/papers/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medsr_bench.benchmark.metrics import MetricSettings
from medsr_bench.core.registry import Registry
from medsr_bench.data_prep.protocols.custom import CustomParams, CustomProtocol
from medsr_bench.data_prep.registry import register_custom

# The metrics the papers report (the metric columns of per_image.csv); the metric registry's own
# DEFAULT_METRICS (benchmark/metrics/compute.py) also holds RMSE and MS-SSIM, which no paper
# table uses.
REPORTED_METRICS = ("psnr", "ssim", "mse", "nrmse", "mae", "vif")


@dataclass(frozen=True)
class DatasetRun:
    """One dataset of a suite.

    Attributes:
        protocol: data_prep protocol name (``drive``...).
        metrics: the :class:`~medsr_bench.benchmark.metrics.MetricSettings` this suite scores the
            dataset with (the one home of metric conventions; ``--set metric.<field>=...``
            overrides them for a run).
        why: one line on where the metric settings come from (shown in run.json and the report).
        split: split evaluated (None = the protocol's evaluation split).
        paper_table: which paper table the rows answer (e.g. ``P1 v2 Table 1``), or "".
    """

    protocol: str
    metrics: MetricSettings
    why: str = ""
    split: str | None = None
    paper_table: str = ""


@dataclass(frozen=True)
class Suite:
    """A paper's reproduction suite.

    Attributes:
        name: ``aghelan`` | ``khandare`` | ``rashid`` | ``beallor`` | ``demo``.
        title: paper title (short).
        paper: id in ../shared/papers (P1..P4).
        datasets: the :class:`DatasetRun` list.
        paper_models: the models the paper reports (the report lists these first).
        metrics: metric names computed.
    """

    name: str
    title: str
    paper: str
    datasets: tuple[DatasetRun, ...]
    paper_models: tuple[str, ...] = ()
    metrics: tuple[str, ...] = REPORTED_METRICS
    notes: tuple[str, ...] = field(default_factory=tuple)


_EIGHT_BIT_GRAY = MetricSettings(channel="gray")
_EIGHT_BIT_RGB = MetricSettings(channel="rgb")
_UNIT_FLOAT = MetricSettings(data_range=1.0, quantize=False)
_WHY_GRAY = "grayscale images scored as 8-bit, no crop (papers do not state channel or crop border)"
_WHY_RGB = "P1 does not state RGB vs Y nor crop border: all RGB channels as 8-bit, no crop"
_WHY_P4 = "P4 scores with scikit-image on 8-bit grayscale images; no crop"
_WHY_UNIT = "P3 normalises slices to [0, 1]; metrics on floats with data_range 1 (NRMSE / mean of GT)"

SUITES: Registry[Suite] = Registry("suite", kind=Suite)
"""The suites by name, in definition order (``custom``: the user datasets of this process)."""


def _add(s: Suite) -> None:
    SUITES.register(s.name, s)


_add(Suite(
    name="aghelan",
    title="Aghelan & Rouhani, Fine-tuned GAN-based model for medical image SR (v2)",
    paper="P1",
    datasets=(
        DatasetRun("drive", _EIGHT_BIT_RGB, _WHY_RGB, paper_table="P1 v2 Table 1 (DRIVE, x2)"),
        DatasetRun("chestxray14", _EIGHT_BIT_GRAY, _WHY_GRAY,
                   paper_table="P1 v2 Table 2 (ChestX-ray14, x4)"),
    ),
    paper_models=("realesrgan-x4plus", "realesrgan-finetuned-retina", "realesrgan-finetuned-cxr"),
))
_add(Suite(
    name="khandare",
    title="Khandare et al., SRGAN, ESRGAN and Real-ESRGAN on X-ray",
    paper="P2",
    datasets=(
        DatasetRun("chestxray14", _EIGHT_BIT_GRAY, _WHY_GRAY,
                   paper_table="P2 Tables 1-3 (unnamed X-ray set, per image)"),
    ),
    paper_models=("srgan", "esrgan", "realesrgan-x4plus"),
    notes=("P2 names neither dataset, scale nor degradation; ChestX-ray14 x4 stands in.",),
))
_add(Suite(
    name="rashid",
    title="Rashid, Shakibapour & Ebrahimi, Single MR image SR using GAN",
    paper="P3",
    datasets=(DatasetRun("brats2018", _UNIT_FLOAT, _WHY_UNIT,
                         paper_table="P3 Table 2 (BraTS 2018 T1 test)"),),
    paper_models=("bilinear", "bicubic", "realesrgan-1ch"),
))
_add(Suite(
    name="beallor",
    title="Beallor et al., Medical imaging enhancement using GANs",
    paper="P4",
    datasets=(
        DatasetRun("cptac-gbm", _EIGHT_BIT_GRAY, _WHY_P4, split="val",
                   paper_table="P4 Table 1 (CPTAC-GBM x4, validation set)"),
        DatasetRun("cptac-gbm", _EIGHT_BIT_GRAY, _WHY_P4, split="test",
                   paper_table="P4 Table 2 (CPTAC-GBM x4, test set)"),
    ),
    paper_models=("nearest", "bilinear", "bicubic", "srresnet", "srgan"),
))
_add(Suite(
    name="demo",
    title="Embedded default: real images shipped inside installed packages",
    paper="-",
    datasets=(
        DatasetRun("demo-retina", _EIGHT_BIT_RGB, _WHY_RGB),
        DatasetRun("demo-cxr", _EIGHT_BIT_GRAY, _WHY_GRAY),
        DatasetRun("demo-brain", _UNIT_FLOAT, _WHY_UNIT),
        DatasetRun("demo-ct", _EIGHT_BIT_GRAY, _WHY_GRAY),
    ),
    notes=(
        "Embedded images run through the papers' protocol code; they are not the papers' "
        "datasets, so no paper numbers are compared.",
    ),
))

USER_SUITE = "custom"


def register_user_datasets(entries: list[dict]) -> Suite:
    """Register user datasets (from ``bench run --config``) and the suite ``custom`` that runs
    them; returns the suite.

    Args:
        entries: ``{"name", "title", "params" (CustomParams as a dict), "metrics" (MetricSettings
            fields), "source" (config file)}`` per dataset, as recorded in the run's identity.
    """
    from medsr_bench.benchmark.settings import params_from_dict

    runs = []
    for e in entries:
        proto = CustomProtocol(params_from_dict(CustomParams, e["params"]), config_source=e["source"])
        register_custom(proto)
        runs.append(DatasetRun(proto.name, MetricSettings(**e["metrics"]),
                               f"user dataset config {e['source']}",
                               paper_table=f"{e['title']} (user dataset)"))
    sources = ", ".join(dict.fromkeys(e["source"] for e in entries))
    suite = Suite(name=USER_SUITE, title=f"User datasets ({sources})", paper="user",
                  datasets=tuple(runs),
                  notes=("Datasets defined by the user's config; no paper numbers are compared.",))
    SUITES.register(USER_SUITE, suite, replace=True)
    return suite


def user_dataset_entries(datasets) -> list[dict]:
    """The identity entries of :class:`~data_prep.config.CustomDataset` objects."""
    fields = set(MetricSettings.__dataclass_fields__)
    return [{"name": d.name, "title": d.title, "params": d.protocol.params_dict(),
             "metrics": {k: v for k, v in d.metrics.items() if k in fields},
             "source": str(d.source)} for d in datasets]


# ``all`` = the four paper suites.
ALL = ("aghelan", "khandare", "rashid", "beallor")


def resolve_suites(name: str) -> list[Suite]:
    """Suites selected by ``--suite`` (``all`` or a comma list of names).

    Raises:
        KeyError: an unknown name; the message lists the known suites.
    """
    names = ALL if name == "all" else tuple(n.strip() for n in name.split(",") if n.strip())
    unknown = [n for n in names if n not in SUITES]
    if unknown or not names:
        from medsr_bench.core import did_you_mean

        hint = did_you_mean(unknown[0], ["all", *SUITES]) if unknown else ""
        raise KeyError(f"unknown suite {', '.join(unknown) or repr(name)}{hint}; "
                       f"known: all, {', '.join(SUITES)}")
    return [SUITES[n] for n in names]


def metric_overrides(suites: list[Suite] | None = None) -> dict[str, dict[str, object]]:
    """Where a suite scores with a metric setting other than
    :class:`~medsr_bench.benchmark.metrics.MetricSettings`'s default (its
    :attr:`DatasetRun.metrics`, the one place suites set them): ``{field: {label: value}}``,
    e.g. ``{"data_range": {"rashid": 1.0, "demo/demo-brain": 1.0}, ...}``. The label is the
    suite's name when every dataset of the suite uses that value, else ``suite/protocol``.
    ``suites`` defaults to every registered suite."""
    base = MetricSettings()
    out: dict[str, dict[str, object]] = {}
    for s in suites if suites is not None else list(SUITES.values()):
        for f in MetricSettings.__dataclass_fields__:
            vals = [(d.protocol, getattr(d.metrics, f)) for d in s.datasets]
            changed = [(p, v) for p, v in vals if v != getattr(base, f)]
            if not changed:
                continue
            if len(changed) == len(vals) and len({repr(v) for _, v in changed}) == 1:
                out.setdefault(f, {})[s.name] = changed[0][1]
            else:
                for p, v in dict(changed).items():
                    out.setdefault(f, {})[f"{s.name}/{p}"] = v
    return out
