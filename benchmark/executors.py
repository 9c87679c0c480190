"""Executors: where tasks run. ``local`` (worker processes on this machine, or this process),
``ray`` (Ray tasks on a local or remote cluster) and ``slurm`` (a submitit job array;
``--slurm-cluster local`` runs the same jobs as local processes). They only decide where
:func:`~medsr_bench.benchmark.execute.run_bundle` runs (one task per unit with several workers, the
tasks of one shard per unit in one process or one Slurm job), the worker stores each task's part
under ``parts/``, and the driver merges, so the tables are identical whatever the executor.

A bundle that raises is retried (``max_retries``; Ray's own ``max_retries`` with
``retry_exceptions``, a resubmission for submitit); one that still fails leaves a ``.failed`` note
(see ``bench status``) and no part, and the run exits 1.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medsr_bench.benchmark.execute import ExecContext, load_shard, one_line, run_task
from medsr_bench.benchmark.tasks import RunError, Task
from medsr_bench.core.registry import Registry
from medsr_bench.models import get_spec

log = logging.getLogger("medsr_bench")


@dataclass
class ExecutorOptions:
    """Options of the cluster executors (ignored by ``local``).

    Attributes:
        address: Ray cluster address (``auto`` = a running cluster; None = start a local one).
        workers: parallel workers (Ray CPUs for a local cluster; array parallelism for Slurm).
        max_retries: attempts after the first for a failed bundle.
        slurm_cluster: submitit cluster (None = auto-detect Slurm, ``local`` = local processes).
        partition, time_min, gpus_per_task, cpus_per_task, mem_gb: Slurm job parameters.
        folder: where submitit keeps job logs (default ``<run dir>/slurm``).
    """

    address: str | None = None
    workers: int | None = None
    max_retries: int = 2
    slurm_cluster: str | None = None
    partition: str | None = None
    time_min: int = 60
    gpus_per_task: int = 0
    cpus_per_task: int = 2
    mem_gb: int = 16
    folder: Path | None = None
    extra: dict = field(default_factory=dict)


Bundle = list[Task]
OnDone = Callable[[Bundle, str | None], None]  # (bundle, error line or None)


def bundles(tasks: list[Task]) -> list[Bundle]:
    """Tasks grouped by shard (same protocol params, split and shard), in plan order."""
    groups: dict[tuple, list[Task]] = {}
    for t in tasks:
        groups.setdefault((t.protocol, t.params_hash, t.split, t.limit, t.shard), []).append(t)
    return list(groups.values())


def per_task(bs: list[Bundle]) -> list[Bundle]:
    """One task per unit, for executors with several workers: a shard of big images (40
    ChestX-ray14 images x 8 deep models) would otherwise be one unit of about half the main job,
    run by one worker while the others idle. Each task re-reads its shard (cheap from the prepared
    cache)."""
    return [[t] for b in bs for t in b]


def _dicts(b: Bundle) -> list[dict]:
    return [t.to_dict() for t in b]


# ---------------------------------------------------------------- local
def run_local(bs: list[Bundle], ctx: ExecContext, run_dir: Path, opts: ExecutorOptions,
              on_done: OnDone) -> None:
    """Bundles on this machine: ``workers`` processes (default: one per CPU core, each with
    ``ctx.threads`` torch threads), so every core is busy while the tables stay bit-identical to
    the other executors'. With one worker the bundles run in this process, the next bundle's
    samples read in a background thread while the current one computes."""
    import os

    workers = opts.workers or os.cpu_count() or 1
    units = per_task(bs)
    if workers > 1 and len(units) > 1:
        return _run_pool(units, ctx, run_dir, opts, on_done, min(workers, len(units)))
    from medsr_bench.benchmark.execute import set_threads

    set_threads(ctx.threads)

    def needs_samples(b: Bundle) -> bool:
        return any(not (t.plan_status and t.image_ids) for t in b)

    def load(b: Bundle):
        try:
            return load_shard(b[0], ctx) if needs_samples(b) else None, None
        except Exception as e:  # reported when the bundle runs (and retried there)
            return None, e

    result: dict = {}
    thread = None

    def prefetch(i: int) -> None:
        result[i] = load(bs[i])

    if bs:
        thread = threading.Thread(target=prefetch, args=(0,), daemon=True)
        thread.start()
    for i, b in enumerate(bs):
        thread.join()
        samples, err = result.pop(i)
        if i + 1 < len(bs):
            thread = threading.Thread(target=prefetch, args=(i + 1,), daemon=True)
            thread.start()
        error = None
        for attempt in range(opts.max_retries + 1):
            try:
                if err is not None:
                    raise err
                for t in b:
                    run_task(t.to_dict(), ctx.to_dict(), str(run_dir), samples)
                error = None
                break
            except KeyboardInterrupt:
                raise
            except Exception as e:
                error = one_line(e)
                log.warning("%s failed (attempt %d of %d): %s", b[0].describe(), attempt + 1,
                            opts.max_retries + 1, error)
                err = None
                if samples is None and needs_samples(b):
                    samples, err = load(b)
        on_done(b, error)


def _run_pool(bs: list[Bundle], ctx: ExecContext, run_dir: Path, opts: ExecutorOptions,
              on_done: OnDone, workers: int) -> None:
    """A ``spawn`` process pool (safe with OpenMP, unlike fork); a worker keeps its loaded models
    across bundles. A failed bundle is resubmitted up to ``max_retries`` times."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from medsr_bench.benchmark.execute import run_bundle

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(),))
    try:
        with _sigint_ignored_while_spawning():
            futures = {pool.submit(run_bundle, _dicts(b), ctx.to_dict(), str(run_dir)): (b, 0)
                       for b in bs}
        while futures:
            done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for f in done:
                b, attempt = futures.pop(f)
                try:
                    f.result()
                    on_done(b, None)
                except Exception as e:
                    err = one_line(e)
                    if attempt < opts.max_retries:
                        log.warning("%s failed (attempt %d of %d): %s", b[0].describe(),
                                    attempt + 1, opts.max_retries + 1, err)
                        futures[pool.submit(run_bundle, _dicts(b), ctx.to_dict(),
                                            str(run_dir))] = (b, attempt + 1)
                    else:
                        on_done(b, err)
    except BaseException:  # interrupted (SIGINT/SIGTERM) or failed: end the workers now
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


