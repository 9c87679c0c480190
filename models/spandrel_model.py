"""Bring your own model: any SR checkpoint spandrel can read, scored like a registered model.

A ``.pth`` / ``.pt`` / ``.ckpt`` file is read with ``torch.load(weights_only=True)`` (tensors and
containers only; a pickle that needs any other global is refused, no code runs), a
``.safetensors`` file by spandrel's ``ModelLoader``. spandrel (PyPI ``spandrel`` 0.4, MIT; chaiNNer's
loader) unwraps ``params_ema`` / ``params`` / ``state_dict`` and detects the architecture and its hyper-parameters from the keys and shapes
(ESRGAN/RRDBNet incl. Real-ESRGAN x2 pixel-unshuffle, SRVGGNetCompact, SwinIR, Swin2SR, HAT, DAT,
RCAN, SPAN, OmniSR, ...). Its :class:`spandrel.ImageModelDescriptor` gives the native scale, the
input/output channels, fp16/bf16 support and the size requirements (minimum side, multiple-of,
square).

A user model is one *entry* (a JSON dict, recorded in the run's identity and in each task, so every
worker process rebuilds it): ``name``, ``path`` (absolute), ``sha256`` (of the file when the run was
configured), ``sha256_expected``, ``scale_expected``, ``channels_expected``, ``options`` (model
options, the keys of ``models.network.DEEP_DEFAULTS``), ``title``, ``source`` (config file or
``--models``) and ``detected`` (:func:`describe`). :func:`register_entry` registers it in the model
registry (family ``spandrel``); :func:`load_model` then loads it through spandrel and runs
``descriptor.model`` in the project's :class:`~models.engine.Engine` (batching, padding to the size
requirements, precision) behind :class:`~models.network.DeepModel` (grayscale policy, x2-from-x4).
A precision the architecture does not support (``supports_half`` / ``supports_bfloat16`` False)
runs in fp32 and the model's info says so (``precision_note``).

Every failure is one :class:`~models.registry.WeightsError` line naming the file.
"""

from __future__ import annotations

import math
import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from medsr_bench.models.network import DeepModel
from medsr_bench.models.options import DEEP_DEFAULTS, GRAY_WEIGHTS, X2_MODES
from medsr_bench.models.registry import (
    ModelSpec,
    PretrainedCfg,
    WeightsError,
    WeightsMissing,
    register_user_model,
)

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")
FAMILY = "spandrel"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_PRECISION_SUPPORT = {"fp16": "supports_half", "bf16": "supports_bfloat16",
                      "bf16-net": "supports_bfloat16"}

#: entries registered in this process, by name (the factory checks the file against it)
_ENTRIES: dict[str, dict] = {}


def supported_architectures() -> list[str]:
    """Names of the architectures spandrel's main registry detects (``ESRGAN``, ``SwinIR``...)."""
    from spandrel import MAIN_REGISTRY

    return [a.architecture.name for a in MAIN_REGISTRY.architectures()]


#: the wrapper keys ``spandrel.canonicalize_state_dict`` unwraps, in its order (for run.json)
_WRAPPERS = ("model_state_dict", "state_dict", "params_ema", "params-ema", "params", "model", "net")


def read_checkpoint(path: Path | str, name: str = "model") -> dict:
    """The state dict of a checkpoint file (:func:`read_checkpoint_key` without the key)."""
    return read_checkpoint_key(path, name)[0]


