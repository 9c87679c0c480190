"""Third-party SRGAN generator: leftthomas/SRGAN ``netG_epoch_4_100.pth`` (natural images, x4).

Not the paper's SRGAN: 5 residual blocks, trained 100 epochs on a VOC2012 subset (see
``../shared/weights/PROVENANCE.md``). Registered as its own clearly named entry,
``srgan-leftthomas-x4``, for a real-checkpoint "SRGAN (natural-image weights)" row.

Layout of ``model.py`` at leftthomas/SRGAN commit b0323c6 (the file's last commit; later revisions
changed ``block7`` and do not load it), rebuilt from the same building blocks as the Ledig SRResNet in
:mod:`models.srresnet`: ``block1`` 9x9 conv + PReLU; ``block2..block6`` BN residual blocks;
``block7`` 3x3 conv + PReLU; ``block8`` two x2 pixel-shuffle stages then a 9x9 conv to RGB;
``out = (tanh(block8(block1 + block7)) + 1) / 2``. RGB in [0, 1] -> RGB in [0, 1]. Bare state dict
(79 tensors, no ``num_batches_tracked``), 734,092 learnable parameters. Licence MIT (added to the
repository later than the checkpoint; see PROVENANCE.md).
"""

from __future__ import annotations

import torch
from torch import nn

from medsr_bench.models.network import deep_spec
from medsr_bench.models.registry import PretrainedCfg
from medsr_bench.models.srresnet import BNResidualBlock, PixelShuffleUp

COMMIT = "b0323c6ca4ca920f7daa41ba05f44bd220557cd9"


class LeftthomasGenerator(nn.Module):
    """leftthomas/SRGAN ``Generator(scale_factor=4)`` at b0323c6. (B,3,h,w) -> (B,3,4h,4w) in [0,1]."""

    def __init__(self, feat: int = 64, blocks: int = 5):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, feat, 9, padding=4), nn.PReLU())
        self.n_blocks = blocks
        for i in range(blocks):
            self.add_module(f"block{i + 2}", BNResidualBlock(feat))
        self.add_module(f"block{blocks + 2}",
                        nn.Sequential(nn.Conv2d(feat, feat, 3, padding=1), nn.PReLU()))
        self.add_module(f"block{blocks + 3}", nn.Sequential(
            PixelShuffleUp(feat), PixelShuffleUp(feat), nn.Conv2d(feat, 3, 9, padding=4)))

    def forward(self, x):
        b1 = self.block1(x)
        y = b1
        for i in range(self.n_blocks):
            y = getattr(self, f"block{i + 2}")(y)
        y = getattr(self, f"block{self.n_blocks + 2}")(y)
        out = getattr(self, f"block{self.n_blocks + 3}")(b1 + y)
        return (torch.tanh(out) + 1) / 2


deep_spec(
    "srgan-leftthomas-x4", family="srgan", scale=4, in_channels=3, arch=LeftthomasGenerator,
    description="third-party SRGAN-style x4 generator (leftthomas/SRGAN, 5 blocks, natural images "
                "VOC2012); not the paper's SRGAN",
    paper="extra (real SRGAN-style checkpoint; natural-image weights)",
    pretrained=PretrainedCfg(
        file="netG_epoch_4_100.pth",
        url=f"https://github.com/leftthomas/SRGAN/raw/{COMMIT}/epochs/netG_epoch_4_100.pth",
        sha256="f4c381640826a48d2440583e4920c6bb4041804f4e285c3c6d585f03961fe87c", key=None,
        license="MIT", paper="leftthomas/SRGAN (PyTorch SRGAN implementation)",
        obtain="bench weights fetch srgan-leftthomas-x4", size=2_952_717,
    ),
)
