"""Readers for the raw dataset files: PNG/TIFF/GIF/PPM(.gz)/JPEG, NIfTI and DICOM.

Every reader returns the decoded pixels plus what the file says about itself, and raises one
:class:`~data_prep.errors.DataError` naming the file when it cannot be used. Decoding is done by the
libraries (Pillow, nibabel, pydicom); nothing here parses a format by hand.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import warnings
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medsr_bench.core import sha256_bytes, sha256_file  # noqa: F401  (one home: core)
from medsr_bench.data_prep.errors import DataError


@dataclass
class RasterImage:
    """A decoded 2D image.

    Attributes:
        pixels: ``(H, W)`` or ``(H, W, 3)`` array in the file's own dtype (uint8 / uint16 / float32).
            RGBA/LA files whose colour channels are equal and whose alpha is opaque are returned as
            ``(H, W)``; an RGBA file with opaque alpha and unequal channels as ``(H, W, 3)``.
        bit_depth: 8 or 16 (integer files), None for float files.
        mode: the Pillow mode of the file (``L``, ``RGB``, ``RGBA``, ``I;16``...).
        info: extra facts (``gray_from``: the mode a grayscale image was collapsed from).
    """

    pixels: np.ndarray
    bit_depth: int | None
    mode: str
    info: dict = field(default_factory=dict)

    @property
    def data_range(self) -> float:
        """Peak value of the file's integer grid (255, 65535), 1.0 for float data."""
        return float(2**self.bit_depth - 1) if self.bit_depth else 1.0


#: default of the decompression-bomb limit (a 16k x 16k image; the largest images of the four
#: papers' datasets are about 3k x 3k)
DEFAULT_MAX_PIXELS = 16384 * 16384
#: environment variable read for the limit when no caller set one (``bench run`` resolves it as
#: the run option ``max_pixels``, of which this is the environment source)
MAX_PIXELS_ENV = "MEDSR_MAX_PIXELS"
_LIMIT: ContextVar[int | None] = ContextVar("medsr_max_pixels", default=None)


def max_pixels() -> int:
    """Largest image (width x height) a reader decodes: the limit set by :func:`pixel_limit`
    (a run's ``--max-pixels``), else ``$MEDSR_MAX_PIXELS``, else :data:`DEFAULT_MAX_PIXELS`. A
    larger file is skipped with its name and this limit (decompression bomb), before its pixels
    are decoded."""
    set_ = _LIMIT.get()
    if set_ is not None:
        return set_
    v = os.environ.get(MAX_PIXELS_ENV, "")
    return int(v) if v.isdigit() and int(v) > 0 else DEFAULT_MAX_PIXELS


@contextmanager
def pixel_limit(n: int | None):
    """Within the block, every reader of this process (this thread / task) refuses images over
    ``n`` pixels (None: :func:`max_pixels`'s environment / default). The run sets it from its
    resolved ``max_pixels`` around planning (preparation) and around each shard a worker loads,
    so the value travels in the task context, not in the environment.

    Raises:
        ValueError: ``n`` is not a positive integer.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"max_pixels {n!r}: expected an integer >= 1")
    token = _LIMIT.set(n)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def _raise_hint() -> str:
    return f"raise --max-pixels (run option max_pixels, env {MAX_PIXELS_ENV}) if the file is genuine"


def max_file_bytes() -> int:
    """Most bytes a ``.gz`` input may inflate to: 8 bytes per allowed pixel (16-bit RGBA) plus
    1 MiB of headers. Read in chunks, so memory stays bounded by this limit."""
    return max_pixels() * 8 + (1 << 20)


def _open_bytes(path: Path) -> bytes:
    limit = max_file_bytes()
    try:
        if path.name.lower().endswith(".gz"):
            buf = bytearray()
            with gzip.open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    buf += chunk
                    if len(buf) > limit:
                        raise DataError(path, f"inflates to more than {limit} bytes "
                                              "(decompression bomb?)",
                                        f"at most {limit} bytes (max_pixels {max_pixels()}); "
                                        + _raise_hint())
            return bytes(buf)
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(path, f"cannot read file ({type(e).__name__}: {e})", "a readable file") from e


def read_raster(path: str | Path) -> RasterImage:
    """Decode a PNG/TIFF/GIF/PPM/JPEG file (``.gz`` allowed) with Pillow.

    Returns:
        :class:`RasterImage`: uint8 for 8-bit files, uint16 for 16-bit grayscale (``I;16``/``I``
        with values up to 65535), float32 for ``F`` files; palette/bilevel images are expanded.

    Raises:
        DataError: unreadable or truncated file; an alpha channel that is not fully opaque; a
            multi-frame file; NaN/Inf in a float file.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    data = _open_bytes(path)
    try:
        with Image.open(io.BytesIO(data)) as im:
            _check_pixels(path, (im.size[0], im.size[1]))
            if getattr(im, "n_frames", 1) > 1 and im.format != "GIF":
                raise DataError(path, f"{im.n_frames} frames in one file", "a single 2D image")
            im.load()
            mode = im.mode
            if mode in ("P", "1", "PA"):
                im = im.convert("RGBA" if ("transparency" in im.info or mode == "PA") else "RGB")
            arr = np.asarray(im)
    except DataError:
        raise
    except Image.DecompressionBombError as e:
        raise DataError(path, f"refused by Pillow ({e})", f"at most {max_pixels()} pixels") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(path, f"cannot decode image ({e})", "a valid PNG/TIFF/GIF/PPM file") from e

    info: dict = {}
    if im.format == "PNG" and mode in ("RGB", "RGBA"):
        arr = _png_16bit_colour(data, arr)  # Pillow reduces 16-bit colour PNGs to 8 bit
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if mode in ("I;16", "I;16B", "I;16L", "I") or arr.dtype in (np.int32, np.uint16, np.int16):
        if arr.min() < 0 or arr.max() > 65535:
            raise DataError(path, f"integer values outside 0..65535 ({arr.min()}..{arr.max()})", "8- or 16-bit pixels")
        arr = _drop_opaque_alpha(arr.astype(np.uint16), 65535, path, mode, info)
        return RasterImage(np.ascontiguousarray(arr), 16, mode, info)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise DataError(path, "NaN or Inf pixel values", "finite pixel values")
        return RasterImage(arr.astype(np.float32), None, mode, info)
    if arr.dtype != np.uint8:
        raise DataError(path, f"unsupported pixel dtype {arr.dtype}", "8- or 16-bit pixels")
    arr = _drop_opaque_alpha(arr, 255, path, mode, info)
    return RasterImage(np.ascontiguousarray(arr), 8, mode, info)