def read_checkpoint_key(path: Path | str, name: str = "model") -> tuple[dict, str | None]:
    """The state dict of a checkpoint file, read safely (no pickled code runs), and the wrapper key
    it was found under (``params_ema``, ``params``...; None for a bare state dict or safetensors).

    ``.safetensors`` goes through ``spandrel.ModelLoader``; pickles (``.pth`` / ``.pt`` /
    ``.ckpt``) through ``torch.load(weights_only=True)`` (torch's restricted unpickler: tensors and
    containers only, as spandrel's own; no TorchScript). Wrappers (``params_ema`` before
    ``params``, ``state_dict``, ``module.`` prefixes) are removed by
    ``spandrel.canonicalize_state_dict``, so spandrel sees what its own loader would.

    Returns:
        ``({key: torch.Tensor} on CPU, wrapper key or None)``.

    Raises:
        WeightsMissing: no such file. WeightsError: another suffix, a pickle that needs code
        execution (refused), an unreadable file, or a file that holds no state dict.
    """
    from spandrel import ModelLoader, canonicalize_state_dict

    path = Path(path)
    if not path.is_file():
        raise WeightsMissing(name, path, "check the path in the config / --models")
    suffix = path.suffix.lower()
    if suffix not in CHECKPOINT_SUFFIXES:
        raise WeightsError(f"{name}: {path}: unsupported checkpoint suffix {suffix or '(none)'!r}; "
                           f"expected one of {', '.join(CHECKPOINT_SUFFIXES)}")
    key = None
    try:
        if suffix != ".safetensors":
            obj = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(obj, Mapping):
                key = next((k for k in _WRAPPERS if isinstance(obj.get(k), Mapping)), None)
            state = canonicalize_state_dict(obj) if isinstance(obj, Mapping) else obj
        else:
            state = ModelLoader("cpu").load_state_dict_from_file(path)
    except pickle.UnpicklingError as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        g = re.search(r"(?:Global '|GLOBAL )([\w.]+)", str(e))
        if g:  # torch's (or spandrel's) restricted unpickler met a class / function to call
            raise WeightsError(
                f"{name}: {path}: refused: the pickle needs code execution to load "
                f"(global {g.group(1)}); expected a plain state dict "
                "(tensors only), e.g. re-save it with torch.save(model.state_dict(), ...) or as "
                ".safetensors") from None
        detail = [ln for ln in str(e).splitlines() if "error:" in ln.lower()]
        why = detail[-1].split("error:", 1)[-1].strip() if detail else msg
        raise WeightsError(f"{name}: {path}: cannot read as a checkpoint (truncated or not a "
                           f"weights file; {why[:160] or 'not a torch pickle'})") from None
    except Exception as e:  # truncated zip, not a pickle, bad safetensors header...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(f"{name}: {path}: cannot read as a checkpoint (truncated or not a "
                           f"weights file; {type(e).__name__}: {msg[:160]})") from None
    if not (isinstance(state, Mapping) and state and
            all(isinstance(v, torch.Tensor) for v in state.values())):
        what = (f"a dict with keys {list(state)[:5]}" if isinstance(state, Mapping)
                else type(state).__name__)
        raise WeightsError(f"{name}: {path}: not a state dict (holds {what}); expected a mapping "
                           "of parameter names to tensors (optionally under params_ema / params / "
                           "state_dict)")
    return dict(state), key


def detect(state: Mapping, path: Path | str, name: str = "model"):
    """spandrel's :class:`~spandrel.ImageModelDescriptor` for ``state`` (architecture detected).

    Raises:
        WeightsError: spandrel does not know the architecture (its message and the architectures it
            supports), the weights do not fit the detected architecture, the model is not an
            image-to-image SR model (masked/inpainting, scale 1) or has channels other than 1 or 3.
    """
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    try:
        desc = ModelLoader("cpu").load_from_state_dict(dict(state))
    except UnsupportedModelError as e:
        why = str(e).strip() or "no architecture matches the state dict's keys"
        raise WeightsError(f"{name}: {path}: unknown architecture (spandrel: {why}); spandrel "
                           f"supports {', '.join(supported_architectures())}") from None
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(f"{name}: {path}: spandrel detected an architecture but the weights do "
                           f"not load into it ({type(e).__name__}: {msg[:160]})") from None
    arch = desc.architecture.name
    if not isinstance(desc, ImageModelDescriptor):
        raise WeightsError(f"{name}: {path}: {arch} is a {type(desc).__name__} (inpainting); "
                           "expected an image-to-image SR model")
    if desc.scale < 2:
        raise WeightsError(f"{name}: {path}: {arch} has scale x{desc.scale} ({desc.purpose}); "
                           "expected an SR model of scale x2 or more")
    if desc.input_channels not in (1, 3) or desc.output_channels != desc.input_channels:
        raise WeightsError(f"{name}: {path}: {arch} maps {desc.input_channels} -> "
                           f"{desc.output_channels} channels; expected 1 -> 1 or 3 -> 3")
    return desc


