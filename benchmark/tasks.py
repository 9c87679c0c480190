"""A run's explicit identity: its configuration, its variants and its tasks.

``plan(config) -> Plan`` turns a :class:`RunConfig` into

* **variants**: one reading of one protocol as scored by one suite: suite, protocol + params, split,
  metric settings and model options. Its id, :func:`variant_id`, is the hash of exactly those, so
  two readings of one protocol (``--set drive.blur_sigma=1.5`` beside the default) live side by
  side in one run dir; suites that read a protocol the same way share the SR pass;
* **tasks**: frozen, JSON-serialisable units of work: protocol + params, split, shard (index,
  count, image ids), one model with its engine options and weights sha256, and the metric settings
  of every (suite, variant) scoring it. :attr:`Task.key` (a stable hash of all of that and the
  prepared set's source fingerprint) names the task's part file: resume, caching and executors all
  use it.

Prepared HR/LR sets are built here, before any fan-out, so workers only read them. The figure image
of every dataset is chosen here too (the first image of the evaluated set).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from medsr_bench.benchmark import settings as st
from medsr_bench.benchmark.run_config import (  # noqa: F401  (re-exported: their old home)
    DEFAULT_SHARD_SIZE,
    RunConfig,
    RunError,
)
from medsr_bench.core import stable_hash
from medsr_bench.data_prep import DataError, DatasetMissing, get_protocol
from medsr_bench.data_prep.io import DEFAULT_MAX_PIXELS, pixel_limit
from medsr_bench.data_prep.prepared import ensure_prepared
from medsr_bench.models import get_spec
from medsr_bench.models.registry import resolve_weights
from medsr_bench.models.weights import sha256_file  # memoised on path, size and mtime

log = logging.getLogger("medsr_bench")

@dataclass(frozen=True)
class Scoring:
    """One (suite, variant) scoring a task's SR outputs."""

    suite: str
    variant: str
    metric_settings: dict
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class Task:
    """One unit of work: one model on one shard of one prepared set.

    Attributes:
        protocol: data_prep protocol name.
        params: the protocol's params (JSON dict) after the run's settings.
        params_hash: :meth:`Protocol.params_hash`.
        split: split evaluated (``test``, ``val``, ``all`` ...).
        limit: the selection's ``--limit`` (the prepared set's selection).
        shard: ``(index, count)``.
        image_ids: the shard's images (manifest order); empty = the whole set, read on the fly.
        model: registry name.
        model_options: engine options passed to ``load_model``.
        weights_sha256: sha256 of the weights file found at plan time ('' when none / absent).
        scorings: every (suite, variant, metric settings) scoring this task.
        figure_image: the dataset's figure image when it is in this shard, else ''.
        source_fingerprint: the prepared set's input fingerprint ('' without a cache).
        scale: the protocol's scale.
        plan_status: ``''`` (compute) or a status decided at plan time (``unsupported-scale``,
            ``missing-weights``) with ``plan_note``: the task then writes status rows only.
        max_pixels: the run's decompression-bomb limit when it is not the default (None: the
            default; then left out of :meth:`to_dict`, so the keys of earlier runs stay). Workers
            read the shard under it (``data_prep.io.pixel_limit``).
        model_source: a user model's entry (``models.spandrel_model``), from which any worker
            registers it; ``{}`` for registered models (then left out of :meth:`to_dict`, so the
            keys of other tasks do not change).
    """

    protocol: str
    params: dict
    params_hash: str
    split: str
    limit: int | None
    shard: tuple[int, int]
    image_ids: tuple[str, ...]
    image_splits: tuple[str, ...]
    model: str
    model_options: dict
    weights_sha256: str
    scorings: tuple[Scoring, ...]
    figure_image: str
    source_fingerprint: str
    scale: int
    plan_status: str = ""
    plan_note: str = ""
    clinical: dict = field(default_factory=dict)
    model_source: dict = field(default_factory=dict)
    max_pixels: int | None = None

    @property
    def key(self) -> str:
        """Stable hash of everything that determines the task's part (its file name)."""
        return stable_hash(self.to_dict(), 20)

    @property
    def sr_identity(self) -> str:
        """Hash of everything but the scorings: tasks with equal identity compute the same SR
        outputs on the same images and can be merged (see :meth:`Plan.extend`)."""
        d = self.to_dict()
        d.pop("scorings")
        return stable_hash(d, 20)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["scorings"] = [dataclasses.asdict(s) for s in self.scorings]
        if not d["clinical"]:  # default clinical settings: keys of earlier runs stay the same
            d.pop("clinical")
        if not d["model_source"]:
            d.pop("model_source")
        if d["max_pixels"] is None:
            d.pop("max_pixels")
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> Task:
        d = dict(d)
        d["scorings"] = tuple(Scoring(s["suite"], s["variant"], dict(s["metric_settings"]),
                                      tuple(s["metrics"])) for s in d["scorings"])
        for k in ("shard", "image_ids", "image_splits"):
            d[k] = tuple(d[k])
        return cls(**d)

    def describe(self) -> str:
        return f"{self.protocol}[{self.split}] shard {self.shard[0] + 1}/{self.shard[1]} x {self.model}"


