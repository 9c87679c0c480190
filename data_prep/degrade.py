"""The P1 LR degradation (Aghelan & Rouhani, v2 sec. IV-A/B): bicubic downscale, then Gaussian blur.

Shared by the DRIVE and ChestX-ray14 protocols (and their demos). The paper gives neither the blur
sigma nor the kernel size nor the bicubic implementation, so all three are settings with defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsr_bench.data_prep import ops


@dataclass(frozen=True)
class BicubicBlur:
    """Settings of "bicubic /s, then Gaussian blur" (P1 sec. IV-A retina, IV-B chest X-ray).

    Attributes:
        lr_resize: bicubic implementation. P1 only says "bicubic"; default ``matlab-bicubic``
            (basicsr's MATLAB-exact imresize, antialiased), the convention of the SR literature and of
            the Real-ESRGAN/basicsr code base P1 builds on. ``cv2-bicubic`` / ``pil-bicubic`` are the
            alternatives.
        blur_sigma: Gaussian sigma in LR pixels. NOT given by P1; default 1.0: a mild blur, the
            middle of the range used by Real-ESRGAN's own degradation kernels (0.2..3). Kept as
            an a-priori choice; ``bench sweep`` with the official x4plus weights finds that 0.8
            (metrics on RGB) puts all four of P1's Real-ESRGAN cells inside our 95 % CI on the
            first 6 images of each dataset, 1.0 three of them outside; on all 40 + 40 images 0.8
            reproduces both PSNR cells but neither SSIM cell (results/sweeps/README.md).
        blur_ksize: square kernel side. NOT given by P1; default 7 = 2*ceil(3*sigma)+1, covering
            +-3 sigma so the kernel is not truncated.
        lr_bits: LR rounded to this bit depth (8) as when P1 wrote its LR images to image files;
            None keeps float LR.
    """

    lr_resize: str = "matlab-bicubic"
    blur_sigma: float = 1.0
    blur_ksize: int = 7
    lr_bits: int | None = 8

    def __post_init__(self) -> None:
        ops.check_choice("lr_resize", self.lr_resize, ops.RESIZE_METHODS)
        if self.blur_sigma > 0 and (self.blur_ksize <= 0 or self.blur_ksize % 2 == 0):
            raise ValueError(f"blur_ksize must be odd and positive, got {self.blur_ksize}")

    def apply(self, hr: np.ndarray, scale: int, bits: int | None = None) -> np.ndarray:
        """``hr`` float32 [0, 1] ``(H, W[, 3])`` -> LR float32 [0, 1] ``(H/scale, W/scale[, 3])``.

        ``bits`` overrides ``lr_bits`` (a 16-bit source keeps 16-bit LR).
        """
        h, w = hr.shape[:2]
        if h % scale or w % scale:
            raise ValueError(f"HR {hr.shape[:2]} is not divisible by scale {scale}")
        lr = ops.resize(hr, (h // scale, w // scale), self.lr_resize)
        lr = ops.gaussian_blur(lr, self.blur_sigma, self.blur_ksize)
        return ops.quantize(lr, self.lr_bits if bits is None or self.lr_bits is None else bits)
