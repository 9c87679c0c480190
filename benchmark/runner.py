"""Run a configuration: lock the run dir, check its identity, plan, execute the missing tasks on an
executor, merge, and summarise the run's health.

    config --plan--> tasks --executor (local | ray | slurm)--> parts/ --merge--> tables + run.json

Resume is one mechanism for every executor: a task whose complete part exists (same key) is not
recomputed. A run that evaluated nothing, or left failed shards, ends with exit code 1.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import medsr_bench.compat  # noqa: F401  (before torchvision/basicsr)
from medsr_bench import __version__
from medsr_bench import core as provenance
from medsr_bench.benchmark import rundir, save_sr
from medsr_bench.benchmark.execute import ExecContext
from medsr_bench.benchmark.executors import ExecutorOptions, bundles, get_executor
from medsr_bench.benchmark.metrics import get_metric
from medsr_bench.benchmark.results_io import read_per_image
from medsr_bench.benchmark.settings import setting_infos
from medsr_bench.benchmark.suites import SUITES, register_user_datasets
from medsr_bench.benchmark.tasks import Plan, RunConfig, RunError, plan
from medsr_bench.models.spandrel_model import register_entry

log = logging.getLogger("medsr_bench")

__all__ = ["RunConfig", "RunError", "RunResult", "executor_options", "health_lines", "run"]


@dataclass
class RunResult:
    """What a run did.

    Attributes:
        meta: run.json's dict.
        failed: ``{task description: error line}`` of bundles that failed after their retries.
        computed: tasks computed by this invocation; reused: tasks whose part already existed.
        merge_seconds: time spent merging the parts into the tables.
        out: the run directory (``per_image.csv``, ``summary.csv``, ``run.json``).
        keep_going: a requested model that errored does not set :attr:`exit_code` (``--keep-going``;
            :attr:`model_errors` still lists it).
    """

    meta: dict
    failed: dict[str, str] = field(default_factory=dict)
    computed: int = 0
    reused: int = 0
    merge_seconds: float = 0.0
    out: Path | None = None
    keep_going: bool = False

    @property
    def status(self) -> str:
        """run.json's status: ``complete`` | ``failed`` | ``interrupted``."""
        return self.meta.get("status", "")

    @property
    def per_image_csv(self) -> Path:
        """Path of the per-image table (one row per image x model x variant)."""
        return Path(self.out) / "per_image.csv"

    @property
    def summary_csv(self) -> Path:
        """Path of the summary table (mean, std, n per dataset x variant x model x metric)."""
        return Path(self.out) / "summary.csv"

    def per_image(self):
        """``per_image.csv`` as a DataFrame (ids as strings; empty cells NaN)."""
        return read_per_image(self.per_image_csv)

    def summary(self):
        """``summary.csv`` as a DataFrame (ids as strings; empty cells NaN)."""
        return read_per_image(self.summary_csv)

    @property
    def evaluated(self) -> int:
        return sum(v.get("n_evaluated", 0) for v in self.meta.get("variants", {}).values())

    @property
    def exit_code(self) -> int:
        """0 ok; 1 when nothing was evaluated, a dataset stopped with an error, shards failed or a
        requested model errored (wrong sha256, unsafe pickle, a load error, a failing batch: its
        rows say ``error``; the console names it with the reason) unless :attr:`keep_going`.
        Models whose weights are absent (``missing-weights``) are a documented state, never 1."""
        errors = any(v.get("status") == "error" for v in self.meta.get("variants", {}).values())
        models = self.model_errors and not self.keep_going
        return 1 if (self.failed or errors or models or self.evaluated == 0) else 0

    @property
    def incomplete_reason(self) -> str:
        """Why :attr:`exit_code` is 1 ('' when it is 0)."""
        if not self.exit_code:
            return ""
        return ("nothing was evaluated" if self.evaluated == 0 else
                f"{len(self.failed)} task(s) failed" if self.failed else
                f"model(s) {', '.join(self.model_errors)} failed" if self.model_errors else
                "a dataset stopped with an error")

    @property
    def model_errors(self) -> dict[str, str]:
        """``{model: reason}`` of the requested models whose status is ``error``."""
        return {n: m.get("error") or m.get("note", "")
                for n, m in self.meta.get("models", {}).items()
                if m.get("status") == "error" or m.get("n_error_rows")}


