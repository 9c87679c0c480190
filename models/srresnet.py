"""SRResNet family: Ledig et al.'s SRResNet with batch norm (P4's SRResNet / SRGAN generator, written
here because basicsr has none) and basicsr's MSRResNet (BasicSR model zoo).

Ledig SRResNet (CVPR 2017, "Photo-Realistic Single Image Super-Resolution Using a GAN", Fig. 4):
9x9 conv + PReLU; B residual blocks (3x3 conv, BN, PReLU, 3x3 conv, BN, identity skip); 3x3 conv + BN
with a skip from the first layer; two x2 sub-pixel (pixel-shuffle) stages each followed by PReLU;
9x9 conv to the output. Output is linear (the engine clips to [0, 1]), input [0, 1] unnormalised.
P4 says "Ledig generator" and nothing about channels; its CPTAC-GBM data are grayscale, so the P4
models here are 1-channel (documented choice). With 16 blocks and 64 features: 1,528,724 parameters
(1 channel) / 1,549,462 (3 channels).

MSRResNet: ``basicsr.archs.srresnet_arch.MSRResNet`` (no BN, LeakyReLU, bilinear global residual),
x4 16 blocks = 1,517,571 parameters; BasicSR files store ``params``. The MSRGAN generator of the
BasicSR zoo has the same architecture and loads through the same entry (rename the file).
"""

from __future__ import annotations

from functools import partial

from basicsr.archs.srresnet_arch import MSRResNet
from torch import nn

from medsr_bench.models.network import deep_spec
from medsr_bench.models.registry import PretrainedCfg, project_cfg

LEDIG = "Ledig et al., SRGAN / SRResNet, CVPR 2017"
BEALLOR = "P4 (Beallor et al.), reproduced"


class BNResidualBlock(nn.Module):
    """conv3x3 -> BN -> PReLU -> conv3x3 -> BN, plus identity. (B, F, h, w) -> (B, F, h, w)."""

    def __init__(self, feat: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(feat, feat, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(feat)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(feat, feat, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(feat)

    def forward(self, x):
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class PixelShuffleUp(nn.Module):
    """x2 sub-pixel stage: conv3x3 (F -> 4F) -> PixelShuffle(2) -> PReLU. (B,F,h,w) -> (B,F,2h,2w)."""

    def __init__(self, feat: int = 64):
        super().__init__()
        self.conv = nn.Conv2d(feat, feat * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.prelu = nn.PReLU()

    def forward(self, x):
        return self.prelu(self.shuffle(self.conv(x)))


class SRResNetBN(nn.Module):
    """Ledig SRResNet with batch norm, x4 (two x2 stages).

    Args:
        in_ch: input = output channels (1 for P4's grayscale data).
        feat: features (64). blocks: residual blocks (16).

    Shapes: float (B, in_ch, h, w) in [0, 1] -> (B, in_ch, 4h, 4w), linear output.
    """

    def __init__(self, in_ch: int = 1, feat: int = 64, blocks: int = 16):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(in_ch, feat, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*[BNResidualBlock(feat) for _ in range(blocks)])
        self.body_tail = nn.Sequential(nn.Conv2d(feat, feat, 3, padding=1), nn.BatchNorm2d(feat))
        self.upsample = nn.Sequential(PixelShuffleUp(feat), PixelShuffleUp(feat))
        self.tail = nn.Conv2d(feat, in_ch, 9, padding=4)

    def forward(self, x):
        h = self.head(x)
        return self.tail(self.upsample(self.body_tail(self.body(h)) + h))


def msrresnet_x4() -> MSRResNet:
    """basicsr MSRResNet(3, 3, 64 features, 16 blocks, x4)."""
    return MSRResNet(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=16, upscale=4)



ledig_gray = partial(SRResNetBN, 1, 64, 16)

deep_spec(
    "srresnet", family="srresnet", scale=4, in_channels=1, arch=ledig_gray,
    description="Ledig SRResNet with BN, 1-channel, MSE-trained on CPTAC-GBM (P4 recipe, this project)",
    paper="P4 Table 2 (SRResNet)", pretrained=project_cfg("srresnet_p4_x4.pth", "beallor-srresnet", BEALLOR),
)
deep_spec(
    "srgan", family="srgan", scale=4, in_channels=1, arch=ledig_gray,
    description="SRGAN: the P4 SRResNet fine-tuned with VGG19 content + adversarial loss "
                "(P4 recipe, this project)",
    paper="P4 Table 2 (SRGAN); P2 SRGAN row", pretrained=project_cfg("srgan_p4_x4.pth", "beallor-srgan", BEALLOR),
)
deep_spec(
    "msrresnet-x4", family="srresnet", scale=4, in_channels=3, arch=msrresnet_x4,
    description="BasicSR MSRResNet x4 (16 blocks, no BN; DIV2K, BasicSR model zoo)",
    paper="extra (BasicSR model zoo 001_MSRResNet)",
    pretrained=PretrainedCfg(
        file="001_MSRResNet_x4_f64b16_DIV2K_1000k_B16G1_wandb.pth", url=None, sha256=None,
        key="params", license="Apache-2.0", paper="BasicSR (Wang et al.), MSRResNet",
        obtain="download net_g of 001_MSRResNet_x4_f64b16_DIV2K_1000k_B16G1_wandb from the BasicSR "
               "model zoo (docs/ModelZoo.md, Google Drive) and save it as "
               "001_MSRResNet_x4_f64b16_DIV2K_1000k_B16G1_wandb.pth in the weights dir",
    ),
)


def p4_discriminator(in_ch: int = 1):
    """basicsr VGGStyleDiscriminator(in_ch, 64, input_size=128): Conv-BN-LeakyReLU stages, dense
    layers (P4 dropped SRGAN's 1024-unit dense layer; basicsr's head is 100 -> 1)."""
    from basicsr.archs.discriminator_arch import VGGStyleDiscriminator

    return VGGStyleDiscriminator(num_in_ch=in_ch, num_feat=64, input_size=128)


deep_spec(
    "srgan-netd", family="discriminator", scale=4, in_channels=1, arch=p4_discriminator,
    description="P4 SRGAN discriminator (VGG-style, 128x128 crops; this project)",
    paper="P4", pretrained=project_cfg("srgan_p4_x4_netD.pth", "beallor-srgan", BEALLOR), aux=True,
)
