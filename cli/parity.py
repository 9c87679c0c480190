"""``bench parity``: one checkpoint across ncnn, RealESRGANer, tiling and reduced precisions
(:mod:`medsr_bench.perf.parity`), printed as a Markdown table with tolerances and verdicts.

Exit codes: 0 every row inside its tolerance, 1 some row outside, 2 a user error (one ``error:``
line: weights, data, the ncnn extra or an option).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

import medsr_bench.compat  # noqa: F401  (before torchvision / basicsr)
from medsr_bench.cli.errors import fail
from medsr_bench.core import atomic_write_text
from medsr_bench.data_prep.errors import DataError
from medsr_bench.data_prep.prepared import default_prepared_dir
from medsr_bench.models.engine import PRECISIONS
from medsr_bench.models.registry import WeightsError
from medsr_bench.models.weights import cache_dir
from medsr_bench.perf.parity import REDUCED, ParityOptions, markdown, run_parity


def parity(
    model: str = typer.Option("realesrgan-x4plus", "--model", help="A network with an ncnn release."),
    data_root: Path = typer.Option(None, "--data-root", envvar="BENCH_DATA_ROOT",
                                   help="Datasets folder holding P1's DRIVE and ChestX-ray14."),
    weights_dir: Path = typer.Option(None, "--weights-dir", envvar="BENCH_WEIGHTS",
                                     help="Weight files [default: user cache dir]."),
    n: int = typer.Option(3, "--n", min=1, help="Images per P1 dataset for (a) and (b)."),
    n_precision: int = typer.Option(2, "--n-precision", min=1,
                                    help="Images per P1 dataset for (c) (bf16 is slow without AMX)."),
    crop: int = typer.Option(64, "--crop", min=16, help="LR centre-crop side, pixels."),
    tile: int = typer.Option(32, "--tile", min=8, help="Tile size of (b), LR pixels."),
    tile_pad: int = typer.Option(10, "--tile-pad", min=0, help="Tile padding of (b), LR pixels."),
    precisions: str = typer.Option(",".join(REDUCED), "--precisions",
                                   help="Reduced precisions of (c), comma list."),
    skip: str = typer.Option("", "--skip", help="Leave out: ncnn, realesrganer, precision (comma list)."),
    write: Path = typer.Option(None, "--write", help="Also write the Markdown table to this file."),
) -> None:
    """Parity of the official Real-ESRGAN weights: (a) PyTorch vs ncnn, (b) engine vs
    RealESRGANer whole and tiled, (c) fp32 vs bf16 / fp16 / bf16-net with the change of every P1
    cell mean; each row against a stated tolerance."""
    precs = tuple(p.strip() for p in precisions.split(",") if p.strip())
    bad = [p for p in precs if p not in PRECISIONS or p == "fp32"]
    if bad:
        fail(f"--precisions {','.join(bad)}: expected reduced precisions among "
             f"{', '.join(p for p in PRECISIONS if p != 'fp32')}")
    skips = tuple(s.strip() for s in skip.split(",") if s.strip())
    unknown = [s for s in skips if s not in ("ncnn", "realesrganer", "precision")]
    if unknown:
        fail(f"--skip {','.join(unknown)}: expected ncnn, realesrganer or precision")
    if data_root is None or not Path(data_root).is_dir():
        fail(f"--data-root {data_root}: expected a folder holding P1's DRIVE and ChestX-ray14")
    opts = ParityOptions(model=model, n=n, n_precision=n_precision, crop=crop, tile=tile,
                         tile_pad=tile_pad, precisions=precs, skip=skips)
    try:
        rows, speed, header = run_parity(Path(data_root), cache_dir(weights_dir), opts,
                                         default_prepared_dir(), log=lambda s: typer.echo(s, err=True))
    except (WeightsError, DataError, KeyError) as e:
        fail(str(e.args[0] if isinstance(e, KeyError) else e))
    except ValueError as e:  # NcnnError and option errors
        fail(str(e))
    command = "bench " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
        if len(sys.argv) > 1 and sys.argv[1] == "parity" else "bench parity (from Python)"
    text = markdown(rows, speed, header, command)
    typer.echo(text)
    if write is not None:
        atomic_write_text(write, text)
    if not all(r.ok for r in rows if r.kind == "parity"):  # an effect outside is a finding
        raise typer.Exit(1)