def _all_plans(configs: list[dict], cfg: RunConfig, progress) -> Plan:
    """The union of the plans of every configuration recorded in the run dir (``--add``)."""
    total = Plan()
    for ident in configs:
        if ident.get("user_datasets"):
            register_user_datasets(ident["user_datasets"])
        if ident.get("user_models"):
            for entry in ident["user_models"]:
                register_entry(entry)
        c = replace(cfg, suites=list(ident["suites"]), models=list(ident["models"]),
                    data_root=Path(ident["data_root"]) if ident["data_root"] else None,
                    limit=ident["limit"], settings=dict(ident["settings"]),
                    strict=ident["strict"], user_datasets=list(ident.get("user_datasets", [])),
                    user_models=list(ident.get("user_models", [])))
        total.extend(plan(c, progress=progress))
    return total


def executor_options(cfg: RunConfig) -> ExecutorOptions:
    """The executor options of ``cfg`` (workers, retries, Ray address, Slurm fields)."""
    return ExecutorOptions(address=cfg.address, workers=cfg.workers, max_retries=cfg.max_retries,
                           slurm_cluster=cfg.slurm_cluster, partition=cfg.slurm_partition,
                           time_min=cfg.slurm_time, gpus_per_task=cfg.slurm_gpus)


def run(cfg: RunConfig, executor: str | None = None, opts: ExecutorOptions | None = None,
        add: bool | None = None, wait: bool | None = None, identities: list[dict] | None = None,
        before=None) -> RunResult:
    """Run ``cfg`` into ``cfg.out``.

    ``executor``, ``opts``, ``add`` and ``wait`` default to ``cfg``'s. ``identities`` (a sweep:
    one per grid point) replaces ``[cfg.identity()]``; ``before(plan)`` is called once the plan
    is known, before any task runs (the sweep prints its estimate).

    Raises:
        RunError: the run dir is locked by a live process, holds another configuration (without
            ``add``), or an executor cannot start (one line each).
    """
    executor = cfg.executor if executor is None else executor
    opts = opts or executor_options(cfg)
    add = cfg.add if add is None else add
    wait = cfg.wait if wait is None else wait
    fn = get_executor(executor)
    out = Path(cfg.out)
    rundir.check_out(out)
    try:
        with _sigterm_as_interrupt():
            return _run_locked(cfg, fn, executor, opts, add, wait, identities, before, out)
    except OSError as e:  # disk full / read-only while writing the run dir or the prepared cache
        where = e.filename or out
        raise RunError(f"{where}: cannot write ({e.strerror or e}); expected a writable folder "
                       "with free space. Finished tasks are kept in parts/; re-run the same "
                       "command to resume") from e


