"""The ``bench`` command: thin typer wrappers around the runner, report and sub-tools.

Every user error (bad path, unknown suite/model, conflicting run dir) ends with one line on stderr
starting ``error:`` and exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

import medsr_bench.compat  # noqa: F401  (before torchvision/basicsr)
from medsr_bench.benchmark.check import CheckError, run_check
from medsr_bench.benchmark.executors import EXECUTORS, ExecutorOptions
from medsr_bench.benchmark.report import (
    FORMATS,
    ReportError,
    ReportSettings,
    default_extension,
    render_report,
)
from medsr_bench.benchmark.report.figures import parse_region
from medsr_bench.benchmark.rundir import status
from medsr_bench.benchmark.runner import RunConfig, RunError, health_lines
from medsr_bench.benchmark.runner import run as run_config
from medsr_bench.benchmark.settings import (
    SettingError,
    parse_assignment,
    read_config_file,
    render_toml,
    setting_infos,
    toml_value,
    validate_settings,
)
from medsr_bench.benchmark.suites import (
    SUITES,
    register_user_datasets,
    resolve_suites,
    user_dataset_entries,
)
from medsr_bench.benchmark.sweep import (
    DEFAULT_GRIDS,
    SweepError,
    estimate,
    grid_points,
    parse_grid,
    write_outputs,
)
from medsr_bench.benchmark.tasks import DEFAULT_SHARD_SIZE
from medsr_bench.cli.data import data_app
from medsr_bench.cli.metrics import metrics_app
from medsr_bench.cli.models import perf as engine_perf
from medsr_bench.cli.models import weights_app
from medsr_bench.cli.reader import reader_app
from medsr_bench.core import atomic_write_text, resolve_device
from medsr_bench.data_prep.config import ConfigError, load_custom_config
from medsr_bench.data_prep.prepared import default_prepared_dir
from medsr_bench.models import get_spec, list_models
from medsr_bench.models.registry import default_weights_dir, discover_trained
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


def fail(msg: str, code: int = 2) -> None:
    """Print ``error: <msg>`` (one line) to stderr and exit with ``code``."""
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


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


def _user_models(fc: dict, config) -> list[dict]:
    """Entries of the config's ``[models.<name>]`` tables, registered (``error:`` line on a bad
    table or checkpoint)."""
    if not fc.get("model_tables"):
        return []
    from medsr_bench.models.config import load_model_tables
    from medsr_bench.models.registry import WeightsError
    from medsr_bench.models.spandrel_model import register_entry

    try:
        entries = load_model_tables(fc["model_tables"], config)
        for e in entries:
            register_entry(e)
    except (WeightsError, ValueError) as e:
        fail(str(e))
    return entries


def _file_models(names: list[str], taken: list[str]) -> tuple[list[str], list[dict]]:
    """``--models`` items that are checkpoint files (a path with a .pth/.pt/.ckpt/.safetensors
    suffix or an existing file) become user models named after the file; returns the model names
    and their new entries (``error:`` line for a missing or unusable file)."""
    from medsr_bench.models import get_spec, list_models
    from medsr_bench.models.registry import WeightsError
    from medsr_bench.models.spandrel_model import (
        CHECKPOINT_SUFFIXES,
        make_entry,
        name_for_file,
        register_entry,
    )

    out, entries = [], []
    for n in names:
        p = Path(n).expanduser()
        if not (n.lower().endswith(CHECKPOINT_SUFFIXES) or ("/" in n and p.is_file())):
            out.append(n)
            continue
        if not p.is_file():
            fail(f"--models {n}: file not found; expected a checkpoint file "
                 f"({', '.join(CHECKPOINT_SUFFIXES)}) or a model name (`bench models`)")
        builtin = {m for m in list_models() if get_spec(m).family != "spandrel"}
        name = name_for_file(p, builtin | set(taken) | {e["name"] for e in entries})
        try:
            e = make_entry(name, p, "--models")
            register_entry(e)
        except (WeightsError, ValueError) as err:
            fail(f"--models {n}: {err}")
        entries.append(e)
        out.append(name)
    return out, entries


def _pick(cli, file, default):
    """A CLI option when given, else the config file's value, else the default."""
    return cli if cli is not None else (file if file is not None else default)


