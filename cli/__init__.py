"""The ``bench`` command: thin typer wrappers around the runner, report and sub-tools.

Every user error (bad path, unknown suite/model, conflicting run dir) ends with one line on stderr
starting ``error:`` and exit code 2.
"""

from __future__ import annotations

import inspect
import os
import shutil
import sys
import textwrap
from pathlib import Path

import typer

import medsr_bench.compat  # noqa: F401  (before torchvision/basicsr)
from medsr_bench.benchmark import api
from medsr_bench.benchmark.check import CheckError
from medsr_bench.benchmark.report import (
    FORMATS,
    ReportError,
    ReportSettings,
    default_extension,
    render_report,
)
from medsr_bench.benchmark.report.figures import parse_region
from medsr_bench.benchmark.report.rundata import stand_in_entries, stand_in_notes
from medsr_bench.benchmark.rundir import planned_variants, status
from medsr_bench.benchmark.runner import RunConfig, RunError, health_lines
from medsr_bench.benchmark.runner import run as run_config
from medsr_bench.benchmark.settings import (
    DATACLASS_GROUPS,
    RUN_OPTIONS,
    RunOption,
    setting_infos,
    toml_value,
)
from medsr_bench.benchmark.suites import (
    SUITES,
    metric_overrides,
    resolve_suites,
)
from medsr_bench.cli.data import data_app
from medsr_bench.cli.errors import fail
from medsr_bench.cli.last_run import remember
from medsr_bench.cli.metrics import metrics_app
from medsr_bench.cli.models import WeightsDir, models_table, weights_app
from medsr_bench.cli.models import perf as engine_perf
from medsr_bench.cli.reader import reader_app
from medsr_bench.cli.run_summary import headline_table
from medsr_bench.core import atomic_write_text, did_you_mean
from medsr_bench.data_prep.prepared import default_prepared_dir
from medsr_bench.models.registry import default_weights_dir
from medsr_bench.perf import pipeline as perf

app = typer.Typer(
    help="medsr-bench: reproduce four medical-image super-resolution papers side by side.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[default ...]" must not be read as markup
)


@app.callback()
def _global(verbose: int = typer.Option(0, "--verbose", "-v", count=True,
                                        help="More log output (-v info, -vv debug).")) -> None:
    """medsr-bench: reproduce four medical-image super-resolution papers side by side."""
    import logging

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for name in ("medsr_bench", "data_prep"):
        logging.getLogger(name).setLevel(level)


def _mount() -> None:

    app.add_typer(data_app, name="data", help="Prepare and inspect datasets (HR/LR pairs + manifests).")
    app.add_typer(weights_app, name="weights", help="List, fetch and verify model weights.")
    app.add_typer(metrics_app, name="metrics", help="Metric registry and metric-engine benchmark.")
    app.add_typer(reader_app, name="reader", help="Blinded reader study: rating page, MOS analysis.")
    app.command("parity", help="Official weights across ncnn, RealESRGANer, tiling and precisions.")(
        __import__("medsr_bench.cli.parity", fromlist=["parity"]).parity)
    app.command("train", help="Train a paper's model from its recipe; registers the checkpoint.")(__import__("medsr_bench.cli.train", fromlist=["train"]).train)


_mount()


def _data_root(data_root: Path | None) -> Path | None:
    if data_root is not None and not data_root.is_dir():
        fail(f"--data-root {data_root}: not a directory (expected a folder holding the datasets in "
             "their official layouts, e.g. DRIVE/, NIH_ChestXray14/, BraTS2018/, CT_head_DICOM/)")
    return data_root


def _typer_option(o: RunOption) -> inspect.Parameter:
    """The typer parameter of a run option (declared once, in ``settings.RUN_OPTIONS``)."""
    annotation = list[str] if o.type is list else o.type
    # an option a config file or the environment may also set is None when not given here
    default = None if (o.toml or o.env or o.default is None) else o.default
    return inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                             default=typer.Option(default, *o.flags, help=o.help, envvar=o.env,
                                                  min=o.min))


