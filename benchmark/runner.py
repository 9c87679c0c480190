"""Run suites: samples -> models -> metrics -> rows in a run directory, resumable.

Work is planned as one :class:`DatasetGroup` per distinct (protocol, split): every suite that
evaluates the same prepared images shares one SR pass per (image, model), then each suite scores
it with its own metric settings. A group is the unit a cluster executor (Ray/Slurm, later) ships.

Outputs (contract of issue 2): ``per_image.csv``, ``summary.csv``, ``run.json`` and, for the report's
crop-zoom figures, ``samples/<dataset>/<image_id>/{lr,hr,<model>}.png`` (16-bit PNG, lossless).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import medsr_bench.compat  # noqa: F401  (before torchvision/basicsr)
from medsr_bench import __version__
from medsr_bench import core as provenance
from medsr_bench.benchmark.results_io import (
    ID_COLUMNS,
    TAIL_COLUMNS,
    PerImageTable,
    atomic_write_json,
    read_per_image,
    summarise,
    write_summary,
)
from medsr_bench.benchmark.suites import DatasetRun, EvalSettings, Suite
from medsr_bench.data_prep.manifest import atomic_write_bytes


class RunError(Exception):
    """A run cannot start or continue (bad option, conflicting run dir). One line."""


@dataclass
class RunConfig:
    """Everything that determines a run.

    Attributes:
        suites: suites to run.
        out: run directory.
        data_root: folder with the datasets in their official layouts (None for ``demo``).
        models: model names (registry order).
        limit: images (slices) per dataset, chosen deterministically by the protocol; None = all.
        device: ``cpu`` | ``cuda`` (already resolved from ``auto``).
        weights_dir: where weight files are looked up.
        batch_size: same-size images per model call.
        prepared_dir: cache of prepared HR/LR sets (None = prepare on the fly).
        eval_overrides: CLI overrides of every suite's metric settings (``channel``, ``crop_border``).
        model_options: engine options passed to every deep model (tile, precision, gray policy...).
        strict: a bad input file stops its dataset (status ``error``) instead of being skipped and
            listed under ``skipped_files`` in run.json.
    """

    suites: list[Suite]
    out: Path
    data_root: Path | None
    models: list[str]
    limit: int | None = None
    device: str = "cpu"
    weights_dir: Path | None = None
    batch_size: int = 4
    prepared_dir: Path | None = None
    eval_overrides: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)
    strict: bool = False
    show_progress: bool = True


@dataclass
class DatasetGroup:
    """One protocol/split evaluated by one or more suites."""

    protocol: str
    split: str | None
    evals: list[tuple[str, EvalSettings]]  # (suite name, settings)


def effective_eval(d: DatasetRun, overrides: dict) -> EvalSettings:
    """The suite's metric settings for ``d`` with the CLI ``overrides`` applied."""
    return EvalSettings(**{**d.eval.to_dict(), **overrides})


def plan(cfg: RunConfig) -> list[DatasetGroup]:
    """Group the suites' datasets by (protocol, split), keeping first-seen order."""
    groups: dict[tuple, DatasetGroup] = {}
    for s in cfg.suites:
        for d in s.datasets:
            g = groups.setdefault((d.protocol, d.split), DatasetGroup(d.protocol, d.split, []))
            g.evals.append((s.name, effective_eval(d, cfg.eval_overrides)))
    return list(groups.values())


def metric_settings(ev: EvalSettings):
    """:class:`benchmark.metrics.MetricSettings` for an :class:`EvalSettings`."""
    from medsr_bench.benchmark.metrics import MetricSettings

    return MetricSettings(data_range=ev.data_range, channel=ev.channel,
                          crop_border=ev.crop_border, quantize=ev.quantize,
                          nrmse_norm=ev.nrmse_norm, vif_rescale=ev.vif_rescale)


def _one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return f"{type(e).__name__}: {msg}" if not isinstance(e, (KeyError, ValueError)) else msg


def _batches(samples: Iterator, size: int) -> Iterator[list]:
    """Consecutive same-shape samples, at most ``size`` per batch."""
    batch: list = []
    for s in samples:
        if batch and (len(batch) >= size or s.lr.shape != batch[0].lr.shape):
            yield batch
            batch = []
        batch.append(s)
    if batch:
        yield batch


