"""A run's configuration (:class:`RunConfig`) and how it is resolved from its sources.

The run options are declared once, in :data:`~medsr_bench.benchmark.settings.RUN_OPTIONS`;
:meth:`RunConfig.from_sources` merges the values of the three sources a run has, per option:

    CLI / Python keywords  >  environment (BENCH_DATA_ROOT, BENCH_WEIGHTS, BENCH_PREPARED,
                              MEDSR_MAX_PIXELS)
                           >  the run config file (--config FILE.toml)  >  the option's default

(the order ``bench run`` has always had: typer reads the environment variables as the options'
values), then resolves the suites, the models (user models and checkpoint files registered), the
user datasets, the settings and the device, so ``bench run``, ``bench sweep`` and
:func:`medsr_bench.evaluate` start from the same :class:`RunConfig`. Every bad value raises
:class:`RunError` with one line for the user.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medsr_bench.benchmark import settings as st
from medsr_bench.benchmark.metrics.selection import parse_metric_list
from medsr_bench.benchmark.suites import (
    SUITES,
    register_user_datasets,
    resolve_suites,
    user_dataset_entries,
)
from medsr_bench.core import did_you_mean, resolve_device
from medsr_bench.data_prep.config import ConfigError, load_custom_config
from medsr_bench.data_prep.prepared import default_prepared_dir
from medsr_bench.models import get_spec, list_models
from medsr_bench.models.config import load_model_tables
from medsr_bench.models.registry import WeightsError, default_weights_dir, discover_trained
from medsr_bench.models.spandrel_model import (
    CHECKPOINT_SUFFIXES,
    make_entry,
    name_for_file,
    register_entry,
)

__all__ = ["DEFAULT_SHARD_SIZE", "RunConfig", "RunError"]


class RunError(Exception):
    """A run cannot start or continue (bad option, conflicting or locked run dir). One line."""


def _default(name: str) -> Any:
    return st.RUN_OPTION_BY_NAME[name].default


DEFAULT_SHARD_SIZE: int = _default("shard_size")


@dataclass
class RunConfig:
    """Everything a user chose for a run (see :data:`~medsr_bench.benchmark.settings.RUN_OPTIONS`
    for each option's meaning and default; :meth:`from_sources` builds one from the CLI, the
    environment and a config file).

    Identity (:meth:`identity`: a run dir refuses a different one unless ``add``): suites,
    models, data root, limit, settings, strict (and user datasets / models / metrics when set).

    Attributes:
        suites: suite names (``aghelan`` ...), in order.
        models: model names (registry order).
        data_root: folder with the datasets in their official layouts (None: embedded demo).
        limit: images (slices) per dataset: the first N of one fixed seeded order; None = all.
        settings: validated overrides ``{dotted key: value}`` (see :mod:`.settings`).
        strict: a bad input file stops its dataset instead of being skipped and listed.
        user_datasets: user datasets of ``--config`` (see ``suites.register_user_datasets``),
            run by the suite ``custom``.
        out: run directory.
        save_sr: ``--save-sr DIR``: every SR output saved there as a PNG
            (:mod:`~medsr_bench.benchmark.save_sr`); None = not saved. An output option, not
            part of the identity.
        device: ``cpu`` | ``cuda`` (resolved).
        weights_dir: where weight files are looked up.
        batch_size: same-size images per model call.
        prepared_dir: cache of prepared HR/LR sets; None = prepare on the fly (one shard per
            dataset).
        shard_size: images per shard (the unit a worker computes and resume skips).
        threads: torch threads per worker (see ``ExecContext.threads``; same value, same bits).
        show_progress: progress bars and log lines on stderr.
        user_models: user-model entries (``models.spandrel_model.make_entry``: file, its sha256,
            detected architecture, options) of ``[models.<name>]`` tables and ``--models FILE``.
        metrics: canonical metric names every suite scores (``--metrics`` / TOML ``metrics``);
            None = each suite's own list. Part of the identity and of a variant's id only when
            set and different from the suite's list, so default runs keep their ids.
        executor: ``local`` | ``ray`` | ``slurm``.
        address: Ray cluster address (None: start a local cluster).
        workers: parallel workers (None: the executor's default).
        max_retries: retries of a failed shard.
        slurm_partition: Slurm partition. slurm_time: time limit (minutes). slurm_gpus: GPUs per
            task. slurm_cluster: submitit cluster (slurm | local | debug).
        max_pixels: decompression-bomb limit of the readers (``data_prep.io.pixel_limit``): a
            larger input is skipped with its name and the limit. Not part of the identity or of a
            variant's id (it changes no pixel of a file that is read); part of the task keys when
            not the default and of the prepared sets' manifests, so a resume under another limit
            recomputes rather than reuses what another limit selected.
        keep_going: a requested model that errors does not make the run's exit code 1 (it is
            still reported); not part of the identity (it changes no result).
        add: add this configuration's variants beside what the run dir holds.
        wait: wait for another run holding ``out`` to finish.
    """

    suites: list[str]
    models: list[str]
    data_root: Path | None = None
    limit: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    strict: bool = _default("strict")
    out: Path = Path("results/runs/run")
    save_sr: Path | None = None
    device: str = "cpu"
    weights_dir: Path | None = None
    batch_size: int = _default("batch_size")
    prepared_dir: Path | None = None
    shard_size: int = DEFAULT_SHARD_SIZE
    threads: int = _default("threads")
    user_datasets: list[dict] = field(default_factory=list)
    show_progress: bool = True
    user_models: list[dict] = field(default_factory=list)
    metrics: tuple[str, ...] | None = None
    executor: str = _default("executor")
    address: str | None = None
    workers: int | None = None
    max_retries: int = _default("max_retries")
    slurm_partition: str | None = None
    slurm_time: int = _default("slurm_time")
    slurm_gpus: int = _default("slurm_gpus")
    slurm_cluster: str | None = None
    max_pixels: int = _default("max_pixels")
    keep_going: bool = _default("keep_going")
    add: bool = _default("add")
    wait: bool = _default("wait")

    def identity(self) -> dict:
        """What determines the run's results (compared on resume)."""
        return {"suites": list(self.suites), "models": list(self.models),
                "data_root": str(Path(self.data_root).resolve()) if self.data_root else None,
                "limit": self.limit, "settings": dict(self.settings), "strict": self.strict,
                **({"user_datasets": self.user_datasets} if self.user_datasets else {}),
                **({"user_models": self.user_models} if self.user_models else {}),
                **({"metrics": list(self.metrics)} if self.metrics else {})}

    @classmethod
    def from_sources(cls, cli: Mapping[str, Any] | None = None, toml: Path | str | None = None,
                     env: Mapping[str, str] | None = None, *, out_prefix: str = "") -> RunConfig:
        """The configuration of a run from its sources (precedence: module docstring).

        Args:
            cli: explicit values by option name (``RUN_OPTIONS``; None = not given), plus
                ``settings``: a mapping of setting overrides (dotted keys, or ``{group: {field:
                value}}`` tables) applied after the config file's and before ``set``
                (``["KEY=VALUE", ...]``) and the ``channel`` / ``crop_border`` shortcuts.
                ``config`` stands for ``toml`` when that is not given.
            toml: a run config file (``bench run --config``).
            env: environment variables (the CLI passes ``os.environ``; None = none).
            out_prefix: prefix of the default run directory's name (``sweep-``).

        Raises:
            RunError: an unknown option, a value of the wrong type, an unreadable or invalid
                config file, an unknown suite / model / setting / metric / executor / device, a
                data root that is not a folder (one line each).
        """
        return _resolve(cls, dict(cli or {}), toml, dict(env or {}), out_prefix)

    def run_options(self) -> dict[str, Any]:
        """The config-file keys of this configuration (``RUN_OPTIONS`` with ``toml``), as TOML
        values; None where unset."""
        out: dict[str, Any] = {}
        for o in st.RUN_OPTIONS:
            if not o.toml:
                continue
            v = getattr(self, o.field)
            if isinstance(v, Path):
                v = str(v)
            elif isinstance(v, (list, tuple)):
                v = list(v) if o.many else ",".join(v)
                v = v or None
            out[o.name] = v
        return out

    def to_toml(self) -> str:
        """The resolved configuration as TOML (``--print-config``; ``--config`` reads it back):
        the run options, then every field of each setting group the run uses, with the values in
        force (set ones marked)."""
        infos = st.setting_infos()
        used = ["metric", "model", *dict.fromkeys(d.protocol for s in self.suites
                                                  for d in SUITES[s].datasets)]
        groups = []
        for g in used:
            keys = [k for k, i in infos.items() if i.group == g]
            vals = {infos[k].field: self.settings.get(k, infos[k].default) for k in keys}
            defaults = {infos[k].field: infos[k].default for k in keys}
            groups.append((g, vals, defaults))
        head = ("# bench run --config FILE reads this back. [metric] applies to every suite's "
                "metric settings;\n# each suite's own defaults are listed in run.json "
                "(variants).\n")
        return head + st.render_toml(self.run_options(), groups)


