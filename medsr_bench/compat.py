"""Compatibility shim for basicsr 1.4.2 / torchvision 0.28 on CPU-only torch.

Import this module before anything imports ``torchvision`` or ``basicsr`` (``models/__init__.py``
does it first, and every module of this project that touches basicsr imports ``medsr_bench.compat``).

Two problems are fixed, both harmless on a normal CUDA install:

1. torchvision 0.28's compiled ops do not load against the CPU build ``torch==2.13.0+cpu``; its
   Python code still registers fake kernels for ``torchvision::nms`` / ``torchvision::qnms`` at
   import, which fails when the operator schemas do not exist. We define the two schemas through
   ``torch.library.Library("torchvision", "FRAGMENT")`` so the import succeeds. The ops themselves
   are never called by this project (they are detection ops).
2. basicsr 1.4.2 imports ``torchvision.transforms.functional_tensor``, removed in torchvision 0.17.
   We alias it to ``torchvision.transforms.functional`` (which provides ``rgb_to_grayscale``, the
   only name basicsr uses from it).

Both steps are idempotent and are skipped when not needed.
"""

from __future__ import annotations

import sys

import torch

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_LIB = None


def _torchvision_ops_loaded() -> bool:
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key("torchvision::nms", "CPU")
    except Exception:  # pragma: no cover - private API changed
        return False


def install() -> None:
    """Apply both fixes (idempotent). Called on import of this module."""
    global _LIB
    if "torchvision" not in sys.modules and _LIB is None and not _torchvision_ops_loaded():
        lib = torch.library.Library("torchvision", "FRAGMENT")
        for schema in _SCHEMAS.values():
            try:
                lib.define(schema)
            except RuntimeError:  # already defined (e.g. real ops loaded)
                pass
        _LIB = lib
    if "torchvision.transforms.functional_tensor" not in sys.modules:
        import torchvision.transforms.functional as _functional

        sys.modules["torchvision.transforms.functional_tensor"] = _functional


install()
