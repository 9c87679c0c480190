"""Read a run directory for the report, verdicts and exports: one normalised view of both layouts.

The run-directory contract (README "Outputs"): ``per_image.csv``, ``summary.csv``, ``run.json``.
Since the run-identity rewrite both tables carry a ``variant`` column (16-hex id) and ``run.json``
has a ``variants`` map ``{id: {suite, protocol, dataset, split, label, settings, status, reason,
n_images, figure_image, samples_dir, stand_in_for, skipped_files, ...}}``. Runs written before that
have no ``variant`` column and describe each protocol under ``run.json["datasets"]``; they load
with ``variant = ""`` (one variant per suite and dataset) and the figure sample under
``samples/<dataset>/<figure_image>/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from medsr_bench.models.train.trained import row_tag

# Status of a dataset/variant whose rows may be shown ("running": an interrupted run).
USABLE_STATUSES = ("done", "running", "incomplete")


class RunDirError(Exception):
    """The run directory cannot be read (missing or unreadable files). One line naming the file."""


@dataclass
class Variant:
    """One (suite, protocol, variant) of a run: what was evaluated and how.

    Attributes:
        id: the variant id (16 hex digits), ``""`` for runs written before variants existed.
        suite, protocol, dataset: names as in the tables (``dataset`` is None when the protocol's
            data was absent).
        label: short human text of the non-default settings (``""`` for the default reading).
        settings: the dotted setting keys whose value differs from the default.
        status: ``done`` | ``running`` | ``skipped`` | ``empty`` | ``error``.
        reason: why it was skipped or stopped ("" otherwise).
        samples_dir: run-dir-relative folder holding ``lr.png``, ``hr.png``, ``<model>.png`` of
            ``figure_image``, or None.
        meta: the raw ``run.json`` entry (params, params_hash, stand_in_for, note, ...).
    """

    id: str
    suite: str
    protocol: str
    dataset: str | None
    label: str = ""
    settings: dict = field(default_factory=dict)
    status: str = ""
    reason: str = ""
    figure_image: str | None = None
    samples_dir: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """True when the variant's rows may be read (status done or running, dataset known)."""
        return self.dataset is not None and self.status in USABLE_STATUSES


@dataclass
class RunData:
    """A run directory read once: ``meta`` (run.json), ``summary`` and ``per_image`` frames (both
    with a ``variant`` column, ``""`` for old runs) and the :class:`Variant` list in suite order."""

    run_dir: Path
    meta: dict
    summary: pd.DataFrame
    per_image: pd.DataFrame
    variants: list[Variant]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # stand-ins (:func:`stand_in_notes`)

    def variants_of(self, suite: str, protocol: str, split: str | None = None) -> list[Variant]:
        """The variants of one suite's protocol, in run order. With ``split`` (a paper's split),
        only the variants that evaluate it: every variant for ``"all"`` and for old runs whose
        variants do not record their split."""
        return [v for v in self.variants if v.suite == suite and v.protocol == protocol
                and (split in (None, "all") or v.meta.get("split") in (None, split))]

    def rows(self, v: Variant) -> pd.DataFrame:
        """Per-image rows of one variant."""
        pi = self.per_image
        if pi.empty or v.dataset is None:
            return pi.iloc[0:0]
        return pi[(pi.suite == v.suite) & (pi.dataset == v.dataset) & (pi.variant == v.id)]

    @cached_property
    def weights_sources(self) -> dict[str, str]:
        """``{model: weights source}`` (see :func:`weights_sources`)."""
        return weights_sources(self.meta)

    @cached_property
    def model_tags(self) -> dict[str, str]:
        """``{model: tag}`` for the models whose rows must carry a mark (see :func:`model_tags`)."""
        return model_tags(self.meta)

    def model_order(self) -> list[str]:
        """Models in the run's order (``model_order`` then any other model of ``models``)."""
        models = self.meta.get("models", {})
        order = [m for m in self.meta.get("model_order", []) if m in models]
        return order + [m for m in models if m not in order]


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype={"image_id": str, "suite": str, "dataset": str, "model": str,
                                      "variant": str, "split": str},
                         keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise RunDirError(f"{path}: unreadable CSV ({e})") from e
    if "variant" not in df.columns:
        df.insert(df.columns.get_loc("dataset") + 1 if "dataset" in df.columns else 0,
                  "variant", "")
    df["variant"] = df["variant"].fillna("")
    return df


