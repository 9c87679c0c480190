"""Registry of checkpoints produced by ``bench train``: one JSON record per model row.

Layout in the weights dir (so that ``bench run --weights-dir`` finds them)::

    <weights_dir>/trained/<row>.pth    {"params": G, "params_ema": G_ema or G} (basicsr layout)
    <weights_dir>/trained/<row>.json   the record (see :func:`make_record`)

The record holds the file, its sha256, the recipe, the iterations done against the recipe's, the
training data and split, the git commit and whether it is a ``smoke`` run (random VGG / random init,
for tests only). :func:`medsr_bench.models.registry.load_model` consults it: a recorded row is loaded
from the recorded file with the recorded sha256 checked; a smoke record is refused unless the caller
passes ``allow_smoke=True`` (or sets ``BENCH_ALLOW_SMOKE=1``).

A recipe trained on another protocol than its own gives its own row ``<row>-<protocol>``
(``srresnet-brats2018``): :func:`discover` registers such derived rows from the records it finds.

This module is light (json only) because the model registry imports it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from medsr_bench.core import read_json_record
from medsr_bench.models import registry as _model_registry

TRAINED_DIR = "trained"
RECORD_VERSION = 1


def trained_dir(weights_dir: Path | str) -> Path:
    """``<weights_dir>/trained``."""
    return Path(weights_dir) / TRAINED_DIR


def record_path(weights_dir: Path | str, row: str) -> Path:
    """``<weights_dir>/trained/<row>.json``."""
    return trained_dir(weights_dir) / f"{row}.json"


def row_name(model_row: str, recipe_dataset: str, dataset: str) -> str:
    """The model row of a run: ``model_row`` on the recipe's own data, else ``<model_row>-<dataset>``."""
    return model_row if dataset == recipe_dataset else f"{model_row}-{dataset}"


def read_record(weights_dir: Path | str, row: str) -> dict | None:
    """The record of ``row`` or None when absent.

    Raises:
        ValueError: the record exists but is not a readable JSON record (one line, names the file).
    """
    return read_json_record(record_path(weights_dir, row), "trained-checkpoint record")


def list_records(weights_dir: Path | str) -> list[dict]:
    """Every readable record in ``<weights_dir>/trained`` (unreadable ones are ignored)."""
    d = trained_dir(weights_dir)
    out = []
    if d.is_dir():
        for p in sorted(d.glob("*.json")):
            try:
                rec = read_record(weights_dir, p.stem)
            except ValueError:
                continue
            if rec is not None:
                out.append(rec)
    return out


def smoke_allowed(options: dict) -> bool:
    """Pop ``allow_smoke`` from ``options``; True when it or ``$BENCH_ALLOW_SMOKE`` says so."""
    flag = options.pop("allow_smoke", None)
    if flag is None:
        flag = os.environ.get("BENCH_ALLOW_SMOKE", "") not in ("", "0", "false", "no")
    return bool(flag)


def _iterations(rec: dict) -> str:
    done, full = rec.get("iterations_done"), rec.get("iterations_recipe")
    return f"{done:,} of {full:,} iterations" if done is not None and full else "iterations ?"


def row_tag(rec: dict | None) -> str:
    """The mark every table row of this checkpoint carries, ``""`` for a fully trained one:
    ``"UNDER-TRAINED (3 of 300,000 iterations)"``, ``"SMOKE (random VGG / init; not a real
    model)"``, ``"2 DEVIATIONS FROM THE RECIPE (D starts from random init, ...)"`` (``bench train
    --deviate``), joined by ``"; "``. ``rec`` is a record of :func:`read_record` (or the
    copy a run keeps in ``run.json``); None gives ``""``."""
    if not rec:
        return ""
    parts = []
    if rec.get("smoke"):
        parts.append("SMOKE (random VGG / init; not a real model)")
    if rec.get("under_trained"):
        parts.append(f"UNDER-TRAINED ({_iterations(rec)})")
    devs = [str(d).split(":")[0].strip() for d in rec.get("deviations") or ()]
    if devs:  # bench train --deviate: what differs from the recipe (full text in the record)
        parts.append(f"{len(devs)} DEVIATION{'S' if len(devs) > 1 else ''} FROM THE RECIPE "
                     f"({', '.join(devs)})")
    return "; ".join(parts)


def data_text(rec: dict) -> str:
    """The data a checkpoint was trained on, stand-ins named: ``"cptac-gbm train"``, or
    ``"ct-head-standin train (stands in for CPTAC-GBM; not CPTAC-GBM data)"``."""
    data = rec.get("data_id") or rec.get("dataset")
    text = f"{data} {rec.get('split')}"
    if rec.get("stand_in_for"):
        text += f" (stands in for {rec['stand_in_for']}; not {rec['stand_in_for']} data)"
    return text


def label(rec: dict) -> str:
    """One line for reports: iterations against the recipe's, data, smoke / under-trained marks."""
    parts = [_iterations(rec)]
    if rec.get("under_trained"):
        parts.insert(0, "UNDER-TRAINED")
    if rec.get("smoke"):
        parts.insert(0, "SMOKE (random VGG / init; not a real model)")
    parts.append(f"trained on {data_text(rec)} by bench train --recipe {rec.get('recipe')}")
    return "; ".join(parts)


def spec_for_record(spec, rec: dict, name: str | None = None):
    """A copy of ``spec`` whose weights are the recorded file (sha256 checked at load) and whose
    description carries :func:`label`. ``name`` renames it (derived rows)."""
    from medsr_bench.models.registry import PretrainedCfg

    cfg = PretrainedCfg(
        file=f"{TRAINED_DIR}/{rec['file']}", url=None, sha256=rec["sha256"], key="params_ema",
        license="project (MIT)", paper=rec.get("paper", spec.paper),
        obtain=f"bench train --recipe {rec.get('recipe')} --dataset {rec.get('dataset')}",
    )
    base = spec.description.split(" [")[0]
    return dataclasses.replace(spec, name=name or spec.name, pretrained=cfg,
                               description=f"{base} [{label(rec)}]")


def discover(weights_dir: Path | str | None) -> list[str]:
    """Register the derived rows (``<row>-<dataset>``) recorded in ``weights_dir``; returns their
    names. Rows already registered are left alone; records of unknown base rows are ignored."""
    from medsr_bench.models.registry import _AUX, _REGISTRY, register_model

    if weights_dir is None:
        return []
    added = []
    for rec in list_records(weights_dir):
        row, base = rec.get("row"), rec.get("base_row")
        if not row or row == base or row in _REGISTRY or row in _AUX or base not in _REGISTRY:
            continue
        spec = spec_for_record(_REGISTRY[base], rec, name=row)
        spec = dataclasses.replace(
            spec, paper=f"not a paper row: {_REGISTRY[base].paper} recipe trained on {rec.get('dataset')}")
        register_model(spec)
        added.append(row)
    return added


# the model registry reads trained checkpoints through this module, registered as its hook
_model_registry.register_checkpoint_hook(sys.modules[__name__])