def _save_png(path: Path, x01: np.ndarray) -> None:
    """Save a [0, 1] float image as a 16-bit PNG (RGB or gray), atomically."""
    import cv2

    img = np.round(np.clip(x01, 0, 1) * 65535).astype(np.uint16)
    if img.ndim == 3:
        img = img[..., ::-1]
    ok, png = cv2.imencode(".png", img)
    if not ok:
        raise OSError(f"{path}: could not encode PNG")
    atomic_write_bytes(path, png.tobytes())


class _ModelCache:
    """Load each model once per run; remember why a model could not be loaded."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.loaded: dict = {}
        self.failed: dict[str, tuple[str, str]] = {}  # name -> (status, note)

    def get(self, name: str):
        from medsr_bench.models import WeightsError, WeightsMissing, load_model

        if name in self.loaded:
            return self.loaded[name]
        if name in self.failed:
            return None
        try:
            m = load_model(name, weights_dir=self.cfg.weights_dir, device=self.cfg.device,
                           **self.cfg.model_options)
        except WeightsMissing as e:
            self.failed[name] = ("missing-weights",
                                 f"expected {e.expected_path.name} in {e.expected_path.parent}; "
                                 f"get it: {e.obtain}")
            return None
        except WeightsError as e:
            self.failed[name] = ("error", _one_line(e))
            return None
        self.loaded[name] = m
        return m


class Runner:
    """Executes a :class:`RunConfig` locally (one process), writing the run directory."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.metrics = list(dict.fromkeys(m for s in cfg.suites for m in s.metrics))
        self.models = _ModelCache(cfg)
        self.meta: dict = {}
        self.table: PerImageTable | None = None

    # ----------------------------------------------------------------- run.json
    def _config_key(self, group: DatasetGroup, proto) -> dict:
        return {
            "protocol": group.protocol, "split": group.split, "params_hash": proto.params_hash(),
            "limit": self.cfg.limit,
        }

    def _load_meta(self) -> dict:
        path = self.out / "run.json"
        if path.exists():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError as e:
                raise RunError(f"{path}: not valid JSON ({e}); use another --out") from e
        return {}

    def _write_meta(self) -> None:
        atomic_write_json(self.out / "run.json", self.meta)

    def _init_meta(self) -> None:
        prev = self._load_meta()
        self.meta = {
            "tool": "medsr-bench",
            "version": __version__,
            "command": sys.argv,
            "git_commit": provenance.git_commit(),
            "packages": provenance.package_versions(),
            "device": provenance.device_description(self.cfg.device),
            "start_time": prev.get("start_time", provenance.now_iso()),
            "resumed_at": ([*prev.get("resumed_at", []), provenance.now_iso()] if prev else []),
            "end_time": None,
            "status": "running",
            "data_root": str(self.cfg.data_root) if self.cfg.data_root else None,
            "limit": self.cfg.limit,
            "batch_size": self.cfg.batch_size,
            "weights_dir": str(self.cfg.weights_dir),
            "metrics": self._metric_specs(),
            "std": "sample standard deviation over images (ddof=1)",
            "model_order": list(dict.fromkeys([*prev.get("model_order", []), *self.cfg.models])),
            "seeds": prev.get("seeds", {}),
            "suites": prev.get("suites", {}),
            "datasets": prev.get("datasets", {}),
            "models": prev.get("models", {}),
        }
        if prev and prev.get("limit") != self.cfg.limit:
            raise RunError(
                f"{self.out}: holds a run with --limit {prev.get('limit')}, not {self.cfg.limit}; "
                "resume with the same --limit or use another --out"
            )
        for s in self.cfg.suites:
            self.meta["suites"][s.name] = {
                "title": s.title, "paper": s.paper, "paper_models": list(s.paper_models),
                "metrics": list(s.metrics), "notes": list(s.notes),
                "datasets": [
                    {"protocol": d.protocol, "split": d.split, "paper_table": d.paper_table,
                     "eval": effective_eval(d, self.cfg.eval_overrides).to_dict()}
                    for d in s.datasets
                ],
            }

    def _metric_specs(self) -> dict:
        from medsr_bench.benchmark.metrics import get_metric

        return {m: get_metric(m).to_dict() for m in self.metrics}

    def _record_model(self, name: str) -> None:
        from medsr_bench.models import get_spec

        spec = get_spec(name)
        m = self.models.loaded.get(name)
        entry = {"family": spec.family, "description": spec.description, "paper": spec.paper,
                 "native_scale": spec.scale, "in_channels": spec.in_channels}
        if spec.pretrained is not None:
            entry["weights_file"] = spec.pretrained.file
            entry["expected_sha256"] = spec.pretrained.sha256
            entry["url"] = spec.pretrained.url
            entry["obtain"] = spec.pretrained.obtain
        if m is not None:
            entry["status"] = "ok"
            entry["info"] = m.info()
        elif name in self.models.failed:
            entry["status"], entry["note"] = self.models.failed[name]
        else:  # nothing left to do for it in this (resumed) run: keep what the last run found
            prev = self.meta["models"].get(name, {})
            entry.update({k: prev[k] for k in ("status", "note", "info") if k in prev})
            entry.setdefault("status", "not-run")
        self.meta["models"][name] = entry

    # ----------------------------------------------------------------- main loop
    def run(self) -> dict:
        """Run every group; returns run.json's dict. Raises RunError on a conflicting run dir."""
        from medsr_bench.data_prep import get_protocol

        self.out.mkdir(parents=True, exist_ok=True)
        self._init_meta()
        columns = [*ID_COLUMNS, *self.metrics, *TAIL_COLUMNS]
        self.table = PerImageTable(self.out / "per_image.csv", columns)
        groups = plan(self.cfg)
        protos = {}
        for g in groups:  # check resume compatibility before any work
            p = get_protocol(g.protocol)
            protos[g.protocol] = p
            key = self._config_key(g, p)
            prev = self.meta["datasets"].get(g.protocol)
            if prev and prev.get("config") and prev["config"] != key:
                raise RunError(
                    f"{self.out}: holds {g.protocol} prepared with other settings "
                    f"({prev['config']} vs {key}); use another --out"
                )
        self._write_meta()
        try:
            for g in groups:
                self._run_group(g, protos[g.protocol])
            self.meta["status"] = "complete"
        except KeyboardInterrupt:
            self.meta["status"] = "interrupted"
            raise
        finally:
            for name in self.cfg.models:
                self._record_model(name)
            self.meta["end_time"] = provenance.now_iso()
            self._write_summary()
            self._write_meta()
        return self.meta

    def _write_summary(self) -> None:
        path = self.out / "per_image.csv"
        if path.exists():
            df = read_per_image(path)
            write_summary(self.out / "summary.csv", summarise(df, self.metrics, self.cfg.models))

    def _log(self, msg: str) -> None:
        if self.cfg.show_progress:
            print(msg, file=sys.stderr, flush=True)

    def _run_group(self, g: DatasetGroup, proto) -> None:
        from medsr_bench.data_prep import DataError, DatasetMissing
        from medsr_bench.data_prep.prepared import iter_samples

        entry = {"protocol": g.protocol, "title": proto.title, "scale": proto.scale,
                 "paper": proto.paper, "params": proto.params_dict(),
                 "params_hash": proto.params_hash(), "config": self._config_key(g, proto),
                 "suites": [s for s, _ in g.evals]}
        self.meta["datasets"][g.protocol] = entry
        self.meta["seeds"][g.protocol] = {
            k: v for k, v in entry["params"].items() if "seed" in k}
        root = self.cfg.data_root if self.cfg.data_root is not None else Path(".")
        try:
            src = proto.resolve(root)
        except DatasetMissing as e:
            entry.update(status="skipped", reason=str(e), how_to_get=e.how_to_get,
                         expected_layout=e.expected_layout)
            self._log(f"skip {g.protocol}: {e}")
            self._write_meta()
            return
        entry.update(dataset=src.dataset, source=str(src.path), stand_in_for=src.stand_in_for,
                     note=src.note, status="running")
        self._write_meta()
        label = src.dataset + (f" (stand-in for {src.stand_in_for})" if src.stand_in_for else "")
        self._log(f"{label}: protocol {g.protocol} x{proto.scale}, suites {entry['suites']}")
        skipped: list = []
        samples = iter_samples(proto, root, split=g.split, limit=self.cfg.limit,
                               cache_dir=self.cfg.prepared_dir, strict=self.cfg.strict,
                               skipped=skipped)
        n_images = 0
        figure_id = None
        bar = _progress(self.cfg.limit, f"{src.dataset}", self.cfg.show_progress)
        try:
            for batch in _batches(samples, self.cfg.batch_size):
                if figure_id is None:
                    figure_id = batch[0].meta.image_id
                    self._save_reference(batch[0])
                self._run_batch(g, proto, batch, figure_id)
                n_images += len(batch)
                bar.update(len(batch))
        except DataError as e:  # --strict, or a dataset-level problem
            entry.update(status="error", reason=str(e))
            self._log(f"error in {g.protocol}: {e}")
            return
        finally:
            bar.close()
        entry.update(status="done", n_images=n_images, figure_image=figure_id,
                     skipped_files=[{"source": str(path), "reason": why} for path, why in skipped])
        for _path, why in skipped:
            self._log(f"skipped file: {why}")
        self._write_meta()

    def _save_reference(self, s) -> None:
        d = self.out / "samples" / s.meta.dataset / s.meta.image_id
        if not (d / "hr.png").exists():
            _save_png(d / "lr.png", s.lr)
            _save_png(d / "hr.png", s.hr)

    def _run_batch(self, g: DatasetGroup, proto, batch: list, figure_id: str) -> None:
        from medsr_bench.benchmark.metrics import compute_metrics_batch, to_metric_domain
        from medsr_bench.models import get_spec

        meta0 = batch[0].meta
        for name in self.cfg.models:
            todo = [(suite, ev) for suite, ev in g.evals
                    if not all(self.table.is_done(suite, s.meta.dataset, s.meta.image_id, name)
                               for s in batch)]
            if not todo:
                continue
            native = get_spec(name).scale
            if native is not None and native < meta0.scale:
                self._mark(name, todo, batch, "unsupported-scale",
                           f"native x{native} model cannot produce x{meta0.scale}")
                continue
            model = self.models.get(name)
            if model is None:
                self._mark(name, todo, batch, *self.models.failed[name])
                continue
            lr = np.stack([s.lr for s in batch])
            hr = np.stack([s.hr for s in batch])
            t0 = time.perf_counter()
            try:
                sr = model.upscale(lr, meta0.scale)
                if sr.shape != hr.shape:
                    raise ValueError(f"{name} returned {sr.shape}, expected {hr.shape}")
            except Exception as e:  # one model failing must not stop the run
                note = _one_line(e)
                self._log(f"{name} failed on {meta0.dataset}: {note}")
                if self.cfg.show_progress:
                    traceback.print_exc(limit=3, file=sys.stderr)
                self._mark(name, todo, batch, "error", note)
                continue
            seconds = (time.perf_counter() - t0) / len(batch)
            diag = getattr(model, "diagnostics", {}) or {}
            for s_i, s in enumerate(batch):
                if s.meta.image_id == figure_id:
                    _save_png(self.out / "samples" / s.meta.dataset / s.meta.image_id
                              / f"{name}.png", sr[s_i])
            scored: dict = {}  # suites with identical metric settings share one computation
            names = self.metrics
            rows: list[dict] = []
            for suite, ev in todo:
                ms = metric_settings(ev)
                if ms not in scored:
                    scored[ms] = compute_metrics_batch(
                        to_metric_domain(sr, ms), to_metric_domain(hr, ms), ms, names=names,
                        device=self.cfg.device)
                vals, notes = scored[ms]
                for i, s in self._pending(name, suite, batch):
                    r = _row(name, suite, s, "ok", notes[i], seconds)
                    r.update({m: float(vals[m][i]) for m in names})
                    r.update({k: float(v[i]) for k, v in diag.items()})
                    rows.append(r)
            self.table.append(rows)


    def _pending(self, model: str, suite: str, batch: list):
        """(index, sample) of the batch's images without a finished row for (suite, model)."""
        return [(i, s) for i, s in enumerate(batch)
                if not self.table.is_done(suite, s.meta.dataset, s.meta.image_id, model)]

    def _mark(self, model: str, todo: list, batch: list, status: str, note: str) -> None:
        """Append rows with a non-ok ``status`` and its reason for the unfinished images."""
        self.table.append([_row(model, suite, s, status, note)
                           for suite, _ in todo for _, s in self._pending(model, suite, batch)])


def _row(model: str, suite: str, s, status: str, note: str = "", seconds=None) -> dict:
    """The id/status part of a per_image.csv row for sample ``s``."""
    return {"suite": suite, "dataset": s.meta.dataset, "image_id": s.meta.image_id,
            "split": s.meta.split, "model": model, "scale": s.meta.scale, "status": status,
            "note": note, "seconds": seconds}


def _progress(total, desc, show):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=True, disable=not show)
