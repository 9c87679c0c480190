"""VGG19 (ImageNet) for the perceptual / content losses: registered weights, basicsr's loss.

The weights are torchvision's ``vgg19-dcbb9e9d.pth`` (a bare state dict), registered as the auxiliary
checkpoint ``vgg19`` so that ``bench weights fetch vgg19`` downloads and verifies it. The losses are
basicsr's own :class:`basicsr.losses.basic_loss.PerceptualLoss` (layer weights, ImageNet input
normalisation, criterion), built so that its VGG comes from this project's verified file, read with
``weights_only=True``: basicsr's ``VGGFeatureExtractor`` otherwise falls back to a torchvision
download (``pretrained=True``), which must never happen silently. Without the file a recipe stops
with :class:`VGGMissing` (one line: file, URL, sha256, fetch command).

Smoke mode (``vgg="smoke"``) uses a seeded random VGG19: for tests only; the checkpoints a smoke
run writes are marked ``smoke`` and ``bench run`` refuses them unless told otherwise.

Grayscale (1-channel) images go into VGG replicated to 3 identical channels (then ImageNet mean/std
normalisation, as for RGB): the only choice that keeps the pretrained first layer meaningful without
new weights.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from medsr_bench.models.network import deep_spec
from medsr_bench.models.registry import PretrainedCfg, WeightsMissing, get_spec

VGG_FILE = "vgg19-dcbb9e9d.pth"
VGG_URL = f"https://download.pytorch.org/models/{VGG_FILE}"
VGG_SHA256 = "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44"


def vgg19_imagenet() -> nn.Module:
    """torchvision ``vgg19()`` (143,667,240 parameters), the layout of ``vgg19-dcbb9e9d.pth``."""
    from torchvision.models import vgg19

    return vgg19(weights=None)


deep_spec(
    "vgg19", family="loss-network", scale=1, in_channels=3, arch=vgg19_imagenet,
    description="VGG19 ImageNet classifier (torchvision), the perceptual / content-loss network",
    paper="training recipes (Ledig et al. content loss; Real-ESRGAN perceptual loss)",
    pretrained=PretrainedCfg(
        file=VGG_FILE, url=VGG_URL, sha256=VGG_SHA256, key=None, license="BSD-3-Clause (torchvision)",
        paper="Simonyan & Zisserman, VGG, ICLR 2015 (torchvision weights)",
        obtain="bench weights fetch vgg19", size=574_673_361,
    ),
    aux=True,
)


class VGGMissing(WeightsMissing):
    """The VGG19 weights a perceptual loss needs are absent (one line: file, URL, sha256, fetch)."""

    def __init__(self, path: Path):
        super().__init__("vgg19", path, "bench weights fetch vgg19")
        self.args = (f"vgg19: {path} is missing; the perceptual / content loss needs the ImageNet "
                     f"VGG19 weights ({VGG_URL}, sha256 {VGG_SHA256}); get them: bench weights "
                     f"fetch vgg19 (or use --smoke for a random VGG, tests only)",)


def vgg_features(source: str | Path, seed: int = 0) -> nn.Sequential:
    """The ``features`` part of VGG19 (conv/ReLU/pool stack), float32 on CPU.

    Args:
        source: ``"smoke"`` (seeded random init) or the weights dir holding ``vgg19-dcbb9e9d.pth``.
        seed: seed of the smoke init.

    Raises:
        VGGMissing: the file is absent; WeightsError: wrong sha256 or not a VGG19 state dict.
    """
    from torchvision.models.vgg import cfgs, make_layers

    if source == "smoke":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return make_layers(cfgs["E"])
    from medsr_bench.models.network import load_network
    from medsr_bench.models.weights import weights_path

    spec = get_spec("vgg19")
    path = weights_path(spec, source)
    if not path.is_file():
        raise VGGMissing(path)
    net, _ = load_network(spec, source)
    return net.features


@contextlib.contextmanager
def _basicsr_vgg_from(features: nn.Sequential):
    """Make basicsr's ``VGGFeatureExtractor`` take ``features`` instead of loading / downloading."""
    from basicsr.archs import vgg_arch

    saved = vgg_arch.vgg, vgg_arch.VGG_PRETRAIN_PATH

    def vgg19(pretrained=False, **_):
        return SimpleNamespace(features=features)

    vgg_arch.vgg = SimpleNamespace(vgg19=vgg19)
    vgg_arch.VGG_PRETRAIN_PATH = "/nonexistent/medsr-bench/never-read.pth"  # take the branch above
    try:
        yield
    finally:
        vgg_arch.vgg, vgg_arch.VGG_PRETRAIN_PATH = saved


class PerceptualLoss(nn.Module):
    """basicsr ``PerceptualLoss`` on 1- or 3-channel images in [0, 1].

    Args:
        layer_weights: VGG19 layer name (basicsr names, e.g. ``conv5_4``) -> weight.
        weight: ``perceptual_weight``. criterion: ``l1`` | ``l2`` | ``fro`` (basicsr).
        source: ``"smoke"`` or the weights dir (see :func:`vgg_features`).

    ``forward(sr, gt)``: float ``(B, C, H, W)``, C in {1, 3} -> scalar loss (1 channel replicated to 3).
    """

    def __init__(self, layer_weights: dict, weight: float, criterion: str, source: str | Path):
        super().__init__()
        from basicsr.losses.basic_loss import PerceptualLoss as BasicsrPerceptual

        features = vgg_features(source)
        # basicsr 1.4.2 maps 'l2' to torch.nn.L2loss, which does not exist: build with 'l1' and
        # set the MSE criterion (Ledig's squared Euclidean feature distance) ourselves
        with _basicsr_vgg_from(features):
            self.loss = BasicsrPerceptual(dict(layer_weights), vgg_type="vgg19", use_input_norm=True,
                                          range_norm=False, perceptual_weight=weight,
                                          style_weight=0.0,
                                          criterion="l1" if criterion == "l2" else criterion)
        if criterion == "l2":
            self.loss.criterion = nn.MSELoss()

    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        if sr.shape[1] == 1:
            sr, gt = sr.expand(-1, 3, -1, -1), gt.expand(-1, 3, -1, -1)
        return self.loss(sr, gt)[0]