def _with_run_options(extra: list[inspect.Parameter] = ()):
    """Give a command the run options (after its own ``extra`` parameters) as typer reads them:
    the function's ``__signature__`` and ``__annotations__``."""

    def deco(fn):
        params = [*extra, *(_typer_option(o) for o in RUN_OPTIONS)]
        fn.__signature__ = inspect.Signature(params, return_annotation=None)
        fn.__annotations__ = {p.name: p.annotation for p in params}
        return fn

    return deco


def _configure(options: dict, out_prefix: str = ""):
    """The run's :class:`RunConfig` from the command's options (``error:`` line on a bad one)."""
    try:
        return api.configure(**options, env=os.environ, out_prefix=out_prefix)
    except api.USER_ERRORS as e:
        fail(str(e))


def _finish(res, sweep_lines: list[str] | None = None) -> None:
    """Print a finished run's health, the sweep's findings, the headline table and the paths;
    exit 1 with one ``error:`` line when the run is incomplete."""
    out = res.out
    for line in health_lines(res.meta):  # the run's health, even with --quiet
        typer.echo(line, err=True)
    if res.exit_code:
        typer.echo(f"error: run incomplete: {res.incomplete_reason} (see {out / 'run.json'}; "
                   f"`bench status {out}`)", err=True)
        raise typer.Exit(res.exit_code)
    if res.model_errors:  # only with --keep-going: each is named above with its reason
        typer.echo(f"note: --keep-going: exit 0 although {len(res.model_errors)} requested "
                   f"model(s) failed ({', '.join(res.model_errors)})", err=True)
    if sweep_lines is not None:
        for line in sweep_lines:
            typer.echo(line, err=True)
        typer.echo(f"sweep: {out / 'sweep.csv'}, {out / 'closest.csv'}, {out / 'sweep.md'}",
                   err=True)
    remember(out)
    for line in headline_table(out):
        typer.echo(line, err=True)
    typer.echo(f"report: bench report --run {out}", err=True)
    typer.echo(str(out))


@app.command()
@_with_run_options()
def run(**options) -> None:
    """Run suites and write per_image.csv, summary.csv and run.json (resumable, any executor)."""
    cfg = _configure(options)
    if options["print_config"]:
        typer.echo(cfg.to_toml(), nl=False)
        return
    try:
        res = run_config(cfg)
    except RunError as e:
        fail(str(e))
    _finish(res)


_SWEEP_OPTIONS = [
    inspect.Parameter("grid", inspect.Parameter.KEYWORD_ONLY, annotation=list[str], default=typer.Option(
        None, "--grid", help="KEY=V1,V2,... (repeatable; keys as in --set). Default: the suite's "
                             "own grid of its paper's open choices.")),
    inspect.Parameter("grid_file", inspect.Parameter.KEYWORD_ONLY, annotation=Path, default=typer.Option(
        None, "--grid-file", help="TOML with a [grid] table of lists.")),
    inspect.Parameter("max_variants", inspect.Parameter.KEYWORD_ONLY, annotation=int, default=typer.Option(
        64, "--max-variants", min=1, help="Refuse grids with more points than this.")),
    inspect.Parameter("paper_table", inspect.Parameter.KEYWORD_ONLY, annotation=Path, default=typer.Option(
        None, "--paper-table", help="CSV of the numbers to match (columns of reported.csv) "
                                    "[default: the papers' tables].")),
]


@app.command()
@_with_run_options(_SWEEP_OPTIONS)
def sweep(grid, grid_file, max_variants, paper_table, **options) -> None:
    """Run the product of settings as variants of one run (sharing SR passes and preparations) and
    say which reading comes closest to each paper cell (sweep.csv, closest.csv, sweep.md). Every
    `bench run` option is accepted (see `bench run --help`)."""
    cfg = _configure(options, out_prefix="sweep-")
    try:
        plan = api.plan_sweep(cfg, grid, grid_file, max_variants, paper_table)
    except api.USER_ERRORS as e:
        fail(str(e))
    if options["print_config"]:
        typer.echo(cfg.to_toml(), nl=False)
        return
    try:
        res = api.run_sweep(cfg, plan, lambda line: typer.echo(f"sweep: {line}", err=True))
    except RunError as e:
        fail(str(e))
    _finish(res, res.findings)