class _sigint_ignored_while_spawning:
    """Start the pool's workers with SIGINT ignored: a spawned worker inherits the ignored
    disposition through exec and Python keeps it, so a Ctrl-C to the process group that lands
    while a worker is still starting (before :func:`_worker_init`) prints no traceback there; the
    parent's handler is restored at once (it ends the workers). Main thread only (signal rule)."""

    def __enter__(self):
        import signal

        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        return self

    def __exit__(self, *exc):
        import signal

        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
        return False


def _worker_init(parent: int) -> None:
    """In each pool worker: leave SIGINT to the parent (a Ctrl-C reaches the whole process group;
    the parent ends the workers), end on SIGTERM, and exit when the parent is gone (killed with
    SIGKILL: nobody else would end this process)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def watch() -> None:
        import time

        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _stop_pool(pool) -> None:
    """Terminate a process pool's workers and wait for them (their temporaries go with them)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        if p.is_alive():
            p.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
            p.join(timeout=5)


# ---------------------------------------------------------------- ray
def run_ray(bs: list[Bundle], ctx: ExecContext, run_dir: Path, opts: ExecutorOptions,
            on_done: OnDone) -> None:
    """One Ray task per planned task (``max_retries`` + ``retry_exceptions``). A worker process
    keeps the models it loaded (module-level cache), so one model instance serves many shards.
    With ``--device cuda`` tasks of deep models ask for a GPU; interpolation tasks run on CPU
    workers."""
    try:
        import ray
    except ImportError:
        raise RunError("--executor ray needs Ray: pip install -e '.[ray]' (or pip install "
                       "'ray[default]')") from None
    from medsr_bench.benchmark.execute import run_bundle

    started = False
    if not ray.is_initialized():
        kw = {"address": opts.address} if opts.address else {"num_cpus": opts.workers or None}
        ray.init(ignore_reinit_error=True, log_to_driver=False, include_dashboard=False,
                 logging_level=logging.WARNING, **kw)
        started = True
    try:
        remote = ray.remote(max_retries=opts.max_retries, retry_exceptions=True)(run_bundle)
        refs = {}
        for b in per_task(bs):
            gpu = 1 if ctx.device.startswith("cuda") and _has_deep(b) else 0
            bctx = ctx if gpu else _cpu_ctx(ctx)
            refs[remote.options(num_gpus=gpu, num_cpus=1).remote(_dicts(b), bctx.to_dict(),
                                                                 str(run_dir))] = b
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                try:
                    ray.get(r)
                    on_done(refs[r], None)
                except Exception as e:
                    cause = getattr(e, "cause", None) or e
                    on_done(refs[r], one_line(cause))
    finally:
        if started:
            ray.shutdown()


