"""Every open choice of a run as one flat table of dotted keys: ``<protocol>.<field>``,
``metric.<field>`` and ``model.<field>``.

``bench run --set drive.blur_sigma=1.5 --set metric.vif_rescale=false --set model.gray=luma`` and the
tables of ``--config FILE.toml`` (``[drive] blur_sigma = 1.5``) both land here. A key names a field of

* a protocol's frozen params dataclass (``data_prep/protocols/*.py``; the field's docstring gives the
  paper's words and why the default was chosen),
* :class:`~medsr_bench.benchmark.metrics.MetricSettings` (applied to every suite's metric settings
  in the run: e.g. ``metric.crop_border=4``),
* :class:`~medsr_bench.models.options.ModelOptions`, the options of every deep model (grayscale
  policy, x2 mode, precision, tiling, backend...),
* :class:`~medsr_bench.benchmark.clinical.ClinicalSettings` (the clinical-proxy metrics).

Values are parsed by the field's type, then validated by building the dataclass, so an invalid value
gets the owner's own one-line message (with its choices). An unknown key gets one line listing the
valid keys of its group (or the groups). Overrides equal to the default are dropped: setting a
default changes no identity and no hash.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medsr_bench.benchmark.clinical import ClinicalSettings
from medsr_bench.benchmark.metrics import MetricSettings
from medsr_bench.data_prep import get_protocol, list_protocols
from medsr_bench.data_prep.io import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV
from medsr_bench.models.options import ModelOptions

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as the tomli package
    import tomli as tomllib


class SettingError(ValueError):
    """An unknown setting key or an invalid value; ``str()`` is one line for the user."""


@dataclass(frozen=True)
class SettingInfo:
    """One settable key.

    Attributes:
        key: dotted key (``drive.blur_sigma``).
        group: ``metric``, ``model`` or a protocol name.
        field: field name inside the group.
        default: default value (Python type of the field).
        type_text: the field's annotation as text (``float``, ``tuple[int, int] | None``).
        doc: the field's whole description in the owner's docstring (or a base's), as plain
            text (:func:`plain_text`): paper section, reason of the default.
    """

    key: str
    group: str
    field: str
    default: Any
    type_text: str
    doc: str


# ---------------------------------------------------------------- groups
_ATTR = re.compile(r"^\s{4,8}(\w+(?:, \w+)*)(?: \([^)]*\))?: (.*)$")


def _doc_lines(cls) -> dict[str, str]:
    """``{field: its whole description}`` from the "Attributes:" sections of a dataclass and of
    its bases (an inherited field keeps its base's text, e.g. ``drive.blur_sigma`` from
    :class:`~medsr_bench.data_prep.degrade.BicubicBlur`; a subclass's own text wins). One entry
    may document several fields (``window_center, window_width: ...``); continuation lines are
    joined with one space. The text is as written (reST; see :func:`plain_text`)."""
    fields = getattr(cls, "__dataclass_fields__", {})
    out: dict[str, str] = {}
    for klass in reversed(getattr(cls, "__mro__", (cls,))):
        cur: list[str] = []
        for line in (klass.__dict__.get("__doc__") or "").splitlines():
            m = _ATTR.match(line)
            names = m.group(1).split(", ") if m else []
            if names and all(n in fields for n in names):
                cur = names
                for n in cur:
                    out[n] = m.group(2).strip()
            elif cur and line.strip() and line.startswith(" " * 12):
                for n in cur:
                    out[n] += " " + line.strip()
            else:
                cur = [] if not line.strip() else cur
    return out


_ROLE = re.compile(r":[\w.:-]+:`(~?)([^`]*?)`")


def plain_text(doc: str) -> str:
    """A docstring fragment as plain text: reST roles become their target (``:func:`~a.b.f``` ->
    ``f``, ``:data:`X``` -> ``X``, ``:class:`Title <a.B>``` -> ``Title``), inline literals and
    interpreted text lose their backquotes (````x```` -> ``x``), whitespace runs become one space."""
    def role(m: re.Match) -> str:
        text = m.group(2)
        if "<" in text and text.endswith(">"):
            return text[:text.index("<")].strip()
        return text.rsplit(".", 1)[-1] if m.group(1) else text

    text = _ROLE.sub(role, doc)
    text = re.sub(r"``(.+?)``", r"\1", text)
    text = re.sub(r"(?<![\w`])`([^`]+)`(?![\w`])", r"\1", text)
    return " ".join(text.split())


def _field_types(cls) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # pragma: no cover - unresolvable annotation: fall back to the default's type
        return {f.name: type(f.default) for f in dataclasses.fields(cls)}


def _dataclass_infos(group: str, cls, instance=None) -> list[SettingInfo]:
    """One :class:`SettingInfo` per init field of dataclass ``cls``; defaults from ``instance``
    when given (a protocol's own default params, e.g. the demos')."""
    docs = _doc_lines(cls)
    hints = _field_types(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name == "why":
            continue
        if instance is not None:
            default = getattr(instance, f.name)
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out.append(SettingInfo(f"{group}.{f.name}", group, f.name, default,
                               _type_text(hints.get(f.name, type(default))),
                               plain_text(docs.get(f.name, ""))))
    return out


def _type_text(tp) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


#: the setting groups each owned by one settings dataclass, in ``bench settings`` order (every other
#: group is a protocol, owned by its params dataclass)
DATACLASS_GROUPS: dict[str, type] = {"metric": MetricSettings, "model": ModelOptions,
                                     "clinical": ClinicalSettings}


def _owner_class(group: str) -> type:
    """The dataclass whose fields are ``group``'s keys."""
    return DATACLASS_GROUPS.get(group) or get_protocol(group).params_cls


def setting_infos() -> dict[str, SettingInfo]:
    """Every settable key, in a fixed order: ``metric.*``, ``model.*``, ``clinical.*``, then each
    registered protocol's fields (registry order)."""
    infos = [i for g, cls in DATACLASS_GROUPS.items() for i in _dataclass_infos(g, cls)]
    for name in list_protocols():
        proto = get_protocol(name)
        infos.extend(_dataclass_infos(name, proto.params_cls, proto.params))
    return {i.key: i for i in infos}


# ---------------------------------------------------------------- parsing
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _coerce(raw: Any, tp, default: Any) -> Any:
    """``raw`` (a CLI string or a TOML value) as a value of annotation ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("none", "null", "")):
            if type(None) in args:
                return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(raw, a, default)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors) or f"cannot read {raw!r}")
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        t = str(raw).strip().lower()
        if t in _TRUE:
            return True
        if t in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if tp is int:
        if isinstance(raw, bool):
            raise ValueError(f"expected an integer, got {raw!r}")
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        return int(str(raw).strip())
    if tp is float:
        if isinstance(raw, bool):
            raise ValueError(f"expected a number, got {raw!r}")
        return float(str(raw).strip()) if isinstance(raw, str) else float(raw)
    if tp is str:
        if not isinstance(raw, str):
            raise ValueError(f"expected text, got {raw!r}")
        return raw.strip()
    if origin is tuple or tp is tuple:
        parts = raw if isinstance(raw, (list, tuple)) else [p for p in str(raw).split(",") if p.strip()]
        if args and args[-1] is Ellipsis:
            return tuple(_coerce(p, args[0], None) for p in parts)
        if args and len(parts) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values, got {raw!r}")
        return tuple(_coerce(p, a, None) for p, a in zip(parts, args or [type(p) for p in parts],
                                                         strict=True))
    if origin is typing.Literal:
        if raw in args:
            return raw
        raise ValueError(f"expected one of {', '.join(map(str, args))}, got {raw!r}")
    if isinstance(default, str) or default is None:
        return raw
    return type(default)(raw)


def _hint(info: SettingInfo):
    """The annotation to parse ``info``'s values with."""
    return _field_types(_owner_class(info.group))[info.field]


def params_from_dict(cls, values: Mapping[str, Any]):
    """A params dataclass ``cls`` rebuilt from its JSON dict (lists back to tuples by the field
    types); keys that are not init fields are ignored."""
    hints = _field_types(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    return cls(**{k: _coerce(v, hints[k], None) if isinstance(v, list) else v
                  for k, v in values.items() if k in fields})


def parse_assignment(text: str) -> tuple[str, str]:
    """``"drive.blur_sigma=1.5"`` -> ``("drive.blur_sigma", "1.5")``.

    Raises:
        SettingError: no ``=`` or an empty key.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SettingError(f"--set {text!r}: expected KEY=VALUE, e.g. drive.blur_sigma=1.5")
    return key.strip(), value.strip()


def _unknown(key: str, infos: Mapping[str, SettingInfo]) -> SettingError:
    group = key.split(".", 1)[0]
    groups = list(dict.fromkeys(i.group for i in infos.values()))
    from medsr_bench.core import did_you_mean

    if group not in groups:
        return SettingError(f"unknown setting {key!r}{did_you_mean(key, infos)}: the first part "
                            f"must be one of {', '.join(groups)}")
    fields = [i.field for i in infos.values() if i.group == group]
    hint = did_you_mean(key, [f"{group}.{f}" for f in fields])
    return SettingError(f"unknown setting {key!r}{hint}; valid keys of {group}: {', '.join(fields)}")


def parse_setting(key: str, value: Any, *, typed: bool = False,
                  infos: Mapping[str, SettingInfo] | None = None) -> Any:
    """The value of setting ``key`` in its field's type: the one check of a setting value, for
    every source, before any work starts.

    ``value`` is text (``--set``, ``--grid``, the Python API's strings: parsed by the field's
    annotation) or, with ``typed``, a value that already has a type (a TOML value of ``--config``
    or ``--grid-file``): that is not converted, so a string or a float for an integer, a string
    for a number or flag, a scalar for a list are refused. Ranges and choices are the owner's
    (checked by :func:`validate_settings` when it builds the dataclass).

    Raises:
        SettingError: an unknown key (with the valid ones); ``KEY='VALUE': expected a number
            (float; default 1.0)`` for text, ``KEY = VALUE: expected int, got float`` for a typed
            value: the key, the value and the type as ``bench settings`` shows it.
    """
    infos = setting_infos() if infos is None else infos
    info = infos.get(key)
    if info is None:
        raise _unknown(key, infos)
    tp = _hint(info)
    if typed and not _admits(tp, value):
        names = " or ".join(sorted(getattr(t, "__name__", str(t)) for t in _base_types(tp)
                                   if t is not type(None)))
        raise SettingError(f"{key} = {value!r}: expected {names}, got {type(value).__name__}")
    try:
        return _coerce(value, tp, info.default)
    except (TypeError, ValueError):
        raise SettingError(f"{key}={value!r}: expected {_expected(tp)} ({info.type_text}; "
                           f"default {_as_text(info.default)})") from None


def _expected(tp) -> str:
    """What a text value of annotation ``tp`` must look like (``an integer or none``)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        parts = [_expected(a) for a in args if a is not type(None)]
        return " or ".join(parts + (["none"] if type(None) in args else []))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is tuple or tp is tuple:
        many = {int: "integers", float: "numbers", bool: "true/false values"}
        if args and args[-1] is Ellipsis:
            return f"comma-separated {many.get(args[0], 'values')}"
        kinds = set(args)
        what = many.get(next(iter(kinds)), "values") if len(kinds) == 1 else "values"
        return f"{len(args)} comma-separated {what}" if args else "comma-separated values"
    return {bool: "true or false", int: "an integer", float: "a number", str: "text"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def _as_text(v: Any) -> str:
    """A default as it is written in ``--set`` (``584,565``, ``none``, ``true``)."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(_as_text(x) for x in v)
    return str(v)


def _admits(tp, v: Any) -> bool:
    """Whether a typed (TOML) value ``v`` has a type annotation ``tp`` admits (an integer for a
    float, a list for a tuple, the string "none" for an optional field as ``--print-config``
    writes None)."""
    want = _base_types(tp)
    if v is None or type(v) in want or (float in want and type(v) is int):
        return True
    if type(None) in want and isinstance(v, str) and v.strip().lower() in ("none", "null"):
        return True
    if str in want and isinstance(v, str):
        return True
    return (list in want or tuple in want) and isinstance(v, (list, tuple))


def validate_settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Parse and validate overrides ``{dotted key: value}`` (strings or typed TOML values).

    Returns the normalised overrides in key order, without the ones equal to their default.

    Raises:
        SettingError: unknown key, unreadable value, or a value its owner rejects (one line).
    """
    infos = setting_infos()
    parsed = {key: parse_setting(key, value, infos=infos) for key, value in raw.items()}
    groups: dict[str, dict[str, Any]] = {}
    for key, v in parsed.items():
        groups.setdefault(infos[key].group, {})[infos[key].field] = v
    for group, fields in groups.items():  # the owner validates the combination
        try:
            _build(group, fields)
        except (TypeError, ValueError) as e:
            keys = ", ".join(f"{group}.{k}={v!r}" for k, v in fields.items())
            raise SettingError(f"{keys}: {str(e).splitlines()[0]}") from None
    order = list(infos)
    return {k: parsed[k] for k in sorted(parsed, key=order.index)
            if _canon(parsed[k]) != _canon(infos[k].default)}


def _canon(v):
    return list(v) if isinstance(v, tuple) else v


def _build(group: str, fields: Mapping[str, Any]):
    """The owner object of ``group`` with ``fields`` applied (validates them)."""
    if group in DATACLASS_GROUPS:
        return DATACLASS_GROUPS[group](**fields)
    return dataclasses.replace(get_protocol(group).params, **fields)


def group_overrides(settings: Mapping[str, Any], group: str) -> dict[str, Any]:
    """The fields set for one group: ``{"blur_sigma": 1.5}`` for ``group="drive"``."""
    prefix = group + "."
    return {k[len(prefix):]: v for k, v in settings.items() if k.startswith(prefix)}


def protocol_params(name: str, settings: Mapping[str, Any]):
    """Protocol ``name``'s own default params with the run's overrides applied."""

    return dataclasses.replace(get_protocol(name).params, **group_overrides(settings, name))


def apply_metric(base, settings: Mapping[str, Any]):
    """A suite's :class:`MetricSettings` with the run's ``metric.*`` overrides applied."""
    over = group_overrides(settings, "metric")
    return dataclasses.replace(base, **over) if over else base


def model_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Engine options passed to every deep model (only the ones set)."""
    return group_overrides(settings, "model")


# ---------------------------------------------------------------- run options
@dataclass(frozen=True)
class RunOption:
    """One option of a run, declared once for every face of it: a ``bench run`` / ``bench sweep``
    option, a keyword of :func:`medsr_bench.evaluate`, a top-level key of a run config file, a
    :class:`~medsr_bench.benchmark.run_config.RunConfig` field and a line of ``--print-config``.

    Attributes:
        name: keyword / TOML key (``limit``).
        type: ``str``, ``int``, ``bool``, ``Path`` or ``list`` (a repeatable option of strings).
        default: value when no source gives one; None where ``RunConfig.from_sources`` decides
            (``suite``: all with a data root, demo without; ``out``: results/runs/<suite>...).
        help: the ``--help`` text.
        flags: the CLI spellings (``("--limit",)``, ``("--strict/--lenient",)``, short names).
        toml: a run config file may set it as a top-level key.
        many: a comma list: a string ``"a,b"`` or a list of strings (``models``, ``metrics``).
        env: environment variable read when the CLI / API gives no value (before the config file);
            parsed by ``type`` (an integer option's variable must hold an integer >= ``min``).
        min: smallest integer accepted.
        feeds: the ``RunConfig`` field it resolves into ('' for an option of the command itself:
            ``config``, ``print_config``).
    """

    name: str
    type: type
    default: Any
    help: str
    flags: tuple[str, ...]
    toml: bool = False
    many: bool = False
    env: str | None = None
    min: int | None = None
    feeds: str | None = None

    @property
    def field(self) -> str:
        """The ``RunConfig`` field (``feeds``, default the option's own name)."""
        return self.name if self.feeds is None else self.feeds

    @property
    def toml_type(self) -> str:
        """The TOML type of the key as the one-line errors name it."""
        if self.many:
            return "text or list of text"
        return {int: "integer", bool: "true/false"}.get(self.type, "text")


_O = RunOption
#: every run option, in ``bench run --help`` order
RUN_OPTIONS: tuple[RunOption, ...] = (
    _O("suite", str, None, "aghelan | khandare | rashid | beallor | all | demo (comma list "
       "allowed). Default: all with a data root, demo without.", ("--suite", "-s"), toml=True,
       feeds="suites"),
    _O("data_root", Path, None, "Datasets folder.", ("--data-root",), toml=True,
       env="BENCH_DATA_ROOT"),
    _O("models", str, None, "Comma list of model names or checkpoint files (.pth/.pt/.ckpt/"
       ".safetensors, loaded by spandrel), or all [default all; the config's [models.*] when it "
       "has some].", ("--models", "-m"), toml=True, many=True),
    _O("limit", int, None, "N images (slices) per dataset: the first N of one fixed seeded order.",
       ("--limit",), toml=True, min=1),
    _O("out", Path, None, "Run directory [default results/runs/<suite>].", ("--out", "-o"),
       toml=True),
    _O("save_sr", Path, None, "Also save every SR output as a PNG, "
       "DIR/<dataset>/<model>/<image_id>.png (DIR/<dataset>/<suite>-<split>[-<label>]/<model>/... "
       "when a dataset has several variants), in the metric domain: uint8 = the value when the "
       "domain is 8-bit (data_range 255), uint16 = the value for an integer data_range up to "
       "65535 (both lossless), uint16 = round(value / data_range * 65535) for a float domain "
       "(e.g. rashid: data_range 1.0). Written by the workers; not part of the run's identity; recorded in "
       "run.json (save_sr).", ("--save-sr",), toml=True),
    _O("device", str, None, "auto | cpu | cuda [default auto].", ("--device",), toml=True),
    _O("weights_dir", Path, None, "Weight files [default: user cache dir].", ("--weights-dir",),
       toml=True, env="BENCH_WEIGHTS"),
    _O("batch_size", int, 4, "Same-size images per model call [default 4].", ("--batch-size",),
       toml=True, min=1),
    _O("prepared_dir", Path, None, "Cache of prepared HR/LR sets (as written by `bench data "
       "prepare`), reused when the protocol parameters hash matches, built otherwise [default "
       "results/prepared].", ("--prepared-dir",), toml=True, env="BENCH_PREPARED"),
    _O("no_prepared_cache", bool, False, "Prepare every sample on the fly; write no cache (one "
       "shard per dataset).", ("--no-prepared-cache",), feeds="prepared_dir"),
    _O("set", list, None, "KEY=VALUE for any open choice: <protocol>.<field>, metric.<field>, "
       "model.<field> (see `bench settings`).", ("--set",), feeds="settings"),
    _O("config", Path, None, "TOML file with run options and [<group>] tables of settings.",
       ("--config", "-c"), feeds=""),
    _O("print_config", bool, False, "Print the resolved configuration (TOML) and exit.",
       ("--print-config",), feeds=""),
    _O("metrics", str, None, "Comma-separated metric set every suite scores, e.g. "
       "psnr,ssim,haarpsi (see `bench metrics list`) [default: each suite's own].",
       ("--metrics",), toml=True, many=True),
    _O("channel", str, None, "Shortcut for --set metric.channel=...", ("--channel",),
       feeds="settings"),
    _O("crop_border", int, None, "Shortcut for --set metric.crop_border=...", ("--crop-border",),
       min=0, feeds="settings"),
    _O("strict", bool, False, "A bad input file stops its dataset instead of being skipped and "
       "listed [default lenient].", ("--strict/--lenient",), toml=True),
    _O("keep_going", bool, False, "A requested model that errors (wrong sha256, unsafe pickle, a "
       "load or batch error) is still named on the console with its reason, but the run exits 0 "
       "[default: exit 1]. Absent weights (missing-weights) never fail a run.", ("--keep-going",),
       toml=True),
    _O("max_pixels", int, DEFAULT_MAX_PIXELS, "Decompression-bomb limit: an input image (volume) "
       "over this many pixels (voxels), or a .gz inflating past 8 bytes per allowed pixel, is "
       "skipped with its name and the limit [default 16384*16384].", ("--max-pixels",),
       toml=True, env=MAX_PIXELS_ENV, min=1),
    _O("add", bool, False, "Add these suites/models/settings as new variants beside what the run "
       "dir holds.", ("--add",)),
    _O("wait", bool, False, "Wait for another run holding --out to finish.", ("--wait",)),
    _O("executor", str, "local", "local | ray | slurm [default local].", ("--executor", "-x"),
       toml=True),
    _O("address", str, None, "Ray cluster address (auto or HOST:PORT); default: start a local "
       "cluster.", ("--address",), toml=True),
    _O("workers", int, None, "Parallel workers: local processes [default: CPU cores], Ray CPUs of "
       "a local cluster, Slurm array parallelism.", ("--workers",), toml=True, min=1),
    _O("shard_size", int, 64, "Images per shard (unit of work and resume) [default 64].",
       ("--shard-size",), toml=True, min=1),
    _O("max_retries", int, 2, "Retries of a failed shard.", ("--max-retries",), min=0),
    _O("threads", int, 1, "Torch threads per worker; tables are bit-identical across executors "
       "for the same value.", ("--threads",), min=1),
    _O("slurm_partition", str, None, "Slurm partition.", ("--slurm-partition",)),
    _O("slurm_time", int, 60, "Slurm time limit (minutes).", ("--slurm-time",), min=1),
    _O("slurm_gpus", int, 0, "GPUs per Slurm task.", ("--slurm-gpus",), min=0),
    _O("slurm_cluster", str, None, "submitit cluster: slurm (default when sbatch exists) | local "
       "(same jobs as local processes) | debug.", ("--slurm-cluster",)),
    _O("quiet", bool, False, "No progress output.", ("--quiet", "-q"), feeds="show_progress"),
)
del _O
RUN_OPTION_BY_NAME: dict[str, RunOption] = {o.name: o for o in RUN_OPTIONS}

#: the top-level keys of a run config file
RUN_KEYS: tuple[str, ...] = tuple(o.name for o in RUN_OPTIONS if o.toml)
#: TOML type of each run option of a config file; integers must be >= their ``min``
RUN_KEY_TYPES: dict[str, str] = {o.name: o.toml_type for o in RUN_OPTIONS if o.toml}


def check_run_option(path: Path, key: str, v: Any) -> None:
    """Refuse a run option of the wrong TOML type before any work starts (a string or float for
    an integer, an integer for a list...).

    Raises:
        SettingError: ``--config FILE: KEY = VALUE: expected TYPE``.
    """
    opt = RUN_OPTION_BY_NAME[key]
    want = opt.toml_type
    ok = {"text": isinstance(v, str),
          "text or list of text": isinstance(v, str) or (isinstance(v, list) and all(
              isinstance(x, str) for x in v)),
          "integer": isinstance(v, int) and not isinstance(v, bool) and v >= (opt.min or 0),
          "true/false": isinstance(v, bool)}[want]
    if not ok:
        raise SettingError(f"--config {path}: {key} = {v!r}: expected {want}"
                           + (f" >= {opt.min}" if opt.min is not None else ""))


def read_config_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(run options, setting overrides)`` from a TOML file.

    Top-level keys from :data:`RUN_KEYS` are run options (``suite = "rashid"``, ``models =
    ["bicubic"]``); tables are setting groups (``[drive]`` ``blur_sigma = 1.5``, ``[metric]``,
    ``[model]``) and a ``[set]`` table may hold dotted keys (``"drive.blur_sigma" = 1.5``).
    ``[datasets.<name>]`` tables define user datasets (returned under the run option
    ``datasets``; see ``data_prep/config.py``); ``[models.<name>]`` tables define user models
    (checkpoints loaded by spandrel; returned under ``model_tables``, see ``models/config.py``).

    Raises:
        SettingError: unreadable file, TOML syntax error, or an unknown top-level key.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise SettingError(f"--config {path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise SettingError(f"--config {path}: not UTF-8 text (byte {e.start}: {e.reason}); "
                           "expected a UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise SettingError(f"--config {path}: not valid TOML ({e})") from None
    run: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for k, v in data.items():
        if k == "set" and isinstance(v, dict):
            settings.update({str(kk): vv for kk, vv in flatten_tables(v).items()})
        elif k == "datasets":  # user datasets: data_prep.config.load_custom_config reads them
            run["datasets"] = v
        elif k == "models" and isinstance(v, dict):  # user models: models.config reads them
            run["model_tables"] = v
        elif isinstance(v, dict):
            settings.update({f"{k}.{kk}": vv for kk, vv in flatten_tables(v).items()})
        elif k in RUN_KEYS:
            check_run_option(path, k, v)
            run[k] = v
        else:
            raise SettingError(f"--config {path}: unknown key {k!r}; top-level keys: "
                               f"{', '.join(RUN_KEYS)}, or a table [metric], [model], [<protocol>]")
    _check_toml_types(path, settings)
    return run, settings


def _base_types(tp) -> set:
    """The plain types an annotation admits (``int | None`` -> {int, NoneType};
    ``Literal["a", "b"]`` -> {str})."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return {t for a in typing.get_args(tp) for t in _base_types(a)}
    if typing.get_origin(tp) is typing.Literal:
        return {type(a) for a in typing.get_args(tp)}
    return {typing.get_origin(tp) or tp}


def _check_toml_types(path: Path, settings: Mapping[str, Any]) -> None:
    """A TOML value has its own type: unlike a ``--set`` string it is not converted
    (:func:`parse_setting` with ``typed``).

    Raises:
        SettingError: ``--config FILE: KEY = VALUE: expected TYPE, got TYPE``.
    """
    infos = setting_infos()
    for key, v in settings.items():
        if key not in infos:  # unknown or user-dataset key: validate_settings names it
            continue
        try:
            parse_setting(key, v, typed=True, infos=infos)
        except SettingError as e:
            raise SettingError(f"--config {path}: {e}") from None


def flatten_tables(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"drive": {"blur_sigma": 1.5}}`` -> ``{"drive.blur_sigma": 1.5}`` (nested tables to dotted
    keys; dotted keys pass through)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten_tables(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out




def toml_value(v: Any) -> str:
    """One TOML value (strings quoted, tuples as arrays, None as the string "none")."""
    if v is None:
        return '"none"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) and v == v and abs(v) != float("inf") else (
            str(v) if isinstance(v, int) else f'"{v}"')
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def render_toml(run: Mapping[str, Any], groups: Iterable[tuple[str, Mapping[str, Any], Mapping[str, Any]]]) -> str:
    """A TOML text of run options and, per group, every field with its value; fields that differ
    from the default carry ``# set (default ...)``."""
    lines = [f"{k} = {toml_value(v)}" for k, v in run.items() if v is not None]
    for name, values, defaults in groups:
        lines.append("")
        lines.append(f"[{name}]" if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'["{name}"]')
        for k, v in values.items():
            mark = "" if _canon(v) == _canon(defaults.get(k)) else \
                f"  # set (default {toml_value(defaults.get(k))})"
            lines.append(f"{k} = {toml_value(v)}{mark}")
    return "\n".join(lines) + "\n"