@app.command("perf", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def perf_cmd(
    ctx: typer.Context,
    pipeline: bool = typer.Option(False, "--pipeline", help="Profile a whole bench run: images/s "
                                                            "end to end and the split between "
                                                            "reading, SR, metrics and writing."),
    scaling: bool = typer.Option(False, "--scaling", help="Images/s with the local executor and "
                                                          "1 and 2 local Ray workers, and the "
                                                          "per-shard overhead."),
    suite: str = typer.Option("rashid", "--suite", help="Suite of --pipeline / --scaling."),
    data_root: Path = typer.Option(None, "--data-root", envvar="BENCH_DATA_ROOT",
                                   help="Datasets folder (--pipeline / --scaling)."),
    models: str = typer.Option("bilinear,bicubic", "--models", help="Models (--pipeline / --scaling)."),
    limit: int = typer.Option(None, "--limit", min=1, help="Images per dataset [default: all]."),
    weights_dir: Path = typer.Option(None, "--weights-dir", envvar="BENCH_WEIGHTS",
                                     help="Weight files (--pipeline / --scaling)."),
    write: Path = typer.Option(None, "--write", help="Also write the Markdown table to this file."),
) -> None:
    """Speed benchmarks. Without --pipeline / --scaling: the inference engine vs RealESRGANer
    (images/s, ratio, max diff); its options (--sizes, --precision, --tiled, ...) are listed by
    `bench perf --engine-help`."""
    if not (pipeline or scaling):
        from typer.main import get_command


        sub = typer.Typer(add_completion=False, rich_markup_mode=None)
        sub.command()(engine_perf)
        args = ["--help" if a == "--engine-help" else a for a in ctx.args]
        if weights_dir is not None:  # an option of both modes: hand it on
            args += ["--weights-dir", str(weights_dir)]
        get_command(sub).main(args=args, prog_name="bench perf", standalone_mode=False)
        return
    import shlex
    import sys
    import tempfile


    try:
        suites = [s.name for s in resolve_suites(suite)]
    except KeyError as e:
        fail(str(e.args[0]))
    root = _data_root(data_root)
    if root is None and suite != "demo":
        fail(f"--suite {suite} needs --data-root (or BENCH_DATA_ROOT)")
    command = "bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="bench-perf-") as tmp:
        cfg = RunConfig(suites=suites, models=[m.strip() for m in models.split(",") if m.strip()],
                        data_root=root, limit=limit, out=Path(tmp) / "run",
                        weights_dir=weights_dir or default_weights_dir(),
                        prepared_dir=default_prepared_dir(),
                        show_progress=False)
        text = ""
        if pipeline:
            text += "## Pipeline\n\n" + perf.pipeline_markdown(perf.pipeline_profile(cfg), command)
        if scaling:
            setups = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2)]
            text += "\n## Scaling\n\n" + perf.scaling_markdown(perf.scaling(cfg, setups), command)
    typer.echo(text)
    if write is not None:

        atomic_write_text(write, text)


@app.command("status")
def status_cmd(run_dir: Path = typer.Argument(..., help="A run directory.")) -> None:
    """Done / running / failed / pending shards of a run (any executor); a protocol scored on a
    stand-in dataset is shown with it (``cptac-gbm[val] on ct-head-standin (stand-in)``)."""

    try:
        st = status(run_dir)
    except RunError as e:
        fail(str(e))
    planned = planned_variants(run_dir)
    stand = stand_in_entries(planned)

    def name(protocol: str, split: str = "") -> str:
        e = stand.get(protocol)
        return protocol + (f"[{split}]" if split else "") + \
            (f" on {e.get('dataset')} (stand-in)" if e else "")

    total = sum(len(v) for v in st.values())
    typer.echo(f"{run_dir}: {total} tasks: " + ", ".join(f"{len(v)} {k}" for k, v in st.items()))
    by: dict = {}
    for k, ts in st.items():
        for t in ts:
            c = by.setdefault(name(t["protocol"], t["split"]), dict.fromkeys(st, 0))
            c[k] += 1
    width = max([28, *map(len, by)])
    for label, c in by.items():
        typer.echo(f"  {label:{width}s} " + ", ".join(f"{v} {k}" for k, v in c.items()))
    for t in st["running"]:
        typer.echo(f"  running: {name(t['protocol'])} shard {t['shard'][0] + 1}/{t['shard'][1]} "
                   f"{t['model']}")
    for t in st["failed"]:
        typer.echo(f"  failed: {name(t['protocol'])} shard {t['shard'][0] + 1}/{t['shard'][1]} "
                   f"{t['model']}: {t.get('error', '')}")
    for note in stand_in_notes(planned):
        typer.echo(f"  stand-in: {note}")


