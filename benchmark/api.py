"""The Python entry point of the benchmark: :func:`evaluate`, :func:`sweep` and :func:`check`
(``medsr_bench.evaluate`` ...). The ``bench run``, ``bench sweep`` and ``bench check`` commands only
parse their arguments, call these and print.

    import medsr_bench

    res = medsr_bench.evaluate(suite="demo", models=["bicubic"], limit=2, out="results/runs/py",
                               settings={"metric.crop_border": 4})
    res.summary()          # summary.csv as a DataFrame; res.per_image(): per_image.csv

Every keyword of :data:`~medsr_bench.benchmark.settings.RUN_OPTIONS` is accepted (``limit``,
``device``, ``executor``, ``workers``, ``strict``, ``quiet`` ...), with the CLI's defaults; values
not given are read, as by the CLI, from the environment (``BENCH_DATA_ROOT``, ``BENCH_WEIGHTS``,
``BENCH_PREPARED``) and then from ``config`` (a run config TOML file). Bad options raise
:class:`RunError`, bad grids :class:`SweepError`, bad check inputs :class:`CheckError`: one line
each, the line the CLI prints after ``error:``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from medsr_bench.benchmark.check import CheckError, CheckResult, run_check
from medsr_bench.benchmark.run_config import RunConfig, RunError
from medsr_bench.benchmark.runner import RunResult
from medsr_bench.benchmark.runner import run as run_config
from medsr_bench.benchmark.sweep import (
    DEFAULT_GRIDS,
    SweepError,
    check_paper_table,
    estimate,
    grid_points,
    parse_grid,
    write_outputs,
)

__all__ = ["CheckError", "RunError", "RunResult", "SweepError", "SweepPlan", "SweepResult",
           "USER_ERRORS", "check", "configure", "evaluate", "plan_sweep", "run_sweep", "sweep"]

#: the exceptions whose message is a user's one-line error (the CLI: ``error: <message>``, exit 2)
USER_ERRORS = (RunError, SweepError, CheckError)


def configure(suite: str | Sequence[str] | None = None, data_root: str | Path | None = None,
              models: str | Sequence[str] | None = None,
              settings: Mapping[str, Any] | None = None, out: str | Path | None = None, *,
              config: str | Path | None = None, env: Mapping[str, str] | None = None,
              out_prefix: str = "", **options: Any) -> RunConfig:
    """The :class:`RunConfig` of a run, without running it (``bench run --print-config`` prints
    its :meth:`~RunConfig.to_toml`).

    Args:
        suite: suite name(s) (``"demo"``, ``"aghelan,rashid"``, ``["rashid"]``, ``"all"``);
            default all with a data root, demo without (``custom`` for a config's datasets).
        data_root: folder with the datasets in their official layouts.
        models: model names or checkpoint files, comma string or list; default all (the
            config's ``[models.*]`` when it has some).
        settings: setting overrides, ``{"drive.blur_sigma": 1.5}`` or ``{"drive": {"blur_sigma":
            1.5}}`` (keys as ``bench settings`` lists them).
        out: run directory; default ``results/runs/<suite>``.
        config: a run config TOML file (run options, setting tables, user datasets and models).
        env: environment variables read for unset options (default ``os.environ``).
        out_prefix: prefix of the default run directory's name.
        **options: any other run option by name (``limit=2``, ``device="cpu"``, ``quiet=True``,
            ``set=["model.gray=luma"]`` ...).

    Raises:
        RunError: an unknown option or a bad value (one line).
    """
    cli = {"suite": suite, "data_root": data_root, "models": models, "settings": settings,
           "out": out, "config": config, **options}
    return RunConfig.from_sources(cli=cli, env=os.environ if env is None else env,
                                  out_prefix=out_prefix)


def evaluate(suite: str | Sequence[str] | None = None, data_root: str | Path | None = None,
             models: str | Sequence[str] | None = None,
             settings: Mapping[str, Any] | None = None, out: str | Path | None = None,
             **options: Any) -> RunResult:
    """Run suites and write ``per_image.csv``, ``summary.csv`` and ``run.json`` into ``out``
    (resumable: the same call on the same ``out`` computes only what is missing), as ``bench
    run`` does. Arguments as :func:`configure`.

    Returns:
        The :class:`RunResult`: ``out``, ``status``, counts (``computed``, ``reused``,
        ``evaluated``), ``exit_code`` (1 when nothing was evaluated, a shard failed or a model
        errored; ``incomplete_reason`` says which) and the tables (``summary()``,
        ``per_image()``).

    Raises:
        RunError: a bad option, or the run dir is locked / holds another configuration (without
            ``add=True``) / an executor cannot start (one line).
    """
    return run_config(configure(suite, data_root, models, settings, out, **options))


@dataclass
class SweepPlan:
    """A sweep's grid resolved against a configuration.

    Attributes:
        identities: one run identity per grid point (the variants of one run).
        axes: the grid's keys.
        n_points: valid grid points; n_dropped: combinations an owner rejected.
        paper_table: the CSV of numbers to match (None: the papers' tables).
    """

    identities: list[dict]
    axes: list[str]
    n_points: int
    n_dropped: int
    paper_table: Path | None = None


@dataclass
class SweepResult(RunResult):
    """A :class:`RunResult` with what the sweep found.

    Attributes:
        axes: the grid's keys.
        estimate: the plan's one line (variants, SR passes and preparations vs the naive product).
        findings: the sweep's findings, one line each (empty when the run is incomplete).
        closest: ``closest.csv`` as a DataFrame (None when the run is incomplete).
    """

    axes: list[str] = field(default_factory=list)
    estimate: str = ""
    findings: list[str] = field(default_factory=list)
    closest: pd.DataFrame | None = None

    @property
    def outputs(self) -> list[Path]:
        """``sweep.csv``, ``closest.csv`` and ``sweep.md`` in the run directory."""
        return [Path(self.out) / n for n in ("sweep.csv", "closest.csv", "sweep.md")]


def _grid_items(grid: Sequence[str] | Mapping[str, Sequence] | None) -> list[str]:
    if isinstance(grid, Mapping):
        return [f"{k}={','.join(map(str, v))}" for k, v in grid.items()]
    return list(grid or [])


def plan_sweep(cfg: RunConfig, grid: Sequence[str] | Mapping[str, Sequence] | None = None,
               grid_file: str | Path | None = None, max_variants: int = 64,
               paper_table: str | Path | None = None) -> SweepPlan:
    """The grid points of a sweep over ``cfg``, checked before any work starts.

    Args:
        grid: ``["KEY=V1,V2", ...]`` or ``{KEY: [V1, V2]}``; default each suite's own grid of its
            paper's open choices (``sweep.DEFAULT_GRIDS``).
        grid_file: TOML with a ``[grid]`` table of lists.
        max_variants: refuse grids with more points than this.
        paper_table: CSV of the numbers to match (columns of reported.csv).

    Raises:
        SweepError: a bad grid or paper table, no default grid, too many points (one line).
    """
    try:
        check_paper_table(Path(paper_table) if paper_table is not None else None)
    except ValueError as e:
        raise SweepError(str(e)) from None
    g = parse_grid(_grid_items(grid), Path(grid_file) if grid_file is not None else None)
    if not g:
        for s in cfg.suites:
            g.update(DEFAULT_GRIDS.get(s, {}))
        if not g:
            raise SweepError(f"--suite {','.join(cfg.suites)}: no default grid; pass --grid "
                             f"KEY=V1,V2 or --grid-file (default grids: {', '.join(DEFAULT_GRIDS)})")
    points, dropped = grid_points(g, cfg.settings)
    if len(points) > max_variants:
        raise SweepError(f"the grid has {len(points)} points, more than --max-variants "
                         f"{max_variants}; narrow the grid or raise --max-variants")
    return SweepPlan([replace(cfg, settings=pt).identity() for pt in points], list(g),
                     len(points), len(dropped),
                     Path(paper_table) if paper_table is not None else None)


def run_sweep(cfg: RunConfig, plan: SweepPlan,
              on_estimate: Callable[[str], None] | None = None) -> SweepResult:
    """Run the grid points of ``plan`` as variants of one run into ``cfg.out`` (sharing SR passes
    and preparations); when it completes, write ``sweep.csv``, ``closest.csv`` and ``sweep.md``.
    ``on_estimate(line)`` is called once the tasks are planned, before any runs.

    Raises:
        RunError: as :func:`evaluate`.
    """
    said: dict[str, str] = {"estimate": ""}

    def before(p):
        said["estimate"] = estimate(p, plan.n_points, plan.n_dropped)
        if on_estimate is not None:
            on_estimate(said["estimate"])

    res = run_config(cfg, identities=plan.identities, before=before)
    out = SweepResult(**vars(res), axes=plan.axes, estimate=said["estimate"])
    if res.exit_code == 0:
        _, out.closest, out.findings = write_outputs(cfg.out, plan.axes, said["estimate"],
                                                     plan.paper_table, cfg.suites)
    return out


def sweep(grid: Sequence[str] | Mapping[str, Sequence] | None = None,
          grid_file: str | Path | None = None, max_variants: int = 64,
          paper_table: str | Path | None = None, *,
          on_estimate: Callable[[str], None] | None = None, **run_args: Any) -> SweepResult:
    """Run the product of settings as variants of one run and say which reading comes closest to
    each paper cell (``bench sweep``). Grid arguments as :func:`plan_sweep`, run arguments as
    :func:`configure` (the default run directory is ``results/runs/sweep-<suite>``).

    Raises:
        RunError, SweepError: one line each.
    """
    cfg = configure(out_prefix="sweep-", **run_args)
    return run_sweep(cfg, plan_sweep(cfg, grid, grid_file, max_variants, paper_table),
                     on_estimate)


def _tolerance_items(tol) -> list[str] | None:
    """``0.01`` / ``{"psnr": 0.01}`` / ``["psnr=0.01"]`` as ``--atol`` items."""
    if tol is None or isinstance(tol, (list, tuple)):
        return list(tol) if tol is not None else None
    if isinstance(tol, Mapping):
        return [f"{k}={v}" for k, v in tol.items()]
    return [str(tol)]


def check(baseline: str | Path, run: str | Path,
          atol: float | Mapping[str, float] | Sequence[str] | None = None,
          rtol: float | Mapping[str, float] | Sequence[str] | None = None,
          update: bool = False) -> CheckResult:
    """Compare the run's ``summary.csv`` with a baseline CSV on (suite, dataset, variant, model,
    metric) (``bench check``); with ``update`` rewrite (or create) the baseline from the run.

    Args:
        atol, rtol: absolute / relative tolerances: one value for every metric, ``{metric:
            value}``, or ``["METRIC=VALUE", ...]``; default the metric registry's.

    Returns:
        The :class:`CheckResult` (``ok``, ``rows`` of differences, ``table()``).

    Raises:
        CheckError: unreadable files or bad tolerances (one line).
    """
    return run_check(Path(baseline), Path(run), _tolerance_items(atol), _tolerance_items(rtol),
                     update=update)