def _jsonable(v):
    if isinstance(v, (bool, int, str)) or v is None:
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return repr(v)


def describe(desc) -> dict:
    """JSON facts of a descriptor: ``architecture`` (id), ``architecture_name``, ``purpose``,
    ``scale``, ``input_channels``, ``output_channels``, ``size_requirements`` (``minimum``,
    ``multiple_of``, ``square``), ``supports_half``, ``supports_bfloat16``, ``tags``,
    ``hyperparameters`` (the constructor arguments spandrel detected), ``parameters`` (count),
    ``spandrel`` (version)."""
    import spandrel

    sr = desc.size_requirements
    return {
        "architecture": str(desc.architecture.id), "architecture_name": desc.architecture.name,
        "purpose": desc.purpose, "scale": int(desc.scale),
        "input_channels": int(desc.input_channels), "output_channels": int(desc.output_channels),
        "size_requirements": {"minimum": int(sr.minimum), "multiple_of": int(sr.multiple_of),
                              "square": bool(sr.square)},
        "supports_half": bool(desc.supports_half), "supports_bfloat16": bool(desc.supports_bfloat16),
        "tags": list(desc.tags),
        "hyperparameters": _jsonable(getattr(desc.model, "hyperparameters", {}) or {}),
        "parameters": int(sum(p.numel() for p in desc.model.parameters())),
        "spandrel": spandrel.__version__,
    }


def check_options(options: Mapping, where: str) -> dict:
    """Model options of a user model (keys of ``DEEP_DEFAULTS``), validated.

    Raises:
        ValueError: an unknown key or a bad value (one line starting with ``where``).
    """
    from medsr_bench.models.engine import EngineSettings

    unknown = [k for k in options if k not in DEEP_DEFAULTS]
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown key; expected one of file, sha256, scale, "
                         f"channels, title, {', '.join(DEEP_DEFAULTS)}")
    opts = {**DEEP_DEFAULTS, **options}
    if opts["gray"] not in GRAY_WEIGHTS:
        raise ValueError(f"{where}.gray = {opts['gray']!r}: expected one of {', '.join(GRAY_WEIGHTS)}")
    if opts["x2_mode"] != "outscale":
        raise ValueError(f"{where}.x2_mode = {opts['x2_mode']!r}: a user model has no x2 companion; "
                         f"expected 'outscale' (of {', '.join(X2_MODES)})")
    try:
        EngineSettings(**{k: v for k, v in opts.items() if k in EngineSettings.__dataclass_fields__})
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None
    return dict(options)


def make_entry(name: str, file: Path | str, source: str, *, sha256: str | None = None,
               scale: int | None = None, channels: int | None = None, options: Mapping | None = None,
               title: str = "") -> dict:
    """Read and check a user checkpoint; returns its entry (see the module docstring).

    Args:
        name: model name in every output (lower-case letters, digits, ``-_.``).
        file: the checkpoint (absolute, or relative to the working directory).
        source: where it was named (config file path or ``--models``), for messages.
        sha256: expected sha256 (hex) of the file, or None.
        scale: expected native scale, or None (the detected one is used).
        channels: expected input channels (1 or 3), or None.
        options: model options (``gray``, ``precision``, ``tile``...; see ``DEEP_DEFAULTS``).
        title: display description.

    Raises:
        WeightsMissing / WeightsError: see :func:`read_checkpoint`, :func:`detect`; also a sha256,
            scale or channel count that differs from the expected one.
        ValueError: a bad name or option.
    """
    from medsr_bench.models.weights import sha256_file

    if not NAME_RE.match(name):
        raise ValueError(f"{source}: model name {name!r}: expected lower-case letters, digits, "
                         "'-', '_' or '.' (at most 64, starting with a letter or digit)")
    path = Path(file).expanduser().resolve()
    opts = check_options(dict(options or {}), f"models.{name}")
    state = read_checkpoint(path, name)
    digest = sha256_file(path)
    if sha256 and digest != sha256.lower():
        raise WeightsError(f"{name}: sha256 mismatch for {path} (got {digest[:16]}..., expected "
                           f"{sha256[:16]}... in {source})")
    facts = describe(detect(state, path, name))
    if scale is not None and int(scale) != facts["scale"]:
        raise WeightsError(f"{name}: {path}: {facts['architecture_name']} is x{facts['scale']}, the "
                           f"config expects scale = {scale} ({source})")
    if channels is not None and int(channels) != facts["input_channels"]:
        raise WeightsError(f"{name}: {path}: {facts['architecture_name']} takes "
                           f"{facts['input_channels']} channel(s), the config expects channels = "
                           f"{channels} ({source})")
    return {"name": name, "path": str(path), "sha256": digest, "sha256_expected": sha256 or None,
            "scale_expected": scale, "channels_expected": channels, "options": opts,
            "title": title, "source": str(source), "detected": facts}