@app.command("settings")
def settings_cmd(
    group: str = typer.Argument(None, help="Only this group (metric, model, clinical, a "
                                           "protocol)."),
    suite: str = typer.Option(None, "--suite", "-s", help="Show the defaults this suite (comma "
                              "list allowed) scores with, and only its protocols' groups."),
) -> None:
    """Every open choice settable with --set KEY=VALUE: key = default [type], the full
    description (plain text, wrapped to the terminal) and, where a suite scores with another
    value (e.g. metric.data_range is 1.0 for rashid), the per-suite default."""

    infos = list(setting_infos().values())
    groups = list(dict.fromkeys(i.group for i in infos))
    chosen = None
    if suite is not None:
        try:
            chosen = resolve_suites(suite)
        except KeyError as e:
            fail(str(e.args[0]))
        protocols = {d.protocol for s in chosen for d in s.datasets}
        infos = [i for i in infos if i.group in DATACLASS_GROUPS or i.group in protocols]
    if group is not None:
        infos = [i for i in infos if i.group == group]
    if not infos:
        fail(f"unknown group {group!r}{did_you_mean(group, groups)}; groups: {', '.join(groups)}"
             if group not in groups else f"group {group!r} is not read by suite {suite}")
    overrides = metric_overrides(chosen)
    width = max(40, shutil.get_terminal_size((100, 24)).columns - 1)

    def wrap(text: str) -> str:
        return textwrap.fill(text, width, initial_indent="    ", subsequent_indent="    ")

    for i in infos:
        over = overrides.get(i.field, {}) if i.group == "metric" else {}
        whole = [v for label, v in over.items() if "/" not in label]
        value = whole[0] if chosen is not None and len(chosen) == 1 and whole else i.default
        head = f"{i.key} = {toml_value(value)}  [{i.type_text}]"
        if value != i.default:
            head += f"  (default {toml_value(i.default)})"
        typer.echo(head)
        typer.echo(wrap(i.doc or "(no description)"))
        if over and not (chosen is not None and len(chosen) == 1 and whole):
            typer.echo(wrap("per suite: " + "; ".join(f"{label} = {toml_value(v)}"
                                                       for label, v in over.items())))


