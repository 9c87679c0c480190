"""DISTS (deep image structure and texture similarity), VGG16 variant -- only when its weights are present.

Source: K. Ding, K. Ma, S. Wang, E. P. Simoncelli, "Image quality assessment: unifying structure
and texture similarity", IEEE TPAMI 44(5), 2022 (arXiv 2004.07728), eqs. (6)-(9); reference code
``DISTS_pytorch`` 0.1 and pyiqa 0.1.16 ``DISTS``: images RGB in [0, 1], ImageNet mean/std
normalisation, the VGG16 conv layers with each max-pool replaced by an L2 pool (3x3 Hann window
``[.5 1 .5]^T [.5 1 .5] / 4``, stride 2, padding 1, ``sqrt(conv(x^2) + 1e-12)``); six stages (the
raw input, relu1_2, relu2_3... i.e. 3, 64, 128, 256, 512, 512 channels); per channel a texture
term ``(2 mu_x mu_y + c1) / (mu_x^2 + mu_y^2 + c1)`` and a structure term
``(2 s_xy + c2) / (s_x^2 + s_y^2 + c2)`` (global means / population (co)variances, c1 = c2 = 1e-6),
weighted by the learned ``alpha`` / ``beta`` (1475 each, normalised by their joint sum);
``DISTS = 1 - sum``. Lower is better, 0 for identical images.

Weights are NOT downloaded and never faked. Two files, looked up in ``$MEDSR_DISTS_WEIGHTS``,
``<repo>/../shared/weights/dists/`` and torch's hub cache (``$TORCH_HOME/hub/checkpoints``):

- :data:`VGG_FILE` ``vgg16-397923af.pth``: torchvision's ImageNet VGG16 (``features.*`` keys;
  the hash prefix in its name is torch.hub's sha256 check);
- :data:`ALPHA_BETA_FILES`: ``DISTS_weights-f5e65c96.pth`` (pyiqa's name) or ``weights.pt`` (shipped in
  the ``DISTS_pytorch`` 0.1 wheel), keys ``alpha``, ``beta`` of shape ``(1, 1475, 1, 1)``,
  sha256 :data:`ALPHA_BETA_SHA256`.

When either is absent every value is NaN with the note ``missing weights: ...`` (the column is
*missing-weights*), with the commands in :data:`FETCH`. Channel handling: 1-channel images
(``gray``, ``y``, ``matlab-gray``) are replicated to 3 channels (as pyiqa); values are divided by
``data_range`` to get [0, 1].
"""

from __future__ import annotations

import hashlib
import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from medsr_bench.benchmark.metrics.registry import (
    CheckTolerance,
    MetricSpec,
    ReferenceTolerance,
    register_metric,
)

VGG_FILE = "vgg16-397923af.pth"
ALPHA_BETA_FILES = ("DISTS_weights-f5e65c96.pth", "weights.pt")
ALPHA_BETA_SHA256 = "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218"
FETCH = ("python -c \"import torchvision; torchvision.models.vgg16(weights='IMAGENET1K_V1')\" "
         "(writes vgg16-397923af.pth to the torch hub cache); pip download DISTS_pytorch==0.1 --no-deps "
         "and copy DISTS_pytorch/weights.pt from the wheel (a zip) to ../shared/weights/dists/")
CHANNELS = (3, 64, 128, 256, 512, 512)
# torchvision vgg16.features indices of each stage's conv layers (ReLU after each; 4, 9, 16, 23
# are the max-pools that DISTS replaces by L2 pools)
_STAGES = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def weight_dirs() -> list[Path]:
    """Folders searched for the DISTS files, in order."""
    dirs = []
    if os.environ.get("MEDSR_DISTS_WEIGHTS"):
        dirs.append(Path(os.environ["MEDSR_DISTS_WEIGHTS"]))
    dirs.append(Path(__file__).resolve().parents[3] / "shared" / "weights" / "dists")
    dirs.append(Path(torch.hub.get_dir()) / "checkpoints")
    return dirs


def find_weights() -> tuple[Path | None, Path | None]:
    """``(vgg16_file, alpha_beta_file)``, each None when not found."""
    vgg = ab = None
    for d in weight_dirs():
        if vgg is None and (d / VGG_FILE).is_file():
            vgg = d / VGG_FILE
        for name in ALPHA_BETA_FILES:
            if ab is None and (d / name).is_file():
                ab = d / name
    return vgg, ab


def missing_note() -> str:
    """The note of every value when a weight file is absent ('' when both are present)."""
    vgg, ab = find_weights()
    missing = [n for n, p in ((VGG_FILE, vgg), (ALPHA_BETA_FILES[0], ab)) if p is None]
    if not missing:
        return ""
    return (f"missing weights: {', '.join(missing)} not found (put them in $MEDSR_DISTS_WEIGHTS "
            f"or ../shared/weights/dists; get them: {FETCH})")