def name_for_file(path: Path | str, taken) -> str:
    """A model name for ``bench run --models FILE``: the file's stem in lower case with other
    characters as ``-``; ``file-<stem>`` when that name is already a model in ``taken``."""
    stem = re.sub(r"[^a-z0-9_.-]+", "-", Path(path).name.lower())
    for suf in CHECKPOINT_SUFFIXES:
        stem = stem.removesuffix(suf)
    stem = stem.strip("-.") or "model"
    stem = stem[:59]
    return f"file-{stem}" if stem in taken else stem


def register_entry(entry: Mapping) -> ModelSpec:
    """Register a user model entry (family ``spandrel``) in this process; idempotent. The spec's
    scale / channels are the detected ones, its options the entry's on top of ``DEEP_DEFAULTS``."""
    d = entry["detected"]
    size = d["size_requirements"]
    spec = ModelSpec(
        name=entry["name"], family=FAMILY, scale=int(d["scale"]), in_channels=int(d["input_channels"]),
        description=entry.get("title") or f"{d['architecture_name']} x{d['scale']} (user checkpoint "
                                          f"{Path(entry['path']).name}, loaded by spandrel)",
        paper=f"user model ({entry['source']})",
        pretrained=PretrainedCfg(file=entry["path"], url=None, sha256=entry.get("sha256_expected"),
                                 key=None, license="user's", paper="user checkpoint",
                                 obtain=f"the file named in {entry['source']}"),
        factory=_factory, options={**DEEP_DEFAULTS, **entry.get("options", {})},
        input_multiple=int(size["multiple_of"]),
    )
    _ENTRIES[spec.name] = dict(entry)
    return register_user_model(spec)


def entry_of(name: str) -> dict | None:
    """The entry of user model ``name`` registered in this process, or None."""
    return _ENTRIES.get(name)


class SpandrelModel(DeepModel):
    """A spandrel-loaded network behind the :class:`~models.registry.SRModel` contract.

    Attributes:
        descriptor: the :class:`spandrel.ImageModelDescriptor`.
        detected: :func:`describe` of it.
        precision_note: why the requested precision was replaced by fp32 ('' when it was not).
    """

    def __init__(self, spec: ModelSpec, descriptor, weights: dict, device, options: dict):
        opts = {**DEEP_DEFAULTS, **options}
        self.detected = describe(descriptor)
        self.precision_note = ""
        flag = _PRECISION_SUPPORT.get(opts["precision"])
        if flag and not self.detected[flag]:
            self.precision_note = (f"{self.detected['architecture_name']} does not support "
                                   f"{opts['precision']} (spandrel {flag}=False): ran in fp32")
            opts["precision"] = "fp32"
        self.descriptor = descriptor
        size = self.detected["size_requirements"]
        super().__init__(spec, descriptor.model, weights, device, opts,
                         input_minimum=size["minimum"], input_square=size["square"],
                         input_multiple=size["multiple_of"])

    def info(self) -> dict:
        """:meth:`DeepModel.info` plus ``spandrel`` (the detected facts) and ``precision_note``."""
        d = super().info()
        d["arch"] = f"spandrel {self.detected['architecture']}({self.detected['hyperparameters']})"
        d["spandrel"] = self.detected
        if self.precision_note:
            d["precision_note"] = self.precision_note
        return d


