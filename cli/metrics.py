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
    IQA_CASES,
    IQA_HEAD,
    IQA_MISSING,
    PEER_CASES,
    PEER_HEAD,
    TORCHMETRICS_MISSING,
    format_iqa_markdown,
    format_markdown,
    format_peer_markdown,
    have_iqa_references,
    have_torchmetrics,
    run_bench,
    run_iqa_bench,
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
    peer_pairs: int = typer.Option(0, help="peer table: pairs per case (0 = 40 at 256^2, 4 at 1024^2, 8 at 512^2 RGB)"),
    iqa: bool = typer.Option(True, help="IQA table: GMSD, HaarPSI, FSIM, VSI, DISTS batched vs their "
                             "per-image references (needs the 'iqa' extra) and torchmetrics where it has them"),
    iqa_cases: str = typer.Option(",".join(IQA_CASES), help="IQA table cases (comma list)"),
    iqa_pairs: int = typer.Option(0, help="IQA table: pairs per case (0 = 40 at 256^2 gray, 8 at 512^2 RGB)"),
    iqa_reps: int = typer.Option(3, help="IQA table: alternating repetitions (median reported)"),
    out: Path = typer.Option(None, help="also write the Markdown tables to this file"),
) -> None:
    """Metric engine speed with max differences, side by side: vs skimage + sewar + NumPy (library
    table), vs torchmetrics fed float32 (peer table, per metric, 256^2 / 1024^2 gray, 512^2 RGB), and
    the perceptual IQA metrics vs their per-image references and torchmetrics where it has them (IQA
    table)."""
    import torch


    if threads > 0:
        torch.set_num_threads(threads)
    case_list = [c.strip() for c in cases.split(",") if c.strip()]
    iqa_list = [c.strip() for c in iqa_cases.split(",") if c.strip()]
    for opt, given, known in (("--cases", case_list, PEER_CASES), ("--iqa-cases", iqa_list, IQA_CASES)):
        bad = [c for c in given if c not in known]
        if bad:
            typer.echo(f"error: unknown {opt} {','.join(bad)}; expected from {','.join(known)}", err=True)
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
            machine = machine_description(device)  # before the table: its load average is "at start"
            rows = run_peer_bench(case_list, data_dir=data_dir, reps=peer_reps, device=device, log=typer.echo,
                                  n=peer_pairs or None)
            parts.append(format_peer_markdown(rows, machine, torch.get_num_threads(),
                                              peer_reps, cmd))
            typer.echo(parts[-1])
    if iqa:
        if not have_iqa_references():
            typer.echo(IQA_MISSING)
        else:
            typer.echo(IQA_HEAD)
            machine = machine_description(device)
            rows = run_iqa_bench(iqa_list, data_dir=data_dir, reps=iqa_reps, n=iqa_pairs or None, log=typer.echo)
            parts.append(format_iqa_markdown(rows, machine, torch.get_num_threads(),
                                             iqa_reps, cmd))
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
