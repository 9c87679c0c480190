"""Building block of the 2D image-file protocols (DRIVE, ChestX-ray14, STARE, Shenzhen).

Reads one file with :func:`data_prep.io.read_raster`, applies the colour policy (``rgb`` or
``gray``: RGB/RGBA files with R = G = B collapse to one channel, unequal channels are an error),
checks the size, and hands the native pixels to the protocol's ``hr_images`` / ``lr_from_hr``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from medsr_bench.data_prep import ops
from medsr_bench.data_prep.errors import DataError
from medsr_bench.data_prep.io import RasterImage, read_raster, to_gray, to_rgb
from medsr_bench.data_prep.protocols.base import BaseProtocol, Item, RunContext
from medsr_bench.data_prep.registry import ResolvedSource
from medsr_bench.data_prep.sample import Sample


@dataclass
class Decoded:
    """Native pixels of one file: ``pixels`` (uint8/uint16/float32), ``peak`` of its grid, ``bits``."""

    pixels: np.ndarray
    peak: float
    bits: int | None
    image: RasterImage

    def unit(self) -> np.ndarray:
        """float32 in [0, 1]."""
        return ops.to_unit(self.pixels, self.peak) if self.bits else np.clip(self.pixels, 0, 1).astype(np.float32)


class RasterProtocol(BaseProtocol):
    """A protocol over a folder of 2D image files.

    Class attributes: ``patterns`` (glob patterns searched recursively under the resolved folder)
    and ``color`` (``"rgb"`` or ``"gray"``). Params may define ``expected_hw`` (None = any size).
    """

    patterns: ClassVar[tuple[str, ...]] = ("*.png",)
    color: ClassVar[str] = "rgb"

    def list_items(self, src: ResolvedSource) -> list[Item]:
        return [self.item_for(p) for p in self.find_files(src.path, self.patterns)]

    def decode(self, item: Item) -> Decoded:
        """Read, apply the colour policy and the size check.

        Raises:
            DataError: unreadable file, transparent alpha, unequal channels where gray is expected,
                unexpected size, NaN/Inf.
        """
        img = read_raster(item.path)
        px = to_gray(img, item.source) if self.color == "gray" else to_rgb(img, item.source)
        exp = getattr(self.params, "expected_hw", None)
        if exp is not None and tuple(px.shape[:2]) != tuple(exp):
            raise DataError(item.source, f"image of size {px.shape[1]}x{px.shape[0]} (WxH)",
                            f"{exp[1]}x{exp[0]} (WxH)")
        return Decoded(px, img.data_range, img.bit_depth, img)

    def hr_images(self, dec: Decoded, item: Item) -> list[tuple[str, np.ndarray, dict]]:
        """``[(image_id, hr float32 [0,1], extra)]`` of one file (default: the image itself)."""
        return [(item.item_id, dec.unit(), {})]

    def degrade_hr(self, hr: np.ndarray, meta) -> np.ndarray:
        """:meth:`lr_from_hr` on the sample's own bit grid (``meta.bit_depth``)."""
        return self.lr_from_hr(hr, meta.bit_depth)

    def lr_from_hr(self, hr: np.ndarray, bits: int | None) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def pairs(self, src: ResolvedSource, item: Item, split: str, ctx: RunContext,
              limit: int | None = None) -> Iterator[Sample]:
        dec = self.decode(item)
        for image_id, hr, extra in self.hr_images(dec, item):
            check_size_for_scale(hr, self.scale, item.source)
            lr = self.lr_from_hr(hr, dec.bits)
            info = {**extra, **({"gray_from": dec.image.info["gray_from"]} if "gray_from" in dec.image.info else {})}
            yield self.make_sample(
                src, item, image_id, split, hr, lr,
                orig_dtype=str(dec.pixels.dtype), orig_data_range=dec.peak, bit_depth=dec.bits,
                extra={"orig_hw": list(dec.pixels.shape[:2]), "file_mode": dec.image.mode, **info},
            )


def check_size_for_scale(hr: np.ndarray, scale: int, source: str) -> None:
    """An HR image must give an LR of at least 2 x 2 pixels at ``scale`` (smaller ones break the
    resamplers and have no neighbourhood to super-resolve).

    Raises:
        DataError: naming the file, its size and the minimum.
    """
    h, w = hr.shape[:2]
    need = 2 * int(scale)
    if h < need or w < need:
        raise DataError(source, f"image of {w}x{h} pixels is too small for scale x{scale}",
                        f"at least {need}x{need} pixels (an LR of 2x2)")


def resize_hr(dec: Decoded, size_hw: tuple[int, int], method: str) -> np.ndarray:
    """Resize a decoded image to the HR size and keep it on its own bit grid.

    8-bit input with a Pillow method stays on Pillow's 8-bit path (what re-saving a resized image
    file gives); anything else is resized in float and rounded back to the file's bit depth.
    """
    if dec.bits == 8 and method.startswith("pil-"):
        return ops.to_unit(ops.resize(dec.pixels, size_hw, method), 255.0)
    return ops.quantize(ops.resize(dec.unit(), size_hw, method), dec.bits)
