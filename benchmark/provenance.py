"""Facts about the environment recorded in ``run.json``: git commit, package versions, device."""

from __future__ import annotations

import importlib.metadata as md
import platform
import subprocess
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
    repo = repo or Path(__file__).resolve().parents[1]
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


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU else ``cpu``; ``cuda`` without a GPU raises
    ValueError (one line)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: torch sees no CUDA device (use --device cpu or auto)")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r}: expected auto, cpu or cuda")
    return device


def device_description(device: str) -> dict:
    """The device actually used: type, name (GPU model or CPU), thread count, torch build."""
    import torch

    d = {"type": device, "torch": torch.__version__, "threads": torch.get_num_threads(),
         "platform": platform.platform(), "python": platform.python_version()}
    if device == "cuda":
        d["name"] = torch.cuda.get_device_name(0)
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