def load_descriptor(path: Path | str, name: str = "model", with_key: bool = False):
    """:func:`read_checkpoint_key` then :func:`detect`: the descriptor of a file (eval mode, CPU);
    ``(descriptor, wrapper key)`` with ``with_key``."""
    state, key = read_checkpoint_key(path, name)
    desc = detect(state, path, name)
    return (desc, key) if with_key else desc


def _factory(spec: ModelSpec, weights_dir, device, **options) -> SpandrelModel:
    from medsr_bench.models.weights import sha256_file

    verify_hash = options.pop("verify_hash", True)
    options.pop("x2_model", None)
    path = Path(spec.pretrained.file)
    if not path.is_file():
        raise WeightsMissing(spec.name, path, spec.pretrained.obtain)
    digest = sha256_file(path)
    entry = _ENTRIES.get(spec.name) or {}
    want = spec.pretrained.sha256 or entry.get("sha256")
    if verify_hash and want and digest != want:
        raise WeightsError(f"{spec.name}: {path} changed since the run was configured (sha256 "
                           f"{digest[:16]}..., expected {want[:16]}...); re-run with the new file "
                           "under another name or restore it")
    desc, key = load_descriptor(path, spec.name, with_key=True)
    weights = {"file": path.name, "path": str(path), "sha256": digest,
               "sha256_expected": spec.pretrained.sha256,
               "sha256_verified": bool(spec.pretrained.sha256) and verify_hash and
               digest == spec.pretrained.sha256,
               "key": key,
               "loader": f"spandrel {entry.get('detected', {}).get('spandrel', '')}".strip()}
    return SpandrelModel(spec, desc, weights, device, options)


def _diagnose(spec: ModelSpec, path: Path) -> None:
    """For a file spandrel could not load: the project's strict-load message (counts and samples
    of missing / unexpected / wrongly shaped keys against ``spec.arch()``) when the file is in
    basicsr's layout and that check fails; returns quietly otherwise."""
    from medsr_bench.models.weights import load_strict, read_state_dict

    if spec.arch is None:
        return
    try:
        state, _ = read_state_dict(spec, path)
    except WeightsError:
        return
    load_strict(spec.arch(), state, spec.name, path)


def load_registered(spec: ModelSpec, weights_dir, device, verify_hash: bool,
                    options: dict) -> SpandrelModel:
    """A registered third-party checkpoint (``spec.pretrained.loader == "spandrel"``) read by
    spandrel: file present (:class:`WeightsMissing`), sha256 checked when ``verify_hash``, the
    detected scale and input channels equal to the spec's (else :class:`WeightsError`: a wrong
    file under the expected name)."""
    from medsr_bench.models.weights import check_sha256, require_file, sha256_file

    path = require_file(spec, weights_dir)
    digest = check_sha256(spec, path) if verify_hash else sha256_file(path)
    try:
        desc, key = load_descriptor(path, spec.name, with_key=True)
    except WeightsError as e:
        _diagnose(spec, path)  # a basicsr-layout file: name the missing / unexpected keys
        raise e from None
    arch = desc.architecture.name
    if desc.scale != spec.scale or desc.input_channels != spec.in_channels:
        raise WeightsError(f"{spec.name}: {path} holds a {arch} x{desc.scale} with "
                           f"{desc.input_channels} input channel(s); expected x{spec.scale} with "
                           f"{spec.in_channels} (wrong file under this name)")
    cfg = spec.pretrained
    import spandrel

    weights = {"file": cfg.file, "path": str(path), "sha256": digest, "sha256_expected": cfg.sha256,
               "sha256_verified": bool(cfg.sha256) and verify_hash and digest == cfg.sha256,
               "key": key, "loader": f"spandrel {spandrel.__version__}"}
    return SpandrelModel(spec, desc, weights, device, options)