@dataclass
class Plan:
    """The variants, tasks and dataset entries of one or more configurations.

    Attributes:
        variants: ``{variant id: run.json entry}`` (see :func:`plan`).
        tasks: the tasks, deduplicated by key, in plan order.
        suites: ``{suite: run.json entry}``.
        metric_names: metric columns, in order.
        models: model names (registry order of first appearance).
    """

    variants: dict[str, dict] = field(default_factory=dict)
    tasks: list[Task] = field(default_factory=list)
    suites: dict[str, dict] = field(default_factory=dict)
    metric_names: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    naive: dict = field(default_factory=lambda: {"tasks": 0, "images": 0, "preparations": 0})

    def counts(self) -> dict:
        """SR work of this plan: computing tasks, images super-resolved, prepared sets."""
        comp = [t for t in self.tasks if not t.plan_status]
        return {"tasks": len(comp), "images": sum(len(t.image_ids) for t in comp),
                "preparations": len({(t.protocol, t.params_hash, t.split, t.limit)
                                     for t in self.tasks})}

    def extend(self, other: Plan) -> None:
        """Add another configuration's plan (``--add``, sweeps). Tasks that compute the same SR
        outputs (:attr:`Task.sr_identity`) become one task scored by the union of their suites'
        and variants' metric settings, so a metric-only variant costs no SR pass."""
        for k, v in other.counts().items():  # what the configurations would cost one by one
            self.naive[k] += v
        for k, v in other.variants.items():
            self.variants.setdefault(k, v)
        index = {t.sr_identity: i for i, t in enumerate(self.tasks)}
        for t in other.tasks:
            i = index.get(t.sr_identity)
            if i is None:
                index[t.sr_identity] = len(self.tasks)
                self.tasks.append(t)
                continue
            cur = self.tasks[i]
            extra = tuple(sc for sc in t.scorings if sc not in cur.scorings)
            if extra:
                self.tasks[i] = dataclasses.replace(cur, scorings=cur.scorings + extra)
        for k, v in other.suites.items():
            self.suites.setdefault(k, v)
        self.metric_names = list(dict.fromkeys([*self.metric_names, *other.metric_names]))
        self.models = list(dict.fromkeys([*self.models, *other.models]))


def variant_id(suite: str, protocol: str, params_hash: str, split: str,
               metric_settings: Mapping, model_options: Mapping,
               metrics: Sequence[str] | None = None) -> str:
    """The id of one reading of one suite: hash of the suite, protocol params, split, metric
    settings and model options (two suites reading a protocol the same way share the SR pass,
    not the id, so each keeps its own run.json entry), and ``metrics`` (the metric set) only when
    it is not None, i.e. differs from the suite's default set (existing ids stay)."""
    key = {"suite": suite, "protocol": protocol, "params_hash": params_hash,
           "split": split, "metric_settings": dict(metric_settings),
           "model_options": dict(model_options)}
    if metrics is not None:
        key["metrics"] = list(metrics)
    return stable_hash(key)