class L2Pool(nn.Module):
    """DISTS' L2 pooling: ``sqrt(hann3x3 * x^2 + 1e-12)``, stride 2, padding 1, per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        a = torch.tensor([0.5, 1.0, 0.5])
        g = torch.outer(a, a)
        self.register_buffer("filter", (g / g.sum()).expand(channels, 1, 3, 3).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x * x, self.filter, stride=2, padding=1, groups=x.shape[1])
        return torch.sqrt(out + 1e-12)


class DISTSVGG(nn.Module):
    """DISTS with a VGG16 trunk; ``forward(x, y)`` takes ``(N, 3, H, W)`` in [0, 1] (x = SR,
    y = HR) and returns ``(N,)`` distances. Modules are named like pyiqa's ``DISTS``
    (``stage{1..5}.{vgg index}``), so its combined state dict loads as well."""

    def __init__(self) -> None:
        super().__init__()
        cin = 3
        for s, idx in enumerate(_STAGES, start=1):
            stage = nn.Sequential()
            if s > 1:
                stage.add_module(str(idx[0] - 1), L2Pool(cin))
            for i in idx:
                cout = CHANNELS[s]
                stage.add_module(str(i), nn.Conv2d(cin, cout, 3, padding=1))
                stage.add_module(str(i + 1), nn.ReLU())
                cin = cout
            setattr(self, f"stage{s}", stage)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
        self.alpha = nn.Parameter(torch.full((1, sum(CHANNELS), 1, 1), 0.1))
        self.beta = nn.Parameter(torch.full((1, sum(CHANNELS), 1, 1), 0.1))

    def load(self, vgg_file: Path, alpha_beta_file: Path) -> DISTSVGG:
        """Load torchvision VGG16 ``features.{i}.weight/bias`` and ``alpha`` / ``beta``.

        Raises:
            KeyError / RuntimeError: a file without the expected keys or shapes.
        """
        sd = torch.load(vgg_file, map_location="cpu", weights_only=True)
        for s, idx in enumerate(_STAGES, start=1):
            stage = getattr(self, f"stage{s}")
            for i in idx:
                conv = stage.get_submodule(str(i))
                conv.weight.data.copy_(sd[f"features.{i}.weight"])
                conv.bias.data.copy_(sd[f"features.{i}.bias"])
        ab = torch.load(alpha_beta_file, map_location="cpu", weights_only=True)
        self.alpha.data.copy_(ab["alpha"])
        self.beta.data.copy_(ab["beta"])
        return self.eval()

    def _feats(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = [x]
        h = (x - self.mean) / self.std
        for s in range(1, 6):
            h = getattr(self, f"stage{s}")(h)
            out.append(h)
        return out

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c1 = c2 = 1e-6
        w = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / w, list(CHANNELS), dim=1)
        betas = torch.split(self.beta / w, list(CHANNELS), dim=1)
        total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for a, b, fx, fy in zip(alphas, betas, self._feats(x), self._feats(y), strict=True):
            mx, my = fx.mean(dim=(2, 3), keepdim=True), fy.mean(dim=(2, 3), keepdim=True)
            texture = (2 * mx * my + c1) / (mx * mx + my * my + c1)
            vx = ((fx - mx) ** 2).mean(dim=(2, 3), keepdim=True)
            vy = ((fy - my) ** 2).mean(dim=(2, 3), keepdim=True)
            cxy = (fx * fy).mean(dim=(2, 3), keepdim=True) - mx * my
            structure = (2 * cxy + c2) / (vx + vy + c2)
            total = total + (a * texture).sum(dim=(1, 2, 3)) + (b * structure).sum(dim=(1, 2, 3))
        return 1.0 - total


def sha256_ok(path: Path) -> bool:
    """True when ``path`` is the published alpha/beta file (sha256 :data:`ALPHA_BETA_SHA256`)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() == ALPHA_BETA_SHA256


@lru_cache(maxsize=4)
def _model(device: str) -> DISTSVGG | None:
    vgg, ab = find_weights()
    if vgg is None or ab is None:
        return None
    return DISTSVGG().load(vgg, ab).to(device)


def dists_batch(sr: np.ndarray, hr: np.ndarray, settings, device: str = "cpu",
                model: DISTSVGG | None = None) -> tuple[np.ndarray, list[str]]:
    """DISTS of stacks ``(N, C, H, W)`` float64 in ``[0, settings.data_range]`` (C = 1 or 3);
    ``(NaN, 'missing weights: ...')`` per image when the files are absent and no ``model`` given."""
    n = sr.shape[0]
    if model is None:
        note = missing_note()
        if note:
            return np.full(n, math.nan), [note] * n
        model = _model(device)
    out = np.empty(n)
    for i in range(0, n, 4):
        a = torch.from_numpy(sr[i:i + 4] / settings.data_range).float().to(device)
        b = torch.from_numpy(hr[i:i + 4] / settings.data_range).float().to(device)
        if a.shape[1] == 1:
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        out[i:i + 4] = model(a, b).double().cpu().numpy()
    return out, [""] * n


def dists(sr: np.ndarray, hr: np.ndarray, settings) -> tuple[float, str]:
    """Per-image DISTS of ``(C, H, W)`` float64 arrays in the metric domain."""
    v, notes = dists_batch(sr[None], hr[None], settings)
    return float(v[0]), notes[0]


SPEC = register_metric(MetricSpec(
    name="dists", higher_is_better=False, value_range=(0.0, 1.0), needs_weights=True,
    reference="pyiqa 0.1.16 DISTS / DISTS_pytorch 0.1 (same weights; tested on a random-init fixture, "
              "real weights absent here -> NaN)",
    unit="1", description="Ding et al. 2022 DISTS (VGG16 + L2 pooling, learned alpha/beta); NaN "
                          "'missing weights' when files are absent",
    fn=dists, weights_note=missing_note,
    tolerance=ReferenceTolerance(1e-5, "1e-5 vs pyiqa DISTS on a random-init fixture: the same "
                                       "float32 layers, only the summation order differs"),
    check_tolerance=CheckTolerance(1e-4, 0.0, "1e-4: 10x the float32 drift of the VGG features")))
