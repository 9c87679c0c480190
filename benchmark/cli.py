"""The ``bench`` command: thin typer wrappers around the runner, report and sub-tools.

Every user error (bad path, unknown suite/model, conflicting run dir) ends with one line on stderr
starting ``error:`` and exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

import medsr_bench.compat  # noqa: F401  (before torchvision/basicsr)

app = typer.Typer(
    help="medsr-bench: reproduce four medical-image super-resolution papers side by side.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[default ...]" must not be read as markup
)


def fail(msg: str, code: int = 2) -> None:
    """Print ``error: <msg>`` (one line) to stderr and exit with ``code``."""
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _mount() -> None:
    from medsr_bench.benchmark.metrics.cli import metrics_app
    from medsr_bench.data_prep.cli import data_app
    from medsr_bench.models.cli import perf, weights_app

    app.add_typer(data_app, name="data", help="Prepare and inspect datasets (HR/LR pairs + manifests).")
    app.add_typer(weights_app, name="weights", help="List, fetch and verify model weights.")
    app.add_typer(metrics_app, name="metrics", help="Metric registry and metric-engine benchmark.")
    app.command("perf", help="Inference engine vs RealESRGANer: images/s, ratio, max diff.")(perf)
    app.command("train", help="Train a paper's model from its recipe; registers the checkpoint.")(__import__("medsr_bench.models.train.cli", fromlist=["train"]).train)


_mount()


def _data_root(data_root: Path | None) -> Path | None:
    if data_root is not None and not data_root.is_dir():
        fail(f"--data-root {data_root}: not a directory (expected a folder holding the datasets in "
             "their official layouts, e.g. DRIVE/, NIH_ChestXray14/, BraTS2018/, CT_head_DICOM/)")
    return data_root


@app.command()
def run(
    suite: str = typer.Option(None, "--suite", "-s",
                              help="aghelan | khandare | rashid | beallor | all | demo (comma list "
                                   "allowed). Default: all with a data root, demo without."),
    data_root: Path = typer.Option(None, "--data-root", envvar="BENCH_DATA_ROOT",
                                   help="Datasets folder."),
    models: str = typer.Option("all", "--models", "-m", help="Comma list of model names, or all."),
    limit: int = typer.Option(None, "--limit", min=1, help="N images (slices) per dataset, "
                                                            "chosen deterministically."),
    out: Path = typer.Option(None, "--out", "-o", help="Run directory [default results/runs/<suite>]."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    weights_dir: Path = typer.Option(None, "--weights-dir", envvar="BENCH_WEIGHTS",
                                     help="Weight files [default: user cache dir]."),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="Same-size images per model call."),
    prepared_dir: Path = typer.Option(None, "--prepared-dir", envvar="BENCH_PREPARED",
                                      help="Cache of prepared HR/LR sets (as written by `bench data "
                                           "prepare`), reused when the protocol parameters hash "
                                           "matches, built otherwise [default results/prepared]."),
    no_prepared_cache: bool = typer.Option(False, "--no-prepared-cache",
                                           help="Prepare every sample on the fly; write no cache."),
    channel: str = typer.Option(None, "--channel", help="Override every suite's metric channel: "
                                                        "gray | rgb | y."),
    crop_border: int = typer.Option(None, "--crop-border", min=0,
                                    help="Override every suite's crop border (pixels)."),
    strict: bool = typer.Option(False, "--strict", help="A bad input file stops its dataset "
                                                         "instead of being skipped and listed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Run suites and write per_image.csv, summary.csv and run.json (resumable)."""
    from medsr_bench.benchmark.runner import RunConfig, RunError, Runner
    from medsr_bench.benchmark.suites import resolve_suites
    from medsr_bench.core import resolve_device
    from medsr_bench.models import list_models
    from medsr_bench.models.registry import default_weights_dir

    root = _data_root(data_root)
    if suite is None:
        suite = "all" if root is not None else "demo"
    try:
        suites = resolve_suites(suite)
    except KeyError as e:
        fail(str(e.args[0]))
    if root is None and any(s.name != "demo" for s in suites):
        fail(f"--suite {suite} needs real data: pass --data-root DIR or set BENCH_DATA_ROOT "
             "(or run --suite demo on the embedded images)")
    known = list_models()
    names = known if models == "all" else [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in known]
    if unknown or not names:
        fail(f"unknown model {', '.join(unknown) or repr(models)}; known: {', '.join(known)}")
    if channel is not None and channel not in ("gray", "rgb", "y"):
        fail(f"--channel {channel!r}: expected gray, rgb or y")
    try:
        dev = resolve_device(device)
    except ValueError as e:
        fail(str(e))
    overrides = {}
    if channel is not None:
        overrides["channel"] = channel
    if crop_border is not None:
        overrides["crop_border"] = crop_border
    out = out or Path("results") / "runs" / suite.replace(",", "+")
    if no_prepared_cache:
        prepared_dir = None
    elif prepared_dir is None:
        from medsr_bench.data_prep.prepared import default_prepared_dir

        prepared_dir = default_prepared_dir()
    cfg = RunConfig(suites=suites, out=out, data_root=root, models=names, limit=limit, device=dev,
                    weights_dir=weights_dir or default_weights_dir(), batch_size=batch_size,
                    prepared_dir=prepared_dir, eval_overrides=overrides, strict=strict,
                    show_progress=not quiet)
    try:
        meta = Runner(cfg).run()
    except RunError as e:
        fail(str(e))
    skipped = [k for k, v in meta["datasets"].items() if v.get("status") == "skipped"]
    if skipped:
        typer.echo(f"skipped datasets (absent): {', '.join(skipped)} — see run.json", err=True)
    failed = {k: v["reason"] for k, v in meta["datasets"].items() if v.get("status") == "error"}
    for k, why in failed.items():
        typer.echo(f"dataset {k} stopped: {why}", err=True)
    n_files = sum(len(v.get("skipped_files", [])) for v in meta["datasets"].values())
    if n_files:
        typer.echo(f"{n_files} unreadable input file(s) skipped — listed in run.json", err=True)
    if failed:
        raise typer.Exit(1)
    typer.echo(str(out))


