"""SR models: interpolation baselines and deep networks behind one registry.

``models.compat`` is imported first: it must run before torchvision/basicsr are imported.
"""

import models.compat  # noqa: F401  (must stay first)
from models.registry import (
    ModelSpec,
    PretrainedCfg,
    SRModel,
    WeightsError,
    WeightsMissing,
    get_spec,
    list_models,
    load_model,
    register_model,
)

__all__ = [
    "ModelSpec",
    "PretrainedCfg",
    "SRModel",
    "WeightsError",
    "WeightsMissing",
    "get_spec",
    "list_models",
    "load_model",
    "register_model",
]