def _run_locked(cfg: RunConfig, fn, executor: str, opts: ExecutorOptions, add: bool, wait: bool,
                identities, before, out: Path) -> RunResult:
    with rundir.RunDirLock(out, wait=wait) as lock:
        if lock.stale:
            _say(cfg, f"note: {out} was left by a killed run (pid {lock.stale.get('pid')}); "
                      "resuming it")
        meta = rundir.load_meta(out)
        configs = rundir.check_identity(meta, identities or [cfg.identity()], add, out)
        meta = _base_meta(meta, cfg, configs, executor)
        rundir.parts_dir(out).mkdir(parents=True, exist_ok=True)
        bar = _bar(cfg, None, "preparing", "img")
        try:
            p = _all_plans(configs, cfg, bar.update)
        finally:
            bar.close()
        rundir.write_plan(out, p)
        if before is not None:
            before(p)
        done = rundir.done_keys(out, p.tasks)
        sr_dirs = save_sr.variant_dirs(p.variants) if cfg.save_sr is not None else {}
        if cfg.save_sr is not None:  # a done task whose SR images are not all there runs again
            done = {k for k in done if save_sr.marker(cfg.save_sr, k).exists()}
            meta["save_sr"] = save_sr.record(cfg.save_sr, sr_dirs)
        todo = [t for t in p.tasks if t.key not in done]
        res = RunResult(meta={}, reused=len(done), out=out, keep_going=cfg.keep_going)
        _say(cfg, f"{len(p.tasks)} tasks ({len(done)} already done, {len(todo)} to run) on "
                  f"executor {executor}")
        ctx = ExecContext(
            data_root=str(cfg.data_root) if cfg.data_root is not None else None,
            weights_dir=str(cfg.weights_dir) if cfg.weights_dir is not None else None,
            prepared_dir=str(cfg.prepared_dir) if cfg.prepared_dir is not None else None,
            device=cfg.device, batch_size=cfg.batch_size, strict=cfg.strict,
            show_progress=cfg.show_progress, threads=cfg.threads,
            save_sr=str(cfg.save_sr) if cfg.save_sr is not None else None, save_sr_dirs=sr_dirs)
        bar = _bar(cfg, len(todo), "tasks", "task")

        def on_done(bundle, error):
            bar.update(len(bundle))
            if error is None:
                res.computed += len(bundle)
            else:
                for t in bundle:
                    res.failed[t.describe()] = error
                    rundir.mark_failed(out, t, error)

        meta["status"] = "running"
        try:
            fn(bundles(todo), ctx, out, opts, on_done)
            meta["status"] = "failed" if res.failed else "complete"
        except KeyboardInterrupt:
            meta["status"] = "interrupted"
            # said here, not by the CLI: typer turns KeyboardInterrupt into a silent exit 130
            print(f"error: {INTERRUPTED} (finished tasks are kept in {out / 'parts'})",
                  file=sys.stderr, flush=True)
            raise
        finally:
            bar.close()
            meta["end_time"] = provenance.now_iso()
            t0 = time.perf_counter()
            res.meta = rundir.merge(out, p, meta)
            res.merge_seconds = time.perf_counter() - t0
        if res.failed:
            res.meta["failed_shards"] = res.failed
            provenance.atomic_write_json(out / "run.json", res.meta)
        return res


INTERRUPTED = "interrupted; re-run the same command to resume"


class _sigterm_as_interrupt:
    """While a run is in progress, SIGTERM raises KeyboardInterrupt in the main thread as SIGINT
    does, so both end the workers, merge what finished and leave run.json "interrupted"."""

    def __enter__(self):
        import signal
        import threading

        self.prev = None
        if threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                raise KeyboardInterrupt(f"signal {signum}")

            self.prev = signal.signal(signal.SIGTERM, handler)
        return self

    def __exit__(self, *exc):
        import signal

        if self.prev is not None:
            signal.signal(signal.SIGTERM, self.prev)


def _base_meta(prev: dict, cfg: RunConfig, configs: list[dict], executor: str) -> dict:
    return {
        **{k: v for k, v in prev.items() if k not in ("status", "end_time", "failed_shards")},
        "tool": "medsr-bench",
        "version": __version__,
        "command": sys.argv,
        "git_commit": provenance.git_commit(),
        "packages": provenance.package_versions(),
        "device": provenance.device_description(cfg.device),
        "start_time": prev.get("start_time", provenance.now_iso()),
        "resumed_at": ([*prev.get("resumed_at", []), provenance.now_iso()] if prev else []),
        "end_time": None,
        "configs": configs,
        "config": {**cfg.identity(), "resolved_settings": _resolved(cfg)},
        "executor": executor,
        "out": str(cfg.out),
        "data_root": str(cfg.data_root) if cfg.data_root else None,
        "limit": cfg.limit,
        "batch_size": cfg.batch_size,
        "shard_size": cfg.shard_size,
        "threads_per_worker": cfg.threads,
        "weights_dir": str(cfg.weights_dir),
        "prepared_dir": str(cfg.prepared_dir) if cfg.prepared_dir else None,
        "keep_going": cfg.keep_going,
        "max_pixels": cfg.max_pixels,
        "metrics": _metric_specs(cfg),
        "std": "sample standard deviation over images (ddof=1)",
    }