def _variants(meta: dict) -> list[Variant]:
    suites = meta.get("suites", {})
    order = {s: i for i, s in enumerate(suites)}
    out: list[Variant] = []
    if isinstance(meta.get("variants"), dict):  # new layout
        for vid, v in meta["variants"].items():
            samples = v.get("samples_dir")
            out.append(Variant(
                id=vid, suite=v.get("suite", ""), protocol=v.get("protocol", ""),
                dataset=v.get("dataset"), label=v.get("label") or "",
                settings=dict(v.get("settings") or {}), status=v.get("status", ""),
                reason=v.get("reason") or "", figure_image=v.get("figure_image"),
                samples_dir=samples, meta=v))
        proto_rank = {(s, d.get("protocol")): j for s, sv in suites.items()
                      for j, d in enumerate(sv.get("datasets", []))}
        out.sort(key=lambda v: (order.get(v.suite, len(order)),
                                proto_rank.get((v.suite, v.protocol), 99), v.label))
        return out
    datasets = meta.get("datasets", {})
    for sname, s in suites.items():  # old layout: one variant per (suite, protocol)
        for d in s.get("datasets", []):
            ds = datasets.get(d.get("protocol"), {})
            name = ds.get("dataset")
            fig = ds.get("figure_image")
            out.append(Variant(
                id="", suite=sname, protocol=d.get("protocol", ""), dataset=name,
                status=ds.get("status", "not-run"), reason=ds.get("reason") or "",
                figure_image=fig, samples_dir=f"samples/{name}/{fig}" if fig and name else None,
                meta=ds))
    return out


def model_tags(meta: dict) -> dict[str, str]:
    """``{model: "UNDER-TRAINED (3 of 300,000 iterations)"}`` for every model of ``run.json``
    whose checkpoint is a ``bench train`` record marked under-trained or smoke (the record the
    run kept under ``models.<name>.info.weights.trained``); fully trained and official weights
    are absent from the map. Tolerates any shape of ``models`` (old runs: no entry)."""
    out = {}
    models = meta.get("models") if isinstance(meta.get("models"), dict) else {}
    for name, e in models.items():
        info = e.get("info") if isinstance(e, dict) else None
        weights = info.get("weights") if isinstance(info, dict) else None
        rec = weights.get("trained") if isinstance(weights, dict) else None
        tag = row_tag(rec) if isinstance(rec, dict) else ""
        if tag:
            out[name] = tag
    return out


def weights_sources(meta: dict) -> dict[str, str]:
    """``{model: source}`` of the weights each network of ``run.json`` ran on, as the loader
    recorded it (``models.<name>.info.weights.source``): ``official download``, ``ncnn release,
    fp16-truncated`` or ``project-trained``, with ``" (ncnn backend)"`` when the model ran through
    ncnn. Models without weights (interpolation) and old runs are absent."""
    out = {}
    models = meta.get("models") if isinstance(meta.get("models"), dict) else {}
    for name, e in models.items():
        info = e.get("info") if isinstance(e, dict) else None
        weights = info.get("weights") if isinstance(info, dict) else None
        if not isinstance(weights, dict):
            continue
        src = str(weights.get("source") or "official download")
        if info.get("backend") == "ncnn":
            src += " (ncnn backend)"
        out[name] = src
    return out


def with_tag(model: str, tags: dict[str, str]) -> str:
    """``model`` as a text table shows it: ``"srresnet [UNDER-TRAINED (3 of 200 iterations)]"``
    when ``tags`` marks it, else the name alone."""
    return f"{model} [{tags[model]}]" if tags.get(model) else model


def stand_in_entries(meta: dict) -> dict[str, dict]:
    """``{protocol: entry}`` of the protocols of a run scored on a stand-in dataset: the first
    variant entry (``run.json``'s or ``plan.json``'s ``variants``, else ``datasets``) that has
    ``stand_in_for``, e.g. ``{"cptac-gbm": {"dataset": "ct-head-standin", "stand_in_for":
    "CPTAC-GBM", "note": "...", ...}}``."""
    out: dict[str, dict] = {}
    entries = meta.get("variants") if isinstance(meta.get("variants"), dict) else \
        (meta.get("datasets") if isinstance(meta.get("datasets"), dict) else {})
    for key, v in entries.items():
        if isinstance(v, dict) and v.get("stand_in_for"):
            out.setdefault(v.get("protocol") or key, v)
    return out


def stand_in_notes(meta: dict) -> list[str]:
    """One line per protocol of the run scored on a stand-in dataset (the README's promise: a
    stand-in is named in every output), e.g. ``"cptac-gbm: scored on ct-head-standin, which
    stands in for CPTAC-GBM (head-CT DICOM series standing in; this is NOT CPTAC-GBM)"``."""
    return [f"{proto}: scored on {v.get('dataset')}, which stands in for {v['stand_in_for']}"
            + (f" ({v['note']})" if v.get("note") else "")
            for proto, v in stand_in_entries(meta).items()]


