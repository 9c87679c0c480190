"""LPIPS (learned perceptual distance), AlexNet variant v0.1 -- only when its weights are present.

Source: R. Zhang, P. Isola, A. A. Efros, E. Shechtman, O. Wang, "The unreasonable effectiveness of
deep features as a perceptual metric", CVPR 2018; reference implementation ``lpips`` 0.1.4
(``lpips.LPIPS(net='alex', version='0.1')``): images in [-1, 1], the fixed scaling layer
(shift (-.030, -.088, -.188), scale (.458, .448, .450)), AlexNet ReLU1..ReLU5 features, unit-normalised
along channels (eps 1e-10), squared difference, 1x1 linear heads (no bias), spatial mean, summed over
the five layers. Lower is better.

Weights are NOT downloaded and never faked. Two files are needed, looked up in this order:
``$MEDSR_LPIPS_WEIGHTS`` (a folder), ``<repo>/../shared/weights/lpips/``, and torch's hub cache
(``$TORCH_HOME/hub/checkpoints``):

- ``alexnet-owt-7be5be79.pth``: torchvision's ImageNet AlexNet (``features.*`` keys used);
- ``lpips_v0.1_alex.pth`` (or ``alex.pth``): the linear heads shipped in the ``lpips`` wheel at
  ``lpips/weights/v0.1/alex.pth`` (keys ``lin{0..4}.model.1.weight``).

When either is absent every value is NaN with the note ``missing weights: ...`` (the runner shows
the metric as *missing-weights*). Channel handling: gray / Y images are replicated to 3 channels;
values are divided by ``data_range`` to get [0, 1].
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medsr_bench.benchmark.metrics.registry import CheckTolerance, MetricSpec, register_metric

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
LIN_FILES = ("lpips_v0.1_alex.pth", "alex.pth")
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_CHANNELS = (64, 192, 384, 256, 256)


def weight_dirs() -> list[Path]:
    """Folders searched for the LPIPS files, in order."""
    dirs = []
    if os.environ.get("MEDSR_LPIPS_WEIGHTS"):
        dirs.append(Path(os.environ["MEDSR_LPIPS_WEIGHTS"]))
    dirs.append(Path(__file__).resolve().parents[3] / "shared" / "weights" / "lpips")
    dirs.append(Path(torch.hub.get_dir()) / "checkpoints")
    return dirs


def find_weights() -> tuple[Path | None, Path | None]:
    """``(alexnet_file, lin_file)``, each None when not found."""
    alex = lin = None
    for d in weight_dirs():
        if alex is None and (d / ALEXNET_FILE).is_file():
            alex = d / ALEXNET_FILE
        for name in LIN_FILES:
            if lin is None and (d / name).is_file():
                lin = d / name
    return alex, lin


def missing_note() -> str:
    """The note used for every value when the weights are absent ('' when present)."""
    alex, lin = find_weights()
    missing = [n for n, p in ((ALEXNET_FILE, alex), (LIN_FILES[0], lin)) if p is None]
    if not missing:
        return ""
    return (f"missing weights: {', '.join(missing)} not found (put them in $MEDSR_LPIPS_WEIGHTS "
            f"or ../shared/weights/lpips)")


class LPIPSAlex(nn.Module):
    """LPIPS v0.1 with an AlexNet trunk; ``forward(x, y)`` takes ``(N, 3, H, W)`` in [0, 1] and
    returns ``(N,)`` distances."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
        )
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _CHANNELS)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self._taps = (1, 4, 7, 9, 11)  # indices of the ReLU outputs relu1..relu5

    def load(self, alex_file: Path, lin_file: Path) -> LPIPSAlex:
        """Load torchvision AlexNet ``features.*`` and lpips ``lin{k}.model.1.weight`` tensors."""
        sd = torch.load(alex_file, map_location="cpu", weights_only=True)
        self.features.load_state_dict({k[len("features."):]: v for k, v in sd.items()
                                       if k.startswith("features.")})
        lin = torch.load(lin_file, map_location="cpu", weights_only=True)
        for k, m in enumerate(self.lins):
            m.weight.data.copy_(lin[f"lin{k}.model.1.weight"])
        return self.eval()

    def _feats(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((2.0 * x - 1.0) - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._taps:
                out.append(x / (torch.sqrt((x * x).sum(dim=1, keepdim=True)) + 1e-10))
        return out

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for lin, fx, fy in zip(self.lins, self._feats(x), self._feats(y), strict=True):
            total = total + lin((fx - fy) ** 2).mean(dim=(1, 2, 3))
        return total


@lru_cache(maxsize=4)
def _model(device: str) -> LPIPSAlex | None:
    alex, lin = find_weights()
    if alex is None or lin is None:
        return None
    return LPIPSAlex().load(alex, lin).to(device)


def lpips_batch(sr: np.ndarray, hr: np.ndarray, settings, device: str = "cpu") -> tuple[np.ndarray, list[str]]:
    """LPIPS for stacks ``(N, C, H, W)`` float64 in the metric domain; NaN + note when no weights."""
    n = sr.shape[0]
    note = missing_note()
    if note:
        return np.full(n, math.nan), [note] * n
    model = _model(device)
    out = np.empty(n)
    for i in range(0, n, 8):
        a = torch.from_numpy(sr[i:i + 8] / settings.data_range).float().to(device)
        b = torch.from_numpy(hr[i:i + 8] / settings.data_range).float().to(device)
        if a.shape[1] == 1:
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        out[i:i + 8] = model(a, b).double().cpu().numpy()
    return out, [""] * n


def lpips_stack(sr: np.ndarray, hr: np.ndarray, settings, names=("lpips",), device: str = "cpu",
                chunk: int | None = None) -> tuple[dict[str, np.ndarray], list[list[str]]]:
    """:func:`lpips_batch` in the registry's batched form (``{"lpips": values}``, notes prefixed
    ``"lpips: "``); ``names`` and ``chunk`` are accepted for the common signature."""
    v, notes = lpips_batch(sr, hr, settings, device=device)
    return {"lpips": v}, [[f"lpips: {t}"] if t else [] for t in notes]


def lpips(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """Per-image LPIPS (``(C, H, W)`` float64 in the metric domain)."""
    v, notes = lpips_batch(sr[None], hr[None], settings)
    return float(v[0]), notes[0]


register_metric(MetricSpec(
    name="lpips", higher_is_better=False, value_range=(0.0, math.inf), needs_weights=True,
    reference="lpips 0.1.4 LPIPS(net='alex', version='0.1') (not installed here; weights absent -> NaN)",
    unit="1", description="Zhang et al. 2018 LPIPS v0.1 AlexNet; NaN 'missing weights' when files are absent",
    fn=lpips, batched=lpips_stack, batched_always=True, weights_note=missing_note,
    check_tolerance=CheckTolerance(1e-4, 0.0, "1e-4: 10x the float32 drift of the AlexNet features")))
