"""``bench metrics ...``: list the metric registry and run the speed benchmark.

The lead mounts :data:`metrics_app` as ``bench metrics`` in ``cli/__init__.py``; it also runs alone
as ``python -m benchmark.metrics.cli``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from medsr_bench.benchmark.metrics import get_metric, list_metrics
from medsr_bench.core import machine_description
from medsr_bench.perf.metrics import (
    PEER_CASES,
    PEER_HEAD,
    TORCHMETRICS_MISSING,
    format_markdown,
    format_peer_markdown,
    have_torchmetrics,
    run_bench,
    run_peer_bench,
)

metrics_app = typer.Typer(help="Image-quality metrics: registry and speed benchmark.", no_args_is_help=True)


@metrics_app.command("list")
def list_cmd() -> None:
    """Print every registered metric: direction, range, whether it needs weights and whether they
    are present here, unit and source (the reference implementation it is tested against); for
    absent weights a second line says what is missing and how to get it. Any of these names goes
    to ``bench run --metrics``."""
    from medsr_bench.benchmark.metrics import metric_status

    typer.echo(f"{'name':13} {'better':6} {'range':12} {'weights':8} {'unit':12} source")
    for name in list_metrics():
        s = get_metric(name)
        rng = f"[{s.value_range[0]:g}, {s.value_range[1]:g}]"
        status, note = metric_status(name) if s.needs_weights else ("ok", "")
        weights = "no" if not s.needs_weights else ("missing" if status == "missing-weights" else "present")
        typer.echo(f"{s.name:13} {'higher' if s.higher_is_better else 'lower':6} {rng:12} "
                   f"{weights:8} {s.unit:12} {s.reference}")
        if note:
            typer.echo(f"{'':13} {note}")


@metrics_app.command("bench")
def bench_cmd(
    data_dir: Path = typer.Option(None, help="folder holding BraTS2018/, NIH_ChestXray14/, DRIVE/ "
                                  "(default: ../shared/data or $BENCH_SHARED/data)"),
    volumes: int = typer.Option(5, help="BraTS volumes to use (library table)"),
    slices: int = typer.Option(8, help="central slices per volume (library table)"),
    synthetic: int = typer.Option(0, help="library table: N synthetic 256x256 pairs instead of BraTS (0 = BraTS when present)"),
    device: str = typer.Option("cpu", help="torch device for the engine (cpu, cuda, cuda:1)"),
    threads: int = typer.Option(0, help="torch CPU threads, used by both sides (0 = torch default)"),
    repeats: int = typer.Option(1, help="library table: timing repeats (best is reported)"),
    library: bool = typer.Option(True, help="library table: full metric set vs skimage + sewar + NumPy"),
    peer: bool = typer.Option(True, help="peer table: SSIM, VIFp, MS-SSIM vs torchmetrics float32 "
                              "(needs the 'perf' extra)"),
    cases: str = typer.Option(",".join(PEER_CASES), help="peer table cases (comma list)"),
    peer_reps: int = typer.Option(5, help="peer table: alternating repetitions (median reported)"),
    out: Path = typer.Option(None, help="also write the Markdown tables to this file"),
) -> None:
    """Metric engine speed with max differences, side by side: vs skimage + sewar + NumPy (library
    table) and vs torchmetrics fed float32 (peer table, per metric, 256^2 / 1024^2 gray, 512^2 RGB)."""
    import torch


    if threads > 0:
        torch.set_num_threads(threads)
    case_list = [c.strip() for c in cases.split(",") if c.strip()]
    bad = [c for c in case_list if c not in PEER_CASES]
    if bad:
        typer.echo(f"error: unknown --cases {','.join(bad)}; expected from {','.join(PEER_CASES)}", err=True)
        raise typer.Exit(2)
    parts = []
    cmd = _own_command()
    if library:
        r = run_bench(data_dir=data_dir, volumes=volumes, slices=slices, synthetic_n=synthetic or None,
                      device=device, repeats=repeats)
        parts.append(format_markdown(r, command=cmd))
        typer.echo(parts[-1])
    if peer:
        if not have_torchmetrics():
            typer.echo(TORCHMETRICS_MISSING)
        else:
            typer.echo(PEER_HEAD)
            rows = run_peer_bench(case_list, data_dir=data_dir, reps=peer_reps, device=device, log=typer.echo)
            parts.append(format_peer_markdown(rows, machine_description(device), torch.get_num_threads(),
                                              peer_reps, cmd))
            typer.echo(parts[-1])
    if out is not None and parts:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(parts))
        typer.echo(f"written: {out}")


def _own_command() -> str:
    """The command line as typed (``bench metrics bench ...`` or ``python -m ...``)."""
    prog = Path(sys.argv[0]).name
    if prog in ("cli.py", "__main__.py"):
        prog = "python -m medsr_bench.cli.metrics"
    return " ".join([prog] + [shlex.quote(a) for a in sys.argv[1:]])


if __name__ == "__main__":  # pragma: no cover
    metrics_app()