# ---------------------------------------------------------------- resolution
def _typed(name: str, v: Any) -> Any:
    """An explicit (CLI / Python) value of option ``name`` in the option's type."""
    o = st.RUN_OPTION_BY_NAME[name]
    if o.many and isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
        return ",".join(v)
    if o.type is list:
        if isinstance(v, str) or not all(isinstance(x, str) for x in v):
            raise RunError(f"{name} = {v!r}: expected a list of KEY=VALUE strings")
        return list(v)
    if o.type is Path and isinstance(v, (str, Path)):
        return Path(v).expanduser()
    if name == "suite" and isinstance(v, (list, tuple)):
        return ",".join(v)
    if o.type is int and isinstance(v, int) and not isinstance(v, bool):
        if o.min is not None and v < o.min:
            raise RunError(f"{name} {v}: expected an integer >= {o.min}")
        return v
    if isinstance(v, o.type) and not (o.type is int and isinstance(v, bool)):
        return v
    raise RunError(f"{name} = {v!r}: expected {o.toml_type}")


class _Sources:
    """The value of each option by precedence: explicit > environment > config file > default."""

    def __init__(self, cli: dict, env: dict, fc: dict):
        unknown = [k for k in cli if k not in st.RUN_OPTION_BY_NAME and k != "settings"]
        if unknown:
            raise RunError(f"unknown run option {unknown[0]!r}"
                           f"{did_you_mean(unknown[0], st.RUN_OPTION_BY_NAME)}; expected one of "
                           f"{', '.join(st.RUN_OPTION_BY_NAME)}")
        self.cli = {k: _typed(k, v) for k, v in cli.items() if v is not None and k != "settings"}
        self.env = env
        self.fc = fc

    def __call__(self, name: str) -> Any:
        o = st.RUN_OPTION_BY_NAME[name]
        if name in self.cli:
            return self.cli[name]
        if o.env and self.env.get(o.env):
            return _from_env(o, self.env[o.env])
        v = self.fc.get(name) if o.toml else None
        if v is not None:
            if o.many and isinstance(v, list):
                return ",".join(v)
            return Path(v) if o.type is Path else v
        return o.default


