"""``bench train``: run a registered training recipe (mounted by ``benchmark.cli``).

User errors (unknown recipe / dataset, bad ``--set``, missing VGG19 or init weights, absent data)
end with one ``error: ...`` line and exit code 2. ``--throughput N`` measures iterations/s and
samples/s of the recipe's step (fp32 vs bf16 autocast vs channels_last, side by side) instead of
training: a benchmark, never a test.
"""

from __future__ import annotations

from pathlib import Path

import typer

import medsr_bench.compat  # noqa: F401  (before torchvision / basicsr)
from medsr_bench.cli.errors import fail
from medsr_bench.data_prep import get_protocol
from medsr_bench.data_prep.errors import DataError, DatasetMissing
from medsr_bench.models.registry import WeightsError
from medsr_bench.models.train import trained
from medsr_bench.models.train.recipes import get_recipe, list_recipes
from medsr_bench.models.train.trainer import Trainer, TrainError, TrainSettings
from medsr_bench.perf.train import throughput_table


def train(
    recipe: str = typer.Option(None, "--recipe", "-r", help="Recipe name (--list shows them)."),
    data_root: Path = typer.Option(None, "--data-root", envvar="BENCH_DATA_ROOT",
                                   help="Datasets folder."),
    dataset: str = typer.Option(None, "--dataset", help="Train on this protocol's train split "
                                "instead of the recipe's (gives its own model row <row>-<protocol>)."),
    max_iters: int = typer.Option(None, "--max-iters", min=1, help="Stop after N iterations "
                                  "(registered as under-trained, N vs the recipe's)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder [default "
                             "<weights-dir>/trained/runs/<row>]."),
    weights_dir: Path = typer.Option(None, "--weights-dir", envvar="BENCH_WEIGHTS",
                                     help="Init weights, VGG19, and where the trained model is "
                                          "registered [default: user cache dir]."),
    sets: list[str] = typer.Option(None, "--set", help="Override a recipe field: key=value (JSON "
                                   "values), repeatable, e.g. --set gt_size=96 --set batch_size=16."),
    smoke: bool = typer.Option(False, "--smoke", help="Random VGG19 / random init where weights are "
                               "absent: for tests only; the checkpoint is marked smoke and bench run "
                               "refuses it unless told otherwise."),
    deviate: bool = typer.Option(False, "--deviate", help="Where the recipe's weights are absent, "
                                 "start D from random init and drop the perceptual term (VGG19 "
                                 "absent), each recorded as a deviation in the checkpoint record "
                                 "and the report; init G must exist."),
    amp: str = typer.Option("fp32", "--amp", help="fp32 | bf16 (autocast; CUDA)."),
    channels_last: bool = typer.Option(False, "--channels-last", help="channels_last memory format."),
    limit: int = typer.Option(None, "--limit", min=1, help="At most N training images."),
    throughput: int = typer.Option(None, "--throughput", min=1, help="Benchmark N timed iterations "
                                   "per variant (fp32, bf16, channels_last) instead of training."),
    list_: bool = typer.Option(False, "--list", help="List the recipes and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a paper's model from its recipe; the finished checkpoint is registered so that
    `bench run` scores it in the matching model row."""

    if list_:
        for name in list_recipes():
            r = get_recipe(name)
            typer.echo(f"{name:26s} row={r.model_row:28s} data={r.dataset:9s} {r.paper}")
        return
    if not recipe:
        fail("--recipe is required (bench train --list shows the recipes)")
    if amp not in ("fp32", "bf16"):
        fail(f"--amp must be fp32 or bf16, got {amp!r}")
    if data_root is not None and not data_root.is_dir():
        fail(f"--data-root {data_root}: not a directory")
    try:
        rec = get_recipe(recipe).with_overrides(sets or [])
        if dataset is not None:

            get_protocol(dataset)
        settings = TrainSettings(data_root=data_root, dataset=dataset, out=out, weights_dir=weights_dir,
                                 max_iters=max_iters, resume=resume, device=device, amp=amp,
                                 channels_last=channels_last, smoke=smoke, deviate=deviate, limit=limit,
                                 progress=not quiet)
        if throughput:

            throughput_table(rec, settings, throughput, log=typer.echo)
            return
        trainer = Trainer(rec, settings)
        ts = trainer.train_set
        data = ts.source + (f"; data {ts.dataset}, which stands in for {ts.stand_in_for}: not "
                            f"{ts.stand_in_for} data" if ts.stand_in_for else "")
        typer.echo(f"{rec.name} -> row {trainer.row}: {len(ts)} training images "
                   f"({data}), {len(trainer.val_set)} validation; "
                   f"{trainer.stop:,} of the recipe's {trainer.total:,} iterations; out {trainer.out}")
        for d in trainer.deviations:
            typer.echo(f"deviation: {d}")
        record = trainer.run(log=typer.echo)
    except (KeyError, ValueError, TrainError, WeightsError, DatasetMissing, DataError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        fail(str(msg).splitlines()[0] if str(msg) else type(e).__name__)
    done = (trained.row_tag(record) or f"{record['iterations_done']:,} of "
            f"{record['iterations_recipe']:,} iterations")
    typer.echo(f"done: {done}; trained on {trained.data_text(record)}; model "
               f"{trainer.out / 'model.pth'} sha256 {record['sha256'][:16]}...")