def _resolved(cfg: RunConfig) -> dict:
    """Every setting of the groups this run uses, with its value (defaults included)."""
    used = {"metric", "model"} | {d.protocol for s in cfg.suites for d in SUITES[s].datasets}
    return {k: cfg.settings.get(k, i.default) for k, i in setting_infos().items() if i.group in used}


def _metric_specs(cfg: RunConfig) -> dict:
    names = dict.fromkeys(m for s in cfg.suites for m in SUITES[s].metrics)
    return {m: get_metric(m).to_dict() for m in names}


def _say(cfg: RunConfig, msg: str) -> None:
    if cfg.show_progress:
        print(msg, file=sys.stderr, flush=True)


def _bar(cfg: RunConfig, total, desc: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                disable=not cfg.show_progress)


def health_lines(meta: dict) -> list[str]:
    """The end-of-run console summary: per dataset the images evaluated, files skipped, models
    computed, models missing weights (with the command that fetches them) and unsupported rows."""
    lines = []
    models = meta.get("models", {})
    missing = sorted(n for n, m in models.items() if m.get("status") == "missing-weights")
    groups: dict[tuple, list[dict]] = {}  # variants that fared alike share one line
    for v in meta.get("variants", {}).values():
        name = v.get("dataset") or v["protocol"]
        st = v.get("status")
        if st in ("skipped", "error", "empty"):
            k = (v["suite"], name, v["split"], st, v.get("reason", ""))
        else:
            k = (v["suite"], name, v["split"], st, v.get("n_evaluated", 0),
                 len(v.get("skipped_files", []) or []), len(v.get("models_computed", [])))
        groups.setdefault(k, []).append(v)
    for k, vs in groups.items():
        label = f"{k[0]}/{k[1]}[{k[2]}]"
        if len(vs) > 1:
            label += f" ({len(vs)} variants)"
        elif vs[0].get("label"):
            label += f" ({vs[0]['label']})"
        if k[3] in ("skipped", "error", "empty"):
            lines.append(f"{label}: {k[3]} - {k[4]}")
            continue
        lines.append(f"{label}: {k[4]} images evaluated, {k[5]} files skipped, {k[6]} models "
                     "computed" + (f" [{k[3]}]" if k[3] != "done" else ""))
        for v in vs:
            d = v.get("degenerate") or {}
            if d.get("reasons"):
                why = ", ".join(f"{n} {r}" for r, n in d["reasons"].items())
                lines.append(f"  {label}: {v.get('n_degenerate', 0)} degenerate image(s) excluded "
                             f"from means ({why})")
    unsupported = sorted(n for n, m in models.items() if m.get("status") == "unsupported-scale")
    if missing:
        down = [n for n in missing if models[n].get("url")]
        other = [n for n in missing if not models[n].get("url")]
        lines.append(f"missing weights ({len(missing)}): {', '.join(missing)}")
        if down:
            lines.append(f"  download ({len(down)}): bench weights fetch {' '.join(down)}")
        for n in other:
            lines.append(f"  {n}: {models[n].get('obtain') or models[n].get('note', '')}")
    if unsupported:
        lines.append(f"unsupported scale: {', '.join(unsupported)}")
    for k, why in (meta.get("failed_shards") or {}).items():
        lines.append(f"failed: {k}: {why}")
    for n, m in models.items():
        if m.get("status") == "error" or m.get("n_error_rows"):
            why = m.get("error") or m.get("note") or "no reason recorded"
            lines.append(f"model {n} failed: {why}"
                         + (f" ({m['n_error_rows']} error rows)" if m.get("n_error_rows") else ""))
    return lines