def _drop_opaque_alpha(arr: np.ndarray, peak: int, path: Path, mode: str, info: dict) -> np.ndarray:
    """LA / RGBA: the alpha channel must be opaque everywhere and is then dropped."""
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        alpha = arr[..., -1]
        if alpha.min() != peak:
            raise DataError(path, f"{mode} image with transparent pixels (alpha min {alpha.min()})", "an opaque image")
        arr = arr[..., :-1]
        info["alpha_dropped"] = True
        if arr.shape[2] == 1:
            arr = arr[..., 0]
    return arr


def _png_16bit_colour(data: bytes, arr8: np.ndarray) -> np.ndarray:
    """Re-decode a colour PNG with OpenCV when it is 16 bits per channel (else keep Pillow's)."""
    import cv2

    u = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if u is None or u.dtype != np.uint16 or u.ndim != 3:
        return arr8
    return cv2.cvtColor(u, cv2.COLOR_BGRA2RGBA if u.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def to_gray(img: RasterImage, path: str | Path) -> np.ndarray:
    """Return ``(H, W)`` pixels: RGB(A) files must store R = G = B (a grayscale image).

    Raises:
        DataError: the colour channels differ (a real colour image where grayscale is expected).
    """
    a = img.pixels
    if a.ndim == 2:
        return a
    if not (np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2])):
        raise DataError(path, f"{img.mode} image with unequal colour channels", "a grayscale image (R = G = B)")
    img.info["gray_from"] = img.mode
    return np.ascontiguousarray(a[..., 0])


def to_rgb(img: RasterImage, path: str | Path) -> np.ndarray:
    """Return ``(H, W, 3)`` pixels (a grayscale image is repeated on 3 channels)."""
    a = img.pixels
    if a.ndim == 2:
        return np.repeat(a[..., None], 3, axis=2)
    if a.shape[2] != 3:
        raise DataError(path, f"{a.shape[2]} channels", "an RGB image")
    return a


# ---------------------------------------------------------------- NIfTI
def open_nifti(path: str | Path, expected_shape: tuple[int, ...] | None = None):
    """Open a NIfTI file lazily (header only; voxels are read by :func:`read_nifti_volume`).

    Raises:
        DataError: unreadable header, or a shape different from ``expected_shape``.
    """
    import nibabel as nib

    path = Path(path)
    try:
        img = nib.load(str(path))
    except Exception as e:  # nibabel raises several types (ImageFileError, OSError, EOFError...)
        raise DataError(path, f"cannot read NIfTI header ({type(e).__name__}: {e})", "a valid .nii/.nii.gz") from e
    if expected_shape is not None and tuple(img.shape) != tuple(expected_shape):
        raise DataError(path, f"volume shape {tuple(img.shape)}", f"shape {tuple(expected_shape)}")
    _check_pixels(path, tuple(img.shape), "voxels")
    return img


def _check_pixels(path: Path, shape: tuple[int, ...], what: str = "pixels") -> None:
    """Refuse a file whose header declares more than :func:`max_pixels` pixels (voxels), before
    anything is decoded.

    Raises:
        DataError: naming the file, its size and the limit.
    """
    n = int(np.prod([int(x) for x in shape], dtype=np.int64)) if shape else 0
    if n > max_pixels():
        raise DataError(path, f"{'x'.join(map(str, shape))} = {n} {what} (decompression bomb?)",
                        f"at most {max_pixels()} {what} (max_pixels); " + _raise_hint())