def _has_deep(b: Bundle) -> bool:
    return any(get_spec(t.model).family != "interpolation" and not t.plan_status for t in b)


def _cpu_ctx(ctx: ExecContext) -> ExecContext:
    from dataclasses import replace

    return replace(ctx, device="cpu")


# ---------------------------------------------------------------- slurm (submitit)
def run_slurm(bs: list[Bundle], ctx: ExecContext, run_dir: Path, opts: ExecutorOptions,
              on_done: OnDone) -> None:
    """A submitit job array, one job per bundle (``slurm_array_parallelism`` = ``workers``).
    Jobs are checkpointable: Slurm requeues one that is preempted or times out. A failed job is
    resubmitted up to ``max_retries`` times."""
    try:
        import submitit
    except ImportError:
        raise RunError("--executor slurm needs submitit: pip install -e '.[slurm]' (or pip "
                       "install submitit)") from None
    folder = Path(opts.folder or Path(run_dir) / "slurm")
    ex = submitit.AutoExecutor(folder=str(folder), cluster=opts.slurm_cluster)
    params = {"timeout_min": opts.time_min, "cpus_per_task": opts.cpus_per_task,
              "mem_gb": opts.mem_gb, "name": "medsr-bench"}
    if ex.cluster == "slurm":
        params.update(slurm_array_parallelism=opts.workers or 16,
                      gpus_per_node=opts.gpus_per_task or None)
        if opts.partition:
            params["slurm_partition"] = opts.partition
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None}, **opts.extra)
    todo = list(bs)
    for attempt in range(opts.max_retries + 1):
        with ex.batch():
            jobs = [(ex.submit(_SlurmBundle(), _dicts(b), ctx.to_dict(), str(run_dir)), b)
                    for b in todo]
        failed = []
        for job, b in jobs:
            try:
                job.result()
                on_done(b, None)
            except Exception as e:
                err = one_line(e).splitlines()[0]
                if attempt < opts.max_retries:
                    log.warning("%s failed (attempt %d): %s; resubmitting", b[0].describe(),
                                attempt + 1, err)
                    failed.append(b)
                else:
                    on_done(b, err)
        todo = failed
        if not todo:
            break


class _SlurmBundle:
    """Picklable, checkpointable callable: Slurm requeues it on preemption / timeout."""

    def __call__(self, task_dicts: list[dict], ctx_dict: dict, run_dir: str) -> list[str]:
        from medsr_bench.benchmark.execute import run_bundle

        return run_bundle(task_dicts, ctx_dict, run_dir)

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


EXECUTORS: Registry[Callable] = Registry("executor", order=("local", "ray", "slurm"))
for _name, _fn in (("local", run_local), ("ray", run_ray), ("slurm", run_slurm)):
    EXECUTORS.register(_name, _fn)


def get_executor(name: str) -> Callable:
    """The executor function ``name``.

    Raises:
        RunError: unknown name (the line lists the known ones).
    """
    if name not in EXECUTORS:
        raise RunError(f"--executor {name!r}: expected one of {', '.join(EXECUTORS)}")
    return EXECUTORS[name]