@app.command()
def report(
    run_dir: Path = typer.Option(None, "--run", help="Run directory [default: newest in results/runs]."),
    out: Path = typer.Option(None, "--out", "-o", help="HTML file [default reports/<run>.html]."),
) -> None:
    """Render a run as a self-contained HTML page (paper vs reproduced, per-image, crop-zoom)."""
    from medsr_bench.benchmark.report import ReportError, render_report

    if run_dir is None:
        runs = sorted(Path("results/runs").glob("*/run.json"), key=lambda p: p.stat().st_mtime)
        if not runs:
            fail("no run found in results/runs; pass --run DIR (a folder written by `bench run`)")
        run_dir = runs[-1].parent
    if not (run_dir / "run.json").is_file():
        fail(f"--run {run_dir}: no run.json (expected a folder written by `bench run`)")
    out = out or Path("reports") / f"{run_dir.name}.html"
    try:
        path = render_report(run_dir, out)
    except ReportError as e:
        fail(str(e))
    typer.echo(str(path.resolve()))


@app.command("suites")
def list_suites() -> None:
    """List the suites, their datasets and paper tables."""
    from medsr_bench.benchmark.suites import SUITES

    for s in SUITES.values():
        typer.echo(f"{s.name:10s} {s.paper:3s} {s.title}")
        for d in s.datasets:
            typer.echo(f"{'':14s}{d.protocol:14s} {d.paper_table}")


@app.command("models")
def list_models_cmd() -> None:
    """List the registered models with their native scale and weight file."""
    from medsr_bench.models import get_spec, list_models

    for name in list_models():
        spec = get_spec(name)
        w = spec.pretrained.file if spec.pretrained else "-"
        typer.echo(f"{name:30s} x{spec.scale or '*'} {spec.family:14s} {w}")


def main() -> None:  # pragma: no cover
    app(prog_name="bench")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