def _from_env(o: st.RunOption, text: str) -> Any:
    """The value of option ``o`` from its environment variable (a Path, an integer, text)."""
    if o.type is Path:
        return Path(text)
    if o.type is int:
        t = text.strip()
        if not t.isdigit() or (o.min is not None and int(t) < o.min):
            raise RunError(f"${o.env}={text!r}: expected an integer"
                           + (f" >= {o.min}" if o.min is not None else ""))
        return int(t)
    return text


def _resolve(cls, cli: dict, toml, env: dict, out_prefix: str) -> RunConfig:
    toml = toml if toml is not None else cli.get("config")
    fc: dict = {}
    raw: dict = {}
    try:
        if toml is not None:
            fc, raw = st.read_config_file(Path(toml))
        if cli.get("settings"):
            raw.update(st.flatten_tables(cli["settings"]))
        for a in cli.get("set") or []:
            k, v = st.parse_assignment(a)
            raw[k] = v
        pick = _Sources(cli, env, fc)
        if pick("channel") is not None:
            raw["metric.channel"] = pick("channel")
        if pick("crop_border") is not None:
            raw["metric.crop_border"] = pick("crop_border")
        user = []
        if fc.get("datasets"):
            try:
                user = user_dataset_entries(load_custom_config(Path(toml)))
            except ConfigError as e:
                raise RunError(str(e)) from None
            register_user_datasets(user)  # before the settings: custom-<name>.<field> keys
        settings = st.validate_settings(raw)
    except st.SettingError as e:
        raise RunError(str(e)) from None
    metrics = _metric_set(pick("metrics"))
    root = pick("data_root")
    if root is not None and not root.is_dir():
        raise RunError(f"--data-root {root}: not a directory (expected a folder holding the "
                       "datasets in their official layouts, e.g. DRIVE/, NIH_ChestXray14/, "
                       "BraTS2018/, CT_head_DICOM/)")
    suite = pick("suite")
    if suite is None:
        suite = "custom" if user else "all" if root is not None else "demo"
    try:
        suites = [s.name for s in resolve_suites(suite)]
    except KeyError as e:
        raise RunError(str(e.args[0])) from None
    if root is None and any(s not in ("demo", "custom") for s in suites):
        raise RunError(f"--suite {suite} needs real data: pass --data-root DIR or set "
                       "BENCH_DATA_ROOT (or run --suite demo on the embedded images)")
    wd = pick("weights_dir") or default_weights_dir()
    discover_trained(wd)  # rows of checkpoints `bench train` recorded there
    user_models = _user_models(fc, toml)
    names, file_models = _model_names(pick("models"), user_models)
    executor = pick("executor")
    # a function-level import: executors imports tasks, which imports this module
    from medsr_bench.benchmark.executors import EXECUTORS

    if executor not in EXECUTORS:
        raise RunError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    try:
        device = resolve_device(pick("device") or "auto")
    except ValueError as e:
        raise RunError(str(e)) from None
    out = pick("out") or Path("results") / "runs" / (out_prefix + suite.replace(",", "+"))
    prepared = None if pick("no_prepared_cache") else (pick("prepared_dir")
                                                        or default_prepared_dir())
    limit = pick("limit")
    if limit is not None and limit < 1:
        raise RunError(f"limit {limit}: expected an integer >= 1")
    return cls(suites=suites, models=names, data_root=root, limit=limit, settings=settings,
               strict=bool(pick("strict")), out=Path(out), save_sr=pick("save_sr"),
               device=device, weights_dir=Path(wd),
               batch_size=pick("batch_size"), prepared_dir=Path(prepared) if prepared else None,
               shard_size=pick("shard_size"), threads=pick("threads"),
               show_progress=not pick("quiet"), user_datasets=user,
               user_models=user_models + file_models, metrics=metrics, executor=executor,
               address=pick("address"), workers=pick("workers"), max_retries=pick("max_retries"),
               slurm_partition=pick("slurm_partition"), slurm_time=pick("slurm_time"),
               slurm_gpus=pick("slurm_gpus"), slurm_cluster=pick("slurm_cluster"),
               max_pixels=pick("max_pixels"), keep_going=bool(pick("keep_going")), add=bool(pick("add")), wait=bool(pick("wait")))