@app.command()
def report(
    run_dir: Path = typer.Option(None, "--run", help="Run directory [default: the last `bench run` "
                                                     "here, else the newest in results/runs]."),
    out: Path = typer.Option(None, "--out", "-o", help="Output file [default reports/<run>.<ext>]."),
    fmt: str = typer.Option("html", "--format", "-f",
                            help="html (the page) | md | csv | json | latex (paper-vs-reproduced "
                                 "tables and verdicts; csv also writes <out>-claims.csv)."),
    zoom: str = typer.Option(None, "--zoom", help="Crop-zoom region x,y,w,h in HR pixels for every "
                                                  "figure [default: the most detailed window of "
                                                  "each HR image]."),
    main_metric: str = typer.Option("ssim", "--main-metric",
                                    help="Metric of the summary heatmap (ssim: reported by all "
                                         "four papers)."),
) -> None:
    """Render a run: the HTML page (verdicts, paper vs reproduced, plots, crop-zoom) or the tables."""

    if fmt not in FORMATS:
        fail(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    region = None
    if zoom is not None:
        try:
            region = parse_region(zoom)
        except ValueError as e:
            fail(str(e))
    if run_dir is None:
        from medsr_bench.cli.last_run import default_run

        run_dir, how = default_run()
        if run_dir is None:
            fail("no run found in results/runs; pass --run DIR (a folder written by `bench run`)")
        typer.echo(f"rendering {run_dir} ({how}; pass --run DIR for another)", err=True)
    if not (run_dir / "run.json").is_file():
        fail(f"--run {run_dir}: no run.json (expected a folder written by `bench run`)")
    out = out or Path("reports") / f"{run_dir.name}{default_extension(fmt)}"
    try:
        paths = render_report(run_dir, out, fmt,
                              ReportSettings(main_metric=main_metric.lower(), zoom=region))
    except ReportError as e:
        fail(str(e))
    for p in paths:
        typer.echo(str(p.resolve()))


@app.command()
def check(
    baseline: Path = typer.Option(..., "--baseline", help="Baseline CSV (a summary.csv committed "
                                                         "earlier, e.g. results/baselines/cpu-all-limit2.csv)."),
    run_dir: Path = typer.Option(..., "--run", help="Run directory written by `bench run`."),
    atol: list[str] = typer.Option(None, "--atol", help="Absolute tolerance METRIC=VALUE "
                                                        "(repeatable; VALUE alone: every metric). "
                                                        "Default: the metric registry's."),
    rtol: list[str] = typer.Option(None, "--rtol", help="Relative tolerance METRIC=VALUE "
                                                        "(repeatable), as --atol."),
    update: bool = typer.Option(False, "--update", help="Rewrite the baseline from the run and "
                                                        "print what changed (exit 0)."),
) -> None:
    """CI gate: compare the run's summary.csv with a baseline on (suite, dataset, variant, model,
    metric). Exit 0 within tolerance; exit 1 with a diff table when a number moved or a row
    appeared or vanished."""

    created = update and not baseline.is_file()
    try:
        res = api.check(baseline, run_dir, atol, rtol, update=update)
    except CheckError as e:
        fail(str(e))
    if created:
        typer.echo(f"wrote new baseline {baseline} ({len(res.rows)} rows)")
        return
    if res.rows:
        typer.echo(res.table())
    if update:
        typer.echo(f"updated {baseline}: " + ("no change" if res.ok else res.summary_line()))
        return
    typer.echo(res.summary_line())
    if not res.ok:
        typer.echo(f"if the change is intended: bench check --baseline {baseline} --run {run_dir} "
                   "--update, and commit the baseline with the change")
        raise typer.Exit(1)


@app.command("suites")
def list_suites() -> None:
    """List the suites, their datasets and paper tables."""

    for s in SUITES.values():
        typer.echo(f"{s.name:10s} {s.paper:3s} {s.title}")
        for d in s.datasets:
            typer.echo(f"{'':14s}{d.protocol:14s} {d.paper_table}")


@app.command("models")
def list_models_cmd(
    weights_dir: Path | None = WeightsDir,
    check: bool = typer.Option(True, "--check/--no-check",
                               help="Hash present weight files against the known sha256."),
) -> None:
    """The registered models (and the `bench train` checkpoints of the weights dir): native scale,
    family, weights (missing / present / verified: sha256 checked where one is known), source
    and the file `bench run` would read."""

    for line in models_table(weights_dir, check):
        typer.echo(line)


def main() -> None:
    """Entry point of ``bench`` and ``python -m medsr_bench``: every usage error (typer's own
    validation included, e.g. ``--limit 0``) ends with one ``error:`` line and exit code 2."""
    try:  # typer >= 0.20 vendors click as typer._click
        from typer._click import exceptions as cx
    except ImportError:  # pragma: no cover - older typer
        from click import exceptions as cx

    try:
        rv = app(prog_name="bench", standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except getattr(cx, "NoArgsIsHelpError", ()) as e:
        typer.echo(e.format_message() if hasattr(e, "format_message") else str(e), err=True)
        sys.exit(0)
    except cx.ClickException as e:
        ctx = getattr(e, "ctx", None)
        name = ctx.command_path if ctx is not None else "bench"
        typer.echo(f"error: {e.format_message()} ({name}; see --help)", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("error: interrupted; re-run the same command to resume (finished shards are "
                   "kept)", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
