"""``[models.<name>]`` tables of ``bench run --config``: user checkpoints loaded by spandrel.

Same shape as the user datasets' ``[datasets.<name>]`` tables (``data_prep/config.py``): one table
per model, the table name is the model's name in every output, and a problem is one line naming the
file and the key. Keys (:data:`KEYS`; plus any model option of ``models.network.DEEP_DEFAULTS``:
``gray``, ``precision``, ``tile``, ``tile_pad``, ``tile_batch``, ``pre_pad``, ``batch_size``,
``channels_last``, which become this model's defaults; ``--set model.<key>`` applies to every model
and wins)::

    [models.lab-compact]
    file = "../shared/weights/realesr-animevideov3.pth"   # relative to the config's folder
    sha256 = "b8a83768..."                                 # optional: refuse another file
    scale = 4                                              # optional: refuse another native scale
    channels = 3                                           # optional: refuse another channel count
    gray = "luma"                                          # optional model option
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from medsr_bench.models.registry import WeightsError

#: key -> (valid values, meaning); model options (DEEP_DEFAULTS keys) are accepted besides these.
KEYS: dict[str, tuple[str, str]] = {
    "file": ("a path to a .pth / .pt / .ckpt / .safetensors file",
             "required: the checkpoint; relative to the config file's folder"),
    "sha256": ("64 hex digits", "expected sha256 of the file (not set = not checked; the actual "
                                "sha256 is recorded in run.json either way)"),
    "scale": ("an integer >= 2", "expected native scale (not set = the one spandrel detects)"),
    "channels": ("1 or 3", "expected input channels (not set = the detected ones)"),
    "title": ("a string", "description in the report (default: architecture, scale and file)"),
}


def _check(name: str, key: str, v, where: str):
    bad = {
        "file": not (isinstance(v, str) and v.strip()),
        "sha256": not (isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdefABCDEF" for c in v)),
        "scale": not (isinstance(v, int) and not isinstance(v, bool) and v >= 2),
        "channels": v not in (1, 3) or isinstance(v, bool),
        "title": not isinstance(v, str),
    }[key]
    if bad:
        raise ValueError(f"{where}: models.{name}.{key} = {v!r}: expected {KEYS[key][0]}")


def load_model_tables(tables: Mapping, config: Path | str) -> list[dict]:
    """The user-model entries (``models.spandrel_model.make_entry``) of a config's ``[models.*]``
    tables, in file order; every checkpoint is read and its architecture detected here.

    Raises:
        ValueError: a bad table or key (one line, starts with the config path).
        WeightsError / WeightsMissing: the file is absent, unreadable or not usable (one line).
    """
    from medsr_bench.models.spandrel_model import make_entry

    where = str(config)
    base = Path(config).resolve().parent
    out = []
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise ValueError(f"{where}: models.{name} = {table!r}: expected a table [models.{name}]")
        if "file" not in table:
            raise ValueError(f"{where}: models.{name}.file: missing; expected {KEYS['file'][0]}")
        own = {k: v for k, v in table.items() if k in KEYS}
        for k, v in own.items():
            _check(name, k, v, where)
        options = {k: v for k, v in table.items() if k not in KEYS}
        file = Path(own["file"]).expanduser()
        file = file if file.is_absolute() else base / file
        try:
            out.append(make_entry(str(name), file, where, sha256=own.get("sha256"),
                                  scale=own.get("scale"), channels=own.get("channels"),
                                  options=options, title=own.get("title", "")))
        except WeightsError as e:
            raise WeightsError(f"{where}: {e}") from None
        except ValueError as e:
            msg = str(e)
            raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from None
    return out


def config_reference_markdown() -> str:
    """The README table of the ``[models.<name>]`` keys."""
    lines = ["| key | valid values | meaning |", "|---|---|---|"]
    lines += [f"| `{k}` | {v} | {d} |" for k, (v, d) in KEYS.items()]
    lines.append("| `gray`, `precision`, `tile`, ... | as `bench settings` lists for `model.*` | "
                 "this model's default model options |")
    return "\n".join(lines)
