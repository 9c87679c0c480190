"""Interpolation baselines as models: OpenCV resizes and basicsr's MATLAB-exact bicubic.

All run on float32 input in [0, 1] without 8-bit rounding, at any integer scale and any channel
layout, and clip the result to [0, 1] (cubic and Lanczos kernels overshoot).

- ``nearest`` / ``bilinear`` / ``bicubic`` / ``lanczos``: ``cv2.resize`` with ``INTER_NEAREST`` /
  ``INTER_LINEAR`` / ``INTER_CUBIC`` (a = -0.75) / ``INTER_LANCZOS4`` (P4 used OpenCV; P3 names bilinear
  and bicubic without a library).
- ``bicubic-matlab``: ``basicsr.utils.matlab_functions.imresize`` (MATLAB ``imresize`` bicubic, a = -0.5,
  as in the Real-ESRGAN / BasicSR evaluation scripts).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from medsr_bench.models.registry import ModelSpec, SRModel, register_model


def _cv2_resizer(flag: int) -> Callable[[np.ndarray, int], np.ndarray]:
    def resize(img: np.ndarray, scale: int) -> np.ndarray:
        h, w = img.shape[:2]
        return cv2.resize(img, (w * scale, h * scale), interpolation=flag)

    return resize


def _matlab_bicubic(img: np.ndarray, scale: int) -> np.ndarray:
    from basicsr.utils.matlab_functions import imresize

    out = imresize(img, scale)
    return out.numpy() if hasattr(out, "numpy") else np.asarray(out)


class InterpolationModel(SRModel):
    """An interpolation method behind the :class:`SRModel` contract (no weights, any scale)."""

    def __init__(self, spec: ModelSpec, resize: Callable[[np.ndarray, int], np.ndarray], source: str):
        super().__init__(spec)
        self._resize = resize
        self.source = source

    def upscale(self, lr: np.ndarray, scale: int) -> np.ndarray:
        """float ``(N, h, w[, 3])`` in [0, 1] -> float32 ``(N, scale*h, scale*w[, 3])`` in [0, 1].

        Raises ValueError for a bad shape or a scale < 1.
        """
        if lr.ndim not in (3, 4):
            raise ValueError(f"lr must be (N, h, w) or (N, h, w, C), got shape {lr.shape}")
        scale = int(scale)
        if scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")
        out = np.stack([self._resize(np.ascontiguousarray(im, np.float32), scale) for im in lr])
        self.diagnostics = {}
        return np.clip(out.reshape(lr.shape[0], scale * lr.shape[1], scale * lr.shape[2],
                                   *lr.shape[3:]), 0, 1).astype(np.float32)

    def info(self) -> dict:
        return {**super().info(), "implementation": self.source, "rounding": "none (float32)"}


# name -> (implementation, source, description, paper)
_METHODS: dict[str, tuple[Callable, str, str, str]] = {
    "nearest": (_cv2_resizer(cv2.INTER_NEAREST), "cv2.resize INTER_NEAREST",
                "nearest-neighbour (OpenCV)", "P4 Table 1"),
    "bilinear": (_cv2_resizer(cv2.INTER_LINEAR), "cv2.resize INTER_LINEAR",
                 "bilinear (OpenCV)", "P3 Table 2 baseline; P4 Table 1"),
    "bicubic": (_cv2_resizer(cv2.INTER_CUBIC), "cv2.resize INTER_CUBIC",
                "bicubic (OpenCV, a=-0.75)", "P3 Table 2 baseline; P4 Tables 1-2"),
    "lanczos": (_cv2_resizer(cv2.INTER_LANCZOS4), "cv2.resize INTER_LANCZOS4",
                "Lanczos, 8x8 window (OpenCV)", "extra baseline"),
    "bicubic-matlab": (_matlab_bicubic, "basicsr.utils.matlab_functions.imresize",
                       "bicubic, MATLAB imresize-exact (basicsr)", "extra baseline (MATLAB-style eval)"),
}


def _factory(spec: ModelSpec, weights_dir: Path, device: str = "auto", **options) -> SRModel:
    # deep-model options (gray, precision, tile...) do not apply and are ignored, so a runner can
    # pass one option set to every model; anything else is a mistake.
    from medsr_bench.models.network import DEEP_DEFAULTS

    unknown = set(options) - set(DEEP_DEFAULTS) - {"verify_hash", "x2_model"}
    if unknown:
        raise ValueError(f"{spec.name}: unknown options {sorted(unknown)}")
    resize, source, _, _ = _METHODS[spec.name]
    return InterpolationModel(spec, resize, source)


for _name, (_fn, _src, _desc, _paper) in _METHODS.items():
    register_model(ModelSpec(name=_name, family="interpolation", scale=None, in_channels=0,
                             description=_desc, paper=_paper, pretrained=None, factory=_factory))