@app.command()
def run(
    suite: str = typer.Option(None, "--suite", "-s",
                              help="aghelan | khandare | rashid | beallor | all | demo (comma list "
                                   "allowed). Default: all with a data root, demo without."),
    data_root: Path = typer.Option(None, "--data-root", envvar="BENCH_DATA_ROOT",
                                   help="Datasets folder."),
    models: str = typer.Option(None, "--models", "-m", help="Comma list of model names or "
                                                            "checkpoint files (.pth/.pt/.ckpt/"
                                                            ".safetensors, loaded by spandrel), or "
                                                            "all [default all; the config's "
                                                            "[models.*] when it has some]."),
    limit: int = typer.Option(None, "--limit", min=1, help="N images (slices) per dataset: the "
                                                           "first N of one fixed seeded order."),
    out: Path = typer.Option(None, "--out", "-o", help="Run directory [default results/runs/<suite>]."),
    device: str = typer.Option(None, "--device", help="auto | cpu | cuda [default auto]."),
    weights_dir: Path = typer.Option(None, "--weights-dir", envvar="BENCH_WEIGHTS",
                                     help="Weight files [default: user cache dir]."),
    batch_size: int = typer.Option(None, "--batch-size", min=1,
                                   help="Same-size images per model call [default 4]."),
    prepared_dir: Path = typer.Option(None, "--prepared-dir", envvar="BENCH_PREPARED",
                                      help="Cache of prepared HR/LR sets (as written by `bench data "
                                           "prepare`), reused when the protocol parameters hash "
                                           "matches, built otherwise [default results/prepared]."),
    no_prepared_cache: bool = typer.Option(False, "--no-prepared-cache",
                                           help="Prepare every sample on the fly; write no cache "
                                                "(one shard per dataset)."),
    set_: list[str] = typer.Option(None, "--set", help="KEY=VALUE for any open choice: "
                                                       "<protocol>.<field>, metric.<field>, "
                                                       "model.<field> (see `bench settings`)."),
    config: Path = typer.Option(None, "--config", "-c", help="TOML file with run options and "
                                                            "[<group>] tables of settings."),
    print_config: bool = typer.Option(False, "--print-config",
                                      help="Print the resolved configuration (TOML) and exit."),
    metrics: str = typer.Option(None, "--metrics", help="Comma-separated metric set every suite "
                                                        "scores, e.g. psnr,ssim,haarpsi (see "
                                                        "`bench metrics list`) [default: each "
                                                        "suite's own]."),
    channel: str = typer.Option(None, "--channel", help="Shortcut for --set metric.channel=..."),
    crop_border: int = typer.Option(None, "--crop-border", min=0,
                                    help="Shortcut for --set metric.crop_border=..."),
    strict: bool = typer.Option(None, "--strict/--lenient", help="A bad input file stops its "
                                                                 "dataset instead of being skipped "
                                                                 "and listed [default lenient]."),
    add: bool = typer.Option(False, "--add", help="Add these suites/models/settings as new variants "
                                                  "beside what the run dir holds."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another run holding --out to finish."),
    executor: str = typer.Option(None, "--executor", "-x", help="local | ray | slurm [default local]."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (auto or HOST:PORT); "
                                                        "default: start a local cluster."),
    workers: int = typer.Option(None, "--workers", min=1, help="Parallel workers: local processes "
                                                               "[default: CPU cores], Ray CPUs of "
                                                               "a local cluster, Slurm array "
                                                               "parallelism."),
    shard_size: int = typer.Option(None, "--shard-size", min=1,
                                   help="Images per shard (unit of work and resume) [default 64]."),
    max_retries: int = typer.Option(2, "--max-retries", min=0, help="Retries of a failed shard."),
    threads: int = typer.Option(1, "--threads", min=1, help="Torch threads per worker; tables are "
                                                            "bit-identical across executors for "
                                                            "the same value."),
    slurm_partition: str = typer.Option(None, "--slurm-partition", help="Slurm partition."),
    slurm_time: int = typer.Option(60, "--slurm-time", min=1, help="Slurm time limit (minutes)."),
    slurm_gpus: int = typer.Option(0, "--slurm-gpus", min=0, help="GPUs per Slurm task."),
    slurm_cluster: str = typer.Option(None, "--slurm-cluster",
                                      help="submitit cluster: slurm (default when sbatch exists) "
                                           "| local (same jobs as local processes) | debug."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Run suites and write per_image.csv, summary.csv and run.json (resumable, any executor)."""
    _run_impl(dict(locals()))


def _run_impl(a: dict, sweep: dict | None = None) -> None:
    """The body of ``bench run`` (and of ``bench sweep``, which adds ``sweep``: its grid options)."""

    suite, data_root, models, limit, out, device = (a["suite"], a["data_root"], a["models"],
                                                    a["limit"], a["out"], a["device"])
    weights_dir, batch_size, prepared_dir = a["weights_dir"], a["batch_size"], a["prepared_dir"]
    no_prepared_cache, set_, config = a["no_prepared_cache"], a["set_"], a["config"]
    print_config, channel, crop_border, strict = (a["print_config"], a["channel"],
                                                  a["crop_border"], a["strict"])
    add, wait, executor, address, workers = (a["add"], a["wait"], a["executor"], a["address"],
                                             a["workers"])
    shard_size, max_retries, threads = a["shard_size"], a["max_retries"], a["threads"]
    slurm_partition, slurm_time, slurm_gpus, slurm_cluster, quiet = (
        a["slurm_partition"], a["slurm_time"], a["slurm_gpus"], a["slurm_cluster"], a["quiet"])
    metrics_opt = a.get("metrics")

    fc: dict = {}
    raw_settings: dict = {}
    try:
        if config is not None:

            fc, raw_settings = read_config_file(config)
        for a in set_ or []:
            k, v = parse_assignment(a)
            raw_settings[k] = v
        if channel is not None:
            raw_settings["metric.channel"] = channel
        if crop_border is not None:
            raw_settings["metric.crop_border"] = crop_border
        user = []
        if fc.get("datasets"):

            try:
                user = user_dataset_entries(load_custom_config(config))
            except ConfigError as e:
                fail(str(e))
            register_user_datasets(user)  # before the settings: custom-<name>.<field> keys
        settings = validate_settings(raw_settings)
    except SettingError as e:
        fail(str(e))
    metric_set = _metric_set(_pick(metrics_opt, fc.get("metrics"), None))
    root = _data_root(_pick(data_root, Path(fc["data_root"]) if fc.get("data_root") else None, None))
    suite = _pick(suite, fc.get("suite"), None)
    if suite is None:
        suite = "custom" if user else "all" if root is not None else "demo"
    try:
        suites = resolve_suites(suite)
    except KeyError as e:
        fail(str(e.args[0]))
    if root is None and any(s.name not in ("demo", "custom") for s in suites):
        fail(f"--suite {suite} needs real data: pass --data-root DIR or set BENCH_DATA_ROOT "
             "(or run --suite demo on the embedded images)")
    wd = _pick(weights_dir, fc.get("weights_dir"), None)
    wd = Path(wd) if wd else default_weights_dir()

    discover_trained(wd)  # rows of checkpoints `bench train` recorded there
    user_models = _user_models(fc, config)
    mspec = _pick(models, fc.get("models"), None)
    if isinstance(mspec, list):
        mspec = ",".join(mspec)
    if mspec is None:
        mspec = ",".join(e["name"] for e in user_models) if user_models else "all"
    names = [m.strip() for m in mspec.split(",") if m.strip()]
    names, file_models = _file_models(names, [e["name"] for e in user_models])
    user_models += file_models
    known = list_models()
    names = known if names == ["all"] else names
    unknown = [m for m in names if m not in known]
    if unknown or not names:
        from medsr_bench.core import did_you_mean

        hint = did_you_mean(unknown[0], known) if unknown else ""
        fail(f"unknown model {', '.join(unknown) or repr(mspec)}{hint}; known: {', '.join(known)}")
    executor = _pick(executor, fc.get("executor"), "local")
    if executor not in EXECUTORS:
        fail(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    try:
        dev = resolve_device(_pick(device, fc.get("device"), "auto"))
    except ValueError as e:
        fail(str(e))
    default_out = ("sweep-" if sweep is not None else "") + suite.replace(",", "+")
    out = Path(_pick(out, fc.get("out"), Path("results") / "runs" / default_out))
    if no_prepared_cache:
        prepared = None
    else:

        prepared = Path(_pick(prepared_dir, fc.get("prepared_dir"), default_prepared_dir()))
    cfg = RunConfig(suites=[s.name for s in suites], models=names, data_root=root,
                    limit=_pick(limit, fc.get("limit"), None), settings=settings,
                    strict=bool(_pick(strict, fc.get("strict"), False)), out=out, device=dev,
                    weights_dir=wd,
                    batch_size=_pick(batch_size, fc.get("batch_size"), 4), prepared_dir=prepared,
                    shard_size=_pick(shard_size, fc.get("shard_size"), DEFAULT_SHARD_SIZE),
                    threads=threads, show_progress=not quiet, user_datasets=user,
                    user_models=user_models, metrics=metric_set)
    if cfg.limit is not None and cfg.limit < 1:
        fail(f"limit {cfg.limit}: expected an integer >= 1")
    identities, before = None, None
    if sweep is not None:
        from medsr_bench.benchmark.sweep import check_paper_table

        try:
            check_paper_table(sweep["paper_table"])  # before any work starts
        except ValueError as e:
            fail(str(e))
        identities, before, axes = _sweep_points(cfg, sweep, [s.name for s in suites])
    if print_config:
        typer.echo(_render_config(cfg, executor), nl=False)
        return
    opts = ExecutorOptions(address=_pick(address, fc.get("address"), None),
                           workers=_pick(workers, fc.get("workers"), None), max_retries=max_retries,
                           slurm_cluster=slurm_cluster, partition=slurm_partition,
                           time_min=slurm_time, gpus_per_task=slurm_gpus)
    try:
        res = run_config(cfg, executor=executor, opts=opts, add=add, wait=wait,
                         identities=identities, before=before)
    except RunError as e:
        fail(str(e))
    for line in health_lines(res.meta):  # the run's health, even with --quiet
        typer.echo(line, err=True)
    if res.exit_code:
        why = ("nothing was evaluated" if res.evaluated == 0 else
               f"{len(res.failed)} task(s) failed" if res.failed else
               f"model(s) {', '.join(res.model_errors)} failed" if res.model_errors else
               "a dataset stopped with an error")
        typer.echo(f"error: run incomplete: {why} (see {out / 'run.json'}; `bench status {out}`)",
                   err=True)
        raise typer.Exit(res.exit_code)
    if sweep is not None:
        _sweep_outputs(out, axes, sweep, [s.name for s in suites], before)
    from medsr_bench.cli.last_run import remember
    from medsr_bench.cli.run_summary import headline_table

    remember(out)
    for line in headline_table(out):
        typer.echo(line, err=True)
    typer.echo(f"report: bench report --run {out}", err=True)
    typer.echo(str(out))


def _metric_set(spec) -> tuple[str, ...] | None:
    """``--metrics`` / TOML ``metrics`` as canonical names (None: each suite's own set)."""
    if spec is None:
        return None
    from medsr_bench.benchmark.metrics.selection import parse_metric_list

    try:
        return parse_metric_list(spec)
    except ValueError as e:
        fail(f"--metrics: {e}")


def _sweep_points(cfg, sweep: dict, suites: list[str]):
    """Grid points of a sweep as run identities, and the hook printing the estimate."""
    from dataclasses import replace


    try:
        grid = parse_grid(sweep["grid"] or [], sweep["grid_file"])
    except SweepError as e:
        fail(str(e))
    if not grid:
        for s in suites:
            grid.update(DEFAULT_GRIDS.get(s, {}))
        if not grid:
            fail(f"--suite {','.join(suites)}: no default grid; pass --grid KEY=V1,V2 or "
                 f"--grid-file (default grids: {', '.join(DEFAULT_GRIDS)})")
    try:
        points, dropped = grid_points(grid, cfg.settings)
    except SweepError as e:
        fail(str(e))
    if len(points) > sweep["max_variants"]:
        fail(f"the grid has {len(points)} points, more than --max-variants {sweep['max_variants']}; "
             "narrow the grid or raise --max-variants")
    state = {"points": len(points), "dropped": len(dropped), "text": ""}

    def before(plan):
        state["text"] = estimate(plan, len(points), len(dropped))
        typer.echo(f"sweep: {state['text']}", err=True)

    before.state = state  # type: ignore[attr-defined]
    return [replace(cfg, settings=pt).identity() for pt in points], before, list(grid)


def _sweep_outputs(out: Path, axes: list[str], sweep: dict, suites: list[str], before) -> None:

    _, closest, lines = write_outputs(out, axes, before.state["text"], sweep["paper_table"], suites)
    for line in lines:
        typer.echo(line, err=True)
    typer.echo(f"sweep: {out / 'sweep.csv'}, {out / 'closest.csv'}, {out / 'sweep.md'}", err=True)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sweep(
    ctx: typer.Context,
    grid: list[str] = typer.Option(None, "--grid", help="KEY=V1,V2,... (repeatable; keys as in "
                                                        "--set). Default: the suite's own grid "
                                                        "of its paper's open choices."),
    grid_file: Path = typer.Option(None, "--grid-file", help="TOML with a [grid] table of lists."),
    max_variants: int = typer.Option(64, "--max-variants", min=1,
                                     help="Refuse grids with more points than this."),
    paper_table: Path = typer.Option(None, "--paper-table", help="CSV of the numbers to match "
                                                                  "(columns of reported.csv) "
                                                                  "[default: the papers' tables]."),
) -> None:
    """Run the product of settings as variants of one run (sharing SR passes and preparations) and
    say which reading comes closest to each paper cell (sweep.csv, closest.csv, sweep.md). Every
    `bench run` option is accepted (see `bench run --help`)."""
    from typer.main import get_command

    run_cmd = get_command(app).commands["run"]
    sub = run_cmd.make_context("sweep", list(ctx.args), parent=ctx)
    _run_impl(dict(sub.params), sweep={"grid": grid, "grid_file": grid_file,
                                       "max_variants": max_variants, "paper_table": paper_table})


def _render_config(cfg, executor: str) -> str:
    """The resolved configuration as TOML: run options, then every field of each setting group the
    run uses, with the values in force (set ones marked)."""

    infos = setting_infos()
    used = ["metric", "model", *dict.fromkeys(d.protocol for s in cfg.suites
                                              for d in SUITES[s].datasets)]
    groups = []
    for g in used:
        keys = [k for k, i in infos.items() if i.group == g]
        vals = {infos[k].field: cfg.settings.get(k, infos[k].default) for k in keys}
        defaults = {infos[k].field: infos[k].default for k in keys}
        groups.append((g, vals, defaults))
    run_opts = {"suite": ",".join(cfg.suites), "models": list(cfg.models),
                "data_root": str(cfg.data_root) if cfg.data_root else None, "limit": cfg.limit,
                "out": str(cfg.out), "device": cfg.device, "weights_dir": str(cfg.weights_dir),
                "batch_size": cfg.batch_size, "strict": cfg.strict, "executor": executor,
                "shard_size": cfg.shard_size,
                "prepared_dir": str(cfg.prepared_dir) if cfg.prepared_dir else None,
                **({"metrics": list(cfg.metrics)} if cfg.metrics else {})}
    head = ("# bench run --config FILE reads this back. [metric] applies to every suite's metric "
            "settings;\n# each suite's own defaults are listed in run.json (variants).\n")
    return head + render_toml(run_opts, groups)


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
    """Done / running / failed / pending shards of a run (any executor)."""

    try:
        st = status(run_dir)
    except RunError as e:
        fail(str(e))
    total = sum(len(v) for v in st.values())
    typer.echo(f"{run_dir}: {total} tasks: " + ", ".join(f"{len(v)} {k}" for k, v in st.items()))
    by: dict = {}
    for k, ts in st.items():
        for t in ts:
            c = by.setdefault(f"{t['protocol']}[{t['split']}]", dict.fromkeys(st, 0))
            c[k] += 1
    for name, c in by.items():
        typer.echo(f"  {name:28s} " + ", ".join(f"{v} {k}" for k, v in c.items()))
    for t in st["running"]:
        typer.echo(f"  running: {t['protocol']} shard {t['shard'][0] + 1}/{t['shard'][1]} "
                   f"{t['model']}")
    for t in st["failed"]:
        typer.echo(f"  failed: {t['protocol']} shard {t['shard'][0] + 1}/{t['shard'][1]} "
                   f"{t['model']}: {t.get('error', '')}")


@app.command("settings")
def settings_cmd(group: str = typer.Argument(None, help="Only this group (metric, model, a "
                                                        "protocol).")) -> None:
    """Every open choice settable with --set KEY=VALUE: key, default, type and where it comes from."""

    infos = [i for i in setting_infos().values() if group is None or i.group == group]
    if not infos:
        fail(f"unknown group {group!r}; groups: "
             + ", ".join(dict.fromkeys(i.group for i in setting_infos().values())))
    for i in infos:
        typer.echo(f"{i.key:34s} = {toml_value(i.default):24s} {i.type_text:22s} {i.doc[:90]}")


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
        res = run_check(baseline, run_dir, atol, rtol, update=update)
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
def list_models_cmd() -> None:
    """List the registered models with their native scale and weight file."""

    for name in list_models():
        spec = get_spec(name)
        w = spec.pretrained.file if spec.pretrained else "-"
        typer.echo(f"{name:30s} x{spec.scale or '*'} {spec.family:14s} {w}")


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
