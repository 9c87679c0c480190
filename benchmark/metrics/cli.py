"""``bench metrics ...``: list the metric registry and run the speed benchmark.

The lead mounts :data:`metrics_app` as ``bench metrics`` in ``benchmark/cli.py``; it also runs alone
as ``python -m benchmark.metrics.cli``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

metrics_app = typer.Typer(help="Image-quality metrics: registry and speed benchmark.", no_args_is_help=True)


@metrics_app.command("list")
def list_cmd() -> None:
    """Print every registered metric with direction, range, weights need and reference."""
    from medsr_bench.benchmark.metrics import get_metric, list_metrics

    typer.echo(f"{'name':8} {'better':6} {'range':18} {'weights':8} {'unit':12} reference")
    for name in list_metrics():
        s = get_metric(name)
        rng = f"[{s.value_range[0]:g}, {s.value_range[1]:g}]"
        typer.echo(f"{s.name:8} {'higher' if s.higher_is_better else 'lower':6} {rng:18} "
                   f"{'yes' if s.needs_weights else 'no':8} {s.unit:12} {s.reference}")


@metrics_app.command("bench")
def bench_cmd(
    data_dir: Path = typer.Option(None, help="folder holding BraTS2018/ (default: ../shared/data or $BENCH_SHARED/data)"),
    volumes: int = typer.Option(5, help="BraTS volumes to use"),
    slices: int = typer.Option(8, help="central slices per volume"),
    synthetic: int = typer.Option(0, help="use N synthetic 256x256 pairs instead of BraTS (0 = BraTS when present)"),
    device: str = typer.Option("cpu", help="torch device for the engine (cpu, cuda, cuda:1)"),
    threads: int = typer.Option(0, help="torch CPU threads (0 = torch default)"),
    repeats: int = typer.Option(1, help="timing repeats (best is reported)"),
    out: Path = typer.Option(None, help="also write the Markdown table to this file"),
) -> None:
    """Seconds for the full-reference metric set: torch engine vs skimage + sewar + NumPy."""
    import torch

    from medsr_bench.benchmark.metrics.bench import format_markdown, run_bench

    if threads > 0:
        torch.set_num_threads(threads)
    r = run_bench(data_dir=data_dir, volumes=volumes, slices=slices, synthetic_n=synthetic or None,
                  device=device, repeats=repeats)
    md = format_markdown(r, command=_own_command())
    typer.echo(md)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(md)
        typer.echo(f"written: {out}")


def _own_command() -> str:
    """The command line as typed (``bench metrics bench ...`` or ``python -m ...``)."""
    prog = Path(sys.argv[0]).name
    if prog in ("cli.py", "__main__.py"):
        prog = "python -m benchmark.metrics.cli"
    return " ".join([prog] + [shlex.quote(a) for a in sys.argv[1:]])


if __name__ == "__main__":  # pragma: no cover
    metrics_app()