def _weights_state(model: str, weights_dir: Path | None) -> tuple[str, str]:
    """``(sha256 of the weights file, missing note)``: ('', '') for models without weights,
    ('', note) when the file is absent (the model row is then ``missing-weights``)."""

    try:
        path, _, obtain, _ = resolve_weights(model, weights_dir)
    except ValueError as e:
        return "", str(e)
    if path is None:
        return "", ""
    if not path.is_file():
        return "", f"expected {path.name} in {path.parent}; get it: {obtain}"

    return sha256_file(path), ""


def plan(cfg: RunConfig, progress=None) -> Plan:
    """Variants and tasks of ``cfg``; builds missing prepared sets (before any fan-out).

    Datasets that are absent, fail under ``--strict`` or evaluate nothing get a variant entry with
    status ``skipped`` / ``error`` / ``empty`` and the reason, and no tasks.

    Raises:
        RunError: an unknown suite, protocol or model (the CLI checks these first).
    """
    from medsr_bench.benchmark.suites import SUITES

    out = Plan(models=list(cfg.models))
    opts = st.model_options(cfg.settings)
    sources = {e["name"]: e for e in cfg.user_models}
    groups: dict[tuple, list] = {}  # (protocol, split) -> [(suite, DatasetRun, MetricSettings)]
    chosen: dict[str, tuple[str, ...]] = {}  # suite -> --metrics set, where it differs from its own
    for sname in cfg.suites:
        s = SUITES[sname]
        if cfg.metrics and tuple(cfg.metrics) != tuple(s.metrics):
            s = dataclasses.replace(s, metrics=tuple(cfg.metrics))
            chosen[sname] = s.metrics
        out.metric_names = list(dict.fromkeys([*out.metric_names, *s.metrics]))
        out.suites[sname] = {"title": s.title, "paper": s.paper, "paper_models": list(s.paper_models),
                             "metrics": list(s.metrics), "notes": list(s.notes), "datasets": []}
        for d in s.datasets:
            ms = st.apply_metric(d.metrics, cfg.settings)
            groups.setdefault((d.protocol, d.split), []).append((s, d, ms))
    root = Path(cfg.data_root) if cfg.data_root is not None else None
    for (pname, split_opt), users in groups.items():
        proto = get_protocol(pname, st.protocol_params(pname, cfg.settings))
        split = split_opt or proto.eval_split
        ph = proto.params_hash()
        pdict = proto.params_dict()
        scorings = []
        base = {"protocol": pname, "split": split, "params": pdict, "params_hash": ph,
                "title": proto.title, "scale": proto.scale, "paper": proto.paper,
                "model_options": opts, "selection_rule": getattr(proto, "selection_rule", ""),
                "limit": cfg.limit}
        entries = []
        for s, d, ms in users:
            vid = variant_id(s.name, pname, ph, split, dataclasses.asdict(ms), opts,
                             chosen.get(s.name))
            changed = {k: v for k, v in cfg.settings.items()
                       if k.split(".", 1)[0] in (pname, "metric", "model")}
            e = {**base, "suite": s.name, "paper_table": d.paper_table, "why": d.why,
                 "metric_settings": dataclasses.asdict(ms), "settings": changed,
                 "label": ", ".join([*(f"{k}={v}" for k, v in changed.items()),
                                     *([f"metrics={','.join(chosen[s.name])}"]
                                       if s.name in chosen else [])])}
            out.variants[vid] = e
            entries.append((vid, e))
            out.suites[s.name]["datasets"].append(
                {"protocol": pname, "split": split, "paper_table": d.paper_table, "variant": vid,
                 "eval": {**dataclasses.asdict(ms), "why": d.why}})
            scorings.append(Scoring(s.name, vid, dataclasses.asdict(ms), tuple(s.metrics)))

        def mark(entries=entries, **kw):
            for _vid, e in entries:
                e.update(kw)

        try:
            src = proto.resolve(root if root is not None else Path("."))
        except DatasetMissing as e:
            mark(status="skipped", reason=str(e), how_to_get=e.how_to_get,
                 expected_layout=e.expected_layout, n_images=0)
            continue
        mark(dataset=src.dataset, source=str(src.path), stand_in_for=src.stand_in_for,
             note=src.note)
        if cfg.prepared_dir is not None:
            try:
                with pixel_limit(cfg.max_pixels):
                    folder, meta, rows = ensure_prepared(proto, root, split, cfg.limit,
                                                         cfg.prepared_dir, strict=cfg.strict,
                                                         progress=progress)
            except (DataError, ValueError) as e:
                mark(status="error", reason=str(e), n_images=0)
                continue
            ids = [r["image_id"] for r in rows]
            splits = [r["split"] for r in rows]
            fp = meta.get("source_fingerprint", "")
            mark(prepared_set=str(folder), skipped_files=meta.get("skipped", []),
                 excluded=meta.get("excluded", {}), protocol_counts=meta.get("protocol_counts", {}),
                 split_counts=meta.get("counts", {}), n_images=len(ids))
            if not ids:
                mark(status="empty", reason=_empty_reason(proto, split, meta))
                continue
            size = max(1, int(cfg.shard_size))
            chunks = [(tuple(ids[i:i + size]), tuple(splits[i:i + size]))
                      for i in range(0, len(ids), size)]
            figure = ids[0]
        else:
            chunks, fp, figure = [((), ())], "", ""
        mark(status="planned", figure_image=figure,
             samples_dir="")  # samples_dir is filled in per model family by merge
        for m in cfg.models:
            spec = get_spec(m)
            sha, missing = _weights_state(m, cfg.weights_dir)
            status, note = "", ""
            if spec.scale is not None and spec.scale < proto.scale:
                status, note = "unsupported-scale", f"native x{spec.scale} model cannot produce x{proto.scale}"
            elif spec.scale is not None and spec.scale % proto.scale:
                status, note = "unsupported-scale", (
                    f"native x{spec.scale} model cannot produce x{proto.scale} (x{proto.scale} is "
                    f"not a divisor of x{spec.scale}; only x{spec.scale} and its divisors)")
            elif missing:
                status, note = "missing-weights", missing
            for i, (cids, csplits) in enumerate(chunks):
                out.tasks.append(Task(
                    protocol=pname, params=pdict, params_hash=ph, split=split,
                    limit=cfg.limit, shard=(i, len(chunks)), image_ids=cids, image_splits=csplits,
                    model=m, model_options=dict(opts), weights_sha256=sha,
                    scorings=tuple(scorings),
                    figure_image=figure if (figure in cids or not cids) else "",
                    source_fingerprint=fp, scale=proto.scale, plan_status=status, plan_note=note,
                    clinical=st.group_overrides(cfg.settings, "clinical"),
                    model_source=dict(sources.get(m, {})),
                    max_pixels=None if cfg.max_pixels == DEFAULT_MAX_PIXELS else cfg.max_pixels))
    return out


def _empty_reason(proto, split: str, meta: Mapping) -> str:
    counts = {**(meta.get("protocol_counts", {}) or {}), **(meta.get("counts", {}) or {})}
    sizes = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if not isinstance(v, dict)) \
        or "no usable item at all"
    extra = []
    if meta.get("n_skipped"):
        extra.append(f"{meta['n_skipped']} file(s) skipped as unreadable")
    if meta.get("excluded"):
        extra.append(f"{sum(meta['excluded'].values())} left out by the protocol's rule")
    return (f"no image in split {split!r} (counts: {sizes}"
            + (f"; {'; '.join(extra)}" if extra else "") + ")")
