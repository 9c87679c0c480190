"""Imports every model family so that it registers, and fixes the display order.

:data:`ORDER` is the canonical order of :func:`models.registry.list_models`: interpolation, then the
four papers' deep models, then extra checkpoints (anything registered but not listed goes last).

Family modules import basicsr / realesrgan at the top; that is safe because importing any
``models.*`` module first runs ``models/__init__.py``, which imports ``medsr_bench.compat`` before
anything else.
"""

from medsr_bench.models import (  # noqa: F401  (registration side effects)
    interpolation,
    rrdbnet,
    srgan_thirdparty,
    srresnet,
    srvgg,
)
from medsr_bench.models.train import trained, vgg  # noqa: F401  (vgg19 loss-network weights; trained: checkpoint hook)

ORDER = (
    # interpolation (P3, P4 baselines)
    "nearest",
    "bilinear",
    "bicubic",
    "lanczos",
    "bicubic-matlab",
    # the papers' deep models
    "srresnet",
    "srgan",
    "esrgan",
    "realesrgan-x4plus",
    "realesrgan-x2plus",
    "realesrgan-finetuned-retina",
    "realesrgan-finetuned-cxr",
    "realesrgan-1ch",
    "realesrnet-1ch",
    # extra checkpoints (real files here, or official loaders)
    "srgan-leftthomas-x4",
    "realesr-animevideov3",
    "realesrgan-animevideo-xsx4",
    "realesrgan-animevideo-xsx2",
    "realesrnet-x4plus",
    "esrgan-basicsr",
    "msrresnet-x4",
    "realesr-general-x4v3",
)
