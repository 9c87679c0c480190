"""Imports every model family module so that it registers (the modules of the ``models/`` folder,
found by folder, in name order), plus the training hooks.

The canonical display order of :func:`models.registry.list_models` is
:data:`models.registry.ORDER` (re-exported here as :data:`ORDER`).

Family modules import basicsr / realesrgan at the top; that is safe because importing any
``models.*`` module first runs ``models/__init__.py``, which imports ``medsr_bench.compat`` before
anything else.
"""

import importlib

from medsr_bench.core.registry import import_submodules
from medsr_bench.models.registry import ORDER

# every module of models/ (family modules register their models; the others register nothing),
# then the training hooks: vgg (the VGG19 loss-network weights, an auxiliary network) and trained
# (the registry's trained-checkpoint hook)
import_submodules("medsr_bench.models", skip=("zoo", "train"))
for _hook in ("trained", "vgg"):
    importlib.import_module(f"medsr_bench.models.train.{_hook}")

__all__ = ["ORDER"]