def run_problems(meta: dict) -> list[str]:
    """What a reader of a run must be told (one line each): an incomplete run (tasks pending,
    interrupted or failed), the degenerate pairs left out of the means and the under-trained
    (or smoke) checkpoints scored."""
    out = []
    tasks = meta.get("tasks") if isinstance(meta.get("tasks"), dict) else {}
    status = meta.get("status")
    if tasks.get("pending") or status in ("running", "interrupted", "failed"):
        out.append(f"incomplete run: {tasks.get('done', '?')} of {tasks.get('total', '?')} tasks "
                   f"done (status {status or 'unknown'}); values and verdicts use only what was "
                   "computed; re-run the same `bench run` to finish it")
    for v in (meta.get("variants") or {}).values():
        d = v.get("degenerate") if isinstance(v, dict) else None
        if d and d.get("reasons"):
            why = ", ".join(f"{n} {r}" for r, n in d["reasons"].items())
            out.append(f"{v.get('suite')}/{v.get('dataset') or v.get('protocol')}"
                       f"{' (' + v['label'] + ')' if v.get('label') else ''}: "
                       f"{v.get('n_degenerate', 0)} degenerate pair(s) excluded from means ({why})")
    for name, tag in model_tags(meta).items():
        out.append(f"{name}: {tag} checkpoint of `bench train`; its rows do not measure the "
                   "paper's model")
    return out


def _check_layout(meta, path: Path) -> None:
    if not isinstance(meta, dict):
        raise RunDirError(f"{path}: a JSON {type(meta).__name__}, expected an object written by "
                          "`bench run`")
    new = isinstance(meta.get("variants"), dict)
    old = isinstance(meta.get("datasets"), dict) and isinstance(meta.get("suites"), dict)
    if not (new or old):
        keys = ", ".join(sorted(map(str, meta))[:6]) or "none"
        raise RunDirError(f"{path}: not a run.json of `bench run` (no variants or datasets map; "
                          f"keys: {keys})")


def load_run(run_dir: Path) -> RunData:
    """Read ``run_dir`` (either layout) and validate it: run.json is an object of a known layout,
    the tables it was merged with are present and unchanged, per_image.csv exists when anything
    was evaluated. What a reader must know but can still render (incomplete run, degenerate
    pairs, under-trained checkpoints, tables run.json records no digests of) is listed in
    ``problems``.

    Raises:
        RunDirError: one line naming the file and what is wrong.
    """
    from medsr_bench.benchmark.rundir import digests_missing, table_problem

    run_dir = Path(run_dir)
    try:
        meta = json.loads((run_dir / "run.json").read_text())
    except FileNotFoundError as e:
        raise RunDirError(f"{run_dir}: no run.json (expected a folder written by `bench run`)") from e
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunDirError(f"{run_dir / 'run.json'}: unreadable ({e})") from e
    _check_layout(meta, run_dir / "run.json")
    problem = table_problem(run_dir, meta)
    if problem:
        raise RunDirError(problem)
    evaluated = sum(int(v.get("n_evaluated", 0) or 0) for v in (meta.get("variants") or {}).values()
                    if isinstance(v, dict))
    for name in ("per_image.csv", "summary.csv"):
        if not (run_dir / name).is_file() and (evaluated or (run_dir / "summary.csv").is_file()
                                               or (run_dir / "per_image.csv").is_file()):
            raise RunDirError(f"{run_dir / name}: missing (expected beside run.json, which records "
                              f"{evaluated} evaluated images); re-run the same `bench run` to "
                              "rewrite it from parts/")
    summary = pd.DataFrame(columns=["suite", "dataset", "variant", "model", "metric", "mean", "std",
                                    "n", "status"])
    per_image = pd.DataFrame(columns=["suite", "dataset", "variant", "image_id", "split", "model",
                                      "status"])
    if (run_dir / "summary.csv").is_file():
        summary = _read_csv(run_dir / "summary.csv")
    if (run_dir / "per_image.csv").is_file():
        per_image = _read_csv(run_dir / "per_image.csv")
    per_image = _join_reader_mos(run_dir, per_image)
    old_tables = digests_missing(run_dir, meta)
    return RunData(run_dir, meta, summary, per_image, _variants(meta),
                   ([old_tables] if old_tables else []) + run_problems(meta), stand_in_notes(meta))


def _join_reader_mos(run_dir: Path, per_image: pd.DataFrame) -> pd.DataFrame:
    """Add the ``mos`` column from ``reader/mos_per_image.csv`` (``bench reader score``), if any."""
    f = run_dir / "reader" / "mos_per_image.csv"
    if not f.is_file() or per_image.empty:
        return per_image
    mos = _read_csv(f)[["suite", "dataset", "variant", "image_id", "model", "mos"]]
    return per_image.merge(mos, on=["suite", "dataset", "variant", "image_id", "model"], how="left")
