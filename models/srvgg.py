"""SRVGGNetCompact family: Real-ESRGAN's compact VGG-style networks (official release assets).

Architecture: ``realesrgan.archs.srvgg_arch.SRVGGNetCompact`` (3->3, 64 features, PReLU, pixel
shuffle plus a nearest-upsampled residual). ``num_conv`` 32 for realesr-general-x4v3, 16 for the
anime-video models (621,424 parameters at x4; 600,652 at x2). Files hold ``params`` only.

The anime-video checkpoints are in ``../shared/weights`` (byte-identical to the release assets, see
its PROVENANCE.md). They are trained on anime video and score *below* bicubic on chest X-rays: they
exercise real official-checkpoint loading; they are not medical baselines.
Licence: BSD-3-Clause (xinntao/Real-ESRGAN).
"""

from __future__ import annotations

from functools import partial

from realesrgan.archs.srvgg_arch import SRVGGNetCompact

from medsr_bench.models.network import deep_spec
from medsr_bench.models.registry import PretrainedCfg
from medsr_bench.models.rrdbnet import REALESRGAN, REALESRGAN_PAPER, ncnn_release


def srvgg(num_conv: int, scale: int) -> SRVGGNetCompact:
    """SRVGGNetCompact(3, 3, num_feat=64, num_conv, upscale=scale, act_type='prelu')."""
    return SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=num_conv,
                           upscale=scale, act_type="prelu")


_ANIME = "anime-video model (not a medical baseline; scores below bicubic on CXR)"

# name -> (file, release, sha256, size, num_conv, scale, description, extra options)
_CHECKPOINTS = {
    "realesr-animevideov3": (
        "realesr-animevideov3.pth", "v0.2.5.0",
        "b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d", 2_504_012, 16, 4,
        f"Real-ESRGAN AnimeVideo-v3 compact x4, {_ANIME}", {}),
    "realesrgan-animevideo-xsx4": (
        "RealESRGANv2-animevideo-xsx4.pth", "v0.2.3.0",
        "5e04b111c16d5b40deb8f8062d09fdff72fa80281fb9607be23b62650c08daff", 2_502_086, 16, 4,
        f"Real-ESRGAN AnimeVideo-v2 XS compact x4, {_ANIME}",
        {"x2_model": "realesrgan-animevideo-xsx2"}),
    "realesrgan-animevideo-xsx2": (
        "RealESRGANv2-animevideo-xsx2.pth", "v0.2.3.0",
        "27985aa2198711ecd72f9bb274ec7b164e018fc9ce2933daaa7c7ab36a2bd3fe", 2_419_014, 16, 2,
        f"Real-ESRGAN AnimeVideo-v2 XS compact x2, {_ANIME}", {}),
    "realesr-general-x4v3": (
        "realesr-general-x4v3.pth", "v0.2.5.0",
        "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292", 4_885_111, 32, 4,
        "Real-ESRGAN general-x4v3 compact x4 (natural images; extra, fast baseline)", {}),
}

#: ncnn releases of the same weights (fp16-truncated; ``bench weights fetch NAME --source ncnn``)
_NCNN = {"realesr-animevideov3": (ncnn_release(
    "REALESRGAN_ANIMAVIDEOV3_UP4X", "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
    "realesr-animevideov3.ncnn-fp16.pth"),)}

for _name, (_file, _rel, _sha, _size, _nconv, _scale, _desc, _opts) in _CHECKPOINTS.items():
    deep_spec(
        _name, family="srvgg", scale=_scale, in_channels=3, arch=partial(srvgg, _nconv, _scale),
        description=_desc, paper="extra (official Real-ESRGAN compact checkpoint)",
        pretrained=PretrainedCfg(file=_file, url=f"{REALESRGAN}/{_rel}/{_file}", sha256=_sha,
                                 key="params", license="BSD-3-Clause", paper=REALESRGAN_PAPER,
                                 obtain=f"bench weights fetch {_name}", size=_size,
                                 loader="spandrel", sources=_NCNN.get(_name, ())),
        options=_opts,
    )
