"""Foundation shared by every layer: atomic writes, stable hashing, device resolution, provenance.

``data_prep``, ``models`` and ``benchmark`` all import from here and never the other way round, so
imports run one way (``data_prep`` and ``models`` never import ``benchmark``). Nothing here imports
torch at module level.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import math
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

PACKAGES = (
    "medsr-bench", "torch", "torchvision", "numpy", "basicsr", "realesrgan", "opencv-python-headless",
    "opencv-python", "scikit-image", "scipy", "sewar", "pandas", "nibabel", "pydicom", "pillow",
    "matplotlib", "jinja2",
)


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_commit(repo: Path | None = None) -> str:
    """``git rev-parse HEAD`` of the project (plus ``-dirty`` when the tree has changes), or
    ``unknown`` outside a checkout."""
    repo = repo or Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except Exception:
        return "unknown"


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that determine the numbers (absent ones omitted)."""
    out = {}
    for p in PACKAGES:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            pass
    return out


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> str:
    """The device string a run uses: ``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``.

    Accepts ``auto``, ``cpu``, ``cuda`` and ``cuda:N``.

    Raises:
        ValueError: unknown name, or ``cuda`` without a visible GPU (one line naming the fix).
    """
    import torch

    device = str(device or "auto")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu" and not (device == "cuda" or device.startswith("cuda:")):
        raise ValueError(f"--device {device!r}: expected auto, cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda: torch sees no CUDA device (use --device cpu or auto)")
    return device


def device_description(device: str) -> dict:
    """The device actually used: type, name (GPU model or CPU), thread count, torch build."""
    import torch

    d = {"type": device, "torch": torch.__version__, "threads": torch.get_num_threads(),
         "platform": platform.platform(), "python": platform.python_version()}
    if str(device).startswith("cuda"):
        d["name"] = torch.cuda.get_device_name(torch.device(device))
    else:
        d["name"] = cpu_model()
    return d


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def load_average(first_only: bool = False) -> str:
    """The system load average as printed in benchmark tables: ``"2.54 1.87 0.91"`` (1, 5 and
    15 minutes, 2 decimals), or the 1-minute value alone with one decimal (``first_only``);
    ``"n/a"`` where the OS has none (``os.getloadavg``)."""
    if not hasattr(os, "getloadavg"):
        return "n/a"
    values = os.getloadavg()
    return f"{values[0]:.1f}" if first_only else " ".join(f"{v:.2f}" for v in values)


def machine_description(device: str = "cpu") -> str:
    """One line naming the machine a benchmark ran on: CPU model, logical cores, torch version and
    threads, the GPU (with CUDA version) when ``device`` is CUDA, and the load average at call
    time (benchmarks on shared cores should be read as ratios)."""
    import os

    import torch

    desc = (f"{cpu_model()}, {os.cpu_count()} logical cores, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads")
    if str(device).startswith("cuda") and torch.cuda.is_available():
        desc += (f", GPU {torch.cuda.get_device_name(torch.device(device))} "
                 f"(CUDA {torch.version.cuda})")
    try:
        desc += ", load average {:.2f} {:.2f} {:.2f} at start".format(*os.getloadavg())
    except OSError:
        pass
    return desc


# ------------------------------------------------------------------ atomic writes
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, then ``os.replace`` it over
    ``path`` (atomic on POSIX): a reader never sees a partial file, and a failure leaves the old
    file as it was and no temp file behind. The one atomic writer of the project."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the mode open() would
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def json_safe(obj):
    """``obj`` with numpy scalars as Python numbers, paths as strings, tuples as lists and
    non-finite floats as the strings ``inf`` / ``-inf`` / ``nan`` (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float) or type(obj).__module__ == "numpy" and hasattr(obj, "item"):
        v = obj.item() if hasattr(obj, "item") else obj
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        return v
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_json(path: Path, obj) -> None:
    """JSON dump (sorted keys, indent 2, non-finite floats as strings) written atomically."""
    atomic_write_text(Path(path), json.dumps(json_safe(obj), indent=2, sort_keys=True) + "\n")


# ------------------------------------------------------------------ hashing
def read_json_record(path: Path, what: str, keys: tuple[str, ...] = ("file", "sha256")) -> dict | None:
    """A JSON record beside a weights file (``bench train``'s and the ncnn converter's), or None
    when ``path`` is absent.

    Raises:
        ValueError: unreadable JSON, or not an object with ``keys`` (one line naming the file and
            ``what`` it should be, e.g. ``trained-checkpoint record``).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: unreadable {what} ({e})") from None
    if not isinstance(rec, dict) or any(k not in rec for k in keys):
        raise ValueError(f"{path}: not a {what} (expected keys {', '.join(keys)}, ...)")
    return rec


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 (hex) of a file's bytes, read in chunks (no size limit)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """sha256 (hex) of ``data``."""
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj) -> str:
    """The one canonical text of a JSON-able object: sorted keys, no spaces, strict floats."""
    return json.dumps(json_safe(obj), sort_keys=True, separators=(",", ":"), default=str)


def stable_hash(obj, length: int = 16) -> str:
    """sha256 (first ``length`` hex digits) of :func:`canonical_json` of ``obj``: the key of
    prepared sets, tasks, variants and baselines. Equal values give equal hashes on every machine
    and Python version (dict order and float formatting do not matter)."""
    return sha256_bytes(canonical_json(obj).encode())[:length]


def did_you_mean(word: str, choices) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices`` to ``word`` (``difflib``
    ratio >= 0.6), else ``""``: appended to "unknown model / suite / setting" errors."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