def _metric_set(spec) -> tuple[str, ...] | None:
    """``metrics`` as canonical names (None: each suite's own set)."""
    if spec is None:
        return None
    try:
        return parse_metric_list(spec)
    except ValueError as e:
        raise RunError(f"--metrics: {e}") from None


def _user_models(fc: Mapping, config) -> list[dict]:
    """Entries of the config's ``[models.<name>]`` tables, registered."""
    if not fc.get("model_tables"):
        return []
    try:
        entries = load_model_tables(fc["model_tables"], config)
        for e in entries:
            register_entry(e)
    except (WeightsError, ValueError) as e:
        raise RunError(str(e)) from None
    return entries


def _model_names(spec: str | None, user_models: list[dict]) -> tuple[list[str], list[dict]]:
    """The run's model names from ``models`` (None: the config's user models, else all) and the
    entries of the checkpoint files among them."""
    if spec is None:
        spec = ",".join(e["name"] for e in user_models) if user_models else "all"
    names = [m.strip() for m in spec.split(",") if m.strip()]
    names, file_models = _file_models(names, [e["name"] for e in user_models])
    known = list_models()
    names = known if names == ["all"] else names
    unknown = [m for m in names if m not in known]
    if unknown or not names:
        hint = did_you_mean(unknown[0], known) if unknown else ""
        raise RunError(f"unknown model {', '.join(unknown) or repr(spec)}{hint}; known: "
                       f"{', '.join(known)}")
    return names, file_models


def _file_models(names: Sequence[str], taken: Sequence[str]) -> tuple[list[str], list[dict]]:
    """``models`` items that are checkpoint files (a path with a .pth/.pt/.ckpt/.safetensors
    suffix or an existing file) become user models named after the file; returns the model names
    and their new entries."""
    out, entries = [], []
    for n in names:
        p = Path(n).expanduser()
        if not (n.lower().endswith(CHECKPOINT_SUFFIXES) or ("/" in n and p.is_file())):
            out.append(n)
            continue
        if not p.is_file():
            raise RunError(f"--models {n}: file not found; expected a checkpoint file "
                           f"({', '.join(CHECKPOINT_SUFFIXES)}) or a model name (`bench models`)")
        builtin = {m for m in list_models() if get_spec(m).family != "spandrel"}
        name = name_for_file(p, builtin | set(taken) | {e["name"] for e in entries})
        try:
            e = make_entry(name, p, "--models")
            register_entry(e)
        except (WeightsError, ValueError) as err:
            raise RunError(f"--models {n}: {err}") from None
        entries.append(e)
        out.append(name)
    return out, entries
