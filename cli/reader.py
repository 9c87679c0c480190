"""``bench reader make`` / ``bench reader score``: the blinded reader study (:mod:`.reader`)."""

from __future__ import annotations

from pathlib import Path

import typer

from medsr_bench.cli.errors import fail

reader_app = typer.Typer(help="Blinded reader study: rating page and its analysis.", no_args_is_help=True)


@reader_app.command("make")
def make_cmd(
    run: Path = typer.Argument(..., help="run directory (bench run --out)"),
    out: Path = typer.Option(..., "--out", help="folder for index.html (the page) and key.json (keep it from readers)"),
    seed: int = typer.Option(0, help="seed of the per-reader order (order = shuffle of seed:reader)"),
    title: str = typer.Option("Blinded image-quality rating", help="page title"),
) -> None:
    """Write a self-contained, model-blinded rating page of the run's SR sample images."""
    from medsr_bench.benchmark.clinical.reader import ReaderError, make_study

    try:
        key = make_study(run, out, seed=seed, title=title)
    except ReaderError as e:
        fail(str(e))
    typer.echo(f"{len(key['items'])} images to rate; page {out / 'index.html'}; key {out / 'key.json'}")


@reader_app.command("score")
def score_cmd(
    csvs: list[Path] = typer.Argument(..., help="the readers' downloaded ratings CSVs"),
    run: Path = typer.Option(..., "--run", help="the run the page was made from"),
    key: Path = typer.Option(None, "--key", help="key.json of the page (default: beside the first CSV)"),
    n_boot: int = typer.Option(2000, help="bootstrap replicates"),
    seed: int = typer.Option(0, help="bootstrap seed"),
) -> None:
    """Unblind the ratings: MOS per model with bootstrap CIs, agreement, paired tests, iMRMC export."""
    from medsr_bench.benchmark.clinical.reader import ReaderError, score_study

    try:
        r = score_study(csvs, run, key, n_boot=n_boot, seed=seed)
    except ReaderError as e:
        fail(str(e))
    for row in r.mos.itertuples():
        typer.echo(f"{row.model:28} MOS {row.mos:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]  "
                   f"({row.n_ratings} ratings, {row.n_readers} readers, {row.n_cases} cases)")
    a = r.agreement
    typer.echo("Krippendorff alpha (ordinal): " + (f"{a['alpha_ordinal']:.3f}" if a.get("alpha_ordinal") is not None
                                                  else f"missing ({a['reason']})"))
    typer.echo(f"written: {r.out_dir} (mos.csv, pairs.csv, agreement.json, imrmc.csv, mos_per_image.csv)")