def read_nifti_volume(path: str | Path, expected_shape: tuple[int, ...] | None = None) -> tuple[np.ndarray, str]:
    """Read one NIfTI volume into memory (one volume at a time: the caller streams).

    Returns:
        ``(voxels, orig_dtype)``: voxels with the scaling of the header applied (nibabel's
        ``dataobj``; the on-disk dtype when the header has no scaling), and the on-disk dtype name.

    Raises:
        DataError: unreadable/truncated file, wrong shape, NaN/Inf voxels.
    """
    img = open_nifti(path, expected_shape)
    try:
        vol = np.asanyarray(img.dataobj)
    except Exception as e:
        raise DataError(path, f"cannot read voxels ({type(e).__name__}: {e})", "a complete .nii/.nii.gz") from e
    if vol.dtype.kind == "f" and not np.isfinite(vol).all():
        raise DataError(path, "NaN or Inf voxel values", "finite voxel values")
    return vol, str(img.get_data_dtype())


# ---------------------------------------------------------------- DICOM
@dataclass
class DicomImage:
    """A decoded single-frame grayscale DICOM image.

    Attributes:
        pixels: ``(H, W)`` float64 after the modality LUT (RescaleSlope/RescaleIntercept -> HU for CT).
        stored_dtype: dtype of the stored pixels before rescaling.
        modality: ``CT``, ``MR``, ``CR``...
        photometric: ``MONOCHROME1`` (inverted grey scale) or ``MONOCHROME2``.
        info: rescale slope/intercept, pixel spacing, transfer syntax, bits stored.
    """

    pixels: np.ndarray
    stored_dtype: str
    modality: str
    photometric: str
    info: dict


def is_dicom_file(path: Path) -> bool:
    """True for a ``.dcm`` file or any file with the DICOM preamble (``DICM`` at byte 128)."""
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


@contextmanager
def _quiet_pydicom():
    """Silence pydicom's warnings about tolerated header quirks (e.g. implicit VR in a file that
    declares explicit VR); real failures still raise."""
    logger = logging.getLogger("pydicom")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        logger.setLevel(level)


def read_dicom_header(path: str | Path):
    """Read a DICOM header without pixel data. Raises :class:`DataError` when unreadable."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    try:
        with _quiet_pydicom():
            return pydicom.dcmread(str(path), stop_before_pixels=True)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError) as e:
        raise DataError(path, f"cannot read DICOM header ({type(e).__name__}: {e})", "a valid DICOM file") from e


def read_dicom(path: str | Path) -> DicomImage:
    """Decode a single-frame grayscale DICOM image and apply the modality LUT.

    Raises:
        DataError: unreadable file, multi-frame or colour image, pixel data the installed decoders
            cannot decode (compressed transfer syntax), NaN/Inf after rescaling.
    """
    import pydicom
    from pydicom.pixels import apply_modality_lut

    path = Path(path)
    ds = read_dicom_header(path)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise DataError(path, f"multi-frame DICOM ({frames} frames)", "a single-frame image")
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise DataError(path, f"{ds.get('PhotometricInterpretation')} colour DICOM", "a grayscale image")
    _check_pixels(path, (int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)))
    tsyntax = str(ds.file_meta.get("TransferSyntaxUID", "?"))
    try:
        with _quiet_pydicom():
            ds = pydicom.dcmread(str(path))
            stored = ds.pixel_array
    except Exception as e:  # decoder plugins raise RuntimeError/NotImplementedError/ValueError...
        name = getattr(ds.file_meta.get("TransferSyntaxUID"), "name", tsyntax)
        raise DataError(path, f"cannot decode pixel data, transfer syntax {name} ({str(e).splitlines()[0][:120]})",
                        "pixel data readable by the installed pydicom decoders") from e
    if stored.ndim != 2:
        raise DataError(path, f"pixel array of shape {stored.shape}", "a 2D grayscale image")
    px = np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
    if not np.isfinite(px).all():
        raise DataError(path, "NaN or Inf after RescaleSlope/RescaleIntercept", "finite pixel values")
    info = {
        "rescale_slope": float(ds.get("RescaleSlope", 1) or 1),
        "rescale_intercept": float(ds.get("RescaleIntercept", 0) or 0),
        "transfer_syntax": tsyntax,
        "bits_stored": int(ds.get("BitsStored", 0) or 0),
        "pixel_spacing": [float(v) for v in ds.get("PixelSpacing", [])] or None,
        "series_uid": str(ds.get("SeriesInstanceUID", "")),
    }
    return DicomImage(px, str(stored.dtype), str(ds.get("Modality", "")),
                      str(ds.get("PhotometricInterpretation", "MONOCHROME2")), info)
