"""SR models: interpolation baselines and deep networks behind one registry.

``medsr_bench.compat`` is imported first: it must run before torchvision/basicsr are imported.
"""

import medsr_bench.compat  # noqa: F401  (must stay first)
from medsr_bench.models.registry import (
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
