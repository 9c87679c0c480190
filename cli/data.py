"""``bench data``: prepare HR/LR sets with manifests, and show what a data root holds.

Thin typer wrappers around :mod:`data_prep.prepared`. User errors end with one ``error:`` line on
stderr and exit code 2.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from medsr_bench.benchmark.suites import resolve_suites
from medsr_bench.cli.errors import fail
from medsr_bench.data_prep.errors import DataError, DatasetMissing
from medsr_bench.data_prep.manifest import read_manifest
from medsr_bench.data_prep.prepared import (
    default_prepared_dir,
    iter_samples,
    resolve_selection,
    set_dir,
)
from medsr_bench.data_prep.protocols.base import RunContext
from medsr_bench.data_prep.registry import get_protocol, list_protocols

data_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                       help="Prepare and inspect datasets (HR/LR pairs + manifests).")


def _datasets(suite: list[str] | None, dataset: list[str] | None) -> list[tuple[str, str | None]]:
    """``[(protocol name, split or None)]`` from ``--suite`` (via benchmark.suites) and ``--dataset``."""
    out: list[tuple[str, str | None]] = []
    for name in suite or []:

        try:
            suites = resolve_suites(name)
        except KeyError as e:
            fail(str(e.args[0]))
        out += [(d.protocol, d.split) for s in suites for d in s.datasets]
    known = list_protocols()
    for name in dataset or []:
        if name not in known:
            fail(f"unknown dataset {name!r}; known: {', '.join(known)}")
        out.append((name, None))
    if not out:
        fail("give --suite NAME or --dataset NAME (repeatable)")
    seen: set = set()
    return [x for x in out if not (x in seen or seen.add(x))]


def _data_root(p: Path | None) -> Path:
    return p if p is not None else Path(".")


def _out(p: Path | None) -> Path:
    return p if p is not None else default_prepared_dir()


@data_app.command()
def prepare(
    suite: list[str] = typer.Option(None, "--suite", "-s", help="Suite name (repeatable; all = the four papers)."),
    dataset: list[str] = typer.Option(None, "--dataset", "-d", help="Protocol name (repeatable)."),
    data_root: Path = typer.Option(None, "--data-root", envvar="BENCH_DATA_ROOT", help="Datasets folder [default: .]."),
    out: Path = typer.Option(None, "--out", "-o", envvar="BENCH_PREPARED", help="Prepared-set cache [default results/prepared]."),
    limit: int = typer.Option(None, "--limit", min=1, help="N samples of the evaluation split (as bench run --limit)."),
    split: str = typer.Option(None, "--split", help="Split to prepare [default: all; with --limit the evaluation split]."),
    strict: bool = typer.Option(False, "--strict", help="Fail on the first unreadable/invalid file instead of skipping it."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild even when a matching prepared set exists."),
) -> None:
    """Write lossless HR/LR pairs + manifest.csv/manifest.json per dataset; print counts per split."""

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    root, cache = _data_root(data_root), _out(out)
    failed = False
    for name, suite_split in _datasets(suite, dataset):
        proto = get_protocol(name)
        limited = limit is not None or getattr(proto, "default_limit", None) is not None
        sel = split or (suite_split if limited else "all")  # a limited set is the one bench run asks for
        sel, lim = resolve_selection(proto, sel, limit)
        skipped: list = []
        try:
            n = sum(1 for _ in iter_samples(proto, root, sel, lim, cache, strict=strict,
                                            skipped=skipped, rebuild=rebuild))
        except DatasetMissing as e:
            if strict:
                fail(str(e))
            typer.echo(f"skipped {name}: {e}")
            continue
        except (DataError, ValueError) as e:
            typer.echo(f"error: {name}: {e}", err=True)
            failed = True
            continue
        folder = set_dir(cache, proto, sel, lim)
        _print_set(name, folder, n, len(skipped))
    if failed:
        raise typer.Exit(2)


def _print_set(name: str, folder: Path, n: int, n_skipped: int) -> None:

    found = read_manifest(folder)
    if found is None:
        typer.echo(f"{name}: {n} samples (no manifest at {folder})")
        return
    meta, _ = found
    label = meta["dataset"] + (f" (stand-in for {meta['stand_in_for']})" if meta.get("stand_in_for") else "")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(meta["counts"].items())) or "none"
    typer.echo(f"{name}: {label} -> {folder}")
    typer.echo(f"  samples per split: {counts}; skipped files: {meta['n_skipped']}")
    for k, v in sorted(meta.get("protocol_counts", {}).items()):
        if isinstance(v, dict) and {"volumes", "slices"} <= set(v):
            typer.echo(f"  {k}: {v['volumes']} volumes, {v['slices']} non-blank slices")
        else:
            typer.echo(f"  {k}: {v}")
    proto = get_protocol(meta["protocol"])
    reported = getattr(proto, "reported_counts", "")
    if reported and meta.get("protocol_counts") and not getattr(proto, "is_demo", False):
        typer.echo(f"  (paper: {reported})")
    for reason, c in meta.get("excluded", {}).items():
        typer.echo(f"  excluded by the protocol ({c}): {reason}")
    for d in meta.get("skipped", [])[:10]:
        typer.echo(f"  skipped: {d['reason']}")


@data_app.command()
def info(
    suite: list[str] = typer.Option(None, "--suite", "-s", help="Suite name (repeatable)."),
    dataset: list[str] = typer.Option(None, "--dataset", "-d", help="Protocol name (repeatable) [default: all]."),
    data_root: Path = typer.Option(None, "--data-root", envvar="BENCH_DATA_ROOT", help="Datasets folder [default: .]."),
    out: Path = typer.Option(None, "--out", "-o", envvar="BENCH_PREPARED", help="Prepared-set cache [default results/prepared]."),
    plan: bool = typer.Option(False, "--plan", help="Also run the protocol's selection and split (cheap "
                                                    "except CPTAC-GBM, which scores every image) and "
                                                    "print the inputs per split."),
) -> None:
    """Per dataset: protocol, source (or how to obtain it), and prepared sets with counts per split."""

    root, cache = _data_root(data_root), _out(out)
    names = [n for n, _ in _datasets(suite, dataset)] if (suite or dataset) else list_protocols()
    for name in names:
        proto = get_protocol(name)
        typer.echo(f"{name}: {proto.title} [x{proto.scale}; {proto.paper}; params {proto.params_hash()}]")
        try:
            src = proto.resolve(root)
        except DatasetMissing as e:
            typer.echo(f"  missing: {e}")
            continue
        proto._data_root = None if getattr(proto, "is_demo", False) else root
        items = proto.list_items(src)
        extra = f", stand-in for {src.stand_in_for}" if src.stand_in_for else ""
        typer.echo(f"  source: {src.dataset}{extra} at {src.path} ({len(items)} inputs)"
                   f"{'; ' + src.note if src.note else ''}")
        if plan:
            ctx = RunContext()
            per: dict[str, int] = {}
            for _, s in proto.plan(src, items, ctx):
                per[s] = per.get(s, 0) + 1
            typer.echo("  planned inputs per split: " + (", ".join(f"{k} {v}" for k, v in sorted(per.items())) or "none")
                       + (f"; unreadable {len(ctx.skipped)}" if ctx.skipped else ""))
        base = cache / name / proto.params_hash()
        sets = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")) if base.is_dir() else []
        if not sets:
            typer.echo("  not prepared with these parameters (bench data prepare)")
        for s in sets:
            found = read_manifest(s)
            if found is None:
                typer.echo(f"  {s.name}: incomplete")
                continue
            meta, _ = found
            counts = ", ".join(f"{k} {v}" for k, v in sorted(meta["counts"].items()))
            typer.echo(f"  prepared {s.name}: {counts}; skipped {meta['n_skipped']}")
